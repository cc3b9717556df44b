// Command ticdc benchmarks odsync's TiCDC/Kafka source end to end against
// a Kafka (franz-go's kfake, on 127.0.0.1, in a child process unless
// -inproc) holding a simulated changefeed (canal-json with the TiDB
// extension, or open-protocol; watermarks to every partition):
//
//   - raw fetch: kafka-go fetching every message of every partition, no
//     decoding — the reference reader;
//   - source (decode + order): the Kafka source with its watermark merger,
//     emitting into nothing;
//   - source → log: the source appending into the durable Pebble log
//     (the pipeline with no sink);
//   - end to end: source → log → local sink (JSON lines), timed until the
//     sink's cursor holds every row.
//
// The phases run in alternating rounds and the medians are printed: rows/s,
// rows per CPU-second of this process (the broker's CPU is not included)
// and the peak RSS of each phase. The ratios to the raw fetch in the same
// run are the figures that survive a noisy machine. See docs/benchmarks.md.
//
//	go run ./bench/ticdc -rows 300000 -partitions 6 -tables 8 -rounds 3
//	go run ./bench/ticdc -rows 1000000 -phases e2e -rounds 1 -idle 10s
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/local"
)

var (
	rowsFlag    = flag.Int("rows", 300000, "row changes in the changefeed (one per message, ~800 bytes)")
	partsFlag   = flag.Int("partitions", 6, "topic partitions")
	tablesFlag  = flag.Int("tables", 8, "tables (dispatched by table)")
	wmFlag      = flag.Int("watermark-every", 2000, "rows between watermarks")
	txnFlag     = flag.Int("txn", 1, "rows per transaction (one commitTs)")
	protoFlag   = flag.String("protocol", "canal-json", "canal-json or open-protocol (16 events per message)")
	roundsFlag  = flag.Int("rounds", 3, "alternating rounds of every phase; medians are printed")
	phasesFlag  = flag.String("phases", "raw,source,log,e2e", "phases to run, in this order in every round")
	inprocFlag  = flag.Bool("inproc", false, "run the broker in this process (its CPU and memory then count in every figure)")
	idleFlag    = flag.Duration("idle", 0, "after the last end-to-end round caught up, stay idle this long and report the RSS")
	cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile of the last round of -profile-phase")
	memProfile  = flag.String("memprofile", "", "write a heap profile at the end of the last round of -profile-phase (with -idle also FILE.idle: what stays live after the idle release)")
	peakProfile = flag.String("peakprofile", "", "write a heap profile whenever the Go heap reaches a new peak (16MiB steps)")
	profPhase   = flag.String("profile-phase", "e2e", "the phase -cpuprofile and -memprofile profile")
	batchRows   = flag.Int("batch-rows", 0, "sink batch max_rows (0: the default)")
	batchBytes  = flag.Int64("batch-bytes", 0, "sink batch max_bytes (0: the default)")
	maxBuffer   = flag.Int64("max-buffer", 0, "source max_buffer_bytes (0: the default)")
	fetchMax    = flag.Int64("fetch-max-bytes", 0, "source fetch_max_bytes (0: the default)")
	memtable    = flag.Int64("memtable", 0, "the log's memtable size (0: the default; the pipeline paces at half of it)")
	memoryLimit = flag.Int64("memory-limit", 0, "debug.SetMemoryLimit in bytes (0: Go's default)")
)

// brokerEnv makes the program the broker child: it starts kfake, produces
// the changefeed, prints the brokers' addresses and runs until stdin closes.
const brokerEnv = "ODSYNC_BENCH_TICDC_BROKER"

func main() {
	flag.Parse()
	var err error
	if os.Getenv(brokerEnv) == "1" {
		err = broker()
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/ticdc:", err)
		os.Exit(1)
	}
}

type result struct {
	name    string
	rows    int
	bytes   int64
	seconds float64
	cpu     float64
	hwm     int64 // peak RSS during the phase (VmHWM after resetting it), bytes
	heap    int64 // peak Go heap (HeapAlloc, sampled every 50ms)
	goSys   int64 // peak memory the Go runtime holds from the OS (Sys - HeapReleased)
}

func (r result) print() {
	fmt.Printf("%-34s %10d %12.0f %9.1f %9.2f %9.2f %12.0f %8.0f\n", r.name, r.rows, float64(r.rows)/r.seconds,
		float64(r.bytes)/r.seconds/1e6, r.seconds, r.cpu, float64(r.rows)/r.cpu, float64(r.hwm)/(1<<20))
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// procStatus returns a /proc/self/status field in bytes (VmHWM, VmRSS).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetHWM resets the peak RSS (Linux: clear_refs 5).
func resetHWM() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func timed(f func() (result, error)) (result, error) {
	runtime.GC()
	debug.FreeOSMemory()
	resetHWM()
	c0 := cpuSeconds()
	stop := make(chan struct{})
	peak := make(chan [2]uint64)
	go func() { // peak Go heap and Go-managed memory, sampled
		var ms runtime.MemStats
		var p [2]uint64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if *peakProfile != "" && ms.HeapAlloc > p[0]+16<<20 {
				if f, err := os.Create(*peakProfile); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
			p[0], p[1] = max(p[0], ms.HeapAlloc), max(p[1], ms.Sys-ms.HeapReleased)
			select {
			case <-stop:
				peak <- p
				return
			case <-t.C:
			}
		}
	}()
	r, err := f()
	r.cpu = cpuSeconds() - c0
	r.hwm = procStatus("VmHWM")
	close(stop)
	p := <-peak
	r.heap, r.goSys = int64(p[0]), int64(p[1])
	return r, err
}

// table is a 10-column table like the decoder benchmark's.
func table(i int) *kh.Table {
	return &kh.Table{DB: "bench", Name: "t" + strconv.Itoa(i), Cols: []kh.Col{
		kh.C("id", kh.ColBigint), kh.C("user_id", kh.ColBigint), kh.C("qty", kh.ColInt), kh.C("state", kh.ColVarchar),
		kh.C("amount", kh.Col{MySQLType: "decimal", SQLType: 3, OpenType: 246}), kh.C("price", kh.Col{MySQLType: "double", SQLType: 8, OpenType: 5}),
		kh.C("created_at", kh.Col{MySQLType: "datetime", SQLType: 93, OpenType: 12}), kh.C("updated_at", kh.Col{MySQLType: "timestamp", SQLType: 93, OpenType: 7}),
		kh.C("note", kh.ColVarchar), kh.C("payload", kh.Col{MySQLType: "text", SQLType: 2005, OpenType: 252}),
	}}
}

// changefeed produces the messages: inserts dispatched by table,
// watermarks to every partition every -watermark-every rows (and after
// the last row). It returns the bytes of row messages and the messages.
func changefeed(ctx context.Context, p *kh.Producer, rows, parts, tables, wmEvery, txn int, proto string) (int64, int, error) {
	tbls := make([]*kh.Table, tables)
	for i := range tbls {
		tbls[i] = table(i)
	}
	note := "a note of some length that looks like real data, with words"
	payload := `{"items":[{"sku":"A-1001","n":2},{"sku":"B-2002","n":1}],"source":"web","flags":["gift","express"],"comment":"leave at the door"}`
	open := proto == codec.ProtocolOpen
	created, updated := "2026-01-01 10:00:00", "2026-01-01 10:00:01"
	if open {
		// open-protocol: datetimes are JSON strings, TEXT is base64.
		created, updated = strconv.Quote(created), strconv.Quote(updated)
		payload = strconv.Quote(base64.StdEncoding.EncodeToString([]byte(payload)))
	}
	var msgs []kh.Message
	var size, flushed int64
	n := 0
	flush := func() error {
		n += len(msgs)
		err := p.Produce(ctx, msgs...)
		msgs = msgs[:0]
		return err
	}
	// open-protocol batches events per partition (TiCDC's max-batch-size 16).
	batches := make([][]kh.OpenEvent, parts)
	flushOpen := func(part int) {
		if len(batches[part]) == 0 {
			return
		}
		k, v := kh.OpenBatch(batches[part]...)
		size += int64(len(k) + len(v))
		msgs = append(msgs, kh.Message{Partition: part, Key: k, Value: v})
		batches[part] = batches[part][:0]
	}
	ms := int64(1767225600000)
	var ts uint64
	for i := 0; i < rows; i++ {
		x := i / max(txn, 1)
		ts = kh.TSO(ms+int64(x/10), uint64(x%10))
		t := i % tables
		row := kh.Row{kh.V(strconv.Itoa(i + 1)), kh.V(strconv.Itoa(1000 + i%5000)), kh.V(strconv.Itoa(i % 7)), kh.V("paid"),
			kh.V("1234.56"), kh.V("19.99"), kh.V(created), kh.V(updated), kh.V(note), kh.V(payload)}
		if open {
			part := t % parts
			batches[part] = append(batches[part], tbls[t].OpenRow("INSERT", ts, row, nil))
			if len(batches[part]) == 16 {
				flushOpen(part)
			}
		} else {
			v := tbls[t].CanalRow("INSERT", ts, row, nil)
			size += int64(len(v))
			msgs = append(msgs, kh.Message{Partition: t % parts, Value: v})
		}
		lastOfTxn := (i+1)%max(txn, 1) == 0 || i == rows-1
		if lastOfTxn && ((i+1)/max(txn, 1)%max(wmEvery/max(txn, 1), 1) == 0 || i == rows-1) {
			for part := 0; part < parts; part++ {
				if open {
					flushOpen(part)
					k, _ := kh.OpenBatch(kh.OpenResolved(ts))
					msgs = append(msgs, kh.Message{Partition: part, Key: k})
				} else {
					msgs = append(msgs, kh.Message{Partition: part, Value: kh.CanalWatermark(ts)})
				}
			}
		}
		// Record batches of about 1 MB per partition, as a TiCDC producer
		// writes them (max.message.bytes): a fetch returns whole batches.
		if len(msgs) >= 5000 || size-flushed >= int64(parts)<<20 {
			flushed = size
			if err := flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	return size, n + len(msgs), flush()
}

// newCluster starts kfake with the topic (record batches up to 64 MiB:
// the producer batches open-protocol messages of ~15 KB by the thousand).
func newCluster() (*kh.Cluster, error) {
	cl, err := kh.Start(kh.Options{})
	if err != nil {
		return nil, err
	}
	if err := cl.CreateTopicConfig("cdc", *partsFlag, map[string]string{"max.message.bytes": strconv.Itoa(64 << 20)}); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// broker is the child process: kfake holding the changefeed.
func broker() error {
	cl, err := newCluster()
	if err != nil {
		return err
	}
	defer cl.Close()
	t0 := time.Now()
	p := cl.Producer("cdc")
	size, n, err := changefeed(context.Background(), p, *rowsFlag, *partsFlag, *tablesFlag, *wmFlag, *txnFlag, *protoFlag)
	if err != nil {
		return err
	}
	p.Close()
	fmt.Printf("%s %d %d %d\n", strings.Join(cl.Addrs, ","), size, n, time.Since(t0).Milliseconds())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// startBroker starts the broker (a child process unless -inproc) and
// returns its addresses, the changefeed's bytes and a stop function.
func startBroker() (addrs []string, size int64, stop func(), err error) {
	if *inprocFlag {
		cl, err := newCluster()
		if err != nil {
			return nil, 0, nil, err
		}
		t0 := time.Now()
		p := cl.Producer("cdc")
		size, n, err := changefeed(context.Background(), p, *rowsFlag, *partsFlag, *tablesFlag, *wmFlag, *txnFlag, *protoFlag)
		p.Close()
		if err != nil {
			cl.Close()
			return nil, 0, nil, err
		}
		fmt.Printf("changefeed (%s): %d rows (%.1f MB, %d messages) in %d partitions, %d tables, %d rows per transaction; produced in %s (broker in process)\n",
			*protoFlag, *rowsFlag, float64(size)/1e6, n, *partsFlag, *tablesFlag, *txnFlag, time.Since(t0).Round(time.Millisecond))
		return cl.Addrs, size, cl.Close, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, 0, nil, err
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), brokerEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, nil, err
	}
	stop = func() {
		in.Close()
		_ = cmd.Wait()
	}
	var line string
	if _, err := fmt.Fscanln(out, &line, &size, new(int), new(int64)); err != nil {
		stop()
		return nil, 0, nil, fmt.Errorf("broker child: %w", err)
	}
	fmt.Printf("changefeed (%s): %d rows (%.1f MB) in %d partitions, %d tables, %d rows per transaction (broker in a child process)\n",
		*protoFlag, *rowsFlag, float64(size)/1e6, *partsFlag, *tablesFlag, *txnFlag)
	return strings.Split(line, ","), size, stop, nil
}

func run() error {
	if *memoryLimit > 0 {
		debug.SetMemoryLimit(*memoryLimit)
	}
	dir, err := os.MkdirTemp("", "odsync-bench-ticdc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addrs, size, stop, err := startBroker()
	if err != nil {
		return err
	}
	defer stop()
	runtime.GC()

	phases := strings.Split(*phasesFlag, ",")
	byPhase := map[string][]result{}
	for round := 1; round <= *roundsFlag; round++ {
		for _, ph := range phases {
			last := round == *roundsFlag
			prof := last && ph == *profPhase
			var f func() (result, error)
			switch ph {
			case "raw":
				f = func() (result, error) { return rawFetch(addrs, *partsFlag) }
			case "source":
				f = func() (result, error) { return sourceOnly(addrs, filepath.Join(dir, "spill"), prof) }
			case "log":
				f = func() (result, error) {
					return toPipeline(addrs, filepath.Join(dir, "log"+strconv.Itoa(round)), "", prof, false)
				}
			case "e2e":
				f = func() (result, error) {
					return toPipeline(addrs, filepath.Join(dir, "e2e"+strconv.Itoa(round)), filepath.Join(dir, "ods"+strconv.Itoa(round)), prof, last && *idleFlag > 0)
				}
			default:
				return fmt.Errorf("unknown phase %q", ph)
			}
			r, err := timed(f)
			if err != nil {
				return err
			}
			r.bytes = size
			fmt.Printf("round %d: %-34s %9.0f rows/s %9.0f rows/cpu-s  peak RSS %4.0f MiB (Go heap %3.0f, Go runtime %3.0f)\n", round, r.name,
				float64(r.rows)/r.seconds, float64(r.rows)/r.cpu, float64(r.hwm)/(1<<20), float64(r.heap)/(1<<20), float64(r.goSys)/(1<<20))
			byPhase[ph] = append(byPhase[ph], r)
		}
	}

	fmt.Printf("\nmedians of %d rounds\n%-34s %10s %12s %9s %9s %9s %12s %8s\n", *roundsFlag, "run", "rows", "rows/s", "MB/s", "seconds", "cpu-sec", "rows/cpu-s", "RSS MiB")
	med := map[string]result{}
	for _, ph := range phases {
		rs := byPhase[ph]
		m := rs[0]
		m.seconds = median(rs, func(r result) float64 { return r.seconds })
		m.cpu = median(rs, func(r result) float64 { return r.cpu })
		m.hwm = int64(median(rs, func(r result) float64 { return float64(r.hwm) }))
		med[ph] = m
		m.print()
	}
	if raw, ok := med["raw"]; ok {
		for _, ph := range phases[1:] {
			if r, ok := med[ph]; ok && ph != "raw" {
				fmt.Printf("ratio %-6s / raw fetch (CPU time):  %.2f\n", ph, raw.cpu/r.cpu)
			}
		}
	}
	fmt.Printf("(%d CPUs, GOMAXPROCS %d; the broker runs %s)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0),
		map[bool]string{true: "in this process: its CPU and memory are in every figure", false: "in a child process: not in the figures"}[*inprocFlag])
	return nil
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// rawFetch reads every message of every partition with kafka-go.
func rawFetch(addrs []string, parts int) (result, error) {
	client := &kafkago.Client{Addr: kafkago.TCP(addrs...), Timeout: 30 * time.Second}
	ctx := context.Background()
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parts)
	t0 := time.Now()
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{"cdc": {kafkago.LastOffsetOf(p)}}})
			if err != nil {
				errs <- err
				return
			}
			end := lo.Topics["cdc"][0].LastOffset
			off := int64(0)
			buf := make([]byte, 0, 4096)
			for off < end {
				res, err := client.Fetch(ctx, &kafkago.FetchRequest{Topic: "cdc", Partition: p, Offset: off, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond})
				if err != nil {
					errs <- err
					return
				}
				for {
					r, err := res.Records.ReadRecord()
					if err != nil {
						break
					}
					for _, b := range []kafkago.Bytes{r.Key, r.Value} {
						if b != nil {
							buf = slices.Grow(buf[:0], b.Len())[:b.Len()]
							_, _ = io.ReadFull(b, buf)
							b.Close() // its pages go back to kafka-go's pool
						}
					}
					off = r.Offset + 1
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	return result{name: "raw kafka-go fetch (messages)", rows: int(n.Load()), seconds: time.Since(t0).Seconds()}, nil
}

func sourceConfig(addrs []string, spillDir string) kafka.SourceConfig {
	return kafka.SourceConfig{SpillDir: spillDir, Brokers: addrs, Topics: []string{"cdc"}, FetchMaxWait: 100 * time.Millisecond, Config: codec.Config{Protocol: *protoFlag},
		MaxBufferBytes: bytesize.Size(*maxBuffer), FetchMaxBytes: bytesize.Size(*fetchMax)}
}

// profile starts the CPU profile when on; the returned function stops it
// and writes the heap profile.
func profile(on bool) (func(), error) {
	if !on {
		return func() {}, nil
	}
	var cpu *os.File
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		cpu = f
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if *memProfile != "" {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}, nil
}

// sourceOnly runs the source into an emit that drops everything.
func sourceOnly(addrs []string, spillDir string, prof bool) (result, error) {
	src, err := kafka.NewSource(sourceConfig(addrs, spillDir), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return result{}, err
	}
	defer src.Close()
	stopProf, err := profile(prof)
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rows atomic.Int64
	t0 := time.Now()
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, nil, func(ctx context.Context, evs []event.Event, cp []byte) error {
			rows.Add(int64(len(evs)))
			return nil
		})
	}()
	for rows.Load() < int64(*rowsFlag) {
		select {
		case err := <-errc:
			return result{}, fmt.Errorf("source stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	d := time.Since(t0)
	stopProf()
	cancel()
	<-errc
	return result{name: "source (decode + watermark order)", rows: int(rows.Load()), seconds: d.Seconds()}, nil
}

// toPipeline runs source → log (→ local sink when out is set); with idle
// it then stays idle for -idle and reports the RSS.
func toPipeline(addrs []string, state, out string, prof, idle bool) (result, error) {
	log, err := offsets.Open(state, offsets.Options{MemTableSize: *memtable})
	if err != nil {
		return result{}, err
	}
	defer log.Close()
	mapper, err := schema.New(schema.Config{})
	if err != nil {
		return result{}, err
	}
	cfg := sourceConfig(addrs, filepath.Join(state, "spill"))
	cfg.Durable = log.Checkpoint
	src, err := kafka.NewSource(cfg, mapper.Captures, slog.New(slog.DiscardHandler))
	if err != nil {
		return result{}, err
	}
	defer src.Close()
	var sinks []pipeline.SinkSpec
	var sk *local.Sink
	if out != "" {
		if sk, err = local.New(local.Config{Dir: out, NoSync: true}, mapper); err != nil {
			return result{}, err
		}
		sinks = append(sinks, pipeline.SinkSpec{Name: "local", Sink: sk, Policy: pipeline.BatchPolicy{MaxRows: *batchRows, MaxBytes: bytesize.Size(*batchBytes)}})
	}
	stopProf, err := profile(prof)
	if err != nil {
		return result{}, err
	}
	pl := pipeline.New(log, src, sinks, pipeline.Options{PaceBytes: *memtable / 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	t0 := time.Now()
	go func() { errc <- pl.Run(ctx) }()
	want := uint64(*rowsFlag)
	done := func() bool {
		if out == "" {
			return log.Head() >= want
		}
		c, ok := log.Cursor("local")
		return ok && c >= want
	}
	for !done() {
		select {
		case err := <-errc:
			return result{}, fmt.Errorf("pipeline stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	d := time.Since(t0)
	stopProf()
	if idle {
		hwm := procStatus("VmHWM")
		time.Sleep(*idleFlag)
		fmt.Printf("idle %s after catching up: RSS %.0f MiB (anonymous %.0f, file %.0f; peak while streaming %.0f MiB), Go heap in use %.0f MiB\n",
			*idleFlag, mib(procStatus("VmRSS")), mib(procStatus("RssAnon")), mib(procStatus("RssFile")), mib(hwm), heapInUse()/(1<<20))
		// What odsync run does after 10 idle seconds (cmd/odsync trimWhenIdle).
		log.ReleaseBuffers()
		debug.FreeOSMemory()
		time.Sleep(time.Second)
		fmt.Printf("after returning freed memory (as odsync run does when idle): RSS %.0f MiB (anonymous %.0f, file %.0f), Go heap in use %.0f MiB\n",
			mib(procStatus("VmRSS")), mib(procStatus("RssAnon")), mib(procStatus("RssFile")), heapInUse()/(1<<20))
		if *memProfile != "" { // what stays live while idle
			if f, err := os.Create(*memProfile + ".idle"); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}
	cancel()
	if err := <-errc; err != nil {
		return result{}, err
	}
	name := "source → Pebble log"
	if out != "" {
		sk.Close(context.Background())
		name = "source → log → local sink (jsonl)"
	}
	return result{name: name, rows: int(log.Head()), seconds: d.Seconds()}, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func heapInUse() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse)
}
