package schema

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDDLGolden(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{})
	tg, err := m.Target(ordersV1)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ddl/maxcompute_create.golden", []byte(tg.MaxComputeCreate(MaxComputeOptions{})+"\n"))
	golden(t, "ddl/maxcompute_create_qualified.golden",
		[]byte(tg.MaxComputeCreate(MaxComputeOptions{Project: "dw", Schema: "ods", Lifecycle: 365})+"\n"))
	golden(t, "ddl/athena_parquet.golden",
		[]byte(tg.AthenaCreate(AthenaOptions{Database: "lake", Bucket: "bkt", Prefix: "/cdc/ods/"})+"\n"))
	golden(t, "ddl/schema.json", tg.SchemaJSON())

	// Merged shards, hourly partitions in Shanghai time, CSV with a header,
	// a lossy column override.
	m2 := mustMapper(t, Config{
		Routes: []Route{{Source: `shop\.order_\d+`, Target: "ods_shop_order", Merge: true}},
		Tables: []TableRule{{Source: `shop\.order_\d+`, Partition: PartitionConfig{Column: "dt", Granularity: "hour", TimeZone: "Asia/Shanghai"},
			Columns: map[string]ColumnRule{"created": {Type: "datetime"}, "note": {Name: "remark"}}}},
		SourceTimeZone: "Asia/Shanghai",
	})
	shard := tableSpec("shop", "order_07", "*id bigint unsigned", "amount decimal(12,2)", "created datetime(6)", "note varchar(255)")
	tg2, err := m2.Target(shard)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ddl/maxcompute_merged.golden", []byte(tg2.MaxComputeCreate(MaxComputeOptions{})+"\n"))
	golden(t, "ddl/athena_csv_merged.golden", []byte(tg2.AthenaCreate(AthenaOptions{Bucket: "bkt", Format: FormatCSV,
		CSVHeader: true, ProjectionStart: "2026010100"})+"\n"))
	golden(t, "ddl/schema_merged.json", tg2.SchemaJSON())
	golden(t, "ddl/describe_merged.golden", []byte(tg2.Describe()))
	if tg2.Partition(1_795_000_000_000_000) != "2026111819" {
		t.Errorf("partition = %s", tg2.Partition(1_795_000_000_000_000))
	}
	var f map[string]any
	if err := json.Unmarshal(tg2.SchemaJSON(), &f); err != nil || f["name"] != "ods_shop_order" {
		t.Fatalf("schema JSON: %v %v", f, err)
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"a": "`a`", "a`b": "`a``b`", "": "``", "select": "`select`"} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := sqlString("it's a \\ test\n"); got != `'it\'s a \\ test\n'` {
		t.Errorf("sqlString = %s", got)
	}
}

func TestDDLQuotesEverything(t *testing.T) {
	t.Parallel()
	// Reserved words as table and column names stay quoted in every statement.
	tb := tableSpec("select", "table", "*from int", "where varchar(255)")
	m := mustMapper(t, Config{Target: "{table}_{db}"})
	tg, err := m.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	for _, ddl := range []string{tg.MaxComputeCreate(MaxComputeOptions{Project: "p"}), tg.AthenaCreate(AthenaOptions{Database: "d", Bucket: "b"})} {
		for _, want := range []string{"`table_select`", "`from`", "`where`"} {
			if !strings.Contains(ddl, want) {
				t.Errorf("DDL lacks %s:\n%s", want, ddl)
			}
		}
	}
}
