package integration

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/schema"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// The DDL script: every schema change a source table goes through, with
// rows before and after each step, and restarts of odsync in the middle.
// It is the one definition of the script; a sink test runs ddlSteps in
// order against its sink and compares what landed with the expectations
// (see runS3DDL for the S3 sink).
//
// Expectations are the documented lenient mapping (docs/types.md, "Schema
// evolution"): a new column is appended (older rows read NULL there), a
// dropped column stays in place and is NULL from then on, a renamed column
// is a new column (the old one stays, NULL), a type widened in place keeps
// its column (INT -> BIGINT), a type the column cannot hold gets a new
// column <name>__<type> (DECIMAL(10,2) -> DECIMAL(20,4): d__decimal_20_4),
// a longer VARCHAR needs no change, a renamed table is a new ODS table,
// TRUNCATE is not a row change (the rows before it stay in the change log),
// ADD COLUMN ... DEFAULT fills the existing source rows without row events
// (their last ODS row keeps NULL there until they change).

// ddlStep is one step of the DDL script.
type ddlStep struct {
	Name string
	// SQL is run in order on the source; DB stands for the database.
	SQL []string
	// Rows are the ODS rows the statements produce, in order.
	Rows []ddlRow
	// Layout is, per source table whose ODS table the step changes, the
	// non-metadata columns of that ODS table after the step, in order.
	Layout map[string][]string
	// Restart stops odsync after the step ("sigterm" or "kill9") and
	// starts it again before the next one.
	Restart string
}

// ddlRow is an expected ODS row: the source table, the _op, and the
// values of the target columns as text, "col=value" separated by spaces
// ("col=NULL" for NULL; values contain no spaces). Every target column not
// listed must be NULL, in the final layout too.
type ddlRow struct {
	Table, Op, Values string
}

// ddlTruncated lists, per source table, the keys its TRUNCATE removed and
// that were not inserted again: the change log keeps their last row.
var ddlTruncated = map[string][]string{"t2": {"2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}}

// ddlRenamed maps a renamed source table to its new name: the final state
// of a key is its latest row in either ODS table.
var ddlRenamed = map[string]string{"t": "t2"}

func ddlSteps() []ddlStep {
	cols := func(s string) []string { return strings.Fields(s) }
	return []ddlStep{
		{Name: "create", SQL: []string{
			"CREATE TABLE DB.t (id INT PRIMARY KEY, a VARCHAR(10), n INT, d DECIMAL(10,2), x VARCHAR(10))",
			"INSERT INTO DB.t VALUES (1, 'one', 10, 1.50, 'x1'), (2, 'two', 20, 2.50, 'x2')",
		}, Rows: []ddlRow{
			{"t", "I", "id=1 a=one n=10 d=1.50 x=x1"},
			{"t", "I", "id=2 a=two n=20 d=2.50 x=x2"},
		}, Layout: map[string][]string{"t": cols("id a n d x")}},

		{Name: "add_column", SQL: []string{
			"ALTER TABLE DB.t ADD COLUMN c1 VARCHAR(20)",
			"INSERT INTO DB.t VALUES (3, 'three', 30, 3.50, 'x3', 'c3')",
			"UPDATE DB.t SET c1 = 'c1' WHERE id = 1",
		}, Rows: []ddlRow{
			{"t", "I", "id=3 a=three n=30 d=3.50 x=x3 c1=c3"},
			{"t", "U", "id=1 a=one n=10 d=1.50 x=x1 c1=c1"},
		}, Layout: map[string][]string{"t": cols("id a n d x c1")}},

		{Name: "add_column_default", SQL: []string{
			"ALTER TABLE DB.t ADD COLUMN c2 INT NOT NULL DEFAULT 7",
			"INSERT INTO DB.t (id, a, n, d, x, c1) VALUES (4, 'four', 40, 4.50, 'x4', 'c4')",
			"INSERT INTO DB.t VALUES (5, 'five', 50, 5.50, 'x5', 'c5', 55)",
			"UPDATE DB.t SET a = 'two!' WHERE id = 2",
		}, Rows: []ddlRow{
			{"t", "I", "id=4 a=four n=40 d=4.50 x=x4 c1=c4 c2=7"},
			{"t", "I", "id=5 a=five n=50 d=5.50 x=x5 c1=c5 c2=55"},
			{"t", "U", "id=2 a=two! n=20 d=2.50 x=x2 c2=7"},
		}, Layout: map[string][]string{"t": cols("id a n d x c1 c2")}},

		{Name: "drop_column", SQL: []string{
			"ALTER TABLE DB.t DROP COLUMN n",
			"INSERT INTO DB.t VALUES (6, 'six', 6.50, 'x6', 'c6', 66)",
			"UPDATE DB.t SET c1 = 'c3!' WHERE id = 3",
		}, Rows: []ddlRow{
			{"t", "I", "id=6 a=six d=6.50 x=x6 c1=c6 c2=66"},
			{"t", "U", "id=3 a=three d=3.50 x=x3 c1=c3! c2=7"},
		}, Layout: map[string][]string{"t": cols("id a n d x c1 c2")}, Restart: "sigterm"},

		// The first rows after a restart come without a schema change: the
		// target must keep the dropped column in place.
		{Name: "rows_after_restart", SQL: []string{
			"INSERT INTO DB.t VALUES (7, 'seven', 7.50, 'x7', 'c7', 77)",
		}, Rows: []ddlRow{
			{"t", "I", "id=7 a=seven d=7.50 x=x7 c1=c7 c2=77"},
		}},

		{Name: "rename_column", SQL: []string{
			"ALTER TABLE DB.t RENAME COLUMN a TO a2",
		}, Layout: map[string][]string{"t": cols("id a n d x c1 c2 a2")}, Restart: "kill9"},

		{Name: "rows_after_rename", SQL: []string{
			"INSERT INTO DB.t VALUES (8, 'eight', 8.50, 'x8', 'c8', 88)",
			"UPDATE DB.t SET a2 = 'one!' WHERE id = 1",
		}, Rows: []ddlRow{
			{"t", "I", "id=8 a2=eight d=8.50 x=x8 c1=c8 c2=88"},
			{"t", "U", "id=1 a2=one! d=1.50 x=x1 c1=c1 c2=7"},
		}},

		{Name: "change_column", SQL: []string{
			"ALTER TABLE DB.t CHANGE x x2 VARCHAR(10)",
			"INSERT INTO DB.t VALUES (9, 'nine', 9.50, 'x9', 'c9', 99)",
		}, Rows: []ddlRow{
			{"t", "I", "id=9 a2=nine d=9.50 x2=x9 c1=c9 c2=99"},
		}, Layout: map[string][]string{"t": cols("id a n d x c1 c2 a2 x2")}},

		{Name: "modify_wider", SQL: []string{
			"ALTER TABLE DB.t MODIFY c2 BIGINT NOT NULL DEFAULT 7",
			"ALTER TABLE DB.t MODIFY x2 VARCHAR(100)",
			"ALTER TABLE DB.t MODIFY d DECIMAL(20,4)",
			"INSERT INTO DB.t VALUES (10, 'ten', 12345678901234.5678, 'a-value-longer-than-ten', 'c10', 1099511627776)",
			"UPDATE DB.t SET c1 = 'c2!' WHERE id = 2",
		}, Rows: []ddlRow{
			{"t", "I", "id=10 a2=ten d__decimal_20_4=12345678901234.5678 x2=a-value-longer-than-ten c1=c10 c2=1099511627776"},
			{"t", "U", "id=2 a2=two! d__decimal_20_4=2.5000 x2=x2 c1=c2! c2=7"},
		}, Layout: map[string][]string{"t": cols("id a n d x c1 c2 a2 x2 d__decimal_20_4")}, Restart: "kill9"},

		{Name: "rename_table", SQL: []string{
			"RENAME TABLE DB.t TO DB.t2",
			"INSERT INTO DB.t2 VALUES (11, 'eleven', 11, 'x11', 'c11', 111)",
			"UPDATE DB.t2 SET c1 = 'c4!' WHERE id = 4",
		}, Rows: []ddlRow{
			{"t2", "I", "id=11 a2=eleven d=11.0000 x2=x11 c1=c11 c2=111"},
			{"t2", "U", "id=4 a2=four d=4.5000 x2=x4 c1=c4! c2=7"},
		}, Layout: map[string][]string{"t2": cols("id a2 d x2 c1 c2")}},

		{Name: "truncate", SQL: []string{
			"TRUNCATE TABLE DB.t2",
			"INSERT INTO DB.t2 VALUES (1, 'uno', 1, 'x1', 'c1', 1), (12, 'twelve', 12, 'x12', 'c12', 12)",
		}, Rows: []ddlRow{
			{"t2", "I", "id=1 a2=uno d=1.0000 x2=x1 c1=c1 c2=1"},
			{"t2", "I", "id=12 a2=twelve d=12.0000 x2=x12 c1=c12 c2=12"},
		}},

		{Name: "new_table", SQL: []string{
			"CREATE TABLE DB.u (id INT PRIMARY KEY, v VARCHAR(10))",
			"INSERT INTO DB.u VALUES (1, 'u1'), (2, 'u2')",
			"UPDATE DB.u SET v = 'u2!' WHERE id = 2",
			"DELETE FROM DB.u WHERE id = 1",
		}, Rows: []ddlRow{
			{"u", "I", "id=1 v=u1"},
			{"u", "I", "id=2 v=u2"},
			{"u", "U", "id=2 v=u2!"},
			{"u", "D", "id=1 v=u1"},
		}, Layout: map[string][]string{"u": cols("id v")}},
	}
}

// ddlStatements returns a step's statements for database db.
func (s ddlStep) statements(db string) []string {
	var out []string
	for _, q := range s.SQL {
		out = append(out, strings.ReplaceAll(q, "DB.", db+"."))
	}
	return out
}

// values parses a ddlRow's values.
func (r ddlRow) values() map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(r.Values) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// ddlODSRow is a row read back from a sink: column -> text, nil for NULL.
type ddlODSRow map[string]*string

func (r ddlODSRow) text(c string) string {
	if v := r[c]; v != nil {
		return *v
	}
	return "NULL"
}

// TestS3DDLScript runs the DDL script into three S3 sinks at once
// (parquet, csv, jsonl), restarting odsync with SIGTERM and with kill -9
// in the middle. Every row must land with the right values in the right
// columns (CSV read by position in the columns of the current schema file,
// as Athena reads it), each object must hold one layout, the current
// schema file and Athena DDL must follow the layout, nothing may stop, and
// the final state per key (latest _seq) must equal the source.
func TestS3DDLScript(t *testing.T) {
	srv := startS3(t)
	s3Env(t, srv)
	db0 := harness.MariaDB(t)
	db, err := db0.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const name = "s3ddl"
	mustExec(t, db, "DROP DATABASE IF EXISTS "+name, "CREATE DATABASE "+name)
	dir := t.TempDir()
	roll := "file_size: 1MiB\nmin_file_size: 1KiB\nflush_interval: 1s\nmax_age: 2s\nidle_after: 1s\ncheckpoint_interval: 200ms"
	formats := map[string]string{"pq": "parquet", "csv": "csv", "jl": "jsonl"}
	var sinks []string
	for _, prefix := range []string{"pq", "csv", "jl"} {
		sinks = append(sinks, s3SinkYAML(srv, prefix, prefix, "format: "+formats[prefix]+"\n"+roll, ""))
	}
	cfg := s3RunConfig(t, dir, db0.Addr(), name, sinks...)
	logPath := filepath.Join(dir, "odsync.log")
	starts := 0
	start := func() *harness.Process {
		p := harness.Start(t, logPath, "run", "-c", cfg)
		starts++
		harness.Eventually(t, 60*time.Second, "odsync to connect", func() (bool, string) {
			if p.Exited() {
				t.Fatalf("odsync exited early:\n%s", readFile(t, logPath))
			}
			s := readFile(t, logPath)
			n := strings.Count(s, "starting at the current position") + strings.Count(s, "resuming from checkpoint")
			return n >= starts, ""
		})
		return p
	}
	p := start()
	time.Sleep(300 * time.Millisecond)

	steps := ddlSteps()
	var want []ddlRow
	for _, st := range steps {
		mustExec(t, db, st.statements(name)...)
		want = append(want, st.Rows...)
		if p.Exited() {
			t.Fatalf("odsync exited during step %s:\n%s", st.Name, readFile(t, logPath))
		}
		switch st.Restart {
		case "":
			continue
		case "sigterm":
			time.Sleep(1500 * time.Millisecond) // the step is taken in
			if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
				t.Fatalf("step %s: SIGTERM: exit code %d, %v\n%s", st.Name, code, err, readFile(t, logPath))
			}
		case "kill9":
			time.Sleep(1500 * time.Millisecond)
			p.Kill()
		}
		t.Logf("restarted odsync after step %s (%s)", st.Name, st.Restart)
		p = start()
	}
	for prefix := range formats {
		harness.Eventually(t, 90*time.Second, prefix+": every row uploaded", func() (bool, string) {
			if p.Exited() {
				t.Fatalf("odsync exited:\n%s", readFile(t, logPath))
			}
			objs := s3Objects(t, srv, prefix)
			var cp s3sink.Checkpoint
			if err := json.Unmarshal(objs["_checkpoint.json"], &cp); err != nil || len(cp.Pending) > 0 {
				return false, string(objs["_checkpoint.json"])
			}
			n := 0
			for k, b := range objs {
				switch {
				case !isDataKey(k):
				case strings.HasSuffix(k, ".parquet"):
					n += len(readParquetText(t, b).Rows)
				case strings.HasSuffix(k, ".csv"):
					n += bytes.Count(b, []byte("\n")) - 1 // the header
				default:
					n += bytes.Count(b, []byte("\n"))
				}
			}
			return n >= len(want), fmt.Sprintf("%d rows, want %d", n, len(want))
		})
	}
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}
	lg := readFile(t, logPath)
	for _, bad := range []string{"panic", "permanent sink error", "s3 sink: stopped", "level=ERROR msg=\"s3 sink", "level=ERROR msg=\"sink"} {
		if strings.Contains(lg, bad) {
			t.Errorf("the log has %q:\n%s", bad, lg)
		}
	}

	source := ddlSourceState(t, db, name)
	for prefix, format := range formats {
		t.Run(format, func(t *testing.T) {
			objs := s3Objects(t, srv, prefix)
			got := readDDLTables(t, objs, format)
			checkDDLScript(t, steps, got, source, func(table string) string { return "ods_" + name + "_" + table })
			checkDDLObjects(t, objs, format)
		})
	}
}

// ddlTable is an ODS table read back: its current layout (all columns, in
// order) and its rows in _seq order.
type ddlTable struct {
	Layout []string
	Rows   []ddlODSRow
}

// readDDLTables reads every ODS table of a sink's objects: the columns of
// its current.json, and its rows (CSV by position in those columns; its
// header must be a prefix of them).
func readDDLTables(t *testing.T, objs map[string][]byte, format string) map[string]*ddlTable {
	t.Helper()
	out := map[string]*ddlTable{}
	for k, b := range objs {
		table, rest, _ := strings.Cut(k, "/")
		if rest != "_schema/current.json" {
			continue
		}
		ex, err := schema.ParseSchemaJSON(b)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		tb := &ddlTable{}
		for _, c := range ex.Columns {
			tb.Layout = append(tb.Layout, c.Name)
		}
		out[table] = tb
	}
	var keys []string
	for k := range objs {
		if isDataKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		table, _, _ := strings.Cut(k, "/")
		tb := out[table]
		if tb == nil {
			t.Fatalf("%s: table %s has no _schema/current.json", k, table)
		}
		switch format {
		case "parquet":
			pt := readParquetText(t, objs[k])
			for _, r := range pt.Rows {
				m := ddlODSRow{}
				for i, c := range pt.Cols {
					m[c] = r[i]
				}
				tb.Rows = append(tb.Rows, m)
			}
		case "jsonl":
			dec := json.NewDecoder(bytes.NewReader(objs[k]))
			dec.UseNumber()
			for dec.More() {
				var r map[string]any
				if err := dec.Decode(&r); err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				m := ddlODSRow{}
				for c, v := range r {
					if v != nil {
						s := fmt.Sprint(v)
						m[c] = &s
					} else {
						m[c] = nil
					}
				}
				tb.Rows = append(tb.Rows, m)
			}
		case "csv":
			lines := strings.Split(strings.TrimSuffix(string(objs[k]), "\n"), "\n")
			for i, h := range splitODSCSV(lines[0]) {
				if h == nil || i >= len(tb.Layout) || *h != tb.Layout[i] {
					t.Fatalf("%s: CSV header %q is not a prefix of the current layout %v", k, lines[0], tb.Layout)
				}
			}
			for _, l := range lines[1:] {
				f := splitODSCSV(l)
				if len(f) > len(tb.Layout) {
					t.Fatalf("%s: %d fields, the layout has %d columns", k, len(f), len(tb.Layout))
				}
				m := ddlODSRow{}
				for i, c := range tb.Layout {
					if i < len(f) {
						m[c] = f[i]
					} else {
						m[c] = nil
					}
				}
				tb.Rows = append(tb.Rows, m)
			}
		}
	}
	for _, tb := range out {
		sort.SliceStable(tb.Rows, func(i, j int) bool { return seqOf(tb.Rows[i]) < seqOf(tb.Rows[j]) })
	}
	return out
}

func seqOf(r ddlODSRow) uint64 {
	var n uint64
	fmt.Sscan(r.text("_seq"), &n)
	return n
}

// splitODSCSV splits one line of the sinks' CSV: every value quoted, '\'
// escapes, NULL an empty unquoted field.
func splitODSCSV(line string) []*string {
	var out []*string
	for i := 0; i <= len(line); {
		if i == len(line) || line[i] == ',' {
			out = append(out, nil)
			i++
			continue
		}
		var b strings.Builder
		i++
		for i < len(line) && line[i] != '"' {
			if line[i] == '\\' {
				i++
			}
			b.WriteByte(line[i])
			i++
		}
		i += 2
		s := b.String()
		out = append(out, &s)
	}
	return out
}

// checkDDLScript compares the ODS tables with the script: per table, its
// rows in _seq order are the script's rows (every listed column equal,
// every other non-metadata column NULL), the final layouts are the
// script's, and the latest row per key equals the source.
func checkDDLScript(t *testing.T, steps []ddlStep, got map[string]*ddlTable, source map[string][]ddlODSRow, target func(string) string) {
	t.Helper()
	wantRows := map[string][]ddlRow{}
	layouts := map[string][]string{}
	for _, st := range steps {
		for _, r := range st.Rows {
			wantRows[r.Table] = append(wantRows[r.Table], r)
		}
		for tb, l := range st.Layout {
			layouts[tb] = l
		}
	}
	for tb, layout := range layouts {
		g := got[target(tb)]
		if g == nil {
			t.Errorf("ODS table %s is missing", target(tb))
			continue
		}
		var cols []string
		for _, c := range g.Layout {
			if !strings.HasPrefix(c, "_") {
				cols = append(cols, c)
			}
		}
		if strings.Join(cols, " ") != strings.Join(layout, " ") {
			t.Errorf("%s: layout %v, want %v", target(tb), cols, layout)
		}
		rows := wantRows[tb]
		gotRows := renameSnapshotRows(t, tb, g.Rows, rows, got, target)
		if len(gotRows) != len(rows) {
			t.Errorf("%s: %d rows, want %d", target(tb), len(gotRows), len(rows))
		}
		for i := 0; i < min(len(rows), len(gotRows)); i++ {
			w, r := rows[i].values(), gotRows[i]
			var diffs []string
			if r.text("_op") != rows[i].Op {
				diffs = append(diffs, fmt.Sprintf("_op=%s", r.text("_op")))
			}
			for _, c := range cols {
				want, ok := w[c]
				if !ok {
					want = "NULL"
				}
				if r.text(c) != want {
					diffs = append(diffs, fmt.Sprintf("%s=%s (want %s)", c, r.text(c), want))
				}
			}
			if len(diffs) > 0 {
				t.Errorf("%s row %d (_seq %s), want %s %s: %s", target(tb), i, r.text("_seq"), rows[i].Op, rows[i].Values, strings.Join(diffs, ", "))
			}
		}
	}
	// Final state: the latest row per key, over a table and the table it
	// was renamed to, equals the source; extra keys are exactly the
	// truncated ones, deleted keys are gone.
	for tb, srcRows := range source {
		latest := map[string]ddlODSRow{}
		names := []string{tb}
		for old, renamed := range ddlRenamed {
			if renamed == tb {
				names = append(names, old)
			}
		}
		for _, name := range names {
			if got[target(name)] == nil {
				continue
			}
			for _, r := range got[target(name)].Rows {
				if l, ok := latest[r.text("id")]; !ok || seqOf(r) > seqOf(l) {
					latest[r.text("id")] = r
				}
			}
		}
		for k, r := range latest {
			if r.text("_op") == "D" {
				delete(latest, k)
			}
		}
		for _, s := range srcRows {
			id := s.text("id")
			r, ok := latest[id]
			if !ok {
				t.Errorf("%s: key %s missing in the ODS", tb, id)
				continue
			}
			for c := range s {
				if r.text(c) != s.text(c) {
					t.Errorf("%s key %s: %s = %s in the ODS, %s in the source", tb, id, c, r.text(c), s.text(c))
				}
			}
			delete(latest, id)
		}
		var extra []string
		for k := range latest {
			extra = append(extra, k)
		}
		sort.Slice(extra, func(i, j int) bool {
			return len(extra[i]) < len(extra[j]) || len(extra[i]) == len(extra[j]) && extra[i] < extra[j]
		})
		if strings.Join(extra, ",") != strings.Join(ddlTruncated[tb], ",") {
			t.Errorf("%s: keys in the ODS but not in the source: %v, want the truncated keys %v", tb, extra, ddlTruncated[tb])
		}
	}
}

// ddlSourceState reads the final source tables of the script as text.
func ddlSourceState(t *testing.T, db *sql.DB, name string) map[string][]ddlODSRow {
	t.Helper()
	out := map[string][]ddlODSRow{}
	for _, tb := range []string{"t2", "u"} {
		rows, err := db.Query("SELECT * FROM " + name + "." + tb + " ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			r := ddlODSRow{}
			for i, c := range cols {
				if vals[i].Valid {
					s := vals[i].String
					r[c] = &s
				} else {
					r[c] = nil
				}
			}
			out[tb] = append(out[tb], r)
		}
		rows.Close()
	}
	return out
}

// checkDDLObjects checks the S3-specific part: an object holds one layout
// (its CSV header, Parquet schema or JSON keys are one layout's columns),
// schema files are valid, current.json is the newest layout and, for
// parquet and csv, current.sql its Athena DDL.
func checkDDLObjects(t *testing.T, objs map[string][]byte, format string) {
	t.Helper()
	layouts := map[string]map[string]bool{} // table -> set of column lists of schema files
	for k, b := range objs {
		table, rest, _ := strings.Cut(k, "/")
		if !strings.HasPrefix(rest, "_schema/v") || !strings.HasSuffix(rest, ".json") {
			continue
		}
		ex, err := schema.ParseSchemaJSON(b)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		var cols []string
		for _, c := range ex.Columns {
			cols = append(cols, c.Name)
		}
		if layouts[table] == nil {
			layouts[table] = map[string]bool{}
		}
		layouts[table][strings.Join(cols, ",")] = true
		if format != "jsonl" && objs[strings.TrimSuffix(k, ".json")+".sql"] == nil {
			t.Errorf("%s has no Athena DDL (.sql)", k)
		}
	}
	for k, b := range objs {
		if !isDataKey(k) {
			continue
		}
		table, _, _ := strings.Cut(k, "/")
		var cols []string
		switch format {
		case "parquet":
			cols = readParquetText(t, b).Cols
		case "csv":
			for _, h := range splitODSCSV(strings.SplitN(string(b), "\n", 2)[0]) {
				cols = append(cols, *h)
			}
		case "jsonl":
			// keys follow the target column order
			line := strings.SplitN(string(b), "\n", 2)[0]
			dec := json.NewDecoder(strings.NewReader(line))
			if _, err := dec.Token(); err != nil {
				t.Fatal(err)
			}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				cols = append(cols, tok.(string))
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !layouts[table][strings.Join(cols, ",")] {
			t.Errorf("%s: columns %v are not those of one of the table's schema files", k, cols)
		}
	}
	if format == "jsonl" {
		return
	}
	for k, b := range objs {
		table, rest, _ := strings.Cut(k, "/")
		if rest != "_schema/current.json" {
			continue
		}
		sql := string(objs[table+"/_schema/current.sql"])
		if !strings.Contains(sql, "CREATE EXTERNAL TABLE IF NOT EXISTS `"+table+"`") {
			t.Errorf("%s/_schema/current.sql: no CREATE EXTERNAL TABLE:\n%s", table, sql)
		}
		ex, _ := schema.ParseSchemaJSON(b)
		last := ex.Columns[len(ex.Columns)-1].Name
		if !strings.Contains(sql, "`"+last+"`") {
			t.Errorf("%s/_schema/current.sql lacks the current layout's column %s:\n%s", table, last, sql)
		}
	}
}

// renameSnapshotRows drops from a renamed-to table's rows the snapshot
// reads (R) the rename started: a table renamed into the captured set is
// copied like a newly included one, and whether that copy runs before or
// after the script's next statements is timing. Each dropped row must be
// a row the table had under its old name (same key and values).
func renameSnapshotRows(t *testing.T, tb string, rows []ddlODSRow, want []ddlRow, got map[string]*ddlTable, target func(string) string) []ddlODSRow {
	t.Helper()
	var old string
	for o, renamed := range ddlRenamed {
		if renamed == tb {
			old = o
		}
	}
	if old == "" {
		return rows
	}
	for _, w := range want {
		if w.Op == "R" {
			return rows // the script expects snapshot rows itself
		}
	}
	before := map[string]ddlODSRow{}
	if g := got[target(old)]; g != nil {
		for _, r := range g.Rows {
			before[r.text("id")] = r
		}
	}
	var out []ddlODSRow
	for _, r := range rows {
		if r.text("_op") != "R" {
			out = append(out, r)
			continue
		}
		b, ok := before[r.text("id")]
		if !ok {
			t.Errorf("%s: snapshot row of key %s, which %s never had", target(tb), r.text("id"), target(old))
			continue
		}
		for c, v := range r {
			if strings.HasPrefix(c, "_") {
				continue
			}
			bv, has := b[c]
			bc := c
			for k, v2 := range b {
				// A type change the old table could not take in place
				// (lenient) went to a new column c__<type>: the renamed
				// table's c is that column's successor where it is set.
				if strings.HasPrefix(k, c+"__") && v2 != nil {
					bv, has, bc = v2, true, k
				}
			}
			if has && (v == nil) != (bv == nil) || has && v != nil && !sameDDLValue(*v, *bv) {
				t.Errorf("%s: snapshot row of key %s has %s=%s, %s had %s=%s", target(tb), r.text("id"), c, r.text(c), target(old), bc, b.text(bc))
			}
		}
	}
	return out
}

// sameDDLValue compares two texts of one column, decimals by value (a
// column widened from decimal(10,2) to decimal(20,4) writes 1.50 as
// 1.5000).
func sameDDLValue(a, b string) bool {
	if a == b {
		return true
	}
	x, okx := new(big.Rat).SetString(a)
	y, oky := new(big.Rat).SetString(b)
	return okx && oky && x.Cmp(y) == 0
}
