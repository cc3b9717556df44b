// Command s3 measures odsync end to end into the S3 sink, next to the
// local-directory sink, on the reference workload (docs/benchmarks.md): N rows of
// ~200 bytes (bigint pk, ints, varchar(64), decimal(18,4), datetime(6),
// ~80-byte text) inserted in 1000-row transactions, then N/2 updates and
// N/10 deletes, all in a private MariaDB; the S3 server is a private
// versitygw on loopback.
//
// Every odsync run catches up the same binlog from the same checkpoint, so
// the figures compare sinks, not workloads:
//
//	go run ./bench/s3 [-rows 1000000] [-runs local-jsonl,local-parquet,s3-parquet,s3-csv]
//	                  [-rounds 3] [-baseline /tmp/odsync-main]
//
// With -baseline (an odsync binary built from another commit, e.g.
// `git worktree add /tmp/main main && cd /tmp/main && go build -o
// /tmp/odsync-main ./cmd/odsync`) every run is done by both binaries,
// alternating, -rounds times each, on the same binlog; the medians are
// printed at the end.
//
// With -outage 60s every S3 run starts with the S3 server stopped for that
// long (the backlog flows into the log and the sink meanwhile) and reports
// odsync's peak RSS during the outage; its speed figures then include the
// outage.
//
// For each run it prints row changes/s, MB/s of binlog read, and MB/s and
// bytes of files written (object sizes), from odsync's start until every
// change is durable in the target (S3: uploaded; the spools' last files are
// cut and uploaded by a graceful stop, which is included), and the CPU time
// odsync used: changes per CPU-second is the figure that survives a shared,
// noisy machine.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/bench/workload"
	"github.com/odsync/odsync/harness/s3server"
	s3sink "github.com/odsync/odsync/sink/s3"
)

func main() {
	rows := flag.Int("rows", 1000000, "rows inserted (updates: rows/2, deletes: rows/10)")
	runs := flag.String("runs", "local-jsonl,local-parquet,s3-parquet,s3-csv", "sink runs, comma-separated")
	keep := flag.Bool("keep", false, "keep the working directory")
	rounds := flag.Int("rounds", 1, "times each run is repeated (alternating with the baseline)")
	baseline := flag.String("baseline", "", "odsync binary to compare with (built from another commit)")
	outage := flag.Duration("outage", 0, "S3 runs start with the S3 server stopped for this long and report odsync's peak RSS meanwhile (their speed then includes the outage)")
	flag.Parse()
	log.SetFlags(0)
	if err := bench(*rows, strings.Split(*runs, ","), *keep, *rounds, *baseline, *outage); err != nil {
		log.Fatal(err)
	}
}

type run struct {
	name, dir, cfg, log string
	s3, prefix          string
	bin, kind           string // kind: the -runs name
}

func bench(n int, names []string, keep bool, rounds int, baseline string, outage time.Duration) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "odsync-bench-s3-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}
	bin, err := workload.BuildOdsync(work)
	if err != nil {
		return err
	}
	wdb, err := workload.StartMixed(ctx)
	if err != nil {
		return err
	}
	defer wdb.Close()
	db0, db := wdb.Server, wdb.SQL
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

	// Prime every run: its checkpoint is taken before the workload.
	var rs []*run
	type variant struct{ tag, bin string }
	variants := []variant{{"", bin}}
	if baseline != "" {
		variants = []variant{{"@base", baseline}, {"@new", bin}}
	}
	var plan []*run
	for round := 1; round <= rounds; round++ {
		for _, name := range names {
			for _, v := range variants {
				r := &run{name: name + v.tag, kind: name, bin: v.bin}
				if rounds > 1 {
					r.name += fmt.Sprintf("#%d", round)
				}
				plan = append(plan, r)
			}
		}
	}
	for i, r := range plan {
		name := r.kind
		r.dir = filepath.Join(work, strings.NewReplacer("@", "-", "#", "-").Replace(r.name))
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
			r.s3, r.prefix = strings.TrimPrefix(name, "s3-"), filepath.Base(r.dir)
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
	var procs []*workload.Process
	for _, r := range rs {
		p, err := workload.StartOdsync(r.bin, r.cfg, r.log)
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
		err := waitDone(r, srv, 1, 60*time.Second)
		procs[i].Stop()
		if err != nil {
			return fmt.Errorf("%s: primer: %w\n%s", r.name, err, workload.Tail(r.log))
		}
	}

	changes, binlog, err := workload.RunMixed(db, n)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs, %s\n", runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-14s %8s %11s %11s %9s %9s %8s %12s\n", "run", "seconds", "changes/s", "binlog MB/s", "out MB/s", "out MB", "CPU s", "changes/CPU-s")
	target := uint64(1 + changes)
	type result struct{ rate, perCPU, cpu, rss float64 }
	results := map[string][]result{}
	var order []string
	for _, r := range rs {
		start0 := time.Now()
		if outage > 0 && r.s3 != "" {
			srv.Stop()
		}
		p, err := workload.StartOdsync(r.bin, r.cfg, r.log)
		if err != nil {
			return err
		}
		var peak int64
		if outage > 0 && r.s3 != "" {
			// The backlog flows into the log and the sink while S3 is down.
			for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
				peak = max(peak, p.RSS())
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := srv.Restart(rctx)
			cancel()
			if err != nil {
				p.Kill()
				return err
			}
		}
		if err := waitDone(r, srv, target, 30*time.Minute); err != nil {
			p.Kill()
			return fmt.Errorf("%s: %w\n%s", r.name, err, workload.Tail(r.log))
		}
		p.Stop()
		secs := time.Since(start0).Seconds()
		cpu := p.CPU().Seconds()
		out := outBytes(r, srv)
		fmt.Printf("%-14s %8.1f %11.0f %11.1f %9.1f %9.1f %8.1f %12.0f", r.name, secs, float64(changes)/secs,
			float64(binlog)/1e6/secs, float64(out)/1e6/secs, float64(out)/1e6, cpu, float64(changes)/cpu)
		if peak > 0 {
			fmt.Printf("  outage peak RSS %d MiB", peak>>20)
		}
		fmt.Println()
		key, _, _ := strings.Cut(r.name, "#")
		if _, ok := results[key]; !ok {
			order = append(order, key)
		}
		results[key] = append(results[key], result{float64(changes) / secs, float64(changes) / cpu, cpu, float64(peak >> 20)})
	}
	if rounds > 1 {
		fmt.Printf("\nmedians of %d rounds:\n%-14s %11s %8s %12s %14s %16s\n", rounds, "run", "changes/s", "CPU s", "changes/CPU-s", "CPU-µs/change", "outage RSS MiB")
		for _, k := range order {
			rs := results[k]
			med := func(f func(result) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				sort.Float64s(v)
				if len(v)%2 == 1 {
					return v[len(v)/2]
				}
				return (v[len(v)/2-1] + v[len(v)/2]) / 2
			}
			perCPU := med(func(r result) float64 { return r.perCPU })
			fmt.Printf("%-14s %11.0f %8.1f %12.0f %14.2f %16.0f\n", k, med(func(r result) float64 { return r.rate }),
				med(func(r result) float64 { return r.cpu }), perCPU, 1e6/perCPU, med(func(r result) float64 { return r.rss }))
		}
	}
	return nil
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
		if workload.LastLocalSeq(filepath.Join(r.dir, "ods")) >= target {
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
