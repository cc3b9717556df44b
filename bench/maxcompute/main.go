// Command maxcompute measures odsync end to end into the MaxCompute sink
// (odsync's emulator, in this process, on loopback, fsync on), next to the
// local-directory sink, on the reference workload (docs/benchmarks.md): N rows of
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
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"

	"github.com/odsync/odsync/bench/workload"
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
	if bin, err = workload.BuildOdsync(work); err != nil {
		return err
	}
	wdb, err := workload.StartMixed(ctx)
	if err != nil {
		return err
	}
	defer wdb.Close()
	db0 = wdb.Server
	db := wdb.SQL
	if emu, err = odpsemu.New(odpsemu.Config{DataDir: filepath.Join(work, "emu")}); err != nil {
		return err
	}
	if err := emu.Start(ctx); err != nil {
		return err
	}
	defer emu.Close()
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
	var procs []*workload.Process
	for _, r := range rs {
		p, err := r.start()
		if err != nil {
			return err
		}
		procs = append(procs, p)
		if err := workload.WaitLog(r.log, 60*time.Second, "starting at the current position"); err != nil {
			return err
		}
	}
	if _, err := db.Exec("INSERT INTO bench.t (id, a) VALUES (0, 0)"); err != nil {
		return err
	}
	for i, r := range rs {
		err := r.waitRows(1, 60*time.Second)
		procs[i].Stop()
		if err != nil {
			return fmt.Errorf("%s: primer: %w\n%s", r.name, err, workload.Tail(r.log))
		}
	}
	changes, binlog, err := workload.RunMixed(db, n)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs, %s; emulator in-process with fsync\n", runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-16s %-9s %10s %12s %12s\n", "run", "phase", "seconds", "rows/s", "binlog MB/s")
	for _, r := range rs {
		start0 := time.Now()
		p, err := r.start()
		if err != nil {
			return err
		}
		if err := r.waitRows(uint64(1+changes), 30*time.Minute); err != nil {
			p.Kill()
			return fmt.Errorf("%s: %w\n%s", r.name, err, workload.Tail(r.log))
		}
		secs := time.Since(start0).Seconds()
		p.Stop()
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
			p.Kill()
			return fmt.Errorf("%s snapshot: %w\n%s", r.name, err, workload.Tail(r.log))
		}
		secs := time.Since(start0).Seconds()
		p.Stop()
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

func (r *run) start() (*workload.Process, error) {
	return workload.StartOdsync(bin, filepath.Join(r.dir, "odsync.yaml"), r.log)
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
		if workload.LastLocalSeq(filepath.Join(r.dir, "ods")) >= target {
			return nil
		}
	}
	return fmt.Errorf("not done after %s", limit)
}
