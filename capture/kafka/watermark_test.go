package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// Merger unit tests: messages are built directly as decoded units, so
// ordering, de-duplication, checkpoints and backpressure are checked
// without Kafka.

var testTbl = (&event.Table{ID: event.TableID{DB: "db", Table: "t"}, Key: []int{0},
	Columns: []event.Column{{Name: "id", Type: event.TypeBigInt}, {Name: "v", Type: event.TypeVarchar, Nullable: true}}}).Seal()

func tblNamed(name string) *event.Table {
	t := *testTbl
	t.ID.Table = name
	return t.Seal()
}

// mrow is a row unit: table name, commitTs, key, value.
func mrow(table string, ts uint64, id int64, v string) codec.Decoded {
	t := tblNamed(table)
	return codec.Decoded{Kind: codec.KindRow, CommitTs: ts, Events: []event.Event{{Op: event.OpInsert, Source: t.ID, Table: t,
		After: []event.Value{event.Int(id), event.String(v)}, CommitTime: int64(ts)}}}
}

func mddl(table string, ts uint64, sql string) codec.Decoded {
	return codec.Decoded{Kind: codec.KindDDL, CommitTs: ts, Events: []event.Event{{Op: event.OpDDL, Source: event.TableID{DB: "db", Table: table},
		DDL: sql, CommitTime: int64(ts), TxnEnd: true}}}
}

func mwm(ts uint64) codec.Decoded { return codec.Decoded{Kind: codec.KindWatermark, Watermark: ts} }

type emitted struct {
	events []event.Event
	cp     *Checkpoint
}

type mergerHarness struct {
	t     *testing.T
	m     *merger
	parts map[int]*partState
	out   []emitted
	off   map[int]int64
}

func newMergerHarness(t *testing.T, n int, mutate func(*mergerConfig)) *mergerHarness {
	h := &mergerHarness{t: t, parts: map[int]*partState{}, off: map[int]int64{}}
	var parts []*partState
	for i := 0; i < n; i++ {
		p := &partState{tp: tp{"cdc", i}, file: fmt.Sprintf("cdc/%d", i), gate: newGate()}
		h.parts[i] = p
		parts = append(parts, p)
	}
	cfg := mergerConfig{ordering: OrderingWatermark, protocol: codec.ProtocolCanalJSON, maxBuffer: 1 << 30, maxEmit: 1000,
		cpInterval: time.Hour, stallWarn: time.Hour, log: slog.New(slog.DiscardHandler)}
	if mutate != nil {
		mutate(&cfg)
	}
	h.m = newMerger(cfg, func(ctx context.Context, evs []event.Event, cp []byte) error {
		e := emitted{events: evs}
		if cp != nil {
			c, err := DecodeCheckpoint(cp)
			if err != nil {
				t.Fatal(err)
			}
			e.cp = &c
		}
		h.out = append(h.out, e)
		return nil
	}, parts, map[tp]PartitionCheckpoint{})
	return h
}

// send delivers one message (with the given units) to partition p.
func (h *mergerHarness) send(p int, units ...codec.Decoded) error {
	o := h.off[p]
	h.off[p]++
	for i := range units {
		for j := range units[i].Events {
			units[i].Events[j].Pos = event.Position{File: fmt.Sprintf("cdc/%d", p), Offset: uint64(o)}
		}
	}
	if err := h.m.add(context.Background(), h.parts[p], []message{{offset: o, units: units}}); err != nil {
		return err
	}
	return h.m.release(context.Background(), false)
}

func (h *mergerHarness) mustSend(p int, units ...codec.Decoded) {
	h.t.Helper()
	if err := h.send(p, units...); err != nil {
		h.t.Fatal(err)
	}
}

// log renders every emitted event: "t@ts:id" for rows, "ddl t@ts", with "|" after TxnEnd.
func (h *mergerHarness) log() string {
	var b []string
	for _, e := range h.out {
		for _, ev := range e.events {
			s := ""
			if ev.Op == event.OpDDL {
				s = fmt.Sprintf("ddl %s@%d", ev.Source.Table, ev.CommitTime)
			} else {
				s = fmt.Sprintf("%s@%d:%d", ev.Source.Table, ev.CommitTime, ev.Row()[0].Int())
			}
			if ev.TxnEnd {
				s += "|"
			}
			b = append(b, s)
		}
	}
	return strings.Join(b, " ")
}

func (h *mergerHarness) lastCP() *Checkpoint {
	for i := len(h.out) - 1; i >= 0; i-- {
		if h.out[i].cp != nil {
			return h.out[i].cp
		}
	}
	return nil
}

func TestMergerOrdersByWatermark(t *testing.T) {
	h := newMergerHarness(t, 3, nil)
	// Table a in partition 0, b in 1, c in 2; a transaction at 20 spans a and b.
	h.mustSend(0, mrow("a", 10, 1, "x"))
	h.mustSend(1, mrow("b", 20, 1, "y"))
	h.mustSend(0, mrow("a", 20, 2, "x"))
	h.mustSend(2, mrow("c", 15, 1, "z"))
	h.mustSend(0, mwm(20))
	h.mustSend(1, mwm(20))
	if got := h.log(); got != "" {
		t.Fatalf("released before every partition passed the rows: %s", got)
	}
	h.mustSend(2, mwm(18))
	if got, want := h.log(), "a@10:1| c@15:1|"; got != want {
		t.Fatalf("after W=18: %s, want %s", got, want)
	}
	h.mustSend(2, mwm(25))
	if got, want := h.log(), "a@10:1| c@15:1| b@20:1 a@20:2|"; got != want {
		t.Fatalf("after W=20: %s, want %s", got, want)
	}
	cp := h.lastCP()
	if cp.Released != 20 {
		t.Fatalf("released %d, want 20", cp.Released)
	}
	for _, pc := range cp.Partitions {
		if pc.Offset != h.off[pc.Partition] {
			t.Errorf("partition %d checkpoint offset %d, want %d (all released)", pc.Partition, pc.Offset, h.off[pc.Partition])
		}
	}
}

func TestMergerDDLBarrier(t *testing.T) {
	h := newMergerHarness(t, 2, nil)
	h.mustSend(1, mrow("t", 5, 1, "old"))
	h.mustSend(0, mddl("t", 7, "ALTER TABLE t ADD c int"))
	h.mustSend(1, mrow("t", 9, 2, "new"))
	h.mustSend(1, mrow("u", 6, 3, "old"), mwm(10)) // an open-protocol batch: row then resolved
	h.mustSend(0, mwm(10))
	if got, want := h.log(), "t@5:1| u@6:3| ddl t@7| t@9:2|"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestMergerDropsReplays(t *testing.T) {
	h := newMergerHarness(t, 2, nil)
	h.mustSend(0, mrow("a", 10, 1, "x"))
	h.mustSend(0, mrow("a", 12, 2, "x"))
	h.mustSend(0, mwm(12))
	h.mustSend(1, mwm(12))
	// TiCDC restarted: it re-sends 10 and 12 (below the watermark), then
	// 14 twice (the table's latest commitTs, buffered) and new rows.
	h.mustSend(0, mrow("a", 14, 3, "x"))
	h.mustSend(0, mrow("a", 10, 1, "x"))
	h.mustSend(0, mrow("a", 12, 2, "x"))
	h.mustSend(0, mrow("a", 14, 3, "x"))
	h.mustSend(0, mrow("a", 14, 4, "x")) // same commitTs, another row: kept
	h.mustSend(0, mrow("a", 13, 9, "x")) // below the table's latest: a replay
	// Broadcast DDL copies (open-protocol).
	h.mustSend(0, mddl("a", 15, "ALTER"))
	h.mustSend(1, mddl("a", 15, "ALTER"))
	h.mustSend(0, mwm(20))
	h.mustSend(1, mwm(20))
	if got, want := h.log(), "a@10:1| a@12:2| a@14:3 a@14:4| ddl a@15|"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if h.m.stats.Duplicates != 4 || h.m.stats.DDLCopies != 1 {
		t.Fatalf("stats %+v", h.m.stats)
	}
}

func TestMergerCheckpointOffsetIsLowestUnreleased(t *testing.T) {
	h := newMergerHarness(t, 2, func(c *mergerConfig) { c.cpInterval = 0 })
	h.mustSend(0, mrow("a", 10, 1, "x")) // offset 0
	h.mustSend(0, mrow("b", 30, 1, "x")) // offset 1: waits
	h.mustSend(0, mrow("a", 20, 2, "x")) // offset 2
	h.mustSend(0, mwm(25))               // offset 3
	h.mustSend(1, mwm(25))               // partition 1 offset 0
	cp := h.lastCP()
	p0, _ := cp.Find("cdc", 0)
	if p0.Offset != 1 || p0.Released != 25 || p0.Watermark != 25 {
		t.Fatalf("partition 0 checkpoint %+v, want offset 1 (the row at 30 is not released), released 25", p0)
	}
	// A restart from that checkpoint re-reads offsets 1..3: the rows at 30
	// are kept, the one at 20 (in the log) dropped, and the watermark of
	// offset 3 holds again once offset 3 is read.
	h2 := newMergerHarness(t, 2, nil)
	for _, pc := range cp.Partitions {
		h2.parts[pc.Partition].resume(pc)
		h2.off[pc.Partition] = pc.Offset
	}
	h2.m.released = cp.Released
	h2.mustSend(0, mrow("b", 30, 1, "x"))
	h2.mustSend(0, mrow("a", 20, 2, "x"))
	h2.mustSend(1, mwm(40))
	if got := h2.log(); got != "" {
		t.Fatalf("released before partition 0 re-read its watermark: %s", got)
	}
	h2.mustSend(0, mwm(25))
	h2.mustSend(0, mwm(40))
	if got, want := h2.log(), "b@30:1|"; got != want {
		t.Fatalf("after restart: %s, want %s", got, want)
	}
}

func TestMergerBadMessages(t *testing.T) {
	h := newMergerHarness(t, 1, nil)
	err := h.m.add(context.Background(), h.parts[0], []message{{offset: 7, err: errors.New("bad JSON")}})
	var bad *BadMessageError
	if !errors.As(err, &bad) || bad.Topic != "cdc" || bad.Partition != 0 || bad.Offset != 7 ||
		!strings.Contains(err.Error(), "topic cdc partition 0 offset 7: bad JSON") {
		t.Fatalf("err = %v", err)
	}
	// A row without commitTs cannot be ordered.
	err = h.send(0, codec.Decoded{Kind: codec.KindRow, Events: mrow("a", 0, 1, "x").Events})
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), "enable-tidb-extension") {
		t.Fatalf("err = %v", err)
	}
	// With a dead-letter handler the message is recorded and skipped.
	var dead []int64
	h = newMergerHarness(t, 1, func(c *mergerConfig) {
		c.deadLetter = func(ctx context.Context, p *partState, m *message) ([]event.Event, error) {
			dead = append(dead, m.offset)
			return nil, nil
		}
	})
	h.mustSend(0, mrow("a", 5, 1, "x"))
	if err := h.m.add(context.Background(), h.parts[0], []message{{offset: 1, err: errors.New("bad")}}); err != nil {
		t.Fatal(err)
	}
	h.off[0] = 2
	h.mustSend(0, mwm(9))
	if got := h.log(); got != "a@5:1|" || len(dead) != 1 || dead[0] != 1 {
		t.Fatalf("log %s, dead %v", got, dead)
	}
	if cp := h.lastCP(); cp.Partitions[0].Offset != 3 {
		t.Fatalf("checkpoint %+v", cp)
	}
}

func TestMergerOffsetOrdering(t *testing.T) {
	h := newMergerHarness(t, 2, func(c *mergerConfig) { c.ordering = OrderingOffset; c.cpInterval = 0 })
	h.mustSend(0, mrow("a", 0, 1, "x"))
	h.mustSend(1, mrow("b", 0, 1, "x"), mrow("b", 0, 2, "x"))
	h.mustSend(0, mwm(5))
	if got, want := h.log(), "a@0:1| b@0:1 b@0:2|"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	cp := h.lastCP()
	if p0, _ := cp.Find("cdc", 0); p0.Offset != 2 || p0.Released != 0 {
		t.Fatalf("checkpoint %+v", cp)
	}
}

func TestMergerBackpressure(t *testing.T) {
	h := newMergerHarness(t, 2, func(c *mergerConfig) { c.maxBuffer = 1000 })
	// Partition 0 runs ahead; partition 1 lags: once the buffer is over
	// its bound, partition 0 is paused and partition 1 is not.
	for i := 0; i < 20; i++ {
		h.mustSend(0, mrow("a", uint64(10+i), int64(i), strings.Repeat("x", 100)))
	}
	h.mustSend(0, mwm(100))
	if !h.parts[0].gate.paused || h.parts[1].gate.paused {
		t.Fatalf("paused: p0 %v p1 %v (buffer %d)", h.parts[0].gate.paused, h.parts[1].gate.paused, h.m.bufBytes)
	}
	h.mustSend(1, mwm(100))
	if h.parts[0].gate.paused || h.m.bufBytes != 0 {
		t.Fatalf("still paused after the release (buffer %d)", h.m.bufBytes)
	}
	if n := strings.Count(h.log(), "|"); n != 20 {
		t.Fatalf("%d transactions released", n)
	}
}

func TestMergerHugeTransactionChunks(t *testing.T) {
	h := newMergerHarness(t, 1, func(c *mergerConfig) { c.maxEmit = 3 })
	var units []codec.Decoded
	for i := 0; i < 10; i++ {
		units = append(units, mrow("a", 7, int64(i), "x"))
	}
	h.mustSend(0, units...)
	h.mustSend(0, mrow("a", 8, 100, "x"), mwm(9))
	var withCP, without int
	for _, e := range h.out {
		if e.cp == nil {
			without++
			for _, ev := range e.events {
				if ev.TxnEnd {
					t.Fatal("a chunk without checkpoint ends a transaction")
				}
			}
		} else {
			withCP++
		}
	}
	if without == 0 || !strings.HasSuffix(h.log(), "a@7:9| a@8:100|") {
		t.Fatalf("%d chunks without checkpoint, %d with; log %s", without, withCP, h.log())
	}
}

// A quarantine row is logged with the checkpoint that moves past its
// message, so a restart in between neither loses nor repeats it.
func TestMergerQuarantineWaitsForEarlierRows(t *testing.T) {
	q := QuarantineTable(event.TableID{DB: "odsync", Table: "dead"})
	h := newMergerHarness(t, 1, func(c *mergerConfig) {
		c.cpInterval = 0
		c.deadLetter = func(ctx context.Context, p *partState, m *message) ([]event.Event, error) {
			return []event.Event{{Op: event.OpInsert, Source: q.ID, Table: q, After: []event.Value{event.String("cdc"), event.Int(0), event.Int(m.offset)}}}, nil
		}
	})
	h.mustSend(0, mrow("a", 5, 1, "x")) // offset 0: waits for the watermark
	if err := h.m.add(context.Background(), h.parts[0], []message{{offset: 1, err: errors.New("bad")}}); err != nil {
		t.Fatal(err)
	}
	h.off[0] = 2
	if err := h.m.release(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	for _, e := range h.out {
		for _, ev := range e.events {
			if ev.Source == q.ID {
				t.Fatalf("quarantine row logged while the checkpoint is still at offset %d", e.cp.Partitions[0].Offset)
			}
		}
	}
	h.mustSend(0, mwm(9))
	last := h.out[len(h.out)-1]
	if len(last.events) != 2 || last.events[1].Source != q.ID || last.cp.Partitions[0].Offset != 3 {
		t.Fatalf("last emit %+v", last)
	}
}

// TestMergerStopDeliversBacklog: with on_error: stop, the changes ordered
// before a bad message reach the log with a checkpoint at the bad message,
// in one batch of messages (a backlog) as well as across batches; a
// restart from that checkpoint meets the bad message again.
func TestMergerStopDeliversBacklog(t *testing.T) {
	for _, ordering := range []string{OrderingWatermark, OrderingOffset} {
		t.Run(ordering, func(t *testing.T) {
			h := newMergerHarness(t, 2, func(c *mergerConfig) { c.ordering = ordering })
			backlog := []message{
				{offset: 0, units: []codec.Decoded{mrow("a", 10, 1, "x")}},
				{offset: 1, units: []codec.Decoded{mrow("a", 11, 2, "x")}},
				{offset: 2, units: []codec.Decoded{mwm(11)}},
				{offset: 3, units: []codec.Decoded{mrow("a", 12, 3, "x")}},
				{offset: 4, err: errors.New("bad JSON")},
				{offset: 5, units: []codec.Decoded{mrow("a", 13, 4, "x")}},
			}
			if err := h.m.add(context.Background(), h.parts[1], []message{{offset: 0, units: []codec.Decoded{mwm(20)}}}); err != nil {
				t.Fatal(err)
			}
			err := h.m.add(context.Background(), h.parts[0], backlog)
			var bad *BadMessageError
			if !errors.As(err, &bad) || bad.Offset != 4 || bad.Partition != 0 {
				t.Fatalf("err = %v, want the bad message at partition 0 offset 4", err)
			}
			cp := h.lastCP()
			if cp == nil {
				t.Fatal("no checkpoint emitted before the stop")
			}
			var pc PartitionCheckpoint
			for _, c := range cp.Partitions {
				if c.Partition == 0 {
					pc = c
				}
			}
			switch ordering {
			case OrderingWatermark:
				// Rows at or below the watermark 11 are ordered; the row at
				// 12 waits for a watermark, so the checkpoint re-reads it.
				if got, want := h.log(), "a@10:1| a@11:2|"; got != want {
					t.Fatalf("log %q, want %q", got, want)
				}
				if pc.Offset != 3 || pc.Released != 11 {
					t.Fatalf("checkpoint %+v, want offset 3 released 11", pc)
				}
			default:
				if got, want := h.log(), "a@10:1| a@11:2| a@12:3|"; got != want {
					t.Fatalf("log %q, want %q", got, want)
				}
				if pc.Offset != 4 {
					t.Fatalf("checkpoint %+v, want offset 4 (the bad message)", pc)
				}
			}
			// A restart from the checkpoint meets the bad message again.
			h2 := newMergerHarness(t, 2, func(c *mergerConfig) { c.ordering = ordering })
			for _, c := range cp.Partitions {
				h2.parts[c.Partition].resume(c)
			}
			h2.m.released = cp.Released
			err = h2.m.add(context.Background(), h2.parts[0], backlog[pc.Offset:])
			if !errors.As(err, &bad) || bad.Offset != 4 {
				t.Fatalf("after restart: err = %v", err)
			}
			if strings.Contains(h2.log(), "a@10") || strings.Contains(h2.log(), "a@11") {
				t.Fatalf("after restart rows were delivered twice: %s", h2.log())
			}
		})
	}
}
