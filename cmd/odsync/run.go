package main

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/progress"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/registry/builtin"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/telemetry"
	"github.com/odsync/odsync/verify"
	"github.com/odsync/odsync/verify/mysqlsource"
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
	if src := cfg.Source; src.Kind != nil && src.Settings != nil {
		r.Add(src.Kind.Secrets(src.Settings)...)
	}
	for _, s := range cfg.Sinks {
		if s.Kind != nil && s.Settings != nil {
			r.Add(s.Kind.Secrets(s.Settings)...)
		}
	}
	return r
}

// loadConfig reads the config file with odsync's source and sink kinds.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, errNoConfig
	}
	return config.Load(path, builtin.Registry())
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
	m.System = s.Kind.System
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
		sk, err := s.Kind.New(s.Settings, registry.SinkDeps{Mapper: mapper, Log: log, Logger: lg.With("sink", s.Name), Name: s.Name})
		if err != nil {
			return nil, nil, fmt.Errorf("sink %s: %w", s.Name, err)
		}
		specs = append(specs, pipeline.SinkSpec{Name: s.Name, Sink: sk, Policy: s.Batch})
	}
	return specs, mappers, nil
}

func buildSource(cfg *config.Config, mapper *schema.Mapper, log *offsets.Log, progress io.Writer, lg *slog.Logger) (pipeline.Source, error) {
	src := cfg.Source
	return src.Kind.New(src.Settings, registry.SourceDeps{Capture: mapper.Captures, Log: log,
		Logger: lg.With("component", "capture"), Progress: progress, RequestDir: mysqlRequestDir(cfg)})
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
	st, err := cfg.Source.Kind.Telemetry(cfg.Source.Settings, src, log)
	if err != nil {
		return err
	}
	if st.Close != nil {
		defer st.Close()
	}
	topts.Source, topts.SourceName, topts.Snapshot, topts.SourceCounters = st.Probe, st.Name, st.Snapshot, st.Counters
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
	go trimWhenIdle(trimCtx, log.Head, idleTrimAfter, func() {
		log.ReleaseBuffers()
		debug.FreeOSMemory()
	})
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
	cfg, err := loadConfig(*path)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	// On a terminal the snapshot's progress line and the log share stderr
	// without running into each other.
	logOut, progressOut := stderr, io.Writer(stderr)
	if progress.IsTerminal(stderr) {
		term := newTermLines(stderr)
		logOut, progressOut = term.Logs(), term.Progress()
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
	if err := runPipeline(ctx, cfg, lg, progressOut); err != nil {
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
	cfg, err := loadConfig(*path)
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
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	failed := !cfg.Source.Kind.Check(cctx, cfg.Source.Settings, registry.CheckEnv{OpenLog: func() (*offsets.Log, error) {
		if _, err := os.Stat(cfg.State.Dir); err != nil {
			return nil, err // no state directory: no earlier run
		}
		return openLog(cfg, slog.New(slog.DiscardHandler))
	}}, stdout)
	cancel()
	for _, s := range cfg.Sinks {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		rep, err := s.Kind.Check(cctx, s.Settings)
		cancel()
		if err != nil {
			fmt.Fprintf(stdout, "sink %s: FAILED: %v\n", s.Name, err)
			if rep.Fix != "" {
				fmt.Fprintf(stdout, "  fix: %s\n", rep.Fix)
			}
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "sink %s: ok (%s)\n", s.Name, rep.OK)
		for _, n := range rep.Notes {
			fmt.Fprintf(stdout, "  note: %s\n", n)
		}
	}
	if failed {
		return exitCheck
	}
	return exitOK
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
	srcCfg, ok, err := sqlSource(cfg)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("verify: source type %q cannot be verified on a schedule (no SQL source)", cfg.Source.Type)
	}
	sched, err := verify.NewScheduler(cfg.Verify, mysqlsource.Server(srcCfg), cfg.Mapping, sinks, statusURL, lg, report)
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
