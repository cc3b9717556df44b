package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
)

// kitKafkaSink is the Kafka sink (odsync format, one topic per table) in
// the sink kit. Its driver reads the topics back the way the scale-out
// topology does: an odsync worker (source kafka, protocol odsync) runs
// for the whole subtest and writes a local JSON-lines ODS, which read,
// layout and tamper use. The outage stops the in-process kfake cluster
// (its data kept on disk) and restarts it on the same port.
func kitKafkaSink(t *testing.T) *kitSink {
	dir := t.TempDir()
	cl, err := kh.Start(kh.Options{DataDir: filepath.Join(dir, "kafka")})
	if err != nil {
		harness.Unavailable(t, "kfake", err)
	}
	t.Cleanup(cl.Close)
	ods := filepath.Join(dir, "ods")
	cfg := filepath.Join(dir, "worker.yaml")
	harness.WriteFile(t, cfg, fmt.Sprintf(`state:
  dir: %s
source:
  type: kafka
  kafka:
    brokers: [%s]
    topic_regex: 'kit\..*'
    topic_refresh_interval: 500ms
    protocol: odsync
    fetch_max_wait: 100ms
mapping:
  include: ['.*']
sinks:
  - name: kit
    type: local
    local:
      dir: %s
    batch:
      max_rows: 50
      max_age: 100ms
`, filepath.Join(dir, "state"), strings.Join(cl.Addrs, ", "), ods))
	logPath := filepath.Join(dir, "worker.log")
	worker := harness.StartBinary(t, harness.Binary(t), []string{"TZ=" + kitTZ}, logPath, "run", "-c", cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Kafka kit worker log:\n%s", kitLogTail(logPath))
		}
		worker.Kill()
	})
	alive := func(t testing.TB) {
		if worker.Exited() {
			t.Fatalf("the Kafka kit worker exited:\n%s", kitLogTail(logPath))
		}
	}
	return &kitSink{
		entry: fmt.Sprintf(`  - name: kit
    type: kafka
    kafka:
      brokers: [%s]
      topic: "kit.{db}.{table}"
      partitions: 3
      watermark_interval: 50ms
      produce_timeout: 3s
    batch:
      max_rows: 50
      max_age: 100ms
`, strings.Join(cl.Addrs, ", ")),
		verifyEntry: fmt.Sprintf(`  - name: kit
    type: local
    local:
      dir: %s
`, ods),
		read: func(t testing.TB, table string) []kitRow {
			alive(t)
			return kitReadFiles(t, "jsonl", kitLocalFiles(t, ods, table))
		},
		files: func(t testing.TB, table string) map[string][]byte { return kitLocalFiles(t, ods, table) },
		layout: func(t testing.TB, table string) []string {
			return kitFileLayout(t, "jsonl", kitLocalFiles(t, ods, table))
		},
		down: func(t *testing.T) { cl.Close() },
		up: func(t *testing.T) {
			if err := cl.Restart(); err != nil {
				t.Fatal(err)
			}
		},
		tamper: func(t *testing.T, table string, seq uint64, col, val string) {
			for path, data := range kitLocalFiles(t, ods, table) {
				if out, ok := kitTamperFile(t, "jsonl", data, seq, col, val); ok {
					harness.WriteFile(t, filepath.Join(ods, path), string(out))
					return
				}
			}
			t.Fatalf("tamper: no row with _seq %d in %s", seq, table)
		},
		// The capture replays to Kafka after a kill -9, but the worker
		// drops what its partitions' watermarks and _seq show it has read:
		// each change lands once.
	}
}

// kitVerifyConfig returns the config verify checks: the run's config,
// or, for a sink that verify cannot read directly, the run's source with
// the sink's verifyEntry (what its readers read) as the only sink.
func kitVerifyConfig(t *testing.T, r *kitRun) string {
	if r.sink.verifyEntry == "" {
		return r.cfg
	}
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(b), "sinks:\n")
	if !ok {
		t.Fatal("the kit config has no sinks section")
	}
	path := filepath.Join(r.dir, "verify.yaml")
	harness.WriteFile(t, path, head+"sinks:\n"+r.sink.verifyEntry)
	return path
}
