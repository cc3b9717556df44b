package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
)

func TestSnapshotRows(t *testing.T) {
	ts := time.Date(2024, 3, 1, 12, 0, 0, 500000000, time.UTC).UnixMicro()
	for _, tc := range []struct {
		c    event.Column
		in   any
		want event.Value
	}{
		{event.Column{Type: event.TypeBigInt, Unsigned: true}, []byte("18446744073709551615"), event.Uint(18446744073709551615)},
		{event.Column{Type: event.TypeBigInt, Unsigned: true}, int64(5), event.Uint(5)},
		{event.Column{Type: event.TypeInt}, int64(-5), event.Int(-5)},
		{event.Column{Type: event.TypeYear}, int64(2155), event.Year(2155)},
		{event.Column{Type: event.TypeDecimal}, []byte("-1.50"), event.Decimal("-1.50")},
		{event.Column{Type: event.TypeFloat}, float32(0.1), event.Float32(0.1)},
		{event.Column{Type: event.TypeDouble}, float64(-2.25e300), event.Float64(-2.25e300)},
		{event.Column{Type: event.TypeBit}, uint64(682), event.Bits(682)},
		{event.Column{Type: event.TypeVarchar, Charset: "utf8mb4"}, []byte("héllo"), event.String("héllo")},
		{event.Column{Type: event.TypeVarchar, Charset: "latin1"}, []byte{'h', 0xe9}, event.String("hé")},
		{event.Column{Type: event.TypeBlob}, []byte{0, 1}, event.Bytes([]byte{0, 1})},
		{event.Column{Type: event.TypeEnum, Elems: []string{"red", "green"}}, int64(2), event.Enum(2, "green")},
		{event.Column{Type: event.TypeSet, Elems: []string{"a", "b", "c"}}, uint64(5), event.Set(5, "a,c")},
		{event.Column{Type: event.TypeDate}, []byte("2024-02-29"), event.Date(2024, 2, 29)},
		{event.Column{Type: event.TypeDate}, []byte("0000-00-00"), event.Date(0, 0, 0)},
		{event.Column{Type: event.TypeDateTime}, []byte("2024-02-29 23:59:59.123456"), event.DateTime(2024, 2, 29, 23, 59, 59, 123456)},
		{event.Column{Type: event.TypeTimestamp}, []byte("2024-03-01 12:00:00.500"), event.TimestampMicros(ts)},
		{event.Column{Type: event.TypeTimestamp}, []byte("0000-00-00 00:00:00"), event.TimestampMicros(0)},
		{event.Column{Type: event.TypeTime}, []byte("-838:59:59.00"), event.TimeMicros(-(838*3600 + 59*60 + 59) * 1e6)},
		{event.Column{Type: event.TypeJSON}, []byte(`{"a":1}`), event.JSON(`{"a":1}`)},
		{event.Column{Type: event.TypeInt}, nil, event.Null},
	} {
		tc.c.Name = "c"
		tbl := &event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{tc.c}}
		r, err := NewSnapshotRows(tbl, "mariadb", "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Values(nil, []any{tc.in})
		if err != nil {
			t.Errorf("%s %v: %v", tc.c.Type, tc.in, err)
			continue
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s %v = %v, want %s", tc.c.Type, tc.in, got, tc.want)
		}
	}

	tbl := &event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeInt}, {Name: "e`x", Type: event.TypeEnum, Elems: []string{"a"}},
		{Name: "b", Type: event.TypeBit}, {Name: "d", Type: event.TypeDate}}}
	r, err := NewSnapshotRows(tbl, "mysql", ZeroDatesNull)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.SelectList(), "`id`, `e``x`+0, `b`+0, `d`"; got != want {
		t.Errorf("SelectList = %s, want %s", got, want)
	}
	row, err := r.Values(nil, []any{int64(1), int64(1), uint64(3), []byte("0000-00-00")})
	if err != nil {
		t.Fatal(err)
	}
	if row[1] != event.Enum(1, "a") || row[2] != event.Bits(3) || !row[3].IsNull() {
		t.Errorf("row = %v (zero date under null policy should be NULL)", row)
	}
	if _, err := r.Values(nil, []any{[]byte("x"), nil, nil, nil}); err == nil || !strings.Contains(err.Error(), "column id") {
		t.Errorf("a non-integer for INT: err = %v", err)
	}
	if _, err := r.Values(nil, []any{int64(1)}); err == nil {
		t.Error("a short row was accepted")
	}
	bad := &event.Table{ID: tbl.ID, Columns: []event.Column{{Name: "s", Type: event.TypeVarchar, Charset: "klingon"}}}
	if _, err := NewSnapshotRows(bad, "mysql", ""); err == nil || !strings.Contains(err.Error(), "d.t") {
		t.Errorf("unsupported charset: err = %v", err)
	}
}
