// Command tidb benchmarks the TiDB snapshot (capture/tidb) against a private
// tidb-server (unistore, harness/tidb): -tables tables of -rows rows each
// (clustered BIGINT key; every other table keyless, read over _tidb_rowid)
// are copied at one TSO into the durable Pebble log, once per -parallel
// value, alternating for -rounds rounds, and the median rows/s of each
// setting is printed.
//
//	go run ./bench/tidb -rows 50000 -tables 4 -parallel 1,4 -rounds 3
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/tidb"
	"github.com/odsync/odsync/event"
	htidb "github.com/odsync/odsync/harness/tidb"
	"github.com/odsync/odsync/offsets"
)

var (
	rowsFlag     = flag.Int("rows", 50000, "rows per table (~120 bytes each)")
	tablesFlag   = flag.Int("tables", 4, "tables")
	parallelFlag = flag.String("parallel", "1,4", "source.tidb.parallel values to compare")
	chunkFlag    = flag.Int("chunk", 10000, "source.tidb.chunk_rows")
	roundsFlag   = flag.Int("rounds", 3, "alternating rounds")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	srv, err := htidb.Start(ctx, htidb.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	db, err := srv.Open("", "")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := load(ctx, db); err != nil {
		return err
	}
	var pars []int
	for _, p := range strings.Split(*parallelFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("-parallel: %w", err)
		}
		pars = append(pars, n)
	}
	total := *rowsFlag * *tablesFlag
	res := map[int][]float64{}
	for round := 0; round < *roundsFlag; round++ {
		for _, p := range pars {
			d, n, err := snapshot(ctx, srv, p)
			if err != nil {
				return err
			}
			if n != total {
				return fmt.Errorf("copied %d rows, want %d", n, total)
			}
			rate := float64(n) / d.Seconds()
			res[p] = append(res[p], rate)
			fmt.Printf("round %d parallel %d: %d rows in %s (%.0f rows/s)\n", round+1, p, n, d.Round(time.Millisecond), rate)
		}
	}
	for _, p := range pars {
		r := slices.Clone(res[p])
		slices.Sort(r)
		fmt.Printf("parallel %d: median %.0f rows/s over %d rounds (%d tables x %d rows, chunk_rows %d)\n", p, r[len(r)/2], len(r), *tablesFlag, *rowsFlag, *chunkFlag)
	}
	return nil
}

func load(ctx context.Context, db *sql.DB) error {
	exec := func(q string) error {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		return nil
	}
	if err := exec("CREATE DATABASE b"); err != nil {
		return err
	}
	for i := 0; i < *tablesFlag; i++ {
		key := "id BIGINT PRIMARY KEY"
		if i%2 == 1 {
			key = "id BIGINT" // keyless: _tidb_rowid
		}
		t := fmt.Sprintf("b.t%d", i)
		if err := exec("CREATE TABLE " + t + " (" + key + ", c VARCHAR(100), d DECIMAL(20,4), ts DATETIME(6))"); err != nil {
			return err
		}
		if err := exec("INSERT INTO " + t + " VALUES (1, REPEAT('x', 64), 1.5, NOW(6))"); err != nil {
			return err
		}
		for n := 1; n < *rowsFlag; n *= 2 {
			q := fmt.Sprintf("INSERT INTO %s SELECT id + %d, c, d + id, ts FROM %s WHERE id + %d <= %d", t, n, t, n, *rowsFlag)
			if err := exec(q); err != nil {
				return err
			}
		}
	}
	return nil
}

var errDone = errors.New("snapshot done")

// snapshot copies every table into a fresh log and returns the time and
// the rows copied.
func snapshot(ctx context.Context, srv *htidb.Server, parallel int) (time.Duration, int, error) {
	dir, err := os.MkdirTemp("", "bench-tidb-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	log, err := offsets.Open(dir, offsets.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer log.Close()
	cfg := tidb.Config{DSN: srv.DSN(""), ChunkRows: *chunkFlag, Parallel: parallel}
	src, err := tidb.New(cfg, kafka.SourceConfig{}, func(id event.TableID) bool { return id.DB == "b" }, slog.New(slog.DiscardHandler), log)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rows := 0
	start := time.Now()
	err = src.Run(ctx, nil, func(ctx context.Context, evs []event.Event, cp []byte) error {
		if _, err := log.Append(ctx, evs, cp); err != nil {
			return err
		}
		rows += len(evs)
		if c, err := tidb.DecodeCheckpoint(cp); err == nil && c.Done {
			cancel(errDone)
		}
		return nil
	})
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if !errors.Is(context.Cause(ctx), errDone) {
		return 0, 0, errors.New("the snapshot did not finish")
	}
	return d, rows, nil
}
