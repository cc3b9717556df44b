package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/verify"
)

// TestReverseS3ToMySQL is reverse sync through S3: MariaDB → S3 (Parquet,
// odsync's change-log tables) → the s3 source → the MySQL sink into
// another MariaDB. The kit's every-type table and a change log with
// inserts, updates, deletes and key changes land equal to the source,
// cell by cell: first by the full load of the tables' state, then
// incrementally as new objects arrive, across two kill -9 of the reverse
// process (one while it is idle, one in the middle of catching up).
// Verify then compares the final target with the original source.
func TestReverseS3ToMySQL(t *testing.T) {
	srv := startS3(t)
	env := []string{"ODSYNC_TEST_S3_KEY=" + srv.AccessKey, "ODSYNC_TEST_S3_SECRET=" + srv.SecretKey, "AWS_EC2_METADATA_DISABLED=true"}
	fwd := kitDriver{name: "s3", system: kitFiles, open: func(t *testing.T) *kitSink {
		return &kitSink{entry: s3SinkYAML(srv, "kit", "kit", "format: parquet\n"+kitS3Roll, "max_rows: 50\n      max_age: 100ms"), env: env,
			read: func(t testing.TB, table string) []kitRow {
				return kitReadFiles(t, "parquet", kitS3Files(t, srv, table))
			}}
	}}
	r := kitOpen(t, fwd, "rv_s3", "")
	var types []kitType
	var defs []string
	for _, topic := range kitTypes {
		for _, ty := range topic.types {
			types = append(types, ty)
			defs = append(defs, ty.col+" "+ty.ddl)
		}
	}
	r.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY, %s) DEFAULT CHARSET=utf8mb4", r.name, strings.Join(defs, ", ")),
		fmt.Sprintf("CREATE TABLE %s.c (id INT PRIMARY KEY, v VARCHAR(32), n BIGINT)", r.name))
	kitInsertTypes(r, types, 0)
	var vals []string
	for i := 1; i <= 200; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'v%d', %d)", i, i, i*10))
	}
	r.exec(fmt.Sprintf("INSERT INTO %s.c VALUES %s", r.name, strings.Join(vals, ", ")))
	r.start()
	r.waitSnapshot()
	// Changes through the binlog: the change log holds inserts, updates,
	// deletes and key changes (a delete and an insert).
	kitInsertTypes(r, types, 100)
	r.exec(fmt.Sprintf("UPDATE %s.c SET v = CONCAT(v, '-u'), n = n + 1 WHERE id %% 3 = 0", r.name),
		fmt.Sprintf("DELETE FROM %s.c WHERE id %% 7 = 0", r.name),
		fmt.Sprintf("UPDATE %s.c SET id = id + 1000 WHERE id BETWEEN 10 AND 19", r.name),
		fmt.Sprintf("INSERT INTO %s.c VALUES (5000, 'late', NULL)", r.name),
		fmt.Sprintf("DELETE FROM %s.t WHERE id = 2", r.name))

	// Everything is in the bucket (the last statement's delete landed, and
	// the sink's checkpoint object follows within its interval): the
	// reverse job's full load then holds every change.
	r.wait(r.table("t"), 60*time.Second, func(rows []kitRow) (bool, string) {
		for _, x := range rows {
			if x.str("_op") == "D" {
				return true, ""
			}
		}
		return false, "no delete yet"
	})
	time.Sleep(time.Second)

	// The reverse job: the s3 source into the MySQL sink.
	mk := kitMySQLSink(t)
	rv := &kitRun{t: t, sink: &kitSink{target: mk.target, env: env}, db: r.db, name: r.name, dir: t.TempDir()}
	rv.cfg = filepath.Join(rv.dir, "reverse.yaml")
	rv.log = filepath.Join(rv.dir, "reverse.log")
	harness.WriteFile(t, rv.cfg, fmt.Sprintf(`state:
  dir: %s
admin:
  addr: 127.0.0.1:0
source:
  type: s3
  s3:
    bucket: ods
    prefix: kit
    endpoint: %s
    path_style: true
    access_key_id: ${ODSYNC_TEST_S3_KEY}
    secret_access_key: ${ODSYNC_TEST_S3_SECRET}
    poll_interval: 200ms
    batch_rows: 37
    window_objects: 3
mapping:
  include: ["%s\\..*"]
sinks:
%s`, filepath.Join(rv.dir, "state"), srv.Endpoint, r.name, mk.entry))
	startRV := func() {
		t.Helper()
		rv.p = harness.StartBinary(t, harness.Binary(t), append([]string{"TZ=" + kitTZ}, env...), rv.log, "run", "-c", rv.cfg)
	}
	startRV()
	rv.waitState("t", 120*time.Second)
	rv.waitState("c", 60*time.Second)
	if b := readFile(t, rv.log); !strings.Contains(b, "full load done") || strings.Contains(b, "upto=0 ") {
		t.Errorf("the reverse job logged no full load of the bucket's rows:\n%s", kitLogTail(rv.log))
	}

	// Incremental: new changes arrive as new objects.
	kitInsertTypes(r, types, 200)
	r.exec(fmt.Sprintf("UPDATE %s.c SET v = 'again', n = -n WHERE id %% 5 = 1", r.name),
		fmt.Sprintf("DELETE FROM %s.c WHERE id %% 11 = 0", r.name),
		fmt.Sprintf("UPDATE %s.c SET id = id + 2000 WHERE id BETWEEN 20 AND 24", r.name),
		fmt.Sprintf("UPDATE %s.t SET i = 7, txt = 'changed' WHERE id = 1", r.name))
	rv.waitState("c", 60*time.Second)
	rv.waitState("t", 60*time.Second)
	// Verify with the reverse job's configuration while it runs.
	reverseVerifyRunning(t, rv.cfg, env, waitAdmin(t, rv.p)+"/status", 2)

	// kill -9 while idle, changes meanwhile; then kill -9 while it catches
	// up; the restarted job ends equal (nothing lost, nothing applied out
	// of order).
	rv.p.Kill()
	for round := 0; round < 3; round++ {
		var more []string
		for i := 0; i < 150; i++ {
			id := 10000 + round*1000 + i
			more = append(more, fmt.Sprintf("(%d, 'r%d', %d)", id, round, i))
		}
		r.exec(fmt.Sprintf("INSERT INTO %s.c VALUES %s", r.name, strings.Join(more, ", ")),
			fmt.Sprintf("UPDATE %s.c SET n = n + 100 WHERE id %% 4 = %d", r.name, round),
			fmt.Sprintf("DELETE FROM %s.c WHERE id %% 13 = %d", r.name, round))
	}
	time.Sleep(2 * time.Second) // the forward job uploads them
	startRV()
	time.Sleep(700 * time.Millisecond)
	rv.p.Kill()
	startRV()
	rv.waitState("c", 90*time.Second)
	rv.waitState("t", 60*time.Second)
	rv.stop()
	r.stop()

	// Verify the final target against the original source: a config with
	// the source MariaDB and the reverse job's MySQL sink.
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "sinks:\n")
	vr := &kitRun{t: t, sink: &kitSink{env: env}, dir: t.TempDir()}
	vr.cfg = filepath.Join(vr.dir, "verify.yaml")
	harness.WriteFile(t, vr.cfg, head+"sinks:\n"+mk.entry)
	rep, code, out := kitVerify(t, vr)
	if rep == nil {
		return
	}
	if code != 0 || !rep.OK() || len(rep.Tables) != 2 {
		t.Fatalf("verify of the reverse target against the source: exit %d, want 0 and MATCH for 2 tables:\n%s", code, out)
	}
	for _, tr := range rep.Tables {
		if tr.Status != verify.StatusMatch {
			t.Errorf("verify %s: %s", tr.Table, tr.Status)
		}
	}
	// And with the reverse job's own configuration: the bucket's state at
	// the job's checkpoint against the target.
	reverseVerify(t, rv.cfg, env, mk.target, r.name, 2)
}

// TestReverseMaxComputeToMySQL is reverse sync through MaxCompute: MariaDB
// → the MaxCompute emulator (the unmodified SDK's sessions) → the
// maxcompute source (Tunnel download sessions, full load) → the MySQL sink.
// The kit's every-type table (MaxCompute's STRING decimals, -2^63 and zero
// dates in _raw come back through the documented mapping) and a change log
// with updates, deletes and key changes land equal to the source, also
// with the reverse job killed (-9) right after it started.
func TestReverseMaxComputeToMySQL(t *testing.T) {
	emu := newMCEmu(t)
	fwd := kitDriver{name: "mc", system: kitMaxCompute, open: func(t *testing.T) *kitSink {
		return &kitSink{entry: mcSinkYAML(emu, "kit", "flush_age: 200ms", "max_rows: 50\n      max_age: 100ms"), env: mcEnv,
			read: func(t testing.TB, table string) []kitRow { return mcReadTable(t, emu, table) }}
	}}
	r := kitOpen(t, fwd, "rv_mc", "")
	var types []kitType
	var defs []string
	for _, topic := range kitTypes {
		for _, ty := range topic.types {
			types = append(types, ty)
			defs = append(defs, ty.col+" "+ty.ddl)
		}
	}
	r.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY, %s) DEFAULT CHARSET=utf8mb4", r.name, strings.Join(defs, ", ")),
		fmt.Sprintf("CREATE TABLE %s.c (id INT PRIMARY KEY, v VARCHAR(32), n BIGINT)", r.name))
	kitInsertTypes(r, types, 0)
	var vals []string
	for i := 1; i <= 200; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'v%d', %d)", i, i, i*10))
	}
	r.exec(fmt.Sprintf("INSERT INTO %s.c VALUES %s", r.name, strings.Join(vals, ", ")))
	r.start()
	r.waitSnapshot()
	kitInsertTypes(r, types, 100)
	r.exec(fmt.Sprintf("UPDATE %s.c SET v = CONCAT(v, '-u'), n = n + 1 WHERE id %% 3 = 0", r.name),
		fmt.Sprintf("DELETE FROM %s.c WHERE id %% 7 = 0", r.name),
		fmt.Sprintf("UPDATE %s.c SET id = id + 1000 WHERE id BETWEEN 10 AND 19", r.name),
		fmt.Sprintf("DELETE FROM %s.t WHERE id = 2", r.name))
	r.wait(r.table("t"), 90*time.Second, func(rows []kitRow) (bool, string) {
		for _, x := range rows {
			if x.str("_op") == "D" {
				return true, ""
			}
		}
		return false, "no delete yet"
	})
	r.stop()

	mk := kitMySQLSink(t)
	rv := &kitRun{t: t, sink: &kitSink{target: mk.target, env: mcEnv}, db: r.db, name: r.name, dir: t.TempDir()}
	rv.cfg = filepath.Join(rv.dir, "reverse.yaml")
	rv.log = filepath.Join(rv.dir, "reverse.log")
	harness.WriteFile(t, rv.cfg, fmt.Sprintf(`state:
  dir: %s
admin:
  addr: 127.0.0.1:0
source:
  type: maxcompute
  maxcompute:
    endpoint: %s
    tunnel_endpoint: %s
    project: %s
    access_id: ${ODSYNC_TEST_MC_ID}
    access_key: ${ODSYNC_TEST_MC_KEY}
    batch_rows: 37
mapping:
  include: ["%s\\..*"]
sinks:
%s`, filepath.Join(rv.dir, "state"), emu.Endpoint(), emu.TunnelEndpoint(), mcProject, r.name, mk.entry))
	startRV := func() {
		t.Helper()
		rv.p = harness.StartBinary(t, harness.Binary(t), append([]string{"TZ=" + kitTZ}, mcEnv...), rv.log, "run", "-c", rv.cfg)
	}
	startRV()
	time.Sleep(500 * time.Millisecond)
	rv.p.Kill()
	startRV()
	rv.waitState("t", 120*time.Second)
	rv.waitState("c", 60*time.Second)
	time.Sleep(3 * time.Second)
	if rv.p.Exited() {
		t.Fatalf("the reverse job exited:\n%s", kitLogTail(rv.log))
	}
	rv.stop()
	reverseVerify(t, rv.cfg, mcEnv, mk.target, r.name, 2)
}
