package odpsemu

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseTypeString(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "bigint", want: "BIGINT"},
		{in: "decimal", want: "DECIMAL(38,18)"},
		{in: "DECIMAL(10)", want: "DECIMAL(10,0)"},
		{in: "decimal( 12 , 3 )", want: "DECIMAL(12,3)"},
		{in: "varchar(20)", want: "VARCHAR(20)"},
		{in: "char(255)", want: "CHAR(255)"},
		{in: "timestamp_ntz", want: "TIMESTAMP_NTZ"},
		{in: "array<map<string,array<decimal(5,1)>>>", want: "ARRAY<MAP<STRING,ARRAY<DECIMAL(5,1)>>>"},
		// The SDK's DDL back-quotes struct fields; the emulator reports them bare.
		{in: "STRUCT<`a`:BIGINT,`b`:STRUCT<`c`:STRING>>", want: "STRUCT<a:BIGINT,b:STRUCT<c:STRING>>"},
		{in: "struct<a:int comment 'x', b:json>", want: "STRUCT<a:INT,b:JSON>"},
		{in: "char(256)", err: "length of CHAR must be 1..255"},
		{in: "varchar(0)", err: "length of VARCHAR"},
		{in: "decimal(39,2)", err: "precision must be 1..38"},
		{in: "decimal(10,19)", err: "scale"},
		{in: "map<array<int>,int>", err: "MAP key type must be primitive"},
		{in: "struct<`a b`:int>", err: "must consist of letters"},
		{in: "struct<a:int,A:int>", err: "duplicate STRUCT field"},
		{in: "interval_day_time", err: "not supported as a column type"},
		{in: "geography", err: "not supported as a column type"},
		{in: "number", err: "unknown type"},
		{in: "array<int", err: `expected ">"`},
		{in: "int int", err: "unexpected"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseTypeString(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			again, err := parseTypeString(got.String())
			if err != nil || again.String() != tc.want {
				t.Fatalf("round trip: %v %v", again, err)
			}
		})
	}
}

// describeStmt renders a parsed statement compactly for comparison.
func describeStmt(st any) string {
	name := func(q qname) string { return strings.Join([]string{q.project, q.schema, q.table}, ".") }
	cols := func(cs []colDef) string {
		var parts []string
		for _, c := range cs {
			s := c.name + " " + c.typ.String()
			if c.notNull {
				s += " NOT NULL"
			}
			if c.comment != "" {
				s += fmt.Sprintf(" COMMENT %q", c.comment)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ", ")
	}
	specs := func(ss [][]partSpecKV) string {
		var parts []string
		for _, s := range ss {
			var kv []string
			for _, x := range s {
				kv = append(kv, x.key+"="+x.value)
			}
			parts = append(parts, "("+strings.Join(kv, ",")+")")
		}
		return strings.Join(parts, " ")
	}
	switch s := st.(type) {
	case *createTableStmt:
		return fmt.Sprintf("CREATE %s ifnot=%v cols=[%s] pk=%v comment=%q part=[%s] life=%d cluster=%s%v sort=%v buckets=%d props=%v",
			name(s.name), s.ifNotExists, cols(s.cols), s.primaryKey, s.comment, cols(s.partCols), s.lifecycle,
			s.clusterType, s.clusterCols, s.sortCols, s.buckets, s.props)
	case *addColumnsStmt:
		return fmt.Sprintf("ADDCOLS %s ifnot=%v [%s]", name(s.name), s.ifNotExists, cols(s.cols))
	case *addPartitionStmt:
		return fmt.Sprintf("ADDPART %s ifnot=%v %s", name(s.name), s.ifNotExists, specs(s.specs))
	case *dropPartitionStmt:
		return fmt.Sprintf("DROPPART %s ifexists=%v %s", name(s.name), s.ifExists, specs(s.specs))
	case *dropTableStmt:
		return fmt.Sprintf("DROP %s ifexists=%v", name(s.name), s.ifExists)
	}
	return fmt.Sprintf("%T", st)
}

func TestParseScript(t *testing.T) {
	for _, tc := range []struct{ name, sql, want, err string }{
		{
			name: "SDK Tables.Create DDL with primary key",
			sql: "create table if not exists test_project.`pk_tbl` (\n    `id` BIGINT not null comment 'key',\n    `v` STRING  \n,primary key( `id`))\n" +
				"clustered by (`id`)\nINTO 4 BUCKETS\nTBLPROPERTIES ('transactional'='true')\nlifecycle 7;",
			want: `CREATE test_project..pk_tbl ifnot=true cols=[id BIGINT NOT NULL COMMENT "key", v STRING] pk=[id] comment="" part=[] life=7 cluster=hash[id] sort=[] buckets=4 props=map[transactional:true]`,
		},
		{
			name: "SDK DDL without if not exists, partitioned, escaped comment",
			sql:  "create table  test_project.`t` (\n    `a` STRUCT<`x`:INT>  ,\n    `b` DOUBLE  comment 'it\\'s'\n)\ncomment 'tbl'\npartitioned by (`pt` STRING comment 'day', `h` BIGINT);",
			want: `CREATE test_project..t ifnot=false cols=[a STRUCT<x:INT>, b DOUBLE COMMENT "it's"] pk=[] comment="tbl" part=[pt STRING COMMENT "day", h BIGINT] life=-1 cluster=[] sort=[] buckets=0 props=map[]`,
		},
		{
			name: "set statements and comments are ignored",
			sql:  "set odps.sql.type.system.odps2=true;\n-- a comment\nCREATE TABLE p.s.t (x INT) /* c */ RANGE CLUSTERED BY (x) SORTED BY (x desc)",
			want: `CREATE p.s.t ifnot=false cols=[x INT] pk=[] comment="" part=[] life=-1 cluster=range[x] sort=[{x desc}] buckets=0 props=map[]`,
		},
		{name: "add columns", sql: "alter table test_project.`t` add columns if not exists (`c` INT comment 'new', `d` STRING);",
			want: `ADDCOLS test_project..t ifnot=true [c INT COMMENT "new", d STRING]`},
		{name: "add column singular", sql: "alter table t add column id3 string;", want: `ADDCOLS ..t ifnot=false [id3 STRING]`},
		{name: "add partition (SDK form)", sql: "alter table test_project.`t` add if not exists\npartition (pt='p0',h='1')\npartition (pt='p1',h=2)\n;",
			want: `ADDPART test_project..t ifnot=true (pt=p0,h=1) (pt=p1,h=2)`},
		{name: "drop partitions", sql: "alter table t drop if exists partition (pt='a'),\n partition (pt='b');", want: `DROPPART ..t ifexists=true (pt=a) (pt=b)`},
		{name: "drop table", sql: "drop table if exists test_project.`t`;", want: `DROP test_project..t ifexists=true`},
		{name: "only set", sql: "set a=b;", want: ""},
		{name: "select", sql: "select * from t;", err: "statement SELECT is not supported by the emulator"},
		{name: "insert", sql: "INSERT INTO t VALUES (1);", err: "statement INSERT is not supported by the emulator"},
		{name: "create view", sql: "create view v as select 1;", err: "CREATE VIEW is not supported by the emulator"},
		{name: "ctas", sql: "create table t as select 1;", err: "CREATE TABLE ... AS is not supported"},
		{name: "SDK AddPartitions(false) bug", sql: "alter table p.`t` addpartition (pt='p0')\n;", err: "ALTER TABLE ... ADDPARTITION is not supported"},
		{name: "rename", sql: "alter table t rename to u;", err: "ALTER TABLE ... RENAME is not supported"},
		{name: "truncate", sql: "truncate table t;", err: "statement TRUNCATE is not supported"},
		{name: "default value", sql: "create table t (a int default 1);", err: "column DEFAULT value is not supported"},
		{name: "bad type", sql: "create table t (a inte);", err: "[1,19] Parse exception - unknown type"},
		{name: "unterminated string", sql: "create table t (a int comment 'x);", err: "unterminated string"},
		{name: "missing paren", sql: "create table t (a int;", err: "Parse exception"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmts, err := parseScript(tc.sql)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				if !strings.HasPrefix(err.Error(), "ODPS-") {
					t.Fatalf("err %q lacks the ODPS-NNNNNNN prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range stmts {
				got = append(got, describeStmt(st))
			}
			if strings.Join(got, "\n") != tc.want {
				t.Fatalf("got  %s\nwant %s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

func TestParseKVSpec(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pt=p1,hh=3", "pt=p1 hh=3"},
		{"pt=p1/hh=3", "pt=p1 hh=3"},
		{"pt='p1', hh=\"3\"", "pt=p1 hh=3"},
		{"", ""},
	} {
		kvs, err := parseKVSpec(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		var parts []string
		for _, kv := range kvs {
			parts = append(parts, kv.key+"="+kv.value)
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Fatalf("%q: got %q want %q", tc.in, got, tc.want)
		}
	}
	if _, err := parseKVSpec("pt"); err == nil {
		t.Fatal("spec without '=' accepted")
	}
}
