package mysql

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// schemaText renders a schema compactly for comparisons.
func schemaText(s *tableSchema) string {
	if s == nil {
		return "<none>"
	}
	var b strings.Builder
	b.WriteString(s.DB + "." + s.Name + " cs=" + s.Charset + " (")
	for i, c := range s.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name + " " + c.rawType())
		if textType(c.Type) || c.Type == "json" {
			b.WriteString(" " + c.Charset)
		}
		if !c.Nullable {
			b.WriteString(" not null")
		}
	}
	b.WriteString(")")
	if len(s.Primary) > 0 {
		b.WriteString(" pk(" + strings.Join(s.Primary, ",") + ")")
	}
	for _, u := range s.Uniques {
		b.WriteString(" uk " + u.Name + "(" + strings.Join(u.Columns, ",") + ")")
	}
	return b.String()
}

func mustCreate(t *testing.T, sql string) *tableSchema {
	t.Helper()
	st := mysqldialect.ParseDDL("db", sql)
	if st.Kind != mysqldialect.DDLCreateTable {
		t.Fatalf("%s: kind %d err %v", sql, st.Kind, st.Err)
	}
	s, err := newTableSchema(st.Tables[0], st.Create, "utf8mb4")
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestCreateTable(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10))",
			"db.t cs=utf8mb4 (id int not null, s varchar(10) utf8mb4) pk(id)"},
		// FLOAT(p) is a DOUBLE for p > 24 (found by the TiDB differential test).
		{"CREATE TABLE t (f FLOAT(30), g FLOAT(10), h FLOAT(7,2))",
			"db.t cs=utf8mb4 (f double, g float, h float(7,2))"},
		// SHOW CREATE TABLE output of MariaDB, with a JSON column and comments.
		{"CREATE TABLE `t` (\n  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,\n  `j` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`j`)),\n" +
			"  `g` varchar(20) CHARACTER SET gbk COLLATE gbk_chinese_ci DEFAULT 'x,y' COMMENT 'a ''quoted'' (comment)',\n  `e` enum('a','b,c','d''e') NOT NULL DEFAULT 'a',\n" +
			"  `ts` timestamp(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3),\n  `d` decimal(65,30) DEFAULT NULL,\n" +
			"  `b` binary(4) DEFAULT NULL, `c` char(3) CHARACTER SET binary,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `uk` (`g`),\n  KEY `k` (`ts`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci",
			"db.t cs=latin1 (id bigint(20) unsigned not null, j json utf8mb4, g varchar(20) gbk, e enum('a','b,c','d''e') latin1 not null, ts timestamp(3) not null, d decimal(65,30), b binary(4), c binary(3)) pk(id) uk uk(g)"},
		{"create table if not exists db2.x (a int, b int, primary key (a, b), unique key (b)) default charset=utf8",
			"db2.x cs=utf8 (a int not null, b int not null) pk(a,b) uk b(b)"},
		{"CREATE TABLE t (`key` int, `index` text, n national varchar(5), bo bool, r real, dp double precision, s serial)",
			"db.t cs=utf8mb4 (key int, index text utf8mb4, n varchar(5) utf8mb3, bo tinyint(1), r double, dp double, s bigint unsigned not null) uk s(s)"},
		{"/* generated */ CREATE TABLE t (a INT) /*!50100 PARTITION BY HASH (a) PARTITIONS 4 */",
			"db.t cs=utf8mb4 (a int)"},
		{"CREATE TABLE t (a TEXT(300) CHARACTER SET utf8mb4, b CHAR(4) BINARY, c VARCHAR(3) CHARSET binary)",
			"db.t cs=utf8mb4 (a text utf8mb4, b char(4) utf8mb4, c varbinary(3))"},
		{"CREATE TABLE t (a INT, v INT AS (a+1) VIRTUAL, CONSTRAINT c1 CHECK (a > 0))",
			"db.t cs=utf8mb4 (a int, v int)"},
	}
	for _, tt := range tests {
		got := schemaText(mustCreate(t, tt.sql))
		if got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.sql, got, tt.want)
		}
	}
}

func TestAlterTable(t *testing.T) {
	base := "CREATE TABLE t (id INT NOT NULL, a VARCHAR(10), b INT, PRIMARY KEY (id))"
	tests := []struct{ alter, want string }{
		{"ALTER TABLE t ADD COLUMN c DATETIME(6) NOT NULL AFTER id",
			"db.t cs=utf8mb4 (id int not null, c datetime(6) not null, a varchar(10) utf8mb4, b int) pk(id)"},
		{"ALTER TABLE t ADD c INT FIRST, DROP COLUMN b, ALGORITHM=INPLACE, LOCK=NONE",
			"db.t cs=utf8mb4 (c int, id int not null, a varchar(10) utf8mb4) pk(id)"},
		{"alter table `db`.`t` change `a` `aa` varchar(20) character set latin1 not null",
			"db.t cs=utf8mb4 (id int not null, aa varchar(20) latin1 not null, b int) pk(id)"},
		{"ALTER TABLE t MODIFY b BIGINT UNSIGNED FIRST",
			"db.t cs=utf8mb4 (b bigint unsigned, id int not null, a varchar(10) utf8mb4) pk(id)"},
		{"ALTER TABLE t RENAME COLUMN id TO pk, ADD UNIQUE KEY ub (b)",
			"db.t cs=utf8mb4 (pk int not null, a varchar(10) utf8mb4, b int) pk(pk) uk ub(b)"},
		{"ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, b)",
			"db.t cs=utf8mb4 (id int not null, a varchar(10) utf8mb4, b int not null) pk(id,b)"},
		{"ALTER TABLE t CONVERT TO CHARACTER SET gbk",
			"db.t cs=gbk (id int not null, a varchar(10) gbk, b int) pk(id)"},
		{"ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT, ADD COLUMN (x INT, y TEXT), ADD INDEX idx (b)",
			"db.t cs=utf8mb4 (id int not null, a varchar(10) utf8mb4, b int, x int, y text utf8mb4) pk(id)"},
		{"ALTER TABLE t DROP COLUMN IF EXISTS zz, ENGINE=InnoDB",
			"db.t cs=utf8mb4 (id int not null, a varchar(10) utf8mb4, b int) pk(id)"},
		{"ALTER TABLE t ADD j LONGTEXT, ADD CONSTRAINT CHECK (json_valid(j))",
			"db.t cs=utf8mb4 (id int not null, a varchar(10) utf8mb4, b int, j json utf8mb4) pk(id)"},
	}
	for _, tt := range tests {
		s := mustCreate(t, base)
		st := mysqldialect.ParseDDL("db", tt.alter)
		if st.Kind != mysqldialect.DDLAlterTable {
			t.Fatalf("%s: kind %d err %v", tt.alter, st.Kind, st.Err)
		}
		n, err := s.alter(st.Specs)
		if err != nil {
			t.Errorf("%s: %v", tt.alter, err)
			continue
		}
		if got := schemaText(n); got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.alter, got, tt.want)
		}
		if schemaText(s) != schemaText(mustCreate(t, base)) {
			t.Errorf("%s changed the base schema", tt.alter)
		}
	}
	// Errors that mean the history lost track.
	for _, bad := range []string{"ALTER TABLE t DROP COLUMN nope", "ALTER TABLE t ADD COLUMN a INT", "ALTER TABLE t ADD c INT AFTER nope"} {
		st := mysqldialect.ParseDDL("db", bad)
		if _, err := mustCreate(t, base).alter(st.Specs); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestEventTable(t *testing.T) {
	s := mustCreate(t, "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL, d DECIMAL(10,2), v VARCHAR(7) CHARACTER SET gbk, "+
		"dt DATETIME(6), bt BIT(5), e ENUM('x','y'), bl MEDIUMBLOB, UNIQUE KEY u (id))")
	et := s.eventTable()
	if et.Version == 0 || len(et.Key) != 1 || et.Key[0] != 0 {
		t.Fatalf("key/version: %+v", et)
	}
	want := []event.Column{
		{Name: "id", Type: event.TypeBigInt, Unsigned: true, RawType: "bigint unsigned"},
		{Name: "d", Type: event.TypeDecimal, Nullable: true, Precision: 10, Scale: 2, RawType: "decimal(10,2)"},
		{Name: "v", Type: event.TypeVarchar, Nullable: true, Length: 7, Charset: "gbk", RawType: "varchar(7)"},
		{Name: "dt", Type: event.TypeDateTime, Nullable: true, Scale: 6, RawType: "datetime(6)"},
		{Name: "bt", Type: event.TypeBit, Nullable: true, Length: 5, RawType: "bit(5)"},
		{Name: "e", Type: event.TypeEnum, Nullable: true, Elems: []string{"x", "y"}, Charset: "utf8mb4", RawType: "enum('x','y')"},
		{Name: "bl", Type: event.TypeBlob, Nullable: true, Length: 16777215, Charset: "binary", RawType: "mediumblob"},
	}
	for i, w := range want {
		g := et.Columns[i]
		if g.Name != w.Name || g.Type != w.Type || g.Unsigned != w.Unsigned || g.Nullable != w.Nullable || g.Length != w.Length ||
			g.Precision != w.Precision || g.Scale != w.Scale || g.Charset != w.Charset || g.RawType != w.RawType || strings.Join(g.Elems, ",") != strings.Join(w.Elems, ",") {
			t.Errorf("column %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	// DECIMAL / NUMERIC without (p,s) is DECIMAL(10,0) (MySQL's default), a
	// known precision: the ODS keeps DECIMAL(10,0), not a STRING for an
	// unknown precision.
	for i, c := range mustCreate(t, "CREATE TABLE t (a DECIMAL, b NUMERIC, c DEC(5), d FIXED(12,3))").eventTable().Columns {
		want := [][2]uint8{{10, 0}, {10, 0}, {5, 0}, {12, 3}}[i]
		if c.Type != event.TypeDecimal || c.Precision != want[0] || c.Scale != want[1] {
			t.Errorf("column %s: %s(%d,%d), want decimal(%d,%d)", c.Name, c.Type, c.Precision, c.Scale, want[0], want[1])
		}
	}
	// A NULLable unique key is no key.
	if k := mustCreate(t, "CREATE TABLE t (a INT, UNIQUE KEY (a))").eventTable().Key; len(k) != 0 {
		t.Errorf("nullable unique key chosen: %v", k)
	}
}

func TestParseStart(t *testing.T) {
	tests := []struct {
		in   string
		want string
		bad  bool
	}{
		{"", "latest", false},
		{"EARLIEST", "earliest", false},
		{"gtid:0-1-100,1-2-3", "gtid:0-1-100,1-2-3", false},
		{"0-1-100", "gtid:0-1-100", false},
		{"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5", "gtid:3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5", false},
		{"file:mysql-bin.000003:1234", "file:mysql-bin.000003:1234", false},
		{"mysql-bin.000003:4", "file:mysql-bin.000003:4", false},
		{"time:2026-01-02T03:04:05Z", "time:2026-01-02T03:04:05Z", false},
		{"2026-01-02 03:04:05", "time:2026-01-02T03:04:05Z", false},
		{"file:x:2", "", true},
		{"nonsense", "", true},
	}
	for _, tt := range tests {
		s, err := ParseStart(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%q: no error", tt.in)
			}
			continue
		}
		if err != nil || s.String() != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.in, s, err, tt.want)
		}
	}
}

func TestShadowTables(t *testing.T) {
	s := &Source{capture: func(id event.TableID) bool { return id.DB == "db" }, log: discardLogger()}
	for _, tc := range []struct {
		table string
		want  bool
	}{{"t", true}, {"_t_gho", false}, {"_t_ghc", false}, {"_t_del", false}, {"_t_20260101_del", false}, {"_t_new", false}, {"_t_old", false}, {"_x_y_old", false}, {"_t_gho2", true}} {
		if got := s.captures(event.TableID{DB: "db", Table: tc.table}); got != tc.want {
			t.Errorf("%s: %v", tc.table, got)
		}
	}
	// Only shadows of captured tables are left out.
	s = &Source{capture: func(id event.TableID) bool { return id.Table != "t" }, log: discardLogger()}
	if !s.captures(event.TableID{DB: "db", Table: "_t_old"}) {
		t.Error("_t_old of an uncaptured t was left out")
	}
	s.cfg.CaptureShadowTables = true
	s.capture = func(event.TableID) bool { return true }
	if !s.captures(event.TableID{DB: "db", Table: "_t_gho"}) {
		t.Error("capture_shadow_tables: true did not capture _t_gho")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
