package maxcompute

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// mergeTableFor is the MergeTable of a target as ODSTables reads it back.
func mergeTableFor(t *testing.T, tg *schema.Target) MergeTable {
	info := &tableInfo{name: tg.Name, partKeys: []string{tg.PartitionColumn}, comment: tableComment(tg)}
	for _, c := range tg.Columns {
		info.cols = append(info.cols, colInfo{name: c.Name, typ: c.MaxCompute})
	}
	return mergeTableOf(info, nil)
}

// tableComment extracts the comment MaxComputeCreate gives the table.
func tableComment(tg *schema.Target) string {
	ddl := tg.MaxComputeCreate(schema.MaxComputeOptions{})
	i := strings.Index(ddl, "\nCOMMENT '")
	rest := ddl[i+len("\nCOMMENT '"):]
	return rest[:strings.Index(rest, "'")]
}

func TestMergeSQLGolden(t *testing.T) {
	orders := newMapper(t, schema.Config{})
	tg, err := orders.Target(cdcTable())
	if err != nil {
		t.Fatal(err)
	}
	shards := newMapper(t, schema.Config{Routes: []schema.Route{{Source: `shop\.order_(\d+)`, Target: "ods_shop_order", Merge: true}}})
	sh := cdcTable()
	sh.ID.Table = "order_07"
	sh.Seal()
	stg, err := shards.Target(sh)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		tbl  MergeTable
		o    MergeOptions
	}{
		{"incremental.sql", mergeTableFor(t, tg), MergeOptions{Project: "dw", Partition: "20240302", Previous: "20240301"}},
		{"full.sql", mergeTableFor(t, tg), MergeOptions{Project: "dw", Schema: "ods", Partition: "20240302", Lifecycle: 30, BaseSuffix: "_cur"}},
		{"hourly_merged_route.sql", mergeTableFor(t, stg), MergeOptions{Partition: "2024030200", Previous: "2024030123"}},
	}
	for _, c := range cases {
		sql, err := MergeSQL(c.tbl, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		golden(t, filepath.Join("merge", c.name), sql)
		sets, stmts := strings.Count(sql, "\nSET "), len(splitStatements(sql))
		if stmts != 3 || sets != 3 {
			t.Errorf("%s: %d statements and %d SET lines, want 3 and 3", c.name, stmts, sets)
		}
		ns := "SET odps.namespace.schema=false;"
		if c.o.Schema != "" {
			ns = "SET odps.namespace.schema=true;"
		}
		if !strings.Contains(sql, ns) {
			t.Errorf("%s: no %q", c.name, ns)
		}
	}
}

func TestMergeSQLErrors(t *testing.T) {
	noKey := (&event.Table{ID: event.TableID{DB: "a", Table: "log"}, Columns: []event.Column{{Name: "msg", Type: event.TypeText, RawType: "text"}}}).Seal()
	tg, err := newMapper(t, schema.Config{}).Target(noKey)
	if err != nil {
		t.Fatal(err)
	}
	mt := mergeTableFor(t, tg)
	if _, err := MergeSQL(mt, MergeOptions{Partition: "20240101"}); !errors.Is(err, ErrNoKey) {
		t.Errorf("table without a key: %v", err)
	}
	mt.Key = []string{"msg"}
	for _, o := range []MergeOptions{
		{Partition: ""}, {Partition: "2024-01-01"}, {Partition: "20240101'; DROP TABLE x; --"},
		{Partition: "20240101", Previous: "20240101"}, {Partition: "20240101", Previous: "x"},
	} {
		if _, err := MergeSQL(mt, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	mt.Key = []string{"nope"}
	if _, err := MergeSQL(mt, MergeOptions{Partition: "20240101"}); err == nil {
		t.Error("a key column that does not exist was accepted")
	}
}

func TestPartitionArithmetic(t *testing.T) {
	for in, want := range map[string]string{"20240301": "20240229", "20240101": "20231231", "2024030100": "2024022923"} {
		if got, err := PreviousPartition(in); err != nil || got != want {
			t.Errorf("PreviousPartition(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	end, err := partitionEnd("20240301", sh)
	if err != nil || !end.Equal(time.Date(2024, 3, 1, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("end of 20240301 in Shanghai = %s, %v", end, err)
	}
	now := time.Date(2024, 3, 2, 0, 40, 0, 0, time.UTC)
	day := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC).UnixMicro()
	cases := []struct {
		now       time.Time
		watermark int64
		lastWrite time.Time
		want      bool
	}{
		{now, day + 1, now, true},                                       // closed, delay passed, changes after the end written
		{now.Add(-20 * time.Minute), day + 1, now, false},               // delay not passed
		{now, day - 1, now, false},                                      // the sink has not caught up
		{now, day - 1, now.Add(-31 * time.Minute), true},                // but it is idle
		{time.Date(2024, 3, 1, 23, 0, 0, 0, time.UTC), day, now, false}, // not closed
	}
	for i, c := range cases {
		if got := due("20240301", time.UTC, c.now, 30*time.Minute, c.watermark, c.lastWrite); got != c.want {
			t.Errorf("case %d: due = %v, want %v", i, got, c.want)
		}
	}
	if k := keyFromComment("odsync ODS of shop.orders; key _src_db,_src_table,id"); strings.Join(k, ",") != "_src_db,_src_table,id" {
		t.Errorf("keyFromComment = %v", k)
	}
}

// TestODSTables reads the ODS tables back from the emulator, as
// `odsync maxcompute merge-sql` does.
func TestODSTables(t *testing.T) {
	h := newHarness(t, schema.Config{}, nil)
	h.write(batch(simpleEvents(simpleTable(), 1, 3, event.OpInsert)))
	o, _ := h.emu.sdk()
	execSQL(t, o, "CREATE TABLE not_ods (a BIGINT)")
	tables, err := ODSTables(ctxT(t), h.cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Name != "ods_app_t" || strings.Join(tables[0].Key, ",") != "id" || tables[0].PartitionColumn != "ds" {
		t.Fatalf("ODSTables = %+v", tables)
	}
	sql, err := MergeSQL(tables[0], MergeOptions{Partition: "20240501"})
	if err != nil || !strings.Contains(sql, "PARTITION BY `id` ORDER BY `_seq` DESC") {
		t.Fatalf("MergeSQL: %v\n%s", err, sql)
	}
	// The emulator does not run queries: the statement fails there with
	// its "not supported" message, proving it was submitted.
	err = h.sink.cat.exec(ctxT(t), splitStatements(sql)[2])
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("INSERT on the emulator: %v", err)
	}
}

// TestScheduledMerge runs the scheduler's tick against the emulator: the
// base table is created and evolved there (DDL), the INSERT fails (the
// emulator runs no queries) and the partition stays due.
func TestScheduledMerge(t *testing.T) {
	h := newHarness(t, schema.Config{}, func(c *Config) { c.Merge.Schedule = true; c.Merge.Delay = time.Minute })
	h.write(batch(simpleEvents(simpleTable(), 1, 3, event.OpInsert)))
	m := h.sink.merge
	m.mu.Lock()
	m.lastWrite = time.Now().Add(-time.Hour) // idle
	due := len(m.parts["ods_app_t"].parts)
	m.mu.Unlock()
	if due != 1 {
		t.Fatalf("%d partitions noted, want 1", due)
	}
	m.tick(ctxT(t), time.Now())
	if _, ok, err := h.sink.cat.table(ctxT(t), "ods_app_t_base"); err != nil || !ok {
		t.Fatalf("base table not created: %v", err)
	}
	m.mu.Lock()
	left := len(m.parts["ods_app_t"].parts)
	m.mu.Unlock()
	if left != 1 {
		t.Errorf("a failed merge dropped its partition")
	}
	if v, ok, _ := h.log.Get(h.sink.ns, "m/ods_app_t"); ok {
		t.Errorf("a failed merge was recorded: %s", v)
	}
}
