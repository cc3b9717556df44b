package warehouse

import (
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// TestFromODS: each source type comes back from its ODS representation
// (docs/types.md) as the value the MySQL capture produces.
func TestFromODS(t *testing.T) {
	col := func(typ string) *event.Column {
		c, err := sourceColumn(typ)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		return &c
	}
	for _, tc := range []struct {
		typ  string
		in   event.Value
		want event.Value
	}{
		{"int", event.Int(-5), event.Int(-5)},
		{"int unsigned", event.Int(4294967295), event.Uint(4294967295)},
		{"bigint unsigned", event.Decimal("18446744073709551615"), event.Uint(18446744073709551615)},
		{"bit(64)", event.Decimal("18446744073709551615"), event.Bits(18446744073709551615)},
		{"bit(8)", event.Int(255), event.Bits(255)},
		{"year", event.Int(2155), event.Year(2155)},
		{"decimal(65,30)", event.String("-1.500000000000000000000000000000"), event.Decimal("-1.500000000000000000000000000000")},
		{"decimal(12,2)", event.Decimal("3.50"), event.Decimal("3.50")},
		{"float", event.Float32(1.5), event.Float32(1.5)},
		{"double", event.Float64(-2.25), event.Float64(-2.25)},
		{"varchar(10)", event.String("x"), event.String("x")},
		{"enum('a','b c')", event.String("b c"), event.Enum(2, "b c")},
		{"set('x','y','z')", event.String("x,z"), event.Set(5, "x,z")},
		{"set('x','y')", event.String(""), event.Set(0, "")},
		{"json", event.String(`{"a":1}`), event.JSON(`{"a":1}`)},
		{"varbinary(4)", event.Bytes([]byte{0, 1}), event.Bytes([]byte{0, 1})},
		{"time(6)", event.String("-838:59:59.000000"), event.TimeMicros(-(838*3600 + 59*60 + 59) * 1e6)},
		{"date", event.Date(2024, 5, 1), event.Date(2024, 5, 1)},
		{"datetime(6)", event.DateTime(9999, 12, 31, 23, 59, 59, 999999), event.DateTime(9999, 12, 31, 23, 59, 59, 999999)},
		{"timestamp(6)", event.TimestampMicros(1), event.TimestampMicros(1)},
		{"uuid", event.String("00000000-0000-0000-0000-000000000000"), event.String("00000000-0000-0000-0000-000000000000")},
		{"int", event.Null, event.Null},
	} {
		got, err := fromODS(col(tc.typ), tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %s, %v; want %s", tc.typ, tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		typ string
		in  event.Value
	}{
		{"int unsigned", event.Int(-1)},
		{"date", event.Int(1)},
		{"set('x')", event.String("y")},
		{"int", event.String("abc")},
	} {
		if got, err := fromODS(col(tc.typ), tc.in); err == nil {
			t.Errorf("%s %s: %s, want an error", tc.typ, tc.in, got)
		}
	}
}

// TestFromRawText: values the forward path kept in _raw come back.
func TestFromRawText(t *testing.T) {
	for _, tc := range []struct {
		typ, text string
		want      event.Value
	}{
		{"date", "0000-00-00", event.Date(0, 0, 0)},
		{"date", "2024-00-15", event.Date(2024, 0, 15)},
		{"datetime(6)", "0000-00-00 00:00:00", event.DateTime(0, 0, 0, 0, 0, 0, 0)},
		{"timestamp(6)", "0000-00-00 00:00:00", event.TimestampMicros(0)},
		{"timestamp", "1970-01-01 00:00:01", event.Timestamp(time.Unix(1, 0))},
		{"bigint", "-9223372036854775808", event.Int(-9223372036854775808)},
		{"varbinary(4)", "AAE=", event.Bytes([]byte{0, 1})},
	} {
		c, err := sourceColumn(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fromText(&c, tc.text)
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %s, %v; want %s", tc.typ, tc.text, got, err, tc.want)
		}
	}
}

// TestDecodeChangeRow: a change-log row becomes a change with its _op, _seq
// and commit time; a NULL typed value with text in _raw takes the text;
// bad metadata is an error naming the table and row.
func TestDecodeChangeRow(t *testing.T) {
	src := (&event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeInt, RawType: "int"}, {Name: "dt", Type: event.TypeDate, RawType: "date", Nullable: true}}, Key: []int{0}}).Seal()
	m, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := m.Target(src)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := odsTable(tg.Name, tg.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	if tb.src.ID != src.ID || len(tb.src.Key) != 1 || tb.src.Columns[1].Type != event.TypeDate {
		t.Fatalf("table from the schema file: %+v", tb.src)
	}
	row := make([]event.Value, len(tb.layout.Columns))
	set := func(name string, v event.Value) { row[tb.layout.ColumnIndex(name)] = v }
	set("_op", event.String("U"))
	set("_seq", event.Int(42))
	set("_commit_ts", event.TimestampMicros(7))
	set("_pos", event.String("bin.1:4"))
	set("_raw", event.String(`{"dt":"0000-00-00"}`))
	set("id", event.Int(3))
	set("dt", event.Null)
	ch, err := tb.decode(row, rowAt{"o", 1})
	if err != nil {
		t.Fatal(err)
	}
	if ch.op != event.OpUpdate || ch.seq != 42 || ch.commit != 7 || ch.row[0] != event.Int(3) || ch.row[1] != event.Date(0, 0, 0) {
		t.Errorf("change: %+v", ch)
	}
	set("_op", event.String("X"))
	if _, err := tb.decode(row, rowAt{"o", 1}); err == nil || !strings.Contains(err.Error(), tg.Name) || !strings.Contains(err.Error(), "object o row 1") {
		t.Errorf("bad _op: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := S3Config{}
	c.EnsureDefaults()
	c.Read.Mode = "sometimes"
	c.External = []TableConfig{{Name: "a/b", Format: "orc"}}
	c.EnsureDefaults()
	err := c.Validate("source.s3")
	for _, want := range []string{"source.s3.bucket: required", "source.s3.mode", "source.s3.external[0].name", "source.s3.external[0].format", "source.s3.external[0].columns"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	ok := S3Config{Connection: s3sink.Connection{Bucket: "b"}}
	ok.EnsureDefaults()
	if err := ok.Validate("source.s3"); err != nil || ok.Read.Mode != ModeIncremental || ok.Read.BatchRows != 5000 {
		t.Errorf("defaults: %+v, %v", ok.Read, err)
	}
}

func TestCheckpoint(t *testing.T) {
	c := Checkpoint{Upto: 9, Table: "ods_a", Rows: 3}
	got, err := DecodeCheckpoint(c.encode())
	if err != nil || got.Upto != 9 || got.Table != "ods_a" || got.Rows != 3 || got.Loaded {
		t.Errorf("round trip: %+v, %v", got, err)
	}
	if _, err := DecodeCheckpoint([]byte(`{"kind":"tidb-snapshot"}`)); err == nil {
		t.Error("another kind's checkpoint accepted")
	}
}

// TestMergeVersions: evolve mode's versions of a table (<name>, <name>_v2,
// <name>_v3) become one table, the newest, reading the older ones with
// their columns matched by name (a changed type through its text, a
// dropped column NULL); two tables of one source table that are not
// versions are an error; the result is in base name order.
func TestMergeVersions(t *testing.T) {
	mk := func(id event.TableID, name string, ver int, cols ...event.Column) *table {
		t.Helper()
		m, err := schema.New(schema.Config{System: schema.SystemFiles})
		if err != nil {
			t.Fatal(err)
		}
		src := (&event.Table{ID: id, Columns: cols, Key: []int{0}}).Seal()
		tg, err := m.Target(src)
		if err != nil {
			t.Fatal(err)
		}
		if name != "" {
			tg.BaseName, tg.Name, tg.Version = tg.Name, name, ver
		}
		tb, err := odsTable(tg.Name, tg.SchemaJSON())
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	idc := event.Column{Name: "id", Type: event.TypeInt, RawType: "int"}
	dec := event.Column{Name: "a", Type: event.TypeDecimal, Precision: 12, Scale: 2, RawType: "decimal(12,2)", Nullable: true}
	str := event.Column{Name: "a", Type: event.TypeVarchar, Length: 40, RawType: "varchar(40)", Nullable: true}
	gone := event.Column{Name: "gone", Type: event.TypeInt, RawType: "int", Nullable: true}
	extra := event.Column{Name: "extra", Type: event.TypeInt, RawType: "int", Nullable: true}
	x := event.TableID{DB: "d", Table: "x"}
	v1 := mk(x, "", 0, idc, dec, gone)
	v3 := mk(x, v1.name+"_v3", 3, idc, str, extra)
	v2 := mk(x, v1.name+"_v2", 2, idc, str, gone)
	other := mk(event.TableID{DB: "d", Table: "a"}, "", 0, idc)
	out, err := mergeVersions([]*table{v3, other, v1, v2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0] != other || out[1] != v3 || v3.base != v1.name || len(v3.older) != 2 || v3.older[0].t != v1 || v3.older[1].t != v2 {
		t.Fatalf("merged: %d tables, %+v", len(out), out)
	}
	if ps := v3.parts(); len(ps) != 3 || ps[0] != v1 || ps[2] != v3 {
		t.Errorf("parts: %v", ps)
	}
	// A row of the first version, as the newest version's source row.
	row := make([]event.Value, len(v1.layout.Columns))
	set := func(name string, v event.Value) { row[v1.layout.ColumnIndex(name)] = v }
	set("_op", event.String("I"))
	set("_seq", event.Int(5))
	set("id", event.Int(1))
	set("a", event.Decimal("3.50"))
	set("gone", event.Int(9))
	ch, err := v3.decodeUnit(unit{ver: v1}, row, rowAt{"o", 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := []event.Value{event.Int(1), event.String("3.50"), event.Null}; len(ch.row) != 3 || ch.row[0] != want[0] || ch.row[1] != want[1] || ch.row[2] != want[2] || ch.seq != 5 {
		t.Errorf("v1 row as v3: %+v", ch)
	}

	// Two ODS tables of one source table that are not versions.
	a := mk(x, "", 0, idc, dec)
	b := mk(x, "ods_elsewhere", 1, idc, dec)
	if _, err := mergeVersions([]*table{a, b}); err == nil || !strings.Contains(err.Error(), "d.x") || !strings.Contains(err.Error(), "ods_elsewhere") {
		t.Errorf("two unrelated tables of one source: %v", err)
	}
}
