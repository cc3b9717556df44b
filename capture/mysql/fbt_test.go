package mysql

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// The expected texts are what MariaDB 10.11 prints for the values
// (SELECT CAST(col AS CHAR)); the binlog strips trailing zero bytes.
func TestFixedBinaryText(t *testing.T) {
	cases := []struct {
		kind fbtKind
		hex  string
		want string
	}{
		{fbtUUID, "123e4567e89b12d3a456426655440000", "123e4567-e89b-12d3-a456-426655440000"}, // v1
		{fbtUUID, "f47ac10b58cc4372a5670e02b2c3d479", "f47ac10b-58cc-4372-a567-0e02b2c3d479"}, // v4
		{fbtUUID, "6ccd780cbaba1026e5645b8c656024db", "6ccd780c-baba-1026-e564-5b8c656024db"}, // non-RFC variant
		{fbtUUID, "", "00000000-0000-0000-0000-000000000000"},                                 // nil
		{fbtUUID, "ffffffffffffffffffffffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"}, // max
		{fbtInet4, "c0000201", "192.0.2.1"},
		{fbtInet4, "", "0.0.0.0"},
		{fbtInet4, "0a0000", "10.0.0.0"},
		{fbtInet4, "ffffffff", "255.255.255.255"},
		{fbtInet6, "20010db8000000000000ff0000428329", "2001:db8::ff00:42:8329"},
		{fbtInet6, "00000000000000000000ffffc0000201", "::ffff:192.0.2.1"},
		{fbtInet6, "000000000000000000000000c0000201", "::192.0.2.1"},
		{fbtInet6, "", "::"},
		{fbtInet6, "00000000000000000000000000000001", "::1"},
		{fbtInet6, "00010002000300040005000600070008", "1:2:3:4:5:6:7:8"},
		{fbtInet6, "00010000000200030004000500060007", "1::2:3:4:5:6:7"},
		{fbtInet6, "00010000000000020000000000000003", "1:0:0:2::3"},
		{fbtInet6, "000000000001", "0:0:1::"},
		{fbtInet6, "00000000000000000000ffff", "::ffff:0.0.0.0"},
		{fbtInet6, "0000000000000000000000000000ffff", "::ffff"},
		{fbtInet6, "00000000000000000000000100000002", "::1:0:2"},
		{fbtInet6, "ffffffffffffffffffffffffffffffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{fbtInet6, "00000000000000000000fffe01020304", "::fffe:102:304"},
		{fbtInet6, "000000000000ffff0000000001020304", "::ffff:0:0:102:304"},
		{fbtInet6, "0001000200030004000500060007", "1:2:3:4:5:6:7::"},
	}
	for _, c := range cases {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := c.kind.text(b)
		if !ok || got != c.want {
			t.Errorf("%d %s: got %q %v, want %q", c.kind, c.hex, got, ok, c.want)
		}
	}
	if _, ok := fbtInet4.text([]byte{1, 2, 3, 4, 5}); ok {
		t.Error("5 bytes accepted as INET4")
	}
}

// The binlog row decoder turns a UUID/INET column (BINARY(n) in the
// binlog) into the text form.
func TestFixedBinaryRowValue(t *testing.T) {
	col := colSchema{Name: "u", Type: "uuid"}
	ec := col.eventColumn()
	if ec.RawType != "uuid" || ec.Length != 36 || ec.Type.String() != "char" {
		t.Fatalf("event column %+v", ec)
	}
	d := &rowDecoder{}
	c := &colDec{col: &ec, tp: 254, length: 16, fbt: fbtUUID}
	data := append([]byte{14}, mustHex(t, "123e4567e89b12d3a4564266554400")...)
	data = data[:15]
	v, n, err := d.value(c, data)
	if err != nil || n != 15 || v.Str() != "123e4567-e89b-12d3-a456-426655440000" {
		t.Fatalf("got %v %d %v", v, n, err)
	}
	if _, _, err := d.value(c, append([]byte{17}, bytes.Repeat([]byte{1}, 17)...)); err == nil {
		t.Fatal("17 bytes accepted as UUID")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeLabels(t *testing.T) {
	cases := []struct {
		in, charset string
		n           int
		want        []string
		bad         bool
	}{
		{"61,F09F9880,,", "utf8mb4", 3, []string{"a", "😀", ""}, false},
		{"E9,FC,", "latin1", 2, []string{"é", "ü"}, false},
		{"D6D0,CEC4,", "gbk", 2, []string{"中", "文"}, false},
		{"61,", "utf8mb4", 2, nil, true},
		{"ZZ,", "utf8mb4", 1, nil, true},
	}
	for _, c := range cases {
		got, err := decodeLabels(c.in, c.charset, c.n)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("%q: %q %v", c.in, got, err)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: member %d %q, want %q", c.in, i, got[i], c.want[i])
			}
		}
	}
}
