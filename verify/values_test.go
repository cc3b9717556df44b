package verify

import (
	"testing"
	"time"

	"github.com/odsync/odsync/event"
)

func TestSQLValue(t *testing.T) {
	col := func(tp event.Type, unsigned bool, elems ...string) *event.Column {
		return &event.Column{Name: "c", Type: tp, Unsigned: unsigned, Elems: elems}
	}
	ts := time.Date(2024, 3, 1, 12, 0, 0, 500000000, time.UTC).UnixMicro()
	for _, tc := range []struct {
		c    *event.Column
		in   any
		want event.Value
	}{
		{col(event.TypeBigInt, true), []byte("18446744073709551615"), event.Uint(18446744073709551615)},
		{col(event.TypeBigInt, true), int64(5), event.Uint(5)},
		{col(event.TypeInt, false), int64(-5), event.Int(-5)},
		{col(event.TypeYear, false), int64(2155), event.Year(2155)},
		{col(event.TypeDecimal, false), []byte("-1.50"), event.Decimal("-1.50")},
		{col(event.TypeFloat, false), float32(0.1), event.Float32(0.1)},
		{col(event.TypeDouble, false), float64(-2.25e300), event.Float64(-2.25e300)},
		{col(event.TypeBit, false), []byte{0x02, 0xaa}, event.Bits(682)},
		{col(event.TypeVarchar, false), []byte("héllo"), event.String("héllo")},
		{col(event.TypeBlob, false), []byte{0, 1}, event.Bytes([]byte{0, 1})},
		{col(event.TypeEnum, false, "red", "green"), []byte("green"), event.Enum(2, "green")},
		{col(event.TypeEnum, false, "red", "green"), []byte(""), event.Enum(0, "")},
		{col(event.TypeSet, false, "a", "b", "c"), []byte("a,c"), event.Set(5, "a,c")},
		{col(event.TypeSet, false, "a", "b", "c"), []byte(""), event.Set(0, "")},
		{col(event.TypeDate, false), []byte("2024-02-29"), event.Date(2024, 2, 29)},
		{col(event.TypeDate, false), []byte("0000-00-00"), event.Date(0, 0, 0)},
		{col(event.TypeDateTime, false), []byte("2024-02-29 23:59:59.123456"), event.DateTime(2024, 2, 29, 23, 59, 59, 123456)},
		{col(event.TypeDateTime, false), []byte("2024-02-29 23:59:59.12"), event.DateTime(2024, 2, 29, 23, 59, 59, 120000)},
		{col(event.TypeTimestamp, false), []byte("2024-03-01 12:00:00.500"), event.TimestampMicros(ts)},
		{col(event.TypeTimestamp, false), []byte("0000-00-00 00:00:00"), event.DateTime(0, 0, 0, 0, 0, 0, 0)},
		{col(event.TypeTime, false), []byte("-838:59:59.00"), event.TimeMicros(-(838*3600 + 59*60 + 59) * 1e6)},
		{col(event.TypeTime, false), []byte("01:02:03.5"), event.TimeMicros((3600+120+3)*1e6 + 500000)},
		{col(event.TypeJSON, false), []byte(`{"a":1}`), event.JSON(`{"a":1}`)},
		{col(event.TypeInt, false), nil, event.Null},
	} {
		got, err := sqlValue(tc.c, tc.in)
		if err != nil {
			t.Errorf("%s %v: %v", tc.c.Type, tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s %v = %s, want %s", tc.c.Type, tc.in, got, tc.want)
		}
	}
	if _, err := sqlValue(col(event.TypeInt, false), []byte("x")); err == nil {
		t.Error("a non-integer was accepted for INT")
	}
}

func TestCivil(t *testing.T) {
	for _, d := range []time.Time{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		us := civilMicros(d.Year(), int(d.Month()), d.Day(), d.Hour(), d.Minute(), d.Second(), d.Nanosecond()/1000)
		if us != d.UnixMicro() {
			t.Errorf("civilMicros(%s) = %d, want %d", d, us, d.UnixMicro())
		}
		v := civilFromMicros(us)
		y, mo, dd, h, mi, s, u := v.Civil()
		back := time.Date(y, time.Month(mo), dd, h, mi, s, u*1000, time.UTC)
		if !back.Equal(d) {
			t.Errorf("civilFromMicros(%d) = %s, want %s", us, back, d)
		}
	}
}

func TestSQLParam(t *testing.T) {
	u := &event.Column{Name: "id", Type: event.TypeBigInt, Unsigned: true}
	if p, _ := sqlParam(u, event.Decimal("18446744073709551615")); p != uint64(18446744073709551615) {
		t.Errorf("decimal key of BIGINT UNSIGNED = %#v, want uint64", p)
	}
	if p, _ := sqlParam(u, event.Uint(7)); p != uint64(7) {
		t.Errorf("uint = %#v", p)
	}
	i := &event.Column{Name: "id", Type: event.TypeInt}
	if p, _ := sqlParam(i, event.Int(-3)); p != int64(-3) {
		t.Errorf("int = %#v", p)
	}
	ts := &event.Column{Name: "ts", Type: event.TypeTimestamp}
	if p, _ := sqlParam(ts, event.TimestampMicros(time.Date(2024, 3, 1, 12, 0, 0, 500000000, time.UTC).UnixMicro())); p != "2024-03-01 12:00:00.500000" {
		t.Errorf("timestamp = %#v", p)
	}
	b := &event.Column{Name: "b", Type: event.TypeVarbinary}
	if p, _ := sqlParam(b, event.Bytes([]byte{0, 1})); string(p.([]byte)) != "\x00\x01" {
		t.Errorf("bytes = %#v", p)
	}
}

func TestBuildColumn(t *testing.T) {
	for _, tc := range []struct {
		dataType, colType string
		json              bool
		wantType          event.Type
		wantRaw           string
	}{
		{"bigint", "bigint(20) unsigned", false, event.TypeBigInt, "bigint(20) unsigned"},
		{"tinyint", "tinyint(1)", false, event.TypeTinyInt, "tinyint(1)"},
		{"decimal", "decimal(12,2)", false, event.TypeDecimal, "decimal(12,2)"},
		{"enum", "enum('a','it''s')", false, event.TypeEnum, "enum('a','it''s')"},
		{"longtext", "longtext", true, event.TypeJSON, "json"},
		{"datetime", "datetime(6)", false, event.TypeDateTime, "datetime(6)"},
		{"varbinary", "varbinary(16)", false, event.TypeVarbinary, "varbinary(16)"},
	} {
		c := buildColumn("c", tc.dataType, tc.colType, true, "utf8mb4", tc.json)
		if c.Type != tc.wantType || c.RawType != tc.wantRaw {
			t.Errorf("%s: type %s raw %q; want %s %q", tc.colType, c.Type, c.RawType, tc.wantType, tc.wantRaw)
		}
	}
	c := buildColumn("e", "enum", "enum('a','it''s')", true, "utf8mb4", false)
	if len(c.Elems) != 2 || c.Elems[1] != "it's" {
		t.Errorf("enum elems = %q", c.Elems)
	}
	d := buildColumn("d", "decimal", "decimal(12,2)", true, "", false)
	if d.Precision != 12 || d.Scale != 2 {
		t.Errorf("decimal = %d,%d", d.Precision, d.Scale)
	}
}
