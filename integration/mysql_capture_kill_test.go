package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/schema"
)

// helperConfig is what the parent hands to the helper process.
type helperConfig struct {
	Source mysql.Config
	DB     string
	State  string
	Out    string
}

type runFunc func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error

func (f runFunc) Run(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	return f(ctx, from, emit)
}

// TestMySQLCaptureHelperProcess is not a test: it is the odsync process
// the kill -9 tests start and kill. It wires the capture with the durable
// log as its state store, the pipeline and the local sink, like odsync run.
func TestMySQLCaptureHelperProcess(t *testing.T) {
	if os.Getenv("ODSYNC_CAPTURE_HELPER") != "1" {
		return
	}
	var hc helperConfig
	if err := json.Unmarshal([]byte(os.Getenv("ODSYNC_CAPTURE_CONFIG")), &hc); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		os.Exit(2)
	}
	lg := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	code := func() int {
		mapper, err := schema.New(schema.Config{Include: []string{hc.DB + `\..*`}})
		if err != nil {
			lg.Error("mapper", "err", err)
			return 1
		}
		log, err := offsets.Open(hc.State, offsets.Options{Logger: lg})
		if err != nil {
			lg.Error("log", "err", err)
			return 1
		}
		defer log.Close()
		src, err := mysql.New(hc.Source, mapper.Captures, lg.With("component", "capture"), mysql.Options{Store: log})
		if err != nil {
			lg.Error("source", "err", err)
			return 1
		}
		return runHelperPipeline(ctx, lg, log, runFunc(func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
			return src.Run(ctx, from, mysql.Emit(emit))
		}), mapper, hc.Out, 500)
	}()
	os.Exit(code)
}

func startHelper(t *testing.T, hc helperConfig, logPath string) *helperProc {
	t.Helper()
	return startHelperProcess(t, "TestMySQLCaptureHelperProcess", "ODSYNC_CAPTURE_HELPER", "ODSYNC_CAPTURE_CONFIG", hc, logPath)
}

// odsState replays the ODS change log (sorted by _seq) into the final
// table state, checking that _seq is unique and each row is read by the
// snapshot at most once. It returns the state and the change events (not
// snapshot reads) as ops.
func odsState(t *testing.T, rows []harness.Row) (map[int64]int64, []op) {
	t.Helper()
	state := map[int64]int64{}
	reads := map[int64]int{}
	seen := map[uint64]bool{}
	var changes []op
	for _, r := range rows {
		if seen[r.Seq()] {
			t.Fatalf("_seq %d twice", r.Seq())
		}
		seen[r.Seq()] = true
		id, _ := r.Data["id"].(json.Number).Int64()
		var n int64
		if r.Op() != "D" {
			n, _ = r.Data["n"].(json.Number).Int64()
		}
		switch r.Op() {
		case "R":
			reads[id]++
			if reads[id] > 1 {
				t.Errorf("row %d was delivered by the snapshot %d times", id, reads[id])
			}
			state[id] = n
		case "I", "U":
			state[id] = n
			changes = append(changes, op{r.Op(), id, n})
		case "D":
			delete(state, id)
			changes = append(changes, op{"D", id, 0})
		}
	}
	return state, changes
}

func tableState(t *testing.T, db *sql.DB, table string) map[int64]int64 {
	t.Helper()
	rows, err := db.Query("SELECT id, n FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		m[id] = n
	}
	return m
}

func compareState(t *testing.T, got, want map[int64]int64) {
	t.Helper()
	var bad []string
	for id, n := range want {
		if g, ok := got[id]; !ok || g != n {
			bad = append(bad, fmt.Sprintf("id %d: ODS %v (present %v), source %d", id, g, ok, n))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			bad = append(bad, fmt.Sprintf("id %d: in ODS, not in the source", id))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("%d rows differ, e.g.:\n%s", len(bad), strings.Join(bad[:min(len(bad), 20)], "\n"))
	}
}

// killLoop kills and restarts the helper at random moments while load runs.
func killLoop(t *testing.T, hc helperConfig, logPath string, kills int, seed uint64, minMS, maxMS int) *helperProc {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	p := startHelper(t, hc, logPath)
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(minMS+rng.IntN(maxMS-minMS)) * time.Millisecond)
		if p.exited() {
			t.Fatalf("helper exited by itself before kill %d:\n%s", i, readFile(t, logPath))
		}
		p.kill()
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		p = startHelper(t, hc, logPath)
	}
	return p
}

// TestMySQLCaptureKill9DuringSnapshot kills odsync again and again while it
// copies a table that is being written to: in the end the ODS change log
// replays to exactly the source table, no row is copied twice, and every
// change made after the start is delivered exactly once, in order.
func TestMySQLCaptureKill9DuringSnapshot(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS ck9s", "CREATE DATABASE ck9s",
		"CREATE TABLE ck9s.t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))",
		"CREATE TABLE ck9s.u (id VARCHAR(20) NOT NULL, k INT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (k, id))",
		"INSERT INTO ck9s.t SELECT seq, seq, REPEAT('x', 150) FROM ck9s.seq_1_to_200000",
		"INSERT INTO ck9s.u SELECT CONCAT('k', seq), seq % 7, seq FROM ck9s.seq_1_to_20000")
	dir := t.TempDir()
	cfg := testSourceConfig(srv)
	cfg.SnapshotChunkRows = 250
	cfg.SnapshotParallelism = 2
	cfg.HeartbeatPeriod = time.Second
	hc := helperConfig{Source: cfg, DB: "ck9s", State: filepath.Join(dir, "state"), Out: filepath.Join(dir, "ods")}
	logPath := filepath.Join(dir, "odsync.log")
	// Writes run all along: updates of copied and not yet copied rows,
	// inserts past the end (the last chunk grows), deletes.
	ctx, stopLoad := context.WithCancel(context.Background())
	var wmu sync.Mutex
	var werr error
	loadDone := make(chan struct{})
	startLoad := make(chan struct{})
	go func() {
		defer close(loadDone)
		<-startLoad
		rng := rand.New(rand.NewPCG(3, 4))
		next := int64(200001)
		for n := int64(1_000_000); ctx.Err() == nil; n++ {
			var q string
			switch r := rng.IntN(10); {
			case r < 4:
				q = fmt.Sprintf("INSERT INTO ck9s.t VALUES (%d, %d, 'new')", next, n)
				next++
			case r < 8:
				q = fmt.Sprintf("UPDATE ck9s.t SET n = %d WHERE id = %d", n, 1+rng.Int64N(next-1))
			default:
				q = fmt.Sprintf("DELETE FROM ck9s.t WHERE id = %d", 1+rng.Int64N(next-1))
			}
			if _, err := db.Exec(q); err != nil {
				wmu.Lock()
				werr = err
				wmu.Unlock()
				return
			}
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
	}()
	first := startHelper(t, hc, logPath)
	harness.Eventually(t, 30*time.Second, "the snapshot to start", func() (bool, string) {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "snapshot starts"), string(b)
	})
	close(startLoad)
	first.kill()
	p := killLoop(t, hc, logPath, 8, 21, 200, 700)
	harness.Eventually(t, 180*time.Second, "the snapshot to complete", func() (bool, string) {
		b, _ := os.ReadFile(logPath)
		if p.exited() {
			t.Fatalf("helper exited:\n%s", b)
		}
		return strings.Contains(string(b), "snapshot complete"), ""
	})
	stopLoad()
	<-loadDone
	if werr != nil {
		t.Fatalf("load: %v", werr)
	}
	resumed := strings.Count(readFile(t, logPath), "snapshot resumes")
	t.Logf("the snapshot was resumed %d times after kill -9", resumed)
	if resumed < 3 {
		var lines []string
		for _, l := range strings.Split(readFile(t, logPath), "\n") {
			if strings.Contains(l, "snapshot") || strings.Contains(l, "helper running") || strings.Contains(l, "ERROR") {
				lines = append(lines, l)
			}
		}
		t.Errorf("only %d kills hit the snapshot; the test is too weak:\n%s", resumed, strings.Join(lines, "\n"))
	}
	want := tableState(t, db, "ck9s.t")
	ods := filepath.Join(dir, "ods")
	harness.Eventually(t, 120*time.Second, "ODS to match the source", func() (bool, string) {
		st, _ := odsState(t, filter2(harness.ReadODS(t, ods), "ods_ck9s_t"))
		return len(st) == len(want), fmt.Sprintf("%d rows, want %d", len(st), len(want))
	})
	p.stop(t)
	got, _ := odsState(t, filter2(harness.ReadODS(t, ods), "ods_ck9s_t"))
	compareState(t, got, want)
	// The composite VARCHAR key table is complete and copied once.
	ugot := map[string]int{}
	for _, r := range filter2(harness.ReadODS(t, ods), "ods_ck9s_u") {
		if r.Op() != "R" {
			t.Errorf("unexpected %s on ck9s.u", r.Op())
		}
		ugot[r.Data["id"].(string)]++
	}
	if len(ugot) != 20000 {
		t.Errorf("ck9s.u: %d distinct rows copied, want 20000", len(ugot))
	}
	for k, n := range ugot {
		if n != 1 {
			t.Errorf("ck9s.u row %s copied %d times", k, n)
		}
	}
	if strings.Contains(readFile(t, logPath), "panic") {
		t.Fatalf("panic:\n%s", readFile(t, logPath))
	}
}

func filter2(rows []harness.Row, table string) []harness.Row {
	var out []harness.Row
	for _, r := range rows {
		if r.Table == table {
			out = append(out, r)
		}
	}
	return out
}

// TestMySQLCaptureKill9LargeTransactions kills odsync while it streams
// transactions far larger than it holds in memory (spilled in chunks):
// every change is delivered exactly once, in order.
func TestMySQLCaptureKill9LargeTransactions(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS ck9l", "CREATE DATABASE ck9l",
		"CREATE TABLE ck9l.t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))")
	dir := t.TempDir()
	cfg := testSourceConfig(srv)
	cfg.MaxTxnEvents = 300
	hc := helperConfig{Source: cfg, DB: "ck9l", State: filepath.Join(dir, "state"), Out: filepath.Join(dir, "ods")}
	logPath := filepath.Join(dir, "odsync.log")
	p := startHelper(t, hc, logPath)
	harness.Eventually(t, 30*time.Second, "the helper to run", func() (bool, string) {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "snapshot complete"), string(b)
	})
	p.kill()
	var want []op
	var wmu sync.Mutex
	ctx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan error, 1)
	go func() {
		var id int64
		for n := int64(1); ctx.Err() == nil; n++ {
			tx, err := db.Begin()
			if err != nil {
				loadDone <- err
				return
			}
			var batch []op
			size := 1 + rand.IntN(2500)
			for i := 0; i < size; i++ {
				id++
				if _, err := tx.Exec("INSERT INTO ck9l.t VALUES (?, ?, REPEAT('y', 100))", id, n); err != nil {
					tx.Rollback()
					loadDone <- err
					return
				}
				batch = append(batch, op{"I", id, n})
			}
			if _, err := tx.Exec("UPDATE ck9l.t SET n = n + 1 WHERE id > ?", id-int64(size)); err != nil {
				tx.Rollback()
				loadDone <- err
				return
			}
			for i := int64(1); i <= int64(size); i++ {
				batch = append(batch, op{"U", id - int64(size) + i, n + 1})
			}
			if err := tx.Commit(); err != nil {
				loadDone <- err
				return
			}
			wmu.Lock()
			want = append(want, batch...)
			wmu.Unlock()
		}
		loadDone <- nil
	}()
	p = killLoop(t, hc, logPath, 8, 5, 300, 1200)
	time.Sleep(time.Second)
	stopLoad()
	if err := <-loadDone; err != nil {
		t.Fatalf("load: %v", err)
	}
	ods := filepath.Join(dir, "ods")
	harness.Eventually(t, 120*time.Second, "all changes in ODS", func() (bool, string) {
		n := len(harness.ReadODS(t, ods))
		return n >= len(want), fmt.Sprintf("%d of %d", n, len(want))
	})
	p.stop(t)
	checkExactlyOnce(t, harness.ReadODS(t, ods), want)
}
