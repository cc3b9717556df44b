package integration

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// TestS3ValuesInAllFormats lands one table of every common type in S3 as
// Parquet, CSV and JSON lines at once, reads the Parquet back with a
// Parquet reader and compares every value with what MariaDB returns for
// the row, then checks that CSV and JSON lines hold the same rows.
func TestS3ValuesInAllFormats(t *testing.T) {
	srv := startS3(t)
	s3Env(t, srv)
	db0 := harness.MariaDB(t)
	db, err := db0.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS s3v", "CREATE DATABASE s3v",
		`CREATE TABLE s3v.t (
			id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
			i8 TINYINT, u8 TINYINT UNSIGNED, i32 INT, u64 BIGINT UNSIGNED,
			d DECIMAL(65,30), d2 DECIMAL(12,2), d3 DECIMAL(30,6), f FLOAT, dbl DOUBLE, b BIT(10),
			s VARCHAR(32) CHARACTER SET utf8mb4, txt TEXT, bin VARBINARY(16), blb BLOB,
			e ENUM('red','green'), st SET('a','b','c'),
			dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), y YEAR, j JSON)`)
	dir := t.TempDir()
	roll := "file_size: 1MiB\nmin_file_size: 1KiB\nflush_interval: 1s\nmax_age: 2s\ncheckpoint_interval: 200ms"
	cfg := s3RunConfig(t, dir, db0.Addr(), "s3v",
		s3SinkYAML(srv, "pq", "pq", "format: parquet\ncompression: zstd\n"+roll, ""),
		s3SinkYAML(srv, "csv", "csv", "format: csv\n"+roll, ""),
		s3SinkYAML(srv, "jl", "jl", "format: jsonl\n"+roll, ""))
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)
	mustExec(t, db,
		`INSERT INTO s3v.t VALUES (18446744073709551615, -128, 255, -2147483648, 18446744073709551615,
			'-12345678901234567890123456789012345.123456789012345678901234567890', -1234567890.12, '123456789012345678901234.000001',
			1.5, -2.25e300, b'1010101010',
			'héllo 😀 "q" \\ back', 'line1\nline2, "quoted"', X'00FF10', X'DEADBEEF', 'green', 'a,c',
			'2024-02-29', '2024-02-29 23:59:59.123456', '2024-03-01 12:00:00.500', '-838:59:59.00', 2155, '{"k": [1, 2.5, "x"]}')`,
		`INSERT INTO s3v.t (id, s) VALUES (1, '')`,
		`INSERT INTO s3v.t (id, dtm, ts, d2) VALUES (2, '1969-12-31 23:59:59.999999', '1970-01-01 00:00:01', 0.5)`,
		`UPDATE s3v.t SET s = 'updated', i32 = 42 WHERE id = 1`,
		`DELETE FROM s3v.t WHERE id = 1`,
		// zero dates: NULL in their typed columns, the text in _raw
		`INSERT INTO s3v.t (id, dt, dtm) VALUES (3, '0000-00-00', '2024-00-15 10:00:00')`,
	)
	const changes = 6
	for _, prefix := range []string{"pq", "csv", "jl"} {
		harness.Eventually(t, 60*time.Second, prefix+" complete", func() (bool, string) {
			var cp s3sink.Checkpoint
			b := s3Objects(t, srv, prefix)["_checkpoint.json"]
			if err := json.Unmarshal(b, &cp); err != nil || len(cp.Pending) > 0 || cp.CompleteSeq < changes {
				return false, string(b)
			}
			return true, ""
		})
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}

	// Parquet, read back with parquet-go.
	var pq pqTable
	for k, data := range s3Objects(t, srv, "pq") {
		if isDataKey(k) {
			if !strings.HasPrefix(k, "ods_s3v_t/ds=") || !strings.HasSuffix(k, ".parquet") {
				t.Errorf("unexpected object %s", k)
			}
			tab := readParquetText(t, data)
			pq.Cols = tab.Cols
			pq.Rows = append(pq.Rows, tab.Rows...)
		}
	}
	if len(pq.Rows) != changes {
		t.Fatalf("parquet holds %d rows, want %d", len(pq.Rows), changes)
	}
	col := map[string]int{}
	for i, c := range pq.Cols {
		col[c] = i
	}
	sortBySeq(pq.Rows, col["_seq"])
	ops := ""
	for _, r := range pq.Rows {
		ops += *r[col["_op"]]
	}
	if ops != "IIIUDI" {
		t.Errorf("ops = %s, want IIIUDI", ops)
	}
	zr := pq.Rows[5]
	if zr[col["dt"]] != nil || zr[col["dtm"]] != nil || show(zr[col["_raw"]]) != strconv.Quote(`{"dt":"0000-00-00","dtm":"2024-00-15 10:00:00"}`) {
		t.Errorf("zero-date row: dt %s dtm %s _raw %s", show(zr[col["dt"]]), show(zr[col["dtm"]]), show(zr[col["_raw"]]))
	}
	for _, r := range pq.Rows[:5] {
		if r[col["_raw"]] != nil {
			t.Errorf("row %s: _raw = %s, want NULL", show(r[col["id"]]), show(r[col["_raw"]]))
		}
	}

	// Every value of the inserted rows against MariaDB's own rendering.
	if _, err := db.Exec("SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	srcCols := []string{"id", "i8", "u8", "i32", "u64", "d", "d2", "d3", "f", "dbl", "b+0 AS b", "s", "txt",
		"TO_BASE64(bin) AS bin", "TO_BASE64(blb) AS blb", "e", "st", "dt", "dtm", "ts", "tm", "y", "j"}
	for ri, id := range map[int]string{0: "18446744073709551615", 2: "2"} {
		conn, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(t.Context(), "SET time_zone = '+00:00'"); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(t.Context(), "SELECT "+strings.Join(srcCols, ", ")+" FROM s3v.t WHERE id = "+id)
		if err != nil {
			t.Fatal(err)
		}
		names, _ := rows.Columns()
		vals := make([]sql.NullString, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !rows.Next() {
			t.Fatalf("row %s not found", id)
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		conn.Close()
		for i, name := range names {
			ci, ok := col[name]
			if !ok {
				t.Errorf("parquet has no column %s (columns %v)", name, pq.Cols)
				continue
			}
			got := pq.Rows[ri][ci]
			if !vals[i].Valid {
				if got != nil {
					t.Errorf("row %s column %s = %q, source NULL", id, name, *got)
				}
				continue
			}
			src := vals[i].String
			if name == "bin" || name == "blb" {
				src = strings.ReplaceAll(src, "\n", "") // TO_BASE64 wraps lines
			}
			if got == nil || !sameValue(*got, src) {
				t.Errorf("row %s column %s = %s, source %q", id, name, show(got), src)
			}
		}
	}

	// CSV and JSON lines hold the same rows and columns.
	var csvRows [][]*string
	var header []string
	for k, data := range s3Objects(t, srv, "csv") {
		if isDataKey(k) {
			recs := parseOpenCSVRecords(string(data))
			header = nil
			for _, h := range recs[0] {
				header = append(header, *h)
			}
			csvRows = append(csvRows, recs[1:]...)
		}
	}
	if strings.Join(header, ",") != strings.Join(pq.Cols, ",") {
		t.Fatalf("csv header %v, parquet columns %v", header, pq.Cols)
	}
	sortBySeq(csvRows, col["_seq"])
	var jlRows [][]*string
	for k, data := range s3Objects(t, srv, "jl") {
		if !isDataKey(k) {
			continue
		}
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			m := map[string]any{}
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if len(m) != len(pq.Cols) {
				t.Fatalf("jsonl row has %d keys, want %d", len(m), len(pq.Cols))
			}
			r := make([]*string, len(pq.Cols))
			for i, c := range pq.Cols {
				if v, ok := m[c]; ok && v != nil {
					s := fmt.Sprint(v)
					r[i] = &s
				}
			}
			jlRows = append(jlRows, r)
		}
	}
	sortBySeq(jlRows, col["_seq"])
	for name, rows := range map[string][][]*string{"csv": csvRows, "jsonl": jlRows} {
		if len(rows) != len(pq.Rows) {
			t.Fatalf("%s holds %d rows, parquet %d", name, len(rows), len(pq.Rows))
		}
		for i := range rows {
			for c := range pq.Cols {
				a, b := pq.Rows[i][c], rows[i][c]
				if (a == nil) != (b == nil) || (a != nil && !sameValue(*a, *b)) {
					t.Errorf("%s row %d column %s = %s, parquet %s", name, i, pq.Cols[c], show(b), show(a))
				}
			}
		}
	}
}

func show(s *string) string {
	if s == nil {
		return "NULL"
	}
	return strconv.Quote(*s)
}

func sortBySeq(rows [][]*string, seqCol int) {
	sort.Slice(rows, func(i, j int) bool {
		a, _ := strconv.ParseUint(*rows[i][seqCol], 10, 64)
		b, _ := strconv.ParseUint(*rows[j][seqCol], 10, 64)
		return a < b
	})
}

var timeLayouts = []string{"2006-01-02 15:04:05.999999", "2006-01-02T15:04:05.999999Z", "2006-01-02"}

// sameValue compares two renderings of one value: exactly, or as the same
// number (floats, e.g. -2.25e300 and -2.25e+300), the same instant or the
// same TIME (trailing zero fractions).
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	if x, ok := new(big.Rat).SetString(a); ok {
		if y, ok := new(big.Rat).SetString(b); ok {
			if x.Cmp(y) == 0 {
				return true
			}
			fa, _ := strconv.ParseFloat(a, 64)
			fb, _ := strconv.ParseFloat(b, 64)
			return fa == fb || float32(fa) == float32(fb)
		}
	}
	for _, la := range timeLayouts {
		ta, err := time.Parse(la, a)
		if err != nil {
			continue
		}
		for _, lb := range timeLayouts {
			if tb, err := time.Parse(lb, b); err == nil {
				return ta.Equal(tb)
			}
		}
	}
	trim := func(s string) string {
		if i := strings.LastIndexByte(s, '.'); i > 0 && strings.Count(s, ":") == 2 {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	return trim(a) == trim(b)
}

// parseOpenCSVRecords parses CSV the way OpenCSVSerde's parser does
// (separator ',', quote '"', escape '\\'), also across quoted line breaks.
// An unquoted empty field is NULL.
func parseOpenCSVRecords(s string) [][]*string {
	var recs [][]*string
	var rec []*string
	var sb strings.Builder
	inQuotes, quoted := false, false
	end := func() {
		if quoted || sb.Len() > 0 {
			v := sb.String()
			rec = append(rec, &v)
		} else {
			rec = append(rec, nil)
		}
		sb.Reset()
		quoted = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuotes && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			sb.WriteByte(s[i+1])
			i++
		case c == '"':
			inQuotes = !inQuotes
			quoted = true
		case c == ',' && !inQuotes:
			end()
		case c == '\n' && !inQuotes:
			end()
			recs = append(recs, rec)
			rec = nil
		default:
			sb.WriteByte(c)
		}
	}
	return recs
}
