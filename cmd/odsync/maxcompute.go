package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/odsync/odsync/config"
	mcsink "github.com/odsync/odsync/sink/maxcompute"
)

// cmdMaxCompute runs the MaxCompute tools: `odsync maxcompute merge-sql`.
func cmdMaxCompute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const usage = "Usage: odsync maxcompute merge-sql -c FILE [--sink NAME] [--table T]... [--ds YYYYMMDD[HH]] [--full] [--key a,b]"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, usage)
		fmt.Fprintln(stdout, "\nSubcommands:\n  merge-sql  print the SQL that builds base tables of current rows from the ODS change logs")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] != "merge-sql" {
		fmt.Fprintf(stderr, "odsync maxcompute: unknown subcommand %q\n%s\n", args[0], usage)
		return exitUsage
	}
	fs := newFlags("maxcompute merge-sql", "maxcompute merge-sql -c FILE [flags]", stderr)
	path := fs.String("c", "", "config file (YAML)")
	sinkName := fs.String("sink", "", "the maxcompute sink to use (default: the only one)")
	var tables multiFlag
	fs.Var(&tables, "table", "ODS table to merge (repeatable; default: every ODS table odsync created in the project)")
	ds := fs.String("ds", "", "partition to build, YYYYMMDD or YYYYMMDDHH (default: the last closed one)")
	full := fs.Bool("full", false, "build from every log partition up to --ds instead of the newest base partition before it")
	key := fs.String("key", "", "key columns, comma-separated (default: the key odsync wrote into the table comment)")
	if code, done := parseFlags(fs, args[1:], stdout); done {
		return code
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	mc, err := pickMaxCompute(cfg, *sinkName)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	part := *ds
	if part == "" {
		if part, err = lastClosedPartition(cfg, time.Now()); err != nil {
			return fail(stderr, exitUsage, err)
		}
	}
	if _, err := mcsink.PreviousPartition(part); err != nil {
		return fail(stderr, exitUsage, err)
	}
	var keyCols []string
	if *key != "" {
		for _, k := range strings.Split(*key, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keyCols = append(keyCols, strings.ToLower(k))
			}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	list, err := mcsink.ODSTables(cctx, *mc, tables, keyCols)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	if len(list) == 0 {
		fmt.Fprintf(stderr, "odsync: no ODS tables in project %s\n", mc.Project)
		return exitFailure
	}
	mc.EnsureDefaults()
	failed := false
	for i, t := range list {
		prev := "" // --full, or no base partition before part yet
		if !*full {
			prev = mcsink.PreviousBase(t.BasePartitions, part)
		}
		sql, err := mcsink.MergeSQL(t, mcsink.MergeOptions{Project: mc.Project, Schema: mc.Schema, BaseSuffix: mc.Merge.BaseSuffix,
			Partition: part, Previous: prev, Lifecycle: mc.Merge.Lifecycle})
		if err != nil {
			fmt.Fprintf(stderr, "odsync: %v\n", err)
			failed = true
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprint(stdout, sql)
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

func pickMaxCompute(cfg *config.Config, name string) (*mcsink.Config, error) {
	var found []*config.Sink
	for i := range cfg.Sinks {
		s := &cfg.Sinks[i]
		if _, ok := s.Settings.(*mcsink.Config); ok && (name == "" || s.Name == name) {
			found = append(found, s)
		}
	}
	switch {
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("no maxcompute sink named %q in the config", name)
	case len(found) == 0:
		return nil, errors.New("the config has no maxcompute sink")
	case len(found) > 1:
		return nil, errors.New("the config has several maxcompute sinks; choose one with --sink")
	}
	return found[0].Settings.(*mcsink.Config), nil
}

// lastClosedPartition is the partition before the current one, in the
// mapping's default partitioning.
func lastClosedPartition(cfg *config.Config, now time.Time) (string, error) {
	p := cfg.Mapping.Partition
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		return "", fmt.Errorf("mapping.partition.time_zone: %w", err)
	}
	now = now.In(loc)
	if p.Granularity == "hour" {
		return now.Add(-time.Hour).Format("2006010215"), nil
	}
	return now.AddDate(0, 0, -1).Format("20060102"), nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
