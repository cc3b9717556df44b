package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/progress"
)

// The snapshot copies tables while the binlog stream keeps running, in
// chunks of at most SnapshotChunkRows rows ordered by the primary key (or a
// NOT NULL unique key), DBLog style:
//
//  1. A chunk is registered with the stream before it is read. From then on,
//     every row change the stream sees for the table marks the row's key
//     dirty in the chunk.
//  2. The chunk is read: on MariaDB inside START TRANSACTION WITH CONSISTENT
//     SNAPSHOT, whose exact binlog position is the chunk's high watermark H;
//     on MySQL with a locking read (LOCK IN SHARE MODE), so it reflects every
//     transaction already in the binlog, followed by SHOW MASTER STATUS as H.
//  3. When the stream has passed H, the chunk's rows minus the dirty keys are
//     emitted as OpRead events, at a transaction boundary, together with the
//     checkpoint that records the chunk's last key. The dirty rows' newer
//     state is in the change events the stream emitted.
//
// So every row copied is delivered once, in its state at that point of the
// change stream, no change is lost or repeated, and no lock is held across
// chunks. Progress is in the checkpoint, stored atomically with the rows,
// so a restart resumes after the last emitted chunk.

const nsSnapshot = "mysql.snapshot"

type snapshotter struct {
	s    *Source
	srv  *server
	db   *sql.DB
	hist *history // read only under mu by workers? no: versions are handed over in snapTable.ver
	wake chan struct{}

	mu      sync.Mutex
	list    []event.TableID
	claimed int
	tables  map[event.TableID]*snapTable
	order   []*snapTable
	workers int
	failed  error
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	workCh  chan struct{} // closed (and replaced) when there is new work

	// The set of captured tables recorded with the checkpoint.
	set      map[event.TableID]bool
	setDirty bool

	reqSeen      map[string]bool
	lastReqPoll  time.Time
	lastProgress time.Time
	rateRows     uint64
	rateAt       time.Time
	rate         float64
	started      bool
	done         atomic.Bool
	bar          *progress.Line // the progress bar on a terminal; nil when none
	noKeyChunks  atomic.Int32
}

type snapTable struct {
	id    event.TableID
	ver   *version // the schema the workers read with
	gen   int      // bumped by schema changes: chunks of older generations are dropped
	after []event.Value
	// lo is where the next chunk boundary is searched from; boundsDone: the
	// last chunk is registered; bounding: a worker searches it now.
	lo         []event.Value
	boundsDone bool
	bounding   bool
	rows       uint64
	// chunks are registered, not yet emitted, in key order.
	chunks   []*chunk
	finished bool
	started  bool // in the checkpoint's active tables
	// since is where the copy started (TableProgress.Since).
	since uint64
	// dirty holds the keys of every row change the stream saw for the
	// table since it was listed for the snapshot: their rows are delivered
	// by those changes and dropped from chunks. Capped (then nil, overflow
	// set); the chunks' own sets, since their registration, still apply.
	dirty    map[string]struct{}
	overflow bool
}

func newSnapTable(id event.TableID) *snapTable {
	return &snapTable{id: id, dirty: map[string]struct{}{}}
}

type chunk struct {
	gen int
	// lo < key <= hi (nil: open).
	lo, hi  []event.Value
	claimed bool // a worker reads it
	high    hpos
	read    bool
	rows    [][]event.Value
	last    []event.Value
	final   bool
	dirty   map[string]struct{}
	readAt  int64
	ver     *version
	// no-key tables: the whole table, streamed in parts.
	parts  chan [][]event.Value
	pKnown chan struct{}
	perr   error
}

func newSnapshotter(ctx context.Context, s *Source, srv *server, st *stream, plan startPlan, captured []event.TableID) (*snapshotter, error) {
	sn := &snapshotter{s: s, srv: srv, hist: st.hist, wake: make(chan struct{}, 1),
		workCh: make(chan struct{}), tables: map[event.TableID]*snapTable{}, reqSeen: map[string]bool{}, set: map[event.TableID]bool{}}
	sn.bar = progress.NewLine(s.opts.Progress, time.Second)
	cp := &st.cp
	// The captured set this deployment had.
	var known map[event.TableID]bool
	if cp.Tables > 0 && !plan.fresh {
		ids, err := sn.loadList("tables", cp.Tables)
		if err != nil {
			s.log.Warn("the recorded set of captured tables is missing from the state; newly included tables are not detected this time", "err", err)
		} else {
			known = map[event.TableID]bool{}
			for _, id := range ids {
				known[id] = true
			}
		}
	}
	for _, id := range captured {
		sn.set[id] = true
	}
	sn.setDirty = true
	mode := s.cfg.Snapshot
	switch {
	case plan.snapshotAll:
		cp.Snapshot = nil
		if err := sn.begin(st, captured, mode == SnapshotSnapshotOnly); err != nil {
			return nil, err
		}
	case cp.Snapshot != nil:
		ids, err := sn.loadList("list", cp.Snapshot.List)
		if err != nil {
			s.log.Error("the table list of the running snapshot is missing from the state; the snapshot starts over (rows already copied are copied again)", "err", err)
			cp.Snapshot = nil
			if err := sn.begin(st, captured, mode == SnapshotSnapshotOnly); err != nil {
				return nil, err
			}
			break
		}
		sn.list = ids
		sn.resume(st)
	}
	if known != nil && mode != SnapshotNever {
		var added []event.TableID
		for _, id := range captured {
			if !known[id] {
				added = append(added, id)
			}
		}
		if len(added) > 0 {
			s.log.Info("tables newly captured by this deployment are snapshotted while streaming continues", "tables", len(added), "first", added[0].String())
			if err := sn.add(st, added); err != nil {
				return nil, err
			}
		}
	}
	// Requests taken up before the checkpoint are done: remove their files.
	if s.opts.RequestDir != "" {
		for _, r := range cp.RequestsDone {
			_ = os.Remove(filepath.Join(s.opts.RequestDir, r))
			sn.reqSeen[r] = true
		}
	}
	cp.RequestsDone = nil
	sn.done.Store(cp.Snapshot == nil)
	sn.dropOldLists(from(plan), cp)
	return sn, nil
}

func from(plan startPlan) *Checkpoint {
	if plan.fresh {
		return nil
	}
	return &plan.cp
}

// dropOldLists deletes table lists no checkpoint can refer to any more:
// every one but those of the checkpoint this run resumed from (durable) and
// of the run's own state.
func (sn *snapshotter) dropOldLists(resumed, cur *Checkpoint) {
	keep := map[string]bool{}
	for _, c := range []*Checkpoint{resumed, cur} {
		if c == nil {
			continue
		}
		keep["tables/"+strconv.FormatUint(c.Tables, 10)] = true
		if c.Snapshot != nil {
			keep["list/"+strconv.FormatUint(c.Snapshot.List, 10)] = true
		}
	}
	var drop []string
	_ = sn.s.store.Scan(nsSnapshot, "", func(k string, _ []byte) error {
		if !keep[k] {
			drop = append(drop, k)
		}
		return nil
	})
	for _, k := range drop {
		_ = sn.s.store.Put(nsSnapshot, k, nil)
	}
}

func (sn *snapshotter) loadList(kind string, gen uint64) ([]event.TableID, error) {
	b, ok, err := sn.s.store.Get(nsSnapshot, kind+"/"+strconv.FormatUint(gen, 10))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: mysql: the state has no %s list %d that the checkpoint refers to", ErrFatal, kind, gen)
	}
	var ids []event.TableID
	if err := json.Unmarshal(b, &ids); err != nil {
		return nil, fmt.Errorf("mysql: %s list %d: %w", kind, gen, err)
	}
	return ids, nil
}

func (sn *snapshotter) saveList(kind string, gen uint64, ids []event.TableID) error {
	b, _ := json.Marshal(ids)
	return sn.s.store.Put(nsSnapshot, kind+"/"+strconv.FormatUint(gen, 10), b)
}

// begin starts a new snapshot of tables.
func (sn *snapshotter) begin(st *stream, tables []event.TableID, only bool) error {
	gen := uint64(time.Now().UnixNano())
	if err := sn.saveList("list", gen, tables); err != nil {
		return err
	}
	var total uint64
	for _, id := range tables {
		n := sn.srv.estimateRows(context.Background(), id)
		total += n
		sn.s.snapProg.Plan(id, n)
	}
	sn.mu.Lock()
	sn.list = slices.Clone(tables)
	sn.claimed = 0
	for _, id := range tables {
		if sn.tables[id] == nil && sn.s.captures(id) {
			sn.tables[id] = newSnapTable(id)
		}
	}
	sn.mu.Unlock()
	st.cp.Snapshot = &SnapshotState{List: gen, Only: only, Total: total, Started: time.Now().Unix()}
	st.pendingCP = true
	if len(tables) > 0 {
		sn.s.log.Info("snapshot starts", "tables", len(tables), "estimated_rows", total, "chunk_rows", sn.s.cfg.SnapshotChunkRows, "parallelism", sn.s.cfg.SnapshotParallelism)
	}
	return nil
}

// resume continues the snapshot recorded in the checkpoint.
func (sn *snapshotter) resume(st *stream) {
	ss := st.cp.Snapshot
	sn.mu.Lock()
	defer sn.mu.Unlock()
	sn.claimed = min(ss.Next, len(sn.list))
	for _, tp := range ss.Active {
		id, ok := parseTableID(tp.Table)
		if !ok {
			continue
		}
		t := newSnapTable(id)
		t.rows, t.started, t.since = tp.Rows, true, tp.Since
		for _, k := range tp.After {
			v, err := parseKeyText(k)
			if err != nil {
				sn.s.log.Warn("snapshot resume key unreadable; the table is copied again from its start", "table", tp.Table, "err", err)
				t.after = nil
				break
			}
			t.after = append(t.after, v)
		}
		t.lo = t.after
		sn.tables[id] = t
		sn.order = append(sn.order, t)
	}
	for _, id := range sn.list[sn.claimed:] {
		if sn.tables[id] == nil && sn.s.captures(id) {
			sn.tables[id] = newSnapTable(id)
		}
	}
	sn.s.log.Info("snapshot resumes", "tables", len(sn.list), "done_or_active", sn.claimed, "active", len(ss.Active), "rows", ss.Rows)
}

func parseTableID(s string) (event.TableID, bool) {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return event.TableID{}, false
	}
	return event.TableID{DB: s[:i], Table: s[i+1:]}, true
}

// add extends (or starts) the snapshot with more tables.
func (sn *snapshotter) add(st *stream, ids []event.TableID) error {
	sn.done.Store(false)
	if st.cp.Snapshot == nil {
		return sn.begin(st, ids, false)
	}
	sn.mu.Lock()
	list := append(slices.Clone(sn.list), ids...)
	sn.mu.Unlock()
	gen := uint64(time.Now().UnixNano())
	if err := sn.saveList("list", gen, list); err != nil {
		return err
	}
	sn.mu.Lock()
	sn.list = list
	for _, id := range ids {
		if sn.tables[id] == nil && sn.s.captures(id) {
			sn.tables[id] = newSnapTable(id)
		}
	}
	sn.mu.Unlock()
	st.cp.Snapshot.List = gen
	for _, id := range ids {
		n := sn.srv.estimateRows(context.Background(), id)
		st.cp.Snapshot.Total += n
		sn.s.snapProg.Plan(id, n)
	}
	st.pendingCP = true
	sn.notifyWork()
	return nil
}

func (sn *snapshotter) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// finished reports whether no snapshot is running.
func (sn *snapshotter) finished() bool { return sn.done.Load() }

// ensureWorkers starts the readers once the stream runs.
func (sn *snapshotter) ensureWorkers(st *stream) error {
	if sn.started {
		return nil
	}
	sn.started = true
	cfg := &sn.s.cfg
	dc := mysqldrv.NewConfig()
	dc.Net = "tcp"
	dc.Addr = cfg.Addr
	dc.User = cfg.User
	dc.Passwd = cfg.Password
	dc.Timeout = cfg.ConnectTimeout
	dc.Params = SnapshotSessionParams()
	conn, err := mysqldrv.NewConnector(dc)
	if err != nil {
		return err
	}
	sn.db = sql.OpenDB(conn)
	sn.db.SetMaxOpenConns(cfg.SnapshotParallelism + 1)
	sn.db.SetMaxIdleConns(cfg.SnapshotParallelism + 1)
	sn.ctx, sn.cancel = context.WithCancel(context.Background())
	for i := 0; i < cfg.SnapshotParallelism; i++ {
		sn.wg.Add(1)
		go sn.worker()
	}
	return nil
}

// stop ends the readers (when the stream ends).
func (sn *snapshotter) stop() {
	if sn.cancel != nil {
		sn.cancel()
		sn.wg.Wait()
		sn.db.Close()
	}
}

func (sn *snapshotter) fail(err error) {
	sn.mu.Lock()
	if sn.failed == nil {
		sn.failed = err
	}
	sn.mu.Unlock()
	sn.signal(sn.wake)
}

func (sn *snapshotter) worker() {
	defer sn.wg.Done()
	idle := time.NewTimer(time.Second)
	defer idle.Stop()
	for {
		sn.mu.Lock()
		work := sn.workCh
		t, c, bound := sn.claimTask()
		sn.mu.Unlock()
		if t == nil {
			idle.Reset(time.Second)
			select {
			case <-sn.ctx.Done():
				return
			case <-work:
			case <-idle.C:
			}
			continue
		}
		var err error
		if bound {
			err = sn.nextChunk(t)
		} else {
			err = sn.readChunk(t, c)
		}
		if err != nil {
			if sn.ctx.Err() != nil {
				return
			}
			sn.fail(err)
			return
		}
	}
}

// claimTask picks the next piece of work (under mu): a registered chunk
// nobody reads yet, else the next chunk boundary of an active table.
func (sn *snapshotter) claimTask() (t *snapTable, c *chunk, bound bool) {
	for _, t := range sn.order {
		if t.finished || t.ver == nil {
			continue
		}
		for _, c := range t.chunks {
			if !c.claimed && !c.read && c.parts == nil {
				c.claimed = true
				return t, c, false
			}
		}
	}
	for _, t := range sn.order {
		if t.finished || t.ver == nil || t.boundsDone || t.bounding || len(t.chunks) > sn.s.cfg.SnapshotParallelism {
			continue
		}
		t.bounding = true
		return t, nil, true
	}
	return nil, nil, false
}

// nextChunk finds where the table's next chunk ends, registers the chunk
// and reads it.
func (sn *snapshotter) nextChunk(t *snapTable) error {
	sn.mu.Lock()
	gen, lo, ver := t.gen, t.lo, t.ver
	sn.mu.Unlock()
	if len(ver.table.Key) == 0 {
		c := &chunk{gen: gen, ver: ver, claimed: true, parts: make(chan [][]event.Value, 2), pKnown: make(chan struct{})}
		sn.mu.Lock()
		t.bounding = false
		if gen != t.gen {
			sn.mu.Unlock()
			return nil
		}
		t.chunks = append(t.chunks, c)
		t.boundsDone = true
		sn.mu.Unlock()
		sn.noKeyChunks.Add(1)
		err := sn.readWhole(t, c)
		sn.signal(sn.wake)
		return err
	}
	var hi []event.Value
	var err error
	for attempt := 1; ; attempt++ {
		hi, err = sn.boundary(ver.table, lo)
		if err == nil || attempt == 5 || sn.ctx.Err() != nil {
			break
		}
		sn.s.log.Warn("snapshot chunk boundary query failed; retrying", "table", t.id.String(), "attempt", attempt, "err", err)
		_ = backoff.Wait(sn.ctx, backoff.Attempt(attempt, 500*time.Millisecond, 4*time.Second))
	}
	sn.mu.Lock()
	t.bounding = false
	if err != nil || gen != t.gen {
		sn.mu.Unlock()
		sn.notifyWork()
		if err != nil && gen == t.gen {
			return fmt.Errorf("mysql: snapshot of %s: %w", t.id, err)
		}
		return nil
	}
	c := &chunk{gen: gen, ver: ver, lo: lo, hi: hi, dirty: map[string]struct{}{}, claimed: true}
	t.chunks = append(t.chunks, c)
	t.lo = hi
	if hi == nil {
		t.boundsDone = true
	}
	sn.notifyWorkLocked()
	sn.mu.Unlock()
	return sn.readChunk(t, c)
}

// boundary returns the key of the row chunk-rows after lo (the inclusive
// upper bound of the next chunk), or nil when fewer rows are left. It scans
// the key index only.
func (sn *snapshotter) boundary(t *event.Table, lo []event.Value) ([]event.Value, error) {
	ctx := sn.ctx
	var b strings.Builder
	var args []driver.NamedValue
	b.WriteString("SELECT ")
	keyCols := make([]snapCol, len(t.Key))
	for i, k := range t.Key {
		if i > 0 {
			b.WriteString(", ")
		}
		keyCols[i] = snapCol{col: &t.Columns[k]}
		b.WriteString(keyCols[i].selectExpr())
	}
	b.WriteString(" FROM " + quoteID(t.ID))
	if lo != nil {
		b.WriteString(" WHERE " + keyCond(t, lo, ">", &args))
	}
	b.WriteString(" ORDER BY " + keyOrder(t))
	fmt.Fprintf(&b, " LIMIT 1 OFFSET %d", sn.s.cfg.SnapshotChunkRows-1)
	cols, err := newSnapCols(&event.Table{ID: t.ID, Columns: colsOf(t, t.Key)}, sn.srv.flavor)
	if err != nil {
		return nil, err
	}
	conn, err := sn.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out []event.Value
	err = conn.Raw(func(dc any) error {
		rows, err := queryRaw(ctx, dc, b.String(), args)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(cols))
		if err := rows.Next(dest); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		out = make([]event.Value, len(cols))
		for i := range cols {
			v, err := snapValue(&cols[i], dest[i], ZeroDatesKeep)
			if err != nil {
				return err
			}
			out[i] = v
		}
		return nil
	})
	return out, err
}

func colsOf(t *event.Table, idx []int) []event.Column {
	out := make([]event.Column, len(idx))
	for i, k := range idx {
		out[i] = t.Columns[k]
	}
	return out
}

func keyOrder(t *event.Table) string {
	var b strings.Builder
	for i, k := range t.Key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteName(t.Columns[k].Name))
	}
	return b.String()
}

// keyCond renders the lexicographic comparison of the key with vals, for
// op ">" or "<=", as ORs of prefix equalities, which the range optimizer
// turns into index ranges.
func keyCond(t *event.Table, vals []event.Value, op string, args *[]driver.NamedValue) string {
	var b strings.Builder
	b.WriteByte('(')
	term := func(i int, last string) {
		b.WriteByte('(')
		for j := 0; j <= i; j++ {
			c := &t.Columns[t.Key[j]]
			v, ph := keyParam(c, vals[j])
			if j > 0 {
				b.WriteString(" AND ")
			}
			b.WriteString(quoteName(c.Name))
			if j < i {
				b.WriteString(" = ")
			} else {
				b.WriteString(" " + last + " ")
			}
			b.WriteString(ph)
			*args = append(*args, driver.NamedValue{Ordinal: len(*args) + 1, Value: v})
		}
		b.WriteByte(')')
	}
	n := len(t.Key)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(" OR ")
		}
		if op == ">" {
			term(i, ">")
		} else {
			term(i, "<")
		}
	}
	if op == "<=" {
		b.WriteString(" OR ")
		term(n-1, "=")
	}
	b.WriteByte(')')
	return b.String()
}

// chunkSQL builds the query of a chunk (lo, hi]; nil bounds are open.
func chunkSQL(t *event.Table, cols []snapCol, lo, hi []event.Value, limit int, lock bool) (string, []driver.NamedValue) {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(cols[i].selectExpr())
	}
	b.WriteString(" FROM ")
	b.WriteString(quoteID(t.ID))
	var args []driver.NamedValue
	var where []string
	if lo != nil {
		where = append(where, keyCond(t, lo, ">", &args))
	}
	if hi != nil {
		where = append(where, keyCond(t, hi, "<=", &args))
	}
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	if len(t.Key) > 0 {
		b.WriteString(" ORDER BY " + keyOrder(t))
	}
	if limit > 0 {
		b.WriteString(" LIMIT " + strconv.Itoa(limit))
	}
	if lock {
		b.WriteString(" LOCK IN SHARE MODE")
	}
	return b.String(), args
}

// readChunk reads a registered chunk. At most twice the chunk size is
// read: rows inserted into its range meanwhile beyond that go to a new
// chunk right after it, so no chunk is unbounded.
func (sn *snapshotter) readChunk(t *snapTable, c *chunk) error {
	for attempt := 1; ; attempt++ {
		err := sn.readChunkOnce(c)
		if err == nil {
			break
		}
		if sn.ctx.Err() != nil {
			return nil
		}
		if attempt == 5 {
			return fmt.Errorf("mysql: snapshot of %s: %w", t.id, err)
		}
		sn.s.log.Warn("snapshot chunk read failed; retrying", "table", t.id.String(), "attempt", attempt, "err", err)
		if backoff.Wait(sn.ctx, backoff.Attempt(attempt, 500*time.Millisecond, 4*time.Second)) != nil {
			return nil
		}
		sn.mu.Lock()
		stale := c.gen != t.gen
		sn.mu.Unlock()
		if stale {
			return nil
		}
	}
	sn.mu.Lock()
	if c.gen == t.gen {
		limit := 2 * sn.s.cfg.SnapshotChunkRows
		if len(c.rows) >= limit {
			// Split: this chunk ends at its last row; the rest of its range
			// is a new chunk, registered now, read next.
			rest := &chunk{gen: c.gen, ver: c.ver, lo: c.last, hi: c.hi, dirty: map[string]struct{}{}}
			c.hi = c.last
			i := slices.Index(t.chunks, c)
			if i >= 0 {
				t.chunks = slices.Insert(t.chunks, i+1, rest)
			}
		}
		c.read = true
	}
	sn.notifyWorkLocked()
	sn.mu.Unlock()
	sn.signal(sn.wake)
	return nil
}

func (sn *snapshotter) readChunkOnce(c *chunk) error {
	ctx := sn.ctx
	tbl := c.ver.table
	cols, err := newSnapCols(tbl, sn.srv.flavor)
	if err != nil {
		return err
	}
	limit := 2 * sn.s.cfg.SnapshotChunkRows
	mariadb := sn.srv.flavor == "mariadb"
	q, args := chunkSQL(tbl, cols, c.lo, c.hi, limit, !mariadb && *sn.s.cfg.SnapshotLockingReads)
	conn, err := sn.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	zero := sn.s.cfg.ZeroDates
	var rows [][]event.Value
	var high hpos
	err = conn.Raw(func(dc any) error {
		if mariadb {
			if err := execRaw(ctx, dc, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
				return err
			}
			if err := execRaw(ctx, dc, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
				return err
			}
			defer execRaw(context.Background(), dc, "COMMIT")
			h, err := snapshotPos(ctx, dc)
			if err != nil {
				return err
			}
			high = h
		}
		rs, err := queryRaw(ctx, dc, q, args)
		if err != nil {
			return err
		}
		defer rs.Close()
		dest := make([]driver.Value, len(cols))
		arena := make([]event.Value, 0, len(cols)*256)
		for {
			if err := rs.Next(dest); err != nil {
				if err == io.EOF {
					break
				}
				return err
			}
			if cap(arena)-len(arena) < len(cols) {
				arena = make([]event.Value, 0, len(cols)*256)
			}
			row := arena[len(arena) : len(arena)+len(cols) : len(arena)+len(cols)]
			arena = arena[:len(arena)+len(cols)]
			for i := range cols {
				v, err := snapValue(&cols[i], dest[i], zero)
				if err != nil {
					return fmt.Errorf("table %s: %w", tbl.ID, err)
				}
				row[i] = testBreak(cols[i].col, v)
			}
			rows = append(rows, row)
		}
		if !mariadb {
			h, err := masterPos(ctx, dc)
			if err != nil {
				return err
			}
			high = h
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read chunk of %s: %w", tbl.ID, err)
	}
	c.rows, c.high = rows, high
	c.readAt = time.Now().UnixMicro()
	if n := len(rows); n > 0 {
		last := rows[n-1]
		c.last = make([]event.Value, len(tbl.Key))
		for i, k := range tbl.Key {
			c.last[i] = last[k]
		}
	} else {
		c.last = c.lo
	}
	return nil
}

// readWhole reads a table without a usable key in one consistent pass,
// handing its rows to the stream in parts.
func (sn *snapshotter) readWhole(t *snapTable, c *chunk) error {
	ctx := sn.ctx
	tbl := c.ver.table
	cols, err := newSnapCols(tbl, sn.srv.flavor)
	if err != nil {
		return err
	}
	defer close(c.parts)
	known := false
	defer func() {
		if !known {
			close(c.pKnown)
		}
	}()
	conn, err := sn.db.Conn(ctx)
	if err != nil {
		c.perr = err
		return err
	}
	defer conn.Close()
	mariadb := sn.srv.flavor == "mariadb"
	var lockConn *sql.Conn
	if !mariadb {
		// LOCK TABLES waits for open transactions on the table; the position
		// read under the lock is exact for it.
		if lockConn, err = sn.db.Conn(ctx); err != nil {
			c.perr = err
			return err
		}
		defer lockConn.Close()
		if _, err := lockConn.ExecContext(ctx, "LOCK TABLES "+quoteID(tbl.ID)+" READ"); err != nil {
			c.perr = err
			return fmt.Errorf("LOCK TABLES %s READ (a table without primary or unique NOT NULL key needs it on MySQL): %w", tbl.ID, err)
		}
		defer lockConn.ExecContext(context.Background(), "UNLOCK TABLES")
	}
	q, _ := chunkSQL(tbl, cols, nil, nil, 0, false)
	zero := sn.s.cfg.ZeroDates
	err = conn.Raw(func(dc any) error {
		if err := execRaw(ctx, dc, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			return err
		}
		if !mariadb {
			h, err := masterPos(ctx, dc)
			if err != nil {
				return err
			}
			c.high = h
		}
		if err := execRaw(ctx, dc, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
			return err
		}
		defer execRaw(context.Background(), dc, "COMMIT")
		if mariadb {
			h, err := snapshotPos(ctx, dc)
			if err != nil {
				return err
			}
			c.high = h
		} else {
			_, _ = lockConn.ExecContext(ctx, "UNLOCK TABLES")
		}
		known = true
		close(c.pKnown)
		rows, err := queryRaw(ctx, dc, q, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(cols))
		part := make([][]event.Value, 0, 1024)
		for {
			if err := rows.Next(dest); err != nil {
				if err == io.EOF {
					break
				}
				return err
			}
			row := make([]event.Value, len(cols))
			for i := range cols {
				v, err := snapValue(&cols[i], dest[i], zero)
				if err != nil {
					return fmt.Errorf("table %s: %w", tbl.ID, err)
				}
				row[i] = testBreak(cols[i].col, v)
			}
			part = append(part, row)
			if len(part) == sn.s.cfg.SnapshotChunkRows {
				select {
				case c.parts <- part:
				case <-ctx.Done():
					return ctx.Err()
				}
				part = make([][]event.Value, 0, 1024)
			}
		}
		if len(part) > 0 {
			select {
			case c.parts <- part:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err != nil {
		c.perr = fmt.Errorf("snapshot of %s (no key, one pass): %w", tbl.ID, err)
		return c.perr
	}
	c.final = true
	c.readAt = time.Now().UnixMicro()
	return nil
}

func execRaw(ctx context.Context, dc any, q string) error {
	ex, ok := dc.(driver.ExecerContext)
	if !ok {
		return errors.New("driver cannot exec")
	}
	_, err := ex.ExecContext(ctx, q, nil)
	return err
}

// queryRaw runs a query on the driver connection: prepared (binary
// protocol) so FLOAT/DOUBLE arrive exactly.
func queryRaw(ctx context.Context, dc any, q string, args []driver.NamedValue) (driver.Rows, error) {
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, errors.New("driver cannot prepare")
	}
	stmt, err := pc.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", truncate(q, 200), err)
	}
	sq, ok := stmt.(driver.StmtQueryContext)
	if !ok {
		stmt.Close()
		return nil, errors.New("driver statement cannot query")
	}
	rows, err := sq.QueryContext(ctx, args)
	if err != nil {
		stmt.Close()
		return nil, fmt.Errorf("%s: %w", truncate(q, 200), err)
	}
	return &stmtRows{Rows: rows, stmt: stmt}, nil
}

type stmtRows struct {
	driver.Rows
	stmt driver.Stmt
}

func (r *stmtRows) Close() error {
	err := r.Rows.Close()
	r.stmt.Close()
	return err
}

func textQuery(ctx context.Context, dc any, q string) ([][]string, error) {
	qc, ok := dc.(driver.QueryerContext)
	if !ok {
		return nil, errors.New("driver cannot query")
	}
	rows, err := qc.QueryContext(ctx, q, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	var out [][]string
	for {
		if err := rows.Next(dest); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return nil, err
		}
		row := make([]string, len(dest))
		for i, v := range dest {
			switch x := v.(type) {
			case []byte:
				row[i] = string(x)
			case nil:
			default:
				row[i] = fmt.Sprint(x)
			}
		}
		out = append(out, row)
	}
}

// snapshotPos reads the binlog position of the session's consistent
// snapshot (MariaDB).
func snapshotPos(ctx context.Context, dc any) (hpos, error) {
	rows, err := textQuery(ctx, dc, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return hpos{}, err
	}
	var file string
	var pos uint64
	for _, r := range rows {
		switch strings.ToLower(r[0]) {
		case "binlog_snapshot_file":
			file = r[1]
		case "binlog_snapshot_position":
			pos, _ = strconv.ParseUint(r[1], 10, 32)
		}
	}
	if file == "" {
		return hpos{}, errors.New("the server reports no binlog_snapshot_file (is binary logging on?)")
	}
	return posOf(file, uint32(pos)), nil
}

// masterPos reads the current end of the binlog.
func masterPos(ctx context.Context, dc any) (hpos, error) {
	rows, err := textQuery(ctx, dc, "SHOW MASTER STATUS")
	if err != nil {
		rows, err = textQuery(ctx, dc, "SHOW BINARY LOG STATUS")
	}
	if err != nil {
		return hpos{}, err
	}
	if len(rows) == 0 || len(rows[0]) < 2 {
		return hpos{}, errors.New("SHOW MASTER STATUS returned nothing")
	}
	pos, _ := strconv.ParseUint(rows[0][1], 10, 32)
	return posOf(rows[0][0], uint32(pos)), nil
}

// observe marks the keys of a row change dirty for the table's snapshot.
func (sn *snapshotter) observe(id event.TableID, p hpos, t *event.Table, before, after []event.Value) {
	if sn.done.Load() || len(t.Key) == 0 {
		return
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	st := sn.tables[id]
	if st == nil || st.finished {
		return
	}
	var keys [2]string
	n := 0
	if before != nil {
		keys[n] = keyString(before, t.Key)
		n++
	}
	if after != nil {
		keys[n] = keyString(after, t.Key)
		if n == 0 || keys[1] != keys[0] {
			n++
		}
	}
	for _, k := range keys[:n] {
		if !st.overflow {
			st.dirty[k] = struct{}{}
			if len(st.dirty) > sn.s.cfg.SnapshotDirtyKeys {
				st.dirty, st.overflow = nil, true
				sn.s.log.Warn("a table under snapshot changed in too many rows to remember them all; rows changed before their chunk is read may be delivered again as snapshot reads",
					"table", id.String(), "snapshot_dirty_keys", sn.s.cfg.SnapshotDirtyKeys)
			}
		}
		for _, c := range st.chunks {
			if c.parts == nil {
				c.dirty[k] = struct{}{}
			}
		}
	}
}

// copyRenamed snapshots tables that a rename made captured (RENAME TABLE
// other.t TO captured.t2, ALTER TABLE ... RENAME, the swap of an online
// schema change tool): their rows exist but the binlog never showed them
// under the new name. Called from the DDL, before its events are emitted,
// so the checkpoint that records the DDL also records the snapshot's list.
func (sn *snapshotter) copyRenamed(st *stream, ids []event.TableID) error {
	var add []event.TableID
	sn.mu.Lock()
	for _, id := range ids {
		t := sn.tables[id]
		switch {
		case t == nil:
			add = append(add, id)
		case t.finished:
			delete(sn.tables, id) // copied before: copy the new content again
			add = append(add, id)
		default:
			// Being copied: schemaChanged dropped its registered chunks;
			// start over from the first key, the content is another table's.
			t.after, t.lo = nil, nil
		}
	}
	sn.mu.Unlock()
	if len(add) == 0 {
		return nil
	}
	sn.s.log.Info("tables renamed into the captured set are snapshotted while streaming continues", "tables", len(add), "first", add[0].String())
	return sn.add(st, add)
}

// schemaChanged is called by the stream for every table a DDL changes.
func (sn *snapshotter) schemaChanged(id event.TableID, v *version) {
	if sn.s.captures(id) {
		exists := v != nil && v.schema != nil
		if sn.set[id] != exists {
			if exists {
				sn.set[id] = true
			} else {
				delete(sn.set, id)
			}
			sn.setDirty = true
		}
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	t := sn.tables[id]
	if t == nil || t.finished {
		return
	}
	t.gen++
	t.chunks = nil
	t.lo = t.after
	t.boundsDone = false
	if v == nil || v.schema == nil {
		// Dropped or renamed away: nothing more to copy.
		t.finished = true
		t.ver = nil
		return
	}
	if v.unknown {
		t.ver = nil // resolved by the next table map
		return
	}
	t.ver = v
	if len(t.after) > 0 && len(v.table.Key) != len(t.after) {
		t.after, t.lo = nil, nil // the key changed: copy the table again
	}
}

// flush emits, at a transaction boundary, the chunks the stream has passed.
func (sn *snapshotter) flush(ctx context.Context, st *stream) (emitted bool, err error) {
	sn.mu.Lock()
	ferr := sn.failed
	sn.mu.Unlock()
	if ferr != nil {
		return false, fmt.Errorf("%w: %v", ErrFatal, ferr)
	}
	ss := st.cp.Snapshot
	if ss == nil {
		sn.done.Store(true)
		return false, nil
	}
	if err := sn.ensureWorkers(st); err != nil {
		return false, err
	}
	sn.admit(st)
	pos := st.cp.pos()
	for {
		var ready *chunk
		var t *snapTable
		sn.mu.Lock()
		for _, x := range sn.order {
			if len(x.chunks) == 0 {
				continue
			}
			c := x.chunks[0]
			if c.parts != nil {
				select {
				case <-c.pKnown:
				default:
					continue
				}
				if c.perr == nil && !pos.less(c.high) {
					ready, t = c, x
				}
			} else if c.read && !pos.less(c.high) {
				ready, t = c, x
			}
			if ready != nil {
				break
			}
		}
		sn.mu.Unlock()
		if ready == nil {
			break
		}
		if ready.parts != nil {
			if err := sn.emitWhole(ctx, st, t, ready); err != nil {
				return emitted, err
			}
		} else if err := sn.emitChunk(ctx, st, t, ready); err != nil {
			return emitted, err
		}
		emitted = true
	}
	done, err := sn.complete(ctx, st)
	if err != nil {
		return emitted, err
	}
	return emitted || done, nil
}

// admit applies the tables workers may start to the checkpoint.
func (sn *snapshotter) admit(st *stream) {
	ss := st.cp.Snapshot
	sn.mu.Lock()
	defer sn.mu.Unlock()
	// Keep up to parallelism tables active.
	activeReading := 0
	for _, t := range sn.order {
		if !t.finished && !t.boundsDone {
			activeReading++
		}
	}
	for activeReading < sn.s.cfg.SnapshotParallelism && sn.claimed < len(sn.list) {
		id := sn.list[sn.claimed]
		sn.claimed++
		if !sn.s.captures(id) {
			continue
		}
		t := sn.tables[id]
		if t == nil {
			t = newSnapTable(id)
			sn.tables[id] = t
		}
		if t.started || t.finished {
			continue
		}
		t.started = true
		sn.s.snapProg.Start(id)
		t.since = st.cp.pos().number()
		sn.order = append(sn.order, t)
		ss.Active = append(ss.Active, TableProgress{Table: id.String(), Since: t.since})
		activeReading++
	}
	ss.Next = sn.claimed
	// Hand the current schema to tables that have none yet.
	for _, t := range sn.order {
		if t.ver == nil && !t.finished {
			v, _, err := st.hist.at(t.id, st.cp.pos())
			if err != nil || v == nil {
				sn.s.log.Warn("snapshot skips a table without a known schema", "table", t.id.String(), "err", err)
				t.finished = true
				sn.dropActive(ss, t)
				continue
			}
			if v.schema == nil {
				t.finished = true // dropped meanwhile
				sn.dropActive(ss, t)
				continue
			}
			if v.unknown {
				continue
			}
			t.ver = v
			if len(t.after) > 0 && len(v.table.Key) != len(t.after) {
				t.after, t.lo = nil, nil
			}
		}
	}
	sn.notifyWorkLocked()
}

// notifyWork wakes every idle worker.
func (sn *snapshotter) notifyWork() {
	sn.mu.Lock()
	sn.notifyWorkLocked()
	sn.mu.Unlock()
}

func (sn *snapshotter) notifyWorkLocked() {
	close(sn.workCh)
	sn.workCh = make(chan struct{})
}

func (sn *snapshotter) dropActive(ss *SnapshotState, t *snapTable) {
	sn.s.snapProg.Finish(t.id)
	name := t.id.String()
	ss.Active = slices.DeleteFunc(ss.Active, func(p TableProgress) bool { return p.Table == name })
}

// complete ends the snapshot when every table is copied.
func (sn *snapshotter) complete(ctx context.Context, st *stream) (bool, error) {
	ss := st.cp.Snapshot
	sn.mu.Lock()
	sn.order = slices.DeleteFunc(sn.order, func(t *snapTable) bool { return t.finished })
	for id, t := range sn.tables {
		if t.finished {
			delete(sn.tables, id)
		}
	}
	left := len(sn.order) > 0 || sn.claimed < len(sn.list)
	sn.mu.Unlock()
	if left {
		return false, nil
	}
	took := time.Since(time.Unix(ss.Started, 0)).Round(time.Second)
	sn.s.log.Info("snapshot complete", "tables", len(sn.list), "rows", ss.Rows, "took", took)
	sn.bar.Done(fmt.Sprintf("snapshot complete: %d tables, %d rows in %s", len(sn.list), ss.Rows, took))
	st.cp.Snapshot = nil
	sn.done.Store(true)
	sn.mu.Lock()
	sn.list, sn.claimed = nil, 0
	sn.mu.Unlock()
	return true, st.emitCP(ctx, nil)
}

// emitChunk emits a read chunk's clean rows with the progress checkpoint.
func (sn *snapshotter) emitChunk(ctx context.Context, st *stream, t *snapTable, c *chunk) error {
	tbl := c.ver.table
	sn.mu.Lock()
	t.chunks = t.chunks[1:]
	c.final = c.hi == nil
	if c.final {
		t.finished = true
		t.after = c.last
	} else {
		t.after = c.hi
	}
	after := t.after
	dirty, tdirty := c.dirty, t.dirty
	sn.notifyWorkLocked()
	sn.mu.Unlock()
	events := make([]event.Event, 0, len(c.rows))
	pos := event.Position{File: st.cp.File, Offset: uint64(st.cp.Pos)}
	for _, row := range c.rows {
		if len(dirty) > 0 || len(tdirty) > 0 {
			k := keyString(row, tbl.Key)
			if _, ok := dirty[k]; ok {
				continue
			}
			if _, ok := tdirty[k]; ok {
				continue
			}
		}
		events = append(events, event.Event{Op: event.OpRead, Source: t.id, Table: tbl, After: row, CommitTime: c.readAt, Pos: pos})
	}
	if len(events) > 0 {
		events[len(events)-1].TxnEnd = true
	}
	n := uint64(len(events))
	ss := st.cp.Snapshot
	ss.Rows += n
	t.rows += n
	st.src.stats.snapRows.Add(n)
	name := t.id.String()
	for i := range ss.Active {
		if ss.Active[i].Table != name {
			continue
		}
		if c.final {
			ss.Active = slices.Delete(ss.Active, i, i+1)
		} else {
			ss.Active[i].Rows = t.rows
			ss.Active[i].After = ss.Active[i].After[:0]
			for _, v := range after {
				ss.Active[i].After = append(ss.Active[i].After, keyText(v))
			}
		}
		break
	}
	if c.final {
		sn.s.log.Debug("snapshot of a table done", "table", name, "rows", t.rows)
		if st.inv != nil && len(tbl.Key) > 0 {
			// The copy is complete: keys delivered before it started that
			// it did not deliver again are gone from the source.
			st.inv.observe(events, st.cp.pos())
			if err := st.inv.flush(ctx); err != nil {
				return err
			}
			gone, dropped, err := st.inv.ghosts(tbl, hposOf(t.since), pos, time.Now().UnixMicro())
			if err != nil {
				return err
			}
			if len(gone) > 0 || dropped > 0 {
				sn.s.log.Info("snapshot deletes rows the ODS has but the source no longer has", "table", name, "rows", len(gone), "unreadable_keys_dropped", dropped)
			}
			if len(gone) > 0 {
				if len(events) > 0 {
					events[len(events)-1].TxnEnd = false
				}
				gone[len(gone)-1].TxnEnd = true
				events = append(events, gone...)
			}
		}
	}
	if err := st.emitCP(ctx, events); err != nil {
		return err
	}
	sn.s.snapProg.Read(t.id, n, c.final) // counted once handed to the log
	return nil
}

// emitWhole emits a table without key: all its rows, as one transaction
// spilled in parts, while the stream waits.
func (sn *snapshotter) emitWhole(ctx context.Context, st *stream, t *snapTable, c *chunk) error {
	tbl := c.ver.table
	pos := event.Position{File: st.cp.File, Offset: uint64(st.cp.Pos)}
	var n uint64
	var pending []event.Event
	for part := range c.parts {
		if len(pending) > 0 {
			if err := st.emit(ctx, pending, nil); err != nil {
				return err
			}
		}
		pending = make([]event.Event, 0, len(part))
		for _, row := range part {
			pending = append(pending, event.Event{Op: event.OpRead, Source: t.id, Table: tbl, After: row, CommitTime: time.Now().UnixMicro(), Pos: pos})
		}
		n += uint64(len(part))
	}
	sn.mu.Lock()
	perr := c.perr
	t.chunks = t.chunks[1:]
	t.finished = true
	sn.mu.Unlock()
	sn.noKeyChunks.Add(-1)
	if perr != nil {
		return fmt.Errorf("%w: mysql: %v (rows of it were already appended uncommitted: restart odsync, which discards them)", ErrFatal, perr)
	}
	if len(pending) > 0 {
		pending[len(pending)-1].TxnEnd = true
	}
	ss := st.cp.Snapshot
	ss.Rows += n
	st.src.stats.snapRows.Add(n)
	sn.s.snapProg.Read(t.id, n, true)
	sn.dropActive(ss, t)
	sn.s.log.Info("snapshot of a table without primary or unique key done (one consistent pass)", "table", t.id.String(), "rows", n)
	return st.emitCP(ctx, pending)
}

// beforeTxn runs when a transaction starts at start: tables without key
// whose consistent read is at or before it are emitted first.
func (sn *snapshotter) beforeTxn(ctx context.Context, st *stream, start hpos) error {
	if sn.noKeyChunks.Load() == 0 {
		return nil
	}
	sn.mu.Lock()
	var waits []*chunk
	for _, t := range sn.order {
		for _, c := range t.chunks {
			if c.parts != nil {
				waits = append(waits, c)
			}
		}
	}
	sn.mu.Unlock()
	for _, c := range waits {
		select {
		case <-c.pKnown:
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.perr == nil && !start.less(c.high) {
			if _, err := sn.flush(ctx, st); err != nil {
				return err
			}
		}
	}
	return nil
}

// poll runs on the stream's ticks: requests, progress.
func (sn *snapshotter) poll(ctx context.Context, st *stream) error {
	now := time.Now()
	if sn.s.opts.RequestDir != "" && now.Sub(sn.lastReqPoll) >= 2*time.Second {
		sn.lastReqPoll = now
		if err := sn.pollRequests(st); err != nil {
			return err
		}
	}
	ss := st.cp.Snapshot
	if ss == nil {
		return nil
	}
	if sn.rateAt.IsZero() {
		sn.rateAt, sn.rateRows = now, ss.Rows
	} else if dt := now.Sub(sn.rateAt); dt >= 2*time.Second {
		r := float64(ss.Rows-sn.rateRows) / dt.Seconds()
		if sn.rate == 0 {
			sn.rate = r
		} else {
			sn.rate = 0.7*sn.rate + 0.3*r
		}
		sn.rateAt, sn.rateRows = now, ss.Rows
	}
	if sn.bar != nil {
		sn.bar.Draw(sn.progressLine(ss, true))
	}
	if now.Sub(sn.lastProgress) >= sn.s.cfg.ProgressInterval {
		sn.lastProgress = now
		sn.s.log.Info("snapshot progress", "tables_done", ss.Next-len(ss.Active), "tables", len(sn.list), "rows", ss.Rows,
			"estimated_rows", ss.Total, "rows_per_sec", int64(sn.rate), "eta", sn.eta(ss).String())
	}
	return nil
}

func (sn *snapshotter) eta(ss *SnapshotState) time.Duration {
	if sn.rate <= 0 || ss.Total <= ss.Rows {
		return 0
	}
	return (time.Duration(float64(ss.Total-ss.Rows)/sn.rate) * time.Second).Round(time.Second)
}

func (sn *snapshotter) progressLine(ss *SnapshotState, bar bool) string {
	frac := 0.0
	if ss.Total > 0 {
		frac = min(1, float64(ss.Rows)/float64(ss.Total))
	}
	b := ""
	if bar {
		b = progress.Bar(frac, 30) + " "
	}
	return fmt.Sprintf("snapshot %s%3.0f%%  %d/%d tables  %d rows  %.0f rows/s  ETA %s", b, frac*100,
		ss.Next-len(ss.Active), len(sn.list), ss.Rows, sn.rate, sn.eta(ss))
}

// pollRequests takes up on-demand snapshot requests (odsync snapshot --table).
func (sn *snapshotter) pollRequests(st *stream) error {
	ents, err := os.ReadDir(sn.s.opts.RequestDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || sn.reqSeen[e.Name()] {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var ids []event.TableID
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(sn.s.opts.RequestDir, n))
		if err != nil {
			continue
		}
		var r SnapshotRequest
		if err := json.Unmarshal(b, &r); err != nil {
			sn.s.log.Warn("ignoring an unreadable snapshot request", "file", n, "err", err)
			sn.reqSeen[n] = true
			continue
		}
		sn.reqSeen[n] = true
		st.cp.RequestsDone = append(st.cp.RequestsDone, n)
		for _, t := range r.Tables {
			id, ok := parseTableID(t)
			if !ok {
				continue
			}
			if !sn.s.captures(id) {
				sn.s.log.Warn("snapshot request for a table that is not captured; ignored", "table", t)
				continue
			}
			sn.mu.Lock()
			active := sn.tables[id] != nil
			sn.mu.Unlock()
			if active {
				continue
			}
			ids = append(ids, id)
		}
	}
	if len(names) > 0 {
		st.pendingCP = true
		st.lastEmit = time.Time{}
	}
	if len(ids) == 0 {
		return nil
	}
	sn.done.Store(false)
	sn.s.log.Info("snapshot requested: copying tables while streaming continues", "tables", len(ids), "first", ids[0].String())
	return sn.add(st, ids)
}

// SnapshotRequest is the content of a request file in Options.RequestDir.
type SnapshotRequest struct {
	Tables []string `json:"tables"`
}

// WriteSnapshotRequest queues an on-demand snapshot of tables ("db.table")
// in dir; a running source takes it up within seconds, otherwise at its
// next start.
func WriteSnapshotRequest(dir string, tables []string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for _, t := range tables {
		if _, ok := parseTableID(t); !ok {
			return "", fmt.Errorf("table %q: want db.table", t)
		}
	}
	b, _ := json.Marshal(SnapshotRequest{Tables: tables})
	name := strconv.FormatInt(time.Now().UnixNano(), 10) + ".json"
	tmp := filepath.Join(dir, "."+name)
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", err
	}
	return name, os.Rename(tmp, filepath.Join(dir, name))
}

// beforeEmit records the captured-table set when it changed.
func (sn *snapshotter) beforeEmit(st *stream) error {
	if !sn.setDirty {
		return nil
	}
	ids := make([]event.TableID, 0, len(sn.set))
	for id := range sn.set {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].DB != ids[j].DB {
			return ids[i].DB < ids[j].DB
		}
		return ids[i].Table < ids[j].Table
	})
	gen := st.cp.Tables + 1
	if err := sn.saveList("tables", gen, ids); err != nil {
		return err
	}
	st.cp.Tables = gen
	sn.setDirty = false
	return nil
}
