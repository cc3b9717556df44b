package odpsemu

import (
	"strings"
	"testing"
)

func TestChangeColumnWidens(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, _ := clients(srv, "", "")
	execSQL(t, o, "create table w (a INT, d DECIMAL(10,2), s VARCHAR(10), f FLOAT);")
	execSQL(t, o, "alter table w change column a a BIGINT;")
	execSQL(t, o, "alter table w change column d d DECIMAL(20,2);")
	execSQL(t, o, "alter table w change s s STRING;")
	tbl := o.Table("w")
	if err := tbl.Load(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range tbl.Schema().Columns {
		got = append(got, c.Name+" "+c.Type.Name())
	}
	if s := strings.Join(got, ", "); !strings.Contains(s, "a BIGINT") || !strings.Contains(s, "d DECIMAL(20,2)") || !strings.Contains(s, "s STRING") {
		t.Fatalf("columns after widening: %s", s)
	}
	for _, bad := range []string{
		"alter table w change column a a INT;",              // narrowing
		"alter table w change column f f DOUBLE;",           // stored bytes differ
		"alter table w change column d d DECIMAL(20,4);",    // scale change
		"alter table w change column a b BIGINT;",           // rename
		"alter table w change column nosuch nosuch BIGINT;", // unknown column
	} {
		if err := tryExecSQL(o, bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
