package verify

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/event"
)

// Source reads the source tables of a MySQL-protocol server (MySQL,
// MariaDB, TiDB) for verification: schemas as the capture models them
// (Server.Capture), rows in primary-key chunks by keyset pagination
// (never OFFSET), rows by key, and the server's binlog position. Values are
// read as the server's canonical text of each column type and parsed by
// verify itself (srcvalue.go), never with the capture's converters; every
// query runs as a prepared statement (binary protocol), so FLOAT and
// DOUBLE values arrive exactly.
// Identifiers are always quoted. It only reads.
type Source struct {
	db     *sql.DB
	live   Capture // table schemas and binlog positions as the capture reads them
	flavor string  // "mysql" or "mariadb"
	uuid   string  // @@server_uuid (MySQL), for GTID comparisons
	limit  *rateLimiter
	noPos  error // why binlog positions are unavailable (nil when they are)
	tidb   bool  // the server is TiDB (its SQL functions format values its own way)
	// rowsRead and keysRead count the rows (every column) and the chunk
	// bound keys read from the source so far.
	rowsRead, keysRead int64
	// reverse, when set, gives the watermarks: the server is a reverse
	// job's target, and its position is the _seq the job had applied
	// (reverse.go).
	reverse func(context.Context) (Watermark, error)
}

// OpenSource connects to the source.
// rowsPerSecond > 0 limits how many rows verification reads per second.
func OpenSource(ctx context.Context, cfg Server, rowsPerSecond float64) (*Source, error) {
	if cfg.Capture == nil || cfg.ConnectTimeout <= 0 {
		return nil, fmt.Errorf("verify: source %s: no capture view or connect timeout (build the Server from a defaulted capture config)", cfg.Addr)
	}
	dc := driver.NewConfig()
	dc.Net = "tcp"
	dc.Addr = cfg.Addr
	dc.User = cfg.User
	dc.Passwd = cfg.Password
	dc.Timeout = cfg.ConnectTimeout
	dc.ParseTime = false
	dc.Params = sourceSessionParams()
	dc.Collation = "utf8mb4_general_ci"
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("verify: source %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("verify: connect to %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	live, err := cfg.Capture(cctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("verify: %w", err)
	}
	s := &Source{db: db, live: live, flavor: live.Flavor(), limit: newRateLimiter(rowsPerSecond)}
	if s.flavor != "mariadb" {
		var u sql.NullString
		if db.QueryRowContext(cctx, "SELECT @@server_uuid").Scan(&u) == nil {
			s.uuid = u.String
		}
	}
	var version sql.NullString
	if db.QueryRowContext(cctx, "SELECT VERSION()").Scan(&version) == nil {
		s.tidb = strings.Contains(version.String, "TiDB")
	}
	if _, err := s.Watermark(cctx); err != nil {
		s.noPos = err
	}
	return s, nil
}

// Close closes the connections.
func (s *Source) Close() error {
	s.live.Close()
	return s.db.Close()
}

// Flavor is "mysql" or "mariadb".
func (s *Source) Flavor() string { return s.flavor }

// PositionsUnavailable says why the source cannot report binlog positions
// (nil when it can): verification then relies on the sink settling.
func (s *Source) PositionsUnavailable() error { return s.noPos }

// Tables lists the base tables outside the system schemas that capture
// accepts, in db, table order, as the capture lists them.
func (s *Source) Tables(ctx context.Context, capture func(event.TableID) bool) ([]event.TableID, error) {
	ids, err := s.live.Tables(ctx, capture)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return ids, nil
}

// SourceTable is a source table as verification reads it.
type SourceTable struct {
	// Table is the schema as the capture models it (SHOW CREATE TABLE
	// through the capture's DDL parser), so that the mapping gives the
	// same target. Key is the primary key, else the first unique key whose
	// columns are all NOT NULL.
	Table *event.Table
	// Collations holds each column's collation ("" for non-text columns).
	Collations []string
	// EstimatedRows is information_schema's estimate.
	EstimatedRows int64

	rows *sourceRows // selects and parses the table's rows
}

// Table reads a table's schema. It returns (nil, nil) when the table does
// not exist.
func (s *Source) Table(ctx context.Context, id event.TableID) (*SourceTable, error) {
	// The effective collations (SHOW CREATE TABLE omits the defaults).
	rows, err := s.db.QueryContext(ctx, `SELECT COLUMN_NAME, COLLATION_NAME
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, id.DB, id.Table)
	if err != nil {
		return nil, fmt.Errorf("verify: table %s: read columns: %w", id, err)
	}
	defer rows.Close()
	collations := map[string]string{}
	for rows.Next() {
		var name string
		var collation sql.NullString
		if err := rows.Scan(&name, &collation); err != nil {
			return nil, err
		}
		collations[strings.ToLower(name)] = collation.String
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(collations) == 0 {
		return nil, nil
	}
	t, err := s.live.Table(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	st := &SourceTable{Table: t, Collations: make([]string, len(t.Columns))}
	for i := range t.Columns {
		if c := &t.Columns[i]; c.Charset != "binary" && textual(c.Type) {
			st.Collations[i] = collations[strings.ToLower(c.Name)]
		}
	}
	var est sql.NullInt64
	_ = s.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", id.DB, id.Table).Scan(&est)
	st.EstimatedRows = est.Int64
	st.rows = newSourceRows(t, s.flavor)
	return st, nil
}

func textual(t event.Type) bool {
	switch t {
	case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeEnum, event.TypeSet:
		return true
	}
	return false
}

// quoteID quotes a MySQL identifier with backticks.
func quoteID(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// Watermark is a point in the source's history: its binlog position and
// GTID state and its clock, read together.
type Watermark struct {
	File   string
	Offset uint64
	// GTID is @@gtid_binlog_pos (MariaDB) or @@gtid_executed (MySQL).
	GTID string
	// Micros is the source's clock (UTC microseconds).
	Micros int64
	// Seq, in the reverse direction, is the warehouse _seq up to which the
	// job had applied every change when the watermark was read (0:
	// unknown), and Applied that the job's target then held exactly the
	// warehouse's state at Seq.
	Seq     uint64
	Applied bool
}

// samePosition reports whether two watermarks are at the same source
// position (binlog position and GTID state; never for watermarks without
// either, whose clocks always differ).
func (w Watermark) samePosition(o Watermark) bool {
	if !w.HasPos() && w.GTID == "" {
		return false
	}
	return w.File == o.File && w.Offset == o.Offset && w.GTID == o.GTID
}

// HasPos reports whether the watermark has a binlog position.
func (w Watermark) HasPos() bool { return w.File != "" }

func (w Watermark) String() string {
	s := ""
	if w.File != "" {
		s = w.File + ":" + strconv.FormatUint(w.Offset, 10)
	}
	if w.GTID != "" {
		s += " gtid=" + w.GTID
	}
	if s == "" && w.Seq > 0 {
		s = "_seq " + strconv.FormatUint(w.Seq, 10)
	}
	if s == "" {
		s = time.UnixMicro(w.Micros).UTC().Format(time.RFC3339Nano)
	}
	return strings.TrimSpace(s)
}

// Watermark reads the server's current binlog position, GTID state and
// clock.
func (s *Source) Watermark(ctx context.Context) (Watermark, error) {
	if s.reverse != nil {
		return s.reverse(ctx)
	}
	var w Watermark
	if err := s.db.QueryRowContext(ctx, "SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)").Scan(&w.Micros); err != nil {
		return w, fmt.Errorf("verify: read the source clock: %w", err)
	}
	if s.noPos != nil {
		return w, nil
	}
	file, pos, gtid, err := s.live.BinlogPosition(ctx)
	if err != nil {
		return w, fmt.Errorf("verify: %w", err)
	}
	w.File, w.Offset, w.GTID = file, pos, gtid
	return w, nil
}

// chunkReader reads a table in key order, chunk by chunk.
type chunkReader struct {
	src    *Source
	st     *SourceTable
	conv   *sourceRows
	key    []int // source column indexes of the key
	limit  int
	first  *sql.Stmt
	next   *sql.Stmt
	last   []any // the previous chunk's last key, as parameters
	done   bool
	nextNo int
}

// sourceChunk is one chunk read from the source.
type sourceChunk struct {
	No         int
	Rows       [][]event.Value // source rows in source key order
	Lo, Hi     []any           // the keyset bounds: Lo exclusive (nil: start), Hi inclusive
	Last       bool            // the final chunk (fewer rows than the limit)
	Before     Watermark       // read just before the SELECT
	After      Watermark       // read just after it
	ReadMicros int64
}

// newChunkReader prepares the keyset statements of a table: rows ordered
// by key, n at a time, after the previous chunk's last key.
func (s *Source) newChunkReader(ctx context.Context, st *SourceTable, key []int, n int) (*chunkReader, error) {
	t := st.Table
	conv := st.rows
	from := quoteID(t.ID.DB) + "." + quoteID(t.ID.Table)
	var order []string
	for _, k := range key {
		order = append(order, quoteID(t.Columns[k].Name))
	}
	base := "SELECT " + conv.SelectList() + " FROM " + from
	tail := " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + strconv.Itoa(n)
	// (k1 > ?) OR (k1 = ? AND k2 > ?) OR ...: ranges on the index prefix,
	// which every optimizer turns into an index range scan.
	var ors []string
	for i := range key {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, order[j]+" = ?")
		}
		ands = append(ands, order[i]+" > ?")
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	first, err := s.db.PrepareContext(ctx, base+tail)
	if err != nil {
		return nil, fmt.Errorf("verify: table %s: prepare: %w", t.ID, err)
	}
	next, err := s.db.PrepareContext(ctx, base+" WHERE "+strings.Join(ors, " OR ")+tail)
	if err != nil {
		first.Close()
		return nil, fmt.Errorf("verify: table %s: prepare: %w", t.ID, err)
	}
	return &chunkReader{src: s, st: st, conv: conv, key: key, limit: n, first: first, next: next}, nil
}

func (r *chunkReader) close() {
	r.first.Close()
	r.next.Close()
}

// read returns the next chunk, or nil after the last one.
func (r *chunkReader) read(ctx context.Context) (*sourceChunk, error) {
	if r.done {
		return nil, nil
	}
	t := r.st.Table
	c := &sourceChunk{No: r.nextNo, Lo: r.last}
	var err error
	if c.Before, err = r.src.Watermark(ctx); err != nil {
		return nil, err
	}
	var args []any
	stmt := r.first
	if r.last != nil {
		stmt = r.next
		for i := range r.key {
			args = append(args, r.last[:i+1]...)
		}
	}
	start := time.Now()
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("verify: table %s chunk %d: %w", t.ID, c.No, err)
	}
	c.Rows, err = scanRows(rows, r.conv)
	if err != nil {
		return nil, fmt.Errorf("verify: table %s chunk %d: %w", t.ID, c.No, err)
	}
	c.ReadMicros = time.Since(start).Microseconds()
	r.src.rowsRead += int64(len(c.Rows))
	if c.After, err = r.src.Watermark(ctx); err != nil {
		return nil, err
	}
	r.nextNo++
	if len(c.Rows) < r.limit {
		r.done = true
		c.Last = true
	}
	if len(c.Rows) > 0 {
		lastRow := c.Rows[len(c.Rows)-1]
		c.Hi = make([]any, len(r.key))
		for i, k := range r.key {
			if c.Hi[i], err = sqlParam(&t.Columns[k], lastRow[k]); err != nil {
				return nil, err
			}
		}
		r.last = c.Hi
	}
	if err := r.src.limit.wait(ctx, len(c.Rows)); err != nil {
		return nil, err
	}
	return c, nil
}

// scanRows reads every row into typed values.
func scanRows(rows *sql.Rows, conv *sourceRows) ([][]event.Value, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var out [][]event.Value
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row, err := conv.Values(nil, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// readKeys reads the rows with the given keys (parameters per key column)
// and the watermarks around the read.
func (s *Source) readKeys(ctx context.Context, st *SourceTable, key []int, keys [][]any) (rows [][]event.Value, before, after Watermark, err error) {
	t := st.Table
	conv := st.rows
	if before, err = s.Watermark(ctx); err != nil {
		return
	}
	from := quoteID(t.ID.DB) + "." + quoteID(t.ID.Table)
	const batch = 200
	for startIdx := 0; startIdx < len(keys); startIdx += batch {
		part := keys[startIdx:min(startIdx+batch, len(keys))]
		var conds []string
		var args []any
		if len(key) == 1 {
			ph := strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")
			conds = append(conds, quoteID(t.Columns[key[0]].Name)+" IN ("+ph+")")
			for _, k := range part {
				args = append(args, k[0])
			}
		} else {
			for _, k := range part {
				var ands []string
				for i, c := range key {
					ands = append(ands, quoteID(t.Columns[c].Name)+" = ?")
					args = append(args, k[i])
				}
				conds = append(conds, "("+strings.Join(ands, " AND ")+")")
			}
		}
		q := "SELECT " + conv.SelectList() + " FROM " + from + " WHERE " + strings.Join(conds, " OR ")
		var rs *sql.Rows
		if rs, err = s.db.QueryContext(ctx, q, args...); err != nil {
			err = fmt.Errorf("verify: table %s: read rows by key: %w", t.ID, err)
			return
		}
		var got [][]event.Value
		if got, err = scanRows(rs, conv); err != nil {
			err = fmt.Errorf("verify: table %s: read rows by key: %w", t.ID, err)
			return
		}
		rows = append(rows, got...)
		s.rowsRead += int64(len(got))
		if err = s.limit.wait(ctx, len(part)); err != nil {
			return
		}
	}
	after, err = s.Watermark(ctx)
	return
}

// rateLimiter paces reads to a number of rows per second.
type rateLimiter struct {
	rate  float64
	start time.Time
	rows  float64
}

func newRateLimiter(rowsPerSecond float64) *rateLimiter {
	return &rateLimiter{rate: rowsPerSecond, start: time.Now()}
}

// wait records n rows read and sleeps while the reads are ahead of the rate.
func (l *rateLimiter) wait(ctx context.Context, n int) error {
	if l == nil || l.rate <= 0 {
		return nil
	}
	l.rows += float64(n)
	due := l.start.Add(time.Duration(l.rows / l.rate * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		if d < -time.Second {
			// Idle for a while: do not allow a burst to catch up.
			l.start, l.rows = time.Now(), 0
		}
		return nil
	}
	return backoff.Wait(ctx, d)
}
