package s3

import (
	"strings"
	"testing"
)

func TestAthenaDDL(t *testing.T) {
	m := testMapper(t)
	tg, err := m.Target(ordersTable)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{"parquet", []string{"CREATE EXTERNAL TABLE IF NOT EXISTS `lake`.`ods_shop_orders`", "ParquetHiveSerDe",
			"`amount` decimal(12,2)", "LOCATION 's3://bkt/cdc/ods/ods_shop_orders/'", "'projection.ds.format' = 'yyyyMMdd'"}},
		{"csv", []string{"OpenCSVSerde", "`amount` string COMMENT 'decimal(12,2) as text", "'skip.header.line.count' = '1'"}},
	} {
		c := Config{Connection: Connection{Bucket: "bkt", Prefix: "/cdc/ods/"}, Format: tc.format, SpoolDir: "x"}
		c.EnsureDefaults()
		ddl, err := c.AthenaDDL(tg, "lake")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(ddl, w) {
				t.Errorf("%s DDL lacks %q:\n%s", tc.format, w, ddl)
			}
		}
	}
	c := Config{Connection: Connection{Bucket: "bkt"}, Format: "jsonl"}
	c.EnsureDefaults()
	if _, err := c.AthenaDDL(tg, "lake"); err == nil {
		t.Error("jsonl: no error")
	}
}
