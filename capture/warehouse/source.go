package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/capture/snapprogress"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/telemetry"
)

// checkpointKind marks a warehouse source checkpoint.
const checkpointKind = "warehouse"

// Checkpoint is the source's position, stored in the log atomically with
// the events it covers.
type Checkpoint struct {
	Kind string `json:"kind"`
	// Upto: during the full load, the state loaded is the change log up
	// to _seq Upto (fixed when the load starts); once loaded, every change
	// with a _seq up to Upto is in the log.
	Upto uint64 `json:"upto"`
	// Loaded: the full load is done.
	Loaded bool `json:"loaded,omitempty"`
	// Table is the table being loaded, by its base name (without evolve
	// mode's _v<N>; tables load in that order: those before it are done),
	// and Rows how many of its rows are in the log.
	Table string `json:"table,omitempty"`
	Rows  uint64 `json:"rows,omitempty"`
	// Ext holds, per table of another tool (by name), which of its
	// objects are in the log (extMark; incremental mode).
	Ext map[string]*extMark `json:"ext,omitempty"`
}

// DecodeCheckpoint parses a checkpoint of the source.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil || c.Kind != checkpointKind {
		return c, fmt.Errorf("warehouse: %.200q is not a warehouse source checkpoint", b)
	}
	return c, nil
}

func (c Checkpoint) encode() []byte {
	c.Kind = checkpointKind
	b, _ := json.Marshal(c) // strings, ints and bools only
	return b
}

// String renders the checkpoint for people.
func (c Checkpoint) String() string {
	if c.Loaded {
		return fmt.Sprintf("changes up to _seq %d applied", c.Upto)
	}
	if c.Table == "" {
		return fmt.Sprintf("full load of the state at _seq %d starting", c.Upto)
	}
	return fmt.Sprintf("full load of the state at _seq %d: table %s, %d rows", c.Upto, c.Table, c.Rows)
}

// unit is a piece of a table's data read at once: an S3 object.
type unit struct {
	// name names it in errors (the object key).
	name string
	// first and last are the _seq range (change-log tables).
	first, last uint64
	// mod is the modification time (S3 objects).
	mod time.Time
	ref any
	// ver is the earlier version of the table the unit belongs to (nil:
	// the table itself).
	ver *table
}

// store is a warehouse the source reads.
type store interface {
	Describe() string
	// Tables returns the tables to read, sorted by name.
	Tables(ctx context.Context) ([]*table, error)
	// Complete returns the _seq up to which the change log is in the
	// warehouse completely (tables are passed for a store that must look
	// at their data to tell).
	Complete(ctx context.Context, tables []*table) (uint64, error)
	// Units lists a table's data, change-log tables sorted by first.
	Units(ctx context.Context, t *table) ([]unit, error)
	// Read decodes the rows of a unit (layout rows; fn must not keep them).
	Read(ctx context.Context, t *table, u unit, fn func(row []event.Value) error) error
}

// follower is a store that tells which of its units may hold the changes
// in a _seq range (MaxCompute: the partitions its progress marks list),
// instead of every unit naming its own range (S3 objects).
type follower interface {
	Changed(ctx context.Context, tables []*table, after, complete uint64) (map[*table][]unit, error)
}

// Source reads warehouse tables (pipeline.Source).
type Source struct {
	st      store
	cfg     ReadSettings
	capture func(event.TableID) bool
	log     *slog.Logger
	prog    snapprogress.Tracker

	mu         sync.Mutex
	connected  bool
	upto       uint64 // _seq in the log
	complete   uint64 // _seq complete in the warehouse
	lastCommit int64  // commit time of the newest change emitted (µs)
	loaded     bool
}

func newSource(st store, cfg ReadSettings, capture func(event.TableID) bool, logger *slog.Logger) *Source {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if capture == nil {
		capture = func(event.TableID) bool { return true }
	}
	return &Source{st: st, cfg: cfg, capture: capture, log: logger}
}

// permanent marks an error retrying cannot fix (bad data, a bad table).
type permanent struct{ err error }

func (e *permanent) Error() string        { return e.err.Error() }
func (e *permanent) Unwrap() error        { return e.err }
func (e *permanent) Is(target error) bool { return target == event.ErrPermanent }

// emitError is a failure of Run's emit (the log), which Run returns as
// it is instead of retrying.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

func (s *Source) setConnected(err error) {
	s.mu.Lock()
	s.connected = err == nil
	s.mu.Unlock()
}

// tables lists the captured tables.
func (s *Source) tables(ctx context.Context) ([]*table, error) {
	all, err := s.st.Tables(ctx)
	s.setConnected(err)
	if err != nil {
		return nil, err
	}
	var out []*table
	for _, t := range all {
		if s.capture(t.src.ID) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Run loads the tables' state (or resumes the load) and, in incremental
// mode, follows their change logs until ctx is done. A failure retrying
// can fix (the warehouse unreachable) starts again from the last
// checkpoint emitted, after a backoff; bad data or a bad table
// (event.ErrPermanent) stops the source. Each table's schema is announced
// by a DDL event before its rows (schemaMarks).
func (s *Source) Run(ctx context.Context, from []byte, emit func(ctx context.Context, events []event.Event, checkpoint []byte) error) error {
	marks := schemaMarks{}
	progressed := false
	emitted := func(ctx context.Context, events []event.Event, checkpoint []byte) error {
		out := marks.announce(events)
		schemas := marks.of(out) // emit may keep (and reuse) out
		if err := emit(ctx, out, checkpoint); err != nil {
			return &emitError{err}
		}
		marks.commit(schemas)
		from, progressed = checkpoint, true
		return nil
	}
	bo := backoff.New(200*time.Millisecond, 30*time.Second)
	for {
		err := s.run(ctx, from, emitted)
		if err == nil || ctx.Err() != nil {
			return nil // stopped
		}
		if ee := (*emitError)(nil); errors.As(err, &ee) {
			return ee.err // the log failed: not the warehouse's to retry
		}
		if errors.Is(err, event.ErrPermanent) {
			return err
		}
		if progressed {
			bo.Reset()
			progressed = false
		}
		wait := bo.Next()
		s.setConnected(err)
		s.log.Warn("warehouse source: reading failed; retrying from the last checkpoint", "err", err, "backoff", wait)
		if backoff.Wait(ctx, wait) != nil {
			return nil
		}
	}
}

func (s *Source) run(ctx context.Context, from []byte, emit func(ctx context.Context, events []event.Event, checkpoint []byte) error) error {
	var cp Checkpoint
	if from != nil {
		c, err := DecodeCheckpoint(from)
		if err != nil {
			return &permanent{err}
		}
		cp = c
	}
	tables, err := s.tables(ctx)
	if err != nil {
		return err
	}
	if !cp.Loaded {
		if cp.Table == "" && cp.Upto == 0 {
			upto, err := s.st.Complete(ctx, tables)
			if err != nil {
				return err
			}
			cp = Checkpoint{Upto: upto}
			// The tables and schema files again, now that the load's
			// _seq is fixed (see step).
			if tables, err = s.tables(ctx); err != nil {
				return err
			}
			s.log.Info("full load: the tables' state at _seq", "upto", upto, "tables", len(tables), "from", s.st.Describe())
		}
		for _, t := range tables {
			s.prog.Plan(t.src.ID, 0)
		}
		if cp.Ext == nil {
			cp.Ext = map[string]*extMark{}
		}
		for _, t := range tables {
			if cp.Table != "" && (t.base < cp.Table || t.base == cp.Table && cp.Ext[t.base] != nil) {
				s.prog.Finish(t.src.ID)
				continue
			}
			skip := uint64(0)
			if t.base == cp.Table {
				skip = cp.Rows
			}
			if err := s.load(ctx, t, cp.Upto, skip, cp.Ext, emit); err != nil {
				return err
			}
		}
		cp = Checkpoint{Upto: cp.Upto, Loaded: true, Ext: cp.Ext}
		if err := emit(ctx, nil, cp.encode()); err != nil {
			return err
		}
		s.log.Info("full load done", "upto", cp.Upto)
	}
	s.mu.Lock()
	s.loaded, s.upto = true, cp.Upto
	s.mu.Unlock()
	if s.cfg.Mode == ModeFull {
		<-ctx.Done()
		return nil
	}
	for {
		moved, err := s.step(ctx, &cp, emit)
		if err != nil {
			return err
		}
		movedExt, err := s.stepExternal(ctx, &cp, emit)
		if err != nil {
			return err
		}
		if moved || movedExt {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.PollInterval):
		}
	}
}

// load emits the state of table t at _seq upto as reads, skipping the
// first skip rows (in the log already). A table of another tool gets its
// mark in ext (the objects loaded), which every checkpoint carries.
func (s *Source) load(ctx context.Context, t *table, upto, skip uint64, ext map[string]*extMark, emit func(context.Context, []event.Event, []byte) error) error {
	s.prog.Start(t.src.ID)
	units, err := s.st.Units(ctx, t)
	s.setConnected(err)
	if err != nil {
		return err
	}
	var n uint64 // rows emitted (or skipped) so far
	batch := make([]event.Event, 0, s.cfg.BatchRows)
	flush := func() error {
		if len(batch) == 0 && (t.changeLog || ext[t.base] == nil) {
			return nil
		}
		cp := Checkpoint{Upto: upto, Table: t.base, Rows: n, Ext: ext}
		if err := emit(ctx, batch, cp.encode()); err != nil {
			return err
		}
		s.prog.Read(t.src.ID, uint64(len(batch)), false)
		batch = make([]event.Event, 0, s.cfg.BatchRows) // emit may keep the slice
		return nil
	}
	add := func(ch change) error {
		n++
		if n <= skip {
			return nil
		}
		batch = append(batch, t.event(ch))
		if len(batch) >= s.cfg.BatchRows {
			return flush()
		}
		return nil
	}
	if !t.changeLog {
		// Another tool's table: every row, in object and file order.
		for _, u := range units {
			i := 0
			err := s.st.Read(ctx, t, u, func(row []event.Value) error {
				i++
				if i == 1 && t.header {
					return nil
				}
				ch, err := t.decodeUnit(u, row, rowAt{u.name, i})
				if err != nil {
					return &permanent{err}
				}
				return add(ch)
			})
			if err != nil {
				return err
			}
		}
		m := &extMark{}
		for _, u := range units {
			m.done(u)
		}
		m.advance(nil, t.settle)
		// The table's last checkpoint (always emitted) carries it: a
		// restart from it does not load the table again (run).
		ext[t.base] = m
	} else {
		if len(t.src.Key) == 0 {
			return &permanent{fmt.Errorf("warehouse: table %s (%s) has no key: the state of a keyless change log cannot be told apart row by row", t.name, t.src.ID)}
		}
		// The last row per key by _seq; deleted keys drop out. The state
		// is bounded in memory (load_memory_bytes) and spills to disk.
		st := newLoadState(t, int64(s.cfg.LoadMemoryBytes), s.cfg.SpillDir, s.cfg.TmpDir, s.log)
		defer st.close()
		st.expect(expectedChanges(units, upto))
		for _, u := range units {
			if u.first > upto {
				continue
			}
			i := 0
			err := s.st.Read(ctx, t, u, func(row []event.Value) error {
				i++
				ch, err := t.decodeUnit(u, row, rowAt{u.name, i})
				if err != nil {
					return &permanent{err}
				}
				if ch.seq > upto {
					return nil
				}
				return st.add(ch)
			})
			if err != nil {
				return err
			}
		}
		if err := st.each(add); err != nil {
			return err
		}
		if err := st.close(); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	s.prog.Finish(t.src.ID)
	return nil
}

// expectedChanges estimates how many changes the units hold up to _seq
// upto from their _seq ranges (an upper bound: _seq counts every table's
// changes); 0 when a unit's range is unknown.
func expectedChanges(units []unit, upto uint64) uint64 {
	var n uint64
	for _, u := range units {
		if u.first > upto {
			continue
		}
		if u.first == 0 || u.last < u.first || u.last == math.MaxInt64 {
			return 0
		}
		n += min(u.last, upto) - u.first + 1
	}
	return n
}

// event is the event of a change of table t.
func (t *table) event(ch change) event.Event {
	e := event.Event{Op: ch.op, Source: t.src.ID, Table: t.src, CommitTime: ch.commit,
		Pos: event.Position{File: t.name, Offset: ch.seq}, TxnEnd: true}
	switch ch.op {
	case event.OpDelete:
		e.Before = ch.row
	case event.OpUpdate:
		// The change log holds the image after the update; its key is
		// the key before (a key change is a delete and an insert).
		e.Before, e.After = ch.row, ch.row
	default:
		e.After = ch.row
	}
	return e
}

// pending is a change of one table read in an incremental step.
type pending struct {
	t  *table
	ch change
}

// step applies the changes after the checkpoint that the warehouse holds
// completely, at most WindowObjects objects' worth; moved is false when
// there was nothing new.
func (s *Source) step(ctx context.Context, cp *Checkpoint, emit func(context.Context, []event.Event, []byte) error) (moved bool, err error) {
	tables, err := s.tables(ctx)
	if err != nil {
		return false, err
	}
	complete, err := s.st.Complete(ctx, tables)
	s.setConnected(err)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.complete = complete
	s.mu.Unlock()
	if complete <= cp.Upto {
		return false, nil
	}
	// The tables and their schema files again, read after complete: the
	// S3 sink writes a table's schema file before any object of its
	// layout, and both before complete covers them, so every object up to
	// complete is decoded with its own layout or a newer one (and a table
	// created meanwhile is seen). Read before complete, an object of a
	// layout not yet seen would lose its new columns.
	if tables, err = s.tables(ctx); err != nil {
		return false, err
	}
	type ref struct {
		t *table
		u unit
	}
	var cand []ref
	f, follows := s.st.(follower)
	var changed map[*table][]unit
	if follows {
		// A store whose units overlap in _seq (MaxCompute partitions):
		// at most window_objects × batch_rows _seq values per step, so
		// the rows sorted in memory stay bounded.
		complete = min(complete, cp.Upto+uint64(s.cfg.WindowObjects)*uint64(s.cfg.BatchRows))
		changed, err = f.Changed(ctx, tables, cp.Upto, complete)
		s.setConnected(err)
		if err != nil {
			return false, err
		}
	}
	for _, t := range tables {
		if !t.changeLog {
			continue
		}
		units := changed[t]
		if !follows {
			units, err = s.st.Units(ctx, t)
			s.setConnected(err)
			if err != nil {
				return false, err
			}
		}
		for _, u := range units {
			if u.last > cp.Upto && u.first <= complete {
				cand = append(cand, ref{t, u})
			}
		}
	}
	sort.Slice(cand, func(i, j int) bool { return cand[i].u.first < cand[j].u.first })
	// The window: every object that holds rows right after the
	// checkpoint, then up to WindowObjects more; rows up to the next
	// object's first _seq are all in the window.
	bound := complete
	n := 0
	for n < len(cand) && cand[n].u.first <= cp.Upto+1 {
		n++
	}
	n = min(len(cand), max(n, s.cfg.WindowObjects))
	if n < len(cand) {
		bound = min(bound, cand[n].u.first-1)
		cand = cand[:n]
	}
	var rows []pending
	for _, r := range cand {
		i := 0
		err := s.st.Read(ctx, r.t, r.u, func(row []event.Value) error {
			i++
			ch, err := r.t.decodeUnit(r.u, row, rowAt{r.u.name, i})
			if err != nil {
				return &permanent{err}
			}
			if ch.seq > cp.Upto && ch.seq <= bound {
				rows = append(rows, pending{r.t, ch})
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ch.seq < rows[j].ch.seq })
	batch := make([]event.Event, 0, s.cfg.BatchRows)
	var last uint64
	var lastCommit int64
	for i, p := range rows {
		if p.ch.seq == last {
			continue // the same row in two objects
		}
		if len(p.t.src.Key) == 0 && p.ch.op != event.OpInsert && p.ch.op != event.OpRead {
			return false, &permanent{fmt.Errorf("warehouse: table %s (%s) _seq %d: an %s of a keyless table cannot be applied from the change log (it holds no before image)", p.t.name, p.t.src.ID, p.ch.seq, p.ch.op)}
		}
		batch = append(batch, p.t.event(p.ch))
		last, lastCommit = p.ch.seq, p.ch.commit
		if len(batch) >= s.cfg.BatchRows && i < len(rows)-1 {
			c := Checkpoint{Upto: last, Loaded: true, Ext: cp.Ext}
			if err := emit(ctx, batch, c.encode()); err != nil {
				return false, err
			}
			s.advance(last, lastCommit)
			batch = make([]event.Event, 0, s.cfg.BatchRows) // emit may keep the slice
		}
	}
	*cp = Checkpoint{Upto: bound, Loaded: true, Ext: cp.Ext}
	if err := emit(ctx, batch, cp.encode()); err != nil {
		return false, err
	}
	s.advance(bound, lastCommit)
	return true, nil
}

func (s *Source) advance(upto uint64, commit int64) {
	s.mu.Lock()
	s.upto = upto
	if commit != 0 {
		s.lastCommit = commit
	}
	s.mu.Unlock()
}

// Lag reports how far the log is behind the warehouse
// (telemetry.SourceProbe): MessagesBehind counts the change-log rows
// (_seq) the warehouse holds completely and the log does not yet;
// SecondsBehind is the age of the newest change applied while some are
// pending.
func (s *Source) Lag(context.Context) (telemetry.SourceLag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := telemetry.SourceLag{Connected: s.connected, BytesBehind: -1, MessagesBehind: -1, WatermarkAge: -1}
	if s.loaded {
		// The checkpoint, as odsync offsets shows it (verify reads it).
		l.Position = fmt.Sprintf("_seq %d", s.upto)
	}
	if s.loaded && s.complete > 0 {
		l.MessagesBehind = int64(s.complete - min(s.upto, s.complete))
		if s.complete > s.upto && s.lastCommit != 0 {
			l.SecondsBehind = time.Since(time.UnixMicro(s.lastCommit)).Seconds()
		}
	}
	return l, nil
}

// SnapshotProgress reports the full load per table (telemetry.SnapshotProbe).
func (s *Source) SnapshotProgress(context.Context) ([]telemetry.TableProgress, error) {
	return snapprogress.Telemetry(s.prog.List()), nil
}
