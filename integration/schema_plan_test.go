package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/odsync/odsync/integration/harness"
)

func TestSchemaPlanPrintsEverySinksDDL(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS plan", "CREATE DATABASE plan",
		`CREATE TABLE plan.orders (id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(65,30), note TEXT, at DATETIME(6), st SET('a','b'), fine DECIMAL(30,20))`,
		`CREATE TABLE plan.skipped (id INT PRIMARY KEY)`)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "odsync.yaml")
	harness.WriteFile(t, cfg, fmt.Sprintf(`state: {dir: %s}
admin: {addr: "127.0.0.1:0"}
source: {type: mysql, mysql: {addr: "%s", user: root}}
mapping:
  include: ['plan\.orders']
sinks:
  - {name: files, type: local, local: {dir: %s}}
  - {name: lake, type: s3, s3: {bucket: ods-bucket, prefix: raw, region: us-east-1, endpoint: "http://127.0.0.1:1", path_style: true, format: parquet}}
  - {name: mc, type: maxcompute, maxcompute: {endpoint: "http://127.0.0.1:1/api", project: ods_prj, access_id: id, access_key: key}}
`, filepath.Join(dir, "state"), srv.Addr(), filepath.Join(dir, "ods")))
	cmd := exec.Command(harness.Binary(t), "schema", "plan", "-c", cfg, "--database", "lake")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schema plan: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{
		"-- plan.orders", "ods_plan_orders",
		"CREATE TABLE IF NOT EXISTS `ods_prj`.`ods_plan_orders`", "DECIMAL(20,0)", "PARTITIONED BY",
		"CREATE EXTERNAL TABLE", "projection", "s3://ods-bucket/raw/ods_plan_orders",
		// metadata NOT NULL in MaxCompute, _raw nullable everywhere
		"`_seq` BIGINT NOT NULL", "`_raw` STRING COMMENT", "`_raw` string COMMENT",
		// per-system limits: DECIMAL(30,20) is STRING on MaxCompute (scale <= 18), decimal in Parquet
		"`fine` STRING COMMENT 'source fine decimal(30,20)'", "`fine` decimal(30,20)",
		"mapping for maxcompute sinks", "mapping for files sinks",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, ";;") {
		t.Errorf("output has ';;':\n%s", s)
	}
	if strings.Contains(s, "plan.skipped") {
		t.Errorf("an excluded table is planned:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "ods")); err == nil {
		t.Errorf("schema plan wrote into the sink directory")
	}
}
