// Command reverse benchmarks the apply side of the reverse path: the MySQL
// sink writing rows into a private MariaDB, next to plain multi-row INSERT
// statements of the same rows in the same run (the reference: the fastest
// way a client loads rows over the protocol, statements pre-rendered before
// timing).
//
// Rows are the reference workload's (bench/workload: bigint pk, int,
// bigint, varchar(64), decimal(18,4), datetime(6), 80-byte text, ~200
// bytes). Each round empties the table and loads every row once per
// variant, alternating which goes first; the report gives each round and
// the medians, and the ratio sink/insert.
//
// The sink is given batches of -batch rows (its transactions, as
// batch.max_rows cuts them) and writes -stmt rows per statement; the
// reference uses the same transaction and statement sizes.
//
// With -s3, a third variant reads the same rows back from S3 (a private
// versitygw) as odsync's S3 sink lays them out — Parquet objects of
// -object rows, the schema file, the checkpoint object — through the s3
// source (capture/warehouse, full load) and applies each emitted batch
// with the MySQL sink: S3 Parquet -> MySQL, source and sink one after the
// other per batch (odsync run overlaps them), against the same INSERTs.
//
//	go run ./bench/reverse -rows 300000 -rounds 3
//	go run ./bench/reverse -rows 300000 -rounds 3 -s3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
)

var (
	rowsFlag   = flag.Int("rows", 300000, "rows per load")
	roundsFlag = flag.Int("rounds", 3, "rounds (each loads the rows once per variant)")
	batchFlag  = flag.Int("batch", 5000, "rows per batch / transaction")
	stmtFlag   = flag.Int("stmt", 500, "rows per statement")
	s3Flag     = flag.Bool("s3", false, "also load the rows from S3 Parquet through the s3 source")
	objectFlag = flag.Int("object", 100000, "rows per Parquet object (-s3)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "reverse:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	srv, err := mariadb.Start(ctx, mariadb.Options{Quiet: true, ExtraArgs: []string{"--skip-log-bin"}})
	if err != nil {
		return err
	}
	defer srv.Stop()
	db, err := srv.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	const ddl = `CREATE TABLE bench.t (id BIGINT NOT NULL PRIMARY KEY, a INT NOT NULL, b BIGINT NOT NULL,
		c VARCHAR(64) NOT NULL, d DECIMAL(18,4) NOT NULL, e DATETIME(6) NOT NULL, f TEXT NOT NULL)`
	if _, err := db.Exec("CREATE DATABASE bench"); err != nil {
		return err
	}
	if _, err := db.Exec(ddl); err != nil {
		return err
	}

	n := *rowsFlag
	table := (&event.Table{ID: event.TableID{DB: "bench", Table: "t"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "a", Type: event.TypeInt, RawType: "int(11)"},
		{Name: "b", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "c", Type: event.TypeVarchar, Length: 64, Charset: "utf8mb4", RawType: "varchar(64)"},
		{Name: "d", Type: event.TypeDecimal, Precision: 18, Scale: 4, RawType: "decimal(18,4)"},
		{Name: "e", Type: event.TypeDateTime, Scale: 6, RawType: "datetime(6)"},
		{Name: "f", Type: event.TypeText, Length: 65535, Charset: "utf8mb4", RawType: "text"},
	}}).Seal()
	pad := strings.Repeat("p", 80)
	events := make([]event.Event, n)
	for id := range n {
		events[id] = event.Event{Seq: uint64(id + 1), Op: event.OpRead, Source: table.ID, Table: table,
			Pos: event.Position{File: "bench", Offset: uint64(id)}, After: []event.Value{
				event.Int(int64(id)), event.Int(int64(id % 100000)), event.Int(int64(id) * 7919),
				event.String(fmt.Sprintf("name-%d-abcdefghijklmnopqrstuvwxyz", id)),
				event.Decimal(fmt.Sprintf("%d.%04d", id%1000000, id%10000)),
				event.DateTime(2026, 11, 21, 12, 34, 56, id%1000000), event.String(pad)}}
	}
	// The reference statements, rendered before timing.
	var stmts [][]string // per transaction
	for lo := 0; lo < n; lo += *batchFlag {
		var txn []string
		hi := min(lo+*batchFlag, n)
		for s := lo; s < hi; s += *stmtFlag {
			var sb strings.Builder
			sb.WriteString("INSERT INTO bench.t VALUES ")
			for id := s; id < min(s+*stmtFlag, hi); id++ {
				if id > s {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "(%d,%d,%d,'name-%d-abcdefghijklmnopqrstuvwxyz',%d.%04d,'2026-11-21 12:34:56.%06d','%s')",
					id, id%100000, int64(id)*7919, id, id%1000000, id%10000, id%1000000, pad)
			}
			txn = append(txn, sb.String())
		}
		stmts = append(stmts, txn)
	}

	reset := func() error {
		_, err := db.Exec("TRUNCATE TABLE bench.t")
		return err
	}
	insert := func() (time.Duration, error) {
		t0 := time.Now()
		for _, txn := range stmts {
			tx, err := db.Begin()
			if err != nil {
				return 0, err
			}
			for _, q := range txn {
				if _, err := tx.Exec(q); err != nil {
					tx.Rollback()
					return 0, err
				}
			}
			if err := tx.Commit(); err != nil {
				return 0, err
			}
		}
		return time.Since(t0), nil
	}
	mapper, err := schema.New(schema.Config{})
	if err != nil {
		return err
	}
	round := 0
	viaSink := func() (time.Duration, error) {
		round++
		sk, err := mysqlsink.New(mysqlsink.Config{Addr: srv.Addr(), User: "root", RowsPerStatement: *stmtFlag},
			fmt.Sprintf("bench%d", round), mapper, nil)
		if err != nil {
			return 0, err
		}
		defer sk.Close(ctx)
		t0 := time.Now()
		for lo := 0; lo < n; lo += *batchFlag {
			hi := min(lo+*batchFlag, n)
			b := &sink.Batch{First: uint64(lo + 1), Last: uint64(hi), Events: events[lo:hi]}
			if err := sk.Write(ctx, b); err != nil {
				return 0, err
			}
		}
		return time.Since(t0), nil
	}
	viaS3 := func() (time.Duration, error) { return 0, errors.New("-s3 not given") }
	if *s3Flag {
		v, stop, err := s3Variant(ctx, srv.Addr(), table, events, mapper)
		if err != nil {
			return err
		}
		defer stop()
		viaS3 = v
	}
	count := func() (int, error) {
		var c int
		err := db.QueryRow("SELECT COUNT(*) FROM bench.t").Scan(&c)
		return c, err
	}

	fmt.Printf("rows %d, %d rows per transaction, %d per statement, %d rounds\n", n, *batchFlag, *stmtFlag, *roundsFlag)
	var rs, ri, r3 []float64
	for r := 0; r < *roundsFlag; r++ {
		order := []string{"insert", "sink"}
		if r%2 == 1 {
			order = []string{"sink", "insert"}
		}
		if *s3Flag {
			order = append(order, "s3")
			if r%2 == 1 {
				order = []string{"s3", "sink", "insert"}
			}
		}
		for _, v := range order {
			if err := reset(); err != nil {
				return err
			}
			var d time.Duration
			var err error
			switch v {
			case "sink":
				d, err = viaSink()
			case "s3":
				d, err = viaS3()
			default:
				d, err = insert()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", v, err)
			}
			if c, err := count(); err != nil || c != n {
				return fmt.Errorf("%s: %d rows in the table, want %d (%v)", v, c, n, err)
			}
			rate := float64(n) / d.Seconds()
			fmt.Printf("round %d %-6s %8.0f rows/s (%s)\n", r+1, v, rate, d.Round(time.Millisecond))
			switch v {
			case "sink":
				rs = append(rs, rate)
			case "s3":
				r3 = append(r3, rate)
			default:
				ri = append(ri, rate)
			}
		}
	}
	ms, mi := median(rs), median(ri)
	fmt.Printf("median: sink %.0f rows/s, multi-row INSERT %.0f rows/s, sink/insert %.2f\n", ms, mi, ms/mi)
	if *s3Flag {
		m3 := median(r3)
		fmt.Printf("median: S3 Parquet -> MySQL %.0f rows/s, s3/insert %.2f\n", m3, m3/mi)
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
