package kafka

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
	kh "github.com/odsync/odsync/harness/kafka"
)

// A merger that spills emits exactly what one that holds everything in
// memory emits (events, transactions, chunks and checkpoints), keeps its
// memory near max_buffer_bytes, and holds every partition's checkpoint
// offset at or before the messages whose rows are only on disk.
func TestMergerSpillMatchesInMemory(t *testing.T) {
	type step struct {
		part  int
		units []codec.Decoded
	}
	var steps []step
	add := func(p int, u ...codec.Decoded) { steps = append(steps, step{p, u}) }
	// A transaction of 300 rows at ts 20 over both partitions and two
	// tables, rows before and after it, a DDL, interleaved watermarks.
	add(0, mrow("a", 10, 1, "before"))
	add(1, mrow("b", 11, 2, "before"))
	add(0, mwm(12))
	add(1, mwm(12))
	for i := 0; i < 300; i++ {
		add(i%2, mrow([]string{"a", "b"}[i%3%2], 20, int64(100+i), strings.Repeat("v", 50)))
		if i == 150 {
			add(1, mddl("b", 15, "ALTER TABLE b ADD c INT"))
			add(0, mddl("b", 15, "ALTER TABLE b ADD c INT")) // the broadcast copy
		}
	}
	add(0, mrow("a", 30, 3, "after"), mwm(25))
	add(1, mwm(25))
	add(1, mrow("b", 31, 4, "after"), mwm(40))
	add(0, mwm(40))

	run := func(spill bool) (*mergerHarness, []int64) {
		h := newMergerHarness(t, 2, func(c *mergerConfig) {
			c.maxBuffer, c.maxEmit, c.cpInterval = 4000, 40, 0
			c.spill, c.spillDir = spill, t.TempDir()
		})
		var peak int64
		for _, s := range steps {
			h.mustSend(s.part, s.units...)
			peak = max(peak, h.m.bufBytes)
			if spill && len(h.m.runs) > 0 {
				// Rows of partition 0's first messages are on disk, not
				// yet emitted: its checkpoint offset stays at them.
				if cp := h.m.checkpoint(); cp.Partitions[0].Offset > 4 {
					t.Fatalf("checkpoint offset %d passes spilled rows (runs %d)", cp.Partitions[0].Offset, len(h.m.runs))
				}
			}
		}
		return h, []int64{peak, int64(h.m.stats.Spills)}
	}
	mem, memStats := run(false)
	disk, diskStats := run(true)
	if diskStats[1] == 0 {
		t.Fatal("nothing was spilled")
	}
	if limit := int64(spillThreshold*4000) + 1000; diskStats[0] > limit {
		t.Fatalf("peak buffered bytes %d with spilling (limit %d; %d without)", diskStats[0], limit, memStats[0])
	}
	if got, want := disk.log(), mem.log(); got != want {
		t.Fatalf("spilled order differs:\n got %s\nwant %s", got, want)
	}
	if len(disk.out) != len(mem.out) {
		t.Fatalf("%d emits with spilling, %d without", len(disk.out), len(mem.out))
	}
	for i := range mem.out {
		if !reflect.DeepEqual(disk.out[i].cp, mem.out[i].cp) {
			t.Fatalf("emit %d: checkpoint %+v with spilling, %+v without", i, disk.out[i].cp, mem.out[i].cp)
		}
		for j := range mem.out[i].events {
			a, b := mem.out[i].events[j], disk.out[i].events[j]
			if fmt.Sprint(a.Row(), a.Pos, a.Source, a.Op, a.DDL, a.CommitTime, a.TxnEnd) != fmt.Sprint(b.Row(), b.Pos, b.Source, b.Op, b.DDL, b.CommitTime, b.TxnEnd) || (a.Table == nil) != (b.Table == nil) || a.Table != nil && a.Table.Version != b.Table.Version {
				t.Fatalf("emit %d event %d differs: %+v, spilled %+v", i, j, a, b)
			}
		}
	}
	if len(disk.m.runs) != 0 || disk.m.spilledBytes != 0 || len(disk.m.ddls) != 0 {
		t.Fatalf("after the release: %d runs, %d spilled bytes, %d DDL keys", len(disk.m.runs), disk.m.spilledBytes, len(disk.m.ddls))
	}
	for _, p := range disk.parts {
		if len(p.spilled) != 0 || p.offset() != p.next {
			t.Fatalf("partition %d: spilled %v, offset %d, next %d", p.tp.partition, p.spilled, p.offset(), p.next)
		}
	}
}

func TestFPSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		fps  []uint64
		new  []bool
	}{
		{"distinct", []uint64{1, 2, 3}, []bool{true, true, true}},
		{"repeat", []uint64{7, 7, 8, 7}, []bool{true, false, true, false}},
		{"zero is one", []uint64{0, 1, 0}, []bool{true, false, false}},
		{"same low bits", []uint64{1 << 40, 2 << 40, 1 << 40}, []bool{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s fpSet
			for i, fp := range tc.fps {
				if got := s.add(fp); got != tc.new[i] {
					t.Fatalf("add(%d) #%d = %v, want %v", fp, i, got, tc.new[i])
				}
			}
		})
	}
	// Growth keeps every member; reset forgets them.
	var s fpSet
	for i := uint64(0); i < 100000; i++ {
		if !s.add(i*2654435761 + 5) {
			t.Fatalf("%d reported present", i)
		}
	}
	for i := uint64(0); i < 100000; i++ {
		if s.add(i*2654435761 + 5) {
			t.Fatalf("%d lost after growth", i)
		}
	}
	if s.n != 100000 || len(s.slots) > 1<<18 {
		t.Fatalf("%d members in %d slots", s.n, len(s.slots))
	}
	s.reset()
	if !s.add(5) || s.slots != nil && len(s.slots) > 1024 {
		t.Fatalf("reset kept members or the large table (%d slots)", len(s.slots))
	}
}

// TestSourceSpillCrashRestart reads a TiCDC transaction of 6000 rows (over
// both partitions, ~4 MB decoded) with max_buffer_bytes 1MiB, so the merger
// spills it to disk, and crashes the source again and again while the
// spilled rows are being handed over: after the restarts every row is in
// the log exactly once, in order, one transaction, and rows were spilled.
func TestSourceSpillCrashRestart(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 2)
	ts := kh.TSO(1767225600000, 0)
	tbl := &kh.Table{DB: "shop", Name: "big", Cols: []kh.Col{kh.C("id", kh.ColBigint), kh.C("note", kh.ColVarchar)}}
	pad := strings.Repeat("n", 200)
	var msgs []kh.Message
	msgs = append(msgs, kh.Message{Partition: 0, Value: tbl.CanalRow("INSERT", ts, kh.Row{kh.V("0"), kh.V("before")}, nil)})
	for p := 0; p < 2; p++ {
		msgs = append(msgs, kh.Message{Partition: p, Value: kh.CanalWatermark(ts)})
	}
	for i := 1; i <= 6000; i++ {
		msgs = append(msgs, kh.Message{Partition: i % 2, Value: tbl.CanalRow("INSERT", ts+10, kh.Row{kh.V(itoa(uint64(i))), kh.V(pad)}, nil)})
	}
	msgs = append(msgs, kh.Message{Partition: 1, Value: tbl.CanalRow("INSERT", ts+20, kh.Row{kh.V("6001"), kh.V("after")}, nil)})
	for p := 0; p < 2; p++ {
		msgs = append(msgs, kh.Message{Partition: p, Value: kh.CanalWatermark(ts + 30)})
	}
	produce(t, cl, "cdc", msgs)
	cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
	cfg.MaxBufferBytes = 1 << 20
	cfg.MaxEmitEvents = 200
	cfg.SpillDir = t.TempDir()
	log := &memLog{}
	var spills uint64
	for round := 0; ; round++ {
		log.mu.Lock()
		log.failAfter = log.emits + 2 + 3*round
		log.mu.Unlock()
		src, err := NewSource(cfg, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, log.checkpoint(), log.emit) }()
		var runErr error
		for {
			if c, err := DecodeCheckpoint(log.checkpoint()); err == nil && c.Released >= ts+30 {
				cancel()
				runErr = <-done
				break
			}
			select {
			case runErr = <-done:
			case <-time.After(5 * time.Millisecond):
				continue
			}
			break
		}
		cancel()
		spills += src.Stats().Spills
		src.Close()
		if runErr == nil {
			t.Logf("%d crashes, %d spills", round, spills)
			break
		}
		if !errors.Is(runErr, errCrash) || round > 60 {
			t.Fatal(runErr)
		}
	}
	if spills == 0 {
		t.Fatal("nothing was spilled")
	}
	evs := log.events()
	if len(evs) != 6002 {
		t.Fatalf("%d rows, want 6002", len(evs))
	}
	seen := map[int64]bool{}
	for i, e := range evs {
		id := e.After[0].Int()
		if seen[id] {
			t.Fatalf("row %d twice", id)
		}
		seen[id] = true
		switch {
		case i == 0 && id != 0, i == 6001 && id != 6001, i > 0 && i < 6001 && (id < 1 || id > 6000):
			t.Fatalf("event %d is row %d", i, id)
		}
		if want := i == 0 || i == 6000 || i == 6001; e.TxnEnd != want {
			t.Fatalf("event %d (row %d): TxnEnd %v", i, id, e.TxnEnd)
		}
	}
	if entries, err := os.ReadDir(cfg.SpillDir); err != nil || len(entries) != 0 {
		t.Fatalf("spill directory: %v, %d entries", err, len(entries))
	}
}

// Once the watermark released a commitTs, the replay fingerprints of its
// rows are dropped (a replay at or below it is dropped by its commitTs),
// and replays are still dropped.
func TestMergerDropsReleasedFingerprints(t *testing.T) {
	h := newMergerHarness(t, 1, func(c *mergerConfig) { c.cpInterval = 0 })
	for i := 0; i < 3000; i++ {
		h.mustSend(0, mrow("a", 7, int64(i), "x"))
	}
	if n := h.parts[0].high[tblNamed("a").ID].rows.n; n != 3000 {
		t.Fatalf("%d fingerprints before the release", n)
	}
	h.mustSend(0, mwm(7))
	hm := h.parts[0].high[tblNamed("a").ID]
	if hm.rows.n != 0 || len(hm.rows.slots) > 1024 {
		t.Fatalf("after the release: %d fingerprints in %d slots", hm.rows.n, len(hm.rows.slots))
	}
	h.mustSend(0, mrow("a", 7, 5, "x"), mrow("a", 8, 1, "y"), mwm(9)) // a replay, then a new row
	if got := h.log(); !strings.HasSuffix(got, "a@7:2999| a@8:1|") || strings.Count(got, "a@7:5 ") != 1 {
		t.Fatalf("log %s", got[max(0, len(got)-80):])
	}
}
