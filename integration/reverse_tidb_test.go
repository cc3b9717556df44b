package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/verify"
)

// TestReverseS3ToTiDB is the round trip MariaDB -> S3 (Parquet) -> the s3
// source (incremental) -> the MySQL sink into TiDB (tidb-server, unistore),
// run by the kit as a two-job pipeline (kitReverseS3To):
//
//   - types: the kit's every-type table without the types TiDB does not
//     have (MariaDB's UUID/INET4/INET6, GEOMETRY), and a change log with
//     updates, deletes and key changes, land in TiDB equal to the source
//     cell by cell (binary protocol) while the changes arrive, across a
//     kill -9 of the reverse job while idle and one while it catches up;
//     JSON (TiDB stores it binary, normalized) is in its own table, which
//     verify compares by value. `odsync verify` of the original database
//     against TiDB then reports MATCH for every table, and MISMATCH once a
//     TiDB value changed.
//   - ddl: the kit's DDL script through the pipeline into TiDB
//     (kitReverseDDLState: what docs/reverse-sync.md documents).
func TestReverseS3ToTiDB(t *testing.T) {
	d := kitDriver{name: "reverse_tidb", system: kitState, open: kitReverseS3To("parquet", kitTiDBSink)}
	t.Run("ddl", func(t *testing.T) {
		t.Parallel()
		kitDDLPart(t, d)
	})
	t.Run("types", func(t *testing.T) {
		t.Parallel()
		r := kitOpen(t, d, "rv_tidb", "")
		var types []kitType
		var defs []string
		for _, topic := range kitTypes {
			if topic.name == "mariadb" {
				continue
			}
			for _, ty := range topic.types {
				if ty.col == "g" || ty.col == "j" {
					continue
				}
				types = append(types, ty)
				defs = append(defs, ty.col+" "+ty.ddl)
			}
		}
		r.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY, %s) DEFAULT CHARSET=utf8mb4", r.name, strings.Join(defs, ", ")),
			fmt.Sprintf("CREATE TABLE %s.c (id INT PRIMARY KEY, v VARCHAR(32), n BIGINT)", r.name),
			fmt.Sprintf(`CREATE TABLE %s.j (id INT PRIMARY KEY, j JSON)`, r.name),
			fmt.Sprintf(`INSERT INTO %s.j VALUES (1, '{"a": [1, 2.50, "x"],  "b" : null}'), (2, '[]'), (3, NULL), (4, '"s"')`, r.name))
		kitInsertTypes(r, types, 0)
		var vals []string
		for i := 1; i <= 200; i++ {
			vals = append(vals, fmt.Sprintf("(%d, 'v%d', %d)", i, i, i*10))
		}
		r.exec(fmt.Sprintf("INSERT INTO %s.c VALUES %s", r.name, strings.Join(vals, ", ")))
		r.start()
		r.waitSnapshot()
		kitInsertTypes(r, types, 100)
		r.exec(fmt.Sprintf("UPDATE %s.c SET v = CONCAT(v, '-u'), n = n + 1 WHERE id %% 3 = 0", r.name),
			fmt.Sprintf("DELETE FROM %s.c WHERE id %% 7 = 0", r.name),
			fmt.Sprintf("UPDATE %s.c SET id = id + 1000 WHERE id BETWEEN 10 AND 19", r.name),
			fmt.Sprintf("INSERT INTO %s.c VALUES (5000, 'late', NULL)", r.name),
			fmt.Sprintf("DELETE FROM %s.t WHERE id = 2", r.name),
			fmt.Sprintf("UPDATE %s.t SET i = 7, txt = 'changed', d65 = -d65 WHERE id = 1", r.name),
			fmt.Sprintf(`UPDATE %s.j SET j = '{"k": [true, false, 1e3]}' WHERE id = 2`, r.name))
		r.waitState("t", 120*time.Second)
		r.waitState("c", 60*time.Second)

		// kill -9 of the reverse job while idle, changes meanwhile; then
		// kill -9 while it catches up.
		r.jp.Kill()
		for round := 0; round < 3; round++ {
			var more []string
			for i := 0; i < 150; i++ {
				more = append(more, fmt.Sprintf("(%d, 'r%d', %d)", 10000+round*1000+i, round, i))
			}
			r.exec(fmt.Sprintf("INSERT INTO %s.c VALUES %s", r.name, strings.Join(more, ", ")),
				fmt.Sprintf("UPDATE %s.c SET n = n + 100 WHERE id %% 4 = %d", r.name, round),
				fmt.Sprintf("DELETE FROM %s.c WHERE id %% 13 = %d", r.name, round))
		}
		kitInsertTypes(r, types, 200)
		time.Sleep(2 * time.Second) // the forward job uploads them
		r.start()
		time.Sleep(700 * time.Millisecond)
		r.jp.Kill()
		r.start()
		r.waitState("c", 90*time.Second)
		r.waitState("t", 60*time.Second)
		harnessWaitRows(t, r, "j", 4)
		r.stop()

		rep, code, out := kitVerify(t, r)
		if rep == nil {
			return
		}
		if code != 0 || !rep.OK() || len(rep.Tables) != 3 {
			t.Fatalf("verify of TiDB against the source: exit %d, want 0 and MATCH for 3 tables:\n%s", code, out)
		}
		for _, tr := range rep.Tables {
			if tr.Status != verify.StatusMatch {
				t.Errorf("verify %s: %s", tr.Table, tr.Status)
			}
		}
		if _, err := r.sink.target.Exec(fmt.Sprintf("UPDATE `%s`.j SET j = '[1]' WHERE id = 4", r.name)); err != nil {
			t.Fatal(err)
		}
		if _, code, out = kitVerify(t, r); code == 0 || !strings.Contains(out, "id=4") {
			t.Fatalf("verify after changing a TiDB value: exit %d, want MISMATCH naming id=4:\n%s", code, out)
		}
	})
}

// harnessWaitRows waits until the target table of the run holds n rows.
func harnessWaitRows(t *testing.T, r *kitRun, table string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got int
		err := r.sink.target.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.`%s`", r.name, table)).Scan(&got)
		if err == nil && got == n {
			return
		}
		if r.exited() || time.Now().After(deadline) {
			t.Fatalf("target %s.%s: %d rows (%v), want %d\n%s", r.name, table, got, err, n, r.logTail())
		}
		time.Sleep(300 * time.Millisecond)
	}
}
