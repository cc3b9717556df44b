package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/odsync/odsync/event"
)

// txn collects the row changes of one transaction.
type txn struct {
	s       *Sink
	applied uint64 // the checkpoint this transaction starts from
	first   uint64
	order   []*pending
	tables  map[*target]*pending
	// the previous row event's schema and its table's changes
	lastTable *event.Table
	last      *pending
}

// pending is one table's changes in a transaction.
type pending struct {
	t     *target
	table *event.Table
	cols  []int // source columns the target has
	keyed bool
	// keyed tables: while the transaction has only inserts (and reads) of
	// the table, their images in order (appended: REPLACE in source
	// order ends in the same state as the reduction, without keying each
	// row); the first update or delete moves them into final.
	appended []*event.Event
	reduced  bool
	// keyed tables once reduced: the final state per key, in first-seen
	// order.
	keys  []string
	final map[string]*rowState
	// tables without a key: the changes in order.
	ops []rowOp
}

type rowState struct {
	del bool
	key []event.Value // key values (for the delete)
	row []event.Value // the final image (upsert)
}

type rowOp struct {
	del      bool
	row      []event.Value
	seq      uint64
	position event.Position
}

func (tx *txn) add(e *event.Event) error {
	switch e.Op {
	case event.OpInsert, event.OpRead, event.OpUpdate, event.OpDelete:
	default:
		return fmt.Errorf("unexpected operation %s", e.Op)
	}
	if e.Table == nil {
		return errors.New("row event without a schema")
	}
	p := tx.last
	if e.Table != tx.lastTable || p == nil {
		var err error
		if p, err = tx.pending(e); err != nil {
			return err
		}
		tx.lastTable, tx.last = e.Table, p
	}
	if tx.first == 0 {
		tx.first = e.Seq
	}
	if !p.keyed {
		if e.Op == event.OpUpdate || e.Op == event.OpDelete {
			p.ops = append(p.ops, rowOp{del: true, row: e.Before, seq: e.Seq, position: e.Pos})
		}
		if e.Op != event.OpDelete {
			p.ops = append(p.ops, rowOp{row: e.After, seq: e.Seq, position: e.Pos})
		}
		return nil
	}
	if !p.reduced {
		if e.Op == event.OpInsert || e.Op == event.OpRead {
			if len(e.After) != len(p.table.Columns) {
				return fmt.Errorf("row has %d values for %d columns", len(e.After), len(p.table.Columns))
			}
			p.appended = append(p.appended, e)
			return nil
		}
		if err := p.reduce(); err != nil {
			return err
		}
	}
	if e.Op == event.OpUpdate || e.Op == event.OpDelete {
		k, err := p.key(e.Before)
		if err != nil {
			return err
		}
		if e.Op == event.OpDelete {
			p.set(k, &rowState{del: true, key: p.keyValues(e.Before)})
			return nil
		}
		k2, err := p.key(e.After)
		if err != nil {
			return err
		}
		if k2 != k { // the key changed: the old row goes
			p.set(k, &rowState{del: true, key: p.keyValues(e.Before)})
		}
		p.set(k2, &rowState{row: e.After})
		return nil
	}
	k, err := p.key(e.After)
	if err != nil {
		return err
	}
	p.set(k, &rowState{row: e.After})
	return nil
}

// reduce moves the appended images into the final state per key.
func (p *pending) reduce() error {
	p.reduced = true
	for _, e := range p.appended {
		k, err := p.key(e.After)
		if err != nil {
			return fmt.Errorf("seq %d at %s: %w", e.Seq, e.Pos, err)
		}
		p.set(k, &rowState{row: e.After})
	}
	p.appended = nil
	return nil
}

// pending returns the changes of e's table in the transaction.
func (tx *txn) pending(e *event.Event) (*pending, error) {
	t := tx.s.tables[e.Source]
	if p := tx.tables[t]; p != nil {
		return p, nil
	}
	p := &pending{t: t, table: e.Table, keyed: len(e.Table.Key) > 0, final: map[string]*rowState{}}
	for i := range e.Table.Columns {
		if t.cols[strings.ToLower(e.Table.Columns[i].Name)] {
			p.cols = append(p.cols, i)
		}
	}
	for _, k := range e.Table.Key {
		if !t.cols[strings.ToLower(e.Table.Columns[k].Name)] {
			return nil, &schemaError{fmt.Sprintf("target %s lacks key column %s", t, e.Table.Columns[k].Name)}
		}
	}
	tx.tables[t] = p
	tx.order = append(tx.order, p)
	return p, nil
}

func (p *pending) set(k string, st *rowState) {
	if _, ok := p.final[k]; !ok {
		p.keys = append(p.keys, k)
	}
	p.final[k] = st
}

func (p *pending) keyValues(row []event.Value) []event.Value {
	out := make([]event.Value, len(p.table.Key))
	for i, k := range p.table.Key {
		out[i] = row[k]
	}
	return out
}

// key renders a row's key as its SQL literals (distinct values, distinct text).
func (p *pending) key(row []event.Value) (string, error) {
	if len(row) != len(p.table.Columns) {
		return "", fmt.Errorf("row has %d values for %d columns", len(row), len(p.table.Columns))
	}
	var b []byte
	for i, k := range p.table.Key {
		if i > 0 {
			b = append(b, 0)
		}
		var err error
		if b, err = appendLiteral(b, &p.table.Columns[k], row[k]); err != nil {
			return "", &valueError{err}
		}
	}
	return string(b), nil
}

// commit applies the collected changes and advances the checkpoint to
// last (source position pos), in one transaction.
func (tx *txn) commit(ctx context.Context, last uint64, pos event.Position) (err error) {
	s := tx.s
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mysql sink: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	ck := quoteID(s.ckDB) + "." + quoteID(s.ckName)
	var stored uint64
	err = sqlTx.QueryRowContext(ctx, "SELECT `seq` FROM "+ck+" WHERE `sink` = ? FOR UPDATE", s.name).Scan(&stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mysql sink: reading checkpoint %s: %w", s.cfg.CheckpointTable, err)
	}
	if stored != tx.applied {
		return fmt.Errorf("mysql sink: checkpoint %s of sink %q moved from %d to %d during the batch (another odsync writing with the same sink name?); retrying from the stored checkpoint",
			s.cfg.CheckpointTable, s.name, tx.applied, stored)
	}
	w := &stmtWriter{tx: sqlTx, ctx: ctx, maxRows: s.cfg.RowsPerStatement, maxBytes: int(s.cfg.StatementBytes), buf: s.scratch[:0]}
	for _, p := range tx.order {
		if err := p.apply(w); err != nil {
			return fmt.Errorf("mysql sink: table %s (seq %d..%d): %w", p.t, tx.first, last, err)
		}
	}
	s.scratch = w.buf[:0]
	if _, err = sqlTx.ExecContext(ctx, "INSERT INTO "+ck+" (`sink`, `seq`, `pos`, `updated_at`) VALUES (?, ?, ?, UTC_TIMESTAMP(6)) "+
		"ON DUPLICATE KEY UPDATE `seq` = VALUES(`seq`), `pos` = VALUES(`pos`), `updated_at` = VALUES(`updated_at`)", s.name, last, pos.String()); err != nil {
		return fmt.Errorf("mysql sink: writing checkpoint %s: %w", s.cfg.CheckpointTable, err)
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("mysql sink: commit (seq %d..%d): %w", tx.first, last, err)
	}
	return nil
}

// stmtWriter builds and runs multi-row statements of bounded size.
type stmtWriter struct {
	tx       *sql.Tx
	ctx      context.Context
	maxRows  int
	maxBytes int
	buf      []byte
	rows     int
}

func (w *stmtWriter) flush() error {
	if w.rows == 0 {
		return nil
	}
	_, err := w.tx.ExecContext(w.ctx, string(w.buf))
	w.buf, w.rows = w.buf[:0], 0
	return err
}

// full reports whether the statement is due.
func (w *stmtWriter) full() bool { return w.rows >= w.maxRows || len(w.buf) >= w.maxBytes }

func (p *pending) apply(w *stmtWriter) error {
	full := quoteID(p.t.db) + "." + quoteID(p.t.name)
	if !p.keyed {
		return p.applyOrdered(w, full)
	}
	if !p.reduced {
		for _, e := range p.appended {
			if err := p.appendRow(w, "REPLACE INTO ", full, e.After); err != nil {
				if ve := (*valueError)(nil); errors.As(err, &ve) { // this row's value, not a statement's failure
					return fmt.Errorf("seq %d at %s: %w", e.Seq, e.Pos, err)
				}
				return err
			}
		}
		return w.flush()
	}
	// Deletes first: the keys deleted and the keys written are disjoint.
	for _, k := range p.keys {
		st := p.final[k]
		if !st.del {
			continue
		}
		if w.rows == 0 {
			w.buf = append(w.buf, "DELETE FROM "...)
			w.buf = append(w.buf, full...)
			w.buf = append(w.buf, " WHERE "...)
		} else {
			w.buf = append(w.buf, " OR "...)
		}
		var err error
		if w.buf, err = p.appendMatch(w.buf, p.table.Key, st.key, true); err != nil {
			return err
		}
		w.rows++
		if w.full() {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	for _, k := range p.keys {
		st := p.final[k]
		if st.del {
			continue
		}
		if err := p.appendRow(w, "REPLACE INTO ", full, st.row); err != nil {
			return err
		}
	}
	return w.flush()
}

// appendRow adds a row to a multi-row INSERT/REPLACE.
func (p *pending) appendRow(w *stmtWriter, verb, full string, row []event.Value) error {
	if len(row) != len(p.table.Columns) {
		return fmt.Errorf("row has %d values for %d columns", len(row), len(p.table.Columns))
	}
	if w.rows == 0 {
		w.buf = append(w.buf, verb...)
		w.buf = append(w.buf, full...)
		w.buf = append(w.buf, " ("...)
		for i, c := range p.cols {
			if i > 0 {
				w.buf = append(w.buf, ", "...)
			}
			w.buf = appendID(w.buf, p.table.Columns[c].Name)
		}
		w.buf = append(w.buf, ") VALUES "...)
	} else {
		w.buf = append(w.buf, ", "...)
	}
	w.buf = append(w.buf, '(')
	for i, c := range p.cols {
		if i > 0 {
			w.buf = append(w.buf, ", "...)
		}
		var err error
		if w.buf, err = appendLiteral(w.buf, &p.table.Columns[c], row[c]); err != nil {
			return &valueError{err}
		}
	}
	w.buf = append(w.buf, ')')
	w.rows++
	if w.full() {
		return w.flush()
	}
	return nil
}

// appendMatch appends "(a = 1 AND b = 'x')" for the columns idx of a row
// (vals aligned with idx when aligned, else the whole row).
func (p *pending) appendMatch(b []byte, idx []int, vals []event.Value, aligned bool) ([]byte, error) {
	b = append(b, '(')
	for i, c := range idx {
		if i > 0 {
			b = append(b, " AND "...)
		}
		col := &p.table.Columns[c]
		v := vals[i]
		if !aligned {
			v = vals[c]
		}
		b = appendID(b, col.Name)
		if v.IsNull() {
			b = append(b, " IS NULL"...)
			continue
		}
		b = append(b, " = "...)
		var err error
		if b, err = appendLiteral(b, col, v); err != nil {
			return b, &valueError{err}
		}
	}
	return append(b, ')'), nil
}

// applyOrdered applies the changes of a table without a key in source
// order: runs of inserts as multi-row INSERTs, each delete (the before
// image of an update or delete) as DELETE ... LIMIT 1 on every column.
func (p *pending) applyOrdered(w *stmtWriter, full string) error {
	for _, op := range p.ops {
		if !op.del {
			if err := p.appendRow(w, "INSERT INTO ", full, op.row); err != nil {
				return err
			}
			continue
		}
		if err := w.flush(); err != nil {
			return err
		}
		if len(op.row) != len(p.table.Columns) {
			return fmt.Errorf("seq %d at %s: row has %d values for %d columns", op.seq, op.position, len(op.row), len(p.table.Columns))
		}
		w.buf = append(w.buf, "DELETE FROM "...)
		w.buf = append(w.buf, full...)
		w.buf = append(w.buf, " WHERE "...)
		var err error
		if w.buf, err = p.appendMatch(w.buf, p.cols, op.row, false); err != nil {
			return err
		}
		w.buf = append(w.buf, " LIMIT 1"...)
		w.rows = 1
		if err := w.flush(); err != nil {
			return fmt.Errorf("seq %d at %s: %w", op.seq, op.position, err)
		}
	}
	return w.flush()
}
