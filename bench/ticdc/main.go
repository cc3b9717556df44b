// Command ticdc benchmarks odsync's TiCDC/Kafka source end to end against
// an in-process Kafka (franz-go's kfake, on 127.0.0.1) holding a simulated
// canal-json changefeed (TiDB extension, watermarks to every partition):
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
// The broker runs in this process and takes CPU too; the ratios to the raw
// fetch in the same run are the figures that survive a noisy machine.
//
//	go run ./bench/ticdc -rows 500000 -partitions 6 -tables 8
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/local"
)

var (
	rowsFlag   = flag.Int("rows", 300000, "row changes in the changefeed (one per message, ~800 bytes)")
	partsFlag  = flag.Int("partitions", 6, "topic partitions")
	tablesFlag = flag.Int("tables", 8, "tables (dispatched by table)")
	wmFlag     = flag.Int("watermark-every", 2000, "rows between watermarks")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the end-to-end run")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
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
}

func (r result) print() {
	fmt.Printf("%-34s %10d %12.0f %9.1f %9.2f %9.2f %12.0f\n", r.name, r.rows, float64(r.rows)/r.seconds,
		float64(r.bytes)/r.seconds/1e6, r.seconds, r.cpu, float64(r.rows)/r.cpu)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func timed(f func() (result, error)) (result, error) {
	runtime.GC()
	c0 := cpuSeconds()
	r, err := f()
	r.cpu = cpuSeconds() - c0
	return r, err
}

// table is a 10-column table like the decoder benchmark's.
func table(i int) *kh.Table {
	return &kh.Table{DB: "bench", Name: "t" + strconv.Itoa(i), Cols: []kh.Col{
		kh.C("id", kh.ColBigint), kh.C("user_id", kh.ColBigint), kh.C("qty", kh.ColInt), kh.C("state", kh.ColVarchar),
		kh.C("amount", kh.Col{MySQLType: "decimal", SQLType: 3}), kh.C("price", kh.Col{MySQLType: "double", SQLType: 8}),
		kh.C("created_at", kh.Col{MySQLType: "datetime", SQLType: 93}), kh.C("updated_at", kh.Col{MySQLType: "timestamp", SQLType: 93}),
		kh.C("note", kh.ColVarchar), kh.C("payload", kh.Col{MySQLType: "text", SQLType: 2005}),
	}}
}

// changefeed builds the messages: inserts dispatched by table, watermarks
// to every partition every -watermark-every rows.
func changefeed(rows, parts, tables, wmEvery int) ([]kh.Message, int64) {
	tbls := make([]*kh.Table, tables)
	for i := range tbls {
		tbls[i] = table(i)
	}
	note := "a note of some length that looks like real data, with words"
	payload := `{"items":[{"sku":"A-1001","n":2},{"sku":"B-2002","n":1}],"source":"web","flags":["gift","express"],"comment":"leave at the door"}`
	msgs := make([]kh.Message, 0, rows+rows/wmEvery*parts+parts)
	var size int64
	ms := int64(1767225600000)
	for i := 0; i < rows; i++ {
		ts := kh.TSO(ms+int64(i/10), uint64(i%10))
		t := i % tables
		row := kh.Row{kh.V(strconv.Itoa(i + 1)), kh.V(strconv.Itoa(1000 + i%5000)), kh.V(strconv.Itoa(i % 7)), kh.V("paid"),
			kh.V("1234.56"), kh.V("19.99"), kh.V("2026-01-01 10:00:00"), kh.V("2026-01-01 10:00:01"), kh.V(note), kh.V(payload)}
		v := tbls[t].CanalRow("INSERT", ts, row, nil)
		size += int64(len(v))
		msgs = append(msgs, kh.Message{Partition: t % parts, Value: v})
		if (i+1)%wmEvery == 0 || i == rows-1 {
			for p := 0; p < parts; p++ {
				msgs = append(msgs, kh.Message{Partition: p, Value: kh.CanalWatermark(ts)})
			}
		}
	}
	return msgs, size
}

func run() error {
	dir, err := os.MkdirTemp("", "odsync-bench-ticdc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": *partsFlag}})
	if err != nil {
		return err
	}
	defer cl.Close()
	msgs, size := changefeed(*rowsFlag, *partsFlag, *tablesFlag, *wmFlag)
	t0 := time.Now()
	ctx := context.Background()
	p := cl.Producer("cdc")
	for i := 0; i < len(msgs); i += 5000 {
		if err := p.Produce(ctx, msgs[i:min(i+5000, len(msgs))]...); err != nil {
			return err
		}
	}
	p.Close()
	fmt.Printf("changefeed: %d rows (%.1f MB of canal-json, %d messages) in %d partitions, %d tables; produced in %s\n",
		*rowsFlag, float64(size)/1e6, len(msgs), *partsFlag, *tablesFlag, time.Since(t0).Round(time.Millisecond))
	msgs = nil
	runtime.GC()

	var results []result
	raw, err := timed(func() (result, error) { return rawFetch(cl, *partsFlag) })
	if err != nil {
		return err
	}
	raw.bytes = size
	results = append(results, raw)
	dec, err := timed(func() (result, error) { return sourceOnly(cl) })
	if err != nil {
		return err
	}
	dec.bytes = size
	results = append(results, dec)
	toLog, err := timed(func() (result, error) { return toPipeline(cl, filepath.Join(dir, "log"), "", false) })
	if err != nil {
		return err
	}
	toLog.bytes = size
	results = append(results, toLog)
	e2e, err := timed(func() (result, error) {
		return toPipeline(cl, filepath.Join(dir, "e2e"), filepath.Join(dir, "ods"), true)
	})
	if err != nil {
		return err
	}
	e2e.bytes = size
	results = append(results, e2e)

	fmt.Printf("\n%-34s %10s %12s %9s %9s %9s %12s\n", "run", "rows", "rows/s", "MB/s", "seconds", "cpu-sec", "rows/cpu-s")
	for _, r := range results {
		r.print()
	}
	fmt.Printf("\nratio source / raw fetch (CPU time):      %.2f\n", raw.cpu/dec.cpu)
	fmt.Printf("ratio end to end / raw fetch (CPU time):  %.2f\n", raw.cpu/e2e.cpu)
	fmt.Printf("(%d CPUs, GOMAXPROCS %d; the in-process broker's CPU is included in every figure)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	return nil
}

// rawFetch reads every message of every partition with kafka-go.
func rawFetch(cl *kh.Cluster, parts int) (result, error) {
	client := &kafkago.Client{Addr: kafkago.TCP(cl.Addrs...), Timeout: 30 * time.Second}
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
					if r.Value != nil {
						buf = buf[:r.Value.Len()]
						r.Value.Read(buf)
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

func sourceConfig(cl *kh.Cluster) kafka.SourceConfig {
	return kafka.SourceConfig{Brokers: cl.Addrs, Topics: []string{"cdc"}, FetchMaxWait: 100 * time.Millisecond}
}

// sourceOnly runs the source into an emit that drops everything.
func sourceOnly(cl *kh.Cluster) (result, error) {
	src, err := kafka.NewSource(sourceConfig(cl), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return result{}, err
	}
	defer src.Close()
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
	cancel()
	<-errc
	return result{name: "source (decode + watermark order)", rows: int(rows.Load()), seconds: d.Seconds()}, nil
}

// toPipeline runs source → log (→ local sink when out is set).
func toPipeline(cl *kh.Cluster, state, out string, profile bool) (result, error) {
	log, err := offsets.Open(state, offsets.Options{})
	if err != nil {
		return result{}, err
	}
	defer log.Close()
	mapper, err := schema.New(schema.Config{})
	if err != nil {
		return result{}, err
	}
	cfg := sourceConfig(cl)
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
		sinks = append(sinks, pipeline.SinkSpec{Name: "local", Sink: sk, Policy: pipeline.BatchPolicy{MaxRows: 50000, MaxBytes: 64 << 20, MaxAge: time.Second}})
	}
	if profile && *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	pl := pipeline.New(log, src, sinks, pipeline.Options{})
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
