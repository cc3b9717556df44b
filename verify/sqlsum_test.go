package verify

import (
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// Golden values: the MariaDB column is what MariaDB 10.11 answered to
// CAST(<double> AS CHAR); the TiDB column is strconv.FormatFloat(f, 'f',
// -1, 64), TiDB's builtinCastRealAsStringSig.
func TestFormatDouble(t *testing.T) {
	for _, tc := range []struct {
		f             float64
		mariadb, tidb string
	}{
		{0.1, "0.1", "0.1"},
		{1.0 / 3, "0.3333333333333333", "0.3333333333333333"},
		{1e300, "1e300", "1" + strings.Repeat("0", 300)},
		{1.7976931348623157e308, "1.7976931348623157e308", ""},
		{-2.2250738585072014e-308, "-2.2250738585072014e-308", ""},
		{123456789012345678, "1.2345678901234568e17", "123456789012345680"},
		{1e14, "100000000000000", "100000000000000"},
		{1e15, "1e15", "1000000000000000"},
		{1.5e15, "1.5e15", "1500000000000000"},
		{123456789012345, "123456789012345", "123456789012345"},
		{1234567890123456, "1.234567890123456e15", "1234567890123456"},
		{1e-5, "0.00001", "0.00001"},
		{1.25e-10, "0.000000000125", "0.000000000125"},
		{1e-15, "0.000000000000001", "0.000000000000001"},
		{1.2345678901234567e-15, "0.0000000000000012345678901234568", "0.0000000000000012345678901234568"},
		{-1e-20, "-1e-20", "-0.00000000000000000001"},
		{5e-324, "5e-324", ""},
		{100, "100", "100"},
		{-0.0, "0", "0"},
		{0, "0", "0"},
		{12345.678, "12345.678", "12345.678"},
		{1e20, "1e20", "100000000000000000000"},
		{1.2345678901234567e-5, "0.000012345678901234568", "0.000012345678901234568"},
		// FLOAT values widened to double, as CAST(CAST(f AS DOUBLE) AS CHAR).
		{float64(float32(0.1)), "0.10000000149011612", "0.10000000149011612"},
		{float64(float32(3.40282e38)), "3.402820018375656e38", "340282001837565600000000000000000000000"},
		{float64(float32(123456.7)), "123456.703125", "123456.703125"},
	} {
		if got := formatDouble(tc.f, "mariadb"); got != tc.mariadb {
			t.Errorf("mariadb %g: %q, want %q", tc.f, got, tc.mariadb)
		}
		if tc.tidb == "" {
			continue
		}
		if got := formatDouble(tc.f, "tidb"); got != tc.tidb {
			t.Errorf("tidb %g: %q, want %q", tc.f, got, tc.tidb)
		}
	}
}

// The row hash and the sum, with the values MariaDB computed for the same
// texts: CAST(CONV(SUBSTRING(MD5('1:5,N,3:abc'),1,16),16,10) AS UNSIGNED)
// and CAST(SUM(x) AS CHAR).
func TestSumRowHash(t *testing.T) {
	var b []byte
	b = appendSumPiece(b, "5", false)
	b = append(b, ',')
	b = appendSumPiece(b, "", true)
	b = append(b, ',')
	b = appendSumPiece(b, "abc", false)
	if string(b) != "1:5,N,3:abc" {
		t.Fatalf("canonical row text %q", b)
	}
	if h := sumRowHash(b); h != 10785303510227540626 {
		t.Errorf("hash %d, want 10785303510227540626", h)
	}
	if h := sumRowHash([]byte("N")); h != 10204084167934985379 {
		t.Errorf("hash of N %d", h)
	}
	var s sum128
	s.add(18446744073709551615)
	s.add(18446744073709551615)
	s.add(5)
	if s.String() != "36893488147419103235" {
		t.Errorf("sum %s, want 36893488147419103235", s)
	}
	if low64(s.String()) != 3 {
		t.Errorf("low64 %d", low64(s.String()))
	}
	var zero sum128
	if zero.String() != "0" {
		t.Errorf("empty sum %s", zero)
	}
}

// sumCol.text turns a target value back into the source column's
// canonical text.
func TestSumColText(t *testing.T) {
	col := func(typ event.Type, raw string, scale uint8, charset string) *event.Column {
		return &event.Column{Name: "c", Type: typ, RawType: raw, Precision: 65, Scale: scale, Charset: charset}
	}
	tgt := func(k schema.Kind, scale int) *schema.TargetColumn {
		return &schema.TargetColumn{Name: "c", Kind: k, Scale: scale}
	}
	for _, tc := range []struct {
		name   string
		src    *event.Column
		tgt    *schema.TargetColumn
		v      event.Value
		flavor string
		want   string
		expr   string
		bad    bool
	}{
		{"int", col(event.TypeInt, "int", 0, ""), tgt(schema.KindInt, 0), event.Int(-2147483648), "mariadb", "-2147483648", "CAST(`c` AS CHAR)", false},
		{"bigint unsigned", col(event.TypeBigInt, "bigint unsigned", 0, ""), tgt(schema.KindDecimal, 0), event.Decimal("18446744073709551615"), "tidb", "18446744073709551615", "CAST(`c` AS CHAR)", false},
		{"bit64", col(event.TypeBit, "bit(64)", 0, ""), tgt(schema.KindDecimal, 0), event.Decimal("9223372036854775808"), "tidb", "9223372036854775808", "CAST(`c`+0 AS CHAR)", false},
		{"year", col(event.TypeYear, "year", 0, ""), tgt(schema.KindInt, 0), event.Int(2155), "mariadb", "2155", "CAST(`c`+0 AS CHAR)", false},
		{"decimal", col(event.TypeDecimal, "decimal(10,4)", 4, ""), tgt(schema.KindDecimal, 4), event.Decimal("0.0001"), "mariadb", "0.0001", "CAST(`c` AS CHAR)", false},
		{"decimal as string", col(event.TypeDecimal, "decimal(65,30)", 30, ""), tgt(schema.KindString, 0), event.String("-1.5"), "tidb", "-1.500000000000000000000000000000", "CAST(`c` AS CHAR)", false},
		{"double", col(event.TypeDouble, "double", 0, ""), tgt(schema.KindDouble, 0), event.Float64(1e20), "mariadb", "1e20", "CAST(CAST(`c` AS DOUBLE) AS CHAR)", false},
		{"float", col(event.TypeFloat, "float", 0, ""), tgt(schema.KindFloat, 0), event.Float32(0.1), "tidb", "0.10000000149011612", "CAST(CAST(`c` AS DOUBLE) AS CHAR)", false},
		{"double on mysql", col(event.TypeDouble, "double", 0, ""), tgt(schema.KindDouble, 0), event.Float64(1), "mysql", "", "", true},
		{"varchar", col(event.TypeVarchar, "varchar(10)", 0, "utf8mb4"), tgt(schema.KindString, 0), event.String("Ü 😀"), "mariadb", "Ü 😀", "CAST(`c` AS CHAR CHARACTER SET utf8mb4)", false},
		{"binary text", col(event.TypeVarchar, "varchar(10)", 0, "binary"), tgt(schema.KindString, 0), event.String("\x00\xff"), "mariadb", "00FF", "HEX(`c`)", false},
		{"blob", col(event.TypeBlob, "blob", 0, ""), tgt(schema.KindBinary, 0), event.Bytes([]byte{0, 1, 0xfe}), "tidb", "0001FE", "HEX(`c`)", false},
		{"set", col(event.TypeSet, "set('x','y')", 0, "utf8mb4"), tgt(schema.KindString, 0), event.String("x,y"), "tidb", "x,y", "CAST(`c` AS CHAR CHARACTER SET utf8mb4)", false},
		{"json mariadb", col(event.TypeJSON, "json", 0, ""), tgt(schema.KindString, 0), event.String(`{"a": 1}`), "mariadb", `{"a": 1}`, "CAST(`c` AS CHAR CHARACTER SET utf8mb4)", false},
		{"date", col(event.TypeDate, "date", 0, ""), tgt(schema.KindDate, 0), event.Date(1000, 1, 1), "mariadb", "1000-01-01", "CAST(`c` AS CHAR)", false},
		{"datetime(6)", col(event.TypeDateTime, "datetime(6)", 6, ""), tgt(schema.KindTimestampNTZ, 0), event.DateTime(9999, 12, 31, 23, 59, 59, 999999), "tidb", "9999-12-31 23:59:59.999999", "CAST(`c` AS CHAR)", false},
		{"datetime(2)", col(event.TypeDateTime, "datetime(2)", 2, ""), tgt(schema.KindTimestampNTZ, 0), event.DateTime(2000, 1, 1, 0, 0, 0, 120000), "mariadb", "2000-01-01 00:00:00.12", "CAST(`c` AS CHAR)", false},
		{"datetime(0) sub-second", col(event.TypeDateTime, "datetime", 0, ""), tgt(schema.KindTimestampNTZ, 0), event.DateTime(2000, 1, 1, 0, 0, 0, 1), "mariadb", "", "CAST(`c` AS CHAR)", false},
		{"timestamp(6)", col(event.TypeTimestamp, "timestamp(6)", 6, ""), tgt(schema.KindTimestamp, 0), event.TimestampMicros(1_000_001), "mariadb", "1.000001", "CAST(UNIX_TIMESTAMP(`c`) AS CHAR)", false},
		{"timestamp(0)", col(event.TypeTimestamp, "timestamp", 0, ""), tgt(schema.KindTimestamp, 0), event.TimestampMicros(2147483647_000000), "tidb", "2147483647", "CAST(UNIX_TIMESTAMP(`c`) AS CHAR)", false},
		{"time(6)", col(event.TypeTime, "time(6)", 6, ""), tgt(schema.KindString, 0), event.String("-838:59:59.000000"), "tidb", "-838:59:59.000000", "CAST(`c` AS CHAR)", false},
		{"time(0)", col(event.TypeTime, "time", 0, ""), tgt(schema.KindString, 0), event.String("1:02:03"), "mariadb", "01:02:03", "CAST(`c` AS CHAR)", false},
		{"datetime to maxcompute datetime", col(event.TypeDateTime, "datetime(6)", 6, ""), tgt(schema.KindDateTime, 0), event.TimestampMicros(1), "mariadb", "", "", true},
		{"geometry", col(event.TypeGeometry, "geometry", 0, ""), tgt(schema.KindBinary, 0), event.Bytes([]byte{1, 2}), "mariadb", "0102", "HEX(`c`)", false},
		{"geometry as string", col(event.TypeGeometry, "geometry", 0, ""), tgt(schema.KindString, 0), event.String("x"), "mariadb", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, why := sumColumn(tc.src, tc.tgt, tc.flavor)
			if tc.bad {
				if why == "" {
					t.Fatalf("column accepted (%q), want it refused", c.expr)
				}
				return
			}
			if why != "" {
				t.Fatalf("column refused: %s", why)
			}
			if c.expr != tc.expr {
				t.Errorf("expr %q, want %q", c.expr, tc.expr)
			}
			got, ok := c.text(tc.v, tc.flavor)
			if tc.want == "" {
				if ok {
					t.Errorf("rendered %q, want a refusal", got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Errorf("text %q (ok %v), want %q", got, ok, tc.want)
			}
		})
	}
}

func TestRowSumExprAndKeyRange(t *testing.T) {
	got := rowSumExpr([]sumCol{{expr: "CAST(`a` AS CHAR)"}, {expr: "HEX(`b`)"}})
	want := "CAST(CONV(SUBSTRING(MD5(CONCAT(IFNULL(CONCAT(LENGTH(CAST(CAST(`a` AS CHAR) AS BINARY)), ':', CAST(CAST(`a` AS CHAR) AS BINARY)), 'N'), ',', " +
		"IFNULL(CONCAT(LENGTH(CAST(HEX(`b`) AS BINARY)), ':', CAST(HEX(`b`) AS BINARY)), 'N'))), 1, 16), 16, 10) AS UNSIGNED)"
	if got != want {
		t.Errorf("row hash expression:\n%s\nwant\n%s", got, want)
	}
	where, args := keyRange([]string{"`a`", "`b`"}, []any{1, 2}, []any{3, 4})
	if where != " WHERE ((`a` > ?) OR (`a` = ? AND `b` > ?)) AND ((`a` < ?) OR (`a` = ? AND `b` <= ?))" || len(args) != 6 {
		t.Errorf("range %q %v", where, args)
	}
	if where, args = keyRange([]string{"`id`"}, nil, nil); where != "" || args != nil {
		t.Errorf("open range %q", where)
	}
}

// Values kept in _raw (D1) render as the source's text.
func TestSumColRawText(t *testing.T) {
	for _, tc := range []struct {
		kind      sumKind
		scale     int
		raw, want string
	}{
		{sumDate, 0, "0000-00-00", "0000-00-00"},
		{sumDate, 0, "2024-00-15", "2024-00-15"},
		{sumDateTime, 6, "0000-00-00 00:00:00", "0000-00-00 00:00:00.000000"},
		{sumDateTime, 0, "2024-00-15 10:00:00", "2024-00-15 10:00:00"},
		{sumUnix, 6, "0000-00-00 00:00:00", "0.000000"},
		{sumUnix, 0, "0000-00-00 00:00:00", "0"},
		{sumUnix, 0, "2024-00-15 10:00:00", ""},
		{sumInt, 0, "-9223372036854775808", "-9223372036854775808"},
		{sumDecimal, 2, "1.5", "1.50"},
		{sumHex, 0, "x", ""},
		{sumDate, 0, "bad", ""},
	} {
		c := sumCol{kind: tc.kind, scale: tc.scale}
		got, ok := c.rawText(tc.raw, "mariadb")
		if tc.want == "" {
			if ok {
				t.Errorf("%d %q: rendered %q, want a refusal", tc.kind, tc.raw, got)
			}
			continue
		}
		if !ok || got != tc.want {
			t.Errorf("%d %q: %q (ok %v), want %q", tc.kind, tc.raw, got, ok, tc.want)
		}
	}
}
