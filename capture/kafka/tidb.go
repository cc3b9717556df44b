package kafka

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// tidbReader re-reads the full rows of handle-key-only messages from TiDB
// at the commit snapshot: the after image at CommitTs, the before image at
// CommitTs-1 (@@tidb_snapshot), as TiCDC's own consumer does. The rows are
// read as text and decoded with the canal-json value rules, with the
// column types of information_schema at the same snapshot.
type tidbReader struct {
	db  *sql.DB
	cfg *TiDBConfig
	log *slog.Logger
	vc  codec.ValueCtx
}

func newTiDBReader(cfg *TiDBConfig, log *slog.Logger) (*tidbReader, error) {
	mc, err := mysql.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	// TIMESTAMP text in UTC, read as text.
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["time_zone"] = "'+00:00'"
	mc.ParseTime = false
	if mc.Timeout == 0 {
		mc.Timeout = cfg.Timeout
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	return &tidbReader{db: db, cfg: cfg, log: log, vc: codec.NewValueCtx(time.UTC, false)}, nil
}

func (r *tidbReader) close() error { return r.db.Close() }

// complete replaces the key-only images of u's events by the full rows.
func (r *tidbReader) complete(ctx context.Context, u codec.Decoded) (codec.Decoded, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return u, fmt.Errorf("connecting to TiDB: %w", err)
	}
	defer conn.Close()
	evs := make([]event.Event, len(u.Events))
	copy(evs, u.Events)
	for i := range evs {
		e := &evs[i]
		if e.Table == nil {
			return u, errors.New("the message has no key columns")
		}
		switch e.Op {
		case event.OpInsert, event.OpRead, event.OpUpdate:
			tbl, row, err := r.read(ctx, conn, e.Source, e.Table, e.After, u.CommitTs)
			if err != nil {
				return u, fmt.Errorf("after image at %d: %w", u.CommitTs, err)
			}
			key := e.Before
			if key == nil {
				key = e.After
			}
			e.After = row
			if e.Op == event.OpUpdate {
				_, before, err := r.read(ctx, conn, e.Source, e.Table, key, u.CommitTs-1)
				if err != nil {
					return u, fmt.Errorf("before image at %d: %w", u.CommitTs-1, err)
				}
				e.Before = before
			}
			e.Table = tbl
		case event.OpDelete:
			tbl, row, err := r.read(ctx, conn, e.Source, e.Table, e.Before, u.CommitTs-1)
			if err != nil {
				return u, fmt.Errorf("deleted row at %d: %w", u.CommitTs-1, err)
			}
			e.Before, e.Table = row, tbl
		default:
			return u, fmt.Errorf("unexpected %s event", e.Op)
		}
	}
	u.Events = evs
	u.HandleKeyOnly = false
	return u, nil
}

// read returns the table schema and the row with the given key at ts.
func (r *tidbReader) read(ctx context.Context, conn *sql.Conn, id event.TableID, keyTable *event.Table, key []event.Value, ts uint64) (*event.Table, []event.Value, error) {
	if len(key) != len(keyTable.Columns) || len(key) == 0 {
		return nil, nil, fmt.Errorf("the key image has %d values for %d columns", len(key), len(keyTable.Columns))
	}
	if *r.cfg.SnapshotReads {
		if _, err := conn.ExecContext(ctx, "SET @@tidb_snapshot = '"+strconv.FormatUint(ts, 10)+"'"); err != nil {
			return nil, nil, fmt.Errorf("SET @@tidb_snapshot (is the server TiDB, and is the snapshot within tidb_gc_life_time?): %w", err)
		}
		defer func() {
			if _, err := conn.ExecContext(context.Background(), "SET @@tidb_snapshot = ''"); err != nil {
				r.log.Warn("resetting tidb_snapshot failed", "err", err)
				conn.Raw(func(any) error { return mysql.ErrInvalidConn }) // drop the session
			}
		}()
	}
	tbl, specs, err := r.schema(ctx, conn, id, keyTable)
	if err != nil {
		return nil, nil, err
	}
	var q strings.Builder
	q.WriteString("SELECT ")
	for i, c := range tbl.Columns {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(codec.QuoteIdent(c.Name))
	}
	q.WriteString(" FROM " + codec.QuoteIdent(id.DB) + "." + codec.QuoteIdent(id.Table) + " WHERE ")
	args := make([]any, len(key))
	for i, c := range keyTable.Columns {
		if i > 0 {
			q.WriteString(" AND ")
		}
		q.WriteString(codec.QuoteIdent(c.Name) + " = ?")
		args[i] = keyArg(key[i])
	}
	rows, err := conn.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("no row of %s with key %s at the snapshot", id, keyText(keyTable, key))
	}
	raw := make([]sql.RawBytes, len(tbl.Columns))
	dst := make([]any, len(raw))
	for i := range raw {
		dst[i] = &raw[i]
	}
	if err := rows.Scan(dst...); err != nil {
		return nil, nil, err
	}
	n := 0
	for _, b := range raw {
		n += len(b)
	}
	ar := codec.Arena{Buf: make([]byte, 0, n)}
	row := make([]event.Value, len(raw))
	for i, b := range raw {
		if b == nil {
			continue
		}
		v, err := r.value(&specs[i], b, &ar)
		if err != nil {
			return nil, nil, fmt.Errorf("column %s: %w", tbl.Columns[i].Name, err)
		}
		row[i] = v
	}
	return tbl, row, rows.Err()
}

// value decodes one column of the text protocol.
func (r *tidbReader) value(spec *codec.ColSpec, b []byte, ar *codec.Arena) (event.Value, error) {
	switch spec.Typ {
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry:
		return event.BytesString(ar.Str(b)), nil
	case event.TypeBit:
		if len(b) > 8 {
			return event.Null, fmt.Errorf("BIT value of %d bytes", len(b))
		}
		var buf [8]byte
		copy(buf[8-len(b):], b)
		return codec.BitsValue(binary.BigEndian.Uint64(buf[:]), spec.Bits)
	}
	return codec.DecodeText(spec, b, ar, &r.vc)
}

// schema reads the table's columns (at the session's snapshot).
func (r *tidbReader) schema(ctx context.Context, conn *sql.Conn, id event.TableID, keyTable *event.Table) (*event.Table, []codec.ColSpec, error) {
	rows, err := conn.QueryContext(ctx, "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", id.DB, id.Table)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the columns of %s: %w", id, err)
	}
	defer rows.Close()
	tbl := &event.Table{ID: id}
	var specs []codec.ColSpec
	for rows.Next() {
		var name, typ, nullable string
		if err := rows.Scan(&name, &typ, &nullable); err != nil {
			return nil, nil, err
		}
		col, spec, err := codec.ParseMySQLType(typ)
		if err != nil {
			return nil, nil, fmt.Errorf("column %s.%s: %w", id, name, err)
		}
		col.Name = name
		col.Nullable = strings.EqualFold(nullable, "YES")
		tbl.Columns = append(tbl.Columns, col)
		specs = append(specs, spec)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(tbl.Columns) == 0 {
		return nil, nil, fmt.Errorf("table %s does not exist at the snapshot", id)
	}
	for _, kc := range keyTable.Columns {
		i := tbl.ColumnIndex(kc.Name)
		if i < 0 {
			return nil, nil, fmt.Errorf("key column %s is not a column of %s", kc.Name, id)
		}
		tbl.Key = append(tbl.Key, i)
	}
	return tbl.Seal(), specs, nil
}

// keyArg is a key value as a query argument.
func keyArg(v event.Value) any {
	switch v.Kind() {
	case event.KindNull:
		return nil
	case event.KindInt, event.KindYear:
		return v.Int()
	case event.KindUint, event.KindBits:
		return v.Uint()
	case event.KindFloat32, event.KindFloat64:
		return v.Float()
	case event.KindBytes:
		return []byte(v.Str())
	case event.KindEnum:
		if v.Str() == "" {
			return v.Uint()
		}
		return v.Str()
	case event.KindTimestamp:
		return v.Time().Format("2006-01-02 15:04:05.999999")
	case event.KindDecimal, event.KindString, event.KindJSON, event.KindSet:
		return v.Str()
	}
	return v.Text()
}

func keyText(t *event.Table, key []event.Value) string {
	var b strings.Builder
	for i, c := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name + "=" + key[i].Text())
	}
	return b.String()
}
