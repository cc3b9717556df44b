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

// TestReverseMaxComputeIncremental is reverse sync through MaxCompute in
// incremental mode: MariaDB → the MaxCompute sink (emulator, progress
// marks every 200ms) → the maxcompute source → the MySQL sink. After the
// full load, inserts, updates, deletes and key changes follow through the
// progress marks (only the partitions they list are read); the reverse
// job is killed (-9) while idle and while it catches up, and ends equal
// to the source: verify says MATCH for every table.
func TestReverseMaxComputeIncremental(t *testing.T) {
	emu := newMCEmu(t)
	fwd := kitDriver{name: "mc", system: kitMaxCompute, open: func(t *testing.T) *kitSink {
		return &kitSink{entry: mcSinkYAML(emu, "kit", "flush_age: 200ms\nprogress_interval: 200ms", "max_rows: 50\n      max_age: 100ms"), env: mcEnv,
			read: func(t testing.TB, table string) []kitRow { return mcReadTable(t, emu, table) }}
	}}
	r := kitOpen(t, fwd, "rv_mci", "")
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
	r.exec(fmt.Sprintf("UPDATE %s.c SET v = CONCAT(v, '-u'), n = n + 1 WHERE id %% 3 = 0", r.name),
		fmt.Sprintf("DELETE FROM %s.c WHERE id %% 7 = 0", r.name))
	time.Sleep(time.Second)

	// The reverse job: the maxcompute source (incremental, the default)
	// into the MySQL sink, while the forward job keeps running.
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
    poll_interval: 200ms
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
	rv.waitState("t", 120*time.Second)
	rv.waitState("c", 60*time.Second)
	if b := readFile(t, rv.log); !strings.Contains(b, "full load done") {
		t.Errorf("the reverse job logged no full load:\n%s", kitLogTail(rv.log))
	}
	if code, out := adminCmd(t, mcEnv, "check", "-c", rv.cfg); code != 0 || !strings.Contains(out, "source: progress marks: every change up to _seq ") {
		t.Errorf("odsync check of the reverse job: exit %d, want 0 and the progress marks named:\n%s", code, out)
	}

	// Incremental: changes after the full load.
	kitInsertTypes(r, types, 100)
	r.exec(fmt.Sprintf("UPDATE %s.c SET v = 'again', n = -n WHERE id %% 5 = 1", r.name),
		fmt.Sprintf("DELETE FROM %s.c WHERE id %% 11 = 0", r.name),
		fmt.Sprintf("UPDATE %s.c SET id = id + 2000 WHERE id BETWEEN 20 AND 24", r.name),
		fmt.Sprintf("UPDATE %s.t SET i = 7, txt = 'changed' WHERE id = 1", r.name),
		fmt.Sprintf("DELETE FROM %s.t WHERE id = 2", r.name))
	rv.waitState("c", 60*time.Second)
	rv.waitState("t", 60*time.Second)
	if b := readFile(t, rv.log); strings.Count(b, "full load done") != 1 {
		t.Errorf("the reverse job loaded in full more than once:\n%s", kitLogTail(rv.log))
	}

	// kill -9 while idle, changes meanwhile; then kill -9 while it
	// catches up; the restarted job ends equal.
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
	time.Sleep(2 * time.Second) // the forward job writes them and its marks
	startRV()
	time.Sleep(700 * time.Millisecond)
	rv.p.Kill()
	startRV()
	rv.waitState("c", 90*time.Second)
	rv.waitState("t", 60*time.Second)
	rv.stop()
	r.stop()
	if b := readFile(t, rv.log); strings.Contains(b, "no progress mark reaches back") {
		t.Errorf("an incremental step read every partition instead of those the marks list:\n%s", kitLogTail(rv.log))
	}

	// Verify the final target against the original source.
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "sinks:\n")
	vr := &kitRun{t: t, sink: &kitSink{env: mcEnv}, dir: t.TempDir()}
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
}
