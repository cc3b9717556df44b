package integration

// The sink conformance kit (DESIGN.md D4, docs/conformance.md): one suite
// that every sink kind runs. A sink joins the kit with one entry in
// kitDrivers; every part of the suite (kit_types_test.go, kit_ddl_test.go,
// kit_kill_test.go, kit_outage_test.go, kit_verify_test.go) runs as one
// subtest per driver, against the real odsync binary, the package's
// MariaDB and the sink's real server.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
)

// kitSystem selects the expectation variant of a sink: the documented
// mapping (docs/types.md) differs between file formats and MaxCompute.
type kitSystem int

const (
	kitFiles      kitSystem = iota // local directory and S3: Parquet, CSV, JSON lines
	kitMaxCompute                  // MaxCompute (BIGINT without -2^63, DECIMAL scale <= 18)
	kitState                       // a MySQL-protocol database holding the current rows (kit_mysql_test.go)
)

// kitDriver is one sink kind in the kit.
type kitDriver struct {
	name   string
	system kitSystem
	// open starts the sink's server (if it has one) for one test and
	// returns the sink as the kit drives it.
	open func(t *testing.T) *kitSink
	// parts, when set, are the only parts of the kit the driver runs
	// ("types", "ddl", "kill9", "outage", "verify"); nil runs every part.
	// A driver whose pipeline cannot pass a part yet (the MaxCompute
	// reverse source has no incremental mode) lists the others.
	parts []string
}

// runs reports whether the driver runs part.
func (d kitDriver) runs(part string) bool {
	return d.parts == nil || slices.Contains(d.parts, part)
}

// kitSink is one sink instance of one test.
type kitSink struct {
	// entry is the sink's `sinks:` YAML entry (named "kit", small batches).
	entry string
	// env is added to odsync's environment (credentials of the server).
	env []string
	// read returns the rows landed in an ODS table, in _seq order, as
	// column -> canonical text (nil for NULL). A sink with two readers
	// (Parquet) fails the test when they disagree.
	read func(t testing.TB, table string) []kitRow
	// files returns the data files of an ODS table (name -> content) for
	// sinks that write files; nil otherwise.
	files func(t testing.TB, table string) map[string][]byte
	// layout returns the columns of an ODS table as the sink holds it now,
	// in order (the DDL part compares it with the script's).
	layout func(t testing.TB, table string) []string
	// down stops the sink's server (or makes it fail every request) and up
	// brings it back; nil when the sink has no server.
	down, up func(t *testing.T)
	// tamper changes column col of the landed change with _seq seq to val,
	// behind odsync's back.
	tamper func(t *testing.T, table string, seq uint64, col, val string)
	// replays says a restart may land a change again (identical copies
	// with the same _seq); otherwise every change lands exactly once.
	replays bool
	// verifyEntry, for a sink odsync verify cannot read itself (Kafka),
	// is the `sinks:` entry (named "kit") of what its readers read; verify
	// checks that instead.
	verifyEntry string
	// target is the database of a state sink (kitState): each part checks
	// that its tables equal the source's (kitRun.waitState).
	target *sql.DB
	// job, for a pipeline of two odsync jobs (reverse sync: the first
	// job's sink is a warehouse, a second job reads it back into target),
	// is the second job; nil for a single job.
	job *kitJob
}

// kitJob is the second odsync job of a two-job pipeline. The kit runs it
// next to the first: start, stop and exit checks cover both, and the
// kill -9 part kills either or both.
type kitJob struct {
	// config returns the job's configuration for the run (its source
	// database name and the part's mapping YAML, as kitOpen takes it).
	config func(t *testing.T, r *kitRun, mapping string) string
	env    []string
	// full: the job loads the warehouse's state once and follows no
	// changes (a source without an incremental mode), so the kit starts
	// it only after every change landed in the first job's sink
	// (kitRun.startFull).
	full bool
	// landed, for a full job, reports the number of distinct changes of an
	// ODS table the first job's sink holds.
	landed func(t testing.TB, table string) int
}

// kitRow (declared with the Kafka codec kit) is one landed row: column ->
// canonical text, nil for NULL.

func (r kitRow) str(c string) string {
	if v := r[c]; v != nil {
		return *v
	}
	return "NULL"
}

func (r kitRow) seq() uint64 {
	n, _ := strconv.ParseUint(r.str("_seq"), 10, 64)
	return n
}

func sortKitRows(rows []kitRow) {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].seq() < rows[j].seq() })
}

// kitDrivers is every sink kind. Adding a sink to the kit is one entry here.
var kitDrivers = []kitDriver{
	{name: "local_jsonl", system: kitFiles, open: kitLocal("jsonl")},
	{name: "local_csv", system: kitFiles, open: kitLocal("csv")},
	{name: "local_parquet", system: kitFiles, open: kitLocal("parquet")},
	{name: "s3_parquet", system: kitFiles, open: kitS3("parquet")},
	{name: "s3_csv", system: kitFiles, open: kitS3("csv")},
	{name: "s3_jsonl", system: kitFiles, open: kitS3("jsonl")},
	{name: "maxcompute", system: kitMaxCompute, open: kitMaxComputeSink},
	{name: "kafka_odsync", system: kitFiles, open: kitKafkaSink},
	{name: "mysql", system: kitState, open: kitMySQLSink},
	// Reverse sync (kit_reverse_test.go): MariaDB -> S3 -> the s3 source
	// -> the MySQL sink, and MariaDB -> MaxCompute -> the maxcompute source
	// (full loads only: the types part) -> the MySQL sink.
	{name: "reverse_s3", system: kitState, open: kitReverseS3("parquet")},
	{name: "reverse_s3_csv", system: kitState, open: kitReverseS3("csv"), parts: kitReverseCSVParts},
	{name: "reverse_maxcompute", system: kitState, open: kitReverseMaxCompute, parts: kitReverseMaxComputeParts},
}

// kitLocal is the local directory sink writing format.
func kitLocal(format string) func(t *testing.T) *kitSink {
	return func(t *testing.T) *kitSink {
		dir := filepath.Join(t.TempDir(), "ods")
		return &kitSink{
			entry: fmt.Sprintf(`  - name: kit
    type: local
    local:
      dir: %s
      format: %s
    batch:
      max_rows: 50
      max_age: 100ms
`, dir, format),
			read: func(t testing.TB, table string) []kitRow {
				return kitReadFiles(t, format, kitLocalFiles(t, dir, table))
			},
			files: func(t testing.TB, table string) map[string][]byte { return kitLocalFiles(t, dir, table) },
			layout: func(t testing.TB, table string) []string {
				return kitFileLayout(t, format, kitLocalFiles(t, dir, table))
			},
			// An outage of a directory: replaced by a file, as when its
			// volume is gone; every write fails until it is back.
			down: func(t *testing.T) {
				if err := os.Rename(dir, dir+".away"); err != nil {
					t.Fatal(err)
				}
				harness.WriteFile(t, dir, "outage")
			},
			up: func(t *testing.T) {
				if err := os.Remove(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(dir+".away", dir); err != nil {
					t.Fatal(err)
				}
			},
			tamper: func(t *testing.T, table string, seq uint64, col, val string) {
				for path, data := range kitLocalFiles(t, dir, table) {
					if out, ok := kitTamperFile(t, format, data, seq, col, val); ok {
						harness.WriteFile(t, filepath.Join(dir, path), string(out))
						return
					}
				}
				t.Fatalf("tamper: no row with _seq %d in %s", seq, table)
			},
			// The local sink rewrites a replayed batch's files under the
			// same names with identical bytes: no copies.
		}
	}
}

// kitLocalFiles returns the data files of an ODS table under dir
// (path relative to dir -> content).
func kitLocalFiles(t testing.TB, dir, table string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	root := filepath.Join(dir, table)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() || !isDataKey(filepath.ToSlash(rel)) || filepath.Ext(path) == "" || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if strings.HasSuffix(path, ".tmp") {
			return nil // being written
		}
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil // renamed meanwhile
		}
		if err != nil {
			return err
		}
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kitS3Roll makes the S3 sink upload small files quickly.
const kitS3Roll = "file_size: 1MiB\nmin_file_size: 1KiB\nflush_interval: 500ms\nmax_age: 1s\ncheckpoint_interval: 200ms\nmax_backoff: 1s"

// kitS3 is the S3 sink writing format into a private versitygw.
func kitS3(format string) func(t *testing.T) *kitSink {
	return func(t *testing.T) *kitSink { return kitS3Sink(startS3(t), format) }
}

// kitS3Sink is the S3 sink writing format into srv, under prefix kit.
func kitS3Sink(srv *s3server.Server, format string) *kitSink {
	return &kitSink{
		entry: s3SinkYAML(srv, "kit", "kit", "format: "+format+"\n"+kitS3Roll, "max_rows: 50\n      max_age: 100ms"),
		env:   []string{"ODSYNC_TEST_S3_KEY=" + srv.AccessKey, "ODSYNC_TEST_S3_SECRET=" + srv.SecretKey, "AWS_EC2_METADATA_DISABLED=true"},
		read: func(t testing.TB, table string) []kitRow {
			return kitReadFiles(t, format, kitS3Files(t, srv, table))
		},
		files: func(t testing.TB, table string) map[string][]byte { return kitS3Files(t, srv, table) },
		layout: func(t testing.TB, table string) []string {
			return kitFileLayout(t, format, kitS3Files(t, srv, table))
		},
		down: func(t *testing.T) { srv.Stop() },
		up: func(t *testing.T) {
			if err := srv.Restart(context.Background()); err != nil {
				t.Fatal(err)
			}
		},
		tamper: func(t *testing.T, table string, seq uint64, col, val string) {
			for key, data := range kitS3Files(t, srv, table) {
				if out, ok := kitTamperFile(t, format, data, seq, col, val); ok {
					kitS3Put(t, srv, "kit/"+key, out)
					return
				}
			}
			t.Fatalf("tamper: no row with _seq %d in %s", seq, table)
		},
	}
}

// kitS3Files returns the data objects of an ODS table under the kit's
// prefix (key without the prefix -> content).
func kitS3Files(t testing.TB, srv *s3server.Server, table string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for k, b := range s3Objects(t.(*testing.T), srv, "kit") {
		if strings.HasPrefix(k, table+"/") && isDataKey(k) {
			out[k] = b
		}
	}
	return out
}

// kitMaxComputeSink is the MaxCompute sink writing into the emulator,
// read back through the unmodified SDK's download sessions.
func kitMaxComputeSink(t *testing.T) *kitSink {
	emu := newMCEmu(t)
	return &kitSink{
		entry: mcSinkYAML(emu, "kit", "flush_age: 200ms", "max_rows: 50\n      max_age: 100ms"),
		env:   mcEnv,
		read: func(t testing.TB, table string) []kitRow {
			return mcReadTable(t, emu, table)
		},
		layout: func(t testing.TB, table string) []string {
			return mcLayout(t, emu, table)
		},
		down: func(t *testing.T) {
			if err := emu.SetFaults(odpsemu.Faults{ErrorRate: 1, Status: 503}); err != nil {
				t.Fatal(err)
			}
		},
		up: func(t *testing.T) {
			if err := emu.SetFaults(odpsemu.Faults{}); err != nil {
				t.Fatal(err)
			}
		},
		tamper: func(t *testing.T, table string, seq uint64, col, val string) {
			mcTamper(t, emu, table, seq, col, val)
		},
		// Stream sessions are at-least-once across a crash: copies of a
		// change carry its _seq.
		replays: true,
	}
}

// kitRun is odsync capturing one database into one kit sink.
type kitRun struct {
	t    *testing.T
	sink *kitSink
	db   *sql.DB
	name string // the source database
	dir  string
	cfg  string
	log  string
	p    *harness.Process
	// plain reads the source for state comparisons (kit_mysql_test.go).
	plain *sql.DB
	// The second job of a two-job pipeline (kitSink.job): its config,
	// log and process (nil until started).
	jobCfg, jobLog string
	jp             *harness.Process
}

// kitTZ is odsync's process time zone in the kit: not UTC, so time-zone
// bugs show.
const kitTZ = "Asia/Shanghai"

// kitOpen creates the source database name (dropped first), opens the
// driver's sink and writes odsync's config; mapping is extra YAML under
// `mapping:` (indented two spaces), empty for the default mapping.
func kitOpen(t *testing.T, d kitDriver, name, mapping string) *kitRun {
	t.Helper()
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mustExec(t, db, "DROP DATABASE IF EXISTS "+name, "CREATE DATABASE "+name)
	r := &kitRun{t: t, sink: d.open(t), db: db, name: name, dir: t.TempDir()}
	r.cfg = filepath.Join(r.dir, "odsync.yaml")
	r.log = filepath.Join(r.dir, "odsync.log")
	harness.WriteFile(t, r.cfg, fmt.Sprintf(`state:
  dir: %s
admin:
  addr: 127.0.0.1:0
source:
  type: mysql
  mysql:
    addr: %s
    user: root
    password: ${ODSYNC_TEST_PASSWORD:-}
    server_id: %d
mapping:
  include: ["%s\\..*"]
%ssinks:
%s`, filepath.Join(r.dir, "state"), srv.Addr(), 10000+rand.IntN(50000), name, mapping, r.sink.entry))
	if j := r.sink.job; j != nil {
		r.jobCfg = filepath.Join(r.dir, "job.yaml")
		r.jobLog = filepath.Join(r.dir, "job.log")
		harness.WriteFile(t, r.jobCfg, j.config(t, r, mapping))
	}
	return r
}

// start runs odsync (each job of the pipeline that is not running; a
// full second job waits for startFull) and waits until it has connected.
func (r *kitRun) start() {
	r.t.Helper()
	if j := r.sink.job; j != nil && !j.full && (r.jp == nil || r.jp.Exited()) {
		r.startJob()
	}
	if r.p != nil && !r.p.Exited() {
		return
	}
	env := append([]string{"TZ=" + kitTZ}, r.sink.env...)
	connected := func() int {
		b, _ := os.ReadFile(r.log)
		return strings.Count(string(b), "starting at the current position") + strings.Count(string(b), "resuming from checkpoint")
	}
	before := connected()
	r.p = harness.StartBinary(r.t, harness.Binary(r.t), env, r.log, "run", "-c", r.cfg)
	harness.Eventually(r.t, 60*time.Second, "odsync to connect", func() (bool, string) {
		if r.p.Exited() {
			r.t.Fatalf("odsync exited early:\n%s", r.logTail())
		}
		return connected() > before, "not yet"
	})
}

// startJob runs the pipeline's second job.
func (r *kitRun) startJob() {
	r.t.Helper()
	env := append([]string{"TZ=" + kitTZ}, r.sink.job.env...)
	r.jp = harness.StartBinary(r.t, harness.Binary(r.t), env, r.jobLog, "run", "-c", r.jobCfg)
}

// startFull starts a full second job (kitJob.full) once the first job's
// sink holds n distinct changes of each of the ODS tables of tables; a
// no-op for other pipelines.
func (r *kitRun) startFull(n int, tables ...string) {
	r.t.Helper()
	j := r.sink.job
	if j == nil || !j.full || r.jp != nil {
		return
	}
	for _, tb := range tables {
		harness.Eventually(r.t, 90*time.Second, "every change of "+tb+" in the first job's sink", func() (bool, string) {
			if r.exited() {
				r.t.Fatalf("odsync exited:\n%s", r.logTail())
			}
			got := j.landed(r.t, r.table(tb))
			return got >= n, fmt.Sprintf("%d of %d changes", got, n)
		})
	}
	r.startJob()
}

// exited reports whether a job of the pipeline has ended.
func (r *kitRun) exited() bool {
	return r.p != nil && r.p.Exited() || r.jp != nil && r.jp.Exited()
}

// kill ends the pipeline's jobs with SIGKILL: for a two-job pipeline,
// round 0, 3, ... kills the first job, 1, 4, ... the second, 2, 5, ... both.
func (r *kitRun) kill(round int) {
	r.t.Helper()
	if r.jp == nil || round%3 != 1 {
		r.p.Kill()
	}
	if r.jp != nil && round%3 != 0 {
		r.jp.Kill()
	}
}

// logTail is the end of the log of each job, for a failure message.
func (r *kitRun) logTail() string {
	if r.jobLog == "" {
		return kitLogTail(r.log)
	}
	return "first job:\n" + kitLogTail(r.log) + "\nsecond job:\n" + kitLogTail(r.jobLog)
}

// stateLog is the log of the job whose sink writes the target (kitState).
func (r *kitRun) stateLog() string {
	if r.jobLog != "" {
		return r.jobLog
	}
	return r.log
}

// waitSnapshot waits until odsync's initial snapshot is complete, so
// later writes reach the sink through the binlog.
func (r *kitRun) waitSnapshot() {
	r.t.Helper()
	harness.Eventually(r.t, 60*time.Second, "the initial snapshot", func() (bool, string) {
		if r.exited() {
			r.t.Fatalf("odsync exited:\n%s", r.logTail())
		}
		return strings.Contains(readFile(r.t, r.log), `msg="snapshot complete"`), "not yet"
	})
}

// latest reduces a change log to the latest change per key column.
func latest(rows []kitRow, key string) map[string]kitRow {
	m := map[string]kitRow{}
	for _, r := range rows {
		m[r.str(key)] = r
	}
	return m
}

// stop ends odsync (every job of the pipeline) with SIGTERM and expects a
// clean exit.
func (r *kitRun) stop() {
	r.t.Helper()
	if code, err := r.p.Stop(60 * time.Second); err != nil || code != 0 {
		r.t.Fatalf("odsync SIGTERM: exit code %d, %v\n%s", code, err, r.logTail())
	}
	if r.jp != nil {
		if code, err := r.jp.Stop(60 * time.Second); err != nil || code != 0 {
			r.t.Fatalf("second job SIGTERM: exit code %d, %v\n%s", code, err, r.logTail())
		}
	}
}

// exec runs statements in a session with sql_mode ” (zero dates allowed)
// and time zone UTC.
func (r *kitRun) exec(stmts ...string) {
	r.t.Helper()
	conn := sessionConn(r.t, r.db)
	defer conn.Close()
	connExec(r.t, conn, stmts...)
}

// table is the ODS table of a source table under the default mapping.
func (r *kitRun) table(src string) string { return "ods_" + r.name + "_" + src }

// wait polls the sink until cond holds for the rows of an ODS table.
func (r *kitRun) wait(table string, limit time.Duration, cond func([]kitRow) (bool, string)) []kitRow {
	r.t.Helper()
	var rows []kitRow
	harness.Eventually(r.t, limit, "rows in "+table, func() (bool, string) {
		if r.exited() {
			r.t.Fatalf("odsync exited:\n%s", r.logTail())
		}
		rows = r.sink.read(r.t, table)
		return cond(rows)
	})
	return rows
}

// waitSeqs waits until n distinct changes (by _seq) of an ODS table have
// landed.
func (r *kitRun) waitSeqs(table string, n int, limit time.Duration) []kitRow {
	r.t.Helper()
	return r.wait(table, limit, seqsAtLeast(n))
}

func seqsAtLeast(n int) func([]kitRow) (bool, string) {
	return func(rows []kitRow) (bool, string) {
		seqs := map[uint64]bool{}
		for _, x := range rows {
			seqs[x.seq()] = true
		}
		return len(seqs) >= n, fmt.Sprintf("%d distinct changes of %d", len(seqs), n)
	}
}

// poll is wait that reports a timeout (or odsync's exit) as an error and
// returns what landed, so the test can still check those rows.
func (r *kitRun) poll(table string, limit time.Duration, cond func([]kitRow) (bool, string)) []kitRow {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		rows := r.sink.read(r.t, table)
		ok, msg := cond(rows)
		if ok {
			return rows
		}
		if r.exited() {
			r.t.Errorf("odsync exited before everything landed in %s (%s):\n%s", table, msg, r.logTail())
			return rows
		}
		if time.Now().After(deadline) {
			r.t.Errorf("timed out after %s waiting for %s: %s\n%s", limit, table, msg, r.logTail())
			return rows
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kitLogTail returns the end of an odsync log for a failure message.
func kitLogTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// kitEach runs part (named as in kitDriver.parts) as one parallel subtest
// per driver that runs it.
func kitEach(t *testing.T, name string, part func(t *testing.T, d kitDriver)) {
	for _, d := range kitDrivers {
		if !d.runs(name) {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			part(t, d)
		})
	}
}
