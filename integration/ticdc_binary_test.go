package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
)

// ticdcConfig writes an odsync config reading topic cdc of the kfake
// brokers into a local sink under dir.
func ticdcConfig(t *testing.T, dir string, brokers []string, protocol, group, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "odsync.yaml")
	groupLine := ""
	if group != "" {
		groupLine = "    group_id: " + group + "\n"
	}
	harness.WriteFile(t, path, fmt.Sprintf(`state:
  dir: %s
source:
  type: ticdc
  ticdc:
    brokers: [%s]
    topics: [cdc]
%s    protocol: %s
    fetch_max_wait: 100ms
    commit_interval: 200ms
    session_timeout: 3s
    heartbeat_interval: 300ms
    rebalance_timeout: 3s
%s
mapping:
  include: ['shop\..*']
sinks:
  - name: files
    type: local
    local:
      dir: %s
    batch:
      max_rows: 300
      max_age: 50ms
`, filepath.Join(dir, "state"), strings.Join(brokers, ", "), groupLine, protocol, extra, filepath.Join(dir, "ods")))
	return path
}

// odsyncCmd runs the binary to completion and returns its output.
func odsyncCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(harness.Binary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			t.Fatal(err)
		}
	}
	return out.String(), code
}

// requireTiCDCWired fails when odsync does not know source type ticdc.
func requireTiCDCWired(t *testing.T, cfg string) {
	t.Helper()
	out, code := odsyncCmd(t, "check", "-c", cfg)
	if code != 0 && (strings.Contains(out, `source.type: "ticdc"`) || strings.Contains(out, "field ticdc not found")) {
		t.Fatalf("this odsync build has no source type ticdc:\n%s", out)
	}
}

// TestTiCDCBinaryKill9 runs the real odsync binary on a simulated TiCDC
// changefeed, kills it with SIGKILL at random moments while the
// changefeed is written, and checks the ODS; then offsets show and a
// source replay.
func TestTiCDCBinaryKill9(t *testing.T) {
	o := kh.WorkloadOptions{Seed: 201, Partitions: 3, Tables: 4, Txns: 2500, DDLEvery: 600, Replays: 2}
	w := kh.GenerateWorkload(o)
	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": o.Partitions}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dir := t.TempDir()
	cfg := ticdcConfig(t, dir, cl.Addrs, "canal-json", "", "")
	requireTiCDCWired(t, cfg)
	out, code := odsyncCmd(t, "check", "-c", cfg)
	if code != 0 || !strings.Contains(out, "cdc") {
		t.Fatalf("odsync check exit %d:\n%s", code, out)
	}
	prodDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p := cl.Producer("cdc")
		defer p.Close()
		msgs := w.Messages
		for len(msgs) > 0 {
			n := min(len(msgs), 150)
			if err := p.Produce(ctx, msgs[:n]...); err != nil {
				prodDone <- err
				return
			}
			msgs = msgs[n:]
			time.Sleep(80 * time.Millisecond)
		}
		prodDone <- nil
	}()
	logPath := filepath.Join(dir, "odsync.log")
	rng := rand.New(rand.NewPCG(201, 1))
	p := harness.Start(t, logPath, "run", "-c", cfg)
	for i := 0; i < 6; i++ {
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		if p.Exited() {
			t.Fatalf("odsync exited by itself:\n%s", readFile(t, logPath))
		}
		p.Kill()
		p = harness.Start(t, logPath, "run", "-c", cfg)
	}
	if err := <-prodDone; err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 90*time.Second, "the ODS to equal the upstream tables", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("odsync exited by itself:\n%s", readFile(t, logPath))
		}
		got, changes := ticdcODSState(t, harness.ReadODS(t, filepath.Join(dir, "ods")))
		diff := w.Diff(got)
		if changes > w.Changes {
			t.Fatalf("%d change rows for %d changes: a change was delivered twice", changes, w.Changes)
		}
		return len(diff) == 0 && changes == w.Changes, fmt.Sprintf("%d of %d changes, %d differences", changes, w.Changes, len(diff))
	})
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: exit %d, %v:\n%s", code, err, ticdcTail(readFile(t, logPath), 3000))
	}
	out, code = odsyncCmd(t, "offsets", "show", "-c", cfg)
	if code != 0 || !strings.Contains(out, "cdc/0") || !strings.Contains(out, "released") {
		t.Fatalf("offsets show exit %d:\n%s", code, out)
	}
	// Replay the source from the beginning: every change is appended again.
	out, code = odsyncCmd(t, "replay", "-c", cfg, "--source-start", "earliest")
	if code != 0 {
		t.Fatalf("replay --source-start exit %d:\n%s", code, out)
	}
	p = harness.Start(t, logPath, "run", "-c", cfg)
	harness.Eventually(t, 90*time.Second, "the replayed changes", func() (bool, string) {
		_, changes := ticdcODSState(t, harness.ReadODS(t, filepath.Join(dir, "ods")))
		return changes == 2*w.Changes, fmt.Sprintf("%d change rows, want %d", changes, 2*w.Changes)
	})
	got, _ := ticdcODSState(t, harness.ReadODS(t, filepath.Join(dir, "ods")))
	if d := w.Diff(got); len(d) > 0 {
		t.Fatalf("after the replay the ODS differs: %s", strings.Join(d[:min(len(d), 10)], "\n"))
	}
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop after replay: exit %d, %v", code, err)
	}
}

// TestTiCDCBinaryBadMessage: a bad message stops odsync with exit 1 and an
// error naming topic, partition, offset and cause; with on_error:
// dead_letter it goes to the quarantine table and odsync continues.
func TestTiCDCBinaryBadMessage(t *testing.T) {
	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tbl := &kh.Table{DB: "shop", Name: "orders", Cols: []kh.Col{kh.C("id", kh.ColBigint), kh.C("n", kh.ColBigint)}}
	ts := kh.TSO(1767225600000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := cl.Producer("cdc")
	defer p.Close()
	if err := p.Produce(ctx,
		kh.Message{Partition: 1, Value: tbl.CanalRow("INSERT", ts, kh.Row{kh.V("1"), kh.V("10")}, nil)},
		kh.Message{Partition: 1, Value: []byte(`{"id":0,"database":"shop","table":"orders","isDdl":false,"type":"INSERT","data":[{"id":"1"}]`)},
		kh.Message{Partition: 1, Value: tbl.CanalRow("INSERT", ts+1, kh.Row{kh.V("2"), kh.V("20")}, nil)},
		kh.Message{Partition: 0, Value: kh.CanalWatermark(ts + 5)},
		kh.Message{Partition: 1, Value: kh.CanalWatermark(ts + 5)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := ticdcConfig(t, dir, cl.Addrs, "canal-json", "", "")
	requireTiCDCWired(t, cfg)
	logPath := filepath.Join(dir, "odsync.log")
	proc := harness.Start(t, logPath, "run", "-c", cfg)
	code, err := proc.Wait(60 * time.Second)
	if err != nil || code != 1 {
		t.Fatalf("exit %d (%v), want 1:\n%s", code, err, readFile(t, logPath))
	}
	if l := readFile(t, logPath); !strings.Contains(l, "topic cdc partition 1 offset 1") || !strings.Contains(l, "canal-json") {
		t.Fatalf("the error does not name the position and cause:\n%s", l)
	}
	dir2 := t.TempDir()
	cfg2 := ticdcConfig(t, dir2, cl.Addrs, "canal-json", "", "    on_error: dead_letter\n    dead_letter:\n      table: shop.dead_letters\n")
	withAdmin(t, cfg2, "")
	proc = harness.Start(t, filepath.Join(dir2, "odsync.log"), "run", "-c", cfg2)
	base := waitAdmin(t, proc)
	harness.Eventually(t, 60*time.Second, "both rows and the quarantine row", func() (bool, string) {
		rows := harness.ReadODS(t, filepath.Join(dir2, "ods"))
		var tables []string
		for _, r := range rows {
			tables = append(tables, r.Table)
		}
		return len(rows) == 3, strings.Join(tables, ",")
	})
	// The bad message is counted where the docs say: metrics and /status.
	harness.Eventually(t, 30*time.Second, "odsync_source_messages_total{kind=bad_messages} 1", func() (bool, string) {
		_, metrics := adminGet(t, base+"/metrics")
		return metricValue(metrics, `odsync_source_messages_total{kind="bad_messages"}`) == 1 &&
			metricValue(metrics, `odsync_source_messages_total{kind="rows"}`) >= 2, metrics
	})
	if _, st := adminGet(t, base+"/status"); !regexp.MustCompile(`"bad_messages":\s*1`).MatchString(st) {
		t.Errorf("/status source counters lack bad_messages:\n%s", st)
	}
	if code, err := proc.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: exit %d, %v", code, err)
	}
}
