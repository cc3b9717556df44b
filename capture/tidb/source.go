package tidb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/capture/kafka"
	cmysql "github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/snapprogress"
	"github.com/odsync/odsync/event"
)

// Store keeps the snapshot's TSO and table list next to the log (pass the
// *offsets.Log).
type Store interface {
	Get(ns, key string) ([]byte, bool, error)
	Put(ns, key string, value []byte) error
}

// nsSnapshot is the Store namespace of the snapshot.
const nsSnapshot = "tidb.snapshot"

// checkpointKind marks a snapshot checkpoint. Once the snapshot is done
// the checkpoints are the Kafka consumer's (kafka.Checkpoint).
const checkpointKind = "tidb-snapshot"

// Checkpoint is the position of a running snapshot, stored atomically with
// every chunk's rows.
type Checkpoint struct {
	Kind string `json:"kind"`
	// TSO is the snapshot's timestamp: every table is read as of it.
	TSO uint64 `json:"tso"`
	// Tables is the length of the table list (stored in the Store).
	Tables int `json:"tables"`
	// Next: tables[Next:] are not started; those before it are done
	// unless Active.
	Next int `json:"next"`
	// Active are the started tables, with the key of the last row in the log.
	Active []TableCheckpoint `json:"active,omitempty"`
	// Rows copied so far.
	Rows uint64 `json:"rows"`
	// Done: every table is in the log; the changefeed is read next.
	Done bool `json:"done,omitempty"`
}

// TableCheckpoint is a started table: its rows with keys up to After are
// in the log (nil: none yet).
type TableCheckpoint struct {
	Index int      `json:"index"`
	After []string `json:"after,omitempty"`
	Rows  uint64   `json:"rows,omitempty"`
}

// DecodeCheckpoint parses a snapshot checkpoint.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil || c.Kind != checkpointKind {
		return c, fmt.Errorf("tidb: %.200q is not a TiDB snapshot checkpoint", b)
	}
	return c, nil
}

// IsCheckpoint says whether b is a snapshot checkpoint (else a Kafka one).
func IsCheckpoint(b []byte) bool {
	var k struct{ Kind string }
	return json.Unmarshal(b, &k) == nil && k.Kind == checkpointKind
}

// String renders the checkpoint for odsync offsets show.
func (c Checkpoint) String() string {
	if c.Done {
		return fmt.Sprintf("tidb snapshot at TSO %s done: %d tables, %d rows; the changefeed is read next", kafka.FormatTSO(c.TSO), c.Tables, c.Rows)
	}
	return fmt.Sprintf("tidb snapshot at TSO %s: %d of %d tables started, %d active, %d rows", kafka.FormatTSO(c.TSO), c.Next, c.Tables, len(c.Active), c.Rows)
}

// StoredTSO returns the snapshot TSO stored in st (0 when there is none).
func StoredTSO(st Store) (uint64, error) {
	b, ok, err := st.Get(nsSnapshot, "tso")
	if err != nil || !ok {
		return 0, err
	}
	return strconv.ParseUint(string(b), 10, 64)
}

// Source is the TiDB source.
type Source struct {
	cfg     Config
	kcfg    kafka.SourceConfig
	capture func(event.TableID) bool
	log     *slog.Logger
	store   Store
	prog    snapprogress.Tracker

	mu    sync.Mutex
	kafka *kafka.Source
}

// New returns a source. kafka is the changefeed consumer's configuration
// (source.ticdc); capture selects the tables (nil: all outside the system
// schemas); store keeps the TSO and the table list (the log).
func New(cfg Config, kafka kafka.SourceConfig, capture func(event.TableID) bool, logger *slog.Logger, store Store) (*Source, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("tidb: a state store is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if capture == nil {
		capture = func(event.TableID) bool { return true }
	}
	if kafka.TiDB.DSN == "" {
		kafka.TiDB.DSN = cfg.DSN
	}
	return &Source{cfg: cfg, kcfg: kafka, capture: capture, log: logger, store: store}, nil
}

// SnapshotProgress reports the snapshot's tables (telemetry.SnapshotProbe).
func (s *Source) SnapshotProgress(context.Context) ([]snapprogress.Table, error) {
	return s.prog.List(), nil
}

// Kafka returns the changefeed consumer once the snapshot is done (nil before).
func (s *Source) Kafka() *kafka.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kafka
}

// Close closes the changefeed consumer.
func (s *Source) Close() error {
	if k := s.Kafka(); k != nil {
		return k.Close()
	}
	return nil
}

// fatalError: retrying cannot fix it (the pipeline ends the run).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// Is makes the error permanent (event.ErrPermanent).
func (e *fatalError) Is(target error) bool { return target == event.ErrPermanent }

// Run snapshots (or resumes the snapshot) and then reads the changefeed,
// until ctx is done (nil) or a failure.
func (s *Source) Run(ctx context.Context, from []byte, emit func(ctx context.Context, events []event.Event, checkpoint []byte) error) error {
	var kafkaFrom []byte
	var tso uint64
	switch {
	case from == nil || IsCheckpoint(from):
		cp, err := s.snapshot(ctx, from, emit)
		if err != nil || ctx.Err() != nil {
			return err
		}
		tso = cp.TSO
	default:
		kafkaFrom = from
		t, err := StoredTSO(s.store)
		if err != nil {
			return fmt.Errorf("tidb: reading the snapshot TSO: %w", err)
		}
		if t == 0 {
			return &fatalError{errors.New("tidb: the state holds a Kafka position but no snapshot TSO: it was not written by a tidb source (use a new state.dir)")}
		}
		tso = t
	}
	kc := s.kcfg
	kc.StartAfter = tso
	src, err := kafka.NewSource(kc, s.capture, s.log)
	if err != nil {
		return &fatalError{err}
	}
	s.mu.Lock()
	s.kafka = src
	s.mu.Unlock()
	db, err := s.open()
	if err != nil {
		return &fatalError{err}
	}
	defer db.Close()
	ref := newRefiner(db, s.log)
	s.log.Info("reading the changefeed: changes committed after the snapshot TSO are applied", "tso", kafka.FormatTSO(tso))
	return src.Run(ctx, kafkaFrom, func(ctx context.Context, evs []event.Event, cp []byte) error {
		// TiDB unreachable for a moment must not end the run: the Kafka
		// consumer treats an emit error as permanent.
		bo := backoff.New(time.Second, 16*time.Second)
		for attempt := 1; ; attempt++ {
			err := ref.refine(ctx, evs)
			if err == nil {
				break
			}
			if attempt == 6 || ctx.Err() != nil {
				return err
			}
			wait := bo.Next()
			s.log.Warn("reading the TiDB schema of changefeed rows failed; retrying", "err", err, "backoff", wait)
			if err := backoff.Wait(ctx, wait); err != nil {
				return err
			}
		}
		return emit(ctx, evs, cp)
	})
}

// conn opens the database with the snapshot's session settings.
func (s *Source) open() (*sql.DB, error) {
	mc, err := mysql.ParseDSN(s.cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("tidb: dsn: %w", err)
	}
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	for k, v := range cmysql.SnapshotSessionParams() {
		mc.Params[k] = v
	}
	mc.ParseTime = false
	mc.InterpolateParams = false
	if mc.Timeout == 0 {
		mc.Timeout = 30 * time.Second
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("tidb: dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(s.cfg.Parallel + 2)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// CurrentTSO returns a current TSO of the server. @@tidb_current_ts is 0
// outside a transaction, so it is read inside one.
func CurrentTSO(ctx context.Context, db *sql.DB) (uint64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var ts uint64
	if err := tx.QueryRowContext(ctx, "SELECT @@tidb_current_ts").Scan(&ts); err != nil {
		return 0, err
	}
	if ts == 0 {
		return 0, errors.New("@@tidb_current_ts is 0: is the server TiDB?")
	}
	return ts, nil
}

// snapConn returns a connection whose reads are at tso.
func snapConn(ctx context.Context, db *sql.DB, tso uint64) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "SET @@tidb_snapshot = '"+strconv.FormatUint(tso, 10)+"'"); err != nil {
		c.Close()
		return nil, fmt.Errorf("SET @@tidb_snapshot = %d (is the TSO still within the GC life time, tidb_gc_life_time?): %w", tso, err)
	}
	return c, nil
}

// releaseSnapConn resets the session's snapshot before the connection
// goes back to the pool (a failed reset drops the connection).
func releaseSnapConn(c *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.ExecContext(ctx, "SET @@tidb_snapshot = ''"); err != nil {
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
	c.Close()
}

func systemSchema(db string) bool {
	switch strings.ToLower(db) {
	case "mysql", "sys", "information_schema", "performance_schema", "metrics_schema":
		return true
	}
	return false
}

func (s *Source) listTables(ctx context.Context, c *sql.Conn) ([]event.TableID, error) {
	rows, err := c.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, fmt.Errorf("tidb: listing tables: %w", err)
	}
	defer rows.Close()
	var out []event.TableID
	for rows.Next() {
		var id event.TableID
		if err := rows.Scan(&id.DB, &id.Table); err != nil {
			return nil, err
		}
		if !systemSchema(id.DB) && s.capture(id) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// snapshot runs (or resumes) the snapshot and returns its final checkpoint.
func (s *Source) snapshot(ctx context.Context, from []byte, emit func(ctx context.Context, events []event.Event, checkpoint []byte) error) (Checkpoint, error) {
	var cp Checkpoint
	db, err := s.open()
	if err != nil {
		return cp, &fatalError{err}
	}
	defer db.Close()
	var list []event.TableID
	if from != nil {
		if cp, err = DecodeCheckpoint(from); err != nil {
			return cp, &fatalError{err}
		}
		if cp.Done {
			return cp, nil
		}
		b, ok, err := s.store.Get(nsSnapshot, "tables")
		if err != nil {
			return cp, err
		}
		if !ok || json.Unmarshal(b, &list) != nil || len(list) != cp.Tables {
			return cp, &fatalError{fmt.Errorf("tidb: the table list of the snapshot at TSO %d is missing from the state (use a new state.dir to start over)", cp.TSO)}
		}
		s.log.Info("resuming the TiDB snapshot", "tso", kafka.FormatTSO(cp.TSO), "tables", len(list), "next", cp.Next, "active", len(cp.Active), "rows", cp.Rows)
	} else {
		tctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
		tso, err := CurrentTSO(tctx, db)
		if err != nil {
			return cp, fmt.Errorf("tidb: reading the current TSO: %w", err)
		}
		c, err := snapConn(tctx, db, tso)
		if err != nil {
			return cp, fmt.Errorf("tidb: %w", err)
		}
		list, err = s.listTables(tctx, c)
		releaseSnapConn(c)
		if err != nil {
			return cp, err
		}
		// The TSO and the list go to the state before any chunk.
		b, _ := json.Marshal(list)
		if err := s.store.Put(nsSnapshot, "tables", b); err != nil {
			return cp, err
		}
		if err := s.store.Put(nsSnapshot, "tso", []byte(strconv.FormatUint(tso, 10))); err != nil {
			return cp, err
		}
		cp = Checkpoint{Kind: checkpointKind, TSO: tso, Tables: len(list)}
		if err := emit(ctx, nil, encode(cp)); err != nil {
			return cp, err
		}
		s.log.Info("TiDB snapshot started: create the TiCDC changefeed with --start-ts at or before this TSO (docs/tidb.md)",
			"tso", kafka.FormatTSO(cp.TSO), "tables", len(list))
	}
	return s.copyTables(ctx, db, list, cp, emit)
}

func encode(cp Checkpoint) []byte {
	cp.Kind = checkpointKind
	b, _ := json.Marshal(cp)
	return b
}

// job is one table to copy from a key on.
type job struct {
	index int
	after []string
}

// chunkOut is one chunk read by a worker.
type chunkOut struct {
	index  int
	events []event.Event
	last   []string // key of the last row (nil: none read)
	final  bool
	err    error
}

func (s *Source) copyTables(ctx context.Context, db *sql.DB, list []event.TableID, cp Checkpoint, emit func(ctx context.Context, events []event.Event, checkpoint []byte) error) (Checkpoint, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	estimates := s.estimates(ctx, db, list)
	active := map[int]*TableCheckpoint{}
	var jobs []job
	for i := range cp.Active {
		a := cp.Active[i]
		active[a.Index] = &a
		jobs = append(jobs, job{index: a.Index, after: a.After})
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].index < jobs[b].index })
	for i := cp.Next; i < len(list); i++ {
		jobs = append(jobs, job{index: i})
	}
	for i, id := range list {
		s.prog.Plan(id, estimates[id])
		if _, ok := active[i]; i < cp.Next && !ok {
			s.prog.Finish(id)
		}
	}
	done := map[int]bool{}
	jobCh := make(chan job)
	out := make(chan chunkOut, s.cfg.Parallel)
	var wg sync.WaitGroup
	for w := 0; w < min(s.cfg.Parallel, max(1, len(jobs))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx, db, cp.TSO, list, jobCh, out)
		}()
	}
	go func() {
		defer close(jobCh)
		for _, j := range jobs {
			select {
			case jobCh <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(out)
	}()
	lastLog := time.Now()
	pending := len(jobs)
	for pending > 0 {
		var c chunkOut
		var ok bool
		select {
		case c, ok = <-out:
		case <-ctx.Done():
			return cp, nil
		}
		if !ok {
			break
		}
		if c.err != nil {
			return cp, c.err
		}
		id := list[c.index]
		// Tables handed out before this one are started (or done).
		if c.index >= cp.Next {
			for j := cp.Next; j < c.index; j++ {
				if !done[j] && active[j] == nil {
					active[j] = &TableCheckpoint{Index: j}
				}
			}
			cp.Next = c.index + 1
		}
		a := active[c.index]
		if a == nil {
			a = &TableCheckpoint{Index: c.index}
			active[c.index] = a
		}
		n := uint64(len(c.events))
		if c.last != nil {
			a.After = c.last
		}
		a.Rows += n
		cp.Rows += n
		if c.final {
			delete(active, c.index)
			done[c.index] = true
			pending--
		}
		cp.Active = cp.Active[:0]
		for _, t := range active {
			cp.Active = append(cp.Active, *t)
		}
		sort.Slice(cp.Active, func(a, b int) bool { return cp.Active[a].Index < cp.Active[b].Index })
		cp.Done = pending == 0
		if err := emit(ctx, c.events, encode(cp)); err != nil {
			return cp, err
		}
		s.prog.Read(id, n, c.final)
		if time.Since(lastLog) >= s.cfg.ProgressInterval {
			lastLog = time.Now()
			s.log.Info("snapshot progress", "tables_done", len(list)-pending, "tables", len(list), "rows", cp.Rows)
		}
	}
	if !cp.Done {
		// No table was left to copy (an empty list, or resumed at the end).
		cp.Done = true
		cp.Active = nil
		if err := emit(ctx, nil, encode(cp)); err != nil {
			return cp, err
		}
	}
	s.log.Info("TiDB snapshot done", "tso", kafka.FormatTSO(cp.TSO), "tables", len(list), "rows", cp.Rows)
	return cp, nil
}

// estimates reads information_schema's row estimates (best effort).
func (s *Source) estimates(ctx context.Context, db *sql.DB, list []event.TableID) map[event.TableID]uint64 {
	out := map[event.TableID]uint64{}
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
	if err != nil {
		return out
	}
	defer rows.Close()
	want := map[event.TableID]bool{}
	for _, id := range list {
		want[id] = true
	}
	for rows.Next() {
		var id event.TableID
		var n uint64
		if rows.Scan(&id.DB, &id.Table, &n) == nil && want[id] {
			out[id] = n
		}
	}
	return out
}

func (s *Source) worker(ctx context.Context, db *sql.DB, tso uint64, list []event.TableID, jobs <-chan job, out chan<- chunkOut) {
	var conn *sql.Conn
	defer func() {
		if conn != nil {
			releaseSnapConn(conn)
		}
	}()
	send := func(c chunkOut) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for j := range jobs {
		if conn == nil {
			c, err := snapConn(ctx, db, tso)
			if err != nil {
				send(chunkOut{index: j.index, err: fmt.Errorf("tidb: table %s: %w", list[j.index], err)})
				return
			}
			conn = c
		}
		s.prog.Start(list[j.index])
		if err := s.copyTable(ctx, conn, tso, j, list[j.index], send); err != nil {
			if ctx.Err() == nil {
				send(chunkOut{index: j.index, err: err})
			}
			return
		}
	}
}
