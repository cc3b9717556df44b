package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
)

func cmdSchema(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "plan" {
		fmt.Fprintln(stderr, "Usage: odsync schema plan -c FILE [--table db.t]... [--database DB]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlags("schema plan", "schema plan -c FILE [--table db.t]... [--database DB]", stderr)
	path := fs.String("c", "", "config file (YAML)")
	database := fs.String("database", "default", "Athena/Glue database for the S3 sinks' CREATE EXTERNAL TABLE")
	var only multiFlag
	fs.Var(&only, "table", "only this source table (db.table); repeatable")
	if code, done := parseFlags(fs, args[1:], stdout); done {
		return code
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	mapper, err := schema.New(cfg.Mapping)
	if err != nil {
		return fail(stderr, exitUsage, fmt.Errorf("mapping: %w", err))
	}
	mc, err := mysqlSource(cfg, "schema plan")
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	capture := mapper.Captures
	if len(only) > 0 {
		want := map[string]bool{}
		for _, t := range only {
			want[t] = true
		}
		capture = func(id event.TableID) bool { return want[id.String()] && mapper.Captures(id) }
	}
	tables, err := mysql.LiveTables(cctx, *mc, capture)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	if len(tables) == 0 {
		fmt.Fprintln(stdout, "no captured tables: check mapping.include/exclude (and --table)")
		return exitOK
	}
	// Each sink maps with its own target system's limits (as odsync run
	// does): one mapper per system.
	mappers := map[string]*schema.Mapper{}
	for _, s := range cfg.Sinks {
		mc := sinkMapping(cfg, s, nil)
		if mappers[string(mc.System)] == nil {
			if mappers[string(mc.System)], err = schema.New(mc); err != nil {
				return fail(stderr, exitUsage, fmt.Errorf("mapping: %w", err))
			}
		}
	}
	failed := false
	for _, t := range tables {
		fmt.Fprintf(stdout, "-- %s\n", t.ID)
		described := map[string]bool{}
		for _, s := range cfg.Sinks {
			sys := string(sinkMapping(cfg, s, nil).System)
			tg, err := mappers[sys].Target(t)
			if err != nil {
				fmt.Fprintf(stdout, "-- sink %s: ERROR: %v\n\n", s.Name, err)
				failed = true
				continue
			}
			if !described[sys] {
				described[sys] = true
				fmt.Fprintf(stdout, "-- mapping for %s sinks:\n", sys)
				fmt.Fprintln(stdout, prefixLines("-- ", tg.Describe()))
			}
			if s.Kind.HasPlan() {
				fmt.Fprintf(stdout, "-- sink %s %s\n\n", s.Name, s.Kind.Plan(s.Settings, tg, registry.PlanOptions{Database: *database, Table: t}))
			}
		}
	}
	if failed {
		return exitCheck
	}
	return exitOK
}

func prefixLines(prefix, s string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, prefix)
}
