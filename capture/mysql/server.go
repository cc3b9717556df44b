package mysql

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	driver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// server is a metadata connection to the source.
type server struct {
	db     *sql.DB
	flavor string       // "mysql" or "mariadb"
	gtid   bool         // the server assigns GTIDs we can resume from
	log    *slog.Logger // nil: no warnings
}

func openServer(ctx context.Context, cfg *Config) (*server, error) {
	dc := driver.NewConfig()
	dc.Net = "tcp"
	dc.Addr = cfg.Addr
	dc.User = cfg.User
	dc.Passwd = cfg.Password
	dc.Timeout = cfg.ConnectTimeout
	dc.ReadTimeout = cfg.ConnectTimeout
	dc.ParseTime = true
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: connect to %s as %s: %w (is the server up and the user/password right?)", cfg.Addr, cfg.User, err)
	}
	s := &server{db: db}
	var version string
	if err := db.QueryRowContext(cctx, "SELECT VERSION()").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: %s: SELECT VERSION(): %w", cfg.Addr, err)
	}
	s.flavor = "mysql"
	if strings.Contains(strings.ToLower(version), "mariadb") {
		s.flavor = "mariadb"
	}
	if cfg.Flavor != "auto" && cfg.Flavor != s.flavor {
		db.Close()
		return nil, fmt.Errorf("mysql: %s is %s (version %s) but source.mysql.flavor says %s", cfg.Addr, s.flavor, version, cfg.Flavor)
	}
	if s.flavor == "mariadb" {
		s.gtid = true
	} else {
		var mode string
		if err := db.QueryRowContext(cctx, "SELECT @@GLOBAL.gtid_mode").Scan(&mode); err == nil && strings.EqualFold(mode, "ON") {
			s.gtid = true
		}
	}
	return s, nil
}

func (s *server) close() { s.db.Close() }

// variable reads a global system variable as text.
func (s *server) variable(ctx context.Context, name string) (string, error) {
	var v sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&v)
	return v.String, err
}

// current returns the server's current binlog position and GTID set.
func (s *server) current(ctx context.Context) (Checkpoint, error) {
	cp := Checkpoint{Flavor: s.flavor}
	file, pos, err := binlogStatus(ctx, s.db)
	if err != nil {
		return cp, err
	}
	cp.File = file
	cp.Pos = uint32(pos)
	if s.gtid {
		g, err := gtidState(ctx, s.db, s.flavor)
		if err != nil {
			return cp, err
		}
		cp.GTIDSet = g
	}
	return cp, nil
}

// binlogStatus reads the server's current binlog file and offset (SHOW
// MASTER STATUS, or SHOW BINARY LOG STATUS on MySQL 8.4+).
func binlogStatus(ctx context.Context, db *sql.DB) (file string, pos uint64, err error) {
	rows, err := db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil && !isAccessDenied(err) {
		// MySQL 8.4 removed SHOW MASTER STATUS. Try its successor only when
		// the first failed for another reason than privileges, so a missing
		// privilege is reported as such (not as 8.4's syntax error).
		if rows2, err2 := db.QueryContext(ctx, "SHOW BINARY LOG STATUS"); err2 == nil {
			rows, err = rows2, nil
		}
	}
	if err != nil {
		return "", 0, fmt.Errorf("mysql: read the current binlog position: %w (grant REPLICATION CLIENT, or BINLOG MONITOR on MariaDB 10.5+)", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return "", 0, errors.New("mysql: SHOW MASTER STATUS returned nothing: binary logging is off (start the server with --log-bin)")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", 0, err
	}
	fmt.Sscan(vals[1].String, &pos)
	return vals[0].String, pos, nil
}

// gtidState reads the server's GTID state on one line: @@gtid_binlog_pos
// (flavor "mariadb") or @@gtid_executed (MySQL).
func gtidState(ctx context.Context, db *sql.DB, flavor string) (string, error) {
	name := "gtid_executed"
	if flavor == "mariadb" {
		name = "gtid_binlog_pos"
	}
	var v sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&v); err != nil {
		return "", fmt.Errorf("mysql: read @@%s: %w", name, err)
	}
	return strings.ReplaceAll(v.String, "\n", ""), nil
}

// binlogFile is one entry of SHOW BINARY LOGS.
type binlogFile struct {
	Name string
	Size uint64
}

// binaryLogs lists the binlog files the server has, oldest first.
func (s *server) binaryLogs(ctx context.Context) ([]binlogFile, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("mysql: SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []binlogFile
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		f := binlogFile{Name: vals[0].String}
		if len(vals) > 1 {
			f.Size, _ = strconv.ParseUint(vals[1].String, 10, 64)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// oldestBinlog returns the first binlog file the server still has.
func (s *server) oldestBinlog(ctx context.Context) string {
	files, err := s.binaryLogs(ctx)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if len(files) == 0 {
		return "none"
	}
	return files[0].Name
}

// showCreate returns SHOW CREATE TABLE of a table.
func (s *server) showCreate(ctx context.Context, id event.TableID) (string, error) {
	var name, create string
	err := s.db.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteID(id)).Scan(&name, &create)
	if err != nil {
		return "", fmt.Errorf("mysql: SHOW CREATE TABLE %s: %w", id, err)
	}
	return create, nil
}

// loadSchema reads a table's current schema from the server.
func (s *server) loadSchema(ctx context.Context, id event.TableID) (*tableSchema, error) {
	create, err := s.showCreate(ctx, id)
	if err != nil {
		return nil, err
	}
	st := mysqldialect.ParseDDL(id.DB, create)
	if st.Kind != mysqldialect.DDLCreateTable || st.Create == nil {
		return nil, fmt.Errorf("mysql: table %s: cannot parse SHOW CREATE TABLE (%v): %s", id, st.Err, create)
	}
	ts, err := newTableSchema(mysqldialect.TableName{DB: id.DB, Name: id.Table}, st.Create, "")
	if err != nil {
		return nil, fmt.Errorf("mysql: table %s: SHOW CREATE TABLE: %w", id, err)
	}
	ts.Source = "show-create"
	if err := s.exactLabels(ctx, id, ts); err != nil {
		// The members stay as SHOW CREATE TABLE rendered them; the binlog's
		// table map (binlog_row_metadata=FULL) corrects them at the
		// table's first row event.
		if s.log != nil {
			s.log.Warn("ENUM/SET members with characters outside the BMP cannot be read exactly; SHOW CREATE TABLE's '?' stand in until the binlog's table map corrects them",
				"table", id.String(), "err", err)
		}
	}
	return ts, nil
}

// exactLabels replaces ENUM and SET members that SHOW CREATE TABLE could
// not render. The server renders them in utf8mb3 (character_set_system),
// whatever the client's character set: a member with a character outside
// the BMP (an emoji in a utf8mb4 column) comes back with '?' in its place.
// Only members containing '?' can have lost something; for those columns,
// MariaDB is asked for the members' stored bytes through variables of the
// column's own type (an anonymous block: no table is written, no privilege
// beyond reading the table is needed), decoded with the column's character
// set like the binlog's text. MySQL has no such block: its members stay as
// SHOW CREATE TABLE gave them (the binlog's table map, which carries them
// exactly, replaces them at the first row event).
func (s *server) exactLabels(ctx context.Context, id event.TableID, ts *tableSchema) error {
	if s.flavor != "mariadb" {
		return nil
	}
	var cols []int
	for i := range ts.Columns {
		c := &ts.Columns[i]
		if (c.Type == "enum" || c.Type == "set") && slices.ContainsFunc(c.Elems, func(e string) bool { return strings.Contains(e, "?") }) {
			cols = append(cols, i)
		}
	}
	if len(cols) == 0 {
		return nil
	}
	q := labelsBlock(id, ts, cols)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql: table %s: read ENUM/SET members: %w", id, err)
	}
	defer conn.Close()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("mysql: table %s: read ENUM/SET members: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		err := rows.Err()
		if err == nil {
			err = errors.New("no result")
		}
		return fmt.Errorf("mysql: table %s: read ENUM/SET members: %w", id, err)
	}
	if err := rows.Scan(ptrs...); err != nil {
		return fmt.Errorf("mysql: table %s: read ENUM/SET members: %w", id, err)
	}
	for rows.NextResultSet() { // the block's final OK
	}
	for k, i := range cols {
		c := &ts.Columns[i]
		elems, err := decodeLabels(vals[k].String, c.Charset, len(c.Elems))
		if err != nil {
			return fmt.Errorf("mysql: table %s column %s: read ENUM/SET members: %w", id, c.Name, err)
		}
		c.Elems = elems
	}
	return nil
}

// labelsBlock is the anonymous block that returns, for each column, the
// hex of every member's stored bytes, each followed by ','.
func labelsBlock(id event.TableID, ts *tableSchema, cols []int) string {
	var b strings.Builder
	b.WriteString("BEGIN NOT ATOMIC\n  DECLARE i INT;\n")
	for k, i := range cols {
		fmt.Fprintf(&b, "  DECLARE v%d TYPE OF %s.%s;\n  DECLARE r%d LONGTEXT DEFAULT '';\n", k, quoteID(id), quoteName(ts.Columns[i].Name), k)
	}
	for k, i := range cols {
		c := &ts.Columns[i]
		val := "i" // an ENUM takes a number as the member's index
		if c.Type == "set" {
			val = "1 << (i - 1)" // a SET takes it as the member bitmap
		}
		fmt.Fprintf(&b, "  SET i = 1;\n  WHILE i <= %d DO\n    SET v%d = %s;\n    SET r%d = CONCAT(r%d, HEX(v%d), ',');\n    SET i = i + 1;\n  END WHILE;\n",
			len(c.Elems), k, val, k, k, k)
	}
	b.WriteString("  SELECT ")
	for k := range cols {
		if k > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "r%d", k)
	}
	b.WriteString(";\nEND")
	return b.String()
}

// decodeLabels decodes labelsBlock's text for one column.
func decodeLabels(s, charset string, n int) ([]string, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n+1 || parts[n] != "" {
		return nil, fmt.Errorf("%d members in %q, want %d", len(parts)-1, s, n)
	}
	dec, ok := mysqldialect.CharsetDecoder(charset)
	if !ok {
		return nil, fmt.Errorf("character set %s is not supported", charset)
	}
	out := make([]string, n)
	for i := range out {
		raw, err := hex.DecodeString(parts[i])
		if err != nil {
			return nil, err
		}
		if dec != nil {
			out[i] = dec(raw)
		} else {
			out[i] = string(raw)
		}
	}
	return out, nil
}

// listTables lists the base tables outside the system schemas.
func (s *server) listTables(ctx context.Context) ([]event.TableID, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql','sys','information_schema','performance_schema')
		ORDER BY TABLE_SCHEMA, TABLE_NAME`)
	if err != nil {
		return nil, fmt.Errorf("mysql: list tables: %w", err)
	}
	defer rows.Close()
	var out []event.TableID
	for rows.Next() {
		var id event.TableID
		if err := rows.Scan(&id.DB, &id.Table); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// schemaCharsets returns the default character set of every database.
func (s *server) schemaCharsets(ctx context.Context) map[string]string {
	m := map[string]string{}
	rows, err := s.db.QueryContext(ctx, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return m
	}
	defer rows.Close()
	for rows.Next() {
		var n, cs string
		if rows.Scan(&n, &cs) == nil {
			m[n] = cs
		}
	}
	return m
}

// estimateRows returns information_schema's row estimate of a table.
func (s *server) estimateRows(ctx context.Context, id event.TableID) uint64 {
	var n sql.NullInt64
	_ = s.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", id.DB, id.Table).Scan(&n)
	if n.Int64 < 0 {
		return 0
	}
	return uint64(n.Int64)
}

// quoteID quotes db.table for SQL.
func quoteID(id event.TableID) string { return quoteName(id.DB) + "." + quoteName(id.Table) }

func quoteName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// charsets reads collation ids → character set names.
func (s *server) charsets(ctx context.Context) map[uint64]string {
	m := map[uint64]string{63: "binary"}
	rows, err := s.db.QueryContext(ctx, "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
	if err != nil {
		return m
	}
	defer rows.Close()
	for rows.Next() {
		var id uint64
		var cs string
		if rows.Scan(&id, &cs) == nil {
			m[id] = cs
		}
	}
	return m
}

// Problem is one failed preflight check with its fix.
type Problem struct {
	Check string
	Cause string
	Fix   string
	// Warning problems do not stop odsync.
	Warning bool
}

func (p Problem) Error() string {
	return p.Check + ": " + p.Cause + " — fix: " + p.Fix
}

// Check connects to the source and verifies everything capture needs:
// binary logging on, ROW format, FULL row image, replication privileges.
// It returns every problem found; a connection failure is returned as error.
func Check(ctx context.Context, cfg Config) ([]Problem, error) {
	cfg.EnsureDefaults()
	s, err := openServer(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return append(s.check(ctx), s.checkServerID(ctx, cfg.ServerID)...), nil
}

// checkServerID reports a server_id that the server itself or another
// connected replica already uses: two replicas with one id disconnect each
// other in a loop (ERROR 4052/1236).
func (s *server) checkServerID(ctx context.Context, id uint32) []Problem {
	fix := "set source.mysql.server_id to an id no other replica of this server uses, or leave it unset (the default is derived from the host and the state directory)"
	if v, err := s.variable(ctx, "server_id"); err == nil && v == strconv.FormatUint(uint64(id), 10) {
		return []Problem{{Check: "server_id", Cause: "server_id " + v + " is the source server's own id", Fix: fix}}
	}
	rows, err := s.db.QueryContext(ctx, "SHOW SLAVE HOSTS")
	if err != nil {
		return nil // needs REPLICATION MASTER ADMIN on MariaDB; the other checks cover access
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var ps []Problem
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if rows.Scan(ptrs...) != nil {
			continue
		}
		var sid, host, port string
		for i, c := range cols {
			switch strings.ToLower(c) {
			case "server_id":
				sid = vals[i].String
			case "host":
				host = vals[i].String
			case "port":
				port = vals[i].String
			}
		}
		if sid == strconv.FormatUint(uint64(id), 10) {
			ps = append(ps, Problem{Check: "server_id", Warning: true,
				Cause: fmt.Sprintf("a replica (host %q, port %s) is connected with server_id %s; if it is not this odsync instance already running, the two will disconnect each other", host, port, sid),
				Fix:   fix})
		}
	}
	return ps
}

func (s *server) check(ctx context.Context) []Problem {
	var ps []Problem
	if v, err := s.variable(ctx, "log_bin"); err != nil || (v != "1" && !strings.EqualFold(v, "ON")) {
		ps = append(ps, Problem{Check: "binlog", Cause: "binary logging is off (log_bin=" + v + ")",
			Fix: "start the server with --log-bin=<basename> (and --server-id=N)"})
	}
	if v, err := s.variable(ctx, "binlog_format"); err != nil || !strings.EqualFold(v, "ROW") {
		ps = append(ps, Problem{Check: "binlog_format", Cause: "binlog_format is " + v + ", odsync needs ROW",
			Fix: "SET GLOBAL binlog_format = 'ROW' and put binlog_format=ROW in the server config"})
	}
	if v, err := s.variable(ctx, "binlog_row_image"); err != nil || !strings.EqualFold(v, "FULL") {
		ps = append(ps, Problem{Check: "binlog_row_image", Cause: "binlog_row_image is " + v + ", odsync needs FULL",
			Fix: "SET GLOBAL binlog_row_image = 'FULL' and put binlog_row_image=FULL in the server config"})
	}
	if v, err := s.variable(ctx, "binlog_row_metadata"); err == nil && !strings.EqualFold(v, "FULL") {
		ps = append(ps, Problem{Check: "binlog_row_metadata", Warning: true,
			Cause: "binlog_row_metadata is " + v + ": column names come from odsync's schema history alone (DDL parsed from the binlog); with FULL the binlog confirms them and odsync recovers from DDL it cannot parse",
			Fix:   "SET GLOBAL binlog_row_metadata = 'FULL' (MySQL 8.0.1+, MariaDB 10.5+)"})
	}
	if v, err := s.variable(ctx, "binlog_row_value_options"); err == nil && strings.Contains(strings.ToUpper(v), "PARTIAL_JSON") {
		ps = append(ps, Problem{Check: "binlog_row_value_options", Cause: "binlog_row_value_options is PARTIAL_JSON: updates of JSON columns are logged as diffs, not values",
			Fix: "SET GLOBAL binlog_row_value_options = ''"})
	}
	if _, err := s.current(ctx); err != nil {
		ps = append(ps, Problem{Check: "privileges", Cause: err.Error(),
			Fix: "GRANT REPLICATION CLIENT (MariaDB: BINLOG MONITOR) ON *.* TO the odsync user"})
	}
	var grants []string
	if rows, err := s.db.QueryContext(ctx, "SHOW GRANTS"); err == nil {
		for rows.Next() {
			var g string
			if rows.Scan(&g) == nil {
				grants = append(grants, strings.ToUpper(g))
			}
		}
		rows.Close()
	}
	all := strings.Join(grants, "\n")
	if !strings.Contains(all, "ALL PRIVILEGES ON *.*") && !strings.Contains(all, "REPLICATION SLAVE") && !strings.Contains(all, "REPLICATION REPLICA") {
		ps = append(ps, Problem{Check: "privileges", Cause: "the user lacks REPLICATION SLAVE (needed to read the binlog)",
			Fix: "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO the odsync user"})
	}
	return ps
}

// isAccessDenied reports a MySQL privilege error (1045 access denied,
// 1142/1143 table/column access, 1227 "you need the X privilege").
func isAccessDenied(err error) bool {
	var me *driver.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045, 1142, 1143, 1227:
			return true
		}
	}
	return false
}
