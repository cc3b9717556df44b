package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
)

// The scale-out topology (docs/kafka-sink.md): one odsync captures MySQL
// and publishes through the Kafka sink (odsync format, one topic per
// table); a consumer group of odsync workers reads the topics (source
// kafka, protocol odsync) and writes ODS files. The capture also writes a
// local sink: the single-instance run the workers' ODS must equal.

// topoCaptureConfig writes the capture's config: MySQL into a Kafka sink
// and a local sink (the reference).
func topoCaptureConfig(t *testing.T, dir, mysqlAddr, db string, brokers []string, partitions int) string {
	t.Helper()
	path := filepath.Join(dir, "capture.yaml")
	harness.WriteFile(t, path, fmt.Sprintf(`state:
  dir: %s
source:
  type: mysql
  mysql:
    addr: %s
    user: root
    password: ${ODSYNC_TEST_PASSWORD:-}
    server_id: %d
mapping:
  include: ["%s\\..*"]
sinks:
  - name: bus
    type: kafka
    kafka:
      brokers: [%s]
      topic: "kt.{db}.{table}"
      partitions: %d
      watermark_interval: 50ms
      produce_timeout: 5s
    batch:
      max_rows: 50
      max_age: 100ms
  - name: reference
    type: local
    local:
      dir: %s
    batch:
      max_rows: 50
      max_age: 100ms
`, filepath.Join(dir, "capture-state"), mysqlAddr, 10000+rand.IntN(50000), db, strings.Join(brokers, ", "), partitions,
		filepath.Join(dir, "reference")))
	return path
}

// topoWorkerConfig writes worker i's config: the group's topics into its
// own ODS directory.
func topoWorkerConfig(t *testing.T, dir string, i int, db string, brokers []string) (cfg, ods string) {
	t.Helper()
	cfg = filepath.Join(dir, fmt.Sprintf("worker%d.yaml", i))
	ods = filepath.Join(dir, fmt.Sprintf("worker%d-ods", i))
	harness.WriteFile(t, cfg, fmt.Sprintf(`state:
  dir: %s
source:
  type: kafka
  kafka:
    brokers: [%s]
    topic_regex: 'kt\..*'
    topic_refresh_interval: 1s
    group_id: odsync-workers
    protocol: odsync
    fetch_max_wait: 100ms
    commit_interval: 200ms
    session_timeout: 3s
    heartbeat_interval: 300ms
    rebalance_timeout: 3s
mapping:
  include: ["%s\\..*"]
sinks:
  - name: ods
    type: local
    local:
      dir: %s
    batch:
      max_rows: 50
      max_age: 100ms
`, filepath.Join(dir, fmt.Sprintf("worker%d-state", i)), strings.Join(brokers, ", "), db, ods))
	return cfg, ods
}

// topoRows reads an ODS directory as (table, _seq) -> row (every column),
// checking that copies of a change (same _seq) are identical; it returns
// how many copies it dropped.
func topoRows(t *testing.T, dirs ...string) (map[string]map[string]any, int) {
	t.Helper()
	out := map[string]map[string]any{}
	copies := 0
	for _, dir := range dirs {
		for _, r := range harness.ReadODS(t, dir) {
			k := fmt.Sprintf("%s/%d", r.Table, r.Seq())
			if prev, ok := out[k]; ok {
				if !reflect.DeepEqual(prev, r.Data) {
					t.Fatalf("two different rows with _seq %d in %s:\n%v\n%v", r.Seq(), r.Table, prev, r.Data)
				}
				copies++
				continue
			}
			out[k] = r.Data
		}
	}
	return out, copies
}

// TestKafkaScaleOut runs the topology with 3 partitions per topic, two
// tables and 2 workers (a third joins midway), kills the capture and the
// workers with SIGKILL during a write load, and checks that the workers'
// ODS, copies removed by _seq, equals the capture's own local sink row for
// row (every column: _seq, _op, _commit_ts, _pos, values), which in turn
// holds every change of the source once, in order.
func TestKafkaScaleOut(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const name = "kso"
	mustExec(t, db, "DROP DATABASE IF EXISTS "+name, "CREATE DATABASE "+name,
		fmt.Sprintf(kitLoadTable, name), fmt.Sprintf(strings.Replace(kitLoadTable, ".t ", ".u ", 1), name))
	cl, err := kh.Start(kh.Options{})
	if err != nil {
		harness.Unavailable(t, "kfake", err)
	}
	defer cl.Close()
	dir := t.TempDir()
	bin := harness.Binary(t)
	capCfg := topoCaptureConfig(t, dir, srv.Addr(), name, cl.Addrs, 3)
	capLog := filepath.Join(dir, "capture.log")
	startCapture := func() *harness.Process {
		return harness.StartBinary(t, bin, nil, capLog, "run", "-c", capCfg)
	}
	type worker struct {
		cfg, ods, log string
		p             *harness.Process
	}
	var workers []*worker
	for i := range 3 {
		cfg, ods := topoWorkerConfig(t, dir, i, name, cl.Addrs)
		workers = append(workers, &worker{cfg: cfg, ods: ods, log: filepath.Join(dir, fmt.Sprintf("worker%d.log", i))})
	}
	startWorker := func(w *worker) { w.p = harness.StartBinary(t, bin, nil, w.log, "run", "-c", w.cfg) }

	capture := startCapture()
	harness.Eventually(t, 60*time.Second, "the capture to connect", func() (bool, string) {
		if capture.Exited() {
			t.Fatalf("capture exited:\n%s", kitLogTail(capLog))
		}
		return strings.Contains(readFile(t, capLog), "snapshot complete"), "not yet"
	})
	startWorker(workers[0])
	startWorker(workers[1])

	ctx, cancel := context.WithCancel(context.Background())
	wt, wu := &writer{}, &writer{}
	done := make(chan struct{}, 2)
	go func() { wt.run(ctx, db, name+".t", 41); done <- struct{}{} }()
	go func() { wu.run(ctx, db, name+".u", 42); done <- struct{}{} }()
	rng := rand.New(rand.NewPCG(7, 8))
	pause := func() { time.Sleep(time.Duration(700+rng.IntN(900)) * time.Millisecond) }
	checkAlive := func() {
		if capture.Exited() {
			t.Fatalf("capture exited by itself:\n%s", kitLogTail(capLog))
		}
		for _, w := range workers {
			if w.p != nil && w.p.Exited() {
				t.Fatalf("worker exited by itself:\n%s", kitLogTail(w.log))
			}
		}
	}
	// Kill -9 the capture twice, worker 0 twice, add worker 2.
	for step := range 6 {
		pause()
		checkAlive()
		switch step {
		case 0, 3:
			capture.Kill()
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			capture = startCapture()
			t.Logf("step %d: capture killed and restarted", step)
		case 1, 4:
			workers[0].p.Kill()
			if step == 4 {
				time.Sleep(4 * time.Second) // past the session timeout: a rebalance hands its partitions over
			}
			startWorker(workers[0])
			t.Logf("step %d: worker 0 killed and restarted", step)
		case 2:
			startWorker(workers[2])
			t.Logf("step %d: worker 2 joined", step)
		}
	}
	pause()
	cancel()
	<-done
	<-done
	if len(wt.errs)+len(wu.errs) > 0 {
		t.Fatalf("write load: %v %v", wt.errs, wu.errs)
	}
	t.Logf("%d changes to t, %d to u", len(wt.ops), len(wu.ops))

	ref := filepath.Join(dir, "reference")
	var odsDirs []string
	for _, w := range workers {
		odsDirs = append(odsDirs, w.ods)
	}
	total := len(wt.ops) + len(wu.ops)
	harness.Eventually(t, 120*time.Second, "every change in the reference and the workers' ODS", func() (bool, string) {
		checkAlive()
		r, _ := topoRows(t, ref)
		w, _ := topoRows(t, odsDirs...)
		return len(r) == total && len(w) == total, fmt.Sprintf("reference %d, workers %d, of %d", len(r), len(w), total)
	})
	if code, err := capture.Stop(60 * time.Second); err != nil || code != 0 {
		t.Errorf("capture stop: exit %d, %v", code, err)
	}
	for _, w := range workers {
		if code, err := w.p.Stop(60 * time.Second); err != nil || code != 0 {
			t.Errorf("worker stop: exit %d, %v\n%s", code, err, kitLogTail(w.log))
		}
	}

	// The reference is exactly the source's changes.
	var refT, refU []harness.Row
	for _, r := range harness.ReadODS(t, ref) {
		switch r.Table {
		case "ods_" + name + "_t":
			refT = append(refT, r)
		case "ods_" + name + "_u":
			refU = append(refU, r)
		}
	}
	checkExactlyOnce(t, refT, wt.ops)
	checkExactlyOnce(t, refU, wu.ops)

	// The workers' ODS, copies removed by _seq, equals it row for row.
	refRows, _ := topoRows(t, ref)
	got, copies := topoRows(t, odsDirs...)
	t.Logf("workers' ODS: %d changes, %d copies (handovers after a kill -9, removed by _seq)", len(got), copies)
	for k, want := range refRows {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s missing from the workers' ODS", k)
			continue
		}
		if !reflect.DeepEqual(g, want) {
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(g)
			t.Errorf("%s differs:\nworkers   %s\nreference %s", k, gj, wj)
		}
	}
	for k := range got {
		if _, ok := refRows[k]; !ok {
			t.Errorf("%s only in the workers' ODS", k)
		}
	}
	// Each worker wrote some of it.
	for i, w := range workers {
		rows, _ := topoRows(t, w.ods)
		t.Logf("worker %d: %d changes", i, len(rows))
	}
	if t.Failed() {
		for i, w := range workers {
			t.Logf("worker %d log:\n%s", i, kitLogTail(w.log))
		}
		if b, err := os.ReadFile(capLog); err == nil {
			t.Logf("capture log:\n%s", ticdcTail(string(b), 4000))
		}
	}
}
