package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/tidb"
	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/progress"
	"github.com/odsync/odsync/verify"
	"github.com/odsync/odsync/verify/mysqlsource"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Exit codes of `odsync verify` (docs/verify.md).
const (
	exitVerifyMatch      = 0 // every table of every sink matches
	exitVerifyMismatch   = 1 // a confirmed difference
	exitVerifyUsage      = 2 // usage or configuration error
	exitVerifyIncomplete = 3 // no confirmed difference, but something could not be verified
)

// cmdVerify compares every captured source table with each sink's ODS
// table (the latest state rebuilt from the change log).
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", "verify -c FILE [--table db.t ...] [--sink NAME ...] [--format text|json] [flags]", stderr)
	path := fs.String("c", "", "config file (YAML)")
	var tables, sinks stringList
	fs.Var(&tables, "table", "verify only this source table (db.table); repeatable")
	fs.Var(&sinks, "sink", "verify exactly these sinks (by name; repeatable or comma-separated)")
	format := fs.String("format", "text", "output: text or json")
	asJSON := fs.Bool("json", false, "print the report as JSON (same as --format json)")
	chunk := fs.Int("chunk-size", 10000, "source rows per chunk")
	checksum := fs.String("checksum", verify.ChecksumRows, "how chunks are compared: rows (read every source row) or sql (the source server checksums each chunk; only chunks that differ are read)")
	rate := fs.Float64("rate", 0, "maximum source rows read per second (0: unlimited)")
	memory := fs.String("memory", "64MiB", "memory budget of the on-disk target state store")
	tmp := fs.String("tmp", "", "directory for the temporary target state store (default: the system's)")
	wait := fs.Duration("wait", 2*time.Minute, "how long verify waits for a sink to durably receive the source position (before each table and in each re-check round)")
	settle := fs.Duration("settle", 5*time.Second, "a sink that has durably written something and then nothing for this long counts as caught up")
	rounds := fs.Int("rounds", 4, "re-check rounds for keys that differ (two confirm a difference)")
	examples := fs.Int("examples", 5, "example keys listed per chunk")
	maxChunks := fs.Int("max-chunks", 20, "chunks with differences listed per table")
	status := fs.String("status", "", "URL of the running odsync's /status (decides exactly when the sink caught up; default: from admin.addr)")
	showProgress := fs.Bool("progress", true, "show a progress bar when stdout is a terminal (text output)")
	sourceAddr := fs.String("source-addr", "", "host:port of the source to compare (default: source.mysql.addr); for TiDB, its MySQL port")
	sourceUser := fs.String("source-user", "", "user of --source-addr (default: source.mysql.user, else root); the password comes from $ODSYNC_VERIFY_PASSWORD")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if fs.NArg() > 0 {
		return fail(stderr, exitVerifyUsage, fmt.Errorf("verify: unexpected arguments %q", fs.Args()))
	}
	if *asJSON {
		*format = "json"
	}
	if *format != "text" && *format != "json" {
		return fail(stderr, exitVerifyUsage, fmt.Errorf("verify: --format %q: want text or json", *format))
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fail(stderr, exitVerifyUsage, err)
	}
	mem, err := config.ParseByteSize(*memory)
	if err != nil {
		return fail(stderr, exitVerifyUsage, fmt.Errorf("verify: --memory: %w", err))
	}
	if *status == "" && cfg.Admin.Enabled() {
		// The running odsync's admin server, when it listens on a known port.
		if addr := admin.ClientAddr(cfg.Admin.Addr); !strings.HasSuffix(addr, ":0") {
			*status = "http://" + addr + "/status"
		}
	}
	opts := verify.Options{ChunkSize: *chunk, Checksum: *checksum, RowsPerSecond: *rate, MemoryBudget: int64(mem), TempDir: *tmp,
		Wait: *wait, Settle: *settle, Rounds: *rounds, Examples: *examples, MaxChunks: *maxChunks, StatusURL: *status,
		ConfigPath: *path}
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return fail(stderr, exitVerifyUsage, fmt.Errorf("verify: %w", err))
	}
	var bar *progress.Line
	if *format == "text" && *showProgress {
		if bar = progress.NewLine(stdout, 150*time.Millisecond); bar != nil {
			opts.Progress = func(p verify.Progress) { bar.Draw(verifyLine(p)) }
		}
	}
	wsrc, reverse, err := warehouseSource(ctx, cfg)
	if err != nil {
		return fail(stderr, exitVerifyUsage, fmt.Errorf("verify: %w", err))
	}
	var rep *verify.Report
	if reverse {
		// A reverse job: the warehouse is the source, its mysql sinks
		// the targets.
		var code int
		if rep, code = verifyReverse(ctx, cfg, wsrc, tables, sinks, opts, stderr); rep == nil {
			bar.Clear()
			return code
		}
		bar.Clear()
		return writeVerifyReport(rep, *format, stdout, stderr)
	}
	srcCfg, _, err := sqlSource(cfg)
	if err != nil {
		return fail(stderr, exitVerifyUsage, fmt.Errorf("verify: %w", err))
	}
	if *sourceAddr != "" {
		srcCfg.Addr = *sourceAddr
	}
	if *sourceUser != "" {
		srcCfg.User = *sourceUser
	}
	if pw, ok := os.LookupEnv("ODSYNC_VERIFY_PASSWORD"); ok {
		srcCfg.Password = pw
	}
	if srcCfg.Addr == "" {
		return fail(stderr, exitVerifyUsage, fmt.Errorf("verify: source type %q has no MySQL address: give the source (MySQL, MariaDB, or TiDB's MySQL port) with --source-addr", cfg.Source.Type))
	}
	readers, err := verifySinks(ctx, cfg, sinks, *tmp)
	if err != nil {
		return fail(stderr, exitVerifyUsage, err)
	}
	src, err := verify.OpenSource(ctx, mysqlsource.Server(srcCfg), opts.RowsPerSecond)
	if err != nil {
		return fail(stderr, exitVerifyIncomplete, err)
	}
	defer src.Close()
	if why := src.PositionsUnavailable(); why != nil {
		fmt.Fprintf(stderr, "odsync: verify: %v; re-checks wait for the sink to settle (--settle) instead\n", why)
	}
	v, err := verify.New(src, cfg.Mapping, readers, opts)
	if err != nil {
		return fail(stderr, exitVerifyUsage, err)
	}
	ids, err := v.Tables(ctx, tables)
	if err != nil {
		return fail(stderr, exitVerifyUsage, err)
	}
	if len(ids) == 0 {
		return fail(stderr, exitVerifyUsage, errors.New("verify: no captured tables to verify"))
	}
	rep, err = v.Run(ctx, ids)
	bar.Clear()
	if err != nil {
		return fail(stderr, exitVerifyIncomplete, err)
	}
	return writeVerifyReport(rep, *format, stdout, stderr)
}

// writeVerifyReport prints a report and returns verify's exit code.
func writeVerifyReport(rep *verify.Report, format string, stdout, stderr io.Writer) int {
	var err error
	if format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return fail(stderr, exitVerifyIncomplete, err)
	}
	switch {
	case rep.Summary.Mismatched > 0:
		return exitVerifyMismatch
	case !rep.OK():
		return exitVerifyIncomplete
	}
	return exitVerifyMatch
}

// verifySinks builds a target reader for every configured sink, or for
// exactly the named ones (in configuration order).
func verifySinks(ctx context.Context, cfg *config.Config, only []string, tmp string) ([]verify.Sink, error) {
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	found := map[string]bool{}
	var out []verify.Sink
	var errs []error
	for _, s := range cfg.Sinks {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		found[s.Name] = true
		r, err := s.Kind.VerifyReader(ctx, s.Settings, s.Name, tmp)
		if err != nil {
			errs = append(errs, fmt.Errorf("verify: sink %s: %w", s.Name, err))
			continue
		}
		out = append(out, verify.Sink{Name: s.Name, Reader: r, System: s.Kind.System})
	}
	for _, n := range only {
		if !found[n] {
			errs = append(errs, fmt.Errorf("verify: --sink %s: no such sink in the configuration", n))
			found[n] = true // once
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, errors.New("verify: no sink to verify")
	}
	return out, nil
}

// verifyLine renders verify's progress for its terminal line.
func verifyLine(p verify.Progress) string {
	if p.Phase != "compare" {
		return fmt.Sprintf("%s → %s: %s", p.Table, p.Sink, p.Phase)
	}
	if p.EstimatedRows > 0 {
		frac := min(float64(p.Rows)/float64(p.EstimatedRows), 1)
		return fmt.Sprintf("%s → %s %s %3.0f%% %d/~%d rows, %d chunks", p.Table, p.Sink,
			progress.Bar(frac, 30), frac*100, p.Rows, p.EstimatedRows, p.Chunks)
	}
	return fmt.Sprintf("%s → %s: %d rows, %d chunks", p.Table, p.Sink, p.Rows, p.Chunks)
}

// sqlSource returns the MySQL-protocol server verify compares against:
// source.mysql, or the TiDB of source.tidb; ok is false for other sources.
func sqlSource(cfg *config.Config) (c mysql.Config, ok bool, err error) {
	switch sc := cfg.Source.Settings.(type) {
	case *mysql.Config:
		return *sc, true, nil
	case *tidb.KindConfig:
		if sc.TiDB != nil {
			c, err = sc.TiDB.SQLSource()
			return c, err == nil, err
		}
	}
	return mysql.Config{}, false, nil
}
