// Package maxcompute is the MaxCompute (ODPS) sink: one ODS change-log table
// per source table, created and evolved from the schema package's mapping,
// written through the Tunnel.
//
//   - Change rows (insert, update, delete) go through stream upload
//     sessions, one per table partition: rows are encoded into record packs
//     that are flushed by size, by age, or as soon as no other batch is being
//     encoded, several packs in flight per partition. A failed upload is
//     re-sent byte for byte (with backoff) until it succeeds or the batch
//     fails; a batch is acknowledged only when every row of it is stored.
//   - Snapshot rows (event.OpRead) go through batch upload sessions, one per
//     table partition kept open across batches (bulk.go): rows fill blocks
//     that span batches (acker.go: the sink is a sink.Acker, the log its
//     spool); a batch is acknowledged once its rows are in written blocks
//     recorded in the state store, and the session is committed when big,
//     old or idle, before change rows or DDL of the table, and at Close. A
//     replay after a crash reattaches the session, skips the rows its
//     recorded blocks hold and commits exactly those blocks; a hold cursor
//     keeps their rows in the log.
//   - Duplicates: stream uploads cannot be deduplicated by the server. The
//     sink records, per batch, the _seq ranges every successful pack stored
//     and skips them when the batch is written again (a pipeline retry, or a
//     replay after a crash). Only a pack whose upload succeeded on the server
//     but whose answer or record was lost can be stored twice; every copy
//     carries the same _seq, so `ROW_NUMBER() OVER (PARTITION BY _seq)`
//     removes it. The merge SQL does.
//   - Progress marks (progress.go): every progress_interval a row in the
//     progress table says up to which _seq every change is visible and
//     which table partitions hold newer ones (never ahead of the commits),
//     what the maxcompute source follows in incremental mode.
//   - Tables: CREATE TABLE IF NOT EXISTS from Target.MaxComputeCreate,
//     partitions created by the sessions (create_partition), ADD COLUMNS for
//     columns the target has and the table lacks, the other steps of
//     schema plans (widen, drop) as rendered by Plan.MaxCompute. After a
//     restart an existing table is reconciled with the mapper
//     (Mapper.Reconcile) before its first row.
package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/cespare/xxhash/v2"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// Sink writes ODS tables into MaxCompute.
type Sink struct {
	cfg    Config
	mapper *schema.Mapper
	store  Store
	lg     *slog.Logger
	ns     string

	acct  account.Account
	cat   *catalog
	codec *codec
	prog  *progressBook

	ctx     context.Context // background work (flushes); canceled by Close
	cancel  context.CancelFunc
	started sync.Once
	wg      sync.WaitGroup

	tunMu sync.Mutex
	tun   *tunnelClient

	tblMu   sync.Mutex
	tables  map[string]*tableState // by ODS table name
	bases   map[string]*baseState  // by target base name
	pending []*schema.Plan         // plans whose DDL failed, applied before the next write

	layMu   sync.Mutex
	layouts map[*schema.Target]*layout
	bySig   map[string]*layout

	retries retryState // failures for Health

	mu       sync.Mutex
	streams  map[streamKey]*stream
	encoding int // Writes encoding rows right now
	closed   bool

	merge *merger

	bulk bulkState // snapshot upload sessions open across Writes
	ack  ackState  // accepted batches and open blocks (acker.go)

	marks markBook // progress marks (progress.go)
}

// tableState is what the sink knows about one ODS table.
type tableState struct {
	name string
	mu   sync.Mutex // serializes DDL on the table
	info *tableInfo // columns as last loaded (nil: unknown)
	gen  int        // bumped at every DDL; stream sessions of older generations are not reused
}

type baseState struct {
	mu   sync.Mutex
	done bool
}

// New returns a sink for a validated config (defaults are applied to a
// copy). It makes no network request; store keeps the batch-upload
// intents and stream progress (pass the *offsets.Log).
func New(cfg Config, mapper *schema.Mapper, store Store, logger *slog.Logger) (*Sink, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("maxcompute"); err != nil {
		return nil, err
	}
	if mapper == nil || store == nil {
		return nil, errors.New("maxcompute: New needs a mapper and a store")
	}
	if sys := mapper.System(); sys != schema.SystemMaxCompute {
		return nil, fmt.Errorf("maxcompute: the mapper maps for %s targets; build it with schema.Config.System %q (MaxCompute's type limits)", sys, schema.SystemMaxCompute)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	acct, err := newAccount(&cfg)
	if err != nil {
		return nil, fmt.Errorf("maxcompute: %w", err)
	}
	cd, err := newCodec(cfg.Compression)
	if err != nil {
		return nil, fmt.Errorf("maxcompute: %w", err)
	}
	ns := "maxcompute/" + cfg.Project
	if cfg.Schema != "" {
		ns += "." + cfg.Schema
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{cfg: cfg, mapper: mapper, store: store, lg: logger, ns: ns, acct: acct, codec: cd,
		ctx: ctx, cancel: cancel, tables: map[string]*tableState{}, bases: map[string]*baseState{},
		layouts: map[*schema.Target]*layout{}, bySig: map[string]*layout{}, streams: map[streamKey]*stream{}}
	s.cat = newCatalog(&s.cfg, acct)
	s.prog = &progressBook{store: store, ns: ns, batches: map[[2]uint64]streamProgress{}}
	s.ack.changed, s.ack.writers = make(chan struct{}), make(chan struct{}, cfg.BlockWriters)
	s.ack.open, s.ack.live, s.ack.upto = map[streamKey]*openBlock{}, map[*openBlock]bool{}, map[streamKey]uint64{}
	if n, err := gcState(store, ns); err != nil {
		logger.Warn("maxcompute: cleaning old state", "err", err)
	} else if n > 0 {
		logger.Debug("maxcompute: removed state of acknowledged batches", "records", n)
	}
	if err := s.loadBulk(); err != nil {
		cancel()
		return nil, fmt.Errorf("maxcompute: %w", err)
	}
	s.marks = markBook{store: store, ns: ns}
	if err := s.marks.load(); err != nil {
		cancel()
		return nil, fmt.Errorf("maxcompute: %w", err)
	}
	s.merge = newMerger(s)
	return s, nil
}

// Start starts the flush timer, the bulk commit loop and the scheduled
// merge (sink.Starter); they run until Close. Write and Close start them
// too when a caller skipped Start.
func (s *Sink) Start(context.Context) error {
	s.started.Do(func() {
		s.wg.Add(3)
		go func() { defer s.wg.Done(); s.ticker() }()
		go func() { defer s.wg.Done(); s.bulkLoop() }()
		go func() { defer s.wg.Done(); s.markLoop() }()
		if s.cfg.Merge.Schedule {
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.merge.run(s.ctx) }()
		}
	})
	return nil
}

// tunnel returns the Tunnel client, discovering the endpoint on first use.
func (s *Sink) tunnel(ctx context.Context) (*tunnelClient, error) {
	s.tunMu.Lock()
	defer s.tunMu.Unlock()
	if s.tun != nil {
		return s.tun, nil
	}
	ep, err := s.cat.tunnelEndpoint(ctx)
	if err != nil {
		return nil, err
	}
	conns := s.cfg.Slots*8 + s.cfg.BlockWriters
	s.tun = &tunnelClient{acct: s.acct, hc: newHTTPClient(conns, s.cfg.Timeout), endpoint: ep,
		project: s.cfg.Project, schema: s.cfg.Schema, quota: s.cfg.QuotaName, codec: s.codec}
	s.lg.Info("maxcompute: connected", "project", s.cfg.Project, "tunnel_endpoint", ep)
	return s.tun, nil
}

// permanent marks err as one the pipeline must not retry.
func permanent(err error) error {
	if err == nil || errors.Is(err, sink.ErrPermanent) {
		return err
	}
	return fmt.Errorf("%w: %w", sink.ErrPermanent, err)
}

// asSinkError turns internal error marks into the pipeline's.
func asSinkError(err error) error {
	var pe *permanentError
	if errors.As(err, &pe) || errors.Is(err, errValue) {
		return permanent(err)
	}
	var ae *apiError
	if errors.As(err, &ae) && isPermanentStatus(ae) {
		return permanent(err)
	}
	return err
}

func isPermanentStatus(e *apiError) bool {
	switch {
	case e.Status == 401 || e.Status == 403:
		return true
	case e.Status == 400 && (e.Code == "MalformedDataStream" || e.Code == "InvalidColumnSpec" || e.Code == "InvalidPartitionSpec"):
		return true
	}
	return false
}

// layoutOf returns the (shared) encoding layout of a target: targets with
// the same columns share one, so packs of several source versions or
// shards coalesce.
func (s *Sink) layoutOf(t *schema.Target) *layout {
	s.layMu.Lock()
	defer s.layMu.Unlock()
	if l := s.layouts[t]; l != nil {
		return l
	}
	var b strings.Builder
	b.WriteString(t.Name)
	for i := range t.Columns {
		b.WriteString("\x00" + t.Columns[i].Name + " " + t.Columns[i].MaxCompute)
	}
	sig := b.String()
	l := s.bySig[sig]
	if l == nil {
		l = newLayout(t)
		l.sig = fmt.Sprintf("%016x", xxhash.Sum64String(sig))
		s.bySig[sig] = l
	}
	s.layouts[t] = l
	return l
}

func (s *Sink) tableState(name string) *tableState {
	s.tblMu.Lock()
	defer s.tblMu.Unlock()
	ts := s.tables[name]
	if ts == nil {
		ts = &tableState{name: name}
		s.tables[name] = ts
	}
	return ts
}

// reconcile makes an ODS table that exists (from an earlier run) the
// mapper's current layout of its target, once per process and target.
func (s *Sink) reconcile(ctx context.Context, tbl *event.Table) error {
	base, err := s.mapper.TargetName(tbl.ID)
	if err != nil {
		return permanent(err)
	}
	s.tblMu.Lock()
	bs := s.bases[base]
	if bs == nil {
		bs = &baseState{}
		s.bases[base] = bs
	}
	s.tblMu.Unlock()
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.done {
		return nil
	}
	info, ok, err := s.cat.table(ctx, base)
	if err != nil {
		return err
	}
	if !ok {
		bs.done = true
		return nil
	}
	version := 1
	for v := 2; ; v++ {
		next, ok, err := s.cat.table(ctx, fmt.Sprintf("%s_v%d", base, v))
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		info, version = next, v
	}
	ex := schema.Existing{Version: version}
	for _, c := range info.cols {
		ex.Columns = append(ex.Columns, schema.ExistingColumn{Name: c.name, Type: c.typ})
	}
	plan, err := s.mapper.Reconcile(tbl, ex)
	if err != nil {
		return permanent(fmt.Errorf("table %s: reconciling existing ODS table %s: %w", tbl.ID, info.name, err))
	}
	ts := s.tableState(info.name)
	ts.mu.Lock()
	ts.info = info
	ts.mu.Unlock()
	s.lg.Info("maxcompute: found existing ODS table", "table", info.name, "source", tbl.ID.String(), "columns", len(info.cols))
	if err := s.applyPlan(ctx, plan); err != nil {
		return err
	}
	bs.done = true
	return nil
}

// resolve returns the target of a row or DDL event, with its table created
// and evolved in MaxCompute.
func (s *Sink) resolve(ctx context.Context, e *event.Event) (*schema.Target, error) {
	if err := s.reconcile(ctx, e.Table); err != nil {
		return nil, err
	}
	t, plan, err := s.mapper.Resolve(e.Table)
	if err != nil {
		return nil, permanent(err)
	}
	if plan != nil && !plan.Empty() {
		s.lg.Info("maxcompute: schema change", "source", e.Source.String(), "position", e.Pos.String(), "seq", e.Seq,
			"plan", strings.TrimSpace(plan.String()))
		if err := s.applyPlan(ctx, plan); err != nil {
			s.tblMu.Lock()
			s.pending = append(s.pending, plan)
			s.tblMu.Unlock()
			return nil, err
		}
	}
	if err := s.ensureTable(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// applyPending applies plans whose DDL failed earlier.
func (s *Sink) applyPending(ctx context.Context) error {
	s.tblMu.Lock()
	plans := s.pending
	s.pending = nil
	s.tblMu.Unlock()
	for i, p := range plans {
		if err := s.applyPlan(ctx, p); err != nil {
			s.tblMu.Lock()
			s.pending = append(append([]*schema.Plan(nil), plans[i:]...), s.pending...)
			s.tblMu.Unlock()
			return err
		}
	}
	return nil
}

// applyPlan executes the DDL steps of a plan. Every step is idempotent:
// it checks the table first, so a repeat after a failure or a crash does
// nothing twice.
func (s *Sink) applyPlan(ctx context.Context, p *schema.Plan) error {
	if p == nil {
		return nil
	}
	for _, st := range p.Steps {
		switch st.Kind {
		case schema.StepCreateTable:
			if err := s.ensureTable(ctx, st.Table); err != nil {
				return err
			}
		case schema.StepAddColumns:
			t := p.New
			if t == nil || t.Name != st.Table.Name {
				t = st.Table
			}
			if err := s.ensureTable(ctx, t); err != nil {
				return err
			}
		case schema.StepWidenColumn, schema.StepDropColumns, schema.StepDropTable:
			if err := s.alter(ctx, st); err != nil {
				return err
			}
		}
	}
	return nil
}

// alter applies a widen, drop-columns or drop-table step.
func (s *Sink) alter(ctx context.Context, st schema.Step) error {
	name := st.Table.Name
	s.drainTable(ctx, name)
	if err := s.commitBulk(ctx, name, nil); err != nil {
		return fmt.Errorf("table %s: before %s: %w", name, st.Kind, err)
	}
	ts := s.tableState(name)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	info, ok, err := s.cat.table(ctx, name)
	if err != nil {
		return err
	}
	needed := ok
	switch st.Kind {
	case schema.StepWidenColumn:
		if i := info.colIndexOr(st.Column.Name); i >= 0 && sameType(info.cols[i].typ, st.Column.MaxCompute) {
			needed = false
		}
	case schema.StepDropColumns:
		needed = false
		for _, c := range st.Columns {
			if ok && info.colIndex(c.Name) >= 0 {
				needed = true
			}
		}
	}
	if needed {
		stmt := (&schema.Plan{Steps: []schema.Step{st}}).MaxCompute(s.cat.opts)
		for _, sql := range stmt {
			if err := s.cat.exec(ctx, sql); err != nil {
				return fmt.Errorf("table %s: %w", name, err)
			}
		}
		s.lg.Info("maxcompute: altered table", "table", name, "step", string(st.Kind), "reason", st.Reason)
	}
	ts.info = nil
	ts.gen++
	return nil
}

func (t *tableInfo) colIndexOr(name string) int {
	if t == nil {
		return -1
	}
	return t.colIndex(name)
}

// sameType compares MaxCompute type names, ignoring case and spaces.
func sameType(a, b string) bool {
	norm := func(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), "")) }
	return norm(a) == norm(b)
}

// compatibleType reports whether rows encoded for type want can be written
// into a column of type have.
func compatibleType(have, want string) bool {
	if sameType(have, want) {
		return true
	}
	h := strings.ToUpper(have)
	if strings.EqualFold(want, "STRING") && (strings.HasPrefix(h, "VARCHAR") || strings.HasPrefix(h, "CHAR")) {
		return true // same encoding; the server checks lengths
	}
	return false
}

// ensureTable makes sure the ODS table exists with at least the target's
// columns (in order), creating it or adding the missing columns.
func (s *Sink) ensureTable(ctx context.Context, t *schema.Target) error {
	ts := s.tableState(t.Name)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.info != nil && covers(ts.info, t) == nil {
		return nil
	}
	info, ok, err := s.cat.table(ctx, t.Name)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.cat.exec(ctx, t.MaxComputeCreate(s.cat.opts)); err != nil {
			return fmt.Errorf("table %s: creating ODS table %s: %w", t.Source, t.Name, err)
		}
		s.lg.Info("maxcompute: created ODS table", "table", t.Name, "source", t.Source.String(), "columns", len(t.Columns))
		ts.gen++
		if info, ok, err = s.cat.table(ctx, t.Name); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("table %s: ODS table %s does not exist after CREATE TABLE", t.Source, t.Name)
		}
	}
	if len(info.partKeys) != 1 || info.partKeys[0] != t.PartitionColumn {
		return permanent(fmt.Errorf("table %s: ODS table %s is partitioned by (%s), the mapping wants (%s); drop or rename it, or change the mapping",
			t.Source, t.Name, strings.Join(info.partKeys, ","), t.PartitionColumn))
	}
	var missing []schema.TargetColumn
	for i := range t.Columns {
		c := &t.Columns[i]
		if i < len(info.cols) {
			if info.cols[i].name != c.Name {
				return permanent(fmt.Errorf("table %s: ODS table %s has column %s at position %d where the mapping has %s", t.Source, t.Name, info.cols[i].name, i+1, c.Name))
			}
			if !compatibleType(info.cols[i].typ, c.MaxCompute) {
				return permanent(fmt.Errorf("table %s: ODS table %s column %s is %s, the mapping writes %s", t.Source, t.Name, c.Name, info.cols[i].typ, c.MaxCompute))
			}
			continue
		}
		missing = append(missing, *c)
	}
	if len(missing) > 0 {
		// An upload session opened before ALTER cannot commit (TableModified).
		if err := s.commitBulk(ctx, t.Name, nil); err != nil {
			return fmt.Errorf("table %s: before adding columns: %w", t.Source, err)
		}
		stmt := (&schema.Plan{Steps: []schema.Step{{Kind: schema.StepAddColumns, Table: t, Columns: missing}}}).MaxCompute(s.cat.opts)
		for _, sql := range stmt {
			if err := s.cat.exec(ctx, sql); err != nil {
				return fmt.Errorf("table %s: adding columns to %s: %w", t.Source, t.Name, err)
			}
		}
		var names []string
		for _, c := range missing {
			names = append(names, c.Name)
		}
		s.lg.Info("maxcompute: added columns", "table", t.Name, "columns", strings.Join(names, ","))
		ts.gen++
		if info, ok, err = s.cat.table(ctx, t.Name); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("table %s: ODS table %s vanished", t.Source, t.Name)
		}
		if err := covers(info, t); err != nil {
			return fmt.Errorf("table %s: after ADD COLUMNS: %w", t.Source, err)
		}
	}
	ts.info = info
	return nil
}

// covers reports why info cannot hold rows of t (nil when it can).
func covers(info *tableInfo, t *schema.Target) error {
	if len(info.cols) < len(t.Columns) {
		return fmt.Errorf("ODS table %s has %d columns, the target %d", t.Name, len(info.cols), len(t.Columns))
	}
	for i := range t.Columns {
		if info.cols[i].name != t.Columns[i].Name {
			return fmt.Errorf("ODS table %s has column %s at position %d where the target has %s", t.Name, info.cols[i].name, i+1, t.Columns[i].Name)
		}
	}
	return nil
}

// forgetTable drops what the sink knows of a table (after the server said
// it is gone or different).
func (s *Sink) forgetTable(name string) {
	ts := s.tableState(name)
	ts.mu.Lock()
	ts.info = nil
	ts.gen++
	ts.mu.Unlock()
	s.tblMu.Lock()
	for base, bs := range s.bases {
		if name == base || strings.HasPrefix(name, base+"_v") {
			bs.mu.Lock()
			bs.done = false
			bs.mu.Unlock()
		}
	}
	s.tblMu.Unlock()
}

// writeState is one WriteAck's bookkeeping.
type writeState struct {
	b        *sink.Batch
	done     streamProgress
	packs    map[*pack]bool
	took     bool // snapshot rows were added to open blocks
	row      []event.Value
	resolved map[*event.Table]*schema.Target
	parts    map[streamKey]*schema.Target
	span     map[streamKey]*markSpan // progress marks: the rows per partition
	maxTime  int64
	now      time.Time
	epoch    uint64 // the sink's reset epoch when the batch was accepted
}

// encode converts, routes and encodes every event of the batch.
func (s *Sink) encode(ctx context.Context, w *writeState) error {
	for i := range w.b.Events {
		e := &w.b.Events[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Op == event.OpDDL {
			if e.Table == nil {
				continue // a dropped source table: the ODS table is kept
			}
			if _, err := s.resolve(ctx, e); err != nil {
				return fmt.Errorf("table %s at %s (seq %d): DDL: %w", e.Source, e.Pos, e.Seq, err)
			}
			clear(w.resolved) // later rows may map to a new layout
			continue
		}
		if e.Table == nil {
			return permanent(fmt.Errorf("table %s at %s (seq %d): row event without a schema", e.Source, e.Pos, e.Seq))
		}
		t := w.resolved[e.Table]
		if t == nil {
			var err error
			if t, err = s.resolve(ctx, e); err != nil {
				return fmt.Errorf("table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
			}
			w.resolved[e.Table] = t
		}
		part := t.Partition(e.CommitTime)
		row, err := t.SinkRow(e, w.row) // values that do not fit go to _raw, or stop (mapping.on_value_error)
		if err != nil {
			return permanent(err)
		}
		w.row = row
		w.maxTime = max(w.maxTime, e.CommitTime)
		key := streamKey{table: t.Name, part: part}
		if w.parts[key] == nil {
			w.parts[key] = t
		}
		// The progress marks learn of the partition before a row reaches it.
		if sp := w.span[key]; sp != nil {
			sp.hi = max(sp.hi, e.Seq)
		} else {
			if err := s.marks.touch(t.Name, t.PartitionColumn+"="+part, e.Seq); err != nil {
				return fmt.Errorf("table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
			}
			w.span[key] = &markSpan{table: t.Name, spec: t.PartitionColumn + "=" + part, hi: e.Seq}
		}
		if e.Op == event.OpRead {
			if err := s.appendSnapshot(w, key, t, row, e.Seq); err != nil {
				return fmt.Errorf("table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
			}
			continue
		}
		if s.hasLive(t.Name) || s.hasBulk(t.Name) {
			// Change rows follow the table's snapshot rows: commit those first.
			if err := s.snapshotFirst(ctx, t.Name); err != nil {
				return fmt.Errorf("table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
			}
		}
		if w.done.has(key.group(), e.Seq) {
			continue // stored by an earlier attempt
		}
		if err := s.appendStream(w, key, t, row, e.Seq); err != nil {
			return fmt.Errorf("table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
		}
	}
	return nil
}

// ticker flushes packs by age, forgets idle streams and collects old state.
func (s *Sink) ticker() {
	every := min(max(s.cfg.FlushAge/4, 5*time.Millisecond), 250*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	lastGC := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.sealOld(now)
			if now.Sub(lastGC) > time.Minute {
				lastGC = now
				if _, err := gcState(s.store, s.ns); err != nil {
					s.lg.Warn("maxcompute: cleaning old state", "err", err)
				}
				s.prog.forget(s.store.Tail())
				s.forgetCommitted(s.store.Tail())
				s.dropIdleStreams(now.Add(-10 * time.Minute))
			}
		}
	}
}

// Close flushes what is buffered (within ctx), stops background work and
// releases connections. Rows not flushed when ctx ends were not
// acknowledged, so they are written again after the restart.
func (s *Sink) Close(ctx context.Context) error {
	_ = s.Start(ctx) // what a previous run left drains too
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.sealAll()
	err := errors.Join(s.waitAllStreams(ctx), s.commitBulk(ctx, "", nil))
	if err == nil {
		// Everything acknowledged is visible now: the last mark says so.
		if merr := s.writeMark(ctx); merr != nil {
			s.lg.Warn("maxcompute: writing the last progress mark", "table", s.cfg.ProgressTable, "err", merr)
		}
	}
	if errors.Is(err, errReset) {
		err = nil // refused batches are in the log
	}
	s.cancel()
	s.wg.Wait()
	s.tunMu.Lock()
	if s.tun != nil {
		s.tun.hc.CloseIdleConnections()
	}
	s.tunMu.Unlock()
	return err
}
