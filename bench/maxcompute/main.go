// Command maxcompute measures odsync end to end into the MaxCompute sink
// (odsync's emulator, in this process, on loopback, fsync on), next to the
// local-directory sink, on the reference workload (docs/benchmarks.md): N rows of
// ~200 bytes (bigint pk, ints, varchar(64), decimal(18,4), datetime(6),
// ~80-byte text) inserted in 1000-row transactions, then N/2 updates and
// N/10 deletes, in a private MariaDB.
//
//	go run ./bench/maxcompute [-rows 300000] [-runs local-jsonl,maxcompute]
//	go run ./bench/maxcompute -snapshot-only -rows 5000000 -rounds 3 -runs maxcompute-perbatch,maxcompute-bulk
//
// Two phases per run:
//
//   - binlog: every run catches up the same binlog from the same
//     checkpoint; row changes/s from odsync's start until every change is
//     durable (local: the file ending at the last change exists; MaxCompute:
//     the table holds every row, i.e. stream packs flushed);
//   - snapshot: a fresh state directory copies the table's current rows
//     (the MySQL capture's initial snapshot; MaxCompute: batch upload
//     sessions), rows/s until all are durable (visible: for bulk loads,
//     committed).
//
// MaxCompute runs also report, per table, the upload sessions, commits,
// blocks (each block is a file in MaxCompute) and requests the emulator's
// quotas refused (429); the emulator runs with the real service's quotas.
// maxcompute-bulk and maxcompute-perbatch use the sink's defaults except
// that perbatch sets commit_bytes: 1 (one session and commit per block;
// before blocks spanned pipeline batches, that was one per batch). -snapshot-only skips the
// binlog phase and fills the table with INSERT ... SELECT (fast, for
// millions of rows); -rounds repeats the snapshot phase, runs alternating,
// and prints the medians.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	runs := flag.String("runs", "local-jsonl,maxcompute", "sink runs, comma-separated (local-jsonl, local-parquet, maxcompute, maxcompute-zstd, maxcompute-bulk, maxcompute-perbatch)")
	keep := flag.Bool("keep", false, "keep the working directory")
	snapOnly := flag.Bool("snapshot-only", false, "skip the binlog phase; fill the table with INSERT ... SELECT")
	rounds := flag.Int("rounds", 1, "snapshot phase rounds (runs alternate; medians printed)")
	flag.IntVar(&batchRows, "batch-rows", 20000, "sinks' batch.max_rows")
	flag.IntVar(&batchBytes, "batch-bytes", 32<<20, "sinks' batch.max_bytes")
	flag.Parse()
	log.SetFlags(0)
	if err := bench(*rows, strings.Split(*runs, ","), *keep, *snapOnly, max(*rounds, 1)); err != nil {
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
	batchRows  int
	batchBytes int

	work string
	bin  string
	db0  *mariadb.Server
	emu  *odpsemu.Server
)

func bench(n int, names []string, keep, snapOnly bool, rounds int) error {
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
		case strings.HasPrefix(name, "maxcompute"):
			extra := ""
			switch name {
			case "maxcompute":
				extra = "compression: snappy"
			case "maxcompute-zstd":
				extra = "compression: zstd"
			case "maxcompute-bulk":
			case "maxcompute-perbatch":
				extra = "commit_bytes: 1"
			default:
				return fmt.Errorf("unknown run %q", name)
			}
			if extra != "" {
				extra = "      " + extra + "\n"
			}
			r.project = "bench_" + strings.ReplaceAll(name, "-", "_")
			r.sinkYAML = fmt.Sprintf(`    type: maxcompute
    maxcompute:
      endpoint: %s
      tunnel_endpoint: %s
      project: %%[2]s
      access_id: bench
      access_key: bench
%s`, emu.Endpoint(), emu.TunnelEndpoint(), extra)
		default:
			return fmt.Errorf("unknown run %q", name)
		}
		rs = append(rs, r)
	}

	fmt.Printf("machine: %d CPUs, %s; emulator in-process with fsync and the real service's quotas\n", runtime.NumCPU(), runtime.Version())
	if snapOnly {
		if err := fill(db, n); err != nil {
			return err
		}
	} else if err := binlogPhase(db, rs, n); err != nil {
		return err
	}
	return snapshotPhase(db, rs, rounds)
}

// fill inserts n rows of about 200 bytes into bench.t (ids 1..n) with
// INSERT ... SELECT from the sequence engine, 500,000 rows a statement.
func fill(db *sql.DB, n int) error {
	start := time.Now()
	for lo := 1; lo <= n; lo += 500000 {
		hi := min(lo+500000-1, n)
		_, err := db.Exec(fmt.Sprintf(`INSERT INTO bench.t SELECT seq, seq %% 100000, seq * 7919,
			CONCAT('name-', seq, '-abcdefghijklmnopqrstuvwxyz'), (seq %% 1000000) + (seq %% 10000) / 10000,
			'2026-11-21 12:34:56', REPEAT('p', 80) FROM bench.seq_%d_to_%d`, lo, hi))
		if err != nil {
			return err
		}
	}
	fmt.Printf("filled bench.t with %d rows in %.1fs\n", n, time.Since(start).Seconds())
	return nil
}

// binlogPhase: every run catches up the same binlog from the same checkpoint.
func binlogPhase(db *sql.DB, rs []*run, n int) error {
	// Prime every run so its checkpoint precedes the workload.
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

	return nil
}

// counters are the emulator's request counts of one run.
type counters struct{ sessions, commits, blocks, throttled int64 }

func emuCounters() counters {
	var c counters
	c.sessions, c.commits, c.blocks = emu.Count(odpsemu.OpUploadCreate), emu.Count(odpsemu.OpUploadCommit), emu.Count(odpsemu.OpBlockWrite)
	for _, op := range []odpsemu.Op{odpsemu.OpUploadCreate, odpsemu.OpUploadCommit, odpsemu.OpBlockWrite, odpsemu.OpUploadStatus, odpsemu.OpStreamCreate} {
		c.throttled += emu.Throttled(op)
	}
	return c
}

// snapshotPhase copies the table's current rows into fresh targets, rounds
// times, the runs alternating.
func snapshotPhase(db *sql.DB, rs []*run, rounds int) error {
	var live int
	if err := db.QueryRow("SELECT COUNT(*) FROM bench.t").Scan(&live); err != nil {
		return err
	}
	fmt.Printf("%-20s %-9s %10s %12s %9s %8s %8s %6s\n", "run", "phase", "seconds", "rows/s", "sessions", "commits", "blocks", "429s")
	rates := map[string][]float64{}
	last := map[string]counters{}
	for round := 1; round <= rounds; round++ {
		for _, r := range rs {
			phase := "snapshot"
			if rounds > 1 {
				phase = fmt.Sprintf("snapshot%d", round)
			}
			if err := r.setup(phase, "latest"); err != nil {
				return err
			}
			c0 := emuCounters()
			start0 := time.Now()
			p, err := r.start()
			if err != nil {
				return err
			}
			if err := r.waitRows(uint64(live), 60*time.Minute); err != nil {
				p.Kill()
				return fmt.Errorf("%s snapshot: %w\n%s", r.name, err, workload.Tail(r.log))
			}
			secs := time.Since(start0).Seconds()
			p.Stop()
			c1 := emuCounters()
			d := counters{c1.sessions - c0.sessions, c1.commits - c0.commits, c1.blocks - c0.blocks, c1.throttled - c0.throttled}
			rate := float64(live) / secs
			rates[r.name] = append(rates[r.name], rate)
			last[r.name] = d
			if r.project == "" {
				fmt.Printf("%-20s %-9s %10.1f %12.0f %9s %8s %8s %6s\n", r.name, phase, secs, rate, "-", "-", "-", "-")
				continue
			}
			fmt.Printf("%-20s %-9s %10.1f %12.0f %9d %8d %8d %6d\n", r.name, phase, secs, rate, d.sessions, d.commits, d.blocks, d.throttled)
		}
	}
	if rounds > 1 {
		fmt.Printf("medians of %d rounds (%d rows, one table):\n", rounds, live)
		for _, r := range rs {
			v := slices.Clone(rates[r.name])
			slices.Sort(v)
			fmt.Printf("%-20s %12.0f rows/s\n", r.name, v[len(v)/2])
		}
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
      max_rows: %d
      max_bytes: %d
      max_age: 500ms
      in_flight: 2
`, filepath.Join(r.dir, "state"), db0.Addr(), 3000+r.idx*10+len(phase), start, sinkYAML, batchRows, batchBytes)
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
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
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
