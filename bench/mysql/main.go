// Command mysql benchmarks odsync's MySQL/MariaDB capture against a private
// MariaDB, comparing with go-mysql on the same binlog in the same run:
//
//   - raw: go-mysql's BinlogSyncer decoding every row event (ParseTime on),
//     nothing else — the reference reader;
//   - capture → log: odsync's capture appending into the durable Pebble log
//     (the pipeline with no sink), timed until the log holds every change;
//   - snapshot: a snapshot_only copy of the loaded table into the log;
//   - big transaction: a separate process captures one transaction of
//     -bigtxn rows into the log and reports its peak RSS.
//
// It prints rows/s and MB/s and the ratio capture/raw, which is the figure
// that survives a noisy machine.
//
//	go run ./bench/mysql -rows 1000000 -txn 1000 -bigtxn 1000000
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/odsync/odsync/bench/workload"
	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
)

var (
	rowsFlag    = flag.Int("rows", 1000000, "rows to insert (~200 bytes each)")
	txnFlag     = flag.Int("txn", 1000, "rows per transaction")
	updatesFlag = flag.Int("updates", 0, "rows to update afterwards (one statement per 1000 rows)")
	bigFlag     = flag.Int("bigtxn", 1000000, "rows of the single big transaction (0: skip)")
	snapFlag    = flag.Bool("snapshot", true, "benchmark the snapshot")
	cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile of the capture → log run")
	snapProfile = flag.String("snapprofile", "", "write a CPU profile of the snapshot run")
	childFlag   = flag.String("child-bigtxn", "", "internal: run the big-transaction capture (JSON config)")
)

func main() {
	flag.Parse()
	if *childFlag != "" {
		if err := childBigTxn(*childFlag); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/mysql:", err)
		os.Exit(1)
	}
}

type result struct {
	name    string
	rows    int
	bytes   int64
	seconds float64
	cpu     float64 // CPU seconds of this process (user+system)
}

func (r result) print() {
	mbs := ""
	if r.bytes > 0 {
		mbs = fmt.Sprintf("%10.1f", float64(r.bytes)/1e6/r.seconds)
	}
	fmt.Printf("%-34s %10d %12.0f %10s %9.2f %9.2f %12.0f\n", r.name, r.rows, float64(r.rows)/r.seconds, mbs, r.seconds, r.cpu,
		float64(r.rows)/r.cpu)
}

// cpuSeconds returns the process's CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// timed runs f and fills in its CPU time.
func timed(f func() (result, error)) (result, error) {
	c0 := cpuSeconds()
	r, err := f()
	r.cpu = cpuSeconds() - c0
	return r, err
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "odsync-bench-mysql-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wdb, err := workload.StartSpine(ctx, filepath.Join(dir, "mariadb"), "--max-binlog-size=1G")
	if err != nil {
		return err
	}
	defer wdb.Close()
	srv, db := wdb.Server, wdb.SQL
	start, err := workload.Position(db)
	if err != nil {
		return err
	}
	fmt.Printf("loading %d rows (~200 bytes) in %d-row transactions ...\n", *rowsFlag, *txnFlag)
	t0 := time.Now()
	if err := workload.Load(db, *rowsFlag, *txnFlag); err != nil {
		return err
	}
	changes := *rowsFlag
	for done := 0; done < *updatesFlag; done += 1000 {
		if _, err := db.Exec("UPDATE bench.t SET a = a + 1, e = NOW(6) WHERE id >= ? AND id < ?", done, done+1000); err != nil {
			return err
		}
		changes += min(1000, *updatesFlag-done)
	}
	end, err := workload.Position(db)
	if err != nil {
		return err
	}
	fmt.Printf("loaded %d row changes in %s; binlog %s → %s\n", changes, time.Since(t0).Round(time.Millisecond), start, end)

	var results []result
	raw, err := timed(func() (result, error) { return readRaw(ctx, srv, start, changes) })
	if err != nil {
		return err
	}
	results = append(results, raw)
	capOnly, err := timed(func() (result, error) { return captureOnly(ctx, srv, start, changes) })
	if err != nil {
		return err
	}
	capOnly.bytes = raw.bytes
	results = append(results, capOnly)
	toLog, err := timed(func() (result, error) { return captureToLog(ctx, srv, dir, start, changes) })
	if err != nil {
		return err
	}
	toLog.bytes = raw.bytes
	results = append(results, toLog)
	appendOnly, err := logAppendOnly(ctx, srv, dir, start, min(changes, 300000))
	if err != nil {
		return err
	}
	results = append(results, appendOnly)
	if *snapFlag {
		snap, err := timed(func() (result, error) { return snapshot(ctx, srv, dir) })
		if err != nil {
			return err
		}
		results = append(results, snap)
	}
	fmt.Printf("\n%-34s %10s %12s %10s %9s %9s %12s\n", "run", "rows", "rows/s", "MB/s", "seconds", "cpu-sec", "rows/cpu-s")
	for _, r := range results {
		r.print()
	}
	fmt.Printf("ratio capture→log / raw go-mysql (wall clock): %.2f (target ≥ 0.70)\n", raw.seconds/toLog.seconds)
	fmt.Printf("ratio capture→log / raw go-mysql (CPU time):   %.2f\n", raw.cpu/toLog.cpu)
	if *bigFlag > 0 {
		if err := bigTxn(ctx, srv, db, dir); err != nil {
			return err
		}
	}
	return nil
}

// readRaw decodes the binlog from start with go-mysql alone until want rows.
func readRaw(ctx context.Context, srv *mariadb.Server, start mysql.Checkpoint, want int) (result, error) {
	raw, err := workload.ReadRaw(ctx, srv, 9101, start, want)
	if err != nil {
		return result{}, err
	}
	return result{name: "raw go-mysql BinlogSyncer", rows: raw.Rows, bytes: raw.Bytes, seconds: raw.Duration.Seconds()}, nil
}

func source(srv *mariadb.Server, id uint32, store mysql.Store, mod func(*mysql.Config)) (*mysql.Source, error) {
	cfg := mysql.Config{Addr: srv.Addr(), User: "root", ServerID: id, Snapshot: mysql.SnapshotNever, ProgressInterval: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	return mysql.New(cfg, func(t event.TableID) bool { return t.DB == "bench" }, slog.New(slog.DiscardHandler), mysql.Options{Store: store})
}

// captureOnly times the capture with an emit that drops everything.
func captureOnly(ctx context.Context, srv *mariadb.Server, start mysql.Checkpoint, want int) (result, error) {
	src, err := source(srv, 9102, nil, nil)
	if err != nil {
		return result{}, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := 0
	t0 := time.Now()
	err = src.Run(cctx, start.Encode(), func(ctx context.Context, evs []event.Event, cp []byte) error {
		n += len(evs)
		if n >= want {
			cancel()
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}
	return result{name: "odsync capture (no log)", rows: n, seconds: time.Since(t0).Seconds()}, nil
}

// captureToLog runs the pipeline without sinks until the log holds want events.
func captureToLog(ctx context.Context, srv *mariadb.Server, dir string, start mysql.Checkpoint, want int) (result, error) {
	state := filepath.Join(dir, "state-capture")
	defer os.RemoveAll(state)
	log, err := offsets.Open(state, offsets.Options{})
	if err != nil {
		return result{}, err
	}
	defer log.Close()
	if _, err := log.Append(ctx, nil, start.Encode()); err != nil {
		return result{}, err
	}
	src, err := source(srv, 9103, log, nil)
	if err != nil {
		return result{}, err
	}
	p := pipeline.New(log, workload.Capture(src), nil, pipeline.Options{})
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	d, err := workload.RunUntil(ctx, p, 5*time.Millisecond, func() bool { return log.Head() >= uint64(want) })
	if err != nil {
		return result{}, err
	}
	return result{name: "odsync capture → Pebble log", rows: int(log.Head()), seconds: d.Seconds()}, nil
}

// logAppendOnly captures want events into memory, then times appending
// them to a fresh log as the pipeline does (one append per 20000 events,
// synced): the log's own ceiling on this machine, in the same run.
func logAppendOnly(ctx context.Context, srv *mariadb.Server, dir string, start mysql.Checkpoint, want int) (result, error) {
	src, err := source(srv, 9106, nil, nil)
	if err != nil {
		return result{}, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var evs []event.Event
	var cp []byte
	if err := src.Run(cctx, start.Encode(), func(ctx context.Context, e []event.Event, c []byte) error {
		evs = append(evs, e...)
		if c != nil {
			cp = c
			if len(evs) >= want {
				cancel()
			}
		}
		return nil
	}); err != nil {
		return result{}, err
	}
	state := filepath.Join(dir, "state-append")
	defer os.RemoveAll(state)
	log, err := offsets.Open(state, offsets.Options{})
	if err != nil {
		return result{}, err
	}
	defer log.Close()
	c0 := cpuSeconds()
	t0 := time.Now()
	for i := 0; i < len(evs); i += 20000 {
		if _, err := log.Append(ctx, evs[i:min(i+20000, len(evs))], cp); err != nil {
			return result{}, err
		}
	}
	return result{name: "  log append alone (same events)", rows: len(evs), seconds: time.Since(t0).Seconds(), cpu: cpuSeconds() - c0}, nil
}

// snapshot copies bench.t with snapshot_only into a log.
func snapshot(ctx context.Context, srv *mariadb.Server, dir string) (result, error) {
	state := filepath.Join(dir, "state-snapshot")
	defer os.RemoveAll(state)
	log, err := offsets.Open(state, offsets.Options{})
	if err != nil {
		return result{}, err
	}
	defer log.Close()
	src, err := source(srv, 9104, log, func(c *mysql.Config) { c.Snapshot = mysql.SnapshotSnapshotOnly })
	if err != nil {
		return result{}, err
	}
	p := pipeline.New(log, workload.Capture(src), nil, pipeline.Options{})
	if *snapProfile != "" {
		f, err := os.Create(*snapProfile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	if err := p.Run(ctx); err != nil {
		return result{}, err
	}
	return result{name: "odsync snapshot → Pebble log", rows: int(log.Head()), seconds: time.Since(t0).Seconds()}, nil
}

type childConfig struct {
	Addr  string
	Start mysql.Checkpoint
	Rows  int
	State string
}

// bigTxn writes one transaction of -bigtxn rows and captures it in a child
// process whose peak RSS is the figure.
func bigTxn(ctx context.Context, srv *mariadb.Server, db *sql.DB, dir string) error {
	if _, err := db.Exec("CREATE TABLE bench.big (id BIGINT PRIMARY KEY, a INT NOT NULL, c VARCHAR(64) NOT NULL, f TEXT NOT NULL)"); err != nil {
		return err
	}
	start, err := workload.Position(db)
	if err != nil {
		return err
	}
	fmt.Printf("\nwriting one transaction of %d rows ...\n", *bigFlag)
	if _, err := db.Exec(fmt.Sprintf("INSERT INTO bench.big SELECT seq, seq %% 1000, CONCAT('name-', seq, '-abcdefghijklmnopqrstuvwxyz'), REPEAT('p', 120) FROM bench.seq_1_to_%d", *bigFlag)); err != nil {
		return err
	}
	cc, _ := json.Marshal(childConfig{Addr: srv.Addr(), Start: start, Rows: *bigFlag, State: filepath.Join(dir, "state-big")})
	cmd := exec.CommandContext(ctx, os.Args[0], "-child-bigtxn", string(cc))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("big transaction child: %v\n%s", err, out)
	}
	fmt.Print(string(out))
	return nil
}

func childBigTxn(cfgJSON string) error {
	var cc childConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cc); err != nil {
		return err
	}
	ctx := context.Background()
	log, err := offsets.Open(cc.State, offsets.Options{})
	if err != nil {
		return err
	}
	defer log.Close()
	if _, err := log.Append(ctx, nil, cc.Start.Encode()); err != nil {
		return err
	}
	cfg := mysql.Config{Addr: cc.Addr, User: "root", ServerID: 9105, Snapshot: mysql.SnapshotNever, ProgressInterval: time.Hour}
	src, err := mysql.New(cfg, func(t event.TableID) bool { return t.DB == "bench" }, slog.New(slog.DiscardHandler), mysql.Options{Store: log})
	if err != nil {
		return err
	}
	p := pipeline.New(log, workload.Capture(src), nil, pipeline.Options{})
	d, err := workload.RunUntil(ctx, p, 10*time.Millisecond, func() bool { return log.Head() >= uint64(cc.Rows) })
	if err != nil {
		return err
	}
	st := src.Stats()
	hwm := procStatus("VmHWM")
	fmt.Printf("big transaction: %d rows in one transaction captured into the log in %.2fs (%.0f rows/s), %d spilled chunks\n",
		cc.Rows, d.Seconds(), float64(cc.Rows)/d.Seconds(), st.Spills)
	fmt.Printf("big transaction: peak RSS of the capturing process %s (the transaction's row values alone would take ~%d MB in memory)\n",
		hwm, cc.Rows*330/1000000)
	return nil
}

func procStatus(key string) string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), key+":") {
			kb, _ := strconv.Atoi(strings.Fields(sc.Text())[1])
			return bytesize.Human(int64(kb) << 10)
		}
	}
	return "unknown"
}
