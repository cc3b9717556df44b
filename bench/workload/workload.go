// Package workload provides what the benchmark programs under bench/ share:
// a private MariaDB loaded with the ~200-byte rows of the reference workload
// (docs/benchmarks.md),
// the binlog position and size, a raw go-mysql reader as the reference, an
// in-process capture → log → sink pipeline run until a condition holds, and
// the odsync binary started as a child process for end-to-end runs.
package workload

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/pipeline"
)

// DB is a private MariaDB and a connection pool to it.
type DB struct {
	Server *mariadb.Server
	SQL    *sql.DB
}

// Close closes the pool and stops the server.
func (d *DB) Close() {
	d.SQL.Close()
	d.Server.Stop()
}

// start starts a private MariaDB, opens it and runs stmts one by one.
func start(ctx context.Context, opts mariadb.Options, stmts ...string) (*DB, error) {
	srv, err := mariadb.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	db, err := srv.Open("")
	if err != nil {
		srv.Stop()
		return nil, err
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			db.Close()
			srv.Stop()
			return nil, err
		}
	}
	return &DB{Server: srv, SQL: db}, nil
}

// StartSpine starts a private MariaDB in dir (with extra server arguments)
// holding the empty table bench.t that Load fills.
func StartSpine(ctx context.Context, dir string, extraArgs ...string) (*DB, error) {
	return start(ctx, mariadb.Options{Dir: dir, ExtraArgs: extraArgs}, `CREATE DATABASE bench; CREATE TABLE bench.t (
		id BIGINT PRIMARY KEY, a INT NOT NULL, b BIGINT NOT NULL, c VARCHAR(64) NOT NULL,
		d DECIMAL(18,4) NOT NULL, e DATETIME(6) NOT NULL, f TEXT NOT NULL)`)
}

// StartMixed starts a quiet private MariaDB holding the empty table bench.t
// that Mixed fills.
func StartMixed(ctx context.Context) (*DB, error) {
	return start(ctx, mariadb.Options{Quiet: true}, "DROP DATABASE IF EXISTS bench", "CREATE DATABASE bench",
		`CREATE TABLE bench.t (id BIGINT PRIMARY KEY, a INT, b BIGINT, s VARCHAR(64), amount DECIMAL(18,4),
			ts DATETIME(6), txt TEXT)`)
}

// Position returns the server's current binlog position.
func Position(db *sql.DB) (mysql.Checkpoint, error) {
	var cp mysql.Checkpoint
	var file string
	var pos uint32
	var a, b, c sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		return cp, err
	}
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&c); err != nil {
		return cp, err
	}
	return mysql.Checkpoint{Flavor: "mariadb", File: file, Pos: pos, GTIDSet: c.String}, nil
}

// Load inserts rows of about 200 bytes (ids 0..rows-1) into the reference
// workload's bench.t, txn rows per transaction.
func Load(db *sql.DB, rows, txn int) error {
	pad := strings.Repeat("p", 80)
	var sb strings.Builder
	for id := 0; id < rows; {
		sb.Reset()
		sb.WriteString("INSERT INTO bench.t VALUES ")
		for i := 0; i < txn && id < rows; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,%d,%d,'name-%d-abcdefghijklmnopqrstuvwxyz',%d.%04d,'2026-11-21 12:34:56.%06d','%s')",
				id, id%100000, int64(id)*7919, id, id%1000000, id%10000, id%1000000, pad)
			id++
		}
		if _, err := db.Exec(sb.String()); err != nil {
			return err
		}
	}
	return nil
}

// Mixed runs the mixed workload on StartMixed's bench.t: n inserts (ids
// 1..n) in 1000-row transactions, then n/2 updates and n/10 deletes, 1000
// rows a statement. It makes n + n/2 + n/10 row changes.
func Mixed(db *sql.DB, n int) error {
	txt := strings.Repeat("lorem ipsum dolor sit amet ", 3)[:80]
	const chunk = 1000
	var sb strings.Builder
	for lo := 1; lo <= n; lo += chunk {
		sb.Reset()
		sb.WriteString("INSERT INTO bench.t VALUES ")
		for id := lo; id < lo+chunk && id <= n; id++ {
			if id > lo {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,%d,%d,'name-%d-%s',%d.%04d,'2024-05-01 10:%02d:%02d.%06d','%s')",
				id, id%100000, int64(id)*7919, id, strings.Repeat("x", 40), id%1000000, id%10000, id/60%60, id%60, id%1000000, txt)
		}
		if _, err := db.Exec(sb.String()); err != nil {
			return err
		}
	}
	for lo := 1; lo <= n/2; lo += chunk {
		if _, err := db.Exec("UPDATE bench.t SET a = a + 1, amount = amount + 1 WHERE id BETWEEN ? AND ?", lo, min(lo+chunk-1, n/2)); err != nil {
			return err
		}
	}
	for lo := n/2 + 1; lo <= n/2+n/10; lo += chunk {
		if _, err := db.Exec("DELETE FROM bench.t WHERE id BETWEEN ? AND ?", lo, min(lo+chunk-1, n/2+n/10)); err != nil {
			return err
		}
	}
	return nil
}

// BinlogBytes returns the total size of the server's binlog files (0 if
// they cannot be listed).
func BinlogBytes(db *sql.DB) int64 {
	rows, err := db.Query("SHOW BINARY LOGS")
	if err != nil {
		return 0
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var total int64
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if rows.Scan(ptrs...) == nil && len(vals) > 1 {
			v, _ := strconv.ParseInt(string(vals[1]), 10, 64)
			total += v
		}
	}
	return total
}

// Raw is what ReadRaw measured.
type Raw struct {
	Rows     int           // row changes decoded (an update's before/after pair counts once)
	Bytes    int64         // binlog event bytes read
	Duration time.Duration // from the start of the sync until Rows reached want
}

// ReadRaw decodes the binlog of srv from start with go-mysql's BinlogSyncer
// alone (ParseTime on) until want row changes: the reference reader.
func ReadRaw(ctx context.Context, srv *mariadb.Server, serverID uint32, start mysql.Checkpoint, want int) (Raw, error) {
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: serverID, Flavor: "mariadb", Host: "127.0.0.1", Port: uint16(srv.Port), User: "root",
		ParseTime: true, Logger: slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	t0 := time.Now()
	st, err := syncer.StartSync(gomysql.Position{Name: start.File, Pos: start.Pos})
	if err != nil {
		return Raw{}, err
	}
	var r Raw
	for r.Rows < want {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return r, err
		}
		r.Bytes += int64(ev.Header.EventSize)
		if re, ok := ev.Event.(*replication.RowsEvent); ok {
			if re.Type() == replication.EnumRowsEventTypeUpdate {
				r.Rows += len(re.Rows) / 2
			} else {
				r.Rows += len(re.Rows)
			}
		}
	}
	r.Duration = time.Since(t0)
	return r, nil
}

// SourceFunc is a pipeline.Source made of a function.
type SourceFunc func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error

// Run calls f.
func (f SourceFunc) Run(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	return f(ctx, from, emit)
}

// Capture is the pipeline source reading src.
func Capture(src *mysql.Source) SourceFunc {
	return func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
		return src.Run(ctx, from, mysql.Emit(emit))
	}
}

// Idle is a pipeline source that emits nothing until cancelled.
var Idle SourceFunc = func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	<-ctx.Done()
	return nil
}

// RunUntil runs p until done reports true (polled every poll), then stops
// it and returns the time from start until done held. It fails if p stops
// first.
func RunUntil(ctx context.Context, p *pipeline.Pipeline, poll time.Duration, done func() bool) (time.Duration, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(runCtx) }()
	for !done() {
		select {
		case err := <-errc:
			return 0, fmt.Errorf("pipeline stopped early: %v", err)
		case <-time.After(poll):
		}
	}
	d := time.Since(t0)
	cancel()
	<-errc
	return d, nil
}

// BuildOdsync builds cmd/odsync of this module into dir and returns the
// binary's path.
func BuildOdsync(dir string) (string, error) {
	bin := filepath.Join(dir, "odsync")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", bin, "./cmd/odsync")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// Process is an odsync child process.
type Process struct {
	Cmd    *exec.Cmd
	Exited chan struct{} // closed when the process has exited
}

// StartOdsync runs `bin run -c cfg`, appending its output to logPath. The
// child is killed if this process dies.
func StartOdsync(bin, cfg, logPath string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Process{Cmd: cmd, Exited: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.Exited) }()
	return p, nil
}

// Stop stops the process gracefully and waits until it has exited.
func (p *Process) Stop() {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	<-p.Exited
}

// Kill kills the process and waits until it has exited.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	<-p.Exited
}

// CPU returns the user+system CPU time of the exited process.
func (p *Process) CPU() time.Duration {
	return p.Cmd.ProcessState.UserTime() + p.Cmd.ProcessState.SystemTime()
}

// RSS returns the resident set size of the running process in bytes (0
// when it cannot be read).
func (p *Process) RSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// WaitLog waits until the log at path says what (or that odsync resumes
// from a checkpoint).
func WaitLog(path string, limit time.Duration, what string) error {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), what) || strings.Contains(string(b), "resuming from checkpoint") {
			return nil
		}
	}
	return fmt.Errorf("no %q in %s:\n%s", what, path, Tail(path))
}

// LastLocalSeq returns the highest last sequence number of the local
// sink's data files below dir (named first-last.format), 0 if none.
func LastLocalSeq(dir string) uint64 {
	var last uint64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".json") {
			base := filepath.Base(path)
			if i, j := strings.IndexByte(base, '-'), strings.IndexByte(base, '.'); i > 0 && j > i {
				if v, err := strconv.ParseUint(base[i+1:j], 10, 64); err == nil && v > last {
					last = v
				}
			}
		}
		return nil
	})
	return last
}

// Tail returns the last 30 lines of the file at path.
func Tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 30 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// RunMixed runs Mixed(db, n), prints a line with its size and time, and
// returns the number of row changes and the binlog bytes it wrote.
func RunMixed(db *sql.DB, n int) (changes int, binlog int64, err error) {
	before := BinlogBytes(db)
	t0 := time.Now()
	if err := Mixed(db, n); err != nil {
		return 0, 0, err
	}
	changes = n + n/2 + n/10
	binlog = BinlogBytes(db) - before
	fmt.Printf("workload: %d row changes, %.0f MB of binlog, generated in %s\n", changes, float64(binlog)/1e6, time.Since(t0).Round(time.Millisecond))
	return changes, binlog, nil
}
