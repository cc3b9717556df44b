package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/kafka/codec"
	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/schema"
)

// ticdcHelperConfig is what the parent hands to the TiCDC helper process.
type ticdcHelperConfig struct {
	Brokers  []string
	Topic    string
	Group    string
	Protocol string
	State    string
	Out      string
}

// TestTiCDCHelperProcess is not a test: it is the odsync process the
// TiCDC kill tests start, stop and kill. It wires the Kafka source, the
// durable log, the pipeline and the local sink, like odsync run.
func TestTiCDCHelperProcess(t *testing.T) {
	if os.Getenv("ODSYNC_TICDC_HELPER") != "1" {
		return
	}
	var hc ticdcHelperConfig
	if err := json.Unmarshal([]byte(os.Getenv("ODSYNC_TICDC_CONFIG")), &hc); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if os.Getenv("ODSYNC_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	code := func() int {
		mapper, err := schema.New(schema.Config{Include: []string{`shop\..*`}})
		if err != nil {
			lg.Error("mapper", "err", err)
			return 1
		}
		log, err := offsets.Open(hc.State, offsets.Options{Logger: lg})
		if err != nil {
			lg.Error("log", "err", err)
			return 1
		}
		defer log.Close()
		src, err := kafka.NewSource(kafka.SourceConfig{Brokers: hc.Brokers, Topics: []string{hc.Topic}, GroupID: hc.Group,
			Config: codec.Config{Protocol: hc.Protocol}, Durable: log.Checkpoint, MaxEmitEvents: 200,
			FetchMaxWait: 100 * time.Millisecond, CommitInterval: 200 * time.Millisecond,
			SessionTimeout: 3 * time.Second, HeartbeatInterval: 300 * time.Millisecond, RebalanceTimeout: 3 * time.Second},
			mapper.Captures, lg.With("component", "capture"))
		if err != nil {
			lg.Error("source", "err", err)
			return 1
		}
		defer src.Close()
		if code := runHelperPipeline(ctx, lg, log, src, mapper, hc.Out, 300); code != 0 {
			return code
		}
		lg.Info("helper stopped", "stats", fmt.Sprintf("%+v", src.Stats()))
		return 0
	}()
	os.Exit(code)
}

func startTiCDCHelper(t *testing.T, hc ticdcHelperConfig, logPath string) *helperProc {
	t.Helper()
	return startHelperProcess(t, "TestTiCDCHelperProcess", "ODSYNC_TICDC_HELPER", "ODSYNC_TICDC_CONFIG", hc, logPath)
}

// ticdcODSState replays the ODS change rows (sorted by _seq) into table
// state keyed like kafka.Workload.Expected, checking that _seq is unique.
func ticdcODSState(t *testing.T, rows []harness.Row) (map[string]map[string]map[string]*string, int) {
	t.Helper()
	state := map[string]map[string]map[string]*string{}
	seen := map[uint64]bool{}
	changes := 0
	for _, r := range rows {
		if seen[r.Seq()] {
			t.Fatalf("_seq %d twice (%s)", r.Seq(), r.File)
		}
		seen[r.Seq()] = true
		tbl := "shop." + strings.TrimPrefix(r.Table, "ods_shop_")
		m := state[tbl]
		if m == nil {
			m = map[string]map[string]*string{}
			state[tbl] = m
		}
		changes++
		id := fmt.Sprint(r.Data["id"])
		if r.Op() == "D" {
			delete(m, id)
			continue
		}
		row := map[string]*string{}
		for k, v := range r.Data {
			if strings.HasPrefix(k, "_") || k == "ds" {
				continue
			}
			if v == nil {
				row[k] = nil
			} else {
				s := fmt.Sprint(v)
				row[k] = &s
			}
		}
		m[id] = row
	}
	return state, changes
}

// TestTiCDCKill9 streams a simulated TiCDC changefeed (3 partitions,
// interleaved tables, DDL between rows, watermarks, replayed duplicates)
// into odsync while it is killed with SIGKILL and stopped gracefully again
// and again: in the end the ODS holds every change exactly once and its
// replay equals the upstream tables.
func TestTiCDCKill9(t *testing.T) {
	cases := []struct {
		name string
		o    kh.WorkloadOptions
		grp  string
	}{
		{"canal-json", kh.WorkloadOptions{Seed: 101, Partitions: 3, Tables: 6, Txns: 3000, DDLEvery: 700, Replays: 3}, ""},
		{"open-protocol group", kh.WorkloadOptions{Seed: 102, Partitions: 4, Tables: 5, Txns: 3000, Protocol: "open-protocol", Dispatch: "key", DDLEvery: 900, Replays: 3}, "odsync-kill"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := kh.GenerateWorkload(c.o)
			cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": c.o.Partitions}})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			proto := c.o.Protocol
			if proto == "" {
				proto = "canal-json"
			}
			dir := t.TempDir()
			if keep := os.Getenv("ODSYNC_TEST_KEEP"); keep != "" {
				dir, _ = os.MkdirTemp(keep, "ticdc-kill9-")
				t.Logf("keeping %s", dir)
			}
			hc := ticdcHelperConfig{Brokers: cl.Addrs, Topic: "cdc", Group: c.grp, Protocol: proto,
				State: filepath.Join(dir, "state"), Out: filepath.Join(dir, "ods")}
			logPath := filepath.Join(dir, "odsync.log")
			// The changefeed is written while odsync runs.
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
			rng := rand.New(rand.NewPCG(c.o.Seed, 7))
			h := startTiCDCHelper(t, hc, logPath)
			kills, stops := 0, 0
			all := "partitions=" + strings.Join(allPartitions("cdc", c.o.Partitions), ",")
			for i := 0; i < 8; i++ {
				if c.grp != "" {
					// kfake never expires a member whose JoinGroup answer
					// could not be delivered (a process killed while
					// joining), so it would keep its partitions forever; a
					// real broker expires it after session_timeout. Kill
					// only a member that holds every partition.
					waitLog(t, logPath, all, strings.Count(readFile(t, logPath), all)+1, 30*time.Second)
				}
				time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
				if h.exited() {
					t.Fatalf("helper exited by itself:\n%s", readFile(t, logPath))
				}
				if i%3 == 2 {
					h.stop(t) // a graceful restart mid-stream
					stops++
				} else {
					h.kill()
					kills++
				}
				h = startTiCDCHelper(t, hc, logPath)
			}
			if err := <-prodDone; err != nil {
				t.Fatal(err)
			}
			var last []string
			deadline := time.Now().Add(90 * time.Second)
			for {
				if h.exited() {
					t.Fatalf("helper exited by itself:\n%s", readFile(t, logPath))
				}
				rows := harness.ReadODS(t, hc.Out)
				got, changes := ticdcODSState(t, rows)
				last = w.Diff(got)
				if len(last) == 0 && changes == w.Changes {
					break
				}
				if changes > w.Changes {
					t.Fatalf("%d change rows in the ODS, more than the %d changes made: a change was delivered twice", changes, w.Changes)
				}
				if time.Now().After(deadline) {
					t.Fatalf("ODS did not converge: %d change rows of %d; %d differences, e.g.:\n%s\nlog tail:\n%s", changes, w.Changes,
						len(last), strings.Join(last[:min(len(last), 15)], "\n"), ticdcTail(readFile(t, logPath), 3000))
				}
				time.Sleep(300 * time.Millisecond)
			}
			h.stop(t)
			t.Logf("%d messages, %d changes, %d DDL; %d kills, %d graceful restarts", len(w.Messages), w.Changes, w.DDLs, kills, stops)
		})
	}
}

func ticdcTail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func allPartitions(topic string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s/%d", topic, i))
	}
	return out
}

// waitLog waits until the helper log holds what at least n times.
func waitLog(t *testing.T, logPath, what string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for strings.Count(readFile(t, logPath), what) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in the log:\n%s", what, ticdcTail(readFile(t, logPath), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
