package odsfile

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sink/odsfile -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// testTarget maps a table with one column per interesting type.
func testTarget(t testing.TB) (*schema.Target, *event.Table) {
	t.Helper()
	cfg := schema.Config{Types: map[string]string{"set": "array<string>"}}
	cfg.EnsureDefaults()
	m, err := schema.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tbl := (&event.Table{ID: event.TableID{DB: "shop", Table: "orders"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, Unsigned: true, RawType: "bigint unsigned"},
		{Name: "i8", Type: event.TypeTinyInt, Nullable: true, RawType: "tinyint"},
		{Name: "i32", Type: event.TypeInt, Nullable: true, RawType: "int"},
		{Name: "amount", Type: event.TypeDecimal, Precision: 12, Scale: 2, Nullable: true, RawType: "decimal(12,2)"},
		{Name: "small", Type: event.TypeDecimal, Precision: 5, Scale: 1, Nullable: true, RawType: "decimal(5,1)"},
		{Name: "big", Type: event.TypeDecimal, Precision: 38, Scale: 10, Nullable: true, RawType: "decimal(38,10)"},
		{Name: "f", Type: event.TypeFloat, Nullable: true, RawType: "float"},
		{Name: "dbl", Type: event.TypeDouble, Nullable: true, RawType: "double"},
		{Name: "s", Type: event.TypeVarchar, Length: 64, Nullable: true, RawType: "varchar(64)"},
		{Name: "bin", Type: event.TypeVarbinary, Length: 16, Nullable: true, RawType: "varbinary(16)"},
		{Name: "dt", Type: event.TypeDate, Nullable: true, RawType: "date"},
		{Name: "dtm", Type: event.TypeDateTime, Scale: 6, Nullable: true, RawType: "datetime(6)"},
		{Name: "ts", Type: event.TypeTimestamp, Scale: 3, Nullable: true, RawType: "timestamp(3)"},
		{Name: "tags", Type: event.TypeSet, Elems: []string{"a", "b", "c"}, Nullable: true, RawType: "set('a','b','c')"},
		{Name: "j", Type: event.TypeJSON, Nullable: true, RawType: "json"},
	}}).Seal()
	tg, err := m.Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	return tg, tbl
}

func testRows(t testing.TB, tg *schema.Target, tbl *event.Table) [][]event.Value {
	t.Helper()
	base := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC).UnixMicro()
	images := [][]event.Value{
		{event.Uint(math.MaxUint64), event.Int(-128), event.Int(math.MinInt32), event.Decimal("-1234567890.12"),
			event.Decimal("9999.9"), event.Decimal("-1234567890123456789012345678.0123456789"), event.Float32(1.5),
			event.Float64(-2.25e300), event.String(`héllo, "world" \ back` + "\nline"), event.Bytes([]byte{0, 0xff, 0x10}),
			event.Date(2024, 2, 29), event.DateTime(2024, 2, 29, 23, 59, 59, 123456), event.TimestampMicros(base + 500000),
			event.Set(5, "a,c"), event.JSON(`{"k": [1, 2.5, "x"]}`)},
		{event.Uint(1), event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null,
			event.String(""), event.Null, event.Null, event.Null, event.Null, event.Set(0, ""), event.Null},
		{event.Uint(2)},
	}
	var rows [][]event.Value
	for i, img := range images {
		e := &event.Event{Seq: uint64(100 + i), Op: []event.Op{event.OpInsert, event.OpRead, event.OpDelete}[i],
			Source: tbl.ID, Table: tbl, CommitTime: base, Pos: event.Position{File: "binlog.000001", Offset: uint64(4 + i)}}
		full := make([]event.Value, len(tbl.Columns))
		copy(full, img)
		if e.Op == event.OpDelete {
			e.Before = full
		} else {
			e.After = full
		}
		row, err := tg.CheckedRow(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	return rows
}

func encode(t testing.TB, format string, tg *schema.Target, rows [][]event.Value, o EncoderOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewEncoder(format, &buf, tg, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.WriteRow(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCSVGolden(t *testing.T) {
	tg, tbl := testTarget(t)
	rows := testRows(t, tg, tbl)
	golden(t, "rows.csv", encode(t, FormatCSV, tg, rows, EncoderOptions{CSVHeader: true}))
	golden(t, "rows.jsonl", encode(t, FormatJSONL, tg, rows, EncoderOptions{}))
}

// parseOpenCSV parses a line the way Hive's OpenCSVSerde (opencsv with
// separator ',', quote '"', escape '\\') does.
func parseOpenCSV(line string) []string {
	var out []string
	var sb strings.Builder
	inQuotes := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			if (inQuotes) && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
				sb.WriteByte(line[i+1])
				i++
			}
		case c == '"':
			if inQuotes && i+1 < len(line) && line[i+1] == '"' {
				sb.WriteByte('"')
				i++
			} else {
				inQuotes = !inQuotes
			}
		case c == ',' && !inQuotes:
			out = append(out, sb.String())
			sb.Reset()
		default:
			sb.WriteByte(c)
		}
	}
	return append(out, sb.String())
}

func TestCSVReadsBackAsOpenCSVSerde(t *testing.T) {
	tg, tbl := testTarget(t)
	rows := testRows(t, tg, tbl)
	// One row without line breaks (OpenCSVSerde reads line by line).
	r := append([]event.Value(nil), rows[0]...)
	si := tg.ColumnIndex("s")
	r[si] = event.String(`a "quoted" \ back\\slash, comma`)
	out := string(encode(t, FormatCSV, tg, [][]event.Value{r}, EncoderOptions{CSVHeader: true}))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want header + 1 line, got %q", out)
	}
	head := parseOpenCSV(lines[0])
	fields := parseOpenCSV(lines[1])
	if len(head) != len(tg.Columns) || len(fields) != len(tg.Columns) {
		t.Fatalf("got %d header fields and %d fields, want %d", len(head), len(fields), len(tg.Columns))
	}
	for i := range tg.Columns {
		if head[i] != tg.Columns[i].Name {
			t.Errorf("header %d = %q, want %q", i, head[i], tg.Columns[i].Name)
		}
		want := string(tg.Columns[i].AppendText(nil, r[i]))
		if fields[i] != want {
			t.Errorf("column %s = %q, want %q", tg.Columns[i].Name, fields[i], want)
		}
	}
}

// readParquet reads every row of a Parquet file as column index -> values.
func readParquet(t testing.TB, data []byte) (*parquet.File, [][][]parquet.Value) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out [][][]parquet.Value
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				cols := make([][]parquet.Value, len(f.Schema().Columns()))
				row.Range(func(ci int, vs []parquet.Value) bool {
					for _, v := range vs {
						cols[ci] = append(cols[ci], v.Clone())
					}
					return true
				})
				out = append(out, cols)
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	return f, out
}

func TestParquetRoundTrip(t *testing.T) {
	tg, tbl := testTarget(t)
	three := testRows(t, tg, tbl)
	var rows [][]event.Value
	for i := 0; i < 700; i++ { // several writer batches and row groups
		rows = append(rows, three[i%3])
	}
	for _, comp := range []string{CompressionSnappy, CompressionZstd, CompressionNone} {
		t.Run(comp, func(t *testing.T) {
			o := EncoderOptions{Compression: comp, RowGroupBytes: 20000, Metadata: map[string]string{"odsync.table": tg.Name}}
			data := encode(t, FormatParquet, tg, rows, o)
			again := encode(t, FormatParquet, tg, rows, o)
			if !bytes.Equal(data, again) {
				t.Fatal("two encodings of the same rows differ")
			}
			f, got := readParquet(t, data)
			if len(f.RowGroups()) < 2 {
				t.Errorf("%d row groups, want several", len(f.RowGroups()))
			}
			if v, _ := f.Lookup("odsync.table"); v != tg.Name {
				t.Errorf("metadata odsync.table = %q", v)
			}
			cols := f.Schema().Fields()
			if len(cols) != len(tg.Columns) {
				t.Fatalf("%d columns, want %d", len(cols), len(tg.Columns))
			}
			for i, c := range cols {
				if c.Name() != tg.Columns[i].Name {
					t.Errorf("column %d is %s, want %s (target order)", i, c.Name(), tg.Columns[i].Name)
				}
				if c.Optional() != tg.Columns[i].Nullable {
					t.Errorf("column %s optional=%v, want %v", c.Name(), c.Optional(), tg.Columns[i].Nullable)
				}
			}
			if len(got) != len(rows) {
				t.Fatalf("read %d rows, want %d", len(got), len(rows))
			}
			for r := range rows {
				for i := range tg.Columns {
					c := &tg.Columns[i]
					want, err := c.ParquetValue(rows[r][i])
					if err != nil {
						t.Fatal(err)
					}
					if g, w := parquetText(c, got[r][i]), pvText(c, want); g != w {
						t.Errorf("row %d column %s = %s, want %s", r, c.Name, g, w)
					}
				}
			}
		})
	}
}

func pvText(c *schema.TargetColumn, pv schema.ParquetValue) string {
	if pv.Null {
		return "NULL"
	}
	switch c.Parquet.Physical {
	case schema.ParquetGroup:
		return fmt.Sprintf("%q", pv.List)
	case schema.ParquetBoolean:
		return fmt.Sprint(pv.Bool)
	case schema.ParquetInt32, schema.ParquetInt64:
		return fmt.Sprint(pv.Int)
	case schema.ParquetFloat, schema.ParquetDouble:
		return fmt.Sprint(pv.Float)
	}
	return fmt.Sprintf("%x", pv.Bytes)
}

func parquetText(c *schema.TargetColumn, vs []parquet.Value) string {
	if c.Parquet.Physical == schema.ParquetGroup {
		if len(vs) == 1 && vs[0].IsNull() {
			if vs[0].DefinitionLevel() == 0 {
				return "NULL"
			}
			return "[]"
		}
		var l []string
		for _, v := range vs {
			l = append(l, string(v.ByteArray()))
		}
		return fmt.Sprintf("%q", l)
	}
	if len(vs) != 1 {
		return fmt.Sprintf("%d values", len(vs))
	}
	v := vs[0]
	if v.IsNull() {
		return "NULL"
	}
	switch c.Parquet.Physical {
	case schema.ParquetBoolean:
		return fmt.Sprint(v.Boolean())
	case schema.ParquetInt32:
		return fmt.Sprint(v.Int32())
	case schema.ParquetInt64:
		return fmt.Sprint(v.Int64())
	case schema.ParquetFloat:
		return fmt.Sprint(float64(v.Float()))
	case schema.ParquetDouble:
		return fmt.Sprint(v.Double())
	}
	return fmt.Sprintf("%x", v.ByteArray())
}

func TestLayoutVersion(t *testing.T) {
	tg, _ := testTarget(t)
	v := LayoutVersion(tg)
	cp := *tg
	cp.Columns = append([]schema.TargetColumn(nil), tg.Columns...)
	if LayoutVersion(&cp) != v {
		t.Fatal("copy has another layout version")
	}
	cp.SourceVersion++
	if LayoutVersion(&cp) != v {
		t.Fatal("source version changed the layout version")
	}
	cp.Columns[5].Name = "other"
	if LayoutVersion(&cp) == v {
		t.Fatal("renamed column kept the layout version")
	}
}

func BenchmarkEncode(b *testing.B) {
	tg, tbl := testTarget(b)
	rows := testRows(b, tg, tbl)
	for _, f := range Formats {
		b.Run(f, func(b *testing.B) {
			var n int64
			w, err := NewEncoder(f, discard{&n}, tg, EncoderOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := w.WriteRow(rows[i%len(rows)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

type discard struct{ n *int64 }

func (d discard) Write(p []byte) (int, error) { *d.n += int64(len(p)); return len(p), nil }
