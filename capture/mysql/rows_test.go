package mysql

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/odsync/odsync/event"
)

// encodeDecimal is MySQL's decimal2bin, for tests.
func encodeDecimal(text string, precision, scale int) []byte {
	neg := strings.HasPrefix(text, "-")
	text = strings.TrimPrefix(text, "-")
	ip, fp, _ := strings.Cut(text, ".")
	intg := precision - scale
	ip = strings.TrimLeft(ip, "0")
	ip = strings.Repeat("0", intg-len(ip)) + ip
	fp += strings.Repeat("0", scale-len(fp))
	var out []byte
	put := func(digits string) {
		n := dig2bytes[len(digits)]
		v := new(big.Int)
		v.SetString(digits, 10)
		u := v.Uint64()
		for i := n - 1; i >= 0; i-- {
			out = append(out, byte(u>>(8*i)))
		}
	}
	if r := intg % 9; r > 0 {
		put(ip[:r])
		ip = ip[r:]
	}
	for len(ip) > 0 {
		put(ip[:9])
		ip = ip[9:]
	}
	for len(fp) >= 9 {
		put(fp[:9])
		fp = fp[9:]
	}
	if len(fp) > 0 {
		put(fp)
	}
	out[0] ^= 0x80
	if neg {
		for i := range out {
			out[i] ^= 0xff
		}
	}
	return out
}

func TestDecodeDecimal(t *testing.T) {
	// Recorded by go-mysql's tests from MySQL (DECIMAL(40,16) etc.).
	for _, v := range []struct {
		b    []byte
		p, s int
		want string
	}{
		{[]byte{128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 123, 27, 46, 2, 0, 0, 0, 0, 0}, 40, 16, "123.4560000000000000"},
		{[]byte{128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 232, 0, 0, 0, 0}, 40, 16, "0.0000010000000000"},
		{[]byte{128, 0, 0, 0, 0, 0, 0, 5, 245, 225, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 40, 16, "100000000.0000000000000000"},
	} {
		got, n, err := decodeDecimal(v.b, v.p, v.s)
		if err != nil || got != v.want || n != len(v.b) {
			t.Errorf("%v: %q %d %v, want %q", v.b, got, n, err, v.want)
		}
	}
	// Round trips over random values of every shape, up to DECIMAL(65,30).
	rng := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	for i := 0; i < 5000; i++ {
		p := 1 + rng.IntN(65)
		s := rng.IntN(min(p, 30) + 1)
		ip := strings.TrimLeft(digits(rng.IntN(p-s+1)), "0")
		if ip == "" {
			ip = "0"
		}
		text := ip
		if s > 0 {
			text += "." + digits(s)
		}
		if rng.IntN(2) == 0 && strings.Trim(text, "0.") != "" {
			text = "-" + text
		}
		b := encodeDecimal(text, p, s)
		if len(b) != decimalSize(p, s) {
			t.Fatalf("size of DECIMAL(%d,%d): %d vs %d", p, s, len(b), decimalSize(p, s))
		}
		got, _, err := decodeDecimal(append(b, 0xAA), p, s)
		if err != nil || got != text {
			t.Fatalf("DECIMAL(%d,%d) %s: got %q %v", p, s, text, got, err)
		}
	}
}

func TestDecodeTime2(t *testing.T) {
	// Recorded by go-mysql's tests from MySQL.
	for _, v := range []struct {
		b    string
		fsp  uint16
		want string
	}{
		{"\xb4\x6e\xfb", 0, "838:59:59"},
		{"\x80\xf1\x05", 0, "15:04:05"},
		{"\x80\x00\x00", 0, "00:00:00"},
		{"\x7f\xff\xff", 0, "-00:00:01"},
		{"\x7f\x0e\xfb", 0, "-15:04:05"},
		{"\x4b\x91\x05", 0, "-838:59:59"},
		{"\x7f\xff\xff\xff", 2, "-00:00:00.010000"},
		{"\x7f\x0e\xfa\xf4", 2, "-15:04:05.120000"},
		{"\x4b\x91\x05\xf4", 2, "-838:59:58.120000"},
		{"\x7f\xff\xff\xff\xff", 4, "-00:00:00.000100"},
		{"\x7f\x0e\xfa\xfb\x2d", 4, "-15:04:05.123500"},
		{"\x7f\xff\xff\xff\xff\xff", 6, "-00:00:00.000001"},
		{"\x7f\x0e\xfa\xfe\x1d\xc0", 6, "-15:04:05.123456"},
		{"\x4b\x91\x05\xfe\x1d\xc0", 6, "-838:59:58.123456"},
	} {
		got := event.TimeMicros(decodeTime2([]byte(v.b), v.fsp)).Text()
		if got != v.want {
			t.Errorf("%x fsp %d: %s, want %s", v.b, v.fsp, got, v.want)
		}
	}
}

// TestZeroDatePolicy decodes zero dates under each policy.
func TestZeroDatePolicy(t *testing.T) {
	date := []byte{0, 0, 0}                                                       // 0000-00-00
	dt2 := []byte{0x80, 0, 0, 0, 0}                                               // 0000-00-00 00:00:00
	ts2 := []byte{0, 0, 0, 0}                                                     // zero TIMESTAMP
	partial := binary.LittleEndian.AppendUint32(nil, uint32(2020<<9|0<<5|15))[:3] // 2020-00-15
	cols := []colDec{
		{col: &event.Column{Name: "d", Type: event.TypeDate}, tp: gomysql.MYSQL_TYPE_DATE},
		{col: &event.Column{Name: "dt", Type: event.TypeDateTime}, tp: gomysql.MYSQL_TYPE_DATETIME2},
		{col: &event.Column{Name: "ts", Type: event.TypeTimestamp}, tp: gomysql.MYSQL_TYPE_TIMESTAMP2},
		{col: &event.Column{Name: "p", Type: event.TypeDate}, tp: gomysql.MYSQL_TYPE_DATE},
	}
	data := [][]byte{date, dt2, ts2, partial}
	for _, tc := range []struct {
		policy string
		want   []string
		err    bool
	}{
		{ZeroDatesKeep, []string{"date:0000-00-00", "datetime:0000-00-00 00:00:00", "timestamp:1970-01-01T00:00:00Z", "date:2020-00-15"}, false},
		{ZeroDatesNull, []string{"NULL", "NULL", "NULL", "NULL"}, false},
		{ZeroDatesError, nil, true},
	} {
		d := &rowDecoder{zero: tc.policy}
		for i := range cols {
			v, _, err := d.value(&cols[i], data[i])
			if tc.err {
				if err == nil {
					t.Errorf("%s %s: no error", tc.policy, cols[i].col.Name)
				}
				continue
			}
			if err != nil || v.String() != tc.want[i] {
				t.Errorf("%s %s: %v %v, want %s", tc.policy, cols[i].col.Name, v, err, tc.want[i])
			}
		}
	}
}

func TestMySQLJSONText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1,"b":[1,2.5,"x, y: z"],"c":{"d":null}}`, `{"a": 1, "b": [1, 2.5, "x, y: z"], "c": {"d": null}}`},
		{`{"a": 1, "b": [1, 2]}`, `{"a": 1, "b": [1, 2]}`},
		{`[1.5e-05,1e+20,2E+300,true,"e\"q"]`, `[1.5e-5, 1e20, 2e300, true, "e\"q"]`},
		{`"plain"`, `"plain"`},
	} {
		if got := mysqlJSONText(tc.in); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestKeyTextRoundTrip(t *testing.T) {
	for _, v := range []event.Value{event.Int(-5), event.Uint(18446744073709551615), event.Decimal("-1.50"), event.Float32(0.1),
		event.Float64(-2.5e300), event.String("a:b,c 中"), event.Bytes([]byte{0, 255}), event.Date(0, 0, 0),
		event.DateTime(2024, 2, 29, 23, 59, 59, 999999), event.TimestampMicros(-5), event.TimeMicros(-1), event.Year(2155),
		event.Enum(2, "b"), event.Set(5, "a,c"), event.Bits(1 << 63)} {
		got, err := parseKeyText(keyText(v))
		if err != nil || !got.Equal(v) {
			t.Errorf("%v: %v %v", v, got, err)
		}
	}
}

func TestChunkSQL(t *testing.T) {
	s := mustCreate(t, "CREATE TABLE t (a VARCHAR(5) NOT NULL, b BIGINT UNSIGNED NOT NULL, d DECIMAL(12,3), e ENUM('x','y'), PRIMARY KEY (a, b))")
	tbl := s.eventTable()
	cols, err := newSnapCols(tbl, "mysql")
	if err != nil {
		t.Fatal(err)
	}
	lo := []event.Value{event.String("k'1"), event.Uint(18446744073709551615)}
	hi := []event.Value{event.String("z"), event.Uint(1)}
	q, args := chunkSQL(tbl, cols, lo, hi, 10, true)
	want := "SELECT `a`, `b`, `d`, `e`+0 FROM `db`.`t` WHERE ((`a` > ?) OR (`a` = ? AND `b` > ?)) AND " +
		"((`a` < ?) OR (`a` = ? AND `b` < ?) OR (`a` = ? AND `b` = ?)) ORDER BY `a`, `b` LIMIT 10 LOCK IN SHARE MODE"
	if q != want {
		t.Errorf("sql:\n%s\nwant\n%s", q, want)
	}
	if len(args) != 8 || args[0].Value != "k'1" || args[2].Value != uint64(18446744073709551615) || args[7].Value != uint64(1) {
		t.Errorf("args %v", args)
	}
	// Decimal keys compare as decimals, not doubles.
	ds := mustCreate(t, "CREATE TABLE t (d DECIMAL(65,30) PRIMARY KEY)").eventTable()
	dc, _ := newSnapCols(ds, "mariadb")
	q, _ = chunkSQL(ds, dc, []event.Value{event.Decimal("1.5")}, nil, 5, false)
	if !strings.Contains(q, "`d` > CAST(? AS DECIMAL(65,30))") {
		t.Errorf("decimal key: %s", q)
	}
}

func TestProgressLine(t *testing.T) {
	sn := &snapshotter{list: make([]event.TableID, 4), rate: 1500}
	got := sn.progressLine(&SnapshotState{Next: 3, Active: []TableProgress{{}}, Rows: 5000, Total: 20000}, true)
	want := "snapshot [#######.......................]  25%  2/4 tables  5000 rows  1500 rows/s  ETA 10s"
	if got != want {
		t.Errorf("%q\nwant %q", got, want)
	}
}
