package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/tidb"
	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// mysqlRequestDir is where on-demand snapshot requests wait for the
// capture: a directory inside the state directory, so a running odsync and
// a stopped one both see them (the Pebble state itself is locked by the
// running process).
func mysqlRequestDir(cfg *config.Config) string {
	return filepath.Join(cfg.State.Dir, "mysql-snapshot-requests")
}

// tableList is a repeatable --table flag.
type tableList []string

func (l *tableList) String() string { return strings.Join(*l, ",") }

func (l *tableList) Set(s string) error {
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if i := strings.IndexByte(t, '.'); i <= 0 || i == len(t)-1 {
			return fmt.Errorf("%q: want db.table", t)
		}
		*l = append(*l, t)
	}
	return nil
}

// cmdSnapshot queues a re-snapshot of tables: a running odsync copies them
// within seconds while streaming continues; a stopped one at its next start.
func cmdSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("snapshot", "snapshot -c FILE --table db.table [--table db.table2 ...]", stderr)
	path := fs.String("c", "", "config file (YAML)")
	var tables tableList
	fs.Var(&tables, "table", "table to copy again, as db.table (repeatable, or comma-separated)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	if len(tables) == 0 {
		return fail(stderr, exitUsage, errors.New("snapshot needs --table db.table"))
	}
	if cfg.Source.Type != "mysql" {
		return fail(stderr, exitUsage, fmt.Errorf("snapshot: source type %q has no snapshots", cfg.Source.Type))
	}
	mc, err := mysqlSource(cfg, "snapshot")
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	if err := checkSnapshotTables(ctx, cfg, *mc, tables); err != nil {
		return fail(stderr, exitUsage, err)
	}
	name, err := mysql.WriteSnapshotRequest(mysqlRequestDir(cfg), tables)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	fmt.Fprintf(stdout, "snapshot of %s requested (%s): a running odsync takes it up within seconds and copies while streaming continues; otherwise odsync run does at its start\n",
		strings.Join(tables, ", "), filepath.Join(mysqlRequestDir(cfg), name))
	return exitOK
}

// checkSnapshotTables refuses tables that the mapping does not capture or
// that the source does not have: a request for them would be accepted and
// then do nothing.
func checkSnapshotTables(ctx context.Context, cfg *config.Config, mc mysql.Config, tables []string) error {
	mapper, err := schema.New(cfg.Mapping)
	if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ls, err := mysql.OpenLiveSchemas(cctx, mc)
	if err != nil {
		return fmt.Errorf("snapshot: cannot check the tables on the source: %w", err)
	}
	defer ls.Close()
	have, err := ls.Tables(cctx, nil)
	if err != nil {
		return fmt.Errorf("snapshot: cannot list the source's tables: %w", err)
	}
	exists := map[string]bool{}
	for _, id := range have {
		exists[strings.ToLower(id.String())] = true
	}
	var bad []string
	for _, t := range tables {
		db, tbl, _ := strings.Cut(t, ".")
		switch id := (event.TableID{DB: db, Table: tbl}); {
		case !exists[strings.ToLower(t)]:
			bad = append(bad, t+": no such table on the source")
		case !mapper.Captures(id):
			bad = append(bad, t+": not captured by mapping.include/exclude")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("snapshot: %s", strings.Join(bad, "; "))
	}
	return nil
}

// replaySource moves the capture's checkpoint to a source position (MySQL:
// latest, earliest, gtid:SET, file:NAME:POS or time:RFC3339): the next
// odsync run reads the source again from there (MySQL: decoding old events
// with the schema history). Events already in the log stay; the re-read
// ones are appended after them.
func replaySource(ctx context.Context, cfg *config.Config, spec string, stdout io.Writer) error {
	src := cfg.Source
	cp, desc, err := src.Kind.ResolveStart(ctx, src.Settings, spec)
	if err != nil {
		return err
	}
	log, err := openLog(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer log.Close()
	old := log.Checkpoint()
	if c, err := tidb.DecodeCheckpoint(old); err == nil && !c.Done {
		return fmt.Errorf("replay: the TiDB snapshot at TSO %d is not finished (%s): a new changefeed position now would skip the rest of it; let the snapshot finish first", c.TSO, c.String())
	}
	if _, err := log.Append(ctx, nil, cp); err != nil {
		return err
	}
	prev := "none"
	if c, ok := src.Kind.DescribeCheckpoint(old, log); ok {
		prev = c.Position
	}
	fmt.Fprintf(stdout, "source checkpoint moved from %s to %s (%s); the next odsync run captures from there\n", prev, desc, spec)
	return nil
}

// mysqlSource returns the settings of a mysql source, or an error naming
// the command that needs one.
func mysqlSource(cfg *config.Config, what string) (*mysql.Config, error) {
	mc, ok := cfg.Source.Settings.(*mysql.Config)
	if !ok {
		return nil, fmt.Errorf("%s reads a MySQL/MariaDB/TiDB source; source.type is %s", what, cfg.Source.Type)
	}
	return mc, nil
}
