package tidb

import (
	"reflect"
	"strings"
	"testing"

	cmysql "github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
)

func testReader(t *testing.T, create string, clustered bool) *tableReader {
	t.Helper()
	id := event.TableID{DB: "d", Table: "t"}
	tbl, err := cmysql.TableFromCreate(id, create)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := cmysql.NewSnapshotRows(tbl, "tidb", "")
	if err != nil {
		t.Fatal(err)
	}
	r := &tableReader{id: id, tbl: tbl, rows: rows}
	if clustered {
		for _, k := range tbl.Key {
			c := &tbl.Columns[k]
			r.keyNames = append(r.keyNames, c.Name)
			r.keyCols = append(r.keyCols, c)
			r.keyBind = append(r.keyBind, bindExpr(c))
		}
	} else {
		r.keyNames, r.keyBind = []string{rowID}, []string{"?"}
	}
	return r
}

// TestChunkQuery: keyset pagination binds every key in its own type.
func TestChunkQuery(t *testing.T) {
	r := testReader(t, "CREATE TABLE `t` (`a` varbinary(8) NOT NULL, `b` decimal(20,5) NOT NULL, `c` bigint(20) unsigned NOT NULL, `v` enum('x','y'), PRIMARY KEY (`a`,`b`,`c`) /*T![clustered_index] CLUSTERED */) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin", true)
	q, args, err := r.query(nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT `a`, `b`, `c`, CAST(`v`+0 AS UNSIGNED), HEX(`a`), CAST(`b` AS CHAR), CAST(`c` AS CHAR) FROM `d`.`t` ORDER BY `a`, `b`, `c` LIMIT ?"; q != want || !reflect.DeepEqual(args, []any{7}) {
		t.Errorf("first chunk:\n%s %v\nwant\n%s", q, args, want)
	}
	q, args, err = r.query([]string{"00FF", "-1.50000", "18446744073709551615"}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(q, "WHERE (`a`, `b`, `c`) > (UNHEX(?), CAST(? AS DECIMAL(20,5)), ?)") {
		t.Errorf("next chunk: %s", q)
	}
	if !reflect.DeepEqual(args, []any{"00FF", "-1.50000", uint64(18446744073709551615), 7}) {
		t.Errorf("args %#v", args)
	}
	if _, _, err := r.query([]string{"00"}, 7); err == nil {
		t.Error("a stored key of another width was accepted")
	}
	nk := testReader(t, "CREATE TABLE `t` (`a` int, `b` varchar(10)) DEFAULT CHARSET=utf8mb4", false)
	q, args, err = nk.query([]string{"-42"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT `a`, `b`, `_tidb_rowid` FROM `d`.`t` WHERE `_tidb_rowid` > ? ORDER BY `_tidb_rowid` LIMIT ?"; q != want || !reflect.DeepEqual(args, []any{int64(-42), 3}) {
		t.Errorf("_tidb_rowid chunk: %s %#v", q, args)
	}
}

// TestCheckpointRoundTrip: the snapshot checkpoint is recognized and
// decodes to what was encoded; a Kafka checkpoint is not one.
func TestCheckpointRoundTrip(t *testing.T) {
	cp := Checkpoint{TSO: 451234567890123456, Tables: 3, Next: 2, Active: []TableCheckpoint{{Index: 1, After: []string{"k\x00`'"}, Rows: 9}}, Rows: 30}
	b := encode(cp)
	if !IsCheckpoint(b) {
		t.Fatal("not recognized")
	}
	got, err := DecodeCheckpoint(b)
	cp.Kind = checkpointKind
	if err != nil || !reflect.DeepEqual(got, cp) {
		t.Fatalf("%+v %v", got, err)
	}
	if IsCheckpoint([]byte(`{"kind":"kafka","partitions":[]}`)) {
		t.Error("a Kafka checkpoint taken for a snapshot checkpoint")
	}
}

// TestRefineConvert: ENUM indexes and SET bitmasks become members with
// the snapshot's conversion; integers take the column's signedness.
func TestRefineConvert(t *testing.T) {
	r := testReader(t, "CREATE TABLE `t` (`id` bigint(20) NOT NULL, `e` enum('a','ü'), `s` set('x','y','z'), `u` bigint(20) unsigned, `i` int, PRIMARY KEY (`id`)) DEFAULT CHARSET=utf8mb4", true)
	rt := &refined{tbl: r.tbl, rows: r.rows, conv: []bool{false, true, true, false, false}}
	img := []event.Value{event.Int(1), event.Uint(2), event.Uint(5), event.Int(7), event.Uint(3)}
	out, err := rt.convert(img)
	if err != nil {
		t.Fatal(err)
	}
	want := []event.Value{event.Int(1), event.Enum(2, "ü"), event.Set(5, "x,z"), event.Uint(7), event.Int(3)}
	for i := range want {
		if out[i].Kind() != want[i].Kind() || out[i].Text() != want[i].Text() {
			t.Errorf("column %d: %v (%v), want %v (%v)", i, out[i].Text(), out[i].Kind(), want[i].Text(), want[i].Kind())
		}
	}
	if out, _ := rt.convert(nil); out != nil {
		t.Error("a nil image became non-nil")
	}
}
