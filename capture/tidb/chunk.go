package tidb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/odsync/odsync/capture/kafka/codec"
	cmysql "github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// rowID is TiDB's hidden handle of tables without a clustered key.
const rowID = "_tidb_rowid"

// tableReader reads one table's chunks at the snapshot: keyset pagination
// over the clustered key, or over _tidb_rowid when the table has none
// (NONCLUSTERED primary key, or no primary key at all).
type tableReader struct {
	id   event.TableID
	tbl  *event.Table
	rows *cmysql.SnapshotRows
	// keyNames are the chunking columns; keyBind how each is bound in the
	// WHERE clause; keySel how its text is selected.
	keyNames []string
	keyBind  []string
	keyCols  []*event.Column // nil for _tidb_rowid
}

// loadTable reads the table's schema at the snapshot (SHOW CREATE TABLE
// through the MySQL capture's parser) and its clustering.
func loadTable(ctx context.Context, c *sql.Conn, id event.TableID) (*tableReader, error) {
	var name, create string
	if err := c.QueryRowContext(ctx, "SHOW CREATE TABLE "+schema.Quote(id.DB)+"."+schema.Quote(id.Table)).Scan(&name, &create); err != nil {
		return nil, fmt.Errorf("SHOW CREATE TABLE: %w", err)
	}
	tbl, err := cmysql.TableFromCreate(id, create)
	if err != nil {
		return nil, err
	}
	var pkType sql.NullString
	if err := c.QueryRowContext(ctx, "SELECT TIDB_PK_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", id.DB, id.Table).Scan(&pkType); err != nil {
		return nil, fmt.Errorf("reading TIDB_PK_TYPE: %w", err)
	}
	rows, err := cmysql.NewSnapshotRows(tbl, "tidb", "")
	if err != nil {
		return nil, err
	}
	r := &tableReader{id: id, tbl: tbl, rows: rows}
	if strings.EqualFold(pkType.String, "CLUSTERED") && len(tbl.Key) > 0 {
		for _, k := range tbl.Key {
			col := &tbl.Columns[k]
			r.keyNames = append(r.keyNames, col.Name)
			r.keyCols = append(r.keyCols, col)
			r.keyBind = append(r.keyBind, bindExpr(col))
		}
	} else {
		r.keyNames = []string{rowID}
		r.keyBind = []string{"?"}
	}
	return r, nil
}

// bindExpr is how a key text is bound so that TiDB compares it in the
// column's own type (a string compared with a number is compared as a
// double).
func bindExpr(c *event.Column) string {
	switch c.Type {
	case event.TypeDecimal:
		p, s := int(c.Precision), int(c.Scale)
		if p == 0 {
			p, s = 65, 30
		}
		return fmt.Sprintf("CAST(? AS DECIMAL(%d,%d))", p, s)
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob:
		return "UNHEX(?)"
	}
	return "?"
}

// selectKey is the expression selecting a key column's bindable text.
func (r *tableReader) selectKey(i int) string {
	q := schema.Quote(r.keyNames[i])
	if r.keyCols == nil {
		return q
	}
	switch r.keyCols[i].Type {
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob:
		return "HEX(" + q + ")"
	case event.TypeEnum, event.TypeSet, event.TypeBit:
		// ORDER BY sorts ENUM and SET by their numbers; compared with an
		// integer, so are they.
		return "CAST(" + q + "+0 AS CHAR)"
	}
	return "CAST(" + q + " AS CHAR)"
}

// keyArg is a stored key text as a query argument.
func (r *tableReader) keyArg(i int, text string) (any, error) {
	if r.keyCols == nil {
		return strconv.ParseInt(text, 10, 64)
	}
	c := r.keyCols[i]
	switch c.Type {
	case event.TypeEnum, event.TypeSet, event.TypeBit:
		return strconv.ParseUint(text, 10, 64)
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		if c.Unsigned {
			return strconv.ParseUint(text, 10, 64)
		}
		return strconv.ParseInt(text, 10, 64)
	}
	return text, nil
}

// query builds the chunk query: rows after the key (none: from the start).
func (r *tableReader) query(after []string, limit int) (string, []any, error) {
	var q strings.Builder
	q.WriteString("SELECT ")
	q.WriteString(selectList(r.tbl))
	for i := range r.keyNames {
		q.WriteString(", " + r.selectKey(i))
	}
	q.WriteString(" FROM " + schema.Quote(r.id.DB) + "." + schema.Quote(r.id.Table))
	var args []any
	if after != nil {
		if len(after) != len(r.keyNames) {
			return "", nil, fmt.Errorf("the stored key has %d values for the %d columns of the chunking key (%s): the table's key changed during the snapshot",
				len(after), len(r.keyNames), strings.Join(r.keyNames, ", "))
		}
		cols := make([]string, len(r.keyNames))
		for i, n := range r.keyNames {
			cols[i] = schema.Quote(n)
			a, err := r.keyArg(i, after[i])
			if err != nil {
				return "", nil, fmt.Errorf("stored key %q of column %s: %w", after[i], n, err)
			}
			args = append(args, a)
		}
		if len(cols) == 1 {
			q.WriteString(" WHERE " + cols[0] + " > " + r.keyBind[0])
		} else {
			q.WriteString(" WHERE (" + strings.Join(cols, ", ") + ") > (" + strings.Join(r.keyBind, ", ") + ")")
		}
	}
	q.WriteString(" ORDER BY ")
	for i, n := range r.keyNames {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(schema.Quote(n))
	}
	// Always a parameter: the binary protocol gives exact FLOAT/DOUBLE.
	q.WriteString(" LIMIT ?")
	args = append(args, limit)
	return q.String(), args, nil
}

// selectList selects the columns the way SnapshotRows converts them
// (mysql.SnapshotRows.SelectList), except that TiDB types ENUM+0 and SET+0
// as DOUBLE: they are cast to integers.
func selectList(t *event.Table) string {
	var b strings.Builder
	for i := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		q := schema.Quote(t.Columns[i].Name)
		switch t.Columns[i].Type {
		case event.TypeEnum, event.TypeSet:
			b.WriteString("CAST(" + q + "+0 AS UNSIGNED)")
		case event.TypeBit:
			b.WriteString(q + "+0")
		default:
			b.WriteString(q)
		}
	}
	return b.String()
}

// copyTable reads a table from j.after on in chunks and hands each over.
func (s *Source) copyTable(ctx context.Context, conn *sql.Conn, tso uint64, j job, id event.TableID, send func(chunkOut) bool) error {
	wrap := func(err error) error { return fmt.Errorf("tidb: snapshot of %s at TSO %d: %w", id, tso, err) }
	r, err := loadTable(ctx, conn, id)
	if err != nil {
		return wrap(err)
	}
	after := j.after
	commit := codec.TSOToMicros(tso)
	pos := event.Position{File: "tidb-snapshot", Offset: tso}
	nk := len(r.keyNames)
	ncol := len(r.tbl.Columns)
	for {
		q, args, err := r.query(after, s.cfg.ChunkRows)
		if err != nil {
			return wrap(err)
		}
		qctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		rows, err := conn.QueryContext(qctx, q, args...)
		if err != nil {
			cancel()
			return wrap(fmt.Errorf("chunk after key %v: %w", after, err))
		}
		vals := make([]any, ncol+nk)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var events []event.Event
		var last []string
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				cancel()
				return wrap(err)
			}
			row, err := r.rows.Values(nil, vals[:ncol])
			if err != nil {
				rows.Close()
				cancel()
				return wrap(fmt.Errorf("row after key %v: %w", last, err))
			}
			last = make([]string, nk)
			for i := range nk {
				last[i], err = keyText(vals[ncol+i])
				if err != nil {
					rows.Close()
					cancel()
					return wrap(fmt.Errorf("key column %s: %w", r.keyNames[i], err))
				}
			}
			events = append(events, event.Event{Op: event.OpRead, Source: id, Table: r.tbl, After: row, CommitTime: commit, Pos: pos})
		}
		err = rows.Err()
		rows.Close()
		cancel()
		if err != nil {
			return wrap(err)
		}
		if len(events) > 0 {
			events[len(events)-1].TxnEnd = true
		}
		final := len(events) < s.cfg.ChunkRows
		if !send(chunkOut{index: j.index, events: events, last: last, final: final}) {
			return nil
		}
		if final {
			return nil
		}
		after = last
	}
}

// keyText is a selected key value's text.
func keyText(v any) (string, error) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case []byte:
		return string(x), nil
	case string:
		return x, nil
	case nil:
		return "", errors.New("NULL in a key column")
	}
	return "", fmt.Errorf("unexpected key value %T", v)
}
