package integration

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
)

// latestODS folds the local sink's ODS table into the current rows: per
// key (column id) the row with the highest _seq, keys whose last row is a
// delete dropped. Values are "id=n" texts.
func latestODS(rows []harness.Row, table string) map[string]string {
	type last struct {
		seq uint64
		op  string
		n   string
	}
	m := map[string]last{}
	for _, r := range rows {
		if r.Table != table {
			continue
		}
		id := fmt.Sprint(r.Data["id"])
		if l, ok := m[id]; ok && l.seq > r.Seq() {
			continue
		}
		m[id] = last{seq: r.Seq(), op: r.Op(), n: fmt.Sprint(r.Data["n"])}
	}
	out := map[string]string{}
	for id, l := range m {
		if l.op != "D" {
			out[id] = l.n
		}
	}
	return out
}

// sourceState reads id and n of a source table.
func sourceState(t *testing.T, db *sql.DB, table string) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT id, n FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, n sql.NullString
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		v := "<nil>"
		if n.Valid {
			v = n.String
		}
		out[id.String] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffState describes how two states differ ("" when equal).
func diffState(ods, src map[string]string) string {
	var d []string
	for k, v := range src {
		if w, ok := ods[k]; !ok {
			d = append(d, "missing "+k)
		} else if w != v {
			d = append(d, fmt.Sprintf("%s: ODS %s, source %s", k, w, v))
		}
	}
	for k := range ods {
		if _, ok := src[k]; !ok {
			d = append(d, "ghost "+k)
		}
	}
	sort.Strings(d)
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("... %d differences", len(d)))
	}
	return strings.Join(d, "; ")
}

// waitODSEqual waits until each ODS table equals its source table.
func waitODSEqual(t *testing.T, db *sql.DB, ods string, tables map[string]string) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, "the ODS to equal the source", func() (bool, string) {
		rows := harness.ReadODS(t, ods)
		var bad []string
		for odsTable, src := range tables {
			if d := diffState(latestODS(rows, odsTable), sourceState(t, db, src)); d != "" {
				bad = append(bad, odsTable+": "+d)
			}
		}
		sort.Strings(bad)
		return len(bad) == 0, strings.Join(bad, "\n")
	})
}

// TestMySQLCaptureRenameIntoCaptured: a table that becomes captured by a
// rename (across schemas, by ALTER TABLE ... RENAME, by a gh-ost style
// swap, and within the captured schema) has all its rows in its ODS.
func TestMySQLCaptureRenameIntoCaptured(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS crn", "DROP DATABASE IF EXISTS crn_other", "CREATE DATABASE crn", "CREATE DATABASE crn_other",
		"CREATE TABLE crn.a (id INT PRIMARY KEY, n INT)", "INSERT INTO crn.a SELECT seq, seq FROM crn.seq_1_to_30",
		"CREATE TABLE crn_other.t (id INT PRIMARY KEY, n INT)", "INSERT INTO crn_other.t SELECT seq, seq * 10 FROM crn.seq_1_to_50",
		"CREATE TABLE crn_other.u (id INT PRIMARY KEY, n INT)", "INSERT INTO crn_other.u SELECT seq, seq * 100 FROM crn.seq_1_to_20",
		// the new version of a: the same keys and more, other values
		"CREATE TABLE crn_other.a_new (id INT PRIMARY KEY, n INT)", "INSERT INTO crn_other.a_new SELECT seq, seq + 1000 FROM crn.seq_1_to_40")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "crn", "")
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)
	ods := filepath.Join(dir, "ods")
	waitODSEqual(t, db, ods, map[string]string{"ods_crn_a": "crn.a"})

	mustExec(t, db,
		"RENAME TABLE crn_other.t TO crn.t2",
		"INSERT INTO crn.t2 VALUES (51, 510)",
		"ALTER TABLE crn_other.u RENAME TO crn.u2",
		"UPDATE crn.u2 SET n = -1 WHERE id = 1",
		// gh-ost style cut-over: the captured name gets another table's rows
		"RENAME TABLE crn.a TO crn_other.a_old, crn_other.a_new TO crn.a",
		"DELETE FROM crn.a WHERE id = 40")
	waitODSEqual(t, db, ods, map[string]string{"ods_crn_a": "crn.a", "ods_crn_t2": "crn.t2", "ods_crn_u2": "crn.u2"})

	// Renamed within the captured schema: t3 gets t2's rows.
	mustExec(t, db, "RENAME TABLE crn.t2 TO crn.t3", "DELETE FROM crn.t3 WHERE id = 2")
	waitODSEqual(t, db, ods, map[string]string{"ods_crn_a": "crn.a", "ods_crn_t3": "crn.t3", "ods_crn_u2": "crn.u2"})

	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, b)
	}
	if strings.Contains(readFile(t, logPath), "panic") {
		t.Fatalf("odsync panicked:\n%s", readFile(t, logPath))
	}
}

// TestMySQLCaptureResnapshotDeletesGhosts: with snapshot: when_needed, a
// re-snapshot after the checkpoint's binlog was purged leaves the ODS equal
// to the source: rows deleted in the purged binlog are deleted in the ODS.
func TestMySQLCaptureResnapshotDeletesGhosts(t *testing.T) {
	srv := privateMariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "CREATE DATABASE crs",
		"CREATE TABLE crs.t (id INT PRIMARY KEY, n INT)", "INSERT INTO crs.t SELECT seq, seq FROM crs.seq_1_to_300",
		"CREATE TABLE crs.s (id VARCHAR(20) PRIMARY KEY, n INT)", "INSERT INTO crs.s SELECT CONCAT('k', seq), seq FROM crs.seq_1_to_50")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "crs", "")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	harness.WriteFile(t, cfg, strings.Replace(string(b), "    server_id:", "    snapshot: when_needed\n    snapshot_chunk_rows: 64\n    server_id:", 1))
	logPath := filepath.Join(dir, "odsync.log")
	ods := filepath.Join(dir, "ods")
	tables := map[string]string{"ods_crs_t": "crs.t", "ods_crs_s": "crs.s"}

	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)
	waitODSEqual(t, db, ods, tables)
	// Changes while running: the ODS learns keys from the binlog too.
	mustExec(t, db, "INSERT INTO crs.t SELECT seq, seq FROM crs.seq_301_to_320", "DELETE FROM crs.t WHERE id <= 5",
		"UPDATE crs.s SET n = -n WHERE id = 'k1'", "DELETE FROM crs.s WHERE id = 'k2'")
	waitODSEqual(t, db, ods, tables)
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, b)
	}

	// While odsync is down: deletes (of copied and of streamed rows),
	// inserts, updates, a delete and re-insert; then the binlog is purged.
	var stopped string
	var x1, x2, x3 any
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&stopped, &x1, &x2, &x3); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db,
		"DELETE FROM crs.t WHERE id BETWEEN 100 AND 150", "DELETE FROM crs.t WHERE id IN (310, 311)",
		"INSERT INTO crs.t SELECT seq, seq * 2 FROM crs.seq_1000_to_1010", "UPDATE crs.t SET n = 0 WHERE id = 200",
		"DELETE FROM crs.t WHERE id = 250", "INSERT INTO crs.t VALUES (250, 12345)",
		"DELETE FROM crs.s WHERE id IN ('k3', 'k40')", "INSERT INTO crs.s VALUES ('new', 1)", "FLUSH BINARY LOGS")
	harness.Eventually(t, 30*time.Second, "the binlog odsync stopped in to be purged", func() (bool, string) {
		var cur string
		if err := db.QueryRow("SHOW MASTER STATUS").Scan(&cur, &x1, &x2, &x3); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "FLUSH LOGS", "PURGE BINARY LOGS TO '"+cur+"'")
		first, err := queryFirstBinlog(db)
		return err == nil && first > stopped, first
	})

	p = harness.Start(t, logPath, "run", "-c", cfg)
	harness.Eventually(t, 30*time.Second, "the re-snapshot to start", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("odsync exited:\n%s", readFile(t, logPath))
		}
		return strings.Contains(readFile(t, logPath), "snapshot: when_needed takes a new snapshot"), ""
	})
	waitODSEqual(t, db, ods, tables)
	// And it keeps streaming.
	mustExec(t, db, "DELETE FROM crs.t WHERE id = 1000", "INSERT INTO crs.s VALUES ('after', 2)")
	waitODSEqual(t, db, ods, tables)
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}
	if !strings.Contains(readFile(t, logPath), "snapshot deletes rows the ODS has but the source no longer has") {
		t.Errorf("no ghost deletes logged:\n%s", readFile(t, logPath))
	}
	// The deletes carry the key; the row's other columns are NULL.
	var ghost bool
	for _, r := range harness.ReadODS(t, ods) {
		if r.Table == "ods_crs_t" && r.Op() == "D" && fmt.Sprint(r.Data["id"]) == "120" {
			ghost = r.Data["n"] == nil
		}
	}
	if !ghost {
		t.Error("no delete row with key 120 and NULL n")
	}
}
