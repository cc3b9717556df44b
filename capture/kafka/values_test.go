package kafka

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/odsync/odsync/jsontape"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/canal"
	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/open"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

func TestParseMySQLType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want event.Column
		bin  bool
	}{
		{in: "int", want: event.Column{Type: event.TypeInt}},
		{in: "INT(11) UNSIGNED ZEROFILL", want: event.Column{Type: event.TypeInt, Unsigned: true}},
		{in: "bigint unsigned", want: event.Column{Type: event.TypeBigInt, Unsigned: true}},
		// ZEROFILL implies UNSIGNED (the grammar is the DDL parser's).
		{in: "bigint(20) zerofill", want: event.Column{Type: event.TypeBigInt, Unsigned: true}},
		{in: "serial", want: event.Column{Type: event.TypeBigInt, Unsigned: true}},
		{in: "national varchar(10)", want: event.Column{Type: event.TypeVarchar, Length: 10, Charset: "utf8mb3"}},
		{in: "long varbinary", want: event.Column{Type: event.TypeBlob, Length: 16777215, Charset: "binary"}, bin: true},
		{in: "tinyint(1)", want: event.Column{Type: event.TypeTinyInt}},
		{in: "bool", want: event.Column{Type: event.TypeTinyInt}},
		{in: "decimal", want: event.Column{Type: event.TypeDecimal}},
		{in: "decimal(65,30) unsigned", want: event.Column{Type: event.TypeDecimal, Unsigned: true, Precision: 65, Scale: 30}},
		{in: "numeric(10, 4)", want: event.Column{Type: event.TypeDecimal, Precision: 10, Scale: 4}},
		{in: "float(30)", want: event.Column{Type: event.TypeDouble}},
		{in: "float(10,2)", want: event.Column{Type: event.TypeFloat}},
		{in: "double precision", want: event.Column{Type: event.TypeDouble}},
		// A bare "bit" (no parameters on the wire): the width is unknown.
		{in: "bit", want: event.Column{Type: event.TypeBit}},
		{in: "bit(64)", want: event.Column{Type: event.TypeBit, Length: 64}},
		{in: "char", want: event.Column{Type: event.TypeChar, Length: 1}},
		{in: "varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", want: event.Column{Type: event.TypeVarchar, Length: 255, Charset: "utf8mb4"}},
		{in: "varchar(8) charset binary", want: event.Column{Type: event.TypeVarbinary, Length: 8, Charset: "binary"}, bin: true},
		{in: "var_string", want: event.Column{Type: event.TypeVarchar}},
		{in: "binary(16)", want: event.Column{Type: event.TypeBinary, Length: 16, Charset: "binary"}, bin: true},
		{in: "varbinary", want: event.Column{Type: event.TypeVarbinary, Charset: "binary"}, bin: true},
		{in: "tinytext", want: event.Column{Type: event.TypeText, Length: 255}},
		{in: "longtext", want: event.Column{Type: event.TypeText, Length: 4294967295}},
		{in: "mediumblob", want: event.Column{Type: event.TypeBlob, Length: 16777215, Charset: "binary"}, bin: true},
		{in: "enum('a','b''c','d\\'e',\"x\")", want: event.Column{Type: event.TypeEnum, Elems: []string{"a", "b'c", "d'e", "x"}}},
		{in: "set('a,b','c')", want: event.Column{Type: event.TypeSet, Elems: []string{"a,b", "c"}}},
		{in: "enum", want: event.Column{Type: event.TypeEnum}},
		{in: "date", want: event.Column{Type: event.TypeDate}},
		{in: "datetime(6)", want: event.Column{Type: event.TypeDateTime, Scale: 6}},
		{in: "timestamp(3)", want: event.Column{Type: event.TypeTimestamp, Scale: 3}},
		{in: "time(2)", want: event.Column{Type: event.TypeTime, Scale: 2}},
		{in: "year(4)", want: event.Column{Type: event.TypeYear}},
		{in: "json", want: event.Column{Type: event.TypeJSON}},
		{in: "vector", want: event.Column{Type: event.TypeVector}},
		{in: "point", want: event.Column{Type: event.TypeGeometry, Charset: "binary"}, bin: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			col, spec, err := codec.ParseMySQLType(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.RawType = tc.in
			if !columnsEqual(col, tc.want) {
				t.Errorf("got %+v\nwant %+v", col, tc.want)
			}
			if spec.Binary != tc.bin || spec.Typ != col.Type || spec.Unsigned != col.Unsigned {
				t.Errorf("spec %+v does not match column %+v (binary want %v)", spec, col, tc.bin)
			}
		})
	}
	for _, bad := range []string{"", "polygonz", "decimal(66,2)", "decimal(10,11)", "bit(65)", "datetime(7)", "enum('a", "enum(a)", "int(x)", "varchar(10"} {
		if _, _, err := codec.ParseMySQLType(bad); err == nil {
			t.Errorf("parseMySQLType(%q) succeeded", bad)
		}
	}
}

func columnsEqual(a, b event.Column) bool {
	if len(a.Elems) != len(b.Elems) {
		return false
	}
	for i := range a.Elems {
		if a.Elems[i] != b.Elems[i] {
			return false
		}
	}
	a.Elems, b.Elems = nil, nil
	return a.Name == b.Name && a.Type == b.Type && a.Unsigned == b.Unsigned && a.Nullable == b.Nullable &&
		a.Length == b.Length && a.Precision == b.Precision && a.Scale == b.Scale && a.Charset == b.Charset && a.RawType == b.RawType
}

func mustSpec(t *testing.T, typ string) *codec.ColSpec {
	t.Helper()
	_, spec, err := codec.ParseMySQLType(typ)
	if err != nil {
		t.Fatal(err)
	}
	return &spec
}

func TestDecodeTextIntegers(t *testing.T) {
	vc := codec.NewValueCtx(time.UTC, true)
	for _, tc := range []struct {
		typ, in string
		want    event.Value
		err     bool
	}{
		{typ: "tinyint", in: "-128", want: event.Int(-128)},
		{typ: "tinyint", in: "127", want: event.Int(127)},
		{typ: "tinyint", in: "128", err: true},
		{typ: "tinyint", in: "-129", err: true},
		{typ: "tinyint unsigned", in: "255", want: event.Uint(255)},
		{typ: "tinyint unsigned", in: "256", err: true},
		{typ: "smallint", in: "-32768", want: event.Int(-32768)},
		{typ: "smallint unsigned", in: "65535", want: event.Uint(65535)},
		{typ: "mediumint", in: "-8388608", want: event.Int(-8388608)},
		{typ: "mediumint", in: "8388608", err: true},
		{typ: "mediumint unsigned", in: "16777215", want: event.Uint(16777215)},
		{typ: "int", in: "-2147483648", want: event.Int(math.MinInt32)},
		{typ: "int unsigned", in: "4294967295", want: event.Uint(math.MaxUint32)},
		{typ: "int unsigned", in: "4294967296", err: true},
		{typ: "bigint", in: "-9223372036854775808", want: event.Int(math.MinInt64)},
		{typ: "bigint", in: "9223372036854775807", want: event.Int(math.MaxInt64)},
		{typ: "bigint", in: "9223372036854775808", err: true},
		{typ: "bigint unsigned", in: "18446744073709551615", want: event.Uint(math.MaxUint64)},
		{typ: "bigint unsigned", in: "18446744073709551616", err: true},
		{typ: "bigint unsigned", in: "-1", err: true},
		{typ: "int", in: "", err: true},
		{typ: "int", in: "-", err: true},
		{typ: "int", in: "1.0", err: true},
		{typ: "int", in: " 1", err: true},
		{typ: "int", in: "+1", err: true},
		{typ: "int", in: "007", want: event.Int(7)},
		{typ: "year", in: "0", want: event.Year(0)},
		{typ: "year", in: "2155", want: event.Year(2155)},
		{typ: "year", in: "-1", err: true},
		{typ: "bit(3)", in: "7", want: event.Bits(7)},
		{typ: "bit(3)", in: "8", err: true},
		{typ: "bit", in: "18446744073709551615", want: event.Bits(math.MaxUint64)},
		{typ: "bit(64)", in: "18446744073709551615", want: event.Bits(math.MaxUint64)},
	} {
		var ar codec.Arena
		got, err := codec.DecodeText(mustSpec(t, tc.typ), []byte(tc.in), &ar, &vc)
		if tc.err {
			if err == nil {
				t.Errorf("%s %q: got %v, want an error", tc.typ, tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q: got %v, %v; want %v", tc.typ, tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeTextDecimalFloat(t *testing.T) {
	vc := codec.NewValueCtx(time.UTC, true)
	long65 := strings.Repeat("9", 35) + "." + strings.Repeat("9", 30)
	for _, tc := range []struct {
		typ, in string
		want    event.Value
		err     bool
	}{
		{typ: "decimal", in: "0", want: event.Decimal("0")},
		{typ: "decimal", in: "-0.00", want: event.Decimal("-0.00")},
		{typ: "decimal", in: "123.4500", want: event.Decimal("123.4500")},
		{typ: "decimal", in: long65, want: event.Decimal(long65)},
		{typ: "decimal", in: "-" + long65, want: event.Decimal("-" + long65)},
		{typ: "decimal", in: "0000" + long65, want: event.Decimal("0000" + long65)},
		{typ: "decimal", in: "1" + long65, err: true},
		{typ: "decimal", in: "1.", err: true},
		{typ: "decimal", in: ".5", err: true},
		// Exponent forms become the same number's plain text, exactly.
		{typ: "decimal", in: "1e5", want: event.Decimal("100000")},
		{typ: "decimal", in: "1e-30", want: event.Decimal("0.000000000000000000000000000001")},
		{typ: "decimal", in: "-1.5E+3", want: event.Decimal("-1500")},
		{typ: "decimal", in: "1.2345678901234567890123456789E-2", want: event.Decimal("0.012345678901234567890123456789")},
		{typ: "decimal", in: "-0.0e0", want: event.Decimal("0.0")},
		{typ: "decimal", in: "1e999", err: true},
		{typ: "decimal", in: "1e", err: true},
		{typ: "decimal", in: "e5", err: true},
		// Plain text is kept exactly as sent: no rounding, trailing zeros stay.
		{typ: "decimal", in: "3.14159", want: event.Decimal("3.14159")},
		{typ: "decimal", in: "-0.5", want: event.Decimal("-0.5")},
		{typ: "decimal", in: "12345678901234567890123456789012345.123456789012345678901234567890",
			want: event.Decimal("12345678901234567890123456789012345.123456789012345678901234567890")},
		{typ: "decimal", in: "--1", err: true},
		{typ: "decimal", in: "NaN", err: true},
		{typ: "float", in: "3.4028235e+38", want: event.Float32(math.MaxFloat32)},
		{typ: "float", in: "340282350000000000000000000000000000000", want: event.Float32(math.MaxFloat32)},
		{typ: "float", in: "0.1", want: event.Float32(0.1)},
		{typ: "float", in: "1e39", err: true},
		{typ: "double", in: "0.1", want: event.Float64(0.1)},
		{typ: "double", in: "-0", want: event.Float64(math.Copysign(0, -1))},
		{typ: "double", in: "1.7976931348623157e308", want: event.Float64(math.MaxFloat64)},
		{typ: "double", in: "abc", err: true},
	} {
		var ar codec.Arena
		got, err := codec.DecodeText(mustSpec(t, tc.typ), []byte(tc.in), &ar, &vc)
		if tc.err {
			if err == nil {
				t.Errorf("%s %q: got %v, want an error", tc.typ, tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q: got %v, %v; want %v", tc.typ, tc.in, got, err, tc.want)
		}
	}
	// Every float32 TiCDC can write ('f', -1, 32) reads back exactly.
	r := rand.New(rand.NewPCG(1, 2))
	spec := mustSpec(t, "float")
	for range 10000 {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		var ar codec.Arena
		got, err := codec.DecodeText(spec, strconv.AppendFloat(nil, float64(f), 'f', -1, 32), &ar, &vc)
		if err != nil || got.Float32() != f {
			t.Fatalf("float32 %v: got %v, %v", f, got, err)
		}
	}
}

func TestDecodeTextTemporal(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	utc := codec.NewValueCtx(time.UTC, true)
	for _, tc := range []struct {
		typ, in string
		loc     *time.Location
		want    event.Value
		err     bool
	}{
		{typ: "date", in: "2024-02-29", want: event.Date(2024, 2, 29)},
		{typ: "date", in: "0000-00-00", want: event.Date(0, 0, 0)},
		{typ: "date", in: "2024-00-10", want: event.Date(2024, 0, 10)},
		{typ: "date", in: "2024-13-01", err: true},
		{typ: "date", in: "2024-1-01", err: true},
		{typ: "date", in: "24-01-01", err: true},
		{typ: "datetime", in: "2024-02-29 23:59:59", want: event.DateTime(2024, 2, 29, 23, 59, 59, 0)},
		{typ: "datetime", in: "2024-02-29 23:59:59.5", want: event.DateTime(2024, 2, 29, 23, 59, 59, 500000)},
		{typ: "datetime", in: "2024-02-29 23:59:59.000001", want: event.DateTime(2024, 2, 29, 23, 59, 59, 1)},
		{typ: "datetime", in: "2024-02-29T01:02:03", want: event.DateTime(2024, 2, 29, 1, 2, 3, 0)},
		{typ: "datetime", in: "0000-00-00 00:00:00", want: event.DateTime(0, 0, 0, 0, 0, 0, 0)},
		{typ: "datetime", in: "2024-02-29 24:00:00", err: true},
		{typ: "datetime", in: "2024-02-29 23:60:00", err: true},
		{typ: "datetime", in: "2024-02-29 23:59:59.1234567", err: true},
		{typ: "datetime", in: "2024-02-29 23:59:59.", err: true},
		{typ: "datetime", in: "2024-02-29", err: true},
		{typ: "timestamp", in: "1970-01-01 00:00:00", want: event.TimestampMicros(0)},
		{typ: "timestamp", in: "0000-00-00 00:00:00", want: event.TimestampMicros(0)},
		{typ: "timestamp", in: "2038-01-19 03:14:07.999999", want: event.TimestampMicros(2147483647999999)},
		{typ: "timestamp", in: "1900-03-01 00:00:00", want: event.Timestamp(time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC))},
		{typ: "timestamp", in: "2021-12-16 13:45:41.5", loc: sh, want: event.Timestamp(time.Date(2021, 12, 16, 5, 45, 41, 5e8, time.UTC))},
		{typ: "timestamp", in: "2024-07-01 12:00:00", loc: ny, want: event.Timestamp(time.Date(2024, 7, 1, 16, 0, 0, 0, time.UTC))},
		{typ: "timestamp", in: "2024-01-01 12:00:00", loc: ny, want: event.Timestamp(time.Date(2024, 1, 1, 17, 0, 0, 0, time.UTC))},
		{typ: "timestamp", in: "2023-02-29 00:00:00", err: true},
		{typ: "timestamp", in: "2023-04-31 00:00:00", err: true},
		{typ: "timestamp", in: "0000-00-00 00:00:01", err: true},
		{typ: "time", in: "00:00:00", want: event.TimeMicros(0)},
		{typ: "time", in: "-00:00:00.000001", want: event.TimeMicros(-1)},
		{typ: "time", in: "838:59:59", want: event.TimeMicros(mysqldialect.MaxTimeMicros)},
		{typ: "time", in: "-838:59:59.000000", want: event.TimeMicros(-mysqldialect.MaxTimeMicros)},
		{typ: "time", in: "24:00:00", want: event.TimeMicros(86400e6)},
		{typ: "time", in: "100:00:00.25", want: event.TimeMicros(360000e6 + 250000)},
		{typ: "time", in: "839:00:00", err: true},
		{typ: "time", in: "12:60:00", err: true},
		{typ: "time", in: "1:2:3", err: true},
		{typ: "time", in: "--1:00:00", err: true},
	} {
		vc := utc
		if tc.loc != nil {
			vc = codec.NewValueCtx(tc.loc, true)
		}
		var ar codec.Arena
		got, err := codec.DecodeText(mustSpec(t, tc.typ), []byte(tc.in), &ar, &vc)
		if tc.err {
			if err == nil {
				t.Errorf("%s %q: got %v, want an error", tc.typ, tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q: got %v, %v; want %v", tc.typ, tc.in, got, err, tc.want)
		}
	}
}

// The UTC fast path agrees with time.Date over the whole supported range.
func TestCivilMicrosMatchesTime(t *testing.T) {
	vc := codec.NewValueCtx(time.UTC, true)
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		c := mysqldialect.Civil{Y: 1 + r.IntN(9999), Mo: 1 + r.IntN(12), H: r.IntN(24), Mi: r.IntN(60), S: r.IntN(60), Us: r.IntN(1e6)}
		c.D = 1 + r.IntN(event.DaysIn(c.Y, c.Mo))
		want := time.Date(c.Y, time.Month(c.Mo), c.D, c.H, c.Mi, c.S, c.Us*1000, time.UTC).UnixMicro()
		if got := codec.CivilMicros(c, &vc); got != want {
			t.Fatalf("%+v: got %d want %d", c, got, want)
		}
		days := codec.FloorDiv(want, 86400e6)
		if y, m, d := event.CivilFromDays(days); y != c.Y || m != c.Mo || d != c.D {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %+v", days, y, m, d, c)
		}
	}
}

func TestDecodeTextEnumSet(t *testing.T) {
	for _, tc := range []struct {
		typ, in string
		index   bool
		want    event.Value
		err     bool
	}{
		{typ: "enum", in: "3", index: true, want: event.Enum(3, "")},
		{typ: "enum('a','b')", in: "2", index: true, want: event.Enum(2, "b")},
		{typ: "enum('a','b')", in: "0", index: true, want: event.Enum(0, "")},
		{typ: "enum('a','b')", in: "3", index: true, err: true},
		// Member text from an index-writing producer that knows the members.
		{typ: "enum('a','b')", in: "b", index: true, want: event.Enum(2, "b")},
		{typ: "enum('a','b')", in: "c", index: true, err: true},
		{typ: "set('a','b','c')", in: "a,c", index: true, want: event.Set(5, "a,c")},
		{typ: "set", in: "a,c", index: true, err: true},
		{typ: "enum('a','b')", in: "b", want: event.Enum(2, "b")},
		{typ: "enum('a','b')", in: "B", want: event.Enum(2, "b")},
		{typ: "enum('a','b')", in: "", want: event.Enum(0, "")},
		{typ: "enum('1','2')", in: "2", want: event.Enum(2, "2")},
		{typ: "enum('x','y')", in: "1", want: event.Enum(1, "x")},
		{typ: "enum('a','b')", in: "c", err: true},
		{typ: "enum", in: "c", want: event.Enum(0, "c")},
		{typ: "set", in: "5", index: true, want: event.Set(5, "")},
		{typ: "set('a','b','c')", in: "5", index: true, want: event.Set(5, "a,c")},
		{typ: "set('a','b','c')", in: "8", index: true, err: true},
		{typ: "set('a','b','c')", in: "a,c", want: event.Set(5, "a,c")},
		{typ: "set('a','b','c')", in: "c,a", want: event.Set(5, "a,c")},
		{typ: "set('a','b','c')", in: "", want: event.Set(0, "")},
		{typ: "set('a','b','c')", in: "d", err: true},
		{typ: "set('1','2')", in: "1,2", want: event.Set(3, "1,2")},
		{typ: "set('a','b')", in: "3", want: event.Set(3, "a,b")},
	} {
		vc := codec.NewValueCtx(time.UTC, tc.index)
		var ar codec.Arena
		got, err := codec.DecodeText(mustSpec(t, tc.typ), []byte(tc.in), &ar, &vc)
		if tc.err {
			if err == nil {
				t.Errorf("%s %q: got %v, want an error", tc.typ, tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q (index %v): got %v, %v; want %v", tc.typ, tc.in, tc.index, got, err, tc.want)
		}
	}
}

// Every byte string survives TiCDC's ISO-8859-1 canal-json encoding.
func TestLatin1RoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	r := rand.New(rand.NewPCG(5, 6))
	inputs := [][]byte{all, {}, {0}, {0xff, 0xfe}}
	for range 200 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		inputs = append(inputs, b)
	}
	d, err := canal.NewCanalJSON(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		// What TiCDC does: each byte becomes the rune U+00xx, JSON-escaped.
		runes := make([]rune, len(in))
		for i, c := range in {
			runes[i] = rune(c)
		}
		enc, err := json.Marshal(string(runes))
		if err != nil {
			t.Fatal(err)
		}
		msg := `{"database":"d","table":"t","pkNames":["id"],"isDdl":false,"type":"INSERT","es":1,"mysqlType":{"id":"int","b":"varbinary"},"data":[{"id":"1","b":` + string(enc) + `}],"_tidb":{"commitTs":1}}`
		ds, err := d.Decode(nil, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if got := ds[0].Events[0].After[1]; got.Kind() != event.KindBytes || got.Str() != string(in) {
			t.Fatalf("bytes %x: got %v", in, got)
		}
	}
}

// Binary CHAR/VARCHAR in the open protocol are Go-quoted; every byte string
// round-trips.
func TestOpenProtocolBinaryRoundTrip(t *testing.T) {
	d, err := open.NewOpenProtocol(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for n := range 300 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		if n == 0 {
			b = []byte("é\"\\\x00\xff日本")
		}
		q := strconv.Quote(string(b))
		v, _ := json.Marshal(q[1 : len(q)-1])
		key := appendFrames(bigEndian8(open.OpenBatchVersion), [][]byte{[]byte(`{"ts":1,"scm":"d","tbl":"t","t":1}`)})
		val := appendFrames(nil, [][]byte{[]byte(`{"u":{"b":{"t":15,"f":1,"v":` + string(v) + `}}}`)})
		ds, err := d.Decode(key, val)
		if err != nil {
			t.Fatal(err)
		}
		if got := ds[0].Events[0].After[0]; got.Str() != string(b) {
			t.Fatalf("bytes %x: got %x", b, got.Str())
		}
	}
}

func bigEndian8(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

func TestDecimalFromBase64(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		// A random unscaled value of up to 65 digits and a scale.
		digits := 1 + r.IntN(65)
		var sb strings.Builder
		for i := 0; i < digits; i++ {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
		x, _ := new(big.Int).SetString(sb.String(), 10)
		if r.IntN(2) == 0 {
			x.Neg(x)
		}
		scale := r.IntN(31)
		// Two's complement big-endian, as Kafka Connect writes it.
		b := twosComplement(x)
		got, err := codec.DecimalFromBase64([]byte(base64Std(b)), scale)
		if err != nil {
			t.Fatal(err)
		}
		want := new(big.Float).SetPrec(512).Quo(new(big.Float).SetPrec(512).SetInt(x), new(big.Float).SetPrec(512).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
		if want.Text('f', scale) != string(got) && !(x.Sign() == 0 && strings.TrimLeft(string(got), "-0.") == "") {
			t.Fatalf("%s scale %d: got %s want %s", x, scale, got, want.Text('f', scale))
		}
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func twosComplement(x *big.Int) []byte {
	if x.Sign() >= 0 {
		b := x.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	n := (x.BitLen() + 8) / 8
	m := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(n*8)), x)
	b := m.Bytes()
	for len(b) < n {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func TestTSO(t *testing.T) {
	const tso = 429918007904436226
	if got, want := codec.TSOToMicros(tso), int64(tso>>18)*1000; got != want {
		t.Fatalf("TSOToMicros = %d, want %d", got, want)
	}
	if got := time.UnixMicro(codec.TSOToMicros(tso)).UTC().Format(time.RFC3339Nano); got != "2021-12-20T13:30:49.196Z" {
		t.Fatalf("TSO time %s", got)
	}
	if codec.TSOFromMillis(1640007049196)>>18 != 1640007049196 || codec.TSOFromMillis(-1) != 0 {
		t.Fatal("TSOFromMillis")
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := codec.Config{Protocol: "avro", TimeZone: "Mars/Olympus", Compression: "zstd", MaxCachedTables: -1}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"protocol", "time_zone", "compression", "max_cached_tables"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	good := codec.Config{Protocol: codec.ProtocolCanalJSON}
	good.EnsureDefaults()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(codec.Config{}); err == nil {
		t.Error("New without protocol succeeded")
	}
	if _, err := New(codec.Config{Protocol: "avro"}); err == nil {
		t.Error("New with unknown protocol succeeded")
	}
	if _, err := open.NewOpenProtocol(codec.Config{RequireTiDBExtension: true}); err == nil {
		t.Error("require_tidb_extension accepted for open-protocol")
	}
}

func TestDecodeErrorFields(t *testing.T) {
	d, err := canal.NewCanalJSON(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Decode(nil, []byte(`{"database":"db","table":"tb","isDdl":false,"type":"INSERT","mysqlType":{"c":"int"},"data":[{"c":"x"}]}`))
	var de *codec.DecodeError
	if !errors.As(err, &de) || !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("error %v is not a DecodeError/ErrMalformed", err)
	}
	if de.Protocol != codec.ProtocolCanalJSON || de.Table != "db.tb" || de.Column != "c" || de.Field != "data[0]" || !errors.Is(err, jsontape.ErrSyntax) {
		t.Fatalf("DecodeError %+v", de)
	}
}

// Decoded strings never alias the input: Kafka clients reuse buffers.
func TestValuesDoNotAliasInput(t *testing.T) {
	d, err := canal.NewCanalJSON(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"database":"db","table":"tb","pkNames":["id"],"isDdl":false,"type":"UPDATE","mysqlType":{"id":"int","s":"varchar","d":"decimal","j":"json","b":"blob"},` +
		`"data":[{"id":"1","s":"hello","d":"1.50","j":"{}","b":"ab"}],"old":[{"id":"1","s":"bye","d":"1.50","j":"[]","b":"ab"}],"_tidb":{"commitTs":5}}`)
	ds, err := d.Decode(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	before := renderDecoded(ds)
	for i := range msg {
		msg[i] = 'X'
	}
	// A second decode must not reuse memory of the first results either.
	if _, err := d.Decode(nil, []byte(`{"database":"db","table":"tb","pkNames":["id"],"isDdl":false,"type":"INSERT","mysqlType":{"id":"int","s":"varchar","d":"decimal","j":"json","b":"blob"},"data":[{"id":"2","s":"zzzzz","d":"9.99","j":"{1}","b":"zz"}],"_tidb":{"commitTs":6}}`)); err != nil {
		t.Fatal(err)
	}
	if after := renderDecoded(ds); after != before {
		t.Fatalf("values changed:\n%s\nvs\n%s", before, after)
	}
}

// The schema cache is bounded and stays correct across evictions and
// mysqlType map orders.
func TestSchemaCache(t *testing.T) {
	d, err := canal.NewCanalJSON(codec.Config{MaxCachedTables: 3})
	if err != nil {
		t.Fatal(err)
	}
	var versions = map[string]uint64{}
	for i := 0; i < 50; i++ {
		tbl := "t" + strconv.Itoa(i%7)
		types := `{"id":"int","v":"varchar"}`
		if i%2 == 1 {
			types = `{"v":"varchar","id":"int"}`
		}
		msg := `{"database":"db","table":"` + tbl + `","pkNames":["id"],"isDdl":false,"type":"INSERT","mysqlType":` + types + `,"data":[{"id":"` + strconv.Itoa(i) + `","v":"x"}],"_tidb":{"commitTs":1}}`
		ds, err := d.Decode(nil, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		ev := ds[0].Events[0]
		if ev.Table.ID.Table != tbl || ev.After[0] != event.Int(int64(i)) {
			t.Fatalf("message %d decoded as %v %v", i, ev.Table.ID, ev.After)
		}
		if v, ok := versions[tbl]; ok && v != ev.Table.Version {
			t.Fatalf("table %s version changed %x -> %x", tbl, v, ev.Table.Version)
		}
		versions[tbl] = ev.Table.Version
		if len(d.Cache.M) > 3 {
			t.Fatalf("cache holds %d entries", len(d.Cache.M))
		}
	}
	// A changed type is a new schema.
	ds, err := d.Decode(nil, []byte(`{"database":"db","table":"t0","pkNames":["id"],"isDdl":false,"type":"INSERT","mysqlType":{"id":"bigint","v":"varchar"},"data":[{"id":"1","v":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Events[0].Table.Version == versions["t0"] || ds[0].Events[0].Table.Columns[0].Type != event.TypeBigInt {
		t.Fatal("type change not reflected in the schema")
	}
}

func TestCompression(t *testing.T) {
	msg := []byte(`{"database":"db","table":"tb","pkNames":["id"],"isDdl":false,"type":"INSERT","mysqlType":{"id":"int"},"data":[{"id":"7"}],"_tidb":{"commitTs":5}}`)
	for _, alg := range []string{codec.CompressionSnappy, codec.CompressionLZ4} {
		t.Run(alg, func(t *testing.T) {
			comp, err := compressForTest(alg, msg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := canal.NewCanalJSON(codec.Config{Compression: alg})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				ds, err := d.Decode(nil, comp)
				if err != nil {
					t.Fatal(err)
				}
				if ds[0].Events[0].After[0] != event.Int(7) || ds[0].CommitTs != 5 {
					t.Fatalf("got %+v", ds[0])
				}
			}
			if _, err := d.Decode(nil, msg); err == nil {
				t.Error("uncompressed input decoded as " + alg)
			}
			// Open protocol compresses each value of the batch.
			o, err := open.NewOpenProtocol(codec.Config{Compression: alg})
			if err != nil {
				t.Fatal(err)
			}
			v, err := compressForTest(alg, []byte(`{"u":{"id":{"t":3,"f":11,"v":9}}}`))
			if err != nil {
				t.Fatal(err)
			}
			key := appendFrames(bigEndian8(open.OpenBatchVersion), [][]byte{[]byte(`{"ts":1,"scm":"d","tbl":"t","t":1}`)})
			ds, err := o.Decode(key, appendFrames(nil, [][]byte{v}))
			if err != nil {
				t.Fatal(err)
			}
			if ds[0].Events[0].After[0] != event.Int(9) {
				t.Fatalf("got %+v", ds[0])
			}
		})
	}
}

func TestJSONTape(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `{"a":[1,2,{"b":null}],"c":"x\u00e9\ud83d\ude00"}`, `"\ud800"`, `-0.5e+10`, `0`, `[true,false,null]`,
		` { "a" : 1 } `, `{"a":1,}`, `[1,]`, `{"a"}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `"\x"`, "\"\x01\"", `"abc`, `[1 2]`,
		`{"a":1}{`, `tru`, `nul`, `"\u12"`, `[[[[[]]]]]`, `{"":""}`,
	} {
		var tp jsontape.Tape
		_, err := tp.ParseAll([]byte(in), nil)
		valid := json.Valid([]byte(in))
		if in == `{"a":1}{` {
			valid = false
		}
		if (err == nil) != valid {
			t.Errorf("%q: tape error %v, json.Valid %v", in, err, valid)
		}
	}
	// Depth is bounded without recursion.
	deep := strings.Repeat("[", jsontape.MaxJSONDepth+2) + strings.Repeat("]", jsontape.MaxJSONDepth+2)
	var tp jsontape.Tape
	if _, err := tp.ParseAll([]byte(deep), nil); err == nil {
		t.Error("deep nesting accepted")
	}
	// Unescaping matches encoding/json.
	for _, s := range []string{`"a\"b\\c\/d\b\f\n\r\t"`, `"\u0000\u001f\u00ff\u20ac"`, `"\ud83d\ude00 \ud83d x \ude00"`, `"plain"`} {
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatal(err)
		}
		root, err := tp.ParseOne([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		if got := tp.Str(root); got != want {
			t.Errorf("%s: got %q want %q", s, got, want)
		}
	}
}

func TestOpenFramingErrors(t *testing.T) {
	d, err := open.NewOpenProtocol(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	key := appendFrames(bigEndian8(open.OpenBatchVersion), [][]byte{[]byte(`{"ts":1,"scm":"d","tbl":"t","t":1}`)})
	val := appendFrames(nil, [][]byte{[]byte(`{"u":{"id":{"t":3,"v":1}}}`)})
	for _, tc := range []struct {
		name     string
		key, val []byte
	}{
		{"short key", key[:5], val},
		{"no events", key[:8], val},
		{"key frame overflow", append(bigEndian8(1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), val},
		{"trailing key bytes", append(bytes.Clone(key), 1, 2, 3), val},
		{"value frame overflow", key, []byte{0, 0, 0, 0, 0, 0, 1, 0, '{'}},
		{"more values than keys", key, append(bytes.Clone(val), val...)},
		{"missing value", key, nil},
		{"key not JSON", appendFrames(bigEndian8(1), [][]byte{[]byte("nope")}), val},
		{"key without t", appendFrames(bigEndian8(1), [][]byte{[]byte(`{"ts":1}`)}), val},
	} {
		if _, err := d.Decode(tc.key, tc.val); err == nil || !errors.Is(err, codec.ErrMalformed) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}
