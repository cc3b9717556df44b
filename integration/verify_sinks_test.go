package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/verify"
)

// verifySink is what the end-to-end verify test needs of one sink kind.
type verifySink struct {
	kind string
	// config writes the odsync config capturing db into the sink.
	config func(t *testing.T, dir, addr, db string) string
	// synced waits until the sink holds db's sentinel table.
	synced func(t *testing.T, db *sql.DB, dbName string, p *harness.Process)
	// dropData deletes one data file / object / partition of the ODS table.
	dropData func(t *testing.T, table string)
}

// The schema of the end-to-end verify test: a table with one column per
// value kind, a keyless table, and a table whose snapshot conversion is
// broken on purpose (ODSYNC_TEST_BREAK_COLUMN=broken, test build).
const verifySinksSchema = `CREATE TABLE %[1]s.t (id BIGINT PRIMARY KEY, i INT, amount DECIMAL(12,2), name VARCHAR(32),
	bin VARBINARY(8), dt DATETIME(6), ts TIMESTAMP(3) NULL, day DATE, j JSON);
CREATE TABLE %[1]s.bc (id INT PRIMARY KEY, broken VARCHAR(20), ok INT);
CREATE TABLE %[1]s.nk (a INT, b VARCHAR(10), d DECIMAL(6,2))`

func verifySinksRows(db string, from, to int) string {
	var vals []string
	for id := from; id <= to; id++ {
		vals = append(vals, fmt.Sprintf("(%d, %d, %d.%02d, 'n%d', X'%04X', '2024-02-29 23:59:%02d.%06d', '2024-03-01 12:00:%02d.%03d', '2024-01-%02d', '{\"k\": %d}')",
			id, id*7, id, id%100, id, id, id%60, id*37, id%60, id%1000, 1+id%28, id))
	}
	return "INSERT INTO " + db + ".t VALUES " + strings.Join(vals, ", ")
}

// runVerifyJSON runs `odsync verify --json` and decodes the report.
func runVerifyJSON(t *testing.T, args ...string) (*verify.Report, int, string) {
	t.Helper()
	out, code := runVerifyCommand(t, append([]string{"--json"}, args...)...)
	var rep verify.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, code, string(out)
	}
	var b strings.Builder
	_ = rep.WriteText(&b)
	return &rep, code, b.String()
}

// testVerifySink: verify MATCHes after a clean sync (snapshot and binlog
// rows), then MISMATCHes for a tampered value of each kind, a missing and
// an extra row, a missing column and deleted target data; and the table
// whose snapshot a test build converts wrongly MISMATCHes from the start.
func testVerifySink(t *testing.T, s verifySink) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := "vk_" + s.kind
	mustExec(t, db, "DROP DATABASE IF EXISTS "+name, "CREATE DATABASE "+name)
	for _, st := range strings.Split(fmt.Sprintf(verifySinksSchema, name), ";\n") {
		mustExec(t, db, st)
	}
	// Before odsync starts: copied by the snapshot.
	mustExec(t, db, verifySinksRows(name, 1, 60))
	var bc []string
	for i := 1; i <= 10; i++ {
		bc = append(bc, fmt.Sprintf("(%d, 'v%d', %d)", i, i, i))
	}
	mustExec(t, db, "INSERT INTO "+name+".bc VALUES "+strings.Join(bc, ", "),
		"INSERT INTO "+name+".nk VALUES (1, 'x', 1.50), (1, 'x', 1.50), (2, NULL, NULL)")
	dir := t.TempDir()
	cfg := s.config(t, dir, srv.Addr(), name)
	withAdmin(t, cfg, "") // on a free port: verify is told where (--status)
	p := harness.StartBinary(t, harness.TestHooksBinary(t), []string{"ODSYNC_TEST_BREAK_COLUMN=broken"},
		filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	waitRunning(t, p)
	base := waitAdmin(t, p)
	// After: through the binlog.
	mustExec(t, db, verifySinksRows(name, 61, 120), "UPDATE "+name+".t SET name = NULL WHERE id % 9 = 0",
		"DELETE FROM "+name+".t WHERE id % 31 = 0",
		"INSERT INTO "+name+".nk VALUES (3, 'y', -0.25), (4, 'z', 0)", "DELETE FROM "+name+".nk WHERE a = 4")
	s.synced(t, db, name, p)
	tbl := name + ".t"
	common := []string{"-c", cfg, "--chunk-size", "50", "--settle", "2s", "--wait", "60s", "--examples", "10", "--status", base + "/status"}

	// 1. A clean sync matches.
	rep, code, text := runVerifyJSON(t, append(common, "--table", tbl)...)
	if code != 0 || rep == nil || rep.Summary.Matched != 1 {
		t.Fatalf("clean sync: exit %d\n%s", code, text)
	}
	if tr := tableResult(t, rep, tbl); tr.SourceRows != 117 || tr.TargetRows != 117 || tr.SourceChecksum != tr.TargetChecksum || len(tr.Columns.Types) != 9 {
		t.Errorf("clean sync: %d/%d rows, checksums %s/%s, types %+v", tr.SourceRows, tr.TargetRows, tr.SourceChecksum, tr.TargetChecksum, tr.Columns.Types)
	}

	// A table without a key: count and checksum, then an extra source row.
	nk := name + ".nk"
	rep, code, text = runVerifyJSON(t, append(common, "--table", nk)...)
	if tr := tableResult(t, rep, nk); code != 0 || tr.SourceRows != 4 || tr.TargetRows != 4 {
		if s.kind == "local" {
			for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
				if strings.HasSuffix(r.Table, "_nk") {
					t.Logf("ODS row: %v", r.Data)
				}
			}
		}
		t.Fatalf("keyless table after a clean sync: exit %d\n%s", code, text)
	}
	unlogged(t, db, "INSERT INTO "+nk+" VALUES (1, 'x', 1.50)")
	rep, code, text = runVerifyJSON(t, append(common, "--table", nk)...)
	if tr := tableResult(t, rep, nk); code != 1 || tr.Diffs.Missing != 1 || tr.SourceChecksum == tr.TargetChecksum {
		t.Errorf("keyless table with a row the target lacks: exit %d\n%s", code, text)
	}

	// 2. The broken snapshot conversion is caught: every snapshot row of
	// bc differs in column broken (and only there).
	rep, code, text = runVerifyJSON(t, append(common, "--table", name+".bc")...)
	if code != 1 || rep == nil {
		t.Fatalf("broken capture conversion: exit %d\n%s", code, text)
	}
	if tr := tableResult(t, rep, name+".bc"); tr.Diffs.Changed != 10 || len(tr.ChunkList) == 0 ||
		len(tr.ChunkList[0].Examples) == 0 || len(tr.ChunkList[0].Examples[0].Columns) != 1 ||
		tr.ChunkList[0].Examples[0].Columns[0].Column != "broken" || !strings.HasSuffix(tr.ChunkList[0].Examples[0].Columns[0].Target, `?"`) {
		t.Errorf("broken capture conversion: %+v\n%s", tr.Diffs, text)
	}

	// 3. One tampered value of each kind.
	tampers := []struct {
		id       int64
		column   string
		stmt     string
		src, tgt string // expected report values ("" not checked)
	}{
		{11, "i", "UPDATE %s SET i = i + 1000 WHERE id = 11", `"1077"`, `"77"`},
		{12, "amount", "UPDATE %s SET amount = amount + 0.01 WHERE id = 12", `"12.13"`, `"12.12"`},
		{13, "name", "UPDATE %s SET name = 'n13x' WHERE id = 13", `"n13x"`, `"n13"`},
		{14, "bin", "UPDATE %s SET bin = X'FFFF' WHERE id = 14", "", ""},
		{15, "dt", "UPDATE %s SET dt = dt + INTERVAL 1 SECOND WHERE id = 15", "", ""},
		{16, "ts", "UPDATE %s SET ts = ts + INTERVAL 1 SECOND WHERE id = 16", "", ""},
		{17, "day", "UPDATE %s SET day = '1999-12-31' WHERE id = 17", "", ""},
		{19, "j", `UPDATE %s SET j = '{"k":19}' WHERE id = 19`, `"{\"k\":19}"`, `"{\"k\": 19}"`}, // whitespace only
	}
	for _, tp := range tampers {
		unlogged(t, db, fmt.Sprintf(tp.stmt, tbl))
	}
	rep, code, text = runVerifyJSON(t, append(common, "--table", tbl)...)
	if code != 1 || rep == nil {
		t.Fatalf("tampered values: exit %d\n%s", code, text)
	}
	tr := tableResult(t, rep, tbl)
	if tr.Diffs.Changed != int64(len(tampers)) || tr.Diffs.Missing+tr.Diffs.Extra != 0 {
		t.Errorf("tampered values: %+v\n%s", tr.Diffs, text)
	}
	for _, tp := range tampers {
		_, ex := findExample(tr.ChunkList, fmt.Sprintf("id=%d", tp.id))
		if ex == nil || ex.Kind != verify.DiffChanged || len(ex.Columns) != 1 || ex.Columns[0].Column != tp.column ||
			(tp.src != "" && (ex.Columns[0].Source != tp.src || ex.Columns[0].Target != tp.tgt)) {
			t.Errorf("tampered %s (id=%d): %+v\n%s", tp.column, tp.id, ex, text)
		}
	}
	if len(tr.Fixes) == 0 || !strings.Contains(strings.Join(tr.Fixes, "\n"), "odsync snapshot -c "+cfg+" --table "+tbl) {
		t.Errorf("no re-snapshot fix: %q", tr.Fixes)
	}

	// 4. A row missing in the target and an extra one.
	unlogged(t, db, fmt.Sprintf("INSERT INTO %s (id, name) VALUES (9001, 'ghost')", tbl), fmt.Sprintf("DELETE FROM %s WHERE id = 40", tbl))
	rep, code, text = runVerifyJSON(t, append(common, "--table", tbl)...)
	if tr = tableResult(t, rep, tbl); code != 1 || tr.Diffs.Missing != 1 || tr.Diffs.Extra != 1 || tr.Diffs.Changed != int64(len(tampers)) {
		t.Errorf("missing and extra row: exit %d, %+v\n%s", code, tr.Diffs, text)
	}
	for key, kind := range map[string]string{"id=9001": verify.DiffMissing, "id=40": verify.DiffExtra} {
		if _, ex := findExample(tr.ChunkList, key); ex == nil || ex.Kind != kind {
			t.Errorf("%s: %+v\n%s", key, ex, text)
		}
	}

	// 5. A column the target does not have.
	unlogged(t, db, fmt.Sprintf("ALTER TABLE %s ADD COLUMN added INT DEFAULT 5", tbl))
	rep, code, text = runVerifyJSON(t, append(common, "--table", tbl)...)
	if tr = tableResult(t, rep, tbl); code != 1 || tr.Columns.Match || !slices.Equal(tr.Columns.MissingInTarget, []string{"added"}) {
		t.Errorf("missing column: exit %d, %+v\n%s", code, tr.Columns, text)
	}

	// 5b. ALTER TABLE … ADD COLUMN … DEFAULT through the binlog: the rows
	// logged before it keep NULL in the new column; verify says so and
	// names the fix. (Local sink: the S3 sink's DDL is another helper's.)
	if s.kind == "local" {
		ad := name + ".ad"
		mustExec(t, db, "CREATE TABLE "+ad+" (id INT PRIMARY KEY, v INT)", "INSERT INTO "+ad+" VALUES (1, 1), (2, 2)",
			"ALTER TABLE "+ad+" ADD COLUMN c INT NOT NULL DEFAULT 5", "INSERT INTO "+ad+" VALUES (3, 3, 6)")
		s.synced(t, db, name, p)
		rep, code, text = runVerifyJSON(t, append(common, "--table", ad)...)
		tr := tableResult(t, rep, ad)
		if code != 1 || tr.Diffs.Changed != 2 || !strings.Contains(strings.Join(tr.Fixes, "\n"), "column c is NULL in the target in 2 rows") ||
			!strings.Contains(strings.Join(tr.Fixes, "\n"), "odsync snapshot -c "+cfg+" --table "+ad) {
			t.Errorf("ADD COLUMN DEFAULT: exit %d, fixes %q\n%s", code, tr.Fixes, text)
		}
	}

	// 6. Deleted target data.
	s.dropData(t, "ods_"+name+"_t")
	rep, code, text = runVerifyJSON(t, append(common, "--table", tbl, "--wait", "10s")...)
	if tr = tableResult(t, rep, tbl); code != 1 || tr.Diffs.Missing < 2 {
		t.Errorf("deleted target data: exit %d, %+v\n%s", code, tr.Diffs, text)
	}
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Errorf("odsync stop: exit %d, %v", code, err)
	}
}

func TestVerifySinksLocal(t *testing.T) {
	var ods string
	testVerifySink(t, verifySink{
		kind: "local",
		config: func(t *testing.T, dir, addr, db string) string {
			ods = filepath.Join(dir, "ods")
			return localConfig(t, dir, addr, db, "max_age: 100ms")
		},
		synced: func(t *testing.T, db *sql.DB, dbName string, _ *harness.Process) {
			waitForSentinel(t, db, dbName, ods)
		},
		dropData: func(t *testing.T, table string) {
			files, _ := filepath.Glob(filepath.Join(ods, table, "*=*", "*.*"))
			if len(files) == 0 {
				t.Fatalf("no data files of %s", table)
			}
			slices.Sort(files)
			if err := os.Remove(files[0]); err != nil {
				t.Fatal(err)
			}
			t.Logf("deleted %s", files[0])
		},
	})
}

func TestVerifySinksS3(t *testing.T) {
	s3 := startS3(t)
	s3Env(t, s3)
	var name string
	testVerifySink(t, verifySink{
		kind: "s3",
		config: func(t *testing.T, dir, addr, db string) string {
			name = db
			// Before odsync ever runs: nothing uploaded, no checkpoint. verify
			// waits (--wait) and reports the table unsettled, not a mismatch.
			cfg := s3RunConfig(t, dir, addr, db, s3SinkYAML(s3, "pq", "pq",
				"format: parquet\nfile_size: 8KiB\nmin_file_size: 1KiB\nflush_interval: 1s\nmax_age: 1s\ncheckpoint_interval: 200ms", ""))
			withAdmin(t, cfg, "")
			start := time.Now()
			rep, code, text := runVerifyJSON(t, "-c", cfg, "--table", db+".t", "--wait", "3s", "--settle", "1s")
			if code != 3 || rep == nil || rep.Summary.Unsettled != 1 || time.Since(start) < 3*time.Second {
				t.Errorf("verify before the first upload: exit %d after %v\n%s", code, time.Since(start), text)
			}
			return cfg
		},
		synced: func(t *testing.T, db *sql.DB, dbName string, _ *harness.Process) {
			mustExec(t, db, "CREATE TABLE "+dbName+".sentinel (id INT PRIMARY KEY)", "INSERT INTO "+dbName+".sentinel VALUES (1)")
			waitS3Complete(t, s3, "pq", "ods_"+dbName+"_sentinel")
		},
		dropData: func(t *testing.T, table string) {
			var keys []string
			for k := range s3Objects(t, s3, "pq") {
				if strings.HasPrefix(k, table+"/") && isDataKey(k) {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				t.Fatalf("no objects of %s", table)
			}
			slices.Sort(keys)
			_, err := s3.Client().DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: aws.String("ods"), Key: aws.String("pq/" + keys[0])})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("deleted %s (%s)", keys[0], name)
		},
	})
}

func TestVerifySinksMaxCompute(t *testing.T) {
	emu := startMCEmu(t)
	testVerifySink(t, verifySink{
		kind: "maxcompute",
		config: func(t *testing.T, dir, addr, db string) string {
			return mcRunConfig(t, dir, addr, db, "", "", mcSinkYAML(emu, "mc", "", "max_age: 200ms"))
		},
		synced: func(t *testing.T, db *sql.DB, dbName string, p *harness.Process) {
			mustExec(t, db, "CREATE TABLE "+dbName+".sentinel (id INT PRIMARY KEY)", "INSERT INTO "+dbName+".sentinel VALUES (1)")
			waitRows(t, emu, "ods_"+dbName+"_sentinel", 90*time.Second, p, func(rows []mcRow) (bool, string) {
				return len(rows) == 1, fmt.Sprintf("%d rows", len(rows))
			})
		},
		dropData: func(t *testing.T, table string) {
			o, _ := mcClients(emu)
			tb := o.Table(table)
			parts, err := tb.GetPartitionValues()
			if err != nil || len(parts) == 0 {
				t.Fatalf("partitions of %s: %v %v", table, parts, err)
			}
			slices.Sort(parts)
			if err := tb.DeletePartition(true, parts[0]); err != nil {
				t.Fatal(err)
			}
			t.Logf("dropped partition %s of %s", parts[0], table)
		},
	})
}

// TestVerifyScheduled: `verify.interval` runs verification inside
// `odsync run`; its results are on /status, the status page and /metrics,
// and a difference made behind the capture's back shows up there.
func TestVerifyScheduled(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS vsch", "CREATE DATABASE vsch",
		"CREATE TABLE vsch.t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO vsch.t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "vsch", "max_age: 100ms")
	withAdmin(t, cfg, "verify:\n  interval: 2s\n  pause: 100ms\n  wait: 10s\n  tables: [vsch.t]\n")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	base := waitAdmin(t, p)
	type status struct {
		Verify []struct {
			Sink, Table, Status string
			Changed             int64
			Time                time.Time
		} `json:"verify"`
	}
	var last time.Time
	wait := func(want string, changed int64) {
		t.Helper()
		harness.Eventually(t, 90*time.Second, "scheduled verify: "+want, func() (bool, string) {
			code, body := adminGet(t, base+"/status")
			var st status
			if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
				return false, body
			}
			for _, r := range st.Verify {
				if r.Table == "vsch.t" && r.Sink == "files" && r.Status == want && r.Changed == changed && r.Time.After(last) {
					last = r.Time
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", st.Verify)
		})
	}
	wait(verify.StatusMatch, 0)
	unlogged(t, db, "UPDATE vsch.t SET v = 'x' WHERE id = 2")
	wait(verify.StatusMismatch, 1)
	if _, page := adminGet(t, base+"/"); !strings.Contains(page, `id="verify"`) || !strings.Contains(page, "mismatch") {
		t.Errorf("status page lacks the verify table:\n%s", page)
	}
	_, metrics := adminGet(t, base+"/metrics")
	if !strings.Contains(metrics, `odsync_verify_status{`) || !regexp.MustCompile(`odsync_verify_status\{[^}]*table="vsch.t"[^}]*\} 1`).MatchString(metrics) {
		t.Errorf("metrics lack odsync_verify_status 1 for vsch.t:\n%s", grepLines(metrics, "odsync_verify"))
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Errorf("odsync stop: exit %d, %v", code, err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
