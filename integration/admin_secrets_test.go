package integration

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
)

// knownPassword is the password of the capture user in this test; it must
// never appear in odsync's logs, metrics, status or command output.
const knownPassword = "Kn0wn-S3cret_pw!odsync"

// TestNoSecretInLogsMetricsOrStatus runs odsync (debug, JSON logs) as a user
// with a known password given in the environment, provokes reconnects and
// errors, and checks that the password appears nowhere it can be read.
func TestNoSecretInLogsMetricsOrStatus(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS sec", "CREATE DATABASE sec",
		"CREATE TABLE sec.t (id INT PRIMARY KEY, v VARCHAR(40))",
		"DROP USER IF EXISTS 'odsync_sec'@'%'",
		"CREATE USER 'odsync_sec'@'%' IDENTIFIED BY '"+knownPassword+"'",
		"GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'odsync_sec'@'%'")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "odsync.yaml")
	harness.WriteFile(t, cfg, fmt.Sprintf(`state:
  dir: %s
source:
  type: mysql
  mysql:
    addr: %s
    user: odsync_sec
    password: ${ODSYNC_SECRET_PW}
    server_id: 4242
mapping:
  include: ["sec\\..*"]
sinks:
  - name: files
    type: local
    local:
      dir: %s
    batch:
      max_age: 100ms
log:
  level: debug
  format: json
`, filepath.Join(dir, "state"), srv.Addr(), filepath.Join(dir, "ods")))
	withAdmin(t, cfg, "")
	t.Setenv("ODSYNC_SECRET_PW", knownPassword)

	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	base := waitAdmin(t, p)
	waitRunning(t, p)
	for i := range 20 {
		mustExec(t, db, fmt.Sprintf("INSERT INTO sec.t VALUES (%d, 'v')", i))
	}
	// Break the replication connection: the capture logs the failure and reconnects.
	killBinlogDump(t, db)
	mustExec(t, db, "INSERT INTO sec.t VALUES (100, 'after the reconnect')")
	harness.Eventually(t, 60*time.Second, "all rows written", func() (bool, string) {
		rows := harness.ReadODS(t, filepath.Join(dir, "ods"))
		return len(rows) == 21, fmt.Sprintf("%d rows", len(rows))
	})

	var seen []string
	for _, path := range []string{"/metrics", "/status", "/", "/readyz", "/healthz"} {
		code, body := adminGet(t, base+path)
		if code != 200 {
			t.Errorf("%s = %d", path, code)
		}
		seen = append(seen, path+":\n"+body)
	}
	_, out := adminCmd(t, nil, "status", "--addr", strings.TrimPrefix(base, "http://"))
	seen = append(seen, "odsync status:\n"+out)
	_, out = adminCmd(t, nil, "check", "-c", cfg)
	seen = append(seen, "odsync check:\n"+out)
	// A wrong password (also a secret) in a failing run.
	code, out := adminCmd(t, []string{"ODSYNC_SECRET_PW=wrong-" + knownPassword}, "check", "-c", cfg)
	if code == 0 {
		t.Errorf("odsync check with a wrong password passed:\n%s", out)
	}
	seen = append(seen, "odsync check (wrong password):\n"+out)
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v", code, err)
	}
	logText, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, "log:\n"+string(logText))
	if !strings.Contains(string(logText), "reconnecting") {
		t.Errorf("the log shows no reconnect (the test did not provoke the error path):\n%s", logText)
	}
	for _, s := range seen {
		if strings.Contains(s, knownPassword) {
			t.Errorf("the password appears in %s", s)
		}
	}
}

// killBinlogDump kills the server threads streaming the binlog to odsync_sec.
func killBinlogDump(t *testing.T, db *sql.DB) {
	t.Helper()
	var ids []int64
	harness.Eventually(t, 30*time.Second, "odsync's binlog dump thread", func() (bool, string) {
		rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'odsync_sec' AND COMMAND LIKE 'Binlog Dump%'")
		if err != nil {
			return false, err.Error()
		}
		defer rows.Close()
		ids = ids[:0]
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return false, err.Error()
			}
			ids = append(ids, id)
		}
		return len(ids) > 0, "none"
	})
	for _, id := range ids {
		if _, err := db.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
			t.Logf("KILL %d: %v", id, err)
		}
	}
}
