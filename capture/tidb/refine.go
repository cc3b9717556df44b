package tidb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/odsync/odsync/capture/kafka/codec"
	cmysql "github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
)

// refiner gives the changefeed's rows the table schemas the snapshot
// gave the same tables. TiCDC's canal-json (without content-compatible)
// and open-protocol carry no type parameters: a DECIMAL(65,30) arrives as
// a bare decimal, an ENUM as its index without members. Mapped as they
// are, those columns would land in other ODS columns than the snapshot's
// (docs/kafka.md, "Types without length, precision or members"). So every
// row event's table is replaced by TiDB's own schema at the event's
// commit (SHOW CREATE TABLE at that TSO, through the MySQL capture's
// parser, as the snapshot reads it) when its columns are the same, and
// ENUM/SET indexes and bitmasks become members with the snapshot's
// conversion. A DDL event makes the next row re-read the schema.
type refiner struct {
	db  *sql.DB
	log *slog.Logger

	mu     sync.Mutex
	tables map[event.TableID]*refined
	warned map[event.TableID]bool
}

type refined struct {
	tbl  *event.Table
	rows *cmysql.SnapshotRows
	// conv marks the columns whose values need converting (ENUM, SET).
	conv []bool
}

func newRefiner(db *sql.DB, log *slog.Logger) *refiner {
	return &refiner{db: db, log: log, tables: map[event.TableID]*refined{}, warned: map[event.TableID]bool{}}
}

// refine rewrites evs in place.
func (r *refiner) refine(ctx context.Context, evs []event.Event) error {
	for i := range evs {
		e := &evs[i]
		switch e.Op {
		case event.OpDDL:
			r.mu.Lock()
			delete(r.tables, e.Source)
			r.mu.Unlock()
			continue
		case event.OpInsert, event.OpUpdate, event.OpDelete, event.OpRead:
		default:
			continue
		}
		if e.Table == nil {
			continue
		}
		rt, err := r.table(ctx, e)
		if err != nil {
			return err
		}
		if rt == nil {
			continue
		}
		if e.Before, err = rt.convert(e.Before); err != nil {
			return fmt.Errorf("tidb: %s at %s: %w", e.Source, e.Pos, err)
		}
		if e.After, err = rt.convert(e.After); err != nil {
			return fmt.Errorf("tidb: %s at %s: %w", e.Source, e.Pos, err)
		}
		e.Table = rt.tbl
	}
	return nil
}

// table returns TiDB's schema for e's table when its columns are e's
// columns (nil: leave the event as it is).
func (r *refiner) table(ctx context.Context, e *event.Event) (*refined, error) {
	r.mu.Lock()
	rt := r.tables[e.Source]
	r.mu.Unlock()
	if rt != nil && sameColumns(rt.tbl, e.Table) {
		return rt, nil
	}
	if rt != nil && keyOnlyDelete(e, rt.tbl) {
		return nil, nil
	}
	// The TSO at the end of the commit's millisecond: at or after the
	// commit, before any later DDL of another millisecond.
	ts := codec.TSOFromMillis(e.CommitTime/1000) | (1<<18 - 1)
	c, err := snapConn(ctx, r.db, ts)
	if err != nil {
		// Past the GC life time (a changefeed read long after its
		// commits), or a TSO TiDB does not accept: the current schema,
		// which is used only when its columns are the row's.
		if c, err = r.db.Conn(ctx); err != nil {
			return nil, fmt.Errorf("tidb: reading the schema of %s: %w", e.Source, err)
		}
		r.mu.Lock()
		if !r.warned[event.TableID{}] {
			r.warned[event.TableID{}] = true
			r.log.Warn("changefeed rows are given TiDB's current table schema: reading it at their commit TSO failed (past tidb_gc_life_time?)", "table", e.Source.String(), "tso", ts)
		}
		r.mu.Unlock()
	}
	defer releaseSnapConn(c)
	tr, err := loadTable(ctx, c, e.Source)
	if err != nil {
		return nil, fmt.Errorf("tidb: reading the schema of %s at %d: %w", e.Source, ts, err)
	}
	if !sameColumns(tr.tbl, e.Table) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if keyOnlyDelete(e, tr.tbl) {
			// open-protocol deletes may carry the handle key only: they
			// stay as they are (the ODS row of a delete is its key).
			r.tables[e.Source] = &refined{tbl: tr.tbl, rows: tr.rows, conv: convColumns(tr.tbl)}
			return nil, nil
		}
		if !r.warned[e.Source] {
			r.warned[e.Source] = true
			r.log.Warn("the changefeed's columns of a table differ from TiDB's at the commit; its rows keep the changefeed's types",
				"table", e.Source.String(), "changefeed", columnNames(e.Table), "tidb", columnNames(tr.tbl))
		}
		return nil, nil
	}
	rt = &refined{tbl: tr.tbl, rows: tr.rows, conv: convColumns(tr.tbl)}
	r.mu.Lock()
	r.tables[e.Source] = rt
	r.mu.Unlock()
	return rt, nil
}

// convert turns ENUM indexes and SET bitmasks (as TiCDC sends them) into
// the snapshot's values, with the snapshot's own conversion.
func (rt *refined) convert(img []event.Value) ([]event.Value, error) {
	if img == nil {
		return nil, nil
	}
	var drv []any
	for i, v := range img {
		if !rt.conv[i] {
			// open-protocol without the unsigned flag: the same integer
			// in the kind of TiDB's column.
			switch col := &rt.tbl.Columns[i]; {
			case !isInt(col.Type):
			case col.Unsigned && v.Kind() == event.KindInt && v.Int() >= 0:
				img[i] = event.Uint(uint64(v.Int()))
			case !col.Unsigned && v.Kind() == event.KindUint && v.Uint() <= math.MaxInt64:
				img[i] = event.Int(int64(v.Uint()))
			}
			continue
		}
		var n any
		switch v.Kind() {
		case event.KindUint:
			n = v.Uint()
		case event.KindInt:
			n = v.Int()
		default:
			continue // NULL, or members already
		}
		if drv == nil {
			drv = make([]any, len(img))
		}
		for j := range drv {
			drv[j] = nil
		}
		drv[i] = n
		row, err := rt.rows.Values(nil, drv)
		if err != nil {
			return nil, err
		}
		img[i] = row[i]
	}
	return img, nil
}

func convColumns(t *event.Table) []bool {
	conv := make([]bool, len(t.Columns))
	for i, col := range t.Columns {
		conv[i] = col.Type == event.TypeEnum || col.Type == event.TypeSet
	}
	return conv
}

// keyOnlyDelete: a delete whose image has fewer columns than the table.
func keyOnlyDelete(e *event.Event, full *event.Table) bool {
	return e.Op == event.OpDelete && len(e.Table.Columns) < len(full.Columns)
}

func isInt(t event.Type) bool {
	switch t {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		return true
	}
	return false
}

func sameColumns(a, b *event.Table) bool {
	if len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		if !strings.EqualFold(a.Columns[i].Name, b.Columns[i].Name) {
			return false
		}
	}
	return true
}

func columnNames(t *event.Table) string {
	n := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		n[i] = c.Name
	}
	return strings.Join(n, ",")
}
