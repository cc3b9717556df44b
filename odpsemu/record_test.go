package odpsemu

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func loadHex(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, f := range strings.Fields(line) {
			v, err := hex.DecodeString(f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, v...)
		}
	}
	return out
}

func loadSchema(t testing.TB, name string) []column {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var cols []column
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		n, typ, _ := strings.Cut(line, " ")
		dt, err := parseTypeString(typ)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		cols = append(cols, column{name: n, typ: dt})
	}
	return cols
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestDecodeSDKStreams decodes byte streams captured from the SDK: CRCs, count and checksum must check out, values
// render as in the golden files, and re-encoding with the same column
// order reproduces the SDK's bytes exactly.
func TestDecodeSDKStreams(t *testing.T) {
	for _, tc := range []struct{ stream, schema, golden string }{
		{"tiny.hex", "", "tiny.golden"},
		{"every_type.hex", "every_type_schema.txt", "every_type.golden"},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			buf := loadHex(t, tc.stream)
			var cols []column
			if tc.schema == "" {
				cols = []column{{name: "id", typ: &dataType{kind: kBigint}}, {name: "name", typ: &dataType{kind: kString}}}
			} else {
				cols = loadSchema(t, tc.schema)
			}
			lines, err := renderStream(cols, buf)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			checkGolden(t, tc.golden, strings.Join(lines, "\n")+"\n")

			all := make([]int, len(cols))
			for i := range all {
				all[i] = i
			}
			if got := transcode(t, cols, buf, all); !bytes.Equal(got, buf) {
				t.Fatalf("re-encoded stream differs from the SDK's:\n got  %x\n want %x", got, buf)
			}
		})
	}
}

// transcode re-encodes every record of buf with output columns outCols.
func transcode(t testing.TB, cols []column, buf []byte, outCols []int) []byte {
	t.Helper()
	d := newDecoder(cols)
	var enc streamEncoder
	fieldAt := make([]int, len(cols))
	_, err := d.decode(buf, func(raw []byte, fields []fieldSpan) error {
		for i := range fieldAt {
			fieldAt[i] = -1
		}
		for i, f := range fields {
			fieldAt[f.col] = i
		}
		enc.addRecord(cols, outCols, fieldAt, fields, buf, d.scratch)
		return nil
	})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	enc.finish()
	return enc.buf
}

// TestTranscodeColumnOrder re-numbers fields in a different column order
// (what a download with columns= does) and checks the result decodes, with
// valid CRCs, to the same values under the reordered schema.
func TestTranscodeColumnOrder(t *testing.T) {
	cols := loadSchema(t, "every_type_schema.txt")
	buf := loadHex(t, "every_type.hex")
	order := []int{19, 0, 12, 7, 17, 3}
	out := transcode(t, cols, buf, order)
	sub := make([]column, len(order))
	for i, c := range order {
		sub[i] = cols[c]
	}
	got, err := renderStream(sub, out)
	if err != nil {
		t.Fatalf("decoding the reordered stream: %v", err)
	}
	want := []string{
		`c_struct={a: 9, b: "z"} c_bigint=-1 c_datetime=2024-01-02T03:04:05.123Z c_string="héllo" c_array=[1, NULL, -1] c_tinyint=4`,
		`c_bigint=42`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// testField is one field for buildStream: column number, wire type, value
// bytes on the wire and the bytes the CRC covers.
type testField struct {
	col  int
	wt   uint64
	wire []byte
	crc  []byte
}

// buildStream encodes records with correct CRCs, so validation other than
// the checksums can be exercised.
func buildStream(records ...[]testField) []byte {
	var out []byte
	var crcOfCrcs uint32
	for _, rec := range records {
		var crcBytes []byte
		for _, f := range rec {
			out = binary.AppendUvarint(out, uint64(f.col)<<3|f.wt)
			out = append(out, f.wire...)
			crcBytes = binary.LittleEndian.AppendUint32(crcBytes, uint32(f.col))
			crcBytes = append(crcBytes, f.crc...)
		}
		crc := crc32.Checksum(crcBytes, castagnoli)
		out = binary.AppendUvarint(out, fieldEndRecord<<3)
		out = binary.AppendUvarint(out, uint64(crc))
		crcOfCrcs = crc32.Update(crcOfCrcs, castagnoli, binary.LittleEndian.AppendUint32(nil, crc))
	}
	out = binary.AppendUvarint(out, fieldMetaCount<<3)
	out = binary.AppendUvarint(out, encodeZigZag(int64(len(records))))
	out = binary.AppendUvarint(out, fieldMetaChecksum<<3)
	out = binary.AppendUvarint(out, uint64(crcOfCrcs))
	return out
}

func intField(col int, v int64) testField {
	return testField{col: col, wt: 0, wire: binary.AppendUvarint(nil, encodeZigZag(v)), crc: binary.LittleEndian.AppendUint64(nil, uint64(v))}
}

func bytesField(col int, s string) testField {
	return testField{col: col, wt: 2, wire: append(binary.AppendUvarint(nil, uint64(len(s))), s...), crc: []byte(s)}
}

// TestDecodeRejects checks that malformed or out-of-range input is refused
// with a message naming what is wrong.
func TestDecodeRejects(t *testing.T) {
	cols := []column{
		{name: "id", typ: &dataType{kind: kBigint}, notNull: true},
		{name: "t", typ: &dataType{kind: kTinyint}},
		{name: "d", typ: &dataType{kind: kDecimal, precision: 10, scale: 2}},
		{name: "v", typ: &dataType{kind: kVarchar, length: 3}},
		{name: "j", typ: &dataType{kind: kJSON}},
		{name: "b", typ: &dataType{kind: kBoolean}},
		{name: "ts", typ: &dataType{kind: kTimestamp}},
	}
	good := buildStream([]testField{intField(1, 7), bytesField(3, "12.34")})
	if _, err := newDecoder(cols).decode(good, nil); err != nil {
		t.Fatalf("valid stream rejected: %v", err)
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	crcPos := bytes.Index(good, []byte{0x80, 0xc0, 0xff, 0x7f}) + 4
	for _, tc := range []struct {
		name, want string
		buf        []byte
	}{
		{"record crc", "record CRC mismatch", flip(good, crcPos)},
		{"stream checksum", "stream checksum mismatch", flip(good, len(good)-2)},
		{"count", "record count mismatch", func() []byte {
			b := buildStream([]testField{intField(1, 7)})
			i := bytes.Index(b, []byte{0xf0, 0xff, 0xff, 0x7f})
			b[i+4] = 0x04 // says 2 records
			return b
		}()},
		{"trailing bytes", "unexpected bytes after the trailer", append(append([]byte(nil), good...), 0)},
		{"no trailer", "without the record count", good[:bytes.Index(good, []byte{0xf0, 0xff, 0xff, 0x7f})]},
		{"truncated record", "stream ends inside a record", good[:2]},
		{"field beyond schema", "outside the schema's 7 columns", buildStream([]testField{intField(1, 1), intField(9, 1)})},
		{"duplicate column", "column appears twice", buildStream([]testField{intField(1, 1), intField(1, 2)})},
		{"wire type", "wire type 2 does not match", buildStream([]testField{intField(1, 1), {col: 2, wt: 2, wire: []byte{2}, crc: make([]byte, 8)}})},
		{"tinyint range", "out of range for TINYINT", buildStream([]testField{intField(1, 1), intField(2, 300)})},
		{"bigint min", "out of range for BIGINT", buildStream([]testField{intField(1, -1<<63)})},
		{"decimal text", `"__ParseFromValue__" is not a decimal number`, buildStream([]testField{intField(1, 1), bytesField(3, "__ParseFromValue__")})},
		{"decimal scale", "fraction digits", buildStream([]testField{intField(1, 1), bytesField(3, "1.234")})},
		{"decimal precision", "integer digits", buildStream([]testField{intField(1, 1), bytesField(3, "123456789.1")})},
		{"varchar length", "has 4 characters", buildStream([]testField{intField(1, 1), bytesField(4, "abcd")})},
		{"json", "not valid JSON", buildStream([]testField{intField(1, 1), bytesField(5, "{nope")})},
		{"boolean", "not 0 or 1", buildStream([]testField{intField(1, 1), {col: 6, wt: 0, wire: []byte{2}, crc: []byte{2}}})},
		{"not null", "NULL in a NOT NULL column", buildStream([]testField{intField(2, 1)})},
		{"timestamp nanos", "nanoseconds", buildStream([]testField{intField(1, 1), {col: 7, wt: 2,
			wire: append(binary.AppendUvarint(nil, encodeZigZag(5)), binary.AppendUvarint(nil, encodeZigZag(1_000_000_000))...),
			crc:  append(binary.LittleEndian.AppendUint64(nil, 5), binary.LittleEndian.AppendUint32(nil, 1_000_000_000)...)}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newDecoder(cols).decode(tc.buf, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestCheckDecimal(t *testing.T) {
	for _, tc := range []struct {
		v    string
		p, s int
		ok   bool
	}{
		{"0", 10, 2, true}, {"-12.30", 4, 2, true}, {"+1", 1, 0, true}, {".5", 2, 1, true},
		{"00012.5", 3, 1, true}, {"1e5", 10, 0, false}, {"", 10, 0, false}, {"-", 10, 0, false},
		{"1.2.3", 10, 2, false}, {"100", 4, 2, false}, {"0.125", 5, 2, false}, {"0.120", 5, 2, true},
	} {
		err := checkDecimal([]byte(tc.v), tc.p, tc.s)
		if (err == nil) != tc.ok {
			t.Errorf("checkDecimal(%q, %d, %d) = %v, want ok=%v", tc.v, tc.p, tc.s, err, tc.ok)
		}
	}
}
