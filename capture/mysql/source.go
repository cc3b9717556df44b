package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/capture/snapprogress"
	"github.com/odsync/odsync/event"
)

// Emit receives a complete transaction together with the checkpoint just
// after it, or (checkpoint == nil) a chunk of a transaction too large to hold
// in memory; the chunk's transaction is committed by a later call with a
// checkpoint. Emit takes ownership of events. An Emit with no events and a
// checkpoint only advances the position (transactions on tables not captured).
type Emit func(ctx context.Context, events []event.Event, checkpoint []byte) error

// Source streams row changes from one server.
type Source struct {
	cfg     Config
	opts    Options // RequestDir and Progress (Store is store)
	capture func(event.TableID) bool
	log     *slog.Logger
	store   Store
	stats   *stats

	snapProg snapprogress.Tracker // SnapshotProgress

	shadowLogged sync.Map

	mu     sync.Mutex
	cp     Checkpoint // last emitted checkpoint (for Stats)
	lag    lagInfo
	snapSt *SnapshotState
}

// Options are a source's runtime dependencies.
type Options struct {
	// Store keeps the schema history and snapshot bookkeeping (pass the
	// *offsets.Log). Nil: they are kept in memory and lost on restart,
	// which is only right for tests and benchmarks.
	Store Store
	// RequestDir is the directory polled for on-demand snapshot requests
	// (odsync snapshot --table); "" for none.
	RequestDir string
	// Progress, when a terminal (an *os.File on one, or a writer with
	// IsTerminal() true), shows a snapshot progress bar.
	Progress io.Writer
}

// New returns a source for a validated config. capture says which tables to
// capture; nil captures all tables outside the system schemas.
func New(cfg Config, capture func(event.TableID) bool, logger *slog.Logger, opts Options) (*Source, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if capture == nil {
		capture = func(t event.TableID) bool { return !systemSchema(t.DB) }
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Store == nil {
		opts.Store = NewMemStore()
		logger.Warn("mysql source without a durable state store: schema history and snapshot progress do not survive a restart")
	}
	return &Source{cfg: cfg, capture: capture, log: logger, store: opts.Store, stats: &stats{}, opts: opts}, nil
}

func systemSchema(db string) bool {
	switch strings.ToLower(db) {
	case "mysql", "sys", "information_schema", "performance_schema":
		return true
	}
	return false
}

var shadowTable = regexp.MustCompile(`^_(.+?)(_[0-9]+)?_(gho|ghc|del|new|old)$`)

// captures reports whether a table's changes are captured: the caller's
// filter, minus system schemas and online-schema-change shadow tables.
func (s *Source) captures(id event.TableID) bool {
	if systemSchema(id.DB) || !s.capture(id) {
		return false
	}
	if !s.cfg.CaptureShadowTables {
		// gh-ost's _t_gho/_t_ghc/_t_del and pt-osc's _t_new/_t_old are
		// shadows only when their table t is captured too.
		if m := shadowTable.FindStringSubmatch(id.Table); m != nil && s.capture(event.TableID{DB: id.DB, Table: m[1]}) {
			if _, seen := s.shadowLogged.LoadOrStore(id, true); !seen {
				s.log.Info("not capturing an online schema change shadow table (its DDL is still followed); set capture_shadow_tables: true to capture it",
					"table", id.String(), "of", id.DB+"."+m[1])
			}
			return false
		}
	}
	return true
}

// ErrFatal marks errors that retrying cannot fix (purged binlogs, binlog
// off, wrong configuration).
// It matches event.ErrPermanent, so the pipeline ends the run instead of
// restarting the capture.
var ErrFatal error = fatalError{}

type fatalError struct{}

func (fatalError) Error() string        { return "fatal" }
func (fatalError) Is(target error) bool { return target == event.ErrPermanent }

// Run streams from the checkpoint from (nil: per Config.Start and
// Config.Snapshot) until ctx is done or an error occurs. It returns nil when
// ctx is done, and when a snapshot_only run has finished.
//
// Connection losses are retried with backoff from the last emitted
// checkpoint; a transaction that was partly emitted (spilled) is read again
// and its emitted events are skipped.
func (s *Source) Run(ctx context.Context, from []byte, emit Emit) error {
	srv, err := openServer(ctx, &s.cfg)
	if err != nil {
		return err
	}
	defer srv.close()
	srv.log = s.log
	for _, p := range srv.check(ctx) {
		if p.Warning {
			s.log.Warn("source check", "check", p.Check, "cause", p.Cause, "fix", p.Fix)
			continue
		}
		if p.Check == "binlog" || p.Check == "binlog_format" || p.Check == "binlog_row_image" {
			return fmt.Errorf("%w: mysql: %s", ErrFatal, p.Error())
		}
		s.log.Warn("source check", "check", p.Check, "cause", p.Cause, "fix", p.Fix)
	}
	st := &stream{src: s, srv: srv, emit: emit, hist: newHistory(s.store), log: s.log,
		charsets: srv.charsets(ctx), dbCharset: srv.schemaCharsets(ctx), warned: map[string]bool{}}
	plan, err := s.plan(ctx, srv, st, from)
	if err != nil {
		return err
	}
	if plan.done {
		s.log.Info("snapshot_only: the snapshot is complete; nothing to do")
		return nil
	}
	st.cp = plan.cp
	if s.cfg.Snapshot == SnapshotWhenNeeded {
		st.inv = newKeyInventory(s.store)
	}
	if err := s.prepare(ctx, srv, st, plan); err != nil {
		return err
	}
	defer st.snap.stop()
	s.setCheckpoint(st.cp)
	stopLag := s.watchLag(ctx, srv)
	defer stopLag()
	bo := backoff.New(100*time.Millisecond, 30*time.Second)
	for {
		progressed, err := st.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errSnapshotOnlyDone) {
			return st.finishSnapshotOnly(ctx)
		}
		if errors.Is(err, ErrFatal) {
			return err
		}
		if st.spilled > 0 && st.inTxn {
			st.resume = &spillResume{gtid: st.txnGTID, file: st.cp.File, pos: st.cp.Pos, emitted: st.spilled}
		}
		if progressed {
			bo.Reset()
		}
		wait := bo.Next()
		s.log.Warn("binlog stream broke; reconnecting from the last checkpoint", "err", err, "position", st.cp.String(), "backoff", wait)
		if backoff.Wait(ctx, wait) != nil {
			return nil
		}
	}
}

// startPlan is where a run starts and what it must copy first.
type startPlan struct {
	cp   Checkpoint
	done bool
	// fresh: no checkpoint was used (a new start or a re-snapshot).
	fresh bool
	// snapshotAll: copy every captured table before/while streaming.
	snapshotAll bool
}

func (s *Source) plan(ctx context.Context, srv *server, st *stream, from []byte) (startPlan, error) {
	mode := s.cfg.Snapshot
	if from != nil {
		cp, err := DecodeCheckpoint(from)
		if err != nil {
			return startPlan{}, fmt.Errorf("%w: %v", ErrFatal, err)
		}
		if cp.Flavor != "" && cp.Flavor != srv.flavor {
			return startPlan{}, fmt.Errorf("%w: mysql: the checkpoint was taken on a %s server but %s is %s", ErrFatal, cp.Flavor, s.cfg.Addr, srv.flavor)
		}
		if cp.SnapshotOnlyDone && mode == SnapshotSnapshotOnly {
			return startPlan{done: true}, nil
		}
		if perr := s.checkAvailable(ctx, srv, cp); perr != nil {
			if mode != SnapshotWhenNeeded {
				return startPlan{}, perr
			}
			s.log.Warn("the checkpoint's binlog is gone; snapshot: when_needed takes a new snapshot of every captured table", "err", perr)
			cur, err := srv.current(ctx)
			if err != nil {
				return startPlan{}, err
			}
			cur.Tables = cp.Tables
			cur.RequestsDone = cp.RequestsDone
			return startPlan{cp: cur, fresh: true, snapshotAll: true}, nil
		}
		cp.Flavor = srv.flavor
		s.log.Info("resuming from checkpoint", "position", cp.String())
		return startPlan{cp: cp}, nil
	}
	start, err := ParseStart(s.cfg.Start)
	if err != nil {
		return startPlan{}, fmt.Errorf("%w: mysql: start: %v", ErrFatal, err)
	}
	cp, err := resolveStart(ctx, srv, &s.cfg, start)
	if err != nil {
		return startPlan{}, err
	}
	cp.Flavor = srv.flavor
	if start.Kind == StartLatest {
		s.log.Info("starting at the current position", "position", cp.String(), "snapshot", mode)
	} else {
		s.log.Info("starting at "+start.String(), "position", cp.String())
	}
	return startPlan{cp: cp, fresh: true, snapshotAll: mode != SnapshotNever}, nil
}

// checkAvailable verifies the server still has the binlog a checkpoint needs.
func (s *Source) checkAvailable(ctx context.Context, srv *server, cp Checkpoint) error {
	files, err := srv.binaryLogs(ctx)
	if err != nil || len(files) == 0 {
		return nil // the stream will tell
	}
	oldest := files[0].Name
	if srv.gtid && cp.GTIDSet != "" {
		if srv.flavor == "mysql" {
			purged, err := srv.variable(ctx, "gtid_purged")
			if err == nil && purged != "" {
				if missing := mysqlGTIDMissing(cp.GTIDSet, purged); missing != "" {
					return &PurgedError{Want: cp.String(), Oldest: oldest, Cause: fmt.Errorf("the server purged GTIDs %s that odsync has not read", missing)}
				}
			}
			return nil
		}
		// MariaDB: the checkpoint's file tells (positions are tracked with it).
	}
	if cp.File == "" {
		return nil
	}
	for _, f := range files {
		if f.Name == cp.File {
			return nil
		}
	}
	if fileSeq(cp.File) > fileSeq(files[len(files)-1].Name) {
		return nil // a newer file than the server lists: let the stream report it
	}
	return &PurgedError{Want: cp.String(), Oldest: oldest, Cause: fmt.Errorf("binlog file %s was purged", cp.File)}
}

// prepare loads the schema history for the tables to capture and sets up
// the snapshot work of this run.
func (s *Source) prepare(ctx context.Context, srv *server, st *stream, plan startPlan) error {
	tables, err := srv.listTables(ctx)
	if err != nil {
		return err
	}
	var captured []event.TableID
	for _, id := range tables {
		if s.captures(id) {
			captured = append(captured, id)
		}
	}
	// Tables without any schema history get their current schema, recorded
	// at the server's current position.
	cur, err := srv.current(ctx)
	if err != nil {
		return err
	}
	curPos := cur.pos()
	for _, id := range captured {
		known, err := st.hist.known(id)
		if err != nil {
			return err
		}
		if known {
			continue
		}
		ts, err := srv.loadSchema(ctx, id)
		if err != nil {
			s.log.Warn("cannot load the schema of a captured table; its table map will decide", "table", id.String(), "err", err)
			continue
		}
		if _, err := st.hist.put(id, curPos, ts, false); err != nil {
			return err
		}
	}
	sn, err := newSnapshotter(ctx, s, srv, st, plan, captured)
	if err != nil {
		return err
	}
	st.snap = sn
	return nil
}

func (s *Source) setCheckpoint(cp Checkpoint) {
	cp = cp.clone()
	s.mu.Lock()
	s.cp = cp
	s.snapSt = cp.Snapshot
	s.mu.Unlock()
}

// finishSnapshotOnly emits the final checkpoint of a snapshot_only run.
func (st *stream) finishSnapshotOnly(ctx context.Context) error {
	st.cp.SnapshotOnlyDone = true
	st.cp.Snapshot = nil
	if err := st.emitCP(ctx, nil); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	st.log.Info("snapshot_only: the snapshot is complete", "rows", st.src.stats.snapRows.Load())
	return nil
}

// mysqlGTIDMissing returns the purged GTID set when it is not contained in
// the set already read ("" when nothing was lost).
func mysqlGTIDMissing(have, purged string) string {
	h, err := gomysql.ParseMysqlGTIDSet(have)
	if err != nil {
		return ""
	}
	p, err := gomysql.ParseMysqlGTIDSet(purged)
	if err != nil {
		return ""
	}
	if h.Contain(p) {
		return ""
	}
	return p.String()
}
