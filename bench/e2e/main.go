// Command e2e is the end-to-end benchmark (docs/benchmarks.md): it loads N rows of about
// 200 bytes into a private MariaDB in fixed-size transactions, then reads the
// same binlog twice in the same run:
//
//   - raw: go-mysql's BinlogSyncer decoding every row event, nothing else;
//   - pipeline: odsync's capture → Pebble log → local ODS sink (JSON lines),
//     timed until the sink's cursor covers every row.
//
// It prints rows/s and MB/s for both and the ratio pipeline/raw, which is the
// figure that survives a noisy machine: raw and pipeline runs alternate for
// -runs rounds and the medians are printed. Then each half alone (capture →
// log; log → sink), and for the last round where the pipeline waited (log
// appends, sink writes). -pipeprofile, -cpuprofile and -trace write a CPU
// profile of the last pipeline round, of the sink stage, and an execution
// trace of the last round.
//
//	go run ./bench/e2e -rows 1000000 -txn 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/odsync/odsync/bench/workload"
	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/sink/local"
)

var (
	profilePath     string
	pipeProfilePath string
	tracePath       string
	runs            int
	retention       time.Duration
	memProfilePath  string
	captureOnly     bool
	inflight        int
	keepDir         bool
)

func main() {
	rows := flag.Int("rows", 1000000, "rows to insert")
	txn := flag.Int("txn", 1000, "rows per transaction")
	noSync := flag.Bool("nosync", false, "local sink without fsync")
	capOnly := flag.Bool("capture", false, "also time the capture alone (no log, no sink)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the sink stage (log → local sink) to this file")
	flag.StringVar(&tracePath, "trace", "", "write an execution trace of the whole pipeline run to this file")
	flag.StringVar(&pipeProfilePath, "pipeprofile", "", "write a CPU profile of the whole pipeline run to this file")
	flag.BoolVar(&keepDir, "keep", false, "keep the temporary directory (database, state, files)")
	flag.StringVar(&memProfilePath, "memprofile", "", "write an allocation profile (after the last pipeline round) to this file")
	flag.DurationVar(&retention, "retention", 0, "pipeline log retention (odsync's config default is 24h; 0 deletes what every sink wrote)")
	flag.IntVar(&runs, "runs", 3, "rounds of raw reader and pipeline, alternating (medians are printed)")
	flag.IntVar(&inflight, "inflight", 2, "sink batches in flight")
	flag.Parse()
	profilePath = *cpuProfile
	captureOnly = *capOnly
	if err := run(*rows, *txn, *noSync); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

func run(rows, txn int, noSync bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "odsync-bench-")
	if err != nil {
		return err
	}
	if keepDir {
		fmt.Println("keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	db, err := workload.StartSpine(ctx, filepath.Join(dir, "mariadb"))
	if err != nil {
		return err
	}
	defer db.Close()
	srv := db.Server
	start, err := workload.Position(db.SQL)
	if err != nil {
		return err
	}
	fmt.Printf("loading %d rows in %d-row transactions ...\n", rows, txn)
	t0 := time.Now()
	if err := workload.Load(db.SQL, rows, txn); err != nil {
		return err
	}
	end, err := workload.Position(db.SQL)
	if err != nil {
		return err
	}
	binlogBytes := int64(end.Pos) - int64(start.Pos) // one binlog file at these sizes is not guaranteed; see below
	if end.File != start.File {
		binlogBytes = -1
	}
	fmt.Printf("loaded in %s; binlog %s:%d → %s:%d\n", time.Since(t0).Round(time.Millisecond), start.File, start.Pos, end.File, end.Pos)

	// Alternate raw and pipeline runs; the medians and the median of the
	// per-round ratios are what a noisy machine cannot skew much.
	var raws, pipes, ratios []time.Duration
	var raw workload.Raw
	for r := 0; r < runs; r++ {
		raw, err = workload.ReadRaw(ctx, srv, 9001, start, rows)
		if err != nil {
			return err
		}
		cpu0 := cpuTime()
		d, err := runPipeline(ctx, srv.Addr(), dir, start, rows, noSync, r == runs-1)
		if err != nil {
			return err
		}
		fmt.Printf("round %d: raw %.2fs, pipeline %.2fs (%.2f CPU-s in odsync), ratio %.2f\n", r+1, raw.Duration.Seconds(), d.Seconds(),
			(cpuTime() - cpu0).Seconds(), raw.Duration.Seconds()/d.Seconds())
		raws, pipes = append(raws, raw.Duration), append(pipes, d)
		ratios = append(ratios, time.Duration(float64(time.Second)*raw.Duration.Seconds()/d.Seconds()))
	}
	if captureOnly {
		mcap := mysql.Config{Addr: srv.Addr(), User: "root", ServerID: 9003}
		src, err := mysql.New(mcap, nil, nil, mysql.Options{})
		if err != nil {
			return err
		}
		cctx, cancel := context.WithCancel(ctx)
		n := 0
		t0 := time.Now()
		var first time.Duration
		_ = src.Run(cctx, start.Encode(), func(ctx context.Context, evs []event.Event, cp []byte) error {
			if first == 0 {
				first = time.Since(t0)
			}
			n += len(evs)
			if n >= rows {
				cancel()
			}
			return nil
		})
		d := time.Since(t0)
		fmt.Printf("capture only: %d rows in %.2fs (first emit after %.2fs): %.0f rows/s\n", n, d.Seconds(), first.Seconds(), float64(n)/(d-first).Seconds())
	}
	if binlogBytes < 0 {
		binlogBytes = raw.Bytes
	}
	capDur, sinkDur, err := runStages(ctx, srv.Addr(), dir, start, rows, noSync)
	if err != nil {
		return err
	}
	rawDur, pipeDur := median(raws), median(pipes)
	mb := float64(binlogBytes) / 1e6
	fmt.Printf("\n%-28s %12s %10s %10s\n", "reader", "rows/s", "MB/s", "seconds")
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "raw go-mysql BinlogSyncer", float64(raw.Rows)/rawDur.Seconds(), mb/rawDur.Seconds(), rawDur.Seconds())
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "odsync → log → local sink", float64(rows)/pipeDur.Seconds(), mb/pipeDur.Seconds(), pipeDur.Seconds())
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "  stage: capture → log", float64(rows)/capDur.Seconds(), mb/capDur.Seconds(), capDur.Seconds())
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "  stage: log → local sink", float64(rows)/sinkDur.Seconds(), mb/sinkDur.Seconds(), sinkDur.Seconds())
	fmt.Printf("ratio pipeline/raw: %.2f (median of %d rounds; rows/s above are medians too)\n", median(ratios).Seconds(), runs)
	return nil
}

// openLog opens a fresh log at state starting at start, and a mapper for bench.*.
func openLog(ctx context.Context, state string, start mysql.Checkpoint) (*offsets.Log, *schema.Mapper, error) {
	log, err := offsets.Open(state, offsets.Options{MaxBytes: 8 << 30})
	if err != nil {
		return nil, nil, err
	}
	if _, err := log.Append(ctx, nil, start.Encode()); err != nil {
		log.Close()
		return nil, nil, err
	}
	mcfg := schema.Config{Include: []string{`bench\..*`}}
	mcfg.EnsureDefaults()
	mapper, err := schema.New(mcfg)
	if err != nil {
		log.Close()
		return nil, nil, err
	}
	return log, mapper, nil
}

// filesSink is the pipeline's local sink with the benchmark's batch policy.
func filesSink(dir string, noSync bool, mapper *schema.Mapper) ([]pipeline.SinkSpec, error) {
	sk, err := local.New(local.Config{Dir: dir, NoSync: noSync}, mapper)
	if err != nil {
		return nil, err
	}
	return []pipeline.SinkSpec{{Name: "files", Sink: sk, Policy: pipeline.BatchPolicy{MaxRows: 20000, MaxAge: 200 * time.Millisecond, InFlight: inflight}}}, nil
}

// runPipeline runs capture → log → local sink from start until the sink
// acknowledged want rows.
func runPipeline(ctx context.Context, addr, dir string, start mysql.Checkpoint, want int, noSync, profile bool) (time.Duration, error) {
	state := filepath.Join(dir, "state")
	defer os.RemoveAll(state)
	log, mapper, err := openLog(ctx, state, start)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	src, err := mysql.New(mysql.Config{Addr: addr, User: "root", ServerID: 9002}, mapper.Captures, nil, mysql.Options{})
	if err != nil {
		return 0, err
	}
	sinks, err := filesSink(filepath.Join(dir, "ods"), noSync, mapper)
	if err != nil {
		return 0, err
	}
	obs := &timing{}
	p := pipeline.New(log, workload.Capture(src), sinks, pipeline.Options{Observer: obs, Retention: retention})
	if profile {
		defer obs.print()
		if memProfilePath != "" {
			defer func() {
				if f, err := os.Create(memProfilePath); err == nil {
					_ = pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}()
		}
	}
	if pipeProfilePath != "" && profile {
		stop, err := startProfile(pipeProfilePath)
		if err != nil {
			return 0, err
		}
		defer stop()
	}
	if tracePath != "" && profile {
		f, err := os.Create(tracePath)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return 0, err
		}
		defer trace.Stop()
	}
	t0 := time.Now()
	var headAt time.Duration
	return workload.RunUntil(ctx, p, 20*time.Millisecond, func() bool {
		if headAt == 0 && log.Head() >= uint64(want) && profile {
			headAt = time.Since(t0)
			fmt.Printf("capture → log reached %d rows after %.2fs (%.0f rows/s)\n", want, headAt.Seconds(), float64(want)/headAt.Seconds())
		}
		c, _ := log.Cursor("files")
		return c >= uint64(want)
	})
}

// runStages times the two halves separately: capture into an empty log with
// no sink, then the sink alone draining the full log.
func runStages(ctx context.Context, addr, dir string, start mysql.Checkpoint, want int, noSync bool) (capDur, sinkDur time.Duration, err error) {
	state := filepath.Join(dir, "state-stages")
	defer os.RemoveAll(state)
	log, mapper, err := openLog(ctx, state, start)
	if err != nil {
		return 0, 0, err
	}
	defer log.Close()
	src, err := mysql.New(mysql.Config{Addr: addr, User: "root", ServerID: 9004}, mapper.Captures, nil, mysql.Options{})
	if err != nil {
		return 0, 0, err
	}
	capDur, err = workload.RunUntil(ctx, pipeline.New(log, workload.Capture(src), nil, pipeline.Options{}), 10*time.Millisecond,
		func() bool { return log.Head() >= uint64(want) })
	if err != nil {
		return 0, 0, err
	}
	sinks, err := filesSink(filepath.Join(dir, "ods-stages"), noSync, mapper)
	if err != nil {
		return 0, 0, err
	}
	if profilePath != "" {
		stop, err := startProfile(profilePath)
		if err != nil {
			return 0, 0, err
		}
		defer stop()
	}
	sinkDur, err = workload.RunUntil(ctx, pipeline.New(log, workload.Idle, sinks, pipeline.Options{}), 10*time.Millisecond,
		func() bool { c, _ := log.Cursor("files"); return c >= uint64(want) })
	return capDur, sinkDur, err
}

// startProfile starts a CPU profile written to path; stop ends it.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// timing is a pipeline.Observer that sums where the pipeline run waits.
type timing struct {
	mu                sync.Mutex
	appends, appended int
	appendTime        time.Duration
	writes, written   int
	writeTime         time.Duration
}

func (t *timing) Appended(events []event.Event, _ []byte, took time.Duration) {
	t.mu.Lock()
	t.appends++
	t.appended += len(events)
	t.appendTime += took
	t.mu.Unlock()
}

func (t *timing) SinkWrite(_ string, b *sink.Batch, took time.Duration, _ error) {
	t.mu.Lock()
	t.writes++
	t.written += len(b.Events)
	t.writeTime += took
	t.mu.Unlock()
}

func (t *timing) SinkAcked(string, uint64) {}

func (t *timing) print() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.appends == 0 || t.writes == 0 {
		return
	}
	fmt.Printf("pipeline: %d log appends (%.0f events each, %.1f ms each, %.2fs in all); %d sink writes (%.0f events each, %.1f ms each, %.2fs in all)\n",
		t.appends, float64(t.appended)/float64(t.appends), t.appendTime.Seconds()*1e3/float64(t.appends), t.appendTime.Seconds(),
		t.writes, float64(t.written)/float64(t.writes), t.writeTime.Seconds()*1e3/float64(t.writes), t.writeTime.Seconds())
}

// median returns the middle value (the upper middle of an even count).
func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[len(s)/2]
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
