// Command s3 measures odsync end to end into the S3 sink, next to the
// local-directory sink, on the spine's workload (performance.md): N rows of
// ~200 bytes (bigint pk, ints, varchar(64), decimal(18,4), datetime(6),
// ~80-byte text) inserted in 1000-row transactions, then N/2 updates and
// N/10 deletes, all in a private MariaDB; the S3 server is a private
// versitygw on loopback.
//
// Every odsync run catches up the same binlog from the same checkpoint, so
// the figures compare sinks, not workloads:
//
//	go run ./bench/s3 [-rows 1000000] [-runs local-jsonl,local-parquet,s3-parquet,s3-csv]
//
// For each run it prints row changes/s, MB/s of binlog read, and MB/s and
// bytes of files written (object sizes), from odsync's start until every
// change is durable in the target (S3: uploaded; the spools' last files are
// cut and uploaded by a graceful stop, which is included), and the CPU time
// odsync used: changes per CPU-second is the figure that survives a shared,
// noisy machine.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/harness/s3server"
	s3sink "github.com/odsync/odsync/sink/s3"
)

func main() {
	rows := flag.Int("rows", 1000000, "rows inserted (updates: rows/2, deletes: rows/10)")
	runs := flag.String("runs", "local-jsonl,local-parquet,s3-parquet,s3-csv", "sink runs, comma-separated")
	keep := flag.Bool("keep", false, "keep the working directory")
	flag.Parse()
	log.SetFlags(0)
	if err := bench(*rows, strings.Split(*runs, ","), *keep); err != nil {
		log.Fatal(err)
	}
}

type run struct {
	name, dir, cfg, log string
	s3, prefix          string
	exited              chan struct{}
}

func bench(n int, names []string, keep bool) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "odsync-bench-s3-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}
	bin := filepath.Join(work, "odsync")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", bin, "./cmd/odsync")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	db0, err := mariadb.Start(ctx, mariadb.Options{Quiet: true})
	if err != nil {
		return err
	}
	defer db0.Stop()
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	srv, err := s3server.Start(bctx, s3server.Options{Buckets: []string{"ods"}})
	cancel()
	if err != nil {
		return err
	}
	defer srv.Close()
	os.Setenv("ODSYNC_BENCH_S3_KEY", srv.AccessKey)
	os.Setenv("ODSYNC_BENCH_S3_SECRET", srv.SecretKey)
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
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

	// Prime every run: its checkpoint is taken before the workload.
	var rs []*run
	for i, name := range names {
		r := &run{name: name, dir: filepath.Join(work, name)}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return err
		}
		r.log = filepath.Join(r.dir, "odsync.log")
		var sinkYAML string
		switch name {
		case "local-jsonl", "local-parquet", "local-csv":
			sinkYAML = fmt.Sprintf("    type: local\n    local:\n      dir: %s\n      format: %s\n      no_sync: false\n",
				filepath.Join(r.dir, "ods"), strings.TrimPrefix(name, "local-"))
		case "s3-parquet", "s3-csv", "s3-jsonl":
			r.s3, r.prefix = strings.TrimPrefix(name, "s3-"), name
			sinkYAML = fmt.Sprintf(`    type: s3
    s3:
      bucket: ods
      prefix: %s
      endpoint: %s
      path_style: true
      access_key_id: ${ODSYNC_BENCH_S3_KEY}
      secret_access_key: ${ODSYNC_BENCH_S3_SECRET}
      format: %s
      checkpoint_interval: 100ms
`, r.prefix, srv.Endpoint, r.s3)
		default:
			return fmt.Errorf("unknown run %q", name)
		}
		r.cfg = filepath.Join(r.dir, "odsync.yaml")
		cfg := fmt.Sprintf(`state:
  dir: %s
source:
  type: mysql
  mysql:
    addr: %s
    user: root
    server_id: %d
mapping:
  include: ["bench\\..*"]
log:
  level: info
sinks:
  - name: out
%s    batch:
      max_rows: 20000
      max_age: 500ms
`, filepath.Join(r.dir, "state"), db0.Addr(), 3000+i, sinkYAML)
		if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
			return err
		}
		rs = append(rs, r)
	}
	// One primer change (seq 1) lands in every run before the workload:
	// every run is started, takes its position, and stays up until the
	// primer is durable, so its checkpoint is stored.
	var procs []*exec.Cmd
	for _, r := range rs {
		p, err := start(bin, r)
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
		err := waitDone(r, srv, 1, 60*time.Second)
		procs[i].Process.Signal(syscall.SIGTERM)
		<-r.exited
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
	fmt.Printf("machine: %d CPUs, %s\n", runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-14s %8s %11s %11s %9s %9s %8s %12s\n", "run", "seconds", "changes/s", "binlog MB/s", "out MB/s", "out MB", "CPU s", "changes/CPU-s")
	target := uint64(1 + changes)
	for _, r := range rs {
		start0 := time.Now()
		p, err := start(bin, r)
		if err != nil {
			return err
		}
		if err := waitDone(r, srv, target, 30*time.Minute); err != nil {
			p.Process.Kill()
			return fmt.Errorf("%s: %w\n%s", r.name, err, tail(r.log))
		}
		p.Process.Signal(syscall.SIGTERM)
		<-r.exited
		secs := time.Since(start0).Seconds()
		cpu := (p.ProcessState.UserTime() + p.ProcessState.SystemTime()).Seconds()
		out := outBytes(r, srv)
		fmt.Printf("%-14s %8.1f %11.0f %11.1f %9.1f %9.1f %8.1f %12.0f\n", r.name, secs, float64(changes)/secs,
			float64(binlog)/1e6/secs, float64(out)/1e6/secs, float64(out)/1e6, cpu, float64(changes)/cpu)
	}
	return nil
}

func start(bin string, r *run) (*exec.Cmd, error) {
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "-c", r.cfg)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	r.exited = done
	go func() { cmd.Wait(); f.Close(); close(done) }()
	return cmd, nil
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

// waitDone waits until every change up to seq target is durable in the
// run's target. S3: the checkpoint says every change up to target is
// uploaded or spooled; the graceful stop that follows uploads the rest.
func waitDone(r *run, srv *s3server.Server, target uint64, limit time.Duration) error {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if r.s3 != "" {
			g, err := srv.Client().GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("ods"),
				Key: aws.String(r.prefix + "/_checkpoint.json")})
			if err != nil {
				continue
			}
			var cp s3sink.Checkpoint
			err = json.NewDecoder(g.Body).Decode(&cp)
			g.Body.Close()
			if err != nil {
				continue
			}
			var spooled uint64
			for _, p := range cp.Pending {
				spooled += uint64(p.Rows)
			}
			if cp.CompleteSeq+spooled >= target {
				return nil
			}
			continue
		}
		// local: files are named first-last; done when one ends at target.
		var last uint64
		filepath.WalkDir(filepath.Join(r.dir, "ods"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
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

func outBytes(r *run, srv *s3server.Server) int64 {
	var total int64
	if r.s3 != "" {
		p := awss3.NewListObjectsV2Paginator(srv.Client(), &awss3.ListObjectsV2Input{Bucket: aws.String("ods"), Prefix: aws.String(r.prefix + "/")})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				return total
			}
			for _, o := range page.Contents {
				total += aws.ToInt64(o.Size)
			}
		}
		return total
	}
	filepath.WalkDir(filepath.Join(r.dir, "ods"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
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
