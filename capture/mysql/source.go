package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

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
	capture func(event.TableID) bool
	log     *slog.Logger
}

// New returns a source for a validated config. capture says which tables to
// capture; nil captures all tables outside the system schemas.
func New(cfg Config, capture func(event.TableID) bool, logger *slog.Logger) (*Source, error) {
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
	return &Source{cfg: cfg, capture: capture, log: logger}, nil
}

func systemSchema(db string) bool {
	switch strings.ToLower(db) {
	case "mysql", "sys", "information_schema", "performance_schema":
		return true
	}
	return false
}

// ErrFatal marks errors that retrying cannot fix (purged binlogs, binlog
// off, wrong configuration).
var ErrFatal = errors.New("fatal")

// Run streams from the checkpoint from (nil: per Config.Start) until ctx is
// done or an error occurs. It returns nil only when ctx is done.
//
// Connection losses are retried with backoff from the last emitted
// checkpoint, as long as no chunk of an unfinished transaction was emitted;
// otherwise Run returns the error and the caller must discard the uncommitted
// chunks before calling Run again.
func (s *Source) Run(ctx context.Context, from []byte, emit Emit) error {
	srv, err := openServer(ctx, &s.cfg)
	if err != nil {
		return err
	}
	defer srv.close()
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
	var cp Checkpoint
	if from != nil {
		if cp, err = DecodeCheckpoint(from); err != nil {
			return fmt.Errorf("%w: %v", ErrFatal, err)
		}
		if cp.Flavor != "" && cp.Flavor != srv.flavor {
			return fmt.Errorf("%w: mysql: the checkpoint was taken on a %s server but %s is %s", ErrFatal, cp.Flavor, s.cfg.Addr, srv.flavor)
		}
		s.log.Info("resuming from checkpoint", "position", cp.String())
	} else {
		if cp, err = srv.current(ctx); err != nil {
			return err
		}
		s.log.Info("starting at the current position", "position", cp.String())
	}
	cp.Flavor = srv.flavor
	st := &stream{src: s, srv: srv, emit: emit, cp: cp,
		tables: &tableCache{byID: map[uint64]*cachedTable{}, charsets: srv.charsets(ctx)}}
	st.tables.columnNames = func(db, table string) ([]string, []int, error) {
		return srv.columnNames(ctx, db, table)
	}
	backoff := 100 * time.Millisecond
	for {
		progressed, err := st.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrFatal) || st.spilled {
			return err
		}
		if progressed {
			backoff = 100 * time.Millisecond
		}
		s.log.Warn("binlog stream broke; reconnecting from the last checkpoint", "err", err, "position", st.cp.String(), "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// stream is one binlog connection's state.
type stream struct {
	src    *Source
	srv    *server
	emit   Emit
	tables *tableCache
	// cp is the checkpoint after the last emitted transaction.
	cp   Checkpoint
	gset gomysql.GTIDSet

	file     string
	txn      []event.Event
	txnGTID  string
	txnTime  uint32
	inTxn    bool
	spilled  bool // a chunk of the open transaction was emitted
	lastIdle time.Time
}

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
		ParseTime:               true,
		TimestampStringLocation: time.UTC,
		HeartbeatPeriod:         s.cfg.HeartbeatPeriod,
		ReadTimeout:             3 * s.cfg.HeartbeatPeriod,
		DisableRetrySync:        true,
		Logger:                  slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	st.txn, st.inTxn, st.spilled = nil, false, false
	st.file = st.cp.File
	var streamer *replication.BinlogStreamer
	if st.cp.GTIDSet != "" && st.srv.gtid {
		st.gset, err = gomysql.ParseGTIDSet(st.srv.flavor, st.cp.GTIDSet)
		if err != nil {
			return false, fmt.Errorf("%w: mysql: checkpoint GTID set %q: %v", ErrFatal, st.cp.GTIDSet, err)
		}
		streamer, err = syncer.StartSyncGTID(st.gset.Clone())
	} else {
		st.gset = nil
		streamer, err = syncer.StartSync(gomysql.Position{Name: st.cp.File, Pos: st.cp.Pos})
	}
	if err != nil {
		return false, fmt.Errorf("mysql: start binlog stream at %s: %w", st.cp.String(), err)
	}
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return progressed, nil
			}
			return progressed, st.explain(ctx, err)
		}
		p, err := st.handle(ctx, ev)
		if err != nil {
			return progressed, err
		}
		progressed = progressed || p
	}
}

// explain turns server errors into actionable ones.
func (st *stream) explain(ctx context.Context, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "1236") || strings.Contains(strings.ToLower(msg), "could not find first log file") ||
		strings.Contains(strings.ToLower(msg), "purged") || strings.Contains(msg, "Could not find GTID") {
		return fmt.Errorf("%w: mysql: the binlog at %s is no longer on the server (oldest available: %s): %v; "+
			"the changes in between are lost to odsync — re-snapshot the tables, or reset the checkpoint (odsync offsets) to accept the gap",
			ErrFatal, st.cp.String(), st.srv.oldestBinlog(ctx), err)
	}
	return fmt.Errorf("mysql: binlog stream at %s: %w", st.cp.String(), err)
}

func (st *stream) handle(ctx context.Context, ev *replication.BinlogEvent) (progressed bool, err error) {
	h := ev.Header
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		st.file = string(e.NextLogName)
		if !st.inTxn {
			st.cp.File, st.cp.Pos = st.file, uint32(e.Position)
		}
	case *replication.MariadbGTIDEvent:
		st.begin(e.GTID.String(), h.Timestamp)
	case *replication.GTIDEvent:
		st.begin(gtidString(e), h.Timestamp)
	case *replication.QueryEvent:
		q := strings.TrimSpace(string(e.Query))
		switch strings.ToUpper(q) {
		case "BEGIN":
			if !st.inTxn {
				st.begin("", h.Timestamp)
			}
			return false, nil
		case "COMMIT": // non-transactional engines end their "transaction" so
			return true, st.commit(ctx, h)
		}
		return true, st.ddl(ctx, h, string(e.Schema), q)
	case *replication.XIDEvent:
		return true, st.commit(ctx, h)
	case *replication.RowsEvent:
		return false, st.rows(ctx, h, e)
	case *replication.TransactionPayloadEvent:
		for _, inner := range e.Events {
			p, err := st.handle(ctx, inner)
			if err != nil {
				return progressed, err
			}
			progressed = progressed || p
		}
		return progressed, nil
	}
	return false, nil
}

func gtidString(e *replication.GTIDEvent) string {
	if len(e.SID) != 16 {
		return ""
	}
	u := fmt.Sprintf("%x-%x-%x-%x-%x", e.SID[0:4], e.SID[4:6], e.SID[6:8], e.SID[8:10], e.SID[10:16])
	return fmt.Sprintf("%s:%d", u, e.GNO)
}

func (st *stream) begin(gtid string, ts uint32) {
	st.inTxn = true
	st.txnGTID = gtid
	st.txnTime = ts
	st.txn = st.txn[:0]
}

func (st *stream) position(h *replication.EventHeader) event.Position {
	return event.Position{File: st.file, Offset: uint64(h.LogPos), GTID: st.txnGTID}
}

func (st *stream) rows(ctx context.Context, h *replication.EventHeader, e *replication.RowsEvent) error {
	id := event.TableID{DB: string(e.Table.Schema), Table: string(e.Table.Table)}
	if !st.src.capture(id) {
		return nil
	}
	t, err := st.tables.get(e.Table)
	if err != nil {
		return fmt.Errorf("%w: %v (at %s:%d)", ErrFatal, err, st.file, h.LogPos)
	}
	var op event.Op
	switch h.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2, replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		op = event.OpInsert
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.PARTIAL_UPDATE_ROWS_EVENT:
		op = event.OpUpdate
	default:
		op = event.OpDelete
	}
	pos := st.position(h)
	commit := int64(st.txnTime) * 1e6
	conv := func(row []any) ([]event.Value, error) {
		vals := make([]event.Value, len(t.Columns))
		for i := range t.Columns {
			if i >= len(row) {
				break
			}
			v, err := toValue(&t.Columns[i], row[i])
			if err != nil {
				return nil, fmt.Errorf("%w: mysql: table %s at %s: %v", ErrFatal, id, pos, err)
			}
			vals[i] = v
		}
		return vals, nil
	}
	step := 1
	if op == event.OpUpdate {
		step = 2
	}
	for i := 0; i+step-1 < len(e.Rows); i += step {
		ev := event.Event{Op: op, Source: id, Table: t, CommitTime: commit, Pos: pos}
		img, err := conv(e.Rows[i])
		if err != nil {
			return err
		}
		switch op {
		case event.OpInsert:
			ev.After = img
		case event.OpDelete:
			ev.Before = img
		case event.OpUpdate:
			ev.Before = img
			if ev.After, err = conv(e.Rows[i+1]); err != nil {
				return err
			}
		}
		st.txn = append(st.txn, ev)
	}
	if len(st.txn) >= st.src.cfg.MaxTxnEvents {
		chunk := st.txn
		st.txn = make([]event.Event, 0, len(chunk))
		st.spilled = true
		return st.emit(ctx, chunk, nil)
	}
	return nil
}

// advance moves the checkpoint past the transaction that ends at h.
func (st *stream) advance(h *replication.EventHeader) error {
	st.cp.File, st.cp.Pos = st.file, h.LogPos
	st.cp.Time = h.Timestamp
	if st.gset != nil && st.txnGTID != "" {
		if err := st.gset.Update(st.txnGTID); err != nil {
			return fmt.Errorf("mysql: add GTID %s to %s: %w", st.txnGTID, st.gset, err)
		}
		st.cp.GTIDSet = st.gset.String()
	}
	return nil
}

func (st *stream) commit(ctx context.Context, h *replication.EventHeader) error {
	if err := st.advance(h); err != nil {
		return err
	}
	events := st.txn
	st.txn, st.inTxn = nil, false
	wasSpilled := st.spilled
	st.spilled = false
	if len(events) == 0 && !wasSpilled {
		// Nothing captured: advance the stored position at most once a second.
		if time.Since(st.lastIdle) < time.Second {
			return nil
		}
		st.lastIdle = time.Now()
	}
	if len(events) > 0 {
		events[len(events)-1].TxnEnd = true
	}
	return st.emit(ctx, events, st.cp.Encode())
}

func (st *stream) ddl(ctx context.Context, h *replication.EventHeader, schema, query string) error {
	st.tables.invalidate()
	if err := st.advance(h); err != nil {
		return err
	}
	st.inTxn = false
	id, ok := ddlTable(schema, query)
	var events []event.Event
	if ok && st.src.capture(id) {
		events = []event.Event{{Op: event.OpDDL, Source: id, DDL: query, CommitTime: int64(h.Timestamp) * 1e6,
			Pos: st.position(h), TxnEnd: true}}
	}
	return st.emit(ctx, events, st.cp.Encode())
}

// ddlTable extracts the table a DDL statement changes (best effort: the full
// parser and schema history come with the complete MySQL capture).
func ddlTable(schema, q string) (event.TableID, bool) {
	fields := strings.Fields(q)
	up := make([]string, 0, 6)
	for _, f := range fields {
		if len(up) == 6 {
			break
		}
		up = append(up, strings.ToUpper(f))
	}
	idx := -1
	switch {
	case len(up) >= 3 && (up[0] == "ALTER" || up[0] == "DROP" || up[0] == "TRUNCATE" || up[0] == "RENAME") && up[1] == "TABLE":
		idx = 2
	case len(up) >= 2 && up[0] == "TRUNCATE":
		idx = 1
	case len(up) >= 3 && up[0] == "CREATE" && up[1] == "TABLE":
		idx = 2
	case len(up) >= 4 && up[0] == "CREATE" && up[1] == "TEMPORARY":
		return event.TableID{}, false
	}
	if idx < 0 {
		return event.TableID{}, false
	}
	for idx < len(up) && (up[idx] == "IF" || up[idx] == "NOT" || up[idx] == "EXISTS") {
		idx++
	}
	if idx >= len(fields) {
		return event.TableID{}, false
	}
	name := fields[idx]
	if i := strings.IndexAny(name, "(;,"); i >= 0 {
		name = name[:i]
	}
	db, table := schema, name
	if i := strings.Index(name, "."); i >= 0 {
		db, table = name[:i], name[i+1:]
	}
	unq := func(s string) string { return strings.Trim(s, "`\"") }
	return event.TableID{DB: unq(db), Table: unq(table)}, table != ""
}
