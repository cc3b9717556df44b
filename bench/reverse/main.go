// Command reverse benchmarks the apply side of the reverse path: odsync
// writing rows into a private MariaDB, next to the two plain ways a client
// loads the same rows in the same run (the references, rendered before
// timing):
//
//   - insert: multi-row INSERT statements of -stmt rows in transactions of
//     -batch rows, the fastest way to load rows with ordinary statements;
//   - load: one LOAD DATA LOCAL INFILE of all the rows (tab-separated,
//     streamed from memory), the server's bulk load;
//   - replace (with -replace): the INSERT statements as REPLACE, the verb
//     the sink writes.
//
// Rows are the reference workload's (bench/workload: bigint pk, int,
// bigint, varchar(64), decimal(18,4), datetime(6), 80-byte text, ~200
// bytes). Each round empties the table and loads every row once per
// variant, alternating the order (odd rounds run it backwards); the report
// gives each round and the medians, the ratio of each odsync variant to
// both references, and CPU seconds per row of this process (the odsync
// side; the references' client work is pre-rendered) and of mariadbd.
//
// The odsync variants:
//
//   - sink: the MySQL sink given batches of -batch rows (its transactions,
//     as batch.max_rows cuts them), -stmt rows per statement;
//   - s3 (with -s3): the same rows read back from S3 (a private versitygw)
//     as odsync's S3 sink lays them out — Parquet objects of -object rows,
//     the schema file, the checkpoint object — through the s3 source
//     (capture/warehouse, full load) and applied batch by batch with the
//     MySQL sink, source and sink one after the other;
//   - run (with -s3): what odsync run does: the s3 source appending to the
//     event log (Pebble) and the MySQL sink reading it, overlapped, with
//     the sink's default batch policy (max_rows 20000); timed until the
//     sink's checkpoint holds every row.
//
// -cpuprofile writes a CPU profile of the first round of the -profile
// variant.
//
//	go run ./bench/reverse -rows 300000 -rounds 3
//	go run ./bench/reverse -rows 300000 -rounds 3 -s3
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
)

var (
	rowsFlag    = flag.Int("rows", 300000, "rows per load")
	roundsFlag  = flag.Int("rounds", 3, "rounds (each loads the rows once per variant)")
	batchFlag   = flag.Int("batch", 5000, "rows per batch / transaction")
	stmtFlag    = flag.Int("stmt", 500, "rows per statement")
	s3Flag      = flag.Bool("s3", false, "also load the rows from S3 Parquet through the s3 source (variants s3 and run)")
	objectFlag  = flag.Int("object", 100000, "rows per Parquet object (-s3)")
	sinkFlag    = flag.Bool("sink", true, "run the sink-alone variant")
	replaceFlag = flag.Bool("replace", false, "also run the INSERT reference as REPLACE statements (variant replace)")
	cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile of the first round of the -profile variant")
	profileFlag = flag.String("profile", "run", "the variant -cpuprofile profiles")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "reverse:", err)
		os.Exit(1)
	}
}

// cpuSeconds is this process's CPU time so far (user + system).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// serverCPU is mariadbd's CPU time so far (from its pid file and /proc;
// 0 where there is none).
func serverCPU(srv *mariadb.Server) float64 {
	b, err := os.ReadFile(filepath.Join(srv.Dir, "mysqld.pid"))
	if err != nil {
		return 0
	}
	st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command (in parentheses): utime and stime are the
	// 12th and 13th.
	_, rest, _ := strings.Cut(string(st), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}

type sample struct{ rate, cpu, srvCPU float64 }

func run() error {
	ctx := context.Background()
	srv, err := mariadb.Start(ctx, mariadb.Options{Quiet: true, ExtraArgs: []string{"--skip-log-bin", "--local-infile=1"}})
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
	// The references, rendered before timing: INSERT statements per
	// transaction, and the LOAD DATA file.
	var stmts [][]string
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
	var tsv bytes.Buffer
	for id := range n {
		fmt.Fprintf(&tsv, "%d\t%d\t%d\tname-%d-abcdefghijklmnopqrstuvwxyz\t%d.%04d\t2026-11-21 12:34:56.%06d\t%s\n",
			id, id%100000, int64(id)*7919, id, id%1000000, id%10000, id%1000000, pad)
	}
	mysqldriver.RegisterReaderHandler("bench", func() io.Reader { return bytes.NewReader(tsv.Bytes()) })
	defer mysqldriver.DeregisterReaderHandler("bench")

	reset := func() error {
		_, err := db.Exec("TRUNCATE TABLE bench.t")
		return err
	}
	insert := func(verb string) (time.Duration, error) {
		t0 := time.Now()
		for _, txn := range stmts {
			tx, err := db.Begin()
			if err != nil {
				return 0, err
			}
			for _, q := range txn {
				if verb != "INSERT" {
					q = verb + strings.TrimPrefix(q, "INSERT")
				}
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
	load := func() (time.Duration, error) {
		t0 := time.Now()
		if _, err := db.Exec("LOAD DATA LOCAL INFILE 'Reader::bench' INTO TABLE bench.t"); err != nil {
			return 0, err
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
	noS3 := func() (time.Duration, error) { return 0, errors.New("-s3 not given") }
	viaS3, viaRun := noS3, noS3
	order := []string{"insert", "load"}
	if *replaceFlag {
		order = append(order, "replace")
	}
	if *sinkFlag {
		order = append(order, "sink")
	}
	if *s3Flag {
		v, stop, err := s3Variants(ctx, srv.Addr(), table, events, mapper)
		if err != nil {
			return err
		}
		defer stop()
		viaS3, viaRun = v.sequential, v.run
		order = append(order, "s3", "run")
	}
	count := func() (int, error) {
		var c int
		err := db.QueryRow("SELECT COUNT(*) FROM bench.t").Scan(&c)
		return c, err
	}

	fmt.Printf("rows %d, %d rows per transaction, %d per statement, %d rounds; CPU: µs per row of this process (odsync) and of mariadbd\n",
		n, *batchFlag, *stmtFlag, *roundsFlag)
	res := map[string][]sample{}
	for r := 0; r < *roundsFlag; r++ {
		o := slices.Clone(order)
		if r%2 == 1 {
			slices.Reverse(o)
		}
		for _, v := range o {
			if err := reset(); err != nil {
				return err
			}
			if *cpuProfile != "" && r == 0 && v == *profileFlag {
				f, err := os.Create(*cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer f.Close()
			}
			c0, s0 := cpuSeconds(), serverCPU(srv)
			var d time.Duration
			var err error
			switch v {
			case "insert":
				d, err = insert("INSERT")
			case "replace":
				d, err = insert("REPLACE")
			case "load":
				d, err = load()
			case "sink":
				d, err = viaSink()
			case "s3":
				d, err = viaS3()
			case "run":
				d, err = viaRun()
			}
			c1, s1 := cpuSeconds(), serverCPU(srv)
			if *cpuProfile != "" && r == 0 && v == *profileFlag {
				pprof.StopCPUProfile()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", v, err)
			}
			if c, err := count(); err != nil || c != n {
				return fmt.Errorf("%s: %d rows in the table, want %d (%v)", v, c, n, err)
			}
			s := sample{rate: float64(n) / d.Seconds(), cpu: (c1 - c0) / float64(n) * 1e6, srvCPU: (s1 - s0) / float64(n) * 1e6}
			fmt.Printf("round %d %-6s %8.0f rows/s (%s)  CPU %5.2f µs/row, mariadbd %5.2f µs/row\n",
				r+1, v, s.rate, d.Round(time.Millisecond), s.cpu, s.srvCPU)
			res[v] = append(res[v], s)
		}
	}
	med := func(v string, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range res[v] {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	rate := func(s sample) float64 { return s.rate }
	mi, ml := med("insert", rate), med("load", rate)
	fmt.Printf("median: multi-row INSERT %.0f rows/s, LOAD DATA %.0f rows/s (load/insert %.2f)\n", mi, ml, ml/mi)
	for _, v := range order[2:] {
		m := med(v, rate)
		fmt.Printf("median: %-4s %8.0f rows/s, %s/insert %.2f, %s/load %.2f; CPU %.2f µs/row (mariadbd %.2f)\n",
			v, m, v, m/mi, v, m/ml, med(v, func(s sample) float64 { return s.cpu }), med(v, func(s sample) float64 { return s.srvCPU }))
	}
	// The ratio within each round (to the better reference of that
	// round) drifts less with the machine's load than medians taken apart.
	for _, v := range order[2:] {
		var xs []float64
		for r := range res[v] {
			xs = append(xs, res[v][r].rate/max(res["insert"][r].rate, res["load"][r].rate))
		}
		fmt.Printf("median per round: %s / the better reference %.2f\n", v, median(xs))
	}
	for _, v := range order[:2] {
		fmt.Printf("median: %-6s mariadbd CPU %.2f µs/row\n", v, med(v, func(s sample) float64 { return s.srvCPU }))
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
