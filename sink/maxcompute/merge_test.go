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
	ordersMT := mergeTableFor(t, tg)
	withBase := func(mt MergeTable, cols, types []string, parts ...string) MergeTable {
		mt.BaseColumns, mt.BaseTypes, mt.BasePartitions = cols, types, parts
		return mt
	}
	retype := func(mt MergeTable, col, typ string) MergeTable {
		mt.Types = append([]string(nil), mt.Types...)
		for i, c := range mt.Columns {
			if c == col {
				mt.Types[i] = typ
			}
		}
		return mt
	}
	// DROP COLUMN: odsync keeps `note` in the log; the base table was
	// created earlier with another column order, has a column the log
	// lacks (`legacy`) and lacks `updated` and `note`.
	dropped := withBase(ordersMT,
		[]string{"_op", "_seq", "_commit_ts", "_pos", "_raw", "id", "name", "customer_id", "legacy", "amount", "status", "created"},
		[]string{"STRING", "BIGINT", "TIMESTAMP", "STRING", "STRING", "BIGINT", "STRING", "INT", "STRING", "DECIMAL(18,4)", "STRING", "TIMESTAMP_NTZ"},
		"20240301")
	// A type widened in place in the log (INT -> BIGINT, DECIMAL(18,4) ->
	// DECIMAL(20,4)): the base column is widened too.
	widened := withBase(retype(retype(ordersMT, "customer_id", "BIGINT"), "amount", "DECIMAL(20,4)"), ordersMT.Columns, ordersMT.Types, "20240301")
	// Lenient evolution: the log gained `customer_id__string` next to the
	// INT column; the base gains it by name.
	lenient := ordersMT
	lenient.Columns = append(append([]string(nil), ordersMT.Columns...), "customer_id__string")
	lenient.Types = append(append([]string(nil), ordersMT.Types...), "STRING")
	lenient = withBase(lenient, ordersMT.Columns, ordersMT.Types, "20240301")
	// Evolve mode started ods_shop_orders_v2 (customer_id INT -> STRING,
	// amount DECIMAL(18,4) -> DECIMAL(20,6)): the base of the first version
	// continues, fed by both logs; values the base columns cannot hold go
	// to <col>__<type> columns.
	v2 := retype(retype(ordersMT, "customer_id", "STRING"), "amount", "DECIMAL(20,6)")
	v2.Name, v2.BaseName = "ods_shop_orders_v2", "ods_shop_orders"
	v2.Earlier = []LogTable{{Name: "ods_shop_orders", Columns: ordersMT.Columns, Types: ordersMT.Types}}
	v2 = withBase(v2, ordersMT.Columns, ordersMT.Types, "20240228", "20240229")
	// Partitions without changes: the newest base partition before
	// 20240302 is 20240229 (20240301 had no changes and was never built).
	gap := withBase(ordersMT, ordersMT.Columns, ordersMT.Types, "20240227", "20240229", "2024022923")
	cases := []struct {
		name  string
		tbl   MergeTable
		o     MergeOptions
		stmts int
	}{
		{"incremental.sql", ordersMT, MergeOptions{Project: "dw", Partition: "20240302", Previous: "20240301"}, 3},
		{"full.sql", ordersMT, MergeOptions{Project: "dw", Schema: "ods", Partition: "20240302", Lifecycle: 30, BaseSuffix: "_cur"}, 3},
		{"hourly_merged_route.sql", mergeTableFor(t, stg), MergeOptions{Partition: "2024030200", Previous: "2024030123"}, 3},
		{"drop_column.sql", dropped, MergeOptions{Project: "dw", Partition: "20240302", Previous: "20240301"}, 3},
		{"widened_in_place.sql", widened, MergeOptions{Project: "dw", Partition: "20240302", Previous: "20240301"}, 4},
		{"lenient_type_change.sql", lenient, MergeOptions{Project: "dw", Partition: "20240302", Previous: "20240301"}, 3},
		{"version_v2.sql", v2, MergeOptions{Project: "dw", Partition: "20240301", Previous: PreviousBase(v2.BasePartitions, "20240301")}, 3},
		{"carry_forward_gap.sql", gap, MergeOptions{Project: "dw", Partition: "20240302", Previous: PreviousBase(gap.BasePartitions, "20240302")}, 2},
	}
	// Once a merge ran, its base columns leave nothing to add or widen (the
	// scheduler fills gaps with them).
	for _, mt := range []MergeTable{dropped, widened, lenient, v2} {
		plan, err := planMerge(mt)
		if err != nil {
			t.Fatal(err)
		}
		mt.BaseColumns, mt.BaseTypes = nil, nil
		for _, c := range plan.cols {
			mt.BaseColumns, mt.BaseTypes = append(mt.BaseColumns, c.name), append(mt.BaseTypes, c.typ)
		}
		sql, err := MergeSQL(mt, MergeOptions{Partition: "20240303", Previous: "20240302"})
		if err != nil || len(splitStatements(sql)) != 2 {
			t.Errorf("%s after its merge: %v\n%s", mt.Name, err, sql)
		}
	}
	for _, c := range cases {
		sql, err := MergeSQL(c.tbl, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		golden(t, filepath.Join("merge", c.name), sql)
		sets, stmts := strings.Count(sql, "\nSET "), len(splitStatements(sql))
		if stmts != c.stmts || sets != 3 {
			t.Errorf("%s: %d statements and %d SET lines, want %d and 3", c.name, stmts, sets, c.stmts)
		}
		ns := "SET odps.namespace.schema=false;"
		if c.o.Schema != "" {
			ns = "SET odps.namespace.schema=true;"
		}
		if !strings.Contains(sql, ns) {
			t.Errorf("%s: no %q", c.name, ns)
		}
		// By name: the INSERT names every base column, in the base's order.
		ins := sql[strings.Index(sql, "INSERT OVERWRITE"):]
		ins = ins[strings.Index(ins, ") (")+3:]
		ins = ins[:strings.Index(ins, ")\n")]
		if len(c.tbl.BaseColumns) > 0 && !strings.HasPrefix(ins, "`"+strings.Join(c.tbl.BaseColumns, "`, `")+"`") {
			t.Errorf("%s: INSERT columns %s do not start with the base's %v", c.name, ins, c.tbl.BaseColumns)
		}
	}
}

// TestMergeSQLCases checks what each golden case must say, so an accepted
// golden update cannot silently lose it.
func TestMergeSQLCases(t *testing.T) {
	for name, wants := range map[string][]string{
		"drop_column.sql": {
			"ADD COLUMNS IF NOT EXISTS (`updated` TIMESTAMP, `note` STRING);",
			"CAST(NULL AS STRING) AS `legacy`",
			"FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240301'",
		},
		"widened_in_place.sql": {
			"CHANGE COLUMN `customer_id` `customer_id` BIGINT;",
			"CHANGE COLUMN `amount` `amount` DECIMAL(20,4);",
		},
		"lenient_type_change.sql": {"ADD COLUMNS IF NOT EXISTS (`customer_id__string` STRING);"},
		"version_v2.sql": {
			"INSERT OVERWRITE TABLE `dw`.`ods_shop_orders_base`",
			"ADD COLUMNS IF NOT EXISTS (`customer_id__string` STRING, `amount__decimal_20_6` DECIMAL(20,6));",
			"CAST(NULL AS INT) AS `customer_id`, `name`, CAST(NULL AS DECIMAL(18,4)) AS `amount`",
			"`customer_id` AS `customer_id__string`, `amount` AS `amount__decimal_20_6` FROM `dw`.`ods_shop_orders_v2`",
			"FROM `dw`.`ods_shop_orders` WHERE `ds` > '20240229' AND `ds` <= '20240301'",
			"FROM `dw`.`ods_shop_orders_v2` WHERE `ds` > '20240229' AND `ds` <= '20240301'",
			"FROM `dw`.`ods_shop_orders_v2` WHERE `ds` <= '20240229' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240229')",
		},
		"carry_forward_gap.sql": {
			"FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240229'",
			"WHERE `ds` > '20240229' AND `ds` <= '20240302'",
		},
		"incremental.sql": {
			"FROM `dw`.`ods_shop_orders` WHERE `ds` <= '20240301' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM `dw`.`ods_shop_orders_base` WHERE `ds` = '20240301')",
		},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "merge", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
}

func TestMergeTypeRules(t *testing.T) {
	for _, c := range []struct {
		from, to        string
		lossless, inPlc bool
	}{
		{"INT", "BIGINT", true, true},
		{"BIGINT", "INT", false, false},
		{"DECIMAL(18,4)", "DECIMAL(20,4)", true, true},
		{"DECIMAL(18,4)", "DECIMAL(20,6)", true, false},
		{"DECIMAL(20,6)", "DECIMAL(18,4)", false, false},
		{"BIGINT", "DECIMAL(20,0)", true, false},
		{"INT", "STRING", false, false},
		{"VARCHAR(10)", "STRING", true, true},
		{"FLOAT", "DOUBLE", true, false},
		{"STRING", "INT", false, false},
	} {
		if got := castsLosslessly(c.from, c.to); got != c.lossless {
			t.Errorf("castsLosslessly(%s, %s) = %v", c.from, c.to, got)
		}
		if got := widensInPlace(c.from, c.to); got != c.inPlc {
			t.Errorf("widensInPlace(%s, %s) = %v", c.from, c.to, got)
		}
	}
	if got := altColumn("amount", "DECIMAL(20,6)"); got != "amount__decimal_20_6" {
		t.Errorf("altColumn = %s", got)
	}
	// A base column of the alternative name that cannot hold the values
	// is an error, never a cast down.
	mt := MergeTable{Name: "t", Columns: []string{"_op", "_seq", "id", "a"}, Types: []string{"STRING", "BIGINT", "BIGINT", "STRING"},
		Key: []string{"id"}, PartitionColumn: "ds", BaseColumns: []string{"a", "a__string"}, BaseTypes: []string{"INT", "INT"}}
	if _, err := MergeSQL(mt, MergeOptions{Partition: "20240101"}); err == nil {
		t.Error("a STRING column merged into an INT base column")
	}
	// A key column of a type the base's cannot hold cannot be merged.
	mt.BaseColumns, mt.BaseTypes = []string{"id"}, []string{"INT"}
	mt.Types = []string{"STRING", "BIGINT", "STRING", "STRING"}
	if _, err := MergeSQL(mt, MergeOptions{Partition: "20240101"}); err == nil || !strings.Contains(err.Error(), "key column id") {
		t.Errorf("a STRING key merged into an INT base key: %v", err)
	}
}

func TestPreviousBaseAndFill(t *testing.T) {
	parts := []string{"20240227", "20240301", "2024030123", "20240305", "bad"}
	for part, want := range map[string]string{"20240302": "20240301", "20240301": "20240227", "20240227": "", "2024030200": "2024030123"} {
		if got := PreviousBase(parts, part); got != want {
			t.Errorf("PreviousBase(%s) = %q, want %q", part, got, want)
		}
	}
	for _, c := range []struct{ prev, part, want string }{
		{"", "20240302", "20240302"},
		{"20240301", "20240302", "20240302"},
		{"20240227", "20240302", "20240228,20240229,20240301,20240302"},
		{"2024022922", "2024030100", "2024022923,2024030100"},
	} {
		got, err := fillPartitions(c.prev, c.part)
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("fillPartitions(%s, %s) = %v, %v; want %s", c.prev, c.part, got, err, c.want)
		}
	}
	got, _ := fillPartitions("20200101", "20240101")
	if len(got) != maxGapFill+1 || got[len(got)-1] != "20240101" {
		t.Errorf("fillPartitions over years: %d partitions ending %s", len(got), got[len(got)-1])
	}
	if n, err := NextPartition("20240228"); n != "20240229" || err != nil {
		t.Errorf("NextPartition = %s, %v", n, err)
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
		{Partition: "2024010100", Previous: "20231231"}, {Partition: "20240101", Previous: "20231231' OR '1"},
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
	stmts := splitStatements(sql)
	err = h.sink.cat.exec(ctxT(t), stmts[len(stmts)-1])
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("INSERT on the emulator: %v", err)
	}
	// Evolve mode started a second version; an earlier merge built a base
	// table with other columns and two partitions. The versions are one
	// MergeTable feeding the first version's base, which continues from
	// its newest partition.
	execSQL(t, o, "CREATE TABLE `ods_app_t_v2` (`_op` STRING, `_seq` BIGINT, `id` BIGINT, `v` STRING) COMMENT 'odsync ODS of app.t; key id' PARTITIONED BY (`ds` STRING)")
	execSQL(t, o, "CREATE TABLE `ods_app_t_base` (`_op` STRING, `_seq` BIGINT, `old` STRING, `id` BIGINT) PARTITIONED BY (`ds` STRING)")
	execSQL(t, o, "ALTER TABLE `ods_app_t_base` ADD PARTITION (`ds` = '20240428')")
	execSQL(t, o, "ALTER TABLE `ods_app_t_base` ADD PARTITION (`ds` = '20240430')")
	for _, names := range [][]string{nil, {"ods_app_t"}, {"ods_app_t_v2"}} {
		tables, err := ODSTables(ctxT(t), h.cfg, names, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != 1 {
			t.Fatalf("ODSTables(%v) = %+v, want one table", names, tables)
		}
		mt := tables[0]
		if mt.Name != "ods_app_t_v2" || mt.BaseName != "ods_app_t" || len(mt.Earlier) != 1 || mt.Earlier[0].Name != "ods_app_t" ||
			!strings.HasPrefix(strings.Join(mt.BaseColumns, ",")+",", "_op,_seq,old,id,") || PreviousBase(mt.BasePartitions, "20240501") != "20240430" {
			t.Fatalf("ODSTables(%v) = %+v", names, mt)
		}
		sql, err := MergeSQL(mt, MergeOptions{Partition: "20240501", Previous: PreviousBase(mt.BasePartitions, "20240501")})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"INSERT OVERWRITE TABLE `ods_app_t_base` PARTITION (`ds` = '20240501') (`_op`, `_seq`, `old`, `id`, ",
			"FROM `ods_app_t_base` WHERE `ds` = '20240430'", "FROM `ods_app_t` WHERE `ds` > '20240430'", "FROM `ods_app_t_v2` WHERE `ds` > '20240430'"} {
			if !strings.Contains(sql, w) {
				t.Errorf("MergeSQL lacks %q:\n%s", w, sql)
			}
		}
		// The DDL runs on the emulator: the base gains the logs' columns.
		for _, stmt := range splitStatements(sql)[:len(splitStatements(sql))-1] {
			if err := h.sink.cat.exec(ctxT(t), stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	if info, ok, err := h.sink.cat.table(ctxT(t), "ods_app_t_base"); err != nil || !ok || info.colIndex("v") < 0 || info.colIndex("old") != 2 {
		t.Errorf("base table after the DDL: %+v, %v", info, err)
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
	// With a base partition three partitions back, the scheduler first
	// fills the gap: its first INSERT is for the partition after it.
	var part string
	m.mu.Lock()
	for p := range m.parts["ods_app_t"].parts {
		part = p
	}
	m.mu.Unlock()
	p1, _ := PreviousPartition(part)
	p2, _ := PreviousPartition(p1)
	p3, _ := PreviousPartition(p2)
	o, _ := h.emu.sdk()
	execSQL(t, o, "ALTER TABLE `ods_app_t_base` ADD PARTITION (`ds` = '"+p3+"')")
	err := m.mergeOne(ctxT(t), "ods_app_t", part)
	if err == nil || !strings.Contains(err.Error(), "partition "+p2+":") {
		t.Errorf("gap fill from %s to %s: first failure %v, want one for %s", p3, part, err, p2)
	}
}
