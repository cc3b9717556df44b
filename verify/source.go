package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
)

// Source reads the source tables of a MySQL-protocol server (MySQL,
// MariaDB, TiDB) for verification: schemas from information_schema, rows
// in primary-key chunks by keyset pagination (never OFFSET), rows by key,
// and the server's binlog position. Every query runs as a prepared
// statement (binary protocol), so FLOAT and DOUBLE values arrive exactly;
// the session time zone is UTC, so TIMESTAMP values are instants.
// Identifiers are always quoted. It only reads.
type Source struct {
	db     *sql.DB
	flavor string // "mysql" or "mariadb"
	uuid   string // @@server_uuid (MySQL), for GTID comparisons
	limit  *rateLimiter
	noPos  error // why binlog positions are unavailable (nil when they are)
}

// OpenSource connects to the source described by the capture's config.
// rowsPerSecond > 0 limits how many rows verification reads per second.
func OpenSource(ctx context.Context, cfg mysql.Config, rowsPerSecond float64) (*Source, error) {
	cfg.EnsureDefaults()
	dc := driver.NewConfig()
	dc.Net = "tcp"
	dc.Addr = cfg.Addr
	dc.User = cfg.User
	dc.Passwd = cfg.Password
	dc.Timeout = cfg.ConnectTimeout
	dc.ParseTime = false
	dc.Params = map[string]string{"time_zone": "'+00:00'"}
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
	s := &Source{db: db, flavor: "mysql", limit: newRateLimiter(rowsPerSecond)}
	var version string
	if err := db.QueryRowContext(cctx, "SELECT VERSION()").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("verify: %s: SELECT VERSION(): %w", cfg.Addr, err)
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		s.flavor = "mariadb"
	} else {
		var u sql.NullString
		if db.QueryRowContext(cctx, "SELECT @@server_uuid").Scan(&u) == nil {
			s.uuid = u.String
		}
	}
	if _, err := s.Watermark(cctx); err != nil {
		s.noPos = err
	}
	return s, nil
}

// Close closes the connections.
func (s *Source) Close() error { return s.db.Close() }

// Flavor is "mysql" or "mariadb".
func (s *Source) Flavor() string { return s.flavor }

// PositionsUnavailable says why the source cannot report binlog positions
// (nil when it can): verification then relies on the sink settling.
func (s *Source) PositionsUnavailable() error { return s.noPos }

// Tables lists the base tables of the server that capture accepts, in
// db, table order.
func (s *Source) Tables(ctx context.Context, capture func(event.TableID) bool) ([]event.TableID, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, fmt.Errorf("verify: list tables: %w", err)
	}
	defer rows.Close()
	var out []event.TableID
	for rows.Next() {
		var id event.TableID
		if err := rows.Scan(&id.DB, &id.Table); err != nil {
			return nil, err
		}
		if capture == nil || capture(id) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// SourceTable is a source table as verification reads it.
type SourceTable struct {
	// Table is the schema, built like the capture builds it (column types,
	// unsigned, precision and scale, lengths, enum/set members, charset,
	// raw type; MariaDB's JSON columns as JSON) so that the mapping gives
	// the same target. Key is the primary key, else the first unique key
	// whose columns are all NOT NULL.
	Table *event.Table
	// Collations holds each column's collation ("" for non-text columns).
	Collations []string
	// EstimatedRows is information_schema's estimate.
	EstimatedRows int64
}

var eventTypes = map[string]event.Type{
	"tinyint": event.TypeTinyInt, "smallint": event.TypeSmallInt, "mediumint": event.TypeMediumInt, "int": event.TypeInt,
	"integer": event.TypeInt, "bigint": event.TypeBigInt, "decimal": event.TypeDecimal, "numeric": event.TypeDecimal,
	"float": event.TypeFloat, "double": event.TypeDouble, "real": event.TypeDouble,
	"bit": event.TypeBit, "char": event.TypeChar, "varchar": event.TypeVarchar, "tinytext": event.TypeText,
	"text": event.TypeText, "mediumtext": event.TypeText, "longtext": event.TypeText, "binary": event.TypeBinary,
	"varbinary": event.TypeVarbinary, "tinyblob": event.TypeBlob, "blob": event.TypeBlob, "mediumblob": event.TypeBlob,
	"longblob": event.TypeBlob, "enum": event.TypeEnum, "set": event.TypeSet, "date": event.TypeDate,
	"datetime": event.TypeDateTime, "timestamp": event.TypeTimestamp, "time": event.TypeTime, "year": event.TypeYear,
	"json": event.TypeJSON, "geometry": event.TypeGeometry, "point": event.TypeGeometry, "linestring": event.TypeGeometry,
	"polygon": event.TypeGeometry, "multipoint": event.TypeGeometry, "multilinestring": event.TypeGeometry,
	"multipolygon": event.TypeGeometry, "geometrycollection": event.TypeGeometry, "geomcollection": event.TypeGeometry,
	"vector": event.TypeVector,
}

var textLengths = map[string]uint32{"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295,
	"tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": 4294967295}

// Table reads a table's schema. It returns (nil, nil) when the table does
// not exist.
func (s *Source) Table(ctx context.Context, id event.TableID) (*SourceTable, error) {
	jsonCols, err := s.jsonChecks(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, id.DB, id.Table)
	if err != nil {
		return nil, fmt.Errorf("verify: table %s: read columns: %w", id, err)
	}
	defer rows.Close()
	st := &SourceTable{Table: &event.Table{ID: id}}
	for rows.Next() {
		var name, dataType, colType, nullable string
		var charset, collation sql.NullString
		if err := rows.Scan(&name, &dataType, &colType, &nullable, &charset, &collation); err != nil {
			return nil, err
		}
		col := buildColumn(name, strings.ToLower(dataType), strings.ToLower(colType), nullable == "YES", charset.String, jsonCols[strings.ToLower(name)])
		st.Table.Columns = append(st.Table.Columns, col)
		coll := collation.String
		if col.Charset == "binary" || !textual(col.Type) {
			coll = ""
		}
		st.Collations = append(st.Collations, coll)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(st.Table.Columns) == 0 {
		return nil, nil
	}
	if st.Table.Key, err = s.key(ctx, st.Table); err != nil {
		return nil, err
	}
	var est sql.NullInt64
	_ = s.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", id.DB, id.Table).Scan(&est)
	st.EstimatedRows = est.Int64
	st.Table.Seal()
	return st, nil
}

func textual(t event.Type) bool {
	switch t {
	case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeEnum, event.TypeSet:
		return true
	}
	return false
}

// jsonChecks returns the columns with a json_valid() CHECK constraint:
// MariaDB's JSON type is LONGTEXT with such a check.
func (s *Source) jsonChecks(ctx context.Context, id event.TableID) (map[string]bool, error) {
	out := map[string]bool{}
	if s.flavor != "mariadb" {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?", id.DB, id.Table)
	if err != nil {
		return out, nil // older servers: no JSON detection
	}
	defer rows.Close()
	for rows.Next() {
		var clause string
		if rows.Scan(&clause) != nil {
			continue
		}
		c := strings.TrimSpace(strings.ToLower(clause))
		if rest, ok := strings.CutPrefix(c, "json_valid("); ok {
			name := strings.Trim(strings.TrimSuffix(rest, ")"), "`\" ")
			out[name] = true
		}
	}
	return out, rows.Err()
}

// buildColumn derives an event.Column from information_schema the way the
// capture derives it from CREATE TABLE.
func buildColumn(name, dataType, colType string, nullable bool, charset string, jsonCheck bool) event.Column {
	c := event.Column{Name: name, Nullable: nullable}
	typ := dataType
	if jsonCheck && (typ == "longtext" || typ == "text" || typ == "mediumtext") {
		typ = "json"
	}
	var args []string
	var elems []string
	if i := strings.IndexByte(colType, '('); i >= 0 {
		if j := strings.LastIndexByte(colType, ')'); j > i {
			inner := colType[i+1 : j]
			if typ == "enum" || typ == "set" {
				elems = parseElems(inner)
			} else {
				for _, a := range strings.Split(inner, ",") {
					args = append(args, strings.TrimSpace(a))
				}
			}
		}
	}
	unsigned := strings.Contains(colType, " unsigned")
	tp, ok := eventTypes[typ]
	if !ok {
		tp = event.TypeUnknown
	}
	c.Type = tp
	c.Elems = elems
	switch tp {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt, event.TypeDecimal,
		event.TypeFloat, event.TypeDouble:
		c.Unsigned = unsigned
	}
	argInt := func(i, def int) int {
		if i < len(args) {
			if n, err := strconv.Atoi(args[i]); err == nil {
				return n
			}
		}
		return def
	}
	switch tp {
	case event.TypeDecimal:
		c.Precision, c.Scale = uint8(argInt(0, 10)), uint8(argInt(1, 0))
	case event.TypeBit:
		c.Length = uint32(argInt(0, 1))
	case event.TypeChar, event.TypeBinary:
		c.Length = uint32(argInt(0, 1))
	case event.TypeVarchar, event.TypeVarbinary:
		c.Length = uint32(argInt(0, 0))
	case event.TypeText, event.TypeBlob:
		c.Length = textLengths[typ]
	case event.TypeDateTime, event.TypeTimestamp, event.TypeTime:
		c.Scale = uint8(argInt(0, 0))
	}
	switch {
	case tp == event.TypeJSON:
		c.Charset = "utf8mb4"
	case tp == event.TypeBinary || tp == event.TypeVarbinary || tp == event.TypeBlob:
		c.Charset = "binary"
	case textual(tp):
		c.Charset = charset
	}
	// Raw type as SHOW CREATE TABLE spells it (the capture's RawType).
	var b strings.Builder
	b.WriteString(typ)
	if len(elems) > 0 {
		b.WriteByte('(')
		for i, e := range elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(e, "'", "''"))
			b.WriteByte('\'')
		}
		b.WriteByte(')')
	} else if len(args) > 0 && typ != "json" {
		b.WriteString("(" + strings.Join(args, ",") + ")")
	}
	if c.Unsigned {
		b.WriteString(" unsigned")
	}
	c.RawType = b.String()
	return c
}

// parseElems parses the members of enum('a','b”c').
func parseElems(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if s[i] != '\'' {
			i++
			continue
		}
		var sb strings.Builder
		j := i + 1
		for j < len(s) {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					sb.WriteByte('\'')
					j += 2
					continue
				}
				break
			}
			if s[j] == '\\' && j+1 < len(s) {
				sb.WriteByte(s[j+1])
				j += 2
				continue
			}
			sb.WriteByte(s[j])
			j++
		}
		out = append(out, sb.String())
		i = j + 1
	}
	return out
}

// key returns the primary key, or else the first unique key whose columns
// are all NOT NULL, in index order (SHOW INDEX).
func (s *Source) key(ctx context.Context, t *event.Table) ([]int, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW INDEX FROM "+quoteID(t.ID.DB)+"."+quoteID(t.ID.Table))
	if err != nil {
		return nil, fmt.Errorf("verify: table %s: read indexes: %w", t.ID, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	type index struct {
		name   string
		unique bool
		cols   []string
	}
	var order []string
	idx := map[string]*index{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		get := func(name string) string {
			for i, c := range cols {
				if strings.EqualFold(c, name) {
					return vals[i].String
				}
			}
			return ""
		}
		name := get("Key_name")
		ix := idx[name]
		if ix == nil {
			ix = &index{name: name, unique: get("Non_unique") == "0"}
			idx[name] = ix
			order = append(order, name)
		}
		ix.cols = append(ix.cols, get("Column_name"))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	resolve := func(ix *index) []int {
		var out []int
		for _, c := range ix.cols {
			i := t.ColumnIndex(c)
			if i < 0 {
				return nil
			}
			out = append(out, i)
		}
		return out
	}
	if ix := idx["PRIMARY"]; ix != nil {
		return resolve(ix), nil
	}
	for _, n := range order {
		ix := idx[n]
		if !ix.unique {
			continue
		}
		k := resolve(ix)
		ok := len(k) > 0
		for _, i := range k {
			if t.Columns[i].Nullable {
				ok = false
			}
		}
		if ok {
			return k, nil
		}
	}
	return nil, nil
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
	if s == "" {
		s = time.UnixMicro(w.Micros).UTC().Format(time.RFC3339Nano)
	}
	return strings.TrimSpace(s)
}

// Watermark reads the server's current binlog position, GTID state and
// clock.
func (s *Source) Watermark(ctx context.Context) (Watermark, error) {
	var w Watermark
	if err := s.db.QueryRowContext(ctx, "SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)").Scan(&w.Micros); err != nil {
		return w, fmt.Errorf("verify: read the source clock: %w", err)
	}
	if s.noPos != nil {
		return w, nil
	}
	rows, err := s.db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		rows, err = s.db.QueryContext(ctx, "SHOW BINARY LOG STATUS") // MySQL 8.4+
	}
	if err != nil {
		return w, fmt.Errorf("verify: read the binlog position: %w (grant REPLICATION CLIENT, or BINLOG MONITOR on MariaDB)", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return w, errors.New("verify: SHOW MASTER STATUS returned nothing: binary logging is off")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return w, err
	}
	rows.Close()
	w.File = vals[0].String
	w.Offset, _ = strconv.ParseUint(vals[1].String, 10, 64)
	name := "@@GLOBAL.gtid_executed"
	if s.flavor == "mariadb" {
		name = "@@GLOBAL.gtid_binlog_pos"
	}
	var g sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT "+name).Scan(&g); err == nil {
		w.GTID = strings.ReplaceAll(g.String, "\n", "")
	}
	return w, nil
}

// chunkReader reads a table in key order, chunk by chunk.
type chunkReader struct {
	src    *Source
	st     *SourceTable
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

func (s *Source) selectList(t *event.Table) string {
	var b strings.Builder
	for i := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteID(t.Columns[i].Name))
	}
	return b.String()
}

// newChunkReader prepares the keyset statements of a table: rows ordered
// by key, n at a time, after the previous chunk's last key.
func (s *Source) newChunkReader(ctx context.Context, st *SourceTable, key []int, n int) (*chunkReader, error) {
	t := st.Table
	from := quoteID(t.ID.DB) + "." + quoteID(t.ID.Table)
	var order []string
	for _, k := range key {
		order = append(order, quoteID(t.Columns[k].Name))
	}
	base := "SELECT " + s.selectList(t) + " FROM " + from
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
	return &chunkReader{src: s, st: st, key: key, limit: n, first: first, next: next}, nil
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
	c.Rows, err = scanRows(rows, t)
	if err != nil {
		return nil, fmt.Errorf("verify: table %s chunk %d: %w", t.ID, c.No, err)
	}
	c.ReadMicros = time.Since(start).Microseconds()
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
func scanRows(rows *sql.Rows, t *event.Table) ([][]event.Value, error) {
	defer rows.Close()
	n := len(t.Columns)
	raw := make([]any, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var out [][]event.Value
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]event.Value, n)
		for i := range t.Columns {
			v, err := sqlValue(&t.Columns[i], raw[i])
			if err != nil {
				return nil, err
			}
			row[i] = v
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// readKeys reads the rows with the given keys (parameters per key column)
// and the watermarks around the read.
func (s *Source) readKeys(ctx context.Context, st *SourceTable, key []int, keys [][]any) (rows [][]event.Value, before, after Watermark, err error) {
	t := st.Table
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
		q := "SELECT " + s.selectList(t) + " FROM " + from + " WHERE " + strings.Join(conds, " OR ")
		var rs *sql.Rows
		if rs, err = s.db.QueryContext(ctx, q, args...); err != nil {
			err = fmt.Errorf("verify: table %s: read rows by key: %w", t.ID, err)
			return
		}
		var got [][]event.Value
		if got, err = scanRows(rs, t); err != nil {
			err = fmt.Errorf("verify: table %s: read rows by key: %w", t.ID, err)
			return
		}
		rows = append(rows, got...)
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
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
