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
