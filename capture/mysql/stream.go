package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/event"
)

// rawRows is the undecoded body of a rows event. The syncer only decodes
// the header of rows events (RowsEventDecodeFunc); the stream decodes the
// row images straight into event values with the schema in force.
type rawRows struct {
	data []byte
	pos  int
}

func decodeRowsHeader(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	e.Rows = [][]any{{&rawRows{data: data, pos: pos}}}
	return nil
}

// stream is the state of one binlog connection, owned by one goroutine.
type stream struct {
	src  *Source
	srv  *server
	emit Emit
	hist *history
	log  *slog.Logger

	// cp is the checkpoint after the last complete transaction.
	cp   Checkpoint
	gset gomysql.GTIDSet
	file string
	seq  uint64
	// skipping: reading from File:4 up to cp.skipTo only to learn the GTID state.
	skipping bool
	// needGTIDInit: take the GTID state from the file's first GTID-list event.
	needGTIDInit bool

	maps      map[uint64]*cachedMap
	charsets  map[uint64]string
	dbCharset map[string]string

	// The open transaction.
	inTxn      bool
	explicit   bool // began with BEGIN
	standalone bool // MariaDB FL_STANDALONE: ends with its only statement
	txn        []event.Event
	lastTxnLen int // events of the last transaction, to size the next one
	txnBytes   int64
	txnGTID    string
	txnTime    int64  // commit time, microseconds
	txnEnd     uint32 // MySQL: the offset where the transaction ends (transaction_length), 0 unknown
	spilled    int    // events of the open transaction already emitted in chunks
	skip       int    // events of the open transaction to drop: emitted before a reconnect
	// resume carries the spill state of a transaction across a reconnect.
	resume *spillResume

	lastEmit  time.Time
	pendingCP bool // cp advanced without being emitted
	snap      *snapshotter
	// inv is the key inventory (snapshot: when_needed), nil when off.
	inv    *keyInventory
	warned map[string]bool
	// onSkipped, when set, runs once the stream has reached cp.skipTo (or,
	// starting at a file's beginning, learned its GTID state).
	onSkipped func(ctx context.Context) error
}

// spillResume remembers a transaction that was partly emitted when the
// connection broke: after reconnecting from the checkpoint before it, the
// same transaction is read again and its first events are dropped.
type spillResume struct {
	gtid    string
	file    string
	pos     uint32
	emitted int
}

func (st *stream) captures(id event.TableID) bool { return st.src.captures(id) }

// run streams until an error or ctx is done. progressed reports whether a
// transaction was completed (for the reconnect backoff).
func (st *stream) run(ctx context.Context) (progressed bool, err error) {
	s := st.src
	host, port, _ := s.cfg.hostPort()
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:                s.cfg.ServerID,
		Flavor:                  st.srv.flavor,
		Host:                    host,
		Port:                    port,
		User:                    s.cfg.User,
		Password:                s.cfg.Password,
		ParseTime:               false,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         s.cfg.HeartbeatPeriod,
		ReadTimeout:             3 * s.cfg.HeartbeatPeriod,
		DisableRetrySync:        true,
		RenderJSONAsMySQLText:   true,
		EventCacheCount:         512,
		RowsEventDecodeFunc:     decodeRowsHeader,
		Logger:                  slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	st.resetTxn()
	st.maps = map[uint64]*cachedMap{}
	st.file, st.seq = st.cp.File, fileSeq(st.cp.File)
	var streamer *replication.BinlogStreamer
	switch {
	case st.cp.skipTo > 0:
		st.skipping = st.cp.skipTo > 4
		st.needGTIDInit = st.srv.gtid
		st.gset = nil
		st.cp.Pos = 4
		streamer, err = syncer.StartSync(gomysql.Position{Name: st.cp.File, Pos: 4})
		if !st.skipping {
			st.cp.skipTo = 0
		}
	case st.cp.GTIDSet != "" && st.srv.gtid:
		st.gset, err = gomysql.ParseGTIDSet(st.srv.flavor, st.cp.GTIDSet)
		if err != nil {
			return false, fmt.Errorf("%w: mysql: checkpoint GTID set %q: %v", ErrFatal, st.cp.GTIDSet, err)
		}
		streamer, err = syncer.StartSyncGTID(st.gset.Clone())
	default:
		st.gset = nil
		if st.srv.gtid && st.cp.GTIDSet == "" && st.cp.Pos > 4 {
			// A GTID server but a file:pos checkpoint: learn the GTID state.
			st.cp.skipTo = st.cp.Pos
			st.skipping = true
			st.needGTIDInit = true
			streamer, err = syncer.StartSync(gomysql.Position{Name: st.cp.File, Pos: 4})
		} else {
			st.needGTIDInit = st.srv.gtid && st.cp.Pos <= 4
			streamer, err = syncer.StartSync(gomysql.Position{Name: st.cp.File, Pos: st.cp.Pos})
		}
	}
	if err != nil {
		return false, st.explain(ctx, fmt.Errorf("start binlog stream: %w", err))
	}
	events := make(chan *replication.BinlogEvent, 256)
	errc := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			ev, err := streamer.GetEvent(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case events <- ev:
			case <-done:
				return
			}
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var wake <-chan struct{}
	if st.snap != nil {
		wake = st.snap.wake
	}
	for {
		select {
		case ev := <-events:
			p, err := st.handle(ctx, ev)
			if err != nil {
				return progressed, err
			}
			progressed = progressed || p
			continue
		default:
		}
		select {
		case ev := <-events:
			p, err := st.handle(ctx, ev)
			if err != nil {
				return progressed, err
			}
			progressed = progressed || p
		case err := <-errc:
			if ctx.Err() != nil {
				return progressed, nil
			}
			return progressed, st.explain(ctx, err)
		case <-wake:
			if err := st.boundary(ctx); err != nil {
				return progressed, err
			}
		case <-tick.C:
			if err := st.idle(ctx); err != nil {
				return progressed, err
			}
		case <-ctx.Done():
			return progressed, nil
		}
		if st.snap != nil && st.snap.finished() && st.src.cfg.Snapshot == SnapshotSnapshotOnly && !st.inTxn {
			return progressed, errSnapshotOnlyDone
		}
	}
}

var errSnapshotOnlyDone = errors.New("snapshot_only: done")

// explain turns server errors into actionable ones.
func (st *stream) explain(ctx context.Context, err error) error {
	msg := err.Error()
	low := strings.ToLower(msg)
	if strings.Contains(msg, "1236") || strings.Contains(low, "could not find first log file") ||
		strings.Contains(low, "purged") || strings.Contains(low, "could not find gtid") || strings.Contains(low, "binlog truncated") {
		return &PurgedError{Want: st.cp.String(), Oldest: st.srv.oldestBinlog(ctx), Cause: err}
	}
	return fmt.Errorf("mysql: binlog stream at %s: %w", st.cp.String(), err)
}

// PurgedError says the binlog a checkpoint needs is gone from the server.
type PurgedError struct {
	Want   string // the wanted position
	Oldest string // the oldest binlog the server has
	Cause  error
}

func (e *PurgedError) Error() string {
	return fmt.Sprintf("mysql: the binlog at %s is no longer on the server (oldest available: %s): %v; "+
		"the changes in between are lost to odsync — set source.mysql.snapshot: when_needed to re-snapshot automatically, "+
		"re-snapshot the tables with odsync snapshot, or reset the checkpoint (odsync replay --source-start) to accept the gap",
		e.Want, e.Oldest, e.Cause)
}

func (e *PurgedError) Unwrap() []error { return []error{ErrFatal, e.Cause} }

func (st *stream) resetTxn() {
	if len(st.txn) > 0 {
		st.lastTxnLen = len(st.txn)
	}
	st.txn, st.inTxn, st.explicit, st.standalone = nil, false, false, false
	st.txnBytes, st.txnGTID, st.txnTime, st.txnEnd = 0, "", 0, 0
	st.spilled, st.skip = 0, 0
}

func (st *stream) handle(ctx context.Context, ev *replication.BinlogEvent) (progressed bool, err error) {
	h := ev.Header
	st.src.stats.observe(h)
	if st.skipping && h.LogPos != 0 && h.LogPos >= h.EventSize && st.file == st.cp.File && h.LogPos-h.EventSize >= st.cp.skipTo {
		if h.LogPos-h.EventSize > st.cp.skipTo || st.inTxn {
			return false, fmt.Errorf("%w: mysql: start position %s:%d is not at a transaction boundary (the next event starts at %d)",
				ErrFatal, st.cp.File, st.cp.skipTo, h.LogPos-h.EventSize)
		}
		if err := st.finishSkip(ctx); err != nil {
			return false, err
		}
	}
	progressed, err = st.event(ctx, ev)
	if err != nil {
		return progressed, err
	}
	if !st.inTxn && !st.skipping && h.LogPos > st.cp.Pos && st.file == st.cp.File {
		// Events outside transactions (format description, GTID lists,
		// binlog checkpoints) move the position too.
		switch ev.Event.(type) {
		case *replication.FormatDescriptionEvent, *replication.MariadbGTIDListEvent, *replication.MariadbBinlogCheckPointEvent,
			*replication.PreviousGTIDsEvent:
			st.cp.Pos = h.LogPos
			st.pendingCP = true
		}
	}
	return progressed, nil
}

// finishSkip: the stream has reached the explicit start position.
func (st *stream) finishSkip(ctx context.Context) error {
	st.skipping = false
	st.cp.Pos = st.cp.skipTo
	st.cp.skipTo = 0
	if st.gset != nil {
		st.cp.GTIDSet = st.gset.String()
	}
	st.pendingCP = true
	st.lastEmit = time.Time{}
	if st.onSkipped != nil {
		return st.onSkipped(ctx)
	}
	return nil
}

func (st *stream) event(ctx context.Context, ev *replication.BinlogEvent) (progressed bool, err error) {
	h := ev.Header
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		name := string(e.NextLogName)
		if name != st.file {
			st.file, st.seq = name, fileSeq(name)
			if !st.inTxn && !st.skipping {
				st.cp.File, st.cp.Pos = name, uint32(e.Position)
				st.pendingCP = true
			}
		}
	case *replication.PreviousGTIDsEvent:
		if st.needGTIDInit && st.srv.flavor == "mysql" {
			g, err := gomysql.ParseMysqlGTIDSet(e.GTIDSets)
			if err != nil {
				return false, fmt.Errorf("%w: mysql: previous GTIDs of %s: %v", ErrFatal, st.file, err)
			}
			st.gset, st.needGTIDInit = g, false
			if !st.skipping && st.onSkipped != nil {
				st.cp.GTIDSet = g.String()
				return false, st.onSkipped(ctx)
			}
		}
	case *replication.MariadbGTIDListEvent:
		if st.needGTIDInit && st.srv.flavor == "mariadb" {
			g, _ := gomysql.ParseMariadbGTIDSet("")
			for _, x := range e.GTIDs {
				x := x
				cur := g.(*gomysql.MariadbGTIDSet).Sets[x.DomainID]
				if cur == nil || cur.SequenceNumber < x.SequenceNumber {
					if err := g.(*gomysql.MariadbGTIDSet).AddSet(&x); err != nil {
						return false, err
					}
				}
			}
			st.gset, st.needGTIDInit = g, false
			if !st.skipping && st.onSkipped != nil {
				st.cp.GTIDSet = g.String()
				return false, st.onSkipped(ctx)
			}
		}
	case *replication.MariadbGTIDEvent:
		if err := st.txnStarting(ctx, h); err != nil {
			return false, err
		}
		st.begin(e.GTID.String(), int64(h.Timestamp)*1e6)
		st.standalone = e.IsStandalone()
	case *replication.GTIDEvent:
		if err := st.txnStarting(ctx, h); err != nil {
			return false, err
		}
		st.beginMySQL(h, e)
	case *replication.GtidTaggedLogEvent:
		if err := st.txnStarting(ctx, h); err != nil {
			return false, err
		}
		st.beginMySQL(h, &e.GTIDEvent)
	case *replication.QueryEvent:
		q := strings.TrimSpace(string(e.Query))
		switch up := strings.ToUpper(q); {
		case up == "BEGIN" || strings.HasPrefix(up, "XA START"):
			if !st.inTxn {
				if err := st.txnStarting(ctx, h); err != nil {
					return false, err
				}
				st.begin("", int64(h.Timestamp)*1e6)
			}
			st.explicit = true
			return false, nil
		case up == "COMMIT" || up == "ROLLBACK":
			// COMMIT ends non-transactional groups; a logged ROLLBACK keeps
			// the changes of non-transactional tables it could not undo.
			return true, st.commit(ctx, h)
		case strings.HasPrefix(up, "SAVEPOINT") || strings.HasPrefix(up, "ROLLBACK TO") || strings.HasPrefix(up, "XA END"):
			return false, nil
		}
		return true, st.ddl(ctx, h, string(e.Schema), q)
	case *replication.XIDEvent:
		return true, st.commit(ctx, h)
	case *replication.RowsEvent:
		return false, st.rows(ctx, ev, e)
	case *replication.TransactionPayloadEvent:
		for _, inner := range e.Events {
			p, err := st.event(ctx, inner)
			if err != nil {
				return progressed, err
			}
			progressed = progressed || p
		}
		return progressed, nil
	case *replication.HeartbeatEvent:
		st.heartbeat(h, e)
	case *replication.GenericEvent:
		if h.EventType == replication.XA_PREPARE_LOG_EVENT {
			return true, st.commit(ctx, h)
		}
	}
	return false, nil
}

func gtidString(e *replication.GTIDEvent) string {
	if len(e.SID) != 16 {
		return ""
	}
	u := fmt.Sprintf("%x-%x-%x-%x-%x", e.SID[0:4], e.SID[4:6], e.SID[6:8], e.SID[8:10], e.SID[10:16])
	if tag := e.Tag.String(); tag != "" {
		return fmt.Sprintf("%s:%s:%d", u, tag, e.GNO)
	}
	return fmt.Sprintf("%s:%d", u, e.GNO)
}

// txnStarting runs before a transaction starting with the event h begins.
func (st *stream) txnStarting(ctx context.Context, h *replication.EventHeader) error {
	if st.skipping || h.LogPos < h.EventSize {
		return nil
	}
	start := h.LogPos - h.EventSize
	if st.inTxn && (len(st.txn) > 0 || st.spilled > 0) {
		// The previous transaction ended without COMMIT or XID (it should
		// not happen): keep its changes, ending it where this one starts.
		st.log.Warn("a transaction ended without COMMIT or XID; it is committed where the next one starts",
			"position", fmt.Sprintf("%s:%d", st.file, start), "gtid", st.txnGTID)
		if err := st.commit(ctx, &replication.EventHeader{LogPos: start, Timestamp: h.Timestamp}); err != nil {
			return err
		}
	}
	if st.snap == nil {
		return nil
	}
	return st.snap.beforeTxn(ctx, st, hpos{st.seq, start})
}

func (st *stream) beginMySQL(h *replication.EventHeader, e *replication.GTIDEvent) {
	g := gtidString(e)
	if e.GNO == 0 { // anonymous GTID (gtid_mode OFF)
		g = ""
	}
	ts := int64(h.Timestamp) * 1e6
	if e.ImmediateCommitTimestamp > 0 {
		ts = int64(e.ImmediateCommitTimestamp)
	}
	st.begin(g, ts)
	if e.TransactionLength > 0 && h.LogPos >= h.EventSize {
		st.txnEnd = h.LogPos - h.EventSize + uint32(e.TransactionLength)
	}
}

func (st *stream) begin(gtid string, ts int64) {
	st.inTxn, st.explicit, st.standalone = true, false, false
	st.txnGTID, st.txnTime, st.txnEnd = gtid, ts, 0
	st.txn, st.txnBytes, st.spilled, st.skip = st.txn[:0], 0, 0, 0
	if r := st.resume; r != nil {
		same := gtid != "" && gtid == r.gtid || gtid == "" && r.gtid == "" && st.cp.File == r.file && st.cp.Pos == r.pos
		if same {
			st.skip, st.spilled = r.emitted, r.emitted
		}
		st.resume = nil
		if !same {
			st.log.Warn("after reconnecting, the partly emitted transaction was not read again first; its emitted part stays uncommitted until the log is reopened",
				"want_gtid", r.gtid, "got_gtid", gtid)
		}
	}
}

func (st *stream) position(h *replication.EventHeader) event.Position {
	return event.Position{File: st.file, Offset: uint64(h.LogPos), GTID: st.txnGTID}
}

func (st *stream) rowOp(t replication.EventType) event.Op {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		return event.OpInsert
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.PARTIAL_UPDATE_ROWS_EVENT:
		return event.OpUpdate
	}
	return event.OpDelete
}

// decoder returns the row decoder for a table-map event at position p.
func (st *stream) decoder(ctx context.Context, tm *replication.TableMapEvent, id event.TableID, p hpos) (*rowDecoder, error) {
	v, early, err := st.hist.at(id, p)
	if err != nil {
		return nil, err
	}
	if c := st.maps[tm.TableID]; c != nil && c.matches(tm, v) {
		return c.dec, nil
	}
	mi := readMap(tm, st.charsets)
	var use *version
	var why string
	if v != nil && v.schema != nil && !v.unknown {
		ok, reason := fits(tm, &mi, v.schema, st.charsets)
		if ok {
			use = v
		} else {
			why = reason
		}
	} else if v == nil {
		why = "the schema history has no version of the table"
	} else {
		why = "the schema history lost track of the table (an unparsed DDL)"
	}
	if use == nil {
		var base *tableSchema
		if v != nil {
			base = v.schema
		}
		var s *tableSchema
		if mi.names != nil {
			s, err = schemaFromMap(tm, &mi, base, st.charsets)
			if err != nil {
				return nil, fmt.Errorf("%w: mysql: table %s at %s: %v", ErrFatal, id, p, err)
			}
		} else {
			live, lerr := st.srv.loadSchema(ctx, id)
			if lerr == nil {
				if ok, reason := fits(tm, &mi, live, st.charsets); ok {
					s = live
				} else {
					lerr = errors.New(reason)
				}
			}
			if s == nil {
				return nil, fmt.Errorf("%w: mysql: table %s at %s: %s, the binlog carries no column names (binlog_row_metadata=MINIMAL) and the server's current schema does not fit either (%v); "+
					"fix: SET GLOBAL binlog_row_metadata=FULL, or re-snapshot the table (odsync snapshot --table %s)", ErrFatal, id, p, why, lerr, id)
			}
		}
		if !early || v == nil {
			key := id.String() + why
			if !st.warned[key] {
				st.warned[key] = true
				st.log.Warn("schema history does not match the binlog; using the binlog's table map", "table", id.String(), "position", p.String(), "reason", why)
			}
		}
		use, err = st.hist.put(id, p, s, false)
		if err != nil {
			return nil, err
		}
	}
	dec, err := newRowDecoder(tm, use.table, st.src.cfg.ZeroDates)
	if err != nil {
		return nil, fmt.Errorf("%w: mysql: table %s at %s: %v", ErrFatal, id, p, err)
	}
	names := []byte(nil)
	if len(tm.ColumnName) > 0 {
		names = []byte(strings.Join(tm.ColumnNameString(), "\x00"))
	}
	st.maps[tm.TableID] = &cachedMap{types: append([]byte(nil), tm.ColumnType...), meta: append([]uint16(nil), tm.ColumnMeta...),
		names: names, ver: use, dec: dec}
	return dec, nil
}

func (st *stream) rows(ctx context.Context, ev *replication.BinlogEvent, e *replication.RowsEvent) error {
	h := ev.Header
	tm := e.Table
	id := event.TableID{DB: string(tm.Schema), Table: string(tm.Table)}
	if st.skipping || !st.captures(id) {
		return nil
	}
	p := hpos{st.seq, h.LogPos}
	pos := st.position(h)
	dec, err := st.decoder(ctx, tm, id, p)
	if err != nil {
		return err
	}
	if len(e.Rows) != 1 || len(e.Rows[0]) != 1 {
		return fmt.Errorf("mysql: table %s at %s: rows event was decoded by go-mysql, not odsync", id, pos)
	}
	raw, ok := e.Rows[0][0].(*rawRows)
	if !ok {
		return fmt.Errorf("mysql: table %s at %s: rows event without its body", id, pos)
	}
	data := raw.data[raw.pos:]
	switch h.EventType {
	case replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		data, err = gomysql.DecompressMariadbData(data)
		if err != nil {
			return fmt.Errorf("%w: mysql: table %s at %s: decompress rows: %v", ErrFatal, id, pos, err)
		}
	}
	var gm [][]any
	if dec.jsonBinary {
		// MySQL binary JSON: let go-mysql decode the event too and take
		// those columns from it.
		if err := e.DecodeData(raw.pos, raw.data); err != nil {
			return fmt.Errorf("%w: mysql: table %s at %s: %v", ErrFatal, id, pos, err)
		}
		gm = e.Rows
	}
	if int(e.ColumnCount) != len(dec.cols) {
		return fmt.Errorf("%w: mysql: table %s at %s: rows event has %d columns, its table map %d", ErrFatal, id, pos, e.ColumnCount, len(dec.cols))
	}
	op := st.rowOp(h.EventType)
	partial := h.EventType == replication.PARTIAL_UPDATE_ROWS_EVENT
	ncol := len(dec.cols)
	img := 0
	var arena []event.Value
	next := func() []event.Value {
		if len(arena) < ncol {
			arena = make([]event.Value, ncol*32)
		}
		v := arena[:ncol:ncol]
		arena = arena[ncol:]
		return v
	}
	decodeImage := func(bitmap []byte) ([]event.Value, error) {
		vals := next()
		var g []any
		if gm != nil {
			if img >= len(gm) {
				return nil, errors.New("go-mysql decoded fewer rows")
			}
			g = gm[img]
		}
		img++
		n, err := dec.image(data, bitmap, vals, g)
		if err != nil {
			return nil, err
		}
		data = data[n:]
		return vals, nil
	}
	commit := st.txnTime
	for len(data) > 0 {
		ev := event.Event{Op: op, Source: id, Table: dec.table, CommitTime: commit, Pos: pos}
		var err error
		switch op {
		case event.OpInsert:
			ev.After, err = decodeImage(e.ColumnBitmap1)
		case event.OpDelete:
			ev.Before, err = decodeImage(e.ColumnBitmap1)
		case event.OpUpdate:
			ev.Before, err = decodeImage(e.ColumnBitmap1)
			if err == nil && partial {
				opts, _, n := gomysql.LengthEncodedInt(data)
				if opts&1 != 0 {
					err = errors.New("partial JSON update (binlog_row_value_options=PARTIAL_JSON) is not supported: SET GLOBAL binlog_row_value_options=''")
				}
				data = data[n:]
			}
			if err == nil {
				ev.After, err = decodeImage(e.ColumnBitmap2)
			}
		}
		if err != nil {
			if errors.Is(err, errZeroDate) {
				return fmt.Errorf("mysql: table %s at %s: %w", id, pos, err)
			}
			return fmt.Errorf("%w: mysql: table %s at %s: %v", ErrFatal, id, pos, err)
		}
		if st.snap != nil {
			st.snap.observe(id, p, dec.table, ev.Before, ev.After)
		}
		if op == event.OpUpdate && keyChanged(dec.table, ev.Before, ev.After) {
			// An update that moves a row to another key is a delete of the
			// old key and an insert of the new one (as Debezium emits it):
			// an ODS merged by key must drop the old row.
			del, ins := ev, ev
			del.Op, del.After = event.OpDelete, nil
			ins.Op, ins.Before = event.OpInsert, nil
			if err := st.add(ctx, del); err != nil {
				return err
			}
			ev = ins
		}
		if err := st.add(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// keyChanged reports whether an update's images differ in a key column.
// Tables without a key have nothing to change.
func keyChanged(t *event.Table, before, after []event.Value) bool {
	for _, k := range t.Key {
		if k < len(before) && k < len(after) && !before[k].Equal(after[k]) {
			return true
		}
	}
	return false
}

// add appends an event to the open transaction, spilling a chunk when the
// transaction grows past the limits.
func (st *stream) add(ctx context.Context, ev event.Event) error {
	if st.skip > 0 {
		st.skip--
		return nil
	}
	if st.txn == nil {
		// Start at the size of the last transaction (capped): a run of
		// similar transactions then never regrows its slice.
		st.txn = make([]event.Event, 0, min(max(st.lastTxnLen, 16), st.src.cfg.MaxTxnEvents+1, 4096))
	}
	st.txn = append(st.txn, ev)
	st.txnBytes += ev.ApproxSize()
	if len(st.txn) > st.src.cfg.MaxTxnEvents || st.txnBytes > st.src.cfg.MaxTxnBytes {
		// Keep the last event so the commit always has one to mark TxnEnd.
		chunk := st.txn[:len(st.txn)-1]
		last := st.txn[len(st.txn)-1]
		st.txn = make([]event.Event, 1, st.src.cfg.MaxTxnEvents+1)
		st.txn[0] = last
		st.txnBytes = last.ApproxSize()
		st.spilled += len(chunk)
		st.src.stats.spills.Add(1)
		if st.inv != nil {
			st.inv.observe(chunk, st.cp.pos())
			if err := st.inv.flushEntries(ctx); err != nil {
				return err
			}
		}
		return st.emit(ctx, chunk, nil)
	}
	return nil
}

// advance moves the checkpoint past the transaction that ends at h.
func (st *stream) advance(h *replication.EventHeader) error {
	st.cp.File, st.cp.Pos = st.file, h.LogPos
	if h.Timestamp != 0 {
		st.cp.Time = h.Timestamp
	}
	if st.gset != nil && st.txnGTID != "" {
		if err := st.gset.Update(st.txnGTID); err != nil {
			return fmt.Errorf("mysql: add GTID %s to %s: %w", st.txnGTID, st.gset, err)
		}
		st.cp.GTIDSet = st.gset.String()
	}
	return nil
}

// skipCommit handles a transaction end while skipping to cp.skipTo.
func (st *stream) skipCommit(ctx context.Context, h *replication.EventHeader) error {
	if st.gset != nil && st.txnGTID != "" {
		if err := st.gset.Update(st.txnGTID); err != nil {
			return fmt.Errorf("mysql: add GTID %s: %w", st.txnGTID, err)
		}
	}
	st.resetTxn()
	switch {
	case st.file != st.cp.File:
		return fmt.Errorf("%w: mysql: start position %s:%d is beyond the end of %s", ErrFatal, st.cp.File, st.cp.skipTo, st.cp.File)
	case h.LogPos == st.cp.skipTo:
		return st.finishSkip(ctx)
	case h.LogPos > st.cp.skipTo:
		return fmt.Errorf("%w: mysql: start position %s:%d is not at a transaction boundary (a transaction ends at %d)", ErrFatal, st.cp.File, st.cp.skipTo, h.LogPos)
	}
	return nil
}

func (st *stream) commit(ctx context.Context, h *replication.EventHeader) error {
	if st.skipping {
		return st.skipCommit(ctx, h)
	}
	if err := st.advance(h); err != nil {
		return err
	}
	events := st.txn
	spilled := st.spilled
	st.resetTxn()
	st.src.stats.txns.Add(1)
	if len(events) == 0 && spilled == 0 {
		// Nothing captured: store the advanced position at most once a second.
		st.pendingCP = true
		return st.boundary(ctx)
	}
	if len(events) > 0 {
		events[len(events)-1].TxnEnd = true
	}
	st.src.stats.events.Add(uint64(len(events)))
	if err := st.emitCP(ctx, events); err != nil {
		return err
	}
	return st.boundary(ctx)
}

// emitCP emits events with the current checkpoint.
func (st *stream) emitCP(ctx context.Context, events []event.Event) error {
	if st.snap != nil {
		if err := st.snap.beforeEmit(st); err != nil {
			return err
		}
	}
	if st.inv != nil {
		st.inv.observe(events, st.cp.pos())
		if err := st.inv.flush(ctx); err != nil {
			return err
		}
	}
	st.pendingCP = false
	st.lastEmit = time.Now()
	st.src.setCheckpoint(st.cp)
	return st.emit(ctx, events, st.cp.clone().Encode())
}

// boundary runs at transaction boundaries: snapshot chunks that are ready
// are emitted, and a pending checkpoint is stored at most once a second.
func (st *stream) boundary(ctx context.Context) error {
	if st.inTxn || st.skipping {
		return nil
	}
	if st.snap != nil {
		emitted, err := st.snap.flush(ctx, st)
		if err != nil {
			return err
		}
		if emitted {
			return nil
		}
	}
	if st.pendingCP && time.Since(st.lastEmit) >= time.Second {
		return st.emitCP(ctx, nil)
	}
	return nil
}

// idle runs on every tick.
func (st *stream) idle(ctx context.Context) error {
	if st.snap != nil {
		if err := st.snap.poll(ctx, st); err != nil {
			return err
		}
	}
	return st.boundary(ctx)
}

// heartbeat: the server has sent everything up to the heartbeat position.
func (st *stream) heartbeat(h *replication.EventHeader, e *replication.HeartbeatEvent) {
	st.src.stats.caughtUp()
	if st.inTxn || st.skipping || e.Filename == "" {
		return
	}
	if e.Filename == st.cp.File && h.LogPos > st.cp.Pos {
		st.cp.Pos = h.LogPos
		st.pendingCP = true
	}
}

// ddl handles a statement query event: schema history, DDL events, and the
// transaction boundary it usually is.
func (st *stream) ddl(ctx context.Context, h *replication.EventHeader, schema, query string) error {
	ends := st.ddlEndsTxn(h)
	if !st.inTxn {
		if err := st.txnStarting(ctx, h); err != nil {
			return err
		}
		st.begin("", int64(h.Timestamp)*1e6)
	}
	if st.skipping {
		if ends {
			return st.skipCommit(ctx, h)
		}
		return nil
	}
	events, err := st.applyDDL(ctx, h, schema, query)
	if err != nil {
		return err
	}
	for _, ev := range events {
		if err := st.add(ctx, ev); err != nil {
			return err
		}
	}
	if ends {
		return st.commit(ctx, h)
	}
	return nil
}

func (st *stream) ddlEndsTxn(h *replication.EventHeader) bool {
	switch {
	case !st.inTxn:
		return true
	case st.explicit:
		return false
	case st.txnEnd > 0:
		return h.LogPos >= st.txnEnd
	case st.srv.flavor == "mariadb" && st.txnGTID != "":
		return st.standalone
	}
	return true
}

// stats are the capture's counters, read by Stats.
type stats struct {
	txns, events, spills atomic.Uint64
	lastEventTS          atomic.Int64 // binlog timestamp of the last event (Unix seconds)
	lastSeen             atomic.Int64 // when it was processed (Unix nanoseconds)
	caught               atomic.Int64 // when the server last said we are caught up (heartbeat)
	snapRows             atomic.Uint64
}

func (s *stats) observe(h *replication.EventHeader) {
	if h.Timestamp != 0 && h.EventType != replication.HEARTBEAT_EVENT && h.EventType != replication.HEARTBEAT_LOG_EVENT_V2 {
		s.lastEventTS.Store(int64(h.Timestamp))
		s.lastSeen.Store(time.Now().UnixNano())
	}
}

func (s *stats) caughtUp() { s.caught.Store(time.Now().UnixNano()) }
