package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/integration/harness"
)

// runOdsync runs the binary to completion and returns its exit code and output.
func runOdsync(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), args...)
	cmd.Env = append(os.Environ(), "ODSYNC_TEST_SECRET=hunter2-secret")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run odsync %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	if strings.Contains(string(out), "panic:") || strings.Contains(string(out), "goroutine ") {
		t.Fatalf("odsync %v panicked:\n%s", args, out)
	}
	return code, string(out)
}

func startServer(t *testing.T, extra ...string) *mariadb.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := mariadb.Start(ctx, mariadb.Options{ExtraArgs: extra})
	if err != nil {
		harness.Unavailable(t, "mariadbd", err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

func TestConfigErrorsAreAllReported(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	harness.WriteFile(t, cfg, `state:
  dir: `+dir+`
  colour: blue
source:
  type: mysql
  mysql:
    addr: 127.0.0.1:1
    pasword: x
sinks:
  - name: files
    type: local
    local: {dir: `+dir+`/ods, format: xml}
`)
	code, out := runOdsync(t, "run", "-c", cfg)
	if code != 2 {
		t.Fatalf("exit code %d, want 2\n%s", code, out)
	}
	for _, want := range []string{"colour", "pasword"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not name the unknown key %q:\n%s", want, out)
		}
	}
	// Unknown keys stop decoding; a valid structure with bad values reports every value.
	harness.WriteFile(t, cfg, `state: {dir: `+dir+`}
source: {type: mysql, mysql: {addr: "nohostport", flavor: oracle}}
sinks:
  - {name: files, type: local, local: {dir: `+dir+`/ods, format: xml}, batch: {max_rows: -1}}
log: {level: loud}
`)
	code, out = runOdsync(t, "check", "-c", cfg)
	if code != 2 {
		t.Fatalf("exit code %d, want 2\n%s", code, out)
	}
	for _, want := range []string{"source.mysql.addr", "source.mysql.flavor", "sinks[0].local.format", "sinks[0].batch.max_rows", "log.level"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not report %s:\n%s", want, out)
		}
	}
	// A missing environment variable is named, a set one is never printed.
	harness.WriteFile(t, cfg, `state: {dir: `+dir+`}
source: {type: mysql, mysql: {addr: "127.0.0.1:1", password: "${ODSYNC_TEST_UNSET_VAR}", user: "${ODSYNC_TEST_SECRET}"}}
sinks: [{name: files, type: local, local: {dir: `+dir+`/ods}}]
`)
	code, out = runOdsync(t, "check", "-c", cfg)
	if code != 2 || !strings.Contains(out, "ODSYNC_TEST_UNSET_VAR") {
		t.Fatalf("exit code %d, want 2 naming the variable:\n%s", code, out)
	}
}

func TestSourceProblemsAreExplained(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
		want  string
	}{
		{"binlog off", []string{"--skip-log-bin"}, "--log-bin"},
		{"statement format", []string{"--binlog-format=STATEMENT"}, "binlog_format"},
		{"minimal row image", []string{"--binlog-row-image=MINIMAL"}, "binlog_row_image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.extra...)
			dir := t.TempDir()
			cfg := localConfig(t, dir, srv.Addr(), "x", "")
			code, out := runOdsync(t, "check", "-c", cfg)
			if code != 3 || !strings.Contains(out, tc.want) || !strings.Contains(out, "fix:") {
				t.Fatalf("check: exit %d, want 3 naming %q with a fix:\n%s", code, tc.want, out)
			}
			code, out = runOdsync(t, "run", "-c", cfg)
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("run: exit %d, want 1 naming %q:\n%s", code, tc.want, out)
			}
		})
	}
}

func TestMissingPrivilegesAndUnreachableServer(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP USER IF EXISTS 'weak'@'%'", "CREATE USER 'weak'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT ON *.* TO 'weak'@'%'")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "x", "")
	body := readFile(t, cfg)
	harness.WriteFile(t, cfg, strings.Replace(strings.Replace(body, "user: root", "user: weak", 1), "${ODSYNC_TEST_PASSWORD:-}", "pw", 1))
	code, out := runOdsync(t, "check", "-c", cfg)
	if code != 3 || !strings.Contains(out, "REPLICATION SLAVE") {
		t.Fatalf("check as a user without replication privileges: exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "pw\n") {
		t.Fatalf("the password appears in the output:\n%s", out)
	}
	cfg2 := localConfig(t, t.TempDir(), "127.0.0.1:1", "x", "")
	code, out = runOdsync(t, "run", "-c", cfg2)
	if code != 1 || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("run against an unreachable server: exit %d:\n%s", code, out)
	}
}

func TestCorruptStateDirectory(t *testing.T) {
	srv := harness.MariaDB(t)
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "x", "")
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	harness.WriteFile(t, filepath.Join(state, "CURRENT"), "MANIFEST-000099\n")
	harness.WriteFile(t, filepath.Join(state, "MANIFEST-000099"), "this is not a manifest")
	code, out := runOdsync(t, "run", "-c", cfg)
	if code != 1 || !strings.Contains(out, state) {
		t.Fatalf("run on a corrupt state dir: exit %d, want 1 naming %s:\n%s", code, state, out)
	}
	code, out = runOdsync(t, "offsets", "show", "-c", cfg)
	if code != 1 || !strings.Contains(out, state) {
		t.Fatalf("offsets show on a corrupt state dir: exit %d:\n%s", code, out)
	}
}

func TestOffsetsShowAndReplay(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS rp", "CREATE DATABASE rp", "CREATE TABLE rp.t (id INT PRIMARY KEY, v INT)")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "rp", "max_age: 100ms")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	waitRunning(t, p)
	mustExec(t, db, "INSERT INTO rp.t VALUES (1, 1), (2, 2)", "INSERT INTO rp.t VALUES (3, 3)")
	ods := filepath.Join(dir, "ods")
	harness.Eventually(t, 30*time.Second, "3 rows", func() (bool, string) {
		n := len(harness.ReadODS(t, ods))
		return n == 3, ""
	})
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: %d %v", code, err)
	}
	code, out := runOdsync(t, "offsets", "show", "-c", cfg)
	if code != 0 || !strings.Contains(out, "head 3") || !strings.Contains(out, "cursor 3 (0 behind)") || !strings.Contains(out, "gtid=") {
		t.Fatalf("offsets show: exit %d:\n%s", code, out)
	}
	code, out = runOdsync(t, "replay", "-c", cfg, "--sink", "files", "--from", "3")
	if code != 0 {
		t.Fatalf("replay: exit %d:\n%s", code, out)
	}
	if err := os.RemoveAll(ods); err != nil {
		t.Fatal(err)
	}
	p = harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	harness.Eventually(t, 30*time.Second, "the replayed row", func() (bool, string) {
		rows := harness.ReadODS(t, ods)
		return len(rows) == 1 && rows[0].Seq() == 3, ""
	})
	p.Stop(30 * time.Second)
	code, out = runOdsync(t, "replay", "-c", cfg, "--sink", "nosuch", "--from", "1")
	if code != 2 || !strings.Contains(out, "nosuch") {
		t.Fatalf("replay of an unknown sink: exit %d:\n%s", code, out)
	}
}

// TestCheckFindsServerIDInUse: a second replica with odsync's server_id
// makes the two disconnect each other; check names it.
func TestCheckFindsServerIDInUse(t *testing.T) {
	srv := harness.MariaDB(t)
	host, portText, _ := strings.Cut(srv.Addr(), ":")
	port, _ := strconv.Atoi(portText)
	const id = 4242
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: id, Flavor: "mariadb", Host: host,
		Port: uint16(port), User: "root", Logger: slog.New(slog.DiscardHandler)})
	defer syncer.Close()
	if _, err := syncer.StartSync(gomysql.Position{Name: "", Pos: 4}); err != nil {
		t.Fatal(err)
	}
	cfg := mysql.Config{Addr: srv.Addr(), User: "root", ServerID: id}
	harness.Eventually(t, 10*time.Second, "check names the server_id in use", func() (bool, string) {
		ps, err := mysql.Check(context.Background(), cfg)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if p.Check == "server_id" && strings.Contains(p.Cause, "4242") && p.Fix != "" {
				return true, ""
			}
		}
		return false, fmt.Sprint(ps)
	})
	cfg.ServerID = 0 // the default: derived, unique
	ps, err := mysql.Check(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Check == "server_id" {
			t.Fatalf("default server_id reported in use: %+v", p)
		}
	}
}

// TestSnapshotCommandChecksTables: odsync snapshot --table queues a request
// for a captured table and refuses one that does not exist or is not
// captured, instead of accepting a request that would do nothing.
func TestSnapshotCommandChecksTables(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS snapreq", "CREATE DATABASE snapreq",
		"CREATE TABLE snapreq.orders (id INT PRIMARY KEY)",
		"DROP DATABASE IF EXISTS snapother", "CREATE DATABASE snapother", "CREATE TABLE snapother.t (id INT PRIMARY KEY)")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "snapreq", "")
	code, out := runOdsync(t, "snapshot", "-c", cfg, "--table", "snapreq.orders")
	if code != 0 || !strings.Contains(out, "snapreq.orders") {
		t.Fatalf("captured table: exit %d\n%s", code, out)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "state", "mysql-snapshot-requests"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("requests: %v %v", ents, err)
	}
	for _, tc := range []struct{ table, want string }{
		{"snapreq.nosuch", "no such table"},
		{"snapother.t", "not captured"},
	} {
		code, out := runOdsync(t, "snapshot", "-c", cfg, "--table", tc.table)
		if code != 2 || !strings.Contains(out, tc.table) || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want 2 naming %q\n%s", tc.table, code, tc.want, out)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "state", "mysql-snapshot-requests")); len(ents) != 1 {
		t.Errorf("a refused request was queued: %d requests", len(ents))
	}
}

// TestStateInUse: while odsync runs, offsets show answers from its admin
// server, and replay or a second run refuse with a message that says what
// to do instead of "resource temporarily unavailable".
func TestStateInUse(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS inuse", "CREATE DATABASE inuse", "CREATE TABLE inuse.t (id INT PRIMARY KEY)")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "inuse", "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	text := strings.Replace(readFile(t, cfg), "addr: 127.0.0.1:0", "addr: "+addr, 1)
	harness.WriteFile(t, cfg, text)
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	defer p.Stop(30 * time.Second)
	waitRunning(t, p)
	mustExec(t, db, "INSERT INTO inuse.t VALUES (1)")
	harness.Eventually(t, 30*time.Second, "offsets show while running", func() (bool, string) {
		code, out := runOdsync(t, "offsets", "show", "-c", cfg)
		return code == 0 && strings.Contains(out, "in use: live view") && strings.Contains(out, "sink files"), out
	})
	code, out := runOdsync(t, "replay", "-c", cfg, "--sink", "files", "--from", "0")
	if code == 0 || !strings.Contains(out, "in use by a running odsync") || !strings.Contains(out, "SIGTERM") {
		t.Errorf("replay while running: exit %d\n%s", code, out)
	}
	code, out = runOdsync(t, "run", "-c", cfg)
	if code == 0 || !strings.Contains(out, "in use by a running odsync") {
		t.Errorf("second run: exit %d\n%s", code, out)
	}
}

// TestMissingBinlogMonitorIsNamed: a user that may read the binlog but not
// its position (MariaDB's BINLOG MONITOR) is told so, not shown MySQL 8.4's
// syntax error.
func TestMissingBinlogMonitorIsNamed(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP USER IF EXISTS 'nomon'@'%'", "CREATE USER 'nomon'@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT, REPLICATION SLAVE ON *.* TO 'nomon'@'%'")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "x", "")
	body := readFile(t, cfg)
	harness.WriteFile(t, cfg, strings.Replace(strings.Replace(body, "user: root", "user: nomon", 1), "${ODSYNC_TEST_PASSWORD:-}", "pw", 1))
	code, out := runOdsync(t, "run", "-c", cfg)
	if code == 0 || !strings.Contains(out, "BINLOG MONITOR") || strings.Contains(out, "syntax") {
		t.Fatalf("run without BINLOG MONITOR: exit %d, want the privilege named and no syntax error:\n%s", code, out)
	}
}
