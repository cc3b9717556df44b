package integration

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
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
//     kill -9 of the reverse job while idle and one while it catches up.
//     JSON is in its own table, compared by value (TiDB stores JSON binary
//     and renders it normalized: 2.50 as 2.5, spaces dropped). `odsync
//     verify` of the original database against TiDB then reports MATCH for
//     the other tables (it compares MariaDB's JSON text as it is), and
//     MISMATCH once a TiDB value changed.
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
		kitJSONByValue(t, r, "j")
		r.stop()

		// verify compares MariaDB's JSON text as it is, and TiDB's is
		// normalized ("2.50" is 2.5, spaces go): j is compared by value
		// above, verify checks t and c.
		b, err := os.ReadFile(r.cfg)
		if err != nil {
			t.Fatal(err)
		}
		include := fmt.Sprintf(`include: ["%s\\..*"]`, r.name)
		if !strings.Contains(string(b), include) {
			t.Fatalf("the config has no %s:\n%s", include, b)
		}
		vr := *r
		vr.cfg = filepath.Join(r.dir, "verify-tc.yaml")
		harness.WriteFile(t, vr.cfg, strings.Replace(string(b), include, fmt.Sprintf(`include: ["%s\\.(t|c)$"]`, r.name), 1))
		rep, code, out := kitVerify(t, &vr)
		if rep == nil {
			return
		}
		if code != 0 || !rep.OK() || len(rep.Tables) != 2 {
			t.Fatalf("verify of TiDB against the source: exit %d, want 0 and MATCH for 2 tables:\n%s", code, out)
		}
		for _, tr := range rep.Tables {
			if tr.Status != verify.StatusMatch {
				t.Errorf("verify %s: %s", tr.Table, tr.Status)
			}
		}
		if _, err := r.sink.target.Exec(fmt.Sprintf("UPDATE `%s`.c SET v = 'tampered' WHERE id = 4", r.name)); err != nil {
			t.Fatal(err)
		}
		if _, code, out = kitVerify(t, &vr); code == 0 || !strings.Contains(out, "id=4") {
			t.Fatalf("verify after changing a TiDB value: exit %d, want MISMATCH naming id=4:\n%s", code, out)
		}
	})
}

// kitJSONByValue waits until the JSON column j of table in the target
// holds, per key, the source's document by value (TiDB normalizes JSON
// text).
func kitJSONByValue(t *testing.T, r *kitRun, table string) {
	t.Helper()
	read := func(db *sql.DB) map[string]any {
		rows, err := db.Query(fmt.Sprintf("SELECT id, j FROM `%s`.`%s`", r.name, table))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]any{}
		for rows.Next() {
			var id string
			var j sql.NullString
			if err := rows.Scan(&id, &j); err != nil {
				t.Fatal(err)
			}
			var v any
			if j.Valid {
				if err := json.Unmarshal([]byte(j.String), &v); err != nil {
					t.Fatalf("%s key %s: %q: %v", table, id, j.String, err)
				}
			}
			out[id] = v
		}
		return out
	}
	want := read(r.db)
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := read(r.sink.target)
		if reflect.DeepEqual(got, want) {
			return
		}
		if r.exited() || time.Now().After(deadline) {
			t.Fatalf("target %s.%s: %v, want %v (by value)\n%s", r.name, table, got, want, r.logTail())
		}
		time.Sleep(300 * time.Millisecond)
	}
}
