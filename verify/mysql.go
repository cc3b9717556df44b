package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// MySQLConfig locates the tables of a MySQL sink (package sink/mysql).
type MySQLConfig struct {
	// Target is the connection to the target server.
	Target Server
	// Database is the sink's database setting ("": each table in its
	// source's database).
	Database string
	// CheckpointTable is the sink's checkpoint table (db.table) and Sink
	// its row there: the sink's progress.
	CheckpointTable string
	Sink            string
}

// MySQLReader reads the tables a MySQL sink keeps. They hold the current
// rows, not a change log: each row is read with the same canonical-text
// select as the source side (srcvalue.go) and converted through the
// mapping's layout, so source and target meet in the same terms. Every
// row is a snapshot read (_op R) with _seq 1.
type MySQLReader struct {
	cfg MySQLConfig
	tgt *Source

	mu    sync.Mutex
	bound map[string]event.TableID // ODS base name -> source table
}

// NewMySQLReader connects to the target server.
func NewMySQLReader(ctx context.Context, cfg MySQLConfig) (*MySQLReader, error) {
	tgt, err := OpenSource(ctx, cfg.Target, 0)
	if err != nil {
		return nil, err
	}
	return &MySQLReader{cfg: cfg, tgt: tgt, bound: map[string]event.TableID{}}, nil
}

// Close closes the connections.
func (r *MySQLReader) Close() error { return r.tgt.Close() }

// Describe names the target.
func (r *MySQLReader) Describe() string { return "mysql " + r.cfg.Target.Addr }

// bindSource tells the reader which source table an ODS base name stands
// for (the verifier calls it before Layout).
func (r *MySQLReader) bindSource(id event.TableID, base string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bound[base] = id
}

func (r *MySQLReader) targetOf(base string) (event.TableID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.bound[base]
	if !ok {
		return id, false
	}
	if r.cfg.Database != "" {
		id.DB = r.cfg.Database
	}
	return id, true
}

// Layout finds the target table. The columns are left to the mapping (a
// MySQL target has no ODS layout of its own).
func (r *MySQLReader) Layout(ctx context.Context, base string) (Layout, error) {
	id, ok := r.targetOf(base)
	if !ok {
		return Layout{}, fmt.Errorf("verify: no source table bound to %s", base)
	}
	st, err := r.tgt.Table(ctx, id)
	if err != nil {
		return Layout{}, err
	}
	return Layout{Found: st != nil, Name: base}, nil
}

// Scan reads every row of the target table (a current-state table has no
// "since"): values by column name into the layout's source positions.
func (r *MySQLReader) Scan(ctx context.Context, t *schema.Target, since Mark, fn func([]event.Value) error) (Mark, error) {
	next := Mark{Time: time.Now()}
	id, ok := r.targetOf(t.BaseName)
	if !ok {
		id, ok = r.targetOf(t.Name)
	}
	if !ok {
		return since, fmt.Errorf("verify: no source table bound to %s", t.Name)
	}
	st, err := r.tgt.Table(ctx, id)
	if err != nil || st == nil {
		return since, err
	}
	// Target column i goes to image position pos[i] (-1: not compared).
	n := 0
	for i := range t.Columns {
		n = max(n, t.Columns[i].Source+1)
	}
	pos := make([]int, len(st.Table.Columns))
	for i := range pos {
		pos[i] = -1
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.Source < 0 {
			continue
		}
		if k := st.Table.ColumnIndex(c.SourceName); k >= 0 {
			pos[k] = c.Source
		}
	}
	q := "SELECT " + st.rows.SelectList() + " FROM " + quoteID(id.DB) + "." + quoteID(id.Table)
	// Prepared: floats come in the binary protocol (exact).
	stmt, err := r.tgt.db.PrepareContext(ctx, q)
	if err != nil {
		return since, fmt.Errorf("verify: target %s: %w", id, err)
	}
	defer stmt.Close()
	rows, err := stmt.QueryContext(ctx)
	if err != nil {
		return since, fmt.Errorf("verify: target %s: %w", id, err)
	}
	defer rows.Close()
	raw := make([]any, len(st.Table.Columns))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var vals, trow []event.Value
	img := make([]event.Value, n)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return since, err
		}
		if vals, err = st.rows.Values(vals, raw); err != nil {
			return since, fmt.Errorf("verify: target %s: %w", id, err)
		}
		clear(img)
		for k, p := range pos {
			if p >= 0 {
				img[p] = vals[k]
			}
		}
		e := event.Event{Op: event.OpRead, Seq: 1, Source: t.Source, After: img}
		trow = t.Row(&e, trow)
		if err := fn(trow); err != nil {
			return since, err
		}
	}
	if err := rows.Err(); err != nil {
		return since, fmt.Errorf("verify: target %s: %w", id, err)
	}
	return next, nil
}

// Progress reads the sink's checkpoint row: the last applied _seq and its
// source position.
func (r *MySQLReader) Progress(ctx context.Context, table string) (SinkProgress, error) {
	db, tb, _ := strings.Cut(r.cfg.CheckpointTable, ".")
	var seq uint64
	var pos sql.NullString
	err := r.tgt.db.QueryRowContext(ctx, "SELECT `seq`, `pos` FROM "+quoteID(db)+"."+quoteID(tb)+" WHERE `sink` = ?", r.cfg.Sink).Scan(&seq, &pos)
	if errors.Is(err, sql.ErrNoRows) {
		return SinkProgress{}, nil
	}
	if err != nil {
		return SinkProgress{}, fmt.Errorf("verify: checkpoint %s: %w", r.cfg.CheckpointTable, err)
	}
	return SinkProgress{Seq: seq, Pos: pos.String, Durable: true}, nil
}
