// Command e2e is the spine's end-to-end benchmark: it loads N rows of about
// 200 bytes into a private MariaDB in fixed-size transactions, then reads the
// same binlog twice in the same run:
//
//   - raw: go-mysql's BinlogSyncer decoding every row event, nothing else;
//   - pipeline: odsync's capture → Pebble log → local ODS sink (JSON lines),
//     timed until the sink's cursor covers every row.
//
// It prints rows/s and MB/s for both and the ratio pipeline/raw, which is the
// figure that survives a noisy machine.
//
//	go run ./bench/e2e -rows 1000000 -txn 1000
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/local"
)

var (
	profilePath string
	captureOnly bool
	inflight    int
)

func main() {
	rows := flag.Int("rows", 1000000, "rows to insert")
	txn := flag.Int("txn", 1000, "rows per transaction")
	noSync := flag.Bool("nosync", false, "local sink without fsync")
	capOnly := flag.Bool("capture", false, "also time the capture alone (no log, no sink)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the pipeline run to this file")
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
	defer os.RemoveAll(dir)
	srv, err := mariadb.Start(ctx, mariadb.Options{Dir: filepath.Join(dir, "mariadb")})
	if err != nil {
		return err
	}
	defer srv.Stop()
	db, err := srv.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE bench; CREATE TABLE bench.t (
		id BIGINT PRIMARY KEY, a INT NOT NULL, b BIGINT NOT NULL, c VARCHAR(64) NOT NULL,
		d DECIMAL(18,4) NOT NULL, e DATETIME(6) NOT NULL, f TEXT NOT NULL)`); err != nil {
		return err
	}
	start, err := position(db)
	if err != nil {
		return err
	}
	fmt.Printf("loading %d rows in %d-row transactions ...\n", rows, txn)
	t0 := time.Now()
	if err := load(db, rows, txn); err != nil {
		return err
	}
	end, err := position(db)
	if err != nil {
		return err
	}
	binlogBytes := int64(end.Pos) - int64(start.Pos) // one binlog file at these sizes is not guaranteed; see below
	if end.File != start.File {
		binlogBytes = -1
	}
	fmt.Printf("loaded in %s; binlog %s:%d → %s:%d\n", time.Since(t0).Round(time.Millisecond), start.File, start.Pos, end.File, end.Pos)

	rawRows, rawDur, rawBytes, err := readRaw(ctx, srv, start, end, rows)
	if err != nil {
		return err
	}
	if captureOnly {
		mcap := mysql.Config{Addr: srv.Addr(), User: "root", ServerID: 9003}
		src, err := mysql.New(mcap, nil, nil)
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
	pipeDur, err := runPipeline(ctx, srv, dir, start, rows, noSync)
	if err != nil {
		return err
	}
	if binlogBytes < 0 {
		binlogBytes = rawBytes
	}
	capDur, sinkDur, err := runStages(ctx, srv, dir, start, rows, noSync)
	if err != nil {
		return err
	}
	mb := float64(binlogBytes) / 1e6
	fmt.Printf("\n%-28s %12s %10s %10s\n", "reader", "rows/s", "MB/s", "seconds")
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "raw go-mysql BinlogSyncer", float64(rawRows)/rawDur.Seconds(), mb/rawDur.Seconds(), rawDur.Seconds())
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "odsync → log → local sink", float64(rows)/pipeDur.Seconds(), mb/pipeDur.Seconds(), pipeDur.Seconds())
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "  stage: capture → log", float64(rows)/capDur.Seconds(), mb/capDur.Seconds(), capDur.Seconds())
	fmt.Printf("%-28s %12.0f %10.1f %10.2f\n", "  stage: log → local sink", float64(rows)/sinkDur.Seconds(), mb/sinkDur.Seconds(), sinkDur.Seconds())
	fmt.Printf("ratio pipeline/raw: %.2f\n", rawDur.Seconds()/pipeDur.Seconds())
	return nil
}

func position(db *sql.DB) (mysql.Checkpoint, error) {
	var cp mysql.Checkpoint
	var file string
	var pos uint32
	var a, b, c sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		return cp, err
	}
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&c); err != nil {
		return cp, err
	}
	return mysql.Checkpoint{Flavor: "mariadb", File: file, Pos: pos, GTIDSet: c.String}, nil
}

func load(db *sql.DB, rows, txn int) error {
	pad := strings.Repeat("p", 80)
	var sb strings.Builder
	for id := 0; id < rows; {
		sb.Reset()
		sb.WriteString("INSERT INTO bench.t VALUES ")
		for i := 0; i < txn && id < rows; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,%d,%d,'name-%d-abcdefghijklmnopqrstuvwxyz',%d.%04d,'2026-11-21 12:34:56.%06d','%s')",
				id, id%100000, int64(id)*7919, id, id%1000000, id%10000, id%1000000, pad)
			id++
		}
		if _, err := db.Exec(sb.String()); err != nil {
			return err
		}
	}
	return nil
}

// readRaw decodes the binlog from start to end with go-mysql alone.
func readRaw(ctx context.Context, srv *mariadb.Server, start, end mysql.Checkpoint, want int) (int, time.Duration, int64, error) {
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 9001, Flavor: "mariadb", Host: "127.0.0.1", Port: uint16(srv.Port), User: "root",
		ParseTime: true, Logger: slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	t0 := time.Now()
	st, err := syncer.StartSync(gomysql.Position{Name: start.File, Pos: start.Pos})
	if err != nil {
		return 0, 0, 0, err
	}
	n := 0
	var bytes int64
	for n < want {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return n, 0, 0, err
		}
		bytes += int64(ev.Header.EventSize)
		if re, ok := ev.Event.(*replication.RowsEvent); ok {
			n += len(re.Rows)
		}
	}
	return n, time.Since(t0), bytes, nil
}

// runPipeline runs capture → log → local sink from start until the sink
// acknowledged want rows.
func runPipeline(ctx context.Context, srv *mariadb.Server, dir string, start mysql.Checkpoint, want int, noSync bool) (time.Duration, error) {
	state := filepath.Join(dir, "state")
	defer os.RemoveAll(state)
	log, err := offsets.Open(state, offsets.Options{MaxBytes: 8 << 30})
	if err != nil {
		return 0, err
	}
	defer log.Close()
	if _, err := log.Append(ctx, nil, start.Encode()); err != nil {
		return 0, err
	}
	mcfg := schema.Config{Include: []string{`bench\..*`}}
	mcfg.EnsureDefaults()
	mapper, err := schema.New(mcfg)
	if err != nil {
		return 0, err
	}
	mcap := mysql.Config{Addr: srv.Addr(), User: "root", ServerID: 9002}
	src, err := mysql.New(mcap, mapper.Captures, nil)
	if err != nil {
		return 0, err
	}
	sk, err := local.New(local.Config{Dir: filepath.Join(dir, "ods"), NoSync: noSync}, mapper)
	if err != nil {
		return 0, err
	}
	p := pipeline.New(log, sourceFunc(func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
		return src.Run(ctx, from, mysql.Emit(emit))
	}), []pipeline.SinkSpec{{Name: "files", Sink: sk, Policy: pipeline.BatchPolicy{MaxRows: 20000, MaxAge: 200 * time.Millisecond, InFlight: inflight}}}, pipeline.Options{})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	var headAt time.Duration
	for {
		if headAt == 0 && log.Head() >= uint64(want) {
			headAt = time.Since(t0)
			fmt.Printf("capture → log reached %d rows after %.2fs (%.0f rows/s)\n", want, headAt.Seconds(), float64(want)/headAt.Seconds())
		}
		if c, _ := log.Cursor("files"); c >= uint64(want) {
			break
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("pipeline stopped early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	d := time.Since(t0)
	cancel()
	<-done
	return d, nil
}

type sourceFunc func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error

func (f sourceFunc) Run(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	return f(ctx, from, emit)
}

// runStages times the two halves separately: capture into an empty log with
// no sink, then the sink alone draining the full log.
func runStages(ctx context.Context, srv *mariadb.Server, dir string, start mysql.Checkpoint, want int, noSync bool) (capDur, sinkDur time.Duration, err error) {
	state := filepath.Join(dir, "state-stages")
	defer os.RemoveAll(state)
	log, err := offsets.Open(state, offsets.Options{MaxBytes: 8 << 30})
	if err != nil {
		return 0, 0, err
	}
	defer log.Close()
	if _, err := log.Append(ctx, nil, start.Encode()); err != nil {
		return 0, 0, err
	}
	mcfg := schema.Config{Include: []string{`bench\..*`}}
	mcfg.EnsureDefaults()
	mapper, err := schema.New(mcfg)
	if err != nil {
		return 0, 0, err
	}
	src, err := mysql.New(mysql.Config{Addr: srv.Addr(), User: "root", ServerID: 9004}, mapper.Captures, nil)
	if err != nil {
		return 0, 0, err
	}
	until := func(p *pipeline.Pipeline, done func() bool) (time.Duration, error) {
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		t0 := time.Now()
		errc := make(chan error, 1)
		go func() { errc <- p.Run(runCtx) }()
		for !done() {
			select {
			case err := <-errc:
				return 0, fmt.Errorf("pipeline stopped early: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		d := time.Since(t0)
		cancel()
		<-errc
		return d, nil
	}
	capDur, err = until(pipeline.New(log, sourceFunc(func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
		return src.Run(ctx, from, mysql.Emit(emit))
	}), nil, pipeline.Options{}), func() bool { return log.Head() >= uint64(want) })
	if err != nil {
		return 0, 0, err
	}
	sk, err := local.New(local.Config{Dir: filepath.Join(dir, "ods-stages"), NoSync: noSync}, mapper)
	if err != nil {
		return 0, 0, err
	}
	idle := sourceFunc(func(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
		<-ctx.Done()
		return nil
	})
	if profilePath != "" {
		f, err := os.Create(profilePath)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, 0, err
		}
		defer pprof.StopCPUProfile()
	}
	sinkDur, err = until(pipeline.New(log, idle, []pipeline.SinkSpec{{Name: "files", Sink: sk,
		Policy: pipeline.BatchPolicy{MaxRows: 20000, MaxAge: 200 * time.Millisecond, InFlight: inflight}}}, pipeline.Options{}),
		func() bool { c, _ := log.Cursor("files"); return c >= uint64(want) })
	return capDur, sinkDur, err
}
