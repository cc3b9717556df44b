// Command kafkasink benchmarks the scale-out topology (docs/kafka-sink.md):
//
//   - capture → log: the MySQL capture into the Pebble log, no sink (the
//     reference, as in bench/mysql);
//   - capture → Kafka: the MySQL capture, the log and the Kafka sink
//     (odsync format, one topic of -partitions partitions) into an
//     in-process kfake, timed until the sink's cursor holds every change;
//   - Kafka → S3 with 1, 2, 3 workers: odsync binaries in one consumer
//     group (source kafka, protocol odsync) reading that topic into a
//     private versitygw, timed until the group has committed every
//     partition's end and the workers have drained and exited; the CPU
//     time is the workers' own (rusage of the child processes).
//
// The broker runs in this process; the capture rows include its CPU.
//
//	go run ./bench/kafkasink -rows 200000 -partitions 6
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/odsync/odsync/bench/workload"
	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	kafkasink "github.com/odsync/odsync/sink/kafka"
)

var (
	rowsFlag    = flag.Int("rows", 200000, "rows inserted (~200 bytes each, 1000-row transactions)")
	partsFlag   = flag.Int("partitions", 6, "partitions of the topic")
	workersFlag = flag.String("workers", "1,2,3", "worker counts of the Kafka → S3 rounds")
	roundsFlag  = flag.Int("rounds", 1, "rounds of each worker count (alternating)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/kafkasink:", err)
		os.Exit(1)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func source(addr string, id uint32, store mysql.Store) (*mysql.Source, error) {
	cfg := mysql.Config{Addr: addr, User: "root", ServerID: id, Snapshot: mysql.SnapshotNever, ProgressInterval: time.Hour}
	return mysql.New(cfg, func(t event.TableID) bool { return t.DB == "bench" }, slog.New(slog.DiscardHandler), mysql.Options{Store: store})
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "odsync-bench-kafkasink-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wdb, err := workload.StartSpine(ctx, filepath.Join(dir, "mariadb"), "--max-binlog-size=1G")
	if err != nil {
		return err
	}
	defer wdb.Close()
	start, err := workload.Position(wdb.SQL)
	if err != nil {
		return err
	}
	if err := workload.Load(wdb.SQL, *rowsFlag, 1000); err != nil {
		return err
	}
	want := uint64(*rowsFlag)
	fmt.Printf("loaded %d rows\n\n%-36s %9s %10s %9s %9s %14s\n", want, "run", "rows", "rows/s", "seconds", "cpu-sec", "cpu-µs/row")
	line := func(name string, rows uint64, secs, cpu float64) {
		fmt.Printf("%-36s %9d %10.0f %9.2f %9.2f %14.1f\n", name, rows, float64(rows)/secs, secs, cpu, cpu/float64(rows)*1e6)
	}

	cl, err := kh.Start(kh.Options{})
	if err != nil {
		return err
	}
	defer cl.Close()
	for r := 0; r < *roundsFlag; r++ {
		if err := captureRound(ctx, dir, wdb, start, cl, r, want, line); err != nil {
			return err
		}
	}
	ends, err := endOffsets(ctx, cl.Addrs, "bench0", *partsFlag)
	if err != nil {
		return err
	}
	var msgs int64
	for _, e := range ends {
		msgs += e
	}
	fmt.Printf("%-36s %9d messages in %d partitions (rows, and watermarks)\n", "topic bench0", msgs, *partsFlag)
	return workerRounds(ctx, dir, cl, want, ends, line)
}

// captureRound times capture → log and capture → Kafka (topic bench<r>).
func captureRound(ctx context.Context, dir string, wdb *workload.DB, start mysql.Checkpoint, cl *kh.Cluster, r int, want uint64,
	line func(string, uint64, float64, float64)) error {
	topic := fmt.Sprintf("bench%d", r)
	if err := cl.CreateTopic(topic, *partsFlag); err != nil {
		return err
	}
	// capture → log
	{
		log, err := offsets.Open(filepath.Join(dir, fmt.Sprintf("state-log%d", r)), offsets.Options{})
		if err != nil {
			return err
		}
		if _, err := log.Append(ctx, nil, start.Encode()); err != nil {
			return err
		}
		src, err := source(wdb.Server.Addr(), 9201, log)
		if err != nil {
			return err
		}
		c0 := cpuSeconds()
		d, err := workload.RunUntil(ctx, pipeline.New(log, workload.Capture(src), nil, pipeline.Options{}), 5*time.Millisecond,
			func() bool { return log.Head() >= want })
		if err != nil {
			return err
		}
		line("capture → Pebble log", log.Head(), d.Seconds(), cpuSeconds()-c0)
		log.Close()
	}

	// capture → Kafka
	{
		log, err := offsets.Open(filepath.Join(dir, fmt.Sprintf("state-kafka%d", r)), offsets.Options{})
		if err != nil {
			return err
		}
		if _, err := log.Append(ctx, nil, start.Encode()); err != nil {
			return err
		}
		src, err := source(wdb.Server.Addr(), 9202, log)
		if err != nil {
			return err
		}
		sk, err := kafkasink.New(kafkasink.Config{Brokers: cl.Addrs, Topic: topic}, nil)
		if err != nil {
			return err
		}
		pol := pipeline.BatchPolicy{}
		pol.EnsureDefaults()
		p := pipeline.New(log, workload.Capture(src), []pipeline.SinkSpec{{Name: "kafka", Sink: sk, Policy: pol}}, pipeline.Options{})
		c0 := cpuSeconds()
		d, err := workload.RunUntil(ctx, p, 5*time.Millisecond, func() bool { return log.Cursors()["kafka"] >= want })
		if err != nil {
			return err
		}
		cpu := cpuSeconds() - c0
		if err := sk.Close(ctx); err != nil {
			return err
		}
		line("capture → Kafka (odsync format)", log.Cursors()["kafka"], d.Seconds(), cpu)
		log.Close()
	}
	return nil
}

// workerRounds times Kafka → S3 (topic bench0) with each worker count,
// alternating, -rounds times.
func workerRounds(ctx context.Context, dir string, cl *kh.Cluster, want uint64, ends map[int32]int64,
	line func(string, uint64, float64, float64)) error {
	if *workersFlag == "" {
		return nil
	}
	bin, err := workload.BuildOdsync(dir)
	if err != nil {
		return err
	}
	srv, err := s3server.Start(ctx, s3server.Options{Dir: filepath.Join(dir, "s3"), Buckets: []string{"ods"}})
	if err != nil {
		return err
	}
	defer srv.Close()
	var counts []int
	for _, f := range strings.Split(*workersFlag, ",") {
		var n int
		if fmt.Sscan(f, &n); n > 0 {
			counts = append(counts, n)
		}
	}
	round := 0
	for r := 0; r < *roundsFlag; r++ {
		for _, n := range counts {
			round++
			secs, cpu, err := workers(ctx, bin, dir, srv, cl.Addrs, round, n, ends)
			if err != nil {
				return err
			}
			line(fmt.Sprintf("Kafka → S3, %d worker(s)", n), want, secs, cpu)
		}
	}
	return nil
}

// workers runs n workers in a fresh group until they have read and
// written everything; it returns the wall time and their CPU time.
func workers(ctx context.Context, bin, dir string, srv *s3server.Server, brokers []string, round, n int, ends map[int32]int64) (float64, float64, error) {
	group := fmt.Sprintf("bench-%d", round)
	var procs []*workload.Process
	t0 := time.Now()
	for i := range n {
		wd := filepath.Join(dir, fmt.Sprintf("round%d-worker%d", round, i))
		if err := os.MkdirAll(wd, 0o755); err != nil {
			return 0, 0, err
		}
		cfg := filepath.Join(wd, "odsync.yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`state:
  dir: %s
source:
  type: kafka
  kafka:
    brokers: [%s]
    topics: [bench0]
    group_id: %s
    protocol: odsync
    commit_interval: 200ms
    session_timeout: 6s
    heartbeat_interval: 500ms
mapping:
  include: ['bench\..*']
sinks:
  - name: s3
    type: s3
    s3:
      bucket: ods
      prefix: %s/w%d
      endpoint: %s
      path_style: true
      access_key_id: %s
      secret_access_key: %s
      format: parquet
log:
  level: warn
`, filepath.Join(wd, "state"), strings.Join(brokers, ", "), group, group, i, srv.Endpoint, srv.AccessKey, srv.SecretKey)), 0o600); err != nil {
			return 0, 0, err
		}
		p, err := workload.StartOdsync(bin, cfg, filepath.Join(wd, "odsync.log"))
		if err != nil {
			return 0, 0, err
		}
		procs = append(procs, p)
	}
	// Done reading when the group has committed every partition's end.
	for {
		committed, err := groupOffsets(ctx, brokers, group, "bench0")
		if err != nil {
			return 0, 0, err
		}
		done := true
		for p, e := range ends {
			if committed[p] < e {
				done = false
			}
		}
		if done {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			return 0, 0, fmt.Errorf("%d workers: not done after 10 minutes (committed %v of %v)", n, committed, ends)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Stopping drains the log into S3 (the Stop waits for the exit).
	var cpu float64
	for _, p := range procs {
		p.Stop()
		cpu += p.CPU().Seconds()
	}
	return time.Since(t0).Seconds(), cpu, nil
}

func endOffsets(ctx context.Context, brokers []string, topic string, parts int) (map[int32]int64, error) {
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out, nil
}

func groupOffsets(ctx context.Context, brokers []string, group, topic string) (map[int32]int64, error) {
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range 64 {
		rt.Partitions = append(rt.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out, nil
}
