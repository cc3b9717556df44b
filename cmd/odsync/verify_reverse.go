package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cmysql "github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/warehouse"
	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
	"github.com/odsync/odsync/verify"
	"github.com/odsync/odsync/verify/mysqlsource"
)

// warehouseSource returns the warehouse source of a reverse job's
// configuration (source.type s3 or maxcompute); ok is false for other
// sources.
func warehouseSource(ctx context.Context, cfg *config.Config) (*warehouse.Source, bool, error) {
	m, err := schema.New(cfg.Mapping)
	if err != nil {
		return nil, true, fmt.Errorf("mapping: %w", err)
	}
	deps := registry.SourceDeps{Capture: m.Captures}
	switch c := cfg.Source.Settings.(type) {
	case *warehouse.S3Config:
		s, err := warehouse.NewS3(ctx, *c, deps)
		return s, true, err
	case *warehouse.MaxComputeConfig:
		s, err := warehouse.NewMaxCompute(*c, deps)
		return s, true, err
	}
	return nil, false, nil
}

// warehouseTables adapts the warehouse source to verify.Warehouse.
type warehouseTables struct {
	src *warehouse.Source

	mu     sync.Mutex
	tables map[string]warehouse.VerifyTable
	list   []warehouse.VerifyTable
}

func (w *warehouseTables) Describe() string { return w.src.Describe() }

func (w *warehouseTables) Tables(ctx context.Context) ([]verify.WarehouseTable, error) {
	ts, err := w.src.VerifyTables(ctx)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tables, w.list = map[string]warehouse.VerifyTable{}, ts
	out := make([]verify.WarehouseTable, 0, len(ts))
	for _, t := range ts {
		w.tables[t.Name] = t
		out = append(out, verify.WarehouseTable{Name: t.Name, Source: t.Source, Static: t.Static})
	}
	return out, nil
}

func (w *warehouseTables) Complete(ctx context.Context) (uint64, error) {
	w.mu.Lock()
	list := w.list
	w.mu.Unlock()
	return w.src.Complete(ctx, list)
}

func (w *warehouseTables) Scan(ctx context.Context, table string, after, upto uint64, fn func(verify.WarehouseChange) error) error {
	w.mu.Lock()
	t, ok := w.tables[table]
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("warehouse table %s is not listed", table)
	}
	return w.src.ScanChanges(ctx, t, after, upto, func(ch warehouse.VerifyChange) error {
		return fn(verify.WarehouseChange{Op: ch.Op, Seq: ch.Seq, Commit: ch.Commit, Row: ch.Row})
	})
}

// verifyReverse verifies a reverse job (docs/verify.md "Reverse sync"):
// the warehouse tables' state at the job's checkpoint against each MySQL
// sink's target tables. It returns the report or an exit code.
func verifyReverse(ctx context.Context, cfg *config.Config, src *warehouse.Source, tables, only []string, opts verify.Options, stderr io.Writer) (*verify.Report, int) {
	want := map[string]bool{}
	for _, n := range only {
		want[n] = true
	}
	var sinks []config.Sink
	var errs []error
	found := map[string]bool{}
	for _, s := range cfg.Sinks {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		found[s.Name] = true
		if _, ok := s.Settings.(*mysqlsink.Config); !ok {
			err := fmt.Errorf("verify: sink %s (type %s): a reverse job is verified against mysql sinks only", s.Name, s.Type)
			if len(want) > 0 {
				errs = append(errs, err)
			} else {
				fmt.Fprintf(stderr, "odsync: %v; skipped\n", err)
			}
			continue
		}
		sinks = append(sinks, s)
	}
	for _, n := range only {
		if !found[n] {
			errs = append(errs, fmt.Errorf("verify: --sink %s: no such sink in the configuration", n))
			found[n] = true
		}
	}
	if len(errs) == 0 && len(sinks) == 0 {
		errs = append(errs, errors.New("verify: the reverse job has no mysql sink to verify"))
	}
	if len(errs) > 0 {
		return nil, fail(stderr, exitVerifyUsage, errors.Join(errs...))
	}
	wh := &warehouseTables{src: src}
	var rep *verify.Report
	for _, s := range sinks {
		c := *s.Settings.(*mysqlsink.Config)
		c.EnsureDefaults()
		pw, err := c.Secret()
		if err != nil {
			return nil, fail(stderr, exitVerifyUsage, fmt.Errorf("verify: sink %s: %w", s.Name, err))
		}
		server := mysqlsource.Server(cmysql.Config{Addr: c.Addr, User: c.User, Password: pw, ConnectTimeout: c.ConnectTimeout})
		target, err := verify.OpenSource(ctx, server, opts.RowsPerSecond)
		if err != nil {
			return nil, fail(stderr, exitVerifyIncomplete, fmt.Errorf("verify: sink %s: %w", s.Name, err))
		}
		ck, err := verify.NewMySQLReader(ctx, verify.MySQLConfig{Target: server, Database: c.Database, CheckpointTable: c.CheckpointTable, Sink: s.Name})
		if err != nil {
			target.Close()
			return nil, fail(stderr, exitVerifyIncomplete, fmt.Errorf("verify: sink %s: %w", s.Name, err))
		}
		js := &jobState{cfg: cfg, sink: s.Name, status: opts.StatusURL, client: opts.HTTPClient, ck: ck}
		v, err := verify.NewReverse(target, verify.Reverse{Warehouse: wh, Job: js.read,
			Full: src.Mode() == warehouse.ModeFull, Database: c.Database}, s.Name, opts)
		if err != nil {
			ck.Close()
			target.Close()
			return nil, fail(stderr, exitVerifyUsage, err)
		}
		ids, err := v.Tables(ctx, tables)
		if err == nil && len(ids) == 0 {
			err = errors.New("verify: the reverse job reads no tables")
		}
		if err != nil {
			ck.Close()
			target.Close()
			return nil, fail(stderr, exitVerifyUsage, err)
		}
		r, err := v.Run(ctx, ids)
		ck.Close()
		target.Close()
		if err != nil {
			return nil, fail(stderr, exitVerifyIncomplete, err)
		}
		if rep == nil {
			rep = r
		} else {
			rep.Add(r)
		}
	}
	return rep, -1
}

// jobState reads how far a reverse job has got: from its state directory
// when it is stopped, else from its /status; the sink's checkpoint row in
// the target says what the sink applied.
type jobState struct {
	cfg    *config.Config
	sink   string
	status string
	client *http.Client
	ck     *verify.MySQLReader
}

func (j *jobState) read(ctx context.Context) (verify.JobState, error) {
	var s verify.JobState
	if _, err := os.Stat(j.cfg.State.Dir); errors.Is(err, os.ErrNotExist) {
		s.Detail = "no state directory " + j.cfg.State.Dir
		return s, nil
	}
	// The sink's checkpoint row (none yet, or no table: 0). It is ahead
	// of the log's cursor when acknowledgements were lost in a crash.
	applied, err := j.ck.Progress(ctx, "")
	if err != nil {
		applied.Seq = 0
	}
	log, err := openLog(j.cfg, slog.New(slog.DiscardHandler))
	var inUse *stateInUseError
	if errors.As(err, &inUse) {
		return j.fromStatus(ctx, applied.Seq)
	}
	if err != nil {
		return s, err
	}
	defer log.Close()
	cp := log.Checkpoint()
	head := log.Stats().Head
	cursor := log.Cursors()[j.sink]
	s.Detail = "state " + j.cfg.State.Dir
	if cp == nil {
		return s, nil
	}
	c, err := warehouse.DecodeCheckpoint(cp)
	if err != nil {
		return s, err
	}
	s.Known, s.Loaded, s.Upto = true, c.Loaded, c.Upto
	s.Applied = max(cursor, applied.Seq) >= head
	return s, nil
}

// fromStatus reads the running job's /status twice: its checkpoint must be
// the same both times with the sink at the log head (the position and the
// head are sampled apart).
func (j *jobState) fromStatus(ctx context.Context, ckSeq uint64) (verify.JobState, error) {
	s := verify.JobState{Detail: "the running odsync's " + j.status}
	if j.status == "" {
		return s, errors.New("the reverse job runs (its state directory is in use) and its admin address is not known: give --status http://HOST:PORT/status")
	}
	var prev string
	for i := 0; i < 2; i++ {
		d, err := verify.FetchStatus(ctx, j.client, j.status)
		if err != nil {
			return s, err
		}
		cursor := ckSeq
		for _, sk := range d.Sinks {
			if sk.Name == j.sink {
				cursor = max(cursor, sk.Cursor)
			}
		}
		n, ok := strings.CutPrefix(d.Source.Position, "_seq ")
		s.Known = true
		s.Loaded = ok
		if ok {
			if s.Upto, err = strconv.ParseUint(n, 10, 64); err != nil {
				return s, fmt.Errorf("%s: source position %q", j.status, d.Source.Position)
			}
		}
		s.Applied = cursor >= d.Log.Head
		if !s.Loaded || !s.Applied || (i > 0 && d.Source.Position != prev) {
			s.Applied = false
			return s, nil
		}
		prev = d.Source.Position
		if i == 0 {
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return s, ctx.Err()
			case <-t.C:
			}
		}
	}
	return s, nil
}
