package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
)

// memLog stands in for the durable log in source tests: events of an emit
// are stored only with a checkpoint (a chunk without one waits for the
// next), and a simulated crash drops what was not committed.
type memLog struct {
	mu        sync.Mutex
	committed []event.Event
	pending   []event.Event
	cp        []byte
	emits     int
	failAfter int // fail the emit with this number (simulated crash); 0 never
}

var errCrash = errors.New("simulated crash")

func (l *memLog) emit(ctx context.Context, evs []event.Event, cp []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emits++
	if l.failAfter > 0 && l.emits >= l.failAfter {
		l.pending = nil
		return errCrash
	}
	l.pending = append(l.pending, evs...)
	if cp != nil {
		l.committed = append(l.committed, l.pending...)
		l.pending = nil
		l.cp = cp
	}
	return nil
}

func (l *memLog) checkpoint() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cp
}

func (l *memLog) events() []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event.Event(nil), l.committed...)
}

// released returns the stored checkpoint's released watermark.
func (l *memLog) released() uint64 {
	b := l.checkpoint()
	if b == nil {
		return 0
	}
	c, err := DecodeCheckpoint(b)
	if err != nil {
		return 0
	}
	return c.Released
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ODSYNC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startKafka starts kfake with a topic and produces the workload.
func startKafka(t testing.TB, topic string, w *kh.Workload, partitions int) *kh.Cluster {
	t.Helper()
	c, err := kh.Start(kh.Options{Topics: map[string]int{topic: partitions}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if w != nil {
		produce(t, c, topic, w.Messages)
	}
	return c
}

func produce(t testing.TB, c *kh.Cluster, topic string, msgs []kh.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := c.Producer(topic)
	defer p.Close()
	for len(msgs) > 0 {
		n := min(len(msgs), 500)
		if err := p.Produce(ctx, msgs[:n]...); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}
}

func testSourceConfig(c *kh.Cluster, topic, protocol string) SourceConfig {
	return SourceConfig{Brokers: c.Addrs, Topics: []string{topic}, Config: codec.Config{Protocol: protocol},
		FetchMaxWait: 50 * time.Millisecond, CheckpointInterval: 50 * time.Millisecond, CommitInterval: 100 * time.Millisecond,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 2 * time.Second,
		TopicRefreshInterval: time.Second, FetchMaxBytes: 64 << 10}
}

// runUntil runs src until the log's released watermark reaches ts (then
// stops it) or Run fails; it returns Run's error.
func runUntil(t testing.TB, src *Source, log *memLog, ts uint64, limit time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, log.checkpoint(), log.emit) }()
	deadline := time.After(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-deadline:
			cancel()
			<-errc
			t.Fatalf("timed out: released %d, want %d; stats %+v", log.released(), ts, src.Stats())
		case <-tick.C:
			if log.released() >= ts {
				cancel()
				return <-errc
			}
		}
	}
}

// applyEvents replays row events into table state, checking that events
// of one table are in commit order.
func applyEvents(t testing.TB, evs []event.Event) (state map[string]map[string]map[string]*string, changes, ddls int) {
	t.Helper()
	state = map[string]map[string]map[string]*string{}
	last := map[string]int64{}
	for i := range evs {
		e := &evs[i]
		id := e.Source.String()
		if e.CommitTime < last[id] {
			t.Fatalf("event %d of %s at %s: commit time %d before %d", i, id, e.Pos, e.CommitTime, last[id])
		}
		last[id] = e.CommitTime
		if e.Op == event.OpDDL {
			ddls++
			continue
		}
		changes++
		m := state[id]
		if m == nil {
			m = map[string]map[string]*string{}
			state[id] = m
		}
		img := e.Row()
		key := img[e.Table.Key[0]].Text()
		if e.Op == event.OpDelete {
			delete(m, key)
			continue
		}
		row := map[string]*string{}
		for c, col := range e.Table.Columns {
			if img[c].IsNull() {
				row[col.Name] = nil
			} else {
				s := img[c].Text()
				row[col.Name] = &s
			}
		}
		m[key] = row
	}
	return state, changes, ddls
}

func checkWorkload(t testing.TB, w *kh.Workload, evs []event.Event) {
	t.Helper()
	got, changes, ddls := applyEvents(t, evs)
	if d := w.Diff(got); len(d) > 0 {
		if len(d) > 20 {
			d = append(d[:20], fmt.Sprintf("... %d more", len(d)-20))
		}
		t.Fatalf("final state differs:\n%s", strings.Join(d, "\n"))
	}
	if changes != w.Changes || ddls != w.DDLs {
		t.Fatalf("%d row changes and %d DDL in the log, want exactly %d and %d", changes, ddls, w.Changes, w.DDLs)
	}
}

func TestSourceWorkload(t *testing.T) {
	cases := []struct {
		name string
		o    kh.WorkloadOptions
	}{
		{"canal-json table dispatch", kh.WorkloadOptions{Seed: 1, Partitions: 3, Tables: 5, Txns: 400, DDLEvery: 90, Replays: 2}},
		{"canal-json key dispatch", kh.WorkloadOptions{Seed: 2, Partitions: 4, Tables: 3, Txns: 400, Dispatch: "key", DDLEvery: 70, Replays: 2}},
		{"open-protocol key dispatch", kh.WorkloadOptions{Seed: 3, Partitions: 3, Tables: 4, Txns: 400, Protocol: "open-protocol", Dispatch: "key", DDLEvery: 80, Replays: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := kh.GenerateWorkload(c.o)
			cl := startKafka(t, "cdc", w, c.o.Partitions)
			proto := c.o.Protocol
			if proto == "" {
				proto = codec.ProtocolCanalJSON
			}
			src, err := NewSource(testSourceConfig(cl, "cdc", proto), nil, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			log := &memLog{}
			if err := runUntil(t, src, log, w.LastTs, time.Minute); err != nil {
				t.Fatal(err)
			}
			checkWorkload(t, w, log.events())
			st := src.Stats()
			if st.Duplicates == 0 {
				t.Errorf("the replays produced no dropped duplicates: %+v", st)
			}
			t.Logf("%d messages, %d changes, %d DDL; stats %+v", len(w.Messages), w.Changes, w.DDLs, st)
		})
	}
}

// TestSourceCrashRestart crashes the source at random log appends (the
// append in flight is lost) and restarts it from the stored checkpoint,
// while the changefeed is still being written: the log ends with every
// change exactly once, in order.
func TestSourceCrashRestart(t *testing.T) {
	cases := []struct {
		name  string
		o     kh.WorkloadOptions
		group string
	}{
		{"canal-json", kh.WorkloadOptions{Seed: 11, Partitions: 3, Tables: 5, Txns: 600, DDLEvery: 110, Replays: 3}, ""},
		{"open-protocol group", kh.WorkloadOptions{Seed: 12, Partitions: 3, Tables: 4, Txns: 600, Protocol: "open-protocol", Dispatch: "key", DDLEvery: 150, Replays: 2}, "odsync-test"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := kh.GenerateWorkload(c.o)
			cl := startKafka(t, "cdc", nil, c.o.Partitions)
			half := len(w.Messages) / 2
			produce(t, cl, "cdc", w.Messages[:half])
			proto := c.o.Protocol
			if proto == "" {
				proto = codec.ProtocolCanalJSON
			}
			log := &memLog{}
			cfg := testSourceConfig(cl, "cdc", proto)
			cfg.MaxEmitEvents = 7
			cfg.GroupID = c.group
			cfg.Durable = log.checkpoint
			rng := uint64(c.o.Seed)
			restarts := 0
			produced := false
			for {
				rng = rng*6364136223846793005 + 1442695040888963407
				log.mu.Lock()
				log.failAfter = log.emits + 1 + int(rng>>33)%25
				log.mu.Unlock()
				src, err := NewSource(cfg, nil, testLogger(t))
				if err != nil {
					t.Fatal(err)
				}
				err = runUntil(t, src, log, w.LastTs, time.Minute)
				src.Close()
				if !produced && restarts >= 3 {
					produce(t, cl, "cdc", w.Messages[half:])
					produced = true
				}
				if err == nil && produced {
					break
				}
				if err != nil && !errors.Is(err, errCrash) {
					t.Fatal(err)
				}
				restarts++
				if restarts > 200 {
					t.Fatal("too many restarts")
				}
			}
			checkWorkload(t, w, log.events())
			t.Logf("%d restarts, %d messages, %d changes", restarts, len(w.Messages), w.Changes)
		})
	}
}
