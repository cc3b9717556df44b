package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/odsync/odsync/sink"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/snapprogress"
	"github.com/odsync/odsync/capture/tidb"
	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	kafkasink "github.com/odsync/odsync/sink/kafka"
	"github.com/odsync/odsync/sink/local"
	mcsink "github.com/odsync/odsync/sink/maxcompute"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
	s3sink "github.com/odsync/odsync/sink/s3"
	"github.com/odsync/odsync/telemetry"
	"github.com/odsync/odsync/telemetry/binloglag"
	"github.com/odsync/odsync/verify"
)

// newLogger returns the JSON or text logger of the config, redacting every
// secret of the configuration (and any DSN or URL password) from messages
// and attributes.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	r := redactor(cfg)
	lg := telemetry.NewLogger(w, cfg.Log.Format, cfg.Log.Level, r)
	// The MySQL driver logs through its own package-level logger (plain
	// text on stderr by default): route it into odsync's log.
	_ = mysqldriver.SetLogger(driverLogger{lg.With("component", "mysql-driver")})
	if n := r.ShortSecrets(); n > 0 {
		lg.Warn("some configured secrets are too short to be searched for in log text; they are still hidden where a log attribute names a secret or a DSN/URL carries them",
			"count", n, "min_length", telemetry.MinSecretLen)
	}
	return lg
}

// redactor knows the configuration's secrets.
func redactor(cfg *config.Config) *telemetry.Redactor {
	r := telemetry.NewRedactor(cfg.Telemetry.Secrets()...)
	if cfg.Source.MySQL != nil {
		r.Add(cfg.Source.MySQL.Password)
	}
	if k := cfg.Source.KafkaConfig(); k != nil {
		r.Add(k.SASL.Password, k.ClaimCheck.SecretAccessKey, k.ClaimCheck.SessionToken)
		if mc, err := mysqldriver.ParseDSN(k.TiDB.DSN); err == nil {
			r.Add(mc.Passwd)
		}
	}
	if t := cfg.Source.TiDB; t != nil {
		if mc, err := mysqldriver.ParseDSN(t.DSN); err == nil {
			r.Add(mc.Passwd)
		}
	}
	for _, s := range cfg.Sinks {
		if s.MaxCompute != nil {
			r.Add(s.MaxCompute.AccessKey, s.MaxCompute.STSToken)
		}
		if s.MySQL != nil {
			r.Add(s.MySQL.Password)
		}
		if s.S3 != nil {
			r.Add(s.S3.SecretAccessKey)
			r.Add(s.S3.SessionToken)
		}
		if s.Kafka != nil {
			r.Add(s.Kafka.SASL.Password)
		}
	}
	return r
}

func loadConfig(fs interface{ Arg(int) string }, path string) (*config.Config, error) {
	if path == "" {
		return nil, errNoConfig
	}
	return config.Load(path)
}

func openLog(cfg *config.Config, lg *slog.Logger) (*offsets.Log, error) {
	l, err := offsets.Open(cfg.State.Dir, offsets.Options{MaxBytes: int64(cfg.State.MaxLogBytes), MemTableSize: int64(cfg.State.MemTableSize), Logger: lg})
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, &stateInUseError{dir: cfg.State.Dir}
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", cfg.State.Dir, err)
	}
	return l, nil
}

// driverLogger adapts slog to the MySQL driver's Logger.
type driverLogger struct{ lg *slog.Logger }

func (d driverLogger) Print(v ...any) { d.lg.Warn(strings.TrimSpace(fmt.Sprint(v...))) }

// stateInUseError is openLog's error when another odsync process holds the
// state directory's lock.
type stateInUseError struct{ dir string }

func (e *stateInUseError) Error() string {
	return fmt.Sprintf("state %s is in use by a running odsync (its lock is held): one odsync per state directory; "+
		"watch it with odsync status -c FILE, stop it (SIGTERM) before offsets replay, or give this instance its own state.dir", e.dir)
}

// sinkMapping is the mapping of one sink: the configured mapping for the
// sink's target system (its type limits), logging values kept in _raw with
// the sink's name.
func sinkMapping(cfg *config.Config, s config.Sink, lg *slog.Logger) schema.Config {
	m := cfg.Mapping
	m.System = schema.SystemFiles
	if s.Type == "maxcompute" {
		m.System = schema.SystemMaxCompute
	}
	if lg != nil {
		m.Logger = lg.With("sink", s.Name)
	}
	return m
}

// buildSinks constructs every configured sink. Each sink gets a mapper of
// its own: mappers remember each target's layout, and sinks with different
// histories (one reconciled with an existing MaxCompute table, one starting
// fresh) must not change each other's layout; each knows its target
// system's limits. mappers receives them by sink name (for the _raw counts).
func buildSinks(cfg *config.Config, log *offsets.Log, lg *slog.Logger) ([]pipeline.SinkSpec, map[string]*schema.Mapper, error) {
	var specs []pipeline.SinkSpec
	mappers := map[string]*schema.Mapper{}
	for _, s := range cfg.Sinks {
		mapper, err := schema.New(sinkMapping(cfg, s, lg))
		if err != nil {
			return nil, nil, fmt.Errorf("mapping: %w", err)
		}
		mappers[s.Name] = mapper
		switch s.Type {
		case "local":
			sk, err := local.New(*s.Local, mapper)
			if err != nil {
				return nil, nil, fmt.Errorf("sink %s: %w", s.Name, err)
			}
			specs = append(specs, pipeline.SinkSpec{Name: s.Name, Sink: sk, Policy: s.Batch})
		case "maxcompute":
			sk, err := mcsink.New(*s.MaxCompute, mapper, log, lg.With("sink", s.Name))
			if err != nil {
				return nil, nil, fmt.Errorf("sink %s: %w", s.Name, err)
			}
			specs = append(specs, pipeline.SinkSpec{Name: s.Name, Sink: sk, Policy: s.Batch})
		case "s3":
			sk, err := s3sink.New(*s.S3, mapper, lg.With("sink", s.Name))
			if err != nil {
				return nil, nil, fmt.Errorf("sink %s: %w", s.Name, err)
			}
			specs = append(specs, pipeline.SinkSpec{Name: s.Name, Sink: sk, Policy: s.Batch})
		case "kafka":
			sk, err := kafkasink.New(*s.Kafka, lg.With("sink", s.Name))
			if err != nil {
				return nil, nil, fmt.Errorf("sink %s: %w", s.Name, err)
			}
			specs = append(specs, pipeline.SinkSpec{Name: s.Name, Sink: sk, Policy: s.Batch})
		case "mysql":
			sk, err := mysqlsink.New(*s.MySQL, s.Name, mapper, lg.With("sink", s.Name))
			if err != nil {
				return nil, nil, fmt.Errorf("sink %s: %w", s.Name, err)
			}
			specs = append(specs, pipeline.SinkSpec{Name: s.Name, Sink: sk, Policy: s.Batch})
		default:
			return nil, nil, fmt.Errorf("sink %s: unknown type %q", s.Name, s.Type)
		}
	}
	return specs, mappers, nil
}

func buildSource(cfg *config.Config, mapper *schema.Mapper, log *offsets.Log, progress io.Writer, lg *slog.Logger) (pipeline.Source, error) {
	switch cfg.Source.Type {
	case "mysql":
		mc := *cfg.Source.MySQL
		mc.RequestDir = mysqlRequestDir(cfg)
		mc.Progress = progress
		src, err := mysql.New(mc, mapper.Captures, lg.With("component", "capture"), log)
		if err != nil {
			return nil, err
		}
		return mysqlSource{src}, nil
	}
	if cfg.Source.Type == "tidb" {
		sc := *cfg.Source.TiCDC
		sc.Durable = log.Checkpoint // consumer-group commits follow what the log stored
		src, err := tidb.New(*cfg.Source.TiDB, sc, mapper.Captures, lg.With("component", "capture"), log)
		if err != nil {
			return nil, err
		}
		return tidbSource{src}, nil
	}
	if k := cfg.Source.KafkaConfig(); k != nil {
		sc := *k
		sc.Durable = log.Checkpoint // consumer-group commits follow what the log stored
		return kafka.NewSource(sc, mapper.Captures, lg.With("component", "capture"))
	}
	return nil, fmt.Errorf("source type %q is not supported", cfg.Source.Type)
}

// rawCounts adapts the sinks' mappers' _raw counts to telemetry.
func rawCounts(mappers map[string]*schema.Mapper) func() []telemetry.RawCount {
	return func() []telemetry.RawCount {
		var out []telemetry.RawCount
		for name, m := range mappers {
			for _, c := range m.RawCounts() {
				out = append(out, telemetry.RawCount{Sink: name, Source: c.Source, Table: c.Table, Column: c.Column, Count: c.Count})
			}
		}
		return out
	}
}

// kafkaLag adapts the Kafka lag probe to telemetry.SourceProbe.
type kafkaLag struct{ p *kafka.LagProbe }

func (k kafkaLag) Lag(ctx context.Context) (telemetry.SourceLag, error) {
	l, err := k.p.Lag(ctx)
	if err != nil {
		return telemetry.SourceLag{}, err
	}
	return telemetry.SourceLag{Connected: true, SecondsBehind: l.SecondsBehind, BytesBehind: -1,
		MessagesBehind: l.MessagesBehind, WatermarkAge: l.WatermarkAge,
		Position: l.Position, SourcePosition: l.SourcePosition}, nil
}

// mysqlSource adapts the MySQL capture to pipeline.Source and its snapshot
// progress to telemetry.SnapshotProbe.
type mysqlSource struct{ src *mysql.Source }

func (m mysqlSource) Run(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	return m.src.Run(ctx, from, mysql.Emit(emit))
}

func (m mysqlSource) SnapshotProgress(ctx context.Context) ([]telemetry.TableProgress, error) {
	ts, err := m.src.SnapshotProgress(ctx)
	return tableProgress(ts), err
}

// tidbSource adapts the TiDB source to pipeline.Source and its snapshot
// progress to telemetry.SnapshotProbe.
type tidbSource struct{ *tidb.Source }

func (t tidbSource) SnapshotProgress(ctx context.Context) ([]telemetry.TableProgress, error) {
	ts, err := t.Source.SnapshotProgress(ctx)
	return tableProgress(ts), err
}

func tableProgress(ts []snapprogress.Table) []telemetry.TableProgress {
	out := make([]telemetry.TableProgress, 0, len(ts))
	for _, t := range ts {
		out = append(out, telemetry.TableProgress{Table: t.Table, RowsRead: t.RowsRead, RowsTotal: t.RowsEstimated,
			ChunksDone: t.Chunks, Done: t.Done})
	}
	return out
}

// runPipeline runs a loaded config until ctx is done.
// runPipeline runs a loaded config until ctx is done; progress receives the
// snapshot progress bar (a terminal) or nil.
func runPipeline(ctx context.Context, cfg *config.Config, lg *slog.Logger, progress io.Writer) error {
	mapper, err := schema.New(cfg.Mapping)
	if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	log, err := openLog(cfg, lg)
	if err != nil {
		return err
	}
	defer log.Close()
	src, err := buildSource(cfg, mapper, log, progress, lg)
	if err != nil {
		return err
	}
	sinks, mappers, err := buildSinks(cfg, log, lg)
	if err != nil {
		return err
	}
	// Telemetry and the admin server run from before the capture starts
	// until the pipeline has stopped, so /healthz answers during the drain.
	topts := telemetry.Options{Log: log, Redactor: redactor(cfg), Logger: lg.With("component", "telemetry"), Version: version,
		RawCounts: rawCounts(mappers)}
	if cfg.Source.Type == "mysql" {
		m := cfg.Source.MySQL
		probe, err := binloglag.New(binloglag.Config{Addr: m.Addr, User: m.User, Password: m.Password, Timeout: m.ConnectTimeout}, log.Checkpoint)
		if err != nil {
			return err
		}
		defer probe.Close()
		topts.Source, topts.SourceName = probe, "mysql"
		if sp, ok := src.(telemetry.SnapshotProbe); ok {
			topts.Snapshot = sp
		}
	}
	if k := cfg.Source.KafkaConfig(); k != nil {
		cp := log.Checkpoint
		if cfg.Source.Type == "tidb" {
			cp = func() []byte { // during the snapshot nothing of the changefeed is read yet
				if b := log.Checkpoint(); b != nil && !tidb.IsCheckpoint(b) {
					return b
				}
				return nil
			}
		}
		probe, err := kafka.NewLagProbe(*k, cp) // no I/O until Lag
		if err != nil {
			return err
		}
		defer probe.Close()
		topts.Source, topts.SourceName = kafkaLag{probe}, "kafka"
		var kafkaSrc func() *kafka.Source
		switch ks := src.(type) {
		case *kafka.Source:
			kafkaSrc = func() *kafka.Source { return ks }
		case tidbSource:
			kafkaSrc = ks.Kafka
			topts.Snapshot = ks
		}
		if kafkaSrc != nil {
			topts.SourceCounters = func() map[string]int64 {
				ks := kafkaSrc()
				if ks == nil {
					return nil // still snapshotting
				}
				st := ks.Stats()
				return map[string]int64{"messages": int64(st.Messages), "rows": int64(st.Rows), "ddl": int64(st.DDL),
					"watermarks": int64(st.Watermarks), "skipped": int64(st.Skipped), "duplicates": int64(st.Duplicates),
					"ddl_copies": int64(st.DDLCopies), "filtered": int64(st.Filtered), "bad_messages": int64(st.BadMessages)}
			}
		}
	}
	for _, s := range sinks {
		topts.Sinks = append(topts.Sinks, s.Name)
		if r, ok := s.Sink.(sink.HealthReporter); ok {
			if topts.SinkHealth == nil {
				topts.SinkHealth = map[string]sink.HealthReporter{}
			}
			topts.SinkHealth[s.Name] = r
		}
	}
	tel, err := telemetry.New(ctx, cfg.Telemetry, topts)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			lg.Warn("telemetry shutdown", "err", err)
		}
	}()
	telCtx, stopTel := context.WithCancel(context.Background())
	defer stopTel()
	go tel.Run(telCtx)
	statusURL := ""
	if cfg.Admin.Enabled() {
		adm := admin.New(cfg.Admin, tel, lg.With("component", "admin"))
		if err := adm.Start(); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = adm.Shutdown(sctx)
		}()
		statusURL = "http://" + admin.ClientAddr(adm.Addr()) + "/status"
	}
	if cfg.Verify.Enabled() {
		stopVerify, err := startScheduledVerify(ctx, cfg, tel, statusURL, lg.With("component", "verify"))
		if err != nil {
			return err
		}
		defer stopVerify()
	}
	go func() {
		select {
		case <-ctx.Done():
			tel.SetStopping() // /readyz fails from now on
		case <-telCtx.Done():
		}
	}()
	// Sinks are paced to stay within half a memtable (see pipeline.Options.PaceBytes).
	p := pipeline.New(log, src, sinks, pipeline.Options{DrainTimeout: cfg.ShutdownTimeout, Logger: lg, Observer: tel,
		Retention: *cfg.State.Retention, RetentionMaxBytes: int64(cfg.State.MaxLogBytes) * 3 / 4, PaceBytes: int64(cfg.State.MemTableSize) / 2})
	lg.Info("odsync running", "state", cfg.State.Dir, "sinks", len(sinks), "head", log.Head())
	start := time.Now()
	trimCtx, stopTrim := context.WithCancel(ctx)
	go trimWhenIdle(trimCtx, log.Head, idleTrimAfter, debug.FreeOSMemory)
	runErr := p.Run(ctx)
	stopTrim()
	if c, ok := src.(io.Closer); ok {
		if err := c.Close(); err != nil {
			lg.Warn("capture close", "err", err)
		}
	}
	closeErr := closeSinks(sinks, sinkCloseTimeout, lg)
	if runErr != nil {
		return errors.Join(runErr, closeErr)
	}
	head, cursors := log.Head(), log.Cursors()
	lg.Info("odsync stopped", "uptime", time.Since(start).Round(time.Millisecond), "head", head, "cursors", cursors)
	if closeErr != nil {
		return closeErr
	}
	var left []string
	for _, s := range sinks {
		if c := cursors[s.Name]; c < head {
			left = append(left, fmt.Sprintf("%s (%d events)", s.Name, head-c))
		}
	}
	if len(left) > 0 {
		return &undrainedError{sinks: left}
	}
	return nil
}

// sinkCloseTimeout is each sink's own budget for Close at shutdown.
const sinkCloseTimeout = 10 * time.Second

// closeSinks closes every sink at once, each on its own deadline, so a
// stuck sink neither uses another's time nor gets the blame for it.
func closeSinks(sinks []pipeline.SinkSpec, limit time.Duration, lg *slog.Logger) error {
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Sink.Close(ctx) }()
			select {
			case err := <-done:
				if err != nil {
					errs[i] = fmt.Errorf("sink %s did not close cleanly: %w", s.Name, err)
				}
			case <-time.After(limit + time.Second):
				errs[i] = fmt.Errorf("sink %s did not close within %s", s.Name, limit)
			}
			if errs[i] != nil {
				lg.Error("sink close", "sink", s.Name, "err", errs[i])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// undrainedError: odsync stopped cleanly but these sinks had not written
// all of the log; what they missed stays in the log for the next start.
type undrainedError struct{ sinks []string }

func (e *undrainedError) Error() string {
	return "stopped with changes not yet written by sink " + strings.Join(e.sinks, ", ") +
		": they are kept in the log and written at the next start (raise shutdown_timeout to drain fully)"
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run -c FILE", stderr)
	path := fs.String("c", "", "config file (YAML)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	cfg, err := loadConfig(fs, *path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	// On a terminal the snapshot's progress line and the log share stderr
	// without running into each other.
	logOut, progress := stderr, io.Writer(stderr)
	if isTerminal(stderr) {
		term := newTermLines(stderr)
		logOut, progress = term.Logs(), term.Progress()
	}
	lg := newLogger(cfg, logOut)
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit))
	}
	// Graceful stop has a deadline: the drain (shutdown_timeout), closing
	// the sinks (10s) and a margin; past it odsync exits 1 (the log is
	// crash-safe, a restart resumes from the cursors).
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		select {
		case <-done:
		case <-time.After(cfg.ShutdownTimeout + 15*time.Second):
			lg.Error("graceful stop exceeded its deadline; exiting", "shutdown_timeout", cfg.ShutdownTimeout)
			os.Exit(exitFailure)
		}
	}()
	if err := runPipeline(ctx, cfg, lg, progress); err != nil {
		var ue *undrainedError
		if errors.As(err, &ue) {
			lg.Warn("odsync stopped undrained", "err", err)
			return exitUndrained
		}
		lg.Error("odsync failed", "err", err)
		return exitFailure
	}
	return exitOK
}

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "check -c FILE", stderr)
	path := fs.String("c", "", "config file (YAML)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	cfg, err := loadConfig(fs, *path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	fmt.Fprintln(stdout, "config: ok")
	if _, err := schema.New(cfg.Mapping); err != nil {
		return fail(stderr, exitUsage, fmt.Errorf("mapping: %w", err))
	}
	for _, s := range cfg.Sinks { // each sink's target system's limits
		if _, err := schema.New(sinkMapping(cfg, s, nil)); err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("sink %s: mapping: %w", s.Name, err))
		}
	}
	failed := false
	if k := cfg.Source.KafkaConfig(); k != nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		lines, err := kafka.Check(cctx, *k)
		cancel()
		for _, l := range lines {
			fmt.Fprintf(stdout, "source: %s\n", l)
		}
		if err != nil {
			fmt.Fprintf(stdout, "source: FAILED: %v\n", err)
			failed = true
		}
	}
	switch cfg.Source.Type {
	case "mysql":
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		problems, err := mysql.Check(cctx, *cfg.Source.MySQL)
		if err != nil {
			fmt.Fprintf(stdout, "source %s: FAILED: %v\n", cfg.Source.MySQL.Addr, err)
			return exitCheck
		}
		for _, p := range problems {
			level := "FAILED"
			if p.Warning {
				level = "warning"
			} else {
				failed = true
			}
			fmt.Fprintf(stdout, "source %s: %s: %s: %s\n  fix: %s\n", cfg.Source.MySQL.Addr, level, p.Check, p.Cause, p.Fix)
		}
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "source %s: ok (binlog on, ROW format, FULL image, privileges)\n", cfg.Source.MySQL.Addr)
		}
	case "tidb":
		if !checkTiDB(ctx, cfg, stdout) {
			failed = true
		}
	}
	for _, s := range cfg.Sinks {
		if s.Type == "maxcompute" {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			ep, err := mcsink.Check(cctx, *s.MaxCompute)
			cancel()
			if err != nil {
				fmt.Fprintf(stdout, "sink %s: FAILED: %v\n", s.Name, err)
				failed = true
				continue
			}
			fmt.Fprintf(stdout, "sink %s: ok (project %s, tunnel %s)\n", s.Name, s.MaxCompute.Project, ep)
			if note := mcsink.EndpointNote(*s.MaxCompute, ep); note != "" {
				fmt.Fprintf(stdout, "  note: %s\n", note)
			}
		}
		if s.Type == "s3" {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := s3sink.Check(cctx, *s.S3)
			cancel()
			if err != nil {
				fmt.Fprintf(stdout, "sink %s: FAILED: %v\n", s.Name, err)
				if hint := s3sink.Explain(err, *s.S3); hint != "" {
					fmt.Fprintf(stdout, "  fix: %s\n", hint)
				}
				failed = true
				continue
			}
			fmt.Fprintf(stdout, "sink %s: ok (s3://%s/%s writable)\n", s.Name, s.S3.Bucket, s.S3.Prefix)
		}
		if s.Type == "kafka" {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			what, err := kafkasink.Check(cctx, *s.Kafka)
			cancel()
			if err != nil {
				fmt.Fprintf(stdout, "sink %s: FAILED: %v\n", s.Name, err)
				failed = true
				continue
			}
			fmt.Fprintf(stdout, "sink %s: ok (%s)\n", s.Name, what)
		}
		if s.Type == "mysql" {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			version, err := mysqlsink.Check(cctx, *s.MySQL)
			cancel()
			if err != nil {
				fmt.Fprintf(stdout, "sink %s: FAILED: %v\n", s.Name, err)
				failed = true
				continue
			}
			fmt.Fprintf(stdout, "sink %s: ok (%s, server %s, checkpoint table %s)\n", s.Name, s.MySQL.Addr, version, s.MySQL.CheckpointTable)
		}
		if s.Type == "local" {
			if err := os.MkdirAll(s.Local.Dir, 0o755); err != nil {
				fmt.Fprintf(stdout, "sink %s: FAILED: %v\n", s.Name, err)
				failed = true
				continue
			}
			probe, err := os.CreateTemp(s.Local.Dir, ".odsync-check-*")
			if err != nil {
				fmt.Fprintf(stdout, "sink %s: FAILED: %s is not writable: %v\n", s.Name, s.Local.Dir, err)
				failed = true
				continue
			}
			probe.Close()
			os.Remove(probe.Name())
			fmt.Fprintf(stdout, "sink %s: ok (%s writable)\n", s.Name, s.Local.Dir)
		}
	}
	if failed {
		return exitCheck
	}
	return exitOK
}

// checkTiDB reports the TiDB side of a tidb source's switch-over (GC safe
// point, the changefeed's first messages against the snapshot TSO).
func checkTiDB(ctx context.Context, cfg *config.Config, stdout io.Writer) bool {
	st := tidb.State{Known: true} // no state directory: no snapshot yet
	if _, err := os.Stat(cfg.State.Dir); err != nil {
	} else if l, err := openLog(cfg, slog.New(slog.DiscardHandler)); err != nil {
		st.Known = false
	} else {
		st, err = tidb.ReadState(l, l.Checkpoint())
		l.Close()
		if err != nil {
			fmt.Fprintf(stdout, "source: FAILED: state: %v\n", err)
			return false
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lines, ok, err := tidb.Check(cctx, *cfg.Source.TiDB, *cfg.Source.TiCDC, st)
	for _, l := range lines {
		fmt.Fprintf(stdout, "source: %s\n", l)
	}
	if err != nil {
		fmt.Fprintf(stdout, "source: FAILED: %v\n", err)
		return false
	}
	return ok
}

// startScheduledVerify runs verification on the configured schedule until
// ctx is done (or the returned stop is called); results go to the status
// page and metrics.
func startScheduledVerify(ctx context.Context, cfg *config.Config, tel *telemetry.Telemetry, statusURL string, lg *slog.Logger) (func(), error) {
	sinks, err := verifySinks(ctx, cfg, nil, cfg.Verify.TempDir)
	if err != nil {
		return nil, err
	}
	report := func(r verify.Result) {
		tel.SetVerify(telemetry.VerifyResult{Sink: r.Sink, Table: r.Table, Status: r.Status, Time: r.Time, Seconds: r.Seconds,
			SourceRows: r.SourceRows, TargetRows: r.TargetRows, Changed: r.Changed, Missing: r.Missing, Extra: r.Extra,
			Unsettled: r.Unsettled, Error: r.Error})
	}
	var srcCfg mysql.Config
	switch {
	case cfg.Source.MySQL != nil:
		srcCfg = *cfg.Source.MySQL
	case cfg.Source.TiDB != nil:
		if srcCfg, err = cfg.Source.TiDB.SQLSource(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("verify: source type %q cannot be verified on a schedule (no SQL source)", cfg.Source.Type)
	}
	sched, err := verify.NewScheduler(cfg.Verify, srcCfg, cfg.Mapping, sinks, statusURL, lg, report)
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sched.Run(vctx)
	}()
	lg.Info("scheduled verify on", "interval", cfg.Verify.Interval, "rate", cfg.Verify.Rate)
	return func() { cancel(); <-done }, nil
}

// idleTrimAfter is how long the log must see no append before odsync
// returns its freed memory to the operating system.
const idleTrimAfter = 10 * time.Second

// trimWhenIdle calls trim (debug.FreeOSMemory: returns freed memory to the
// operating system) once when the log's head has not moved for idle after
// it moved. Go collects garbage as
// the heap grows (and at the latest every two minutes) and returns memory
// gradually, so after a burst an idle odsync would keep about the burst's
// peak for minutes.
func trimWhenIdle(ctx context.Context, head func() uint64, idle time.Duration, trim func()) {
	t := time.NewTicker(idle / 4)
	defer t.Stop()
	last, since, trimmed := head(), time.Now(), true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if h := head(); h != last {
			last, since, trimmed = h, time.Now(), false
			continue
		}
		if !trimmed && time.Since(since) >= idle {
			trim()
			trimmed = true
		}
	}
}
