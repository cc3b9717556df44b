package event

import (
	"errors"
	"math"
	"testing"
	"time"
	"unsafe"
)

func testTable() *Table {
	return (&Table{ID: TableID{DB: "shop", Table: "orders"}, Key: []int{0},
		Columns: []Column{
			{Name: "id", Type: TypeBigInt, Unsigned: true, RawType: "bigint unsigned"},
			{Name: "amount", Type: TypeDecimal, Precision: 65, Scale: 30, Nullable: true},
			{Name: "state", Type: TypeEnum, Elems: []string{"new", "paid"}},
		}}).Seal()
}

func TestEventRoundTrip(t *testing.T) {
	tbl := testTable()
	values := []Value{
		Null, Int(math.MinInt64), Uint(math.MaxUint64), Float32(1.5), Float64(-2.25e300),
		Decimal("-12345678901234567890123456789012345.123456789012345678901234567890"),
		String("héllo 😀"), Bytes([]byte{0, 0xff, 0x10}), Date(0, 0, 0), Date(2024, 2, 29),
		DateTime(9999, 12, 31, 23, 59, 59, 999999), TimestampMicros(-1), TimeMicros(-(838*3600 + 59*60 + 59) * 1e6),
		Year(0), Year(2155), JSON(`{"a":[1,2]}`), Bits(1<<63 | 5), Enum(2, "paid"), Set(5, "a,c"),
	}
	in := Event{Op: OpUpdate, Source: tbl.ID, Table: tbl, Before: values, After: values[:3],
		CommitTime: time.Date(2026, 11, 21, 8, 0, 0, 123456000, time.UTC).UnixMicro(),
		Pos:        Position{File: "binlog.000007", Offset: 4242, GTID: "0-1-77"}, TxnEnd: true}
	b := AppendEvent(nil, &in)
	if TableVersion(b) != tbl.Version {
		t.Fatalf("TableVersion = %x, want %x", TableVersion(b), tbl.Version)
	}
	out, err := DecodeEvent(b, func(v uint64) (*Table, error) {
		if v != tbl.Version {
			return nil, errors.New("unknown version")
		}
		return tbl, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Op != in.Op || out.Source != in.Source || out.Table != tbl || out.CommitTime != in.CommitTime ||
		out.Pos != in.Pos || !out.TxnEnd || len(out.Before) != len(values) || len(out.After) != 3 {
		t.Fatalf("decoded %+v", out)
	}
	for i, v := range values {
		if !out.Before[i].Equal(v) {
			t.Errorf("value %d: got %v, want %v", i, out.Before[i], v)
		}
	}
	if out.Origin != 0 {
		t.Fatalf("Origin = %d, want 0", out.Origin)
	}
	// Origin (odsync-native Kafka events) round-trips too.
	in.Origin = 1<<40 + 7
	bo := AppendEvent(nil, &in)
	if out, err := DecodeEvent(bo, func(uint64) (*Table, error) { return tbl, nil }); err != nil || out.Origin != in.Origin || out.ODSSeq() != in.Origin {
		t.Fatalf("with Origin: %+v, %v", out.Origin, err)
	}
	// Every truncation is an error, never a panic.
	for n := 0; n < len(b); n++ {
		if _, err := DecodeEvent(b[:n], func(uint64) (*Table, error) { return tbl, nil }); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", n, len(b))
		}
	}
}

func TestTableRoundTripAndVersion(t *testing.T) {
	tbl := testTable()
	got, err := DecodeTable(AppendTable(nil, tbl, true))
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != tbl.Version || len(got.Columns) != 3 || got.Columns[2].Elems[1] != "paid" || !got.Columns[0].Unsigned {
		t.Fatalf("decoded %+v", got)
	}
	other := testTable()
	other.Columns[1].Scale = 2
	if other.Seal().Version == tbl.Version {
		t.Fatal("a different schema has the same version")
	}
}

func TestValueText(t *testing.T) {
	cases := []struct {
		v    Value
		want string
	}{
		{Uint(math.MaxUint64), "18446744073709551615"},
		{Float64(0.1), "0.1"},
		{Float32(1.1), "1.1"},
		{Date(0, 0, 0), "0000-00-00"},
		{DateTime(2024, 2, 29, 1, 2, 3, 0), "2024-02-29 01:02:03"},
		{DateTime(2024, 2, 29, 1, 2, 3, 500), "2024-02-29 01:02:03.000500"},
		{TimestampMicros(0), "1970-01-01T00:00:00Z"},
		{TimeMicros(-(838*3600+59*60+59)*1e6 - 10000), "-838:59:59.010000"},
		{TimeMicros(25 * 3600 * 1e6), "25:00:00"},
		{Bytes([]byte{0xde, 0xad}), "3q0="},
		{Year(2155), "2155"},
	}
	for _, c := range cases {
		if got := c.v.Text(); got != c.want {
			t.Errorf("%v.Text() = %q, want %q", c.v, got, c.want)
		}
	}
	if y, m, d, h, mi, s, us := DateTime(2024, 12, 31, 23, 59, 58, 999999).Civil(); y != 2024 || m != 12 || d != 31 || h != 23 || mi != 59 || s != 58 || us != 999999 {
		t.Errorf("Civil = %d %d %d %d %d %d %d", y, m, d, h, mi, s, us)
	}
	if !Date(2024, 0, 1).IsZeroDate() || Date(2024, 1, 1).IsZeroDate() {
		t.Error("IsZeroDate")
	}
	if DateTime(2024, 1, 1, 0, 0, 0, 0).Uint() >= DateTime(2024, 1, 1, 0, 0, 0, 1).Uint() {
		t.Error("civil packing does not order")
	}
}

func TestEventMemSize(t *testing.T) {
	e := Event{Op: OpUpdate, Before: []Value{Int(1), String("abc")}, After: []Value{Int(1), String("abcd")}, Pos: Position{File: "t/1"}}
	want := int64(unsafe.Sizeof(e)) + 4*int64(unsafe.Sizeof(Value{})) + 3 + 3 + 4
	if got := e.MemSize(); got != want {
		t.Fatalf("MemSize = %d, want %d", got, want)
	}
}
