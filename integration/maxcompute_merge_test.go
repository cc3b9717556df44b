package integration

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/odsync/odsync/integration/harness"
)

// TestMaxComputeMergeSQLContinuesBase runs `odsync maxcompute merge-sql`
// against the emulator holding two versions of an ODS table (evolve mode
// started ods_app_t_v2) and a base table built earlier, with another
// column order and a gap (no base partition for the day before): the SQL
// continues the base from its newest partition, feeds it from both logs
// and matches columns by name. (The emulator runs no queries: the SQL text
// is checked; the cases are golden-tested in sink/maxcompute.)
func TestMaxComputeMergeSQLContinuesBase(t *testing.T) {
	emu := startMCEmu(t)
	o, _ := mcClients(emu)
	for _, stmt := range []string{
		"CREATE TABLE `ods_app_t` (`_op` STRING, `_seq` BIGINT, `id` BIGINT, `n` INT, `gone` STRING) COMMENT 'odsync ODS of app.t; key id' PARTITIONED BY (`ds` STRING)",
		"CREATE TABLE `ods_app_t_v2` (`_op` STRING, `_seq` BIGINT, `id` BIGINT, `n` STRING, `gone` STRING, `extra` BIGINT) COMMENT 'odsync ODS of app.t; key id' PARTITIONED BY (`ds` STRING)",
		"CREATE TABLE `ods_app_t_base` (`id` BIGINT, `_seq` BIGINT, `_op` STRING, `n` INT, `legacy` STRING) PARTITIONED BY (`ds` STRING)",
		"ALTER TABLE `ods_app_t_base` ADD PARTITION (`ds` = '20240427')",
		"ALTER TABLE `ods_app_t_base` ADD PARTITION (`ds` = '20240428')",
	} {
		ins, err := o.ExecSQlWithHints(stmt, map[string]string{"odps.namespace.schema": "false"})
		if err == nil {
			err = ins.WaitForSuccess()
		}
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	dir := t.TempDir()
	cfg := mcRunConfig(t, dir, "127.0.0.1:1", "app", "", "", mcSinkYAML(emu, "mc", "", ""))
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(harness.Binary(t), append([]string{"maxcompute", "merge-sql", "-c", cfg}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("merge-sql %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	p := "`" + mcProject + "`."
	for _, args := range [][]string{{"--ds", "20240430"}, {"--ds", "20240430", "--table", "ods_app_t"}} {
		sql := run(args...)
		if n := strings.Count(sql, "INSERT OVERWRITE"); n != 1 {
			t.Errorf("%v: %d INSERTs, want one for the table family:\n%s", args, n, sql)
		}
		for _, want := range []string{
			"ALTER TABLE " + p + "`ods_app_t_base` ADD COLUMNS IF NOT EXISTS (`gone` STRING, `n__string` STRING, `extra` BIGINT);",
			"INSERT OVERWRITE TABLE " + p + "`ods_app_t_base` PARTITION (`ds` = '20240430') (`id`, `_seq`, `_op`, `n`, `legacy`, `gone`, `n__string`, `extra`)",
			"FROM " + p + "`ods_app_t_base` WHERE `ds` = '20240428'",
			"CAST(NULL AS STRING) AS `legacy`, `gone`, CAST(NULL AS STRING) AS `n__string`, CAST(NULL AS BIGINT) AS `extra` FROM " + p + "`ods_app_t` WHERE `ds` > '20240428' AND `ds` <= '20240430'",
			"CAST(NULL AS INT) AS `n`, CAST(NULL AS STRING) AS `legacy`, `gone`, `n` AS `n__string`, `extra` FROM " + p + "`ods_app_t_v2` WHERE `ds` > '20240428' AND `ds` <= '20240430'",
			"WHERE `ds` <= '20240428' AND `_seq` > (SELECT COALESCE(MAX(`_seq`), 0) - 1000000 FROM " + p + "`ods_app_t_base` WHERE `ds` = '20240428')",
		} {
			if !strings.Contains(sql, want) {
				t.Errorf("%v: merge-sql output lacks %q:\n%s", args, want, sql)
			}
		}
	}
	if sql := run("--ds", "20240430", "--full"); !strings.Contains(sql, "FROM "+p+"`ods_app_t_v2` WHERE `ds` <= '20240430'") ||
		strings.Contains(sql, "_base` WHERE") {
		t.Errorf("--full does not build from the logs alone:\n%s", sql)
	}
	// Before the base's first partition: in full.
	if sql := run("--ds", "20240427"); !strings.Contains(sql, "FROM "+p+"`ods_app_t` WHERE `ds` <= '20240427'") {
		t.Errorf("no base partition before 20240427, yet not built in full:\n%s", sql)
	}
}
