package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// Reverse direction (docs/verify.md "Reverse sync"): a reverse job reads
// warehouse tables (source.type s3 or maxcompute, package
// capture/warehouse) and a MySQL sink applies them to a MySQL-protocol
// server. Verification compares the warehouse tables' state — per key the
// change with the highest _seq up to the point the job has applied,
// deletes applied, _raw values restored — with the target tables' rows.
//
// It reuses the forward comparison with the roles of the two sides
// swapped inside: the MySQL target is read like a source (keyset chunks,
// canonical text per column, re-reads by key, --checksum sql), and the
// warehouse's changes go into the on-disk store like an ODS change log
// (highest _seq wins, bounded memory). The report is turned back: source
// is the warehouse, target the MySQL table.
//
// The point of comparison is the job's checkpoint (the _seq every change
// up to which is in its log) while its sink has applied the whole log:
// the target's state is then exactly the warehouse's state at that _seq,
// whatever the job does next. Verify first waits (--wait) until the job
// has applied everything the warehouse holds completely (complete_seq; a
// job in mode full: its load); a job that does not get there leaves its
// differences unsettled, as forward verify does with a lagging sink.

// Warehouse is the source side of a reverse job: the tables it reads and
// their changes (capture/warehouse.Source, adapted by the command).
type Warehouse interface {
	Describe() string
	// Tables lists the tables the job reads (the mapping captures).
	Tables(ctx context.Context) ([]WarehouseTable, error)
	// Complete is the _seq up to which the warehouse holds every change.
	Complete(ctx context.Context) (uint64, error)
	// Scan calls fn with every change of the table (by Name) whose _seq
	// is in (after, upto], in any order; a static table's rows once, for
	// after 0. fn must not keep the row.
	Scan(ctx context.Context, table string, after, upto uint64, fn func(WarehouseChange) error) error
}

// WarehouseTable is one table a reverse job reads.
type WarehouseTable struct {
	// Name is the table's name in the warehouse.
	Name string
	// Source is the table its rows are emitted as (the sink's table):
	// columns with their MySQL types, and the key.
	Source *event.Table
	// Static: a table of another tool, loaded once (no _seq).
	Static bool
}

// WarehouseChange is one decoded warehouse row: values as the MySQL
// capture produces them for Source's column types.
type WarehouseChange struct {
	Op     event.Op
	Seq    uint64
	Commit int64
	Row    []event.Value
}

// JobState is how far a reverse job has got.
type JobState struct {
	// Known: the job has a checkpoint (it has run).
	Known bool
	// Loaded: its full load is done; Upto: every change up to this _seq
	// is in its log (its checkpoint).
	Loaded bool
	Upto   uint64
	// Applied: the sink has applied every change in the log.
	Applied bool
	// Detail says where the state was read, for notes.
	Detail string
}

// consistent reports whether the target holds exactly the warehouse's
// state at Upto.
func (s JobState) consistent() bool { return s.Known && s.Loaded && s.Applied }

func (s JobState) String() string {
	switch {
	case !s.Known:
		return "the reverse job has not run (no checkpoint)"
	case !s.Loaded:
		return fmt.Sprintf("the reverse job's full load (the state at _seq %d) is not done", s.Upto)
	case !s.Applied:
		return fmt.Sprintf("the reverse job's log holds changes up to _seq %d that its sink has not applied", s.Upto)
	}
	return fmt.Sprintf("the reverse job has applied every change up to _seq %d", s.Upto)
}

// Reverse describes a reverse job to verify.
type Reverse struct {
	Warehouse Warehouse
	// Job reads the job's state (its state directory, or its /status
	// while it runs).
	Job func(ctx context.Context) (JobState, error)
	// Full: the job loads once (mode full) and does not follow the
	// warehouse afterwards.
	Full bool
	// Database is the MySQL sink's database setting ("": each table in its
	// source's database).
	Database string
}

// reverseRun is the state of a reverse verification.
type reverseRun struct {
	cfg    Reverse
	reader *warehouseReader
	// byTarget maps target tables (db.table, lower case) to their
	// warehouse table.
	byTarget map[string]WarehouseTable

	// lagging: the table being verified was compared while the job had
	// not applied everything the warehouse holds (a match is unsettled).
	lagging bool
	// static: the table being verified is static (WarehouseTable.Static).
	static bool

	mu       sync.Mutex
	last     JobState
	lastRead time.Time
}

// NewReverse returns a verifier of a reverse job: target is the MySQL sink's
// server (read like a source), sink the MySQL sink's name.
func NewReverse(target *Source, rev Reverse, sink string, opts Options) (*Verifier, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if target == nil || rev.Warehouse == nil || rev.Job == nil {
		return nil, errors.New("verify: a target, a warehouse and the job's state are required")
	}
	// One canonical layout for both sides: the default mapping of the
	// target table (the MySQL sink writes the source's columns as they
	// are; renames do not apply to it).
	mapping := schema.Config{System: schema.SystemFiles}
	mapping.EnsureDefaults()
	mapper, err := schema.New(mapping)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rr := &reverseRun{cfg: rev, byTarget: map[string]WarehouseTable{}}
	rr.reader = &warehouseReader{rev: rr, mapper: mapper, bound: map[string]WarehouseTable{}, read: map[string]uint64{}}
	v := &Verifier{opts: opts, src: target, mapping: mapping,
		sinks: []Sink{{Name: sink, Reader: rr.reader, System: schema.SystemFiles}}, rev: rr}
	target.reverse = rr.watermark
	return v, nil
}

// targetID is the table the MySQL sink writes a warehouse table to.
func (r *reverseRun) targetID(t WarehouseTable) event.TableID {
	id := t.Source.ID
	if r.cfg.Database != "" {
		id.DB = r.cfg.Database
	}
	return id
}

// tables lists the warehouse tables (or only those named by their source
// table, db.table) and returns their target tables.
func (r *reverseRun) tables(ctx context.Context, only []string) ([]event.TableID, error) {
	all, err := r.cfg.Warehouse.Tables(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %s: %w", r.cfg.Warehouse.Describe(), err)
	}
	var out []event.TableID
	var errs []error
	pick := func(t WarehouseTable) {
		id := r.targetID(t)
		r.byTarget[strings.ToLower(id.String())] = t
		out = append(out, id)
	}
	if len(only) == 0 {
		for _, t := range all {
			pick(t)
		}
		return out, nil
	}
	for _, name := range only {
		found := false
		for _, t := range all {
			if strings.EqualFold(t.Source.ID.String(), name) || strings.EqualFold(t.Name, name) {
				pick(t)
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("--table %s: the reverse job reads no such table from %s", name, r.cfg.Warehouse.Describe()))
		}
	}
	return out, errors.Join(errs...)
}

// job reads the job's state, at most once per poll interval.
func (r *reverseRun) job(ctx context.Context, poll time.Duration) (JobState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastRead.IsZero() && time.Since(r.lastRead) < poll {
		return r.last, nil
	}
	s, err := r.cfg.Job(ctx)
	if err != nil {
		return s, fmt.Errorf("verify: the reverse job's state: %w", err)
	}
	r.last, r.lastRead = s, time.Now()
	return s, nil
}

// watermark is the target's "source position" in the reverse direction:
// the _seq the job had applied when it was read (0: not consistent, then
// no difference is confirmed against it).
func (r *reverseRun) watermark(ctx context.Context) (Watermark, error) {
	w := Watermark{Micros: time.Now().UnixMicro()}
	s, err := r.job(ctx, time.Second)
	if err != nil {
		return w, err
	}
	if s.consistent() {
		w.Seq, w.Applied = s.Upto, true
	}
	return w, nil
}

// waitApplied waits (bounded by Wait) until the job is consistent and, for
// the first wait of a table, has applied the warehouse's complete_seq
// (incremental jobs). It sets the reader's limit to the job's checkpoint.
func (v *Verifier) waitApplied(ctx context.Context, complete uint64, first bool) (bool, JobState, error) {
	r := v.rev
	deadline := time.Now().Add(v.opts.Wait)
	for {
		s, err := r.job(ctx, v.opts.Poll)
		if err != nil {
			return false, s, err
		}
		ok := s.consistent() && (!first || r.cfg.Full || s.Upto >= complete)
		if ok || time.Now().After(deadline) {
			limit := s.Upto
			if !s.Known || !s.Loaded {
				limit = complete
			}
			r.reader.setLimit(limit)
			return ok, s, nil
		}
		t := time.NewTimer(v.opts.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, s, ctx.Err()
		case <-t.C:
		}
	}
}

// reverseCaughtUp is waitCaughtUp in the reverse direction.
func (v *Verifier) reverseCaughtUp(ctx context.Context, w Watermark) (bool, error) {
	ok, _, err := v.waitApplied(ctx, w.Seq, false)
	return ok, err
}

// warehouseReader is the warehouse's side of a reverse verification as a
// TargetReader: each change of a warehouse table converted to the
// canonical layout of its target table, up to the job's checkpoint.
type warehouseReader struct {
	rev    *reverseRun
	mapper *schema.Mapper

	mu    sync.Mutex
	limit uint64                    // changes up to this _seq are read
	bound map[string]WarehouseTable // layout base name -> warehouse table
	read  map[string]uint64         // base name -> _seq read up to
}

func (r *warehouseReader) setLimit(n uint64) {
	r.mu.Lock()
	r.limit = max(r.limit, n)
	r.mu.Unlock()
}

// Describe names the warehouse.
func (r *warehouseReader) Describe() string { return r.rev.cfg.Warehouse.Describe() }

func (r *warehouseReader) bindSource(id event.TableID, base string) {
	t, ok := r.rev.byTarget[strings.ToLower(id.String())]
	if !ok {
		return
	}
	r.mu.Lock()
	r.bound[base] = t
	r.mu.Unlock()
}

func (r *warehouseReader) table(name string) (WarehouseTable, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.bound[name]
	return t, ok
}

// Layout is the canonical layout of the warehouse table's columns.
func (r *warehouseReader) Layout(_ context.Context, base string) (Layout, error) {
	t, ok := r.table(base)
	if !ok {
		return Layout{}, nil
	}
	tg, err := r.mapper.Target(t.Source)
	if err != nil {
		return Layout{}, fmt.Errorf("verify: warehouse table %s: %w", t.Name, err)
	}
	l := Layout{Found: true, Name: base, Existing: schema.Existing{Version: 1}}
	for i := range tg.Columns {
		l.Existing.Columns = append(l.Existing.Columns, schema.ExistingColumn{Name: tg.Columns[i].Name, Type: tg.Columns[i].TypeSpec()})
	}
	return l, nil
}

// Scan reads the changes after the previous Scan's (all of them for the
// zero mark) up to the limit, converted to layout t of the target table.
func (r *warehouseReader) Scan(ctx context.Context, t *schema.Target, since Mark, fn func([]event.Value) error) (Mark, error) {
	next := Mark{Time: time.Now()}
	base := t.BaseName
	wt, ok := r.table(base)
	if !ok {
		base = t.Name
		if wt, ok = r.table(base); !ok {
			return since, fmt.Errorf("verify: no warehouse table bound to %s", t.Name)
		}
	}
	r.mu.Lock()
	after, upto := r.read[base], r.limit
	if since.Time.IsZero() {
		after = 0
	}
	r.mu.Unlock()
	if after >= upto && after > 0 {
		return next, nil
	}
	// Target column i takes warehouse column from[i] (-1: none).
	n := 0
	for i := range t.Columns {
		n = max(n, t.Columns[i].Source+1)
	}
	type pair struct{ dst, src int }
	var cols []pair
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.Meta != schema.MetaNone || c.Source < 0 {
			continue
		}
		if k := wt.Source.ColumnIndex(c.SourceName); k >= 0 {
			cols = append(cols, pair{c.Source, k})
		}
	}
	img := make([]event.Value, n)
	var trow []event.Value
	err := r.rev.cfg.Warehouse.Scan(ctx, wt.Name, after, upto, func(ch WarehouseChange) error {
		clear(img)
		for _, p := range cols {
			if p.src < len(ch.Row) {
				img[p.dst] = ch.Row[p.src]
			}
		}
		e := event.Event{Op: ch.Op, Seq: ch.Seq, Source: t.Source, CommitTime: ch.Commit,
			Pos: event.Position{File: wt.Name, Offset: ch.Seq}}
		if ch.Op == event.OpDelete {
			e.Before = img
		} else {
			e.After = img
		}
		trow = t.Row(&e, trow)
		return fn(trow)
	})
	if err != nil {
		return since, fmt.Errorf("verify: warehouse table %s: %w", wt.Name, err)
	}
	r.mu.Lock()
	r.read[base] = upto
	r.mu.Unlock()
	return next, nil
}

// Progress is not used in the reverse direction (the job's state decides).
func (r *warehouseReader) Progress(context.Context, string) (SinkProgress, error) {
	return SinkProgress{Durable: true}, nil
}

// reverseResult turns a result of the swapped comparison back: the
// warehouse is the source, the MySQL table the target.
func (r *reverseRun) reverseResult(res *TableResult, target event.TableID) {
	if r.lagging && res.Status == StatusMatch {
		res.Status = StatusUnsettled
	}
	r.lagging = false
	wt, found := r.byTarget[strings.ToLower(target.String())]
	if found {
		res.Table = wt.Source.ID.String()
	}
	res.Target = target.String()
	res.SourceRows, res.TargetRows = res.TargetRows, res.SourceRows
	res.SourceChecksum, res.TargetChecksum = res.TargetChecksum, res.SourceChecksum
	res.Diffs.Missing, res.Diffs.Extra = res.Diffs.Extra, res.Diffs.Missing
	c := &res.Columns
	c.SourceColumns, c.TargetColumns = c.TargetColumns, c.SourceColumns
	c.MissingInTarget, c.ExtraInTarget = c.ExtraInTarget, c.MissingInTarget
	for i := range c.Types {
		ct := &c.Types[i]
		ct.Target, ct.Source = ct.Source, ""
		if found {
			if k := wt.Source.ColumnIndex(ct.Column); k >= 0 {
				ct.Source = wt.Source.Columns[k].RawType
			}
		}
	}
	for i := range res.ChunkList {
		ch := &res.ChunkList[i]
		ch.SourceRows, ch.TargetRows = ch.TargetRows, ch.SourceRows
		ch.SourceChecksum, ch.TargetChecksum = ch.TargetChecksum, ch.SourceChecksum
		ch.Missing, ch.Extra = ch.Extra, ch.Missing
		for k := range ch.Examples {
			e := &ch.Examples[k]
			switch e.Kind {
			case DiffMissing:
				e.Kind = DiffExtra
			case DiffExtra:
				e.Kind = DiffMissing
			}
			e.SourceSeq, e.TargetSeq, e.TargetPos = e.TargetSeq, 0, ""
			for x := range e.Columns {
				d := &e.Columns[x]
				d.Source, d.Target = d.Target, d.Source
			}
		}
	}
}

// reverseFixes suggests fixes for a reverse job's target.
func (v *Verifier) reverseFixes(res *TableResult, sink string) []string {
	cfg := v.opts.ConfigPath
	if cfg == "" {
		cfg = "FILE"
	}
	reload := fmt.Sprintf("load it again: stop the reverse job, empty %s, and start the job with an empty state.dir (a new full load)", res.Target)
	var out []string
	c := res.Columns
	if len(c.MissingInTarget) > 0 || len(c.ExtraInTarget) > 0 || len(c.TypeDiffs) > 0 {
		out = append(out, fmt.Sprintf("the target table's columns differ from the warehouse table's (check the reverse job's log for the schema change it did not apply), then %s", reload))
	}
	if res.Diffs.Changed > 0 || res.Diffs.Missing > 0 {
		out = append(out, fmt.Sprintf("rows differ: deliver the reverse job's log again (the sink replaces rows by key), when it still holds them: odsync replay -c %s --sink %s --from 1; or %s", cfg, sink, reload))
	}
	if res.Diffs.Extra > 0 {
		out = append(out, fmt.Sprintf("%d keys are in the target but not in the warehouse (written by something else, or deleted in the warehouse while the job was not following it): delete them in the target, or %s", res.Diffs.Extra, reload))
	}
	return out
}

// reverseWait is the first wait of a table in the reverse direction: until
// the job has applied what the warehouse holds completely (bounded by
// Wait). caught reports that the job is consistent (the comparison's
// differences can be confirmed); a job that did not reach complete_seq
// leaves a matching table unsettled.
func (v *Verifier) reverseWait(ctx context.Context, res *TableResult) (bool, error) {
	r := v.rev
	complete, err := r.cfg.Warehouse.Complete(ctx)
	if err != nil {
		return false, fmt.Errorf("verify: %s: %w", r.cfg.Warehouse.Describe(), err)
	}
	ok, s, err := v.waitApplied(ctx, complete, true)
	if err != nil {
		return false, err
	}
	r.lagging = !ok
	wt := r.byTarget[strings.ToLower(res.Table)]
	r.static = wt.Static
	holds := "every change it holds"
	if complete < math.MaxInt64 {
		holds = fmt.Sprintf("changes up to _seq %d", complete)
	}
	switch {
	case ok:
		res.Notes = append(res.Notes, fmt.Sprintf("compared with the warehouse's state at _seq %d, the reverse job's checkpoint (%s)", s.Upto, s.Detail))
	case s.consistent():
		res.Notes = append(res.Notes, fmt.Sprintf("the reverse job applied changes up to _seq %d and did not reach the warehouse's %s within --wait %s (%s): compared at _seq %d; a table without differences is unsettled",
			s.Upto, holds, v.opts.Wait, s.Detail, s.Upto))
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("%s within --wait %s (%s): differences cannot be confirmed", s, v.opts.Wait, s.Detail))
	}
	return s.consistent(), nil
}

// reverseTargetMissing reports a warehouse table whose target table does
// not exist: a match only when the warehouse table's state is empty.
func (v *Verifier) reverseTargetMissing(ctx context.Context, id event.TableID, res *TableResult) error {
	r := v.rev
	wt, ok := r.byTarget[strings.ToLower(id.String())]
	if !ok {
		return fmt.Errorf("no warehouse table for target %s", id)
	}
	caught, err := v.reverseWait(ctx, res)
	if err != nil {
		return err
	}
	// The warehouse's live rows: its changes in the store, by its own key.
	t, err := r.reader.mapper.Target(wt.Source)
	if err != nil {
		return err
	}
	base := t.Name
	r.reader.bindSource(id, base)
	layout, err := r.reader.Layout(ctx, base)
	if err != nil {
		return err
	}
	j := &tableJob{v: v, sink: v.sinks[0], src: &SourceTable{Table: wt.Source, Collations: make([]string, len(wt.Source.Columns))}, target: t, res: res}
	if _, err := j.prepare(layout); err != nil {
		return err
	}
	if len(j.keys) == 0 {
		return fmt.Errorf("the target table %s does not exist", id)
	}
	if j.store, err = openStore(v.opts.TempDir, v.opts.MemoryBudget); err != nil {
		return err
	}
	defer j.store.close()
	if err := j.ingest(ctx); err != nil {
		return err
	}
	var n int64
	if err := j.store.scanTargets(nil, nil, func(_ []byte, tr *targetRow) error {
		if tr.live() {
			n++
		}
		return nil
	}); err != nil {
		return err
	}
	// Sides as the swapped comparison has them (reverseResult turns
	// them): the warehouse's rows are the "target" rows here.
	res.TargetRows = n
	res.Columns = ColumnCheck{TargetColumns: len(wt.Source.Columns)}
	switch {
	case n == 0:
		res.Status = StatusMatch
		res.Columns.Match = true
		res.Notes = append(res.Notes, "the target table does not exist and the warehouse table's state is empty")
	case !caught:
		res.Status = StatusUnsettled
		res.Diffs.Unsettled = n
		res.Notes = append(res.Notes, "the target table does not exist yet and the reverse job has not caught up: raise --wait, or check that it runs")
	default:
		res.Status = StatusMismatch
		res.Diffs.Extra = n // missing in the target, once turned
		res.Notes = append(res.Notes, "the target table does not exist")
	}
	return nil
}
