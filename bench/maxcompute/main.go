// Command maxcompute measures odsync end to end into the MaxCompute sink
// (odsync's emulator, in this process, on loopback, fsync on), next to the
// local-directory sink, on the spine's workload (performance.md): N rows of
// ~200 bytes (bigint pk, ints, varchar(64), decimal(18,4), datetime(6),
// ~80-byte text) inserted in 1000-row transactions, then N/2 updates and
// N/10 deletes, in a private MariaDB.
//
//	go run ./bench/maxcompute [-rows 300000] [-runs local-jsonl,maxcompute]
//
// Two phases per run:
//
//   - binlog: every run catches up the same binlog from the same
//     checkpoint; row changes/s from odsync's start until every change is
//     durable (local: the file ending at the last change exists; MaxCompute:
//     the table holds every row, i.e. stream packs flushed);
//   - snapshot: a fresh state directory copies the table's current rows
//     (the MySQL capture's initial snapshot; MaxCompute: batch upload
//     sessions), rows/s until all are durable.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"

	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/odpsemu"
)

func main() {
	rows := flag.Int("rows", 300000, "rows inserted (updates: rows/2, deletes: rows/10)")
	runs := flag.String("runs", "local-jsonl,maxcompute", "sink runs, comma-separated (local-jsonl, local-parquet, maxcompute, maxcompute-zstd)")
	keep := flag.Bool("keep", false, "keep the working directory")
	flag.Parse()
	log.SetFlags(0)
	if err := bench(*rows, strings.Split(*runs, ","), *keep); err != nil {
		log.Fatal(err)
	}
}

type run struct {
	name, dir, log, sinkYAML string
	project                  string // maxcompute runs: project name prefix
	phaseProject             string // the project of the current phase
	idx                      int
}

var (
	work string
	bin  string
	db0  *mariadb.Server
	emu  *odpsemu.Server
)

func bench(n int, names []string, keep bool) error {
	ctx := context.Background()
	var err error
	if work, err = os.MkdirTemp("", "odsync-bench-mc-"); err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}
	bin = filepath.Join(work, "odsync")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", bin, "./cmd/odsync")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	if db0, err = mariadb.Start(ctx, mariadb.Options{Quiet: true}); err != nil {
		return err
	}
	defer db0.Stop()
	if emu, err = odpsemu.New(odpsemu.Config{DataDir: filepath.Join(work, "emu")}); err != nil {
		return err
	}
	if err := emu.Start(ctx); err != nil {
		return err
	}
	defer emu.Close()
	db, err := db0.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range []string{"DROP DATABASE IF EXISTS bench", "CREATE DATABASE bench",
		`CREATE TABLE bench.t (id BIGINT PRIMARY KEY, a INT, b BIGINT, s VARCHAR(64), amount DECIMAL(18,4),
			ts DATETIME(6), txt TEXT)`} {
		if _, err := db.Exec(s); err != nil {
			return err
		}
	}
	var rs []*run
	for i, name := range names {
		r := &run{name: name, idx: i}
		switch {
		case strings.HasPrefix(name, "local-"):
			r.sinkYAML = "    type: local\n    local:\n      dir: %[1]s\n      format: " + strings.TrimPrefix(name, "local-") + "\n"
		case name == "maxcompute" || name == "maxcompute-zstd":
			comp := "snappy"
			if name == "maxcompute-zstd" {
				comp = "zstd"
			}
			r.project = "bench_" + strings.ReplaceAll(name, "-", "_")
			r.sinkYAML = fmt.Sprintf(`    type: maxcompute
    maxcompute:
      endpoint: %s
      tunnel_endpoint: %s
      project: %%[2]s
      access_id: bench
      access_key: bench
      compression: %s
`, emu.Endpoint(), emu.TunnelEndpoint(), comp)
		default:
			return fmt.Errorf("unknown run %q", name)
		}
		rs = append(rs, r)
	}

	// Phase 1: binlog. Prime every run so its checkpoint precedes the workload.
	for _, r := range rs {
		if err := r.setup("binlog", "latest"); err != nil {
			return err
		}
	}
	var procs []*exec.Cmd
	for _, r := range rs {
		p, err := r.start()
		if err != nil {
			return err
		}
		procs = append(procs, p)
		if err := waitLog(r.log, 60*time.Second, "starting at the current position"); err != nil {
			return err
		}
	}
	if _, err := db.Exec("INSERT INTO bench.t (id, a) VALUES (0, 0)"); err != nil {
		return err
	}
	for i, r := range rs {
		err := r.waitRows(1, 60*time.Second)
		procs[i].Process.Signal(syscall.SIGTERM)
		procs[i].Wait()
		if err != nil {
			return fmt.Errorf("%s: primer: %w\n%s", r.name, err, tail(r.log))
		}
	}
	binlogBefore := binlogBytes(db)
	t0 := time.Now()
	if err := workload(db, n); err != nil {
		return err
	}
	changes := n + n/2 + n/10
	binlog := binlogBytes(db) - binlogBefore
	fmt.Printf("workload: %d row changes, %.0f MB of binlog, generated in %s\n", changes, float64(binlog)/1e6, time.Since(t0).Round(time.Millisecond))
	fmt.Printf("machine: %d CPUs, %s; emulator in-process with fsync\n", runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-16s %-9s %10s %12s %12s\n", "run", "phase", "seconds", "rows/s", "binlog MB/s")
	for _, r := range rs {
		start0 := time.Now()
		p, err := r.start()
		if err != nil {
			return err
		}
		if err := r.waitRows(uint64(1+changes), 30*time.Minute); err != nil {
			p.Process.Kill()
			return fmt.Errorf("%s: %w\n%s", r.name, err, tail(r.log))
		}
		secs := time.Since(start0).Seconds()
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
		fmt.Printf("%-16s %-9s %10.1f %12.0f %12.1f\n", r.name, "binlog", secs, float64(changes)/secs, float64(binlog)/1e6/secs)
	}

	// Phase 2: snapshot of the table's current rows into fresh targets.
	var live int
	if err := db.QueryRow("SELECT COUNT(*) FROM bench.t").Scan(&live); err != nil {
		return err
	}
	for _, r := range rs {
		if err := r.setup("snapshot", "latest"); err != nil {
			return err
		}
		start0 := time.Now()
		p, err := r.start()
		if err != nil {
			return err
		}
		if err := r.waitRows(uint64(live), 30*time.Minute); err != nil {
			p.Process.Kill()
			return fmt.Errorf("%s snapshot: %w\n%s", r.name, err, tail(r.log))
		}
		secs := time.Since(start0).Seconds()
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
		fmt.Printf("%-16s %-9s %10.1f %12.0f %12s\n", r.name, "snapshot", secs, float64(live)/secs, "-")
	}
	return nil
}

// setup writes a fresh config and state for a phase.
func (r *run) setup(phase, start string) error {
	r.dir = filepath.Join(work, r.name+"-"+phase)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	r.log = filepath.Join(r.dir, "odsync.log")
	r.phaseProject = ""
	if r.project != "" {
		r.phaseProject = r.project + "_" + phase
	}
	sinkYAML := fmt.Sprintf(r.sinkYAML, filepath.Join(r.dir, "ods"), r.phaseProject)
	cfg := fmt.Sprintf(`state:
  dir: %s
source:
  type: mysql
  mysql:
    addr: %s
    user: root
    server_id: %d
    start: %s
mapping:
  include: ["bench\\..*"]
log:
  level: info
sinks:
  - name: out
%s    batch:
      max_rows: 20000
      max_bytes: 33554432
      max_age: 500ms
      in_flight: 2
`, filepath.Join(r.dir, "state"), db0.Addr(), 3000+r.idx*10+len(phase), start, sinkYAML)
	return os.WriteFile(filepath.Join(r.dir, "odsync.yaml"), []byte(cfg), 0o644)
}

func (r *run) start() (*exec.Cmd, error) {
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "-c", filepath.Join(r.dir, "odsync.yaml"))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); f.Close() }()
	return cmd, nil
}

// waitRows waits until the run's target holds rows up to _seq target
// (local: a file ending at target) or target rows (MaxCompute).
func (r *run) waitRows(target uint64, limit time.Duration) error {
	var o *odps.Odps
	if r.phaseProject != "" {
		o = odps.NewOdps(account.NewAliyunAccount("bench", "bench"), emu.Endpoint())
		o.SetDefaultProjectName(r.phaseProject)
	}
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if o != nil {
			t := odps.NewTable(o, r.phaseProject, "", "ods_bench_t")
			if err := t.Load(); err == nil && uint64(t.RecordNum()) >= target {
				return nil
			}
			continue
		}
		var last uint64
		filepath.WalkDir(filepath.Join(r.dir, "ods"), func(path string, d fs.DirEntry, err error) error {
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
		if last >= target {
			return nil
		}
	}
	return fmt.Errorf("not done after %s", limit)
}

func waitLog(path string, limit time.Duration, what string) error {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), what) || strings.Contains(string(b), "resuming from checkpoint") {
			return nil
		}
	}
	return fmt.Errorf("no %q in %s:\n%s", what, path, tail(path))
}

func workload(db *sql.DB, n int) error {
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

func binlogBytes(db *sql.DB) int64 {
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

func tail(path string) string {
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
