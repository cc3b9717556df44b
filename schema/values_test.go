package schema

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
)

func vectorBytes(fs ...float32) []byte {
	var b []byte
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

var valueCases = []struct {
	raw, spec string
	v         event.Value
}{
	{"tinyint", "", event.Int(-128)},
	{"tinyint unsigned", "", event.Uint(255)},
	{"tinyint(1)", "boolean", event.Int(2)},
	{"int unsigned", "", event.Uint(4294967295)},
	{"int unsigned", "int", event.Uint(4294967295)},
	{"bigint", "", event.Int(math.MinInt64)},
	{"bigint unsigned", "", event.Uint(math.MaxUint64)},
	{"bigint unsigned", "bigint", event.Uint(math.MaxUint64)},
	{"bigint unsigned", "string", event.Uint(math.MaxUint64)},
	{"decimal(9,2)", "", event.Decimal("-1234567.5")},
	{"decimal(18,4)", "", event.Decimal("0.0001")},
	{"decimal(38,10)", "", event.Decimal("-1234567890123456789012345678.0123456789")},
	{"decimal(65,30)", "", event.Decimal("12345678901234567890123456789012345.123456789012345678901234567890")},
	{"decimal(65,30)", "decimal(38,10)", event.Decimal("-1.99999999995")},
	{"decimal(65,30)", "decimal(38,10)", event.Decimal("123456789012345678901234567890.5")},
	{"decimal(18,4)", "double", event.Decimal("3.1416")},
	{"float", "", event.Float32(1.5)},
	{"float", "decimal(10,2)", event.Float32(2.675)},
	{"double", "", event.Float64(-0.1)},
	{"double", "float", event.Float64(0.1)},
	{"bit(1)", "boolean", event.Bits(1)},
	{"bit(17)", "", event.Bits(0x1ffff)},
	{"bit(17)", "binary", event.Bits(0x10203)},
	{"bit(64)", "", event.Bits(math.MaxUint64)},
	{"varchar(255)", "", event.String("héllo, \"world\"\n")},
	{"varchar(255)", "binary", event.String("abc")},
	{"varbinary(255)", "", event.Bytes([]byte{0, 1, 0xff})},
	{"varbinary(255)", "string", event.Bytes([]byte{0, 1, 0xff})},
	{"enum('new','paid','shipped')", "", event.Enum(2, "paid")},
	{"enum('new','paid','shipped')", "tinyint", event.Enum(2, "paid")},
	{"set('a','b','c')", "", event.Set(5, "a,c")},
	{"set('a','b','c')", "array<string>", event.Set(5, "a,c")},
	{"set('a','b','c')", "array<string>", event.Set(0, "")},
	{"set('a','b','c')", "bigint", event.Set(5, "a,c")},
	{"date", "", event.Date(2026, 11, 21)},
	{"date", "", event.Date(1969, 12, 31)},
	{"date", "", event.Date(0, 0, 0)},
	{"date", "", event.Date(2026, 0, 5)},
	{"date", "timestamp", event.Date(2026, 11, 21)},
	{"datetime(6)", "", event.DateTime(2026, 11, 21, 13, 4, 5, 123456)},
	{"datetime(6)", "", event.DateTime(0, 0, 0, 0, 0, 0, 0)},
	{"datetime(6)", "datetime", event.DateTime(2026, 11, 21, 13, 4, 5, 123456)},
	{"datetime", "timestamp", event.DateTime(2026, 11, 21, 8, 0, 0, 0)},
	{"datetime(6)", "date", event.DateTime(2026, 11, 21, 23, 59, 59, 999999)},
	{"datetime(6)", "string", event.DateTime(2026, 11, 21, 13, 4, 5, 0)},
	{"timestamp", "", event.TimestampMicros(1_795_000_000_000_000)},
	{"timestamp", "", event.TimestampMicros(0)},
	{"timestamp(3)", "", event.TimestampMicros(-1_500)},
	{"timestamp(3)", "timestamp_ntz", event.TimestampMicros(1_795_000_000_123_000)},
	{"timestamp(3)", "datetime", event.TimestampMicros(-1_500)},
	{"timestamp", "bigint", event.TimestampMicros(1_795_000_000_000_000)},
	{"timestamp", "string", event.TimestampMicros(0)},
	{"time(6)", "", event.TimeMicros(-(838*3600+59*60+59)*1e6 - 5)},
	{"time(6)", "bigint", event.TimeMicros(-5)},
	{"year", "", event.Year(2155)},
	{"year", "", event.Year(0)},
	{"json", "", event.JSON(`{"a":[1,2]}`)},
	{"json", "json", event.JSON(`{"a":[1,2]}`)},
	{"geometry", "", event.Bytes([]byte{0, 0, 0, 0, 1, 1, 0, 0, 0})},
	{"vector(3)", "", event.Bytes(vectorBytes(1, 2.5, -3))},
	{"vector(3)", "string", event.Bytes(vectorBytes(1, 2.5, -3))},
	{"int", "", event.String("not an int")},
	{"int", "", event.Null},
}

func formatParquet(p ParquetValue, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case p.Null:
		return "null"
	case p.List != nil:
		return fmt.Sprintf("list%q", p.List)
	case p.Bytes != nil:
		return "bytes:" + hex.EncodeToString(p.Bytes)
	case p.Float != 0:
		return fmt.Sprintf("float:%v", p.Float)
	case p.Bool:
		return "bool:true"
	}
	return fmt.Sprintf("int:%d", p.Int)
}

func formatMaxCompute(v any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	if t, ok := v.(time.Time); ok {
		return "time.Time:" + t.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

func TestValueConversionGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("# source type | override | source value\n#   convert -> target value\n#   maxcompute, parquet, text\n\n")
	for _, zd := range []string{ZeroDatesNull, ZeroDatesError} {
		fmt.Fprintf(&b, "## zero_dates: %s, source_time_zone: Asia/Shanghai\n\n", zd)
		for _, tc := range valueCases {
			if zd == ZeroDatesError && !strings.HasPrefix(tc.raw, "date") && !strings.HasPrefix(tc.raw, "timestamp") {
				continue // only the temporal types depend on the policy
			}
			col := catalogueColumn(t, tc.raw)
			tb := (&event.Table{ID: id("db", "t"), Columns: []event.Column{col}}).Seal()
			cfg := Config{ZeroDates: zd, SourceTimeZone: "Asia/Shanghai"}
			if tc.spec != "" {
				cfg.Tables = []TableRule{{Source: `db\.t`, Columns: map[string]ColumnRule{"c": {Type: tc.spec}}}}
			}
			m := mustMapper(t, cfg)
			tg, err := m.Target(tb)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.raw, tc.spec, err)
			}
			c := &tg.Columns[len(tg.Columns)-1]
			fmt.Fprintf(&b, "%s | %s | %q\n", tc.raw, c.TypeSpec(), tc.v.String())
			tv, err := c.Convert(tc.v)
			if err != nil {
				fmt.Fprintf(&b, "  convert -> error: %v\n\n", err)
				continue
			}
			fmt.Fprintf(&b, "  convert -> %q\n", tv.String())
			text := "NULL"
			if !tv.IsNull() {
				text = fmt.Sprintf("%q", c.AppendText(nil, tv))
			}
			fmt.Fprintf(&b, "  %s, %s, %s\n\n", formatMaxCompute(c.MaxComputeValue(tv)), formatParquet(c.ParquetValue(tv)), text)
		}
	}
	golden(t, "values.golden", []byte(b.String()))
}

func TestRescaleDecimal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		p, s    int
		want    string
		wantErr bool
	}{
		{"1", 5, 2, "1.00", false},
		{"-0.005", 5, 2, "-0.01", false},
		{"-0.004", 5, 2, "0.00", false},
		{"0.995", 5, 2, "1.00", false},
		{"999.995", 5, 2, "", true},
		{"99.995", 5, 2, "100.00", false},
		{"+12.345", 10, 3, "12.345", false},
		{"00012", 2, 0, "12", false},
		{".5", 3, 0, "1", false},
		{"123", 2, 0, "", true},
		{"1e5", 10, 0, "", true},
		{"", 10, 0, "", true},
		{"-", 10, 0, "", true},
		{"18446744073709551615", 20, 0, "18446744073709551615", false},
	}
	for _, tc := range tests {
		got, err := rescaleDecimal(tc.in, tc.p, tc.s)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("rescaleDecimal(%q, %d, %d) = %q, %v; want %q, err %v", tc.in, tc.p, tc.s, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParquetDecimalBytes(t *testing.T) {
	t.Parallel()
	for p := 1; p <= MaxDecimalPrecision; p++ {
		n := decimalBytes(p)
		max := strings.Repeat("9", p)
		for _, s := range []string{max, "-" + max} {
			u, err := unscaled(s, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := twosComplement(u, n); err != nil {
				t.Errorf("precision %d: %s does not fit %d bytes", p, s, n)
			}
		}
		if n > 1 {
			// one byte fewer would not hold the largest value
			u, _ := unscaled(max, 0)
			if _, err := twosComplement(u, n-1); err == nil {
				t.Errorf("precision %d: %d bytes is not the minimum", p, n)
			}
		}
	}
	// -1 in two bytes
	b, err := twosComplement(mustUnscaled(t, "-1", 0), 2)
	if err != nil || hex.EncodeToString(b) != "ffff" {
		t.Errorf("-1 = %x, %v", b, err)
	}
}

func mustUnscaled(t *testing.T, s string, scale int) *big.Int {
	t.Helper()
	u, err := unscaled(s, scale)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
