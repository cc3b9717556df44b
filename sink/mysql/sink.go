// Package mysql is the MySQL/TiDB sink: it keeps a copy of every captured
// table in a MySQL-protocol database (MySQL, MariaDB, TiDB), applying
// inserts, updates and deletes by key, so MySQL → MySQL and TiCDC → MySQL
// replication, and the reverse path from the warehouse, end in ordinary
// tables.
//
// Exactly once. Each batch is one transaction that also advances this
// sink's row in the checkpoint table (Config.CheckpointTable: sink name →
// the last applied _seq). The transaction first reads that row FOR UPDATE
// and skips every event at or below it, so a batch replayed after a crash
// (or retried after a commit whose outcome was lost with the connection)
// changes nothing. Batches must be applied in order: the sink needs
// batch.in_flight 1 (config validation says so).
//
// Rows. Within a transaction the changes of a keyed table are reduced to
// the final state per key: deleted keys in one multi-row DELETE, present
// keys in multi-row REPLACE statements. A transaction with only inserts
// (and reads: a full load) of a table skips the reduction and writes them
// as multi-row REPLACE in source order, which ends in the same state
// (a key written twice keeps its last image) without keying each row. REPLACE (not INSERT … ON DUPLICATE
// KEY UPDATE) because the reduction reorders rows: a secondary unique value
// moved between two rows in one batch would make ODKU fail or update the
// wrong row, while REPLACE removes the conflicting row, which its own
// REPLACE then writes back. The session runs with foreign_key_checks=0, so
// REPLACE's delete never cascades. An update that changes the key deletes
// the old key and writes the new one. Tables without a key are changed in
// source order: INSERT, and DELETE … LIMIT 1 matching every column.
//
// Schema. A table is created from the source schema (its column types as
// the source spells them, character sets, key) when the target lacks it.
// Source DDL is applied by the table's evolution mode (mapping.evolution):
// lenient adds new columns, changes changed types, renames renamed columns
// and keeps dropped columns and tables (made nullable); evolve also drops
// columns and tables and applies TRUNCATE; ignore leaves the target alone
// (new columns are not written); exception refuses any difference. DDL runs
// outside the row transactions (MySQL commits it implicitly) and is
// idempotent: it is derived by comparing the target with the source schema,
// so a replay finds nothing left to do.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// Sink applies batches to a MySQL-protocol database.
type Sink struct {
	cfg     Config
	name    string
	conn    driver.Connector
	started sync.Once
	db      *sql.DB // opened by Start
	mapper  *schema.Mapper
	lg      *slog.Logger
	ckDB    string
	ckName  string

	mu      sync.Mutex // one Write at a time
	ready   bool       // checkpoint table exists
	tables  map[event.TableID]*target
	scratch []byte

	hmu    sync.Mutex
	health sink.Health
}

// New returns a sink for a validated config. name is the sink's name: its
// row in the checkpoint table. It does not connect: the first Write does
// (and retries while the server is away).
func New(cfg Config, name string, mapper *schema.Mapper, lg *slog.Logger) (*Sink, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("mysql"); err != nil {
		return nil, err
	}
	dc, err := cfg.driverConfig()
	if err != nil {
		return nil, fmt.Errorf("mysql sink %s: %w", name, err)
	}
	conn, err := mysqldriver.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("mysql sink %s: %w", name, err)
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	ckDB, ckName, _ := strings.Cut(cfg.CheckpointTable, ".")
	return &Sink{cfg: cfg, name: name, conn: conn, mapper: mapper, lg: lg, ckDB: ckDB, ckName: ckName,
		tables: map[event.TableID]*target{}}, nil
}

// Start opens the connection pool (sink.Starter: New starts no
// goroutines, and database/sql's pool runs one). Write and Applied start
// it too when a caller skipped Start.
func (s *Sink) Start(context.Context) error {
	s.started.Do(func() {
		db := sql.OpenDB(s.conn)
		db.SetMaxOpenConns(s.cfg.MaxOpenConns)
		db.SetMaxIdleConns(s.cfg.MaxOpenConns)
		db.SetConnMaxLifetime(time.Hour)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s.db = db
	})
	return nil
}

// Close closes the connection pool.
func (s *Sink) Close(ctx context.Context) error {
	s.started.Do(func() {}) // a pool opened later would leak
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// Health reports the sink's failures (sink.HealthReporter). Writes are
// synchronous: a nil Write error means committed.
func (s *Sink) Health() sink.Health {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.health
}

func (s *Sink) record(err error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	h := &s.health
	if err == nil {
		h.ConsecutiveFailures, h.FailingSince, h.LastError, h.LastSuccess = 0, time.Time{}, "", time.Now()
		return
	}
	if h.ConsecutiveFailures == 0 {
		h.FailingSince = time.Now()
	}
	h.ConsecutiveFailures++
	h.Retries++
	h.LastError = err.Error()
}

// Write applies a batch in one or more transactions (split at schema
// changes), each advancing the checkpoint. Failures are returned for the
// pipeline's retry loop; those that retrying cannot fix (rejected values,
// permissions, schema conflicts) are marked sink.ErrPermanent.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	_ = s.Start(ctx)
	if s.db == nil {
		return fmt.Errorf("mysql sink %s: closed", s.name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.write(ctx, b)
	if err != nil && ctx.Err() == nil {
		if permanent(err) && !errors.Is(err, sink.ErrPermanent) {
			err = fmt.Errorf("%w: %w", sink.ErrPermanent, err)
		}
		// Cached target schemas may be stale after a failure (DDL half
		// done, a table changed behind our back): read them again.
		clear(s.tables)
	}
	s.record(err)
	return err
}

func (s *Sink) write(ctx context.Context, b *sink.Batch) error {
	if !s.ready {
		if err := s.createCheckpointTable(ctx); err != nil {
			return err
		}
		s.ready = true
	}
	applied, pos, err := s.checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("mysql sink: reading checkpoint %s: %w", s.cfg.CheckpointTable, err)
	}
	if err := s.checkContinuity(b, applied, pos); err != nil {
		return err
	}
	if b.Last <= applied {
		return nil // a replay of a batch already applied
	}
	tx := &txn{s: s, applied: applied, tables: map[*target]*pending{}}
	var last uint64 // the last event the open transaction covers
	var lastPos event.Position
	var current *event.Table // the schema of the previous row event, its target up to date
	for i := range b.Events {
		e := &b.Events[i]
		if e.Seq <= applied {
			continue
		}
		if e.Op == event.OpDDL || (e.Table != nil && e.Table != current && s.needsSchema(e)) {
			current = nil
			// Schema work commits implicitly: finish the rows before it.
			if last != 0 {
				if err := tx.commit(ctx, last, lastPos); err != nil {
					return err
				}
				applied = last
				tx = &txn{s: s, applied: applied, tables: map[*target]*pending{}}
			}
			if err := s.applySchema(ctx, e); err != nil {
				return fmt.Errorf("mysql sink: table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
			}
			last, lastPos = e.Seq, e.Pos
			if e.Op == event.OpDDL {
				continue
			}
		}
		if err := tx.add(e); err != nil {
			return fmt.Errorf("mysql sink: table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
		}
		current = e.Table
		last, lastPos = e.Seq, e.Pos
	}
	if last == 0 {
		return nil
	}
	return tx.commit(ctx, b.Last, b.Events[len(b.Events)-1].Pos)
}

// createCheckpointTable makes the checkpoint table if it is missing.
func (s *Sink) createCheckpointTable(ctx context.Context) error {
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + quoteID(s.ckDB),
		"CREATE TABLE IF NOT EXISTS " + quoteID(s.ckDB) + "." + quoteID(s.ckName) +
			" (`sink` VARCHAR(190) NOT NULL PRIMARY KEY, `seq` BIGINT UNSIGNED NOT NULL," +
			" `pos` VARCHAR(1024) NOT NULL, `updated_at` DATETIME(6) NOT NULL) DEFAULT CHARSET=utf8mb4",
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysql sink: checkpoint table %s: %w", s.cfg.CheckpointTable, err)
		}
	}
	return nil
}

// Applied returns the last sequence number applied by this sink (0: none).
func (s *Sink) Applied(ctx context.Context) (uint64, error) {
	_ = s.Start(ctx)
	if s.db == nil {
		return 0, fmt.Errorf("mysql sink %s: closed", s.name)
	}
	seq, _, err := s.checkpoint(ctx)
	return seq, err
}

// checkpoint reads this sink's checkpoint row: the last applied sequence
// number and the source position of that event.
func (s *Sink) checkpoint(ctx context.Context) (uint64, string, error) {
	var seq uint64
	var pos string
	err := s.db.QueryRowContext(ctx, "SELECT `seq`, `pos` FROM "+quoteID(s.ckDB)+"."+quoteID(s.ckName)+" WHERE `sink` = ?", s.name).Scan(&seq, &pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, pos, err
}

// checkContinuity refuses a batch that does not continue the target's
// checkpoint. Batches arrive in order and are cut as before after a
// restart, so a batch either ends at or before the checkpoint (a replay:
// acknowledgements are not synced, so after a machine crash several
// batches may come again; they are skipped), contains it (a crash between
// two of its transactions), or starts right after it. A gap means the
// target is behind the log (restored from an older backup, the cursor
// moved ahead); the event at the checkpoint's sequence number having
// another source position means the target was written from another log
// (a new state directory starts again at 1; another deployment uses the
// same sink name). Applying or skipping would then lose changes silently,
// so the sink stops and says what to do.
func (s *Sink) checkContinuity(b *sink.Batch, applied uint64, pos string) error {
	if applied == 0 || len(b.Events) == 0 {
		return nil // a new target
	}
	ck := fmt.Sprintf("checkpoint of sink %q in %s on the target (seq %d at %s)", s.name, s.cfg.CheckpointTable, applied, pos)
	if b.First > applied+1 {
		return fmt.Errorf("%w: mysql sink: batch %d..%d does not continue the %s: changes %d..%d never reached the target (restored from an older backup?); "+
			"apply them with odsync replay --sink %s --from %d, or to skip them delete the sink's row from the checkpoint table",
			sink.ErrPermanent, b.First, b.Last, ck, applied+1, b.First-1, s.name, applied+1)
	}
	if b.First > applied || b.Last < applied {
		return nil
	}
	var e *event.Event
	if i := applied - b.First; i < uint64(len(b.Events)) && b.Events[i].Seq == applied {
		e = &b.Events[i]
	} else { // not dense: find it
		for i := range b.Events {
			if b.Events[i].Seq == applied {
				e = &b.Events[i]
				break
			}
		}
	}
	if e != nil {
		if got := e.Pos.String(); got != pos {
			return fmt.Errorf("%w: mysql sink: the %s names another change than this log's seq %d (at %s): the target was written from another log "+
				"(a new state directory, another deployment with this sink name); delete the sink's row from the checkpoint table and deliver this log again "+
				"(odsync replay --sink %s --from 1), or use another sink name",
				sink.ErrPermanent, ck, applied, got, s.name)
		}
	}
	return nil
}

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	var se *schemaError
	if errors.As(err, &se) {
		return true
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1044, 1045, 1142, 1143, 1227, // access denied
			1064, 1149, // syntax
			1048, 1054, 1060, 1062, 1071, 1101, 1118, 1146, 1170, 1264, 1265, 1292, 1364, 1366, 1367, 1406, 1416, // data, schema
			3140, 3141, 4025: // invalid JSON, CHECK constraint
			return true
		}
		return false
	}
	var ve *valueError
	return errors.As(err, &ve)
}

// schemaError is a target schema that conflicts with the source (in mode
// exception, or a key the target lacks).
type schemaError struct{ msg string }

func (e *schemaError) Error() string { return e.msg }

// valueError is a value that has no SQL literal.
type valueError struct{ err error }

func (e *valueError) Error() string { return e.err.Error() }
func (e *valueError) Unwrap() error { return e.err }

// Check connects to the target and creates the checkpoint table if it is
// missing (the first thing the sink does): it proves the address, the
// credentials, TLS and the privileges to create tables. It returns the
// server's version.
func Check(ctx context.Context, cfg Config) (string, error) {
	s, err := New(cfg, "check", nil, nil)
	if err != nil {
		return "", err
	}
	defer s.Close(ctx)
	_ = s.Start(ctx)
	var version string
	if err := s.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "", fmt.Errorf("connect to %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	if err := s.createCheckpointTable(ctx); err != nil {
		return version, err
	}
	return version, nil
}

// CreateTable is the statement the sink creates a missing target of
// source table t with (odsync schema plan).
func (c *Config) CreateTable(t *event.Table) string {
	db, name := t.ID.DB, t.ID.Table
	if c.Database != "" {
		db = c.Database
	}
	return createTable(quoteID(db)+"."+quoteID(name), t)
}
