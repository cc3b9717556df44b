package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// ScheduleConfig is the `verify:` section of odsync's configuration:
// verification on a schedule inside `odsync run`, one table at a time,
// at a bounded source read rate.
type ScheduleConfig struct {
	// Interval between the starts of two passes over the tables (0: off).
	Interval time.Duration `yaml:"interval"`
	// Rate bounds the source rows read per second (default 1000).
	Rate float64 `yaml:"rate"`
	// ChunkSize is the source rows per chunk (default 1000).
	ChunkSize int `yaml:"chunk_size"`
	// Checksum is "rows" (default: every source row is read) or "sql"
	// (the source server checksums each chunk; only chunks that differ
	// are read row by row).
	Checksum string `yaml:"checksum"`
	// Pause between two tables (default 10s), so verification stays in the
	// background.
	Pause time.Duration `yaml:"pause"`
	// Wait bounds each wait for a sink to catch up (default 2m).
	Wait time.Duration `yaml:"wait"`
	// Tables limits the verified tables (db.table; default every captured
	// table).
	Tables []string `yaml:"tables"`
	// TempDir holds the temporary target state ("": the system's).
	TempDir string `yaml:"tmp_dir"`
}

// Enabled reports whether scheduled verification is on.
func (c ScheduleConfig) Enabled() bool { return c.Interval > 0 }

// EnsureDefaults fills unset fields.
func (c *ScheduleConfig) EnsureDefaults() {
	if c.Rate == 0 {
		c.Rate = 1000
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = 1000
	}
	if c.Pause == 0 {
		c.Pause = 10 * time.Second
	}
	if c.Wait == 0 {
		c.Wait = 2 * time.Minute
	}
}

// Validate reports every problem at once; prefix is the config path.
func (c ScheduleConfig) Validate(prefix string) error {
	var errs []error
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("%s.interval: %s: must not be negative", prefix, c.Interval))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("%s.rate: %g: must not be negative", prefix, c.Rate))
	}
	if c.Checksum != "" && c.Checksum != ChecksumRows && c.Checksum != ChecksumSQL {
		errs = append(errs, fmt.Errorf("%s.checksum: %q: want %s or %s", prefix, c.Checksum, ChecksumRows, ChecksumSQL))
	}
	if c.ChunkSize < 0 || c.ChunkSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("%s.chunk_size: %d: want 1..1000000", prefix, c.ChunkSize))
	}
	if c.Pause < 0 || c.Wait < 0 {
		errs = append(errs, fmt.Errorf("%s.pause, %s.wait: must not be negative", prefix, prefix))
	}
	return errors.Join(errs...)
}

// Result is the latest verification of one table in one sink.
type Result struct {
	Sink       string    `json:"sink"`
	Table      string    `json:"table"`
	Status     string    `json:"status"`
	Time       time.Time `json:"time"`
	Seconds    float64   `json:"seconds"`
	SourceRows int64     `json:"source_rows"`
	TargetRows int64     `json:"target_rows"`
	Changed    int64     `json:"changed"`
	Missing    int64     `json:"missing"`
	Extra      int64     `json:"extra"`
	Unsettled  int64     `json:"unsettled"`
	Error      string    `json:"error,omitempty"`
}

// Scheduler runs verification passes on a schedule.
type Scheduler struct {
	cfg     ScheduleConfig
	source  Server
	mapping schema.Config
	sinks   []Sink
	status  string // the running odsync's /status URL ("" none)
	lg      *slog.Logger
	report  func(Result)
}

// NewScheduler returns a scheduler verifying the sinks against the source.
// report receives every table's result (e.g. for metrics and the status
// page); statusURL is the service's own /status ("" when unknown).
func NewScheduler(cfg ScheduleConfig, source Server, mapping schema.Config, sinks []Sink, statusURL string,
	lg *slog.Logger, report func(Result)) (*Scheduler, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("verify"); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("verify: interval is 0 (scheduled verification is off)")
	}
	if len(sinks) == 0 {
		return nil, errors.New("verify: no sink to verify")
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if report == nil {
		report = func(Result) {}
	}
	return &Scheduler{cfg: cfg, source: source, mapping: mapping, sinks: sinks, status: statusURL, lg: lg, report: report}, nil
}

// Run verifies every table against every sink, one table at a time, then
// waits for the next interval, until ctx is done. The first pass starts one
// interval after the start (the service first catches up).
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTimer(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		if err := s.pass(ctx); err != nil && ctx.Err() == nil {
			s.lg.Warn("scheduled verify failed", "err", err)
		}
		t.Reset(max(s.cfg.Interval-time.Since(start), s.cfg.Pause))
	}
}

// pass verifies every table once.
func (s *Scheduler) pass(ctx context.Context) error {
	src, err := OpenSource(ctx, s.source, s.cfg.Rate)
	if err != nil {
		return err
	}
	defer src.Close()
	opts := Options{ChunkSize: s.cfg.ChunkSize, Checksum: s.cfg.Checksum, RowsPerSecond: s.cfg.Rate, Wait: s.cfg.Wait, TempDir: s.cfg.TempDir, StatusURL: s.status}
	v, err := New(src, s.mapping, s.sinks, opts)
	if err != nil {
		return err
	}
	ids, err := v.Tables(ctx, s.cfg.Tables)
	if err != nil {
		return err
	}
	for i, id := range ids {
		if i > 0 {
			if err := backoff.Wait(ctx, s.cfg.Pause); err != nil {
				return nil
			}
		}
		for _, sk := range s.sinks {
			one, err := New(src, s.mapping, []Sink{sk}, opts)
			if err != nil {
				return err
			}
			rep, err := one.Run(ctx, []event.TableID{id})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.report(Result{Sink: sk.Name, Table: id.String(), Status: StatusError, Time: time.Now().UTC(), Error: err.Error()})
				continue
			}
			for _, tr := range rep.Tables {
				r := Result{Sink: tr.Sink, Table: tr.Table, Status: tr.Status, Time: rep.Finished, Seconds: rep.Summary.Seconds,
					SourceRows: tr.SourceRows, TargetRows: tr.TargetRows, Changed: tr.Diffs.Changed, Missing: tr.Diffs.Missing,
					Extra: tr.Diffs.Extra, Unsettled: tr.Diffs.Unsettled, Error: tr.Error}
				if tr.Status != StatusMatch {
					s.lg.Warn("scheduled verify: difference", "sink", tr.Sink, "table", tr.Table, "status", tr.Status,
						"changed", tr.Diffs.Changed, "missing", tr.Diffs.Missing, "extra", tr.Diffs.Extra, "fixes", tr.Fixes)
				}
				s.report(r)
			}
		}
	}
	return nil
}
