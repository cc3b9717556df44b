package integration

// Readers of the conformance kit: every landed row as column -> canonical
// text. Parquet is read twice, by parquet-go (readParquetText) and by
// Apache arrow-go's pqarrow, and the two must agree cell by cell.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/odpsemu"
)

// kitReadFiles decodes ODS data files of one format into rows sorted by
// _seq.
func kitReadFiles(t testing.TB, format string, files map[string][]byte) []kitRow {
	t.Helper()
	var rows []kitRow
	for name, data := range files {
		if !strings.HasSuffix(name, "."+format) {
			continue
		}
		cols, rs := kitDecode(t, name, format, data)
		for _, r := range rs {
			row := kitRow{}
			for i, c := range cols {
				row[c] = r[i]
			}
			rows = append(rows, row)
		}
	}
	sortKitRows(rows)
	return rows
}

// kitFileLayout returns the columns of the newest data file (file names
// start with the zero-padded first _seq, so the newest sorts last).
func kitFileLayout(t testing.TB, format string, files map[string][]byte) []string {
	t.Helper()
	newest := ""
	for name := range files {
		if strings.HasSuffix(name, "."+format) && path.Base(name) > path.Base(newest) {
			newest = name
		}
	}
	if newest == "" {
		return nil
	}
	cols, _ := kitDecode(t, newest, format, files[newest])
	return cols
}

// mcLayout returns the columns of a MaxCompute table through the SDK
// (without partition columns).
func mcLayout(t testing.TB, emu *odpsemu.Server, table string) []string {
	t.Helper()
	o, _ := mcClients(emu)
	tbl := odps.NewTable(o, mcProject, "", table)
	if err := tbl.Load(); err != nil {
		t.Fatalf("table %s: %v", table, err)
	}
	var cols []string
	for _, c := range tbl.Schema().Columns {
		cols = append(cols, c.Name)
	}
	return cols
}

// kitDecode decodes one data file into its column names and rows.
func kitDecode(t testing.TB, name, format string, data []byte) ([]string, [][]*string) {
	t.Helper()
	switch format {
	case "parquet":
		tab := readParquetText(t.(*testing.T), data)
		cols, rows := readArrowText(t, data)
		if strings.Join(cols, ",") != strings.Join(tab.Cols, ",") {
			t.Errorf("%s: parquet-go reads columns %v, arrow-go %v", name, tab.Cols, cols)
		} else if len(rows) != len(tab.Rows) {
			t.Errorf("%s: parquet-go reads %d rows, arrow-go %d", name, len(tab.Rows), len(rows))
		} else {
			for i := range rows {
				for j := range cols {
					if a, b := tab.Rows[i][j], rows[i][j]; show(a) != show(b) {
						t.Errorf("%s row %d column %s: parquet-go reads %s, arrow-go %s", name, i, cols[j], show(a), show(b))
					}
				}
			}
		}
		return tab.Cols, tab.Rows
	case "csv":
		recs := parseOpenCSVRecords(string(data))
		if len(recs) == 0 {
			t.Fatalf("%s: no header line", name)
		}
		var cols []string
		for _, h := range recs[0] {
			cols = append(cols, *h)
		}
		for i, r := range recs[1:] {
			if len(r) != len(cols) {
				t.Fatalf("%s: record %d has %d fields, the header %d", name, i+1, len(r), len(cols))
			}
		}
		return cols, recs[1:]
	case "jsonl":
		var cols []string
		var rows [][]*string
		for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			// Column order: the object's key order.
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			var keys []string
			vals := map[string]*string{}
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				t.Fatalf("%s line %d: not a JSON object: %s", name, i+1, line)
			}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					t.Fatalf("%s line %d: %v", name, i+1, err)
				}
				k := tok.(string)
				var v any
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("%s line %d: %v", name, i+1, err)
				}
				keys = append(keys, k)
				vals[k] = jsonText(v)
			}
			if cols == nil {
				cols = keys
			} else if strings.Join(cols, ",") != strings.Join(keys, ",") {
				t.Fatalf("%s line %d: keys %v, first line %v", name, i+1, keys, cols)
			}
			r := make([]*string, len(cols))
			for j, c := range cols {
				r[j] = vals[c]
			}
			rows = append(rows, r)
		}
		return cols, rows
	}
	t.Fatalf("kit: unknown format %q", format)
	return nil, nil
}

// jsonText renders a decoded JSON value: strings as they are, numbers as
// their literal, nested values as compact JSON.
func jsonText(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		s = string(b)
	}
	return &s
}

// readArrowText reads a Parquet file with arrow-go's pqarrow and renders
// each value the way readParquetText does.
func readArrowText(t testing.TB, data []byte) ([]string, [][]*string) {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("arrow-go: %v", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow-go: %v", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow-go: %v", err)
	}
	defer tbl.Release()
	n := int(tbl.NumRows())
	rows := make([][]*string, n)
	for i := range rows {
		rows[i] = make([]*string, tbl.NumCols())
	}
	var cols []string
	for c := 0; c < int(tbl.NumCols()); c++ {
		col := tbl.Column(c)
		cols = append(cols, col.Name())
		i := 0
		for _, chunk := range col.Data().Chunks() {
			for j := 0; j < chunk.Len(); j++ {
				rows[i][c] = arrowText(t, chunk, j)
				i++
			}
		}
	}
	return cols, rows
}

func arrowText(t testing.TB, a arrow.Array, i int) *string {
	if a.IsNull(i) {
		return nil
	}
	var s string
	switch x := a.(type) {
	case *array.Boolean:
		s = strconv.FormatBool(x.Value(i))
	case *array.Int8:
		s = strconv.FormatInt(int64(x.Value(i)), 10)
	case *array.Int16:
		s = strconv.FormatInt(int64(x.Value(i)), 10)
	case *array.Int32:
		s = strconv.FormatInt(int64(x.Value(i)), 10)
	case *array.Int64:
		s = strconv.FormatInt(x.Value(i), 10)
	case *array.Uint8:
		s = strconv.FormatUint(uint64(x.Value(i)), 10)
	case *array.Uint16:
		s = strconv.FormatUint(uint64(x.Value(i)), 10)
	case *array.Uint32:
		s = strconv.FormatUint(uint64(x.Value(i)), 10)
	case *array.Uint64:
		s = strconv.FormatUint(x.Value(i), 10)
	case *array.Float32:
		s = strconv.FormatFloat(float64(x.Value(i)), 'g', -1, 32)
	case *array.Float64:
		s = strconv.FormatFloat(x.Value(i), 'g', -1, 64)
	case *array.Decimal128:
		s = decimalText(x.Value(i).BigInt(), int(x.DataType().(arrow.DecimalType).GetScale()))
	case *array.Decimal256:
		s = decimalText(x.Value(i).BigInt(), int(x.DataType().(arrow.DecimalType).GetScale()))
	case *array.Date32:
		s = x.Value(i).ToTime().UTC().Format("2006-01-02")
	case *array.Timestamp:
		unit := x.DataType().(*arrow.TimestampType).Unit
		s = x.Value(i).ToTime(unit).UTC().Format("2006-01-02 15:04:05.999999")
	case *array.String:
		s = x.Value(i)
	case *array.LargeString:
		s = x.Value(i)
	case *array.Binary:
		s = base64.StdEncoding.EncodeToString(x.Value(i))
	case *array.LargeBinary:
		s = base64.StdEncoding.EncodeToString(x.Value(i))
	case *array.FixedSizeBinary:
		s = base64.StdEncoding.EncodeToString(x.Value(i))
	case *array.List:
		lo, hi := x.ValueOffsets(i)
		var parts []string
		for j := int(lo); j < int(hi); j++ {
			if p := arrowText(t, x.ListValues(), j); p != nil {
				parts = append(parts, *p)
			}
		}
		s = strings.Join(parts, ",")
	default:
		t.Errorf("arrow-go: no rendering for %s", a.DataType())
		s = a.ValueStr(i)
	}
	return &s
}

// kitTamperFile changes column col of the row with _seq seq in an ODS data
// file; ok is false when the file has no such row.
func kitTamperFile(t *testing.T, format string, data []byte, seq uint64, col, val string) ([]byte, bool) {
	t.Helper()
	want := strconv.FormatUint(seq, 10)
	switch format {
	case "jsonl":
		lines := bytes.Split(data, []byte("\n"))
		for i, line := range lines {
			if len(line) == 0 {
				continue
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatal(err)
			}
			if string(m["_seq"]) != want {
				continue
			}
			old, ok := m[col]
			if !ok {
				t.Fatalf("tamper: no column %s", col)
			}
			nv, _ := json.Marshal(val)
			lines[i] = bytes.Replace(line, append([]byte(`"`+col+`":`), old...), append([]byte(`"`+col+`":`), nv...), 1)
			return bytes.Join(lines, []byte("\n")), true
		}
	case "csv":
		recs := parseOpenCSVRecords(string(data))
		ci, si := -1, -1
		for i, h := range recs[0] {
			switch *h {
			case col:
				ci = i
			case "_seq":
				si = i
			}
		}
		if ci < 0 || si < 0 {
			t.Fatalf("tamper: csv header %v has no %s or _seq", recs[0], col)
		}
		var b strings.Builder
		found := false
		for ri, r := range recs {
			if ri > 0 && r[si] != nil && *r[si] == want {
				r[ci], found = &val, true
			}
			for i, f := range r {
				if i > 0 {
					b.WriteByte(',')
				}
				if f != nil {
					b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(*f) + `"`)
				}
			}
			b.WriteByte('\n')
		}
		return []byte(b.String()), found
	case "parquet":
		return tamperParquet(t, data, want, col, val)
	}
	return nil, false
}

// tamperParquet rewrites a Parquet file with one string value changed,
// keeping its schema and key-value metadata.
func tamperParquet(t *testing.T, data []byte, seq, col, val string) ([]byte, bool) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	tab := readParquetText(t, data)
	ci, si := -1, -1
	for i, c := range tab.Cols {
		switch c {
		case col:
			ci = i
		case "_seq":
			si = i
		}
	}
	if ci < 0 || si < 0 {
		t.Fatalf("tamper: parquet columns %v have no %s or _seq", tab.Cols, col)
	}
	var rows []parquet.Row
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rr.ReadRows(buf)
			for _, r := range buf[:n] {
				rows = append(rows, r.Clone())
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	found := false
	for i, r := range tab.Rows {
		if r[si] == nil || *r[si] != seq {
			continue
		}
		for j, v := range rows[i] {
			if v.Column() == ci {
				rows[i][j] = parquet.ByteArrayValue([]byte(val)).Level(v.RepetitionLevel(), max(v.DefinitionLevel(), 1), ci)
			}
		}
		found = true
	}
	if !found {
		return nil, false
	}
	var opts []parquet.WriterOption
	for _, kv := range f.Metadata().KeyValueMetadata {
		opts = append(opts, parquet.KeyValueMetadata(kv.Key, kv.Value))
	}
	var out bytes.Buffer
	w := parquet.NewWriter(&out, append(opts, f.Schema())...)
	if _, err := w.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), true
}

// kitS3Put writes an object behind odsync's back.
func kitS3Put(t *testing.T, srv *s3server.Server, key string, body []byte) {
	t.Helper()
	_, err := srv.Client().PutObject(context.Background(), &awss3.PutObjectInput{
		Bucket: aws.String("ods"), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
}

// mcTamper appends, through the SDK's batch upload, a copy of the change
// with _seq seq whose column col is val and whose _seq is far above every
// real one: the table's latest state for that key now differs from the
// source. (MaxCompute tables are append-only; this is how a wrong value
// would get there.)
func mcTamper(t *testing.T, emu *odpsemu.Server, table string, seq uint64, col, val string) {
	t.Helper()
	o, tun := mcClients(emu)
	parts, err := odps.NewTable(o, mcProject, "", table).GetPartitionValues()
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatUint(seq, 10)
	for _, p := range parts {
		ds, err := tun.CreateDownloadSession(mcProject, table, tunnel.SessionCfg.WithPartitionKey(p))
		if err != nil {
			t.Fatal(err)
		}
		n := ds.RecordCount()
		if n == 0 {
			continue
		}
		rd, err := ds.OpenRecordReader(0, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		cols := ds.Schema().Columns
		var hit data.Record
		_ = rd.Iterator(func(rec data.Record, err error) {
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cols {
				if c.Name == "_seq" && rec[i] != nil && rec[i].String() == want {
					hit = rec
				}
			}
		})
		rd.Close()
		if hit == nil {
			continue
		}
		for i, c := range cols {
			switch c.Name {
			case col:
				hit[i] = data.String(val)
			case "_seq":
				hit[i] = data.BigInt(int64(seq) + 1_000_000_000)
			}
		}
		us, err := tun.CreateUploadSession(mcProject, table, tunnel.SessionCfg.WithPartitionKey(p))
		if err != nil {
			t.Fatal(err)
		}
		w, err := us.OpenRecordWriter(0)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(hit); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := us.Commit([]int{0}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("tamper: no row with _seq %d in %s", seq, table)
}

// kitCanon is how the kit compares a value with its expectation: both are
// brought to one text per kind, so readers may spell a value differently
// (a JSON number 1e+300 or 1e300, a timestamp with T and Z) but never
// change it.
type kitCanon int

const (
	canonExact   kitCanon = iota // integers, decimals, strings, dates: the text itself
	canonF32                     // FLOAT: the same float32 (sign of zero included)
	canonF64                     // DOUBLE: the same float64 (sign of zero included)
	canonBin                     // binary: expectation in hex, landed as base64
	canonInstant                 // TIMESTAMP: the same instant, shown in UTC
	canonCivil                   // DATETIME: the same civil date-time
	canonTime                    // TIME text, trailing zero fraction digits ignored
)

var kitTimeLayouts = []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999 -0700 MST"}

// canon renders s as kind k; ok is false when s is not a valid value of k.
func (k kitCanon) canon(s string) (string, bool) {
	switch k {
	case canonF32:
		f, err := strconv.ParseFloat(s, 32)
		return strconv.FormatFloat(float64(float32(f)), 'g', -1, 32), err == nil
	case canonF64:
		f, err := strconv.ParseFloat(s, 64)
		return strconv.FormatFloat(f, 'g', -1, 64), err == nil
	case canonBin:
		b, err := base64.StdEncoding.DecodeString(s)
		return fmt.Sprintf("%X", b), err == nil
	case canonInstant, canonCivil:
		for _, l := range kitTimeLayouts {
			if tm, err := time.Parse(l, s); err == nil {
				return tm.UTC().Format("2006-01-02 15:04:05.999999"), true
			}
		}
		return trimFraction(s), false
	case canonTime:
		return trimFraction(s), true
	}
	return s, true
}

// trimFraction drops trailing zero fraction digits of a time text
// ("12:00:00.500000" -> "12:00:00.5", "0000-00-00 00:00:00.000000" ->
// "0000-00-00 00:00:00").
func trimFraction(s string) string {
	if i := strings.LastIndexByte(s, '.'); i > 0 && strings.Count(s[:i], ":") == 2 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// expectText renders an expectation for comparison: hex for binary.
func (k kitCanon) expect(s string) string {
	switch k {
	case canonBin:
		return strings.ToUpper(s)
	case canonF32, canonF64, canonInstant, canonCivil, canonTime:
		c, _ := k.canon(s)
		return c
	}
	return s
}
