package verify

import (
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

func TestSourceColumnText(t *testing.T) {
	for _, tc := range []struct {
		col  event.Column
		raw  any
		want event.Value
	}{
		{event.Column{Name: "i", Type: event.TypeInt}, []byte("-42"), event.Int(-42)},
		{event.Column{Name: "u", Type: event.TypeBigInt, Unsigned: true}, []byte("18446744073709551615"), event.Uint(18446744073709551615)},
		{event.Column{Name: "y", Type: event.TypeYear}, []byte("2024"), event.Year(2024)},
		{event.Column{Name: "d", Type: event.TypeDecimal}, []byte("-12.30"), event.Decimal("-12.30")},
		{event.Column{Name: "b", Type: event.TypeBit}, []byte("1023"), event.Bits(1023)},
		{event.Column{Name: "e", Type: event.TypeEnum}, []byte("2:paid"), event.Enum(2, "paid")},
		{event.Column{Name: "s", Type: event.TypeSet}, []byte("5:a,c"), event.Set(5, "a,c")},
		{event.Column{Name: "v", Type: event.TypeVarchar}, []byte("é x"), event.String("é x")},
		{event.Column{Name: "j", Type: event.TypeJSON}, []byte(`{"k": [1, 2.5]}`), event.JSON(`{"k": [1, 2.5]}`)},
		{event.Column{Name: "bin", Type: event.TypeVarbinary}, []byte("00FF"), event.Bytes([]byte{0, 0xff})},
		{event.Column{Name: "day", Type: event.TypeDate}, []byte("0000-00-00"), event.Date(0, 0, 0)},
		{event.Column{Name: "dt", Type: event.TypeDateTime}, []byte("2024-02-29 23:59:59.000123"), event.DateTime(2024, 2, 29, 23, 59, 59, 123)},
		{event.Column{Name: "ts", Type: event.TypeTimestamp}, []byte("1709294400.125"), event.TimestampMicros(1709294400125000)},
		{event.Column{Name: "ts0", Type: event.TypeTimestamp}, []byte("0"), event.TimestampMicros(0)},
		{event.Column{Name: "tm", Type: event.TypeTime}, []byte("-838:59:59.50"), event.TimeMicros(-(838*3600+59*60+59)*1_000_000 - 500_000)},
		{event.Column{Name: "f", Type: event.TypeFloat}, float32(0.1), event.Float32(0.1)},
		{event.Column{Name: "dd", Type: event.TypeDouble}, float64(1.1), event.Float64(1.1)},
		{event.Column{Name: "n", Type: event.TypeInt}, nil, event.Null},
	} {
		sc := sourceColumn(&tc.col, "mariadb")
		got, err := sc.value(tc.raw)
		if err != nil {
			t.Errorf("%s: %v", tc.col.Name, err)
			continue
		}
		if got.Kind() != tc.want.Kind() || got.Text() != tc.want.Text() || got.Str() != tc.want.Str() {
			t.Errorf("%s: %v (%v), want %v (%v)", tc.col.Name, got, got.Kind(), tc.want, tc.want.Kind())
		}
	}
	for _, bad := range []struct {
		col event.Column
		raw any
	}{
		{event.Column{Name: "i", Type: event.TypeInt}, []byte("1.5")},
		{event.Column{Name: "d", Type: event.TypeDecimal}, []byte("1e5")},
		{event.Column{Name: "bin", Type: event.TypeBlob}, []byte("zz")},
		{event.Column{Name: "ts", Type: event.TypeTimestamp}, []byte("-1")},
		{event.Column{Name: "e", Type: event.TypeEnum}, []byte("paid")},
	} {
		sc := sourceColumn(&bad.col, "mariadb")
		if _, err := sc.value(bad.raw); err == nil {
			t.Errorf("%s %q: no error", bad.col.Name, bad.raw)
		}
	}
	// No column is read through the capture's converters: every
	// expression but a float's is computed by the server.
	for _, c := range []event.Column{{Name: "x", Type: event.TypeTimestamp}, {Name: "x", Type: event.TypeBlob}, {Name: "x", Type: event.TypeText}} {
		if sc := sourceColumn(&c, "mariadb"); sc.expr == "`x`" {
			t.Errorf("%v selected raw", c.Type)
		}
	}
}

func TestRawCanon(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0000-00-00 00:00:00.000000", "0000-00-00 00:00:00"},
		{"2024-00-15 10:00:00.500000", "2024-00-15 10:00:00.5"},
		{"0000-00-00", "0000-00-00"},
		{"-9223372036854775808", "-9223372036854775808"},
		{"12.50", "12.50"},
	} {
		if got := normalizeRaw(tc.in); got != tc.want {
			t.Errorf("normalizeRaw(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	m, err := parseRawObject(`{"d":"0000-00-00","big":"-9223372036854775808"}`)
	if err != nil || m["d"] != "0000-00-00" || m["big"] != "-9223372036854775808" {
		t.Errorf("parseRawObject: %v %v", m, err)
	}
	// A target value in _raw compares equal to the source text.
	a := appendCanonRaw(nil, "0000-00-00 00:00:00.000000")
	b := appendCanonRaw(nil, "0000-00-00 00:00:00")
	if string(a) != string(b) {
		t.Error("raw texts with different fraction digits differ")
	}
	texts, null, ok := decodeCanon(a, 1)
	if !ok || null[0] || texts[0] != "0000-00-00 00:00:00" {
		t.Errorf("decodeCanon of a raw value: %v %v %v", texts, null, ok)
	}
}

// TestRawColumnRule: a typed NULL with the value's text in _raw compares
// equal to the source value that did not fit; without the _raw entry it
// differs.
func TestRawColumnRule(t *testing.T) {
	tg := &schema.Target{Name: "t", Columns: []schema.TargetColumn{
		{Name: "d", Source: 0, Kind: schema.KindDate},
		{Name: schema.ColRaw, Source: -1, Kind: schema.KindString},
	}}
	j := &tableJob{target: tg, canon: []canonCol{{col: &tg.Columns[0], idx: 0}}}
	j.meta.raw = 1
	img := []event.Value{event.Date(0, 0, 0)}
	src := j.sourceCanonRow(nil, []event.Value{event.Null, event.Null}, img)
	withRaw := j.canonRow(nil, []event.Value{event.Null, event.String(`{"d":"0000-00-00"}`)})
	if string(src) != string(withRaw) {
		t.Errorf("raw value differs: %q vs %q", src, withRaw)
	}
	if plain := j.canonRow(nil, []event.Value{event.Null, event.Null}); string(plain) == string(src) {
		t.Error("a NULL without _raw equals a source value")
	}
	if other := j.canonRow(nil, []event.Value{event.Null, event.String(`{"d":"0000-00-01"}`)}); string(other) == string(src) {
		t.Error("a different raw text equals the source value")
	}
	// Without a _raw column the typed values are compared as before.
	j.meta.raw = -1
	if a, b := j.sourceCanonRow(nil, []event.Value{event.Null}, img), j.canonRow(nil, []event.Value{event.Null}); string(a) != string(b) {
		t.Error("without _raw, NULL on both sides differs")
	}
}
