package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/sink/odsfile"
)

// Versions of shop.items as a DDL script changes it.
var (
	itemsID = event.TableID{DB: "shop", Table: "items"}
	colID   = event.Column{Name: "id", Type: event.TypeBigInt, RawType: "bigint"}
	colA    = event.Column{Name: "a", Type: event.TypeVarchar, Length: 10, Nullable: true, RawType: "varchar(10)"}
	colN    = event.Column{Name: "n", Type: event.TypeInt, Nullable: true, RawType: "int"}
	colD    = event.Column{Name: "d", Type: event.TypeInt, Nullable: true, RawType: "int"}
	colDBig = event.Column{Name: "d", Type: event.TypeBigInt, Nullable: true, RawType: "bigint"}
	colNStr = event.Column{Name: "n", Type: event.TypeVarchar, Length: 10, Nullable: true, RawType: "varchar(10)"}
	colC    = event.Column{Name: "c", Type: event.TypeVarchar, Length: 20, Nullable: true, RawType: "varchar(20)"}
	colA2   = event.Column{Name: "a2", Type: event.TypeVarchar, Length: 10, Nullable: true, RawType: "varchar(10)"}

	items1 = itemsVersion(colID, colA, colN, colD)              // CREATE
	items2 = itemsVersion(colID, colA, colN, colD, colC)        // ADD COLUMN c
	items3 = itemsVersion(colID, colA, colD, colC)              // DROP COLUMN n (mid-table)
	items4 = itemsVersion(colID, colA2, colD, colC)             // RENAME COLUMN a TO a2
	items5 = itemsVersion(colID, colA2, colNStr, colDBig, colC) // ADD COLUMN n VARCHAR, MODIFY d BIGINT
)

func itemsVersion(cols ...event.Column) *event.Table {
	return (&event.Table{ID: itemsID, Key: []int{0}, Columns: cols}).Seal()
}

// ddlRun is a DDL script as events: a schema change or a row (values by
// source column), and what the row must read as in the final layout.
type ddlRun struct {
	evs  []event.Event
	want map[uint64]map[string]string // _seq -> target column -> text ("" = NULL)
}

func (r *ddlRun) ddl(tbl *event.Table) {
	seq := uint64(len(r.evs) + 1)
	r.evs = append(r.evs, event.Event{Seq: seq, Op: event.OpDDL, Source: tbl.ID, Table: tbl, CommitTime: t0 + int64(seq)*1e5,
		Pos: event.Position{File: "binlog.000001", Offset: 100 * seq}, DDL: "ALTER TABLE", TxnEnd: true})
}

func (r *ddlRun) row(tbl *event.Table, vals map[string]event.Value, want map[string]string) {
	seq := uint64(len(r.evs) + 1)
	e := event.Event{Seq: seq, Op: event.OpInsert, Source: tbl.ID, Table: tbl, CommitTime: t0 + int64(seq)*1e5,
		Pos: event.Position{File: "binlog.000001", Offset: 100 * seq}, TxnEnd: true}
	for _, c := range tbl.Columns {
		v, ok := vals[c.Name]
		if !ok {
			v = event.Null
		}
		e.After = append(e.After, v)
	}
	r.evs = append(r.evs, e)
	if r.want == nil {
		r.want = map[uint64]map[string]string{}
	}
	r.want[seq] = want
}

// itemsScript is the script of the unit tests; restartAt is the number of
// events before a restart with a new mapper (a DROP COLUMN was applied, the
// next rows come without a schema change event).
func itemsScript() (r *ddlRun, restartAt int) {
	r = &ddlRun{}
	r.ddl(items1)
	r.row(items1, map[string]event.Value{"id": event.Int(1), "a": event.String("one"), "n": event.Int(10), "d": event.Int(100)},
		map[string]string{"id": "1", "a": "one", "n": "10", "d": "100"})
	r.ddl(items2)
	r.row(items2, map[string]event.Value{"id": event.Int(2), "a": event.String("two"), "n": event.Int(20), "d": event.Int(200), "c": event.String("c2")},
		map[string]string{"id": "2", "a": "two", "n": "20", "d": "200", "c": "c2"})
	r.ddl(items3)
	r.row(items3, map[string]event.Value{"id": event.Int(3), "a": event.String("three"), "d": event.Int(300), "c": event.String("c3")},
		map[string]string{"id": "3", "a": "three", "d": "300", "c": "c3"})
	restartAt = len(r.evs)
	r.row(items3, map[string]event.Value{"id": event.Int(4), "a": event.String("four"), "d": event.Int(400), "c": event.String("c4")},
		map[string]string{"id": "4", "a": "four", "d": "400", "c": "c4"})
	// The first row of a new version, without its schema change event.
	r.row(items4, map[string]event.Value{"id": event.Int(5), "a2": event.String("five"), "d": event.Int(500), "c": event.String("c5")},
		map[string]string{"id": "5", "a2": "five", "d": "500", "c": "c5"})
	r.ddl(items5)
	r.row(items5, map[string]event.Value{"id": event.Int(6), "a2": event.String("six"), "n": event.String("n6"), "d": event.Int(1 << 40), "c": event.String("c6")},
		map[string]string{"id": "6", "a2": "six", "n__string": "n6", "d": "1099511627776", "c": "c6"})
	return r, restartAt
}

// The final layout of the script in lenient mode: dropped n kept, a kept
// after the rename, a2 added, d widened in place, n as VARCHAR added
// beside the INT column.
var itemsFinalColumns = []string{"id", "a", "n", "d", "c", "a2", "n__string"}

// TestSchemaChangesEvolveTheTarget runs the script in every format, with a
// restart after the DROP COLUMN (new mapper, same spool directory): every
// row lands in the right column, an object holds one layout, the schema
// files and Athena DDL follow the layout, nothing stops.
func TestSchemaChangesEvolveTheTarget(t *testing.T) {
	for _, format := range odsfile.Formats {
		t.Run(format, func(t *testing.T) {
			srv, bucket := server(t)
			dir := t.TempDir()
			cfg := testConfig(srv, bucket, "ods", dir)
			cfg.Format = format
			run, restartAt := itemsScript()
			s, err := New(cfg, testMapper(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, s, batches(run.evs[:restartAt], 2))
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			s, err = New(cfg, testMapper(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, s, batches(run.evs[restartAt:], 1))
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			objs := objects(t, srv, bucket, "ods")
			checkItems(t, format, objs, "ods_shop_items", run.want, itemsFinalColumns, 4)
		})
	}
}

// TestRestartWithoutSpoolReconcilesFromBucket: a spool directory that is
// lost (or new) takes the layout from the bucket's current.json, or, when
// there is none (data of an older odsync), from its newest schema file.
func TestRestartWithoutSpoolReconcilesFromBucket(t *testing.T) {
	for _, dropCurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("without_current_%v", dropCurrent), func(t *testing.T) {
			srv, bucket := server(t)
			cfg := testConfig(srv, bucket, "ods", t.TempDir())
			cfg.Format = odsfile.FormatCSV
			run, restartAt := itemsScript()
			s, err := New(cfg, testMapper(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, s, batches(run.evs[:restartAt], 3))
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if dropCurrent {
				for _, k := range []string{"ods/ods_shop_items/_schema/current.json", "ods/ods_shop_items/_schema/current.sql"} {
					if _, err := srv.Client().DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg.SpoolDir = t.TempDir() // the spool state is gone
			s, err = New(cfg, testMapper(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, s, batches(run.evs[restartAt:], 2))
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkItems(t, odsfile.FormatCSV, objects(t, srv, bucket, "ods"), "ods_shop_items", run.want, itemsFinalColumns, 4)
		})
	}
}

// checkItems reads every data object of table (CSV by position in the
// columns of current.json, as Athena reads it) and compares each row with
// want; it checks the schema files and DDL.
func checkItems(t *testing.T, format string, objs map[string][]byte, table string, want map[uint64]map[string]string, final []string, minSchemas int) {
	t.Helper()
	cur, err := schema.ParseSchemaJSON(objs[table+"/_schema/current.json"])
	if err != nil {
		t.Fatalf("current.json: %v", err)
	}
	var curCols, srcCols []string
	for _, c := range cur.Columns {
		curCols = append(curCols, c.Name)
		if !strings.HasPrefix(c.Name, "_") {
			srcCols = append(srcCols, c.Name)
		}
	}
	if strings.Join(srcCols, ",") != strings.Join(final, ",") {
		t.Errorf("current layout columns %v, want %v", srcCols, final)
	}
	got := map[uint64]map[string]*string{}
	layouts := map[string]bool{}
	for _, k := range dataKeys(objs) {
		if !strings.HasPrefix(k, table+"/") {
			continue
		}
		rows, cols := decodeObject(t, format, objs[k], curCols)
		layouts[strings.Join(cols, ",")] = true
		for _, r := range rows {
			seq, err := strconv.ParseUint(*r["_seq"], 10, 64)
			if err != nil {
				t.Fatalf("%s: _seq %v", k, r["_seq"])
			}
			if _, dup := got[seq]; dup {
				t.Errorf("_seq %d twice", seq)
			}
			got[seq] = r
		}
	}
	for seq, w := range want {
		r, ok := got[seq]
		if !ok {
			t.Errorf("_seq %d missing", seq)
			continue
		}
		for _, c := range final {
			g := ""
			if v := r[c]; v != nil {
				g = *v
			}
			if g != w[c] {
				t.Errorf("_seq %d column %s = %q, want %q", seq, c, g, w[c])
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	if len(layouts) < 3 {
		t.Errorf("objects of %d layouts, want at least 3 (an object per layout): %v", len(layouts), layouts)
	}
	// One schema file per layout (+ DDL for parquet and csv), the newest is current.
	var schemas, ddl int
	for k, v := range objs {
		if !strings.HasPrefix(k, table+"/_schema/") {
			continue
		}
		switch {
		case strings.HasSuffix(k, ".json"):
			schemas++
			if _, err := schema.ParseSchemaJSON(v); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		case strings.HasSuffix(k, ".sql"):
			ddl++
		}
	}
	if schemas < minSchemas {
		t.Errorf("%d schema files, want at least %d", schemas, minSchemas)
	}
	if format == odsfile.FormatJSONL {
		if ddl != 0 {
			t.Errorf("%d DDL files for jsonl", ddl)
		}
	} else {
		sql := string(objs[table+"/_schema/current.sql"])
		for _, s := range []string{"ALTER TABLE `" + table + "` ADD COLUMNS", "CREATE EXTERNAL TABLE IF NOT EXISTS `" + table + "`", "`n__string`"} {
			if !strings.Contains(sql, s) {
				t.Errorf("current.sql lacks %q:\n%s", s, sql)
			}
		}
	}
}

// decodeObject decodes a data object as rows of column -> text (nil for
// NULL) and returns the object's own column names. CSV is read by position
// in layout (the current layout's columns); its header must be a prefix.
func decodeObject(t *testing.T, format string, data []byte, layout []string) ([]map[string]*string, []string) {
	t.Helper()
	var out []map[string]*string
	switch format {
	case odsfile.FormatParquet:
		var cols []string
		for _, r := range parquetRows(t, data) {
			m := map[string]*string{}
			cols = cols[:0]
			for c, v := range r {
				cols = append(cols, c)
				if v == nil {
					m[c] = nil
					continue
				}
				s := fmt.Sprint(v)
				m[c] = &s
			}
			out = append(out, m)
		}
		sort.Strings(cols)
		return out, cols
	case odsfile.FormatJSONL:
		var cols []string
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		for dec.More() {
			var r map[string]any
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			m := map[string]*string{}
			cols = cols[:0]
			for c, v := range r {
				cols = append(cols, c)
				if v != nil {
					s := fmt.Sprint(v)
					m[c] = &s
				} else {
					m[c] = nil
				}
			}
			out = append(out, m)
		}
		sort.Strings(cols)
		return out, cols
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	header := splitCSV(lines[0])
	var cols []string
	for i, h := range header {
		cols = append(cols, *h)
		if i >= len(layout) || layout[i] != *h {
			t.Fatalf("CSV header %v is not a prefix of the current layout %v", cols, layout)
		}
	}
	for _, l := range lines[1:] {
		f := splitCSV(l)
		m := map[string]*string{}
		for i, c := range layout {
			if i < len(f) {
				m[c] = f[i]
			}
		}
		out = append(out, m)
	}
	return out, cols
}

// splitCSV splits one line of the sink's CSV (every value quoted, '\'
// escapes, NULL an empty unquoted field).
func splitCSV(line string) []*string {
	var out []*string
	for i := 0; i <= len(line); {
		if i == len(line) || line[i] == ',' {
			out = append(out, nil)
			i++
			continue
		}
		var b strings.Builder
		i++ // opening quote
		for i < len(line) && line[i] != '"' {
			if line[i] == '\\' {
				i++
			}
			b.WriteByte(line[i])
			i++
		}
		i += 2 // closing quote and comma
		s := b.String()
		out = append(out, &s)
	}
	return out
}

// TestReconcileKeepsTheLayout: a target reconciled with its own schema file
// has the same layout (version) for every common type, so a restart does
// not start new objects or schema files.
func TestReconcileKeepsTheLayout(t *testing.T) {
	tbl := (&event.Table{ID: event.TableID{DB: "shop", Table: "types"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, Unsigned: true, RawType: "bigint unsigned"},
		{Name: "i8", Type: event.TypeTinyInt, Nullable: true, RawType: "tinyint"},
		{Name: "u8", Type: event.TypeTinyInt, Unsigned: true, Nullable: true, RawType: "tinyint unsigned"},
		{Name: "i32", Type: event.TypeInt, Nullable: true, RawType: "int"},
		{Name: "d", Type: event.TypeDecimal, Precision: 65, Scale: 30, Nullable: true, RawType: "decimal(65,30)"},
		{Name: "d2", Type: event.TypeDecimal, Precision: 12, Scale: 2, Nullable: true, RawType: "decimal(12,2)"},
		{Name: "f", Type: event.TypeFloat, Nullable: true, RawType: "float"},
		{Name: "dbl", Type: event.TypeDouble, Nullable: true, RawType: "double"},
		{Name: "b", Type: event.TypeBit, Length: 10, Nullable: true, RawType: "bit(10)"},
		{Name: "s", Type: event.TypeVarchar, Length: 32, Nullable: true, RawType: "varchar(32)"},
		{Name: "txt", Type: event.TypeText, Nullable: true, RawType: "text"},
		{Name: "bin", Type: event.TypeVarbinary, Length: 16, Nullable: true, RawType: "varbinary(16)"},
		{Name: "e", Type: event.TypeEnum, Elems: []string{"red", "green"}, Nullable: true, RawType: "enum('red','green')"},
		{Name: "st", Type: event.TypeSet, Elems: []string{"a", "b"}, Nullable: true, RawType: "set('a','b')"},
		{Name: "dt", Type: event.TypeDate, Nullable: true, RawType: "date"},
		{Name: "dtm", Type: event.TypeDateTime, Scale: 6, Nullable: true, RawType: "datetime(6)"},
		{Name: "ts", Type: event.TypeTimestamp, Scale: 3, Nullable: true, RawType: "timestamp(3)"},
		{Name: "tm", Type: event.TypeTime, Scale: 2, Nullable: true, RawType: "time(2)"},
		{Name: "y", Type: event.TypeYear, Nullable: true, RawType: "year"},
		{Name: "j", Type: event.TypeJSON, Nullable: true, RawType: "json"},
	}}).Seal()
	tg, err := testMapper(t).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := schema.ParseSchemaJSON(tg.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	p, err := testMapper(t).Reconcile(tbl, ex)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("plan not empty: %s", p)
	}
	if a, b := odsfile.LayoutVersion(tg), odsfile.LayoutVersion(p.New); a != b {
		t.Errorf("layout %016x after reconcile, was %016x:\n%s\n%s", b, a, tg.SchemaJSON(), p.New.SchemaJSON())
	}
}

// TestSchemaPublishedWithoutRows: a schema change with no row after it is
// in the bucket soon (schema file, DDL, current.*), and a schema change
// the evolution mode refuses stops the sink with a permanent error naming
// the table.
func TestSchemaPublishedWithoutRows(t *testing.T) {
	srv, bucket := server(t)
	cfg := testConfig(srv, bucket, "ods", t.TempDir())
	s, err := New(cfg, testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := itemsScript()
	writeAll(t, s, batches(run.evs[:3], 3)) // CREATE, a row, ADD COLUMN c
	deadline := time.Now().Add(20 * time.Second)
	for {
		objs := objects(t, srv, bucket, "ods")
		if ex, err := schema.ParseSchemaJSON(objs["ods_shop_items/_schema/current.json"]); err == nil && len(ex.Columns) > 0 &&
			ex.Columns[len(ex.Columns)-1].Name == "c" && bytes.Contains(objs["ods_shop_items/_schema/current.sql"], []byte("ADD COLUMNS (`c` string")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("schema change not published: %s\n%s", objs["ods_shop_items/_schema/current.json"], objs["ods_shop_items/_schema/current.sql"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// evolution: exception refuses the change.
	mc := schema.Config{Evolution: schema.ModeException}
	mc.EnsureDefaults()
	m, err := schema.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	s, err = New(testConfig(srv, bucket, "strict", t.TempDir()), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	err = s.Write(context.Background(), &sink.Batch{First: 1, Last: 3, Events: run.evs[:3]})
	if !errorsIsPermanent(err) || !strings.Contains(err.Error(), "shop.items") {
		t.Fatalf("err = %v, want a permanent error naming shop.items", err)
	}
}

// TestUnreadableBucketSpoolsThenChecks: a new spool directory whose first
// write finds S3 unreachable keeps spooling with the mapping's layout and
// checks it against the bucket before the first upload: an empty prefix
// takes the rows; a prefix whose layout the spooled one does not continue
// (a column dropped before, kept in the bucket's layout) stops the sink
// with a permanent error and uploads nothing of the table.
func TestUnreadableBucketSpoolsThenChecks(t *testing.T) {
	srv, bucket := server(t)
	run, restartAt := itemsScript()
	// The bucket's layout of ods_shop_items keeps the dropped column n.
	s, err := New(testConfig(srv, bucket, "ods", t.TempDir()), testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, batches(run.evs[:restartAt], 10))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := objects(t, srv, bucket, "ods")

	// S3 down: two new spool directories, one on that prefix, one on an empty one.
	srv.Stop()
	restarted := false
	defer func() {
		if !restarted {
			srv.Restart(context.Background())
		}
	}()
	// The rows after the DROP COLUMN, as a new mapper maps them (no n).
	rows := []event.Event{run.evs[restartAt]}
	conflict, err := New(testConfig(srv, bucket, "ods", t.TempDir()), testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := New(testConfig(srv, bucket, "empty", t.TempDir()), testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, sk := range []*Sink{conflict, empty} {
		if err := sk.WriteAck(context.Background(), &sink.Batch{First: rows[0].Seq, Last: rows[0].Seq, Events: rows}, nil); err != nil {
			t.Fatalf("Write while S3 is down: %v", err)
		}
	}
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := empty.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := dataKeys(objects(t, srv, bucket, "empty")); len(keys) != 1 {
		t.Errorf("empty prefix: data objects %v, want 1", keys)
	}
	deadline := time.Now().Add(30 * time.Second)
	for conflict.Health().LastError == "" || !strings.Contains(conflict.Health().LastError, "conflicts") {
		if time.Now().After(deadline) {
			t.Fatalf("no conflict reported: %+v", conflict.Health())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := conflict.Write(context.Background(), &sink.Batch{First: rows[0].Seq + 1, Last: rows[0].Seq + 1,
		Events: []event.Event{run.evs[restartAt+1]}}); !errorsIsPermanent(err) {
		t.Errorf("Write after the conflict: %v, want a permanent error", err)
	}
	conflict.Close(ctx)
	after := objects(t, srv, bucket, "ods")
	if len(after) != len(before) {
		var ks []string
		for k := range after {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		t.Errorf("objects changed after the conflict: %v", ks)
	}
	if !bytes.Equal(after["ods_shop_items/_schema/current.json"], before["ods_shop_items/_schema/current.json"]) {
		t.Errorf("current.json changed after the conflict")
	}
}

// TestReplayWithSchemaChangesRewritesIdenticalObjects: the script cut by
// crashes (a new mapper each time, replays of batches taken in before)
// leaves exactly the objects of a clean run: data, schema files, DDL.
func TestReplayWithSchemaChangesRewritesIdenticalObjects(t *testing.T) {
	for _, format := range []string{odsfile.FormatParquet, odsfile.FormatCSV} {
		t.Run(format, func(t *testing.T) {
			srv, bucket := server(t)
			run, _ := itemsScript()
			mk := func(prefix, dir string) Config {
				c := testConfig(srv, bucket, prefix, dir)
				c.Format = format
				c.FlushOnClose = boolPtr(true)
				return c
			}
			clean, err := New(mk("clean", t.TempDir()), testMapper(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, clean, batches(run.evs, 100))
			if err := clean.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			crashyRun(t, func() Config { return mk("crashy", dir) }, run.evs, 8, 1, 2, 3)
			a, b := objects(t, srv, bucket, "clean"), objects(t, srv, bucket, "crashy")
			var ka, kb []string
			for k := range a {
				if !strings.HasPrefix(k, "_") {
					ka = append(ka, k)
				}
			}
			for k := range b {
				if !strings.HasPrefix(k, "_") {
					kb = append(kb, k)
				}
			}
			sort.Strings(ka)
			sort.Strings(kb)
			if strings.Join(ka, "\n") != strings.Join(kb, "\n") {
				t.Fatalf("objects differ:\nclean:\n%s\ncrashy:\n%s", strings.Join(ka, "\n"), strings.Join(kb, "\n"))
			}
			for _, k := range ka {
				if !bytes.Equal(a[k], bytes.ReplaceAll(b[k], []byte("/crashy/"), []byte("/clean/"))) {
					t.Errorf("%s: contents differ:\n%s\n%s", k, a[k], b[k])
				}
			}
		})
	}
}
