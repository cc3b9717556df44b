package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
)

// localConfig writes an odsync config for the shared MariaDB capturing db
// into a local sink under dir and returns its path.
func localConfig(t *testing.T, dir, addr, db, batch string) string {
	t.Helper()
	if batch == "" {
		batch = "max_age: 200ms"
	}
	path := filepath.Join(dir, "odsync.yaml")
	harness.WriteFile(t, path, fmt.Sprintf(`state:
  dir: %s
admin:
  addr: 127.0.0.1:0
source:
  type: mysql
  mysql:
    addr: %s
    user: root
    password: ${ODSYNC_TEST_PASSWORD:-}
    server_id: %d
mapping:
  include: ["%s\\..*"]
sinks:
  - name: files
    type: local
    local:
      dir: %s
    batch:
      %s
`, filepath.Join(dir, "state"), addr, 1000+rand.IntN(1000), db, filepath.Join(dir, "ods"), batch))
	return path
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// waitRunning waits until odsync has connected (it logs "starting at" or "resuming").
func waitRunning(t *testing.T, p *harness.Process) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, "odsync to connect", func() (bool, string) {
		if p.Exited() {
			b, _ := os.ReadFile(p.Log)
			t.Fatalf("odsync exited early:\n%s", b)
		}
		b, _ := os.ReadFile(p.Log)
		return strings.Contains(string(b), "starting at the current position") || strings.Contains(string(b), "resuming from checkpoint"), string(b)
	})
}

func TestLocalSinkValuesAndOrder(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS e2e", "CREATE DATABASE e2e",
		`CREATE TABLE e2e.t (
			id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
			i8 TINYINT, u8 TINYINT UNSIGNED, i32 INT, u64 BIGINT UNSIGNED,
			d DECIMAL(65,30), f FLOAT, dbl DOUBLE, b BIT(10),
			s VARCHAR(32) CHARACTER SET utf8mb4, txt TEXT, bin VARBINARY(16), blb BLOB,
			e ENUM('red','green'), st SET('a','b','c'),
			dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), y YEAR, j JSON)`)
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "e2e", "")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	waitRunning(t, p)
	mustExec(t, db,
		`INSERT INTO e2e.t VALUES (18446744073709551615, -128, 255, -2147483648, 18446744073709551615,
			'-12345678901234567890123456789012345.123456789012345678901234567890', 1.5, -2.25e300, b'1010101010',
			'héllo 😀', 'line1\nline2 "quoted"', X'00FF10', X'DEADBEEF', 'green', 'a,c',
			'2024-02-29', '2024-02-29 23:59:59.123456', '2024-03-01 12:00:00.500', '-838:59:59.00', 2155, '{"k": [1, 2.5, "x"]}')`,
		`INSERT INTO e2e.t (id) VALUES (1)`,
		`UPDATE e2e.t SET s = 'updated', i32 = 42 WHERE id = 1`,
		`DELETE FROM e2e.t WHERE id = 1`,
		`BEGIN`, `INSERT INTO e2e.t (id, s) VALUES (2, 'two')`, `INSERT INTO e2e.t (id, s) VALUES (3, 'three')`, `COMMIT`,
		// A key change lands as a delete of the old key and an insert of the new.
		`UPDATE e2e.t SET id = 30 WHERE id = 3`,
	)
	ods := filepath.Join(dir, "ods")
	var rows []harness.Row
	harness.Eventually(t, 30*time.Second, "8 changes in the local sink", func() (bool, string) {
		rows = harness.ReadODS(t, ods)
		return len(rows) == 8, fmt.Sprintf("%d rows", len(rows))
	})
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v", code, err)
	}
	ops := ""
	for i, r := range rows {
		ops += r.Op()
		if r.Table != "ods_e2e_t" {
			t.Errorf("row %d landed in %s, want ods_e2e_t", i, r.Table)
		}
		if i > 0 && r.Seq() <= rows[i-1].Seq() {
			t.Errorf("_seq not increasing: %d after %d", r.Seq(), rows[i-1].Seq())
		}
		if _, ok := r.Data["_commit_ts"].(string); !ok {
			t.Errorf("row %d has no _commit_ts", i)
		}
	}
	if ops != "IIUDIIDI" {
		t.Errorf("ops = %s, want IIUDIIDI", ops)
	}
	if id := rows[6].Data["id"].(json.Number).String(); id != "3" || rows[6].Data["s"] != "three" {
		t.Errorf("key change: delete row = %v, want the old key 3", rows[6].Data)
	}
	if id := rows[7].Data["id"].(json.Number).String(); id != "30" || rows[7].Data["s"] != "three" {
		t.Errorf("key change: insert row = %v, want the new key 30", rows[7].Data)
	}
	if rows[6].Data["_pos"] != rows[7].Data["_pos"] {
		t.Errorf("key change: delete at %v and insert at %v, want one position", rows[6].Data["_pos"], rows[7].Data["_pos"])
	}
	want := map[string]string{
		"id": "18446744073709551615", "i8": "-128", "u8": "255", "i32": "-2147483648", "u64": "18446744073709551615",
		"d": `"-12345678901234567890123456789012345.123456789012345678901234567890"`, // > 38 digits: STRING
		"f": "1.5", "dbl": "-2.25e+300", "b": "682",
		"s": `"héllo 😀"`, "txt": `"line1\nline2 \"quoted\""`, "bin": `"AP8Q"`, "blb": `"3q2+7w=="`,
		"e": `"green"`, "st": `"a,c"`, "dt": `"2024-02-29"`, "dtm": `"2024-02-29 23:59:59.123456"`,
		"ts": `"2024-03-01T12:00:00.500000Z"`, "tm": `"-838:59:59"`, "y": "2155",
	}
	got := rows[0].Data
	for col, w := range want {
		b, _ := json.Marshal(got[col])
		if v, ok := got[col].(json.Number); ok {
			b = []byte(v.String())
		}
		if string(b) != w {
			t.Errorf("column %s = %s, want %s", col, b, w)
		}
	}
	if j, _ := got["j"].(string); !strings.Contains(j, `"k"`) {
		t.Errorf("json column = %v", got["j"])
	}
	if rows[2].Data["s"] != "updated" || rows[2].Data["i32"].(json.Number).String() != "42" {
		t.Errorf("update row = %v", rows[2].Data)
	}
	if rows[3].Data["id"].(json.Number).String() != "1" {
		t.Errorf("delete row = %v", rows[3].Data)
	}
}

// op is one expected row change.
type op struct {
	code string
	id   int64
	n    int64
}

// writer runs a steady single-connection write load and records every
// committed row change in commit order.
type writer struct {
	mu   sync.Mutex
	ops  []op
	errs []error
}

func (w *writer) run(ctx context.Context, db *sql.DB, table string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	conn, err := db.Conn(ctx)
	if err != nil {
		w.errs = append(w.errs, err)
		return
	}
	defer conn.Close()
	var live []int64
	var nextID int64 = 1
	var n int64 // every statement writes a new n, so no UPDATE is a no-op (those are not logged)
	for ctx.Err() == nil {
		tx, err := conn.BeginTx(context.Background(), nil)
		if err != nil {
			w.errs = append(w.errs, err)
			return
		}
		var batch []op
		stmts := 1 + rng.IntN(8)
		for i := 0; i < stmts; i++ {
			n++
			switch r := rng.IntN(10); {
			case r < 6 || len(live) == 0:
				id := nextID
				nextID++
				_, err = tx.Exec("INSERT INTO "+table+" (id, n, pad) VALUES (?, ?, REPEAT('x', 100))", id, n)
				batch = append(batch, op{"I", id, n})
				live = append(live, id)
			case r < 9:
				id := live[rng.IntN(len(live))]
				_, err = tx.Exec("UPDATE "+table+" SET n = ? WHERE id = ?", n, id)
				batch = append(batch, op{"U", id, n})
			default:
				k := rng.IntN(len(live))
				id := live[k]
				live = append(live[:k], live[k+1:]...)
				_, err = tx.Exec("DELETE FROM "+table+" WHERE id = ?", id)
				batch = append(batch, op{"D", id, 0})
			}
			if err != nil {
				tx.Rollback()
				w.errs = append(w.errs, err)
				return
			}
		}
		if err := tx.Commit(); err != nil {
			w.errs = append(w.errs, err)
			return
		}
		w.mu.Lock()
		w.ops = append(w.ops, batch...)
		w.mu.Unlock()
		time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
	}
}

// checkExactlyOnce compares the ODS change log with the expected changes:
// same changes, same order, each exactly once.
func checkExactlyOnce(t *testing.T, rows []harness.Row, want []op) {
	t.Helper()
	seen := map[uint64]string{}
	for _, r := range rows {
		if f, dup := seen[r.Seq()]; dup {
			t.Fatalf("_seq %d appears twice (files %s and %s)", r.Seq(), f, r.File)
		}
		seen[r.Seq()] = r.File
	}
	for i, r := range rows {
		if i >= len(want) {
			t.Fatalf("ODS has %d changes, the source made only %d", len(rows), len(want))
		}
		id, _ := r.Data["id"].(json.Number).Int64()
		var n int64
		if r.Op() != "D" {
			n, _ = r.Data["n"].(json.Number).Int64()
		}
		got := op{r.Op(), id, n}
		if got != want[i] {
			t.Fatalf("change %d (_seq %d, %s at %v): got %+v, want %+v", i, r.Seq(), r.File, r.Data["_pos"], got, want[i])
		}
	}
	if len(rows) != len(want) {
		t.Fatalf("ODS has %d changes, the source made %d; first missing: %+v", len(rows), len(want), want[len(rows)])
	}
}

func TestKill9DuringLoadLosesNothing(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS k9", "CREATE DATABASE k9",
		"CREATE TABLE k9.t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "k9", "max_rows: 200\n      max_age: 50ms")
	logPath := filepath.Join(dir, "odsync.log")

	// Start once so the checkpoint is taken before the load begins.
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)

	ctx, stopLoad := context.WithCancel(context.Background())
	w := &writer{}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); w.run(ctx, db, "k9.t", 7) }()

	rng := rand.New(rand.NewPCG(11, 12))
	const kills = 12
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(150+rng.IntN(900)) * time.Millisecond)
		if p.Exited() {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("odsync exited by itself before kill %d:\n%s", i, b)
		}
		p.Kill()
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		p = harness.Start(t, logPath, "run", "-c", cfg)
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	<-loadDone
	if len(w.errs) > 0 {
		t.Fatalf("write load failed: %v", w.errs)
	}
	want := w.ops
	t.Logf("%d kills, %d row changes", kills, len(want))
	ods := filepath.Join(dir, "ods")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && len(harness.ReadODS(t, ods)) < len(want) {
		time.Sleep(200 * time.Millisecond)
	}
	if false {
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, b)
	}
	checkExactlyOnce(t, harness.ReadODS(t, ods), want)
	if strings.Contains(readFile(t, logPath), "panic") {
		t.Fatalf("odsync panicked:\n%s", readFile(t, logPath))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
