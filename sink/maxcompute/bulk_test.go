package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/odpsemu"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// bulkConfig keeps snapshot sessions open across Writes (only size, the
// caller or Close commit them).
func bulkConfig(c *Config) {
	c.CommitBytes = 1 << 30
	c.CommitIdle = time.Hour
	c.CommitAge = time.Hour
	c.BlockSize = 64 << 10
}

// crash stops a sink as kill -9 would, as far as the target can tell:
// background work ends, nothing is committed or flushed.
func crash(s *Sink) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// A snapshot of many pipeline batches into the emulator with scaled-down
// quotas: one session and one commit per table partition, no 429.
func TestBulkSnapshotWithinQuotas(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) {
		c.MaxUploadSessions = 2
		c.SessionCreateLimit, c.SessionCreateWindow = 5, time.Hour
		c.CommitLimit, c.CommitWindow = 3, time.Hour
	}, func(c *Config) { bulkConfig(c); c.BlockSize = 1 << 20 })
	evs := snapshotEvents(tbl, 1, 40000)
	for i := 0; i < len(evs); i += 500 {
		h.write(batch(evs[i : i+500]))
	}
	if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != 0 {
		t.Errorf("%d commits before the snapshot ended, want 0", n)
	}
	// A change row of the table ends its snapshot: the session is
	// committed before the change row is written.
	ins := simpleEvents(tbl, 40001, 1, event.OpInsert)
	h.write(batch(ins))
	got := readTable(t, h.emu, tg.Name, "ds=20240501")
	checkRows(t, got, tg, append(evs, ins...), false)
	creates, commits, blocks := h.emu.srv.Count(odpsemu.OpUploadCreate), h.emu.srv.Count(odpsemu.OpUploadCommit), h.emu.srv.Count(odpsemu.OpBlockWrite)
	if creates != 1 || commits != 1 {
		t.Errorf("%d sessions created and %d commits for 80 batches, want 1 and 1", creates, commits)
	}
	if blocks != 80 {
		t.Errorf("%d blocks written, want 80 (one per batch)", blocks)
	}
	for _, a := range h.emu.errorAnswers() {
		if strings.Contains(a, "429") {
			t.Errorf("a quota was hit: %s", a)
		}
	}
	t.Logf("40000 rows in 80 batches: %d session, %d commit, %d blocks", creates, commits, blocks)
}

// The idle timer commits a snapshot that stopped (no Close, no change row),
// and a size bound commits a big one in several sessions.
func TestBulkCommitTriggers(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, schema.Config{}, func(c *Config) {
		bulkConfig(c)
		c.CommitIdle = 50 * time.Millisecond
		c.CommitBlocks = 10
	})
	evs := snapshotEvents(tbl, 1, 25*200)
	for i := 0; i < len(evs); i += 200 {
		h.write(batch(evs[i : i+200]))
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.emu.srv.Count(odpsemu.OpUploadCommit) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != 3 {
		t.Errorf("%d commits of 25 blocks with commit_blocks 10, want 3 (10, 10, 5 after idle)", n)
	}
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
}

// kill -9 mid-snapshot: batches acknowledged into an open session, one
// batch half written (blocks on the server, not recorded), then a restart
// that replays from before the crash (some acknowledged batches again, the
// half-written one cut the same but encoded in fewer blocks): the session
// is reattached and commits exactly the recorded rows, once.
func TestBulkCrashMidUpload(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, schema.Config{}, func(c *Config) {
		bulkConfig(c)
		c.BlockSize = 8 << 10
		c.MaxAttempts = 1
	})
	evs := snapshotEvents(tbl, 1, 10*300)
	part := func(i int) []event.Event { return evs[i*300 : (i+1)*300] }
	for i := range 6 {
		h.write(batch(part(i)))
	}
	// Batch 7 fails after some of its blocks reached the server.
	written := h.emu.srv.Count(odpsemu.OpBlockWrite)
	h.emu.srv.SetFaults(odpsemu.Faults{FailNth: 3, Ops: []odpsemu.Op{odpsemu.OpBlockWrite}})
	if err := h.sink.Write(ctxT(t), batch(part(6))); err == nil {
		t.Fatal("Write succeeded although a block write failed")
	}
	h.emu.srv.SetFaults(odpsemu.Faults{})
	if h.emu.srv.Count(odpsemu.OpBlockWrite) <= written+1 {
		t.Fatal("no block of the failed batch reached the server")
	}
	crash(h.sink)
	if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != 0 {
		t.Fatalf("%d commits before the crash, want 0", n)
	}
	// Restart with bigger blocks: the replayed batch 7 needs fewer ids
	// than the crashed attempt left.
	h.cfg.BlockSize = 1 << 20
	s, err := New(h.cfg, newMapper(t, h.mapCfg), h.log, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h.sink = s
	t.Cleanup(func() { s.Close(context.Background()) })
	for i := 3; i < 10; i++ { // batches 4..6 were acknowledged: the pipeline may replay them
		h.write(batch(part(i)))
	}
	if err := h.sink.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
	if n := h.emu.srv.Count(odpsemu.OpUploadCreate); n != 1 {
		t.Errorf("%d upload sessions created, want 1 (reattached after the crash)", n)
	}
	if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
}

// BenchmarkSnapshotLoad loads a snapshot of 300,000 rows in pipeline
// batches into the emulator with its default (real-service) quotas, one
// session per batch (commit_bytes 1: what the sink did before bulk
// sessions) and with bulk sessions (defaults), and reports rows/s and the
// sessions, commits and blocks (files) per table.
//
//	go test -run '^$' -bench SnapshotLoad -benchtime 1x ./sink/maxcompute/
//
// ODSYNC_BENCH_ROWS sets the row count (default 300000; rows are made per
// batch, so millions fit in memory). It goes through Write, the
// synchronous API, which cuts the open blocks at every call: one block per
// batch (blocks span batches only through WriteAck, the pipeline's path).
// The "bulk-4x4MiB" mode at 100,000-row batches (about 14MiB encoded) cuts
// each batch into 4MiB blocks, against one block per batch ("bulk").
func BenchmarkSnapshotLoad(b *testing.B) {
	tbl := simpleTable()
	rows := 300000
	if v := os.Getenv("ODSYNC_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100000 || n%100000 != 0 {
			b.Fatalf("ODSYNC_BENCH_ROWS=%q: want a multiple of 100000", v)
		}
		rows = n
	}
	for _, batchRows := range []int{100000, 20000, 2000} {
		for _, mode := range []string{"per-batch", "bulk", "bulk-4x4MiB"} {
			if (batchRows == 100000) != (mode == "bulk-4x4MiB") && mode != "bulk" {
				continue
			}
			b.Run(fmt.Sprintf("%s/batch=%d", mode, batchRows), func(b *testing.B) {
				for range b.N {
					e := startEmu(b, "")
					lg := openLog(b, filepath.Join(b.TempDir(), "state"))
					cfg := testConfig(e)
					cfg.CommitBytes = 512 << 20 // bulk, the default: one session per partition
					switch mode {
					case "per-batch":
						cfg.CommitBytes = 1 // a session and a commit per batch
					case "bulk-4x4MiB":
						cfg.BlockSize, cfg.BlockWriters = 4<<20, 4
					}
					cfg.EnsureDefaults()
					s, err := New(cfg, newMapper(b, schema.Config{}), lg, nil)
					if err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					for i := 0; i < rows; i += batchRows {
						if err := s.Write(context.Background(), batch(snapshotEvents(tbl, uint64(i+1), batchRows))); err != nil {
							b.Fatal(err)
						}
					}
					if err := s.Close(context.Background()); err != nil {
						b.Fatal(err)
					}
					secs := time.Since(start).Seconds()
					b.ReportMetric(float64(rows)/secs, "rows/s")
					b.ReportMetric(float64(e.srv.Count(odpsemu.OpUploadCreate)), "sessions")
					b.ReportMetric(float64(e.srv.Count(odpsemu.OpUploadCommit)), "commits")
					b.ReportMetric(float64(e.srv.Count(odpsemu.OpBlockWrite)), "blocks")
					n429 := 0
					for _, a := range e.errorAnswers() {
						if strings.Contains(a, "429") {
							n429++
						}
					}
					b.ReportMetric(float64(n429), "429s")
					lg.Close()
				}
			})
		}
	}
}

// A session refused after its batches were acknowledged (it expired while
// the sink was down longer than the service keeps sessions): the log still
// holds its rows (GC stops at the hold cursor), every Write fails with a
// permanent error naming the replay, and a replay delivers the rows once.
func TestBulkRefusedSessionHoldsLog(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	var clk emuClock
	h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) { c.SessionTTL = time.Hour; c.Now = clk.now }, bulkConfig)
	evs := snapshotEvents(tbl, 1, 4*100)
	if _, err := h.log.Append(ctxT(t), evs, []byte("cp")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.log.Register("mc"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		b := batch(evs[i*100 : (i+1)*100])
		h.write(b)
		if err := h.log.Ack("mc", b.First, b.Last); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.log.GC(); err != nil {
		t.Fatal(err)
	}
	if tail := h.log.Tail(); tail != 1 {
		t.Fatalf("log tail %d after GC, want 1 (held for the open session)", tail)
	}
	crash(h.sink)
	clk.advance(2 * time.Hour)
	h.restart()
	err = h.sink.Write(ctxT(t), batch(evs[300:]))
	if !errors.Is(err, sink.ErrPermanent) || !strings.Contains(err.Error(), "odsync replay") || !strings.Contains(err.Error(), "--from 1") {
		t.Fatalf("Write after the session expired: %v; want a permanent error naming the replay from seq 1", err)
	}
	h.restart() // still refused after a restart, still held
	if err := h.sink.Write(ctxT(t), batch(evs[300:])); !errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("Write after restart: %v, want the permanent error again", err)
	}
	if _, err := h.log.GC(); err != nil {
		t.Fatal(err)
	}
	if tail := h.log.Tail(); tail != 1 {
		t.Fatalf("log tail %d, want 1 (held for the refused rows)", tail)
	}
	// odsync replay --from 1: the batches come again (cut anew).
	for i := 0; i < 4; i++ {
		h.write(batch(evs[i*100 : (i+1)*100]))
	}
	if err := h.sink.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
	if _, ok := h.log.Cursor(h.sink.holdName()); ok {
		t.Error("the hold cursor is still there after every session committed")
	}
}

// A table's committed rows are a prefix of its rows in log order: change
// rows become visible only after every earlier snapshot row of the table
// is committed — from the same batch (written first, then committed) and
// from an earlier batch still being written by a concurrent Write (waited
// for). odsync verify's progress check relies on that.
func TestChangeRowsAfterSnapshotRows(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, schema.Config{}, bulkConfig)
	// 1. One batch: snapshot rows, then a change row of the same table.
	evs := append(snapshotEvents(tbl, 1, 100), simpleEvents(tbl, 101, 1, event.OpInsert)...)
	h.write(batch(evs))
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)

	// 2. Two concurrent Writes: batch 201..300 (snapshot rows, block writes
	// held back) and batch 301 (a change row). The change row's Write must
	// not return before the snapshot rows are committed.
	release := make(chan struct{})
	var once sync.Once
	h.emu.setHook(func(r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("blockid") {
			<-release
		}
	})
	snap := snapshotEvents(tbl, 201, 100)
	change := simpleEvents(tbl, 301, 1, event.OpUpdate)
	errc := make(chan error, 1)
	go func() { errc <- h.sink.Write(ctxT(t), batch(snap)) }()
	for !h.sink.hasLive(tg.Name) {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- h.sink.Write(ctxT(t), batch(change)) }()
	select {
	case err := <-done:
		t.Fatalf("the change row's Write returned (%v) while earlier snapshot rows were still being written", err)
	case <-time.After(200 * time.Millisecond):
	}
	once.Do(func() { close(release) })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.emu.setHook(nil)
	all := append(append(evs, snap...), change...)
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, all, false)
}

// Health reports what is visible: always Delivers (with the log as the
// store), Durable just below the first uncommitted snapshot row while a
// session is open, the log's head when nothing is held back.
func TestHealthDurableWithBulk(t *testing.T) {
	tbl := simpleTable()
	h := newHarness(t, schema.Config{}, bulkConfig)
	evs := snapshotEvents(tbl, 1, 200)
	if _, err := h.log.Append(ctxT(t), evs, []byte("cp")); err != nil {
		t.Fatal(err)
	}
	if hl := h.sink.Health(); !hl.Delivers || hl.Durable != 200 || hl.Holding != 0 {
		t.Fatalf("idle: %+v, want Delivers, Durable 200 (the head)", hl)
	}
	h.write(batch(evs[:100]))
	if hl := h.sink.Health(); !hl.Delivers || hl.Durable != 0 || hl.Holding == 0 {
		t.Fatalf("rows 1..100 in an open session: %+v, want Durable 0", hl)
	}
	h.write(batch(evs[100:]))
	if hl := h.sink.Health(); hl.Durable != 0 {
		t.Fatalf("rows 1..200 in an open session: %+v, want Durable 0", hl)
	}
	if err := h.sink.commitBulk(ctxT(t), "", nil); err != nil {
		t.Fatal(err)
	}
	if hl := h.sink.Health(); hl.Durable != 200 || hl.Holding != 0 {
		t.Fatalf("committed: %+v, want Durable 200", hl)
	}
}

// ackLog records the acknowledgements of WriteAck.
type ackLog struct {
	mu    sync.Mutex
	acked []uint64 // last seqs, in the order the acks came
	errs  []error
}

func (l *ackLog) ack(last uint64) sink.AckFunc {
	return func(err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.errs = append(l.errs, err)
			return
		}
		l.acked = append(l.acked, last)
	}
}

func (l *ackLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// cursor is what the pipeline's cursor would be: the last seq of the
// contiguous acknowledged prefix (acks come in order).
func (l *ackLog) cursor(t *testing.T) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		t.Fatalf("batches refused: %v", l.errs)
	}
	var c uint64
	for _, a := range l.acked {
		if a < c {
			t.Fatalf("acknowledgements out of order: %v", l.acked)
		}
		c = a
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Through WriteAck (the pipeline's path) a block spans batches: 40 batches
// of ~14KB become blocks of block_size (256KiB), no batch is acknowledged
// before the block holding its rows is written and recorded, and the acks
// come in order. Close commits one session.
func TestBulkBlocksSpanBatches(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, schema.Config{}, func(c *Config) { bulkConfig(c); c.BlockSize = 256 << 10 })
	evs := snapshotEvents(tbl, 1, 40*100)
	var acks ackLog
	for i := 0; i < 40; i++ {
		b := batch(evs[i*100 : (i+1)*100])
		if err := h.sink.WriteAck(ctxT(t), b, acks.ack(b.Last)); err != nil {
			t.Fatal(err)
		}
		if i == 4 {
			// ~70KB taken in: still in the open block.
			if n, w := acks.count(), h.emu.srv.Count(odpsemu.OpBlockWrite); n != 0 || w != 0 {
				t.Fatalf("after 5 small batches: %d acknowledged, %d blocks written; want 0 and 0 (the block is open)", n, w)
			}
		}
	}
	waitFor(t, "full blocks written", func() bool { return acks.count() > 0 })
	if n := acks.count(); n >= 40 {
		t.Fatalf("%d batches acknowledged before Flush; the last rows are in the open block", n)
	}
	h.sink.Flush(ctxT(t))
	waitFor(t, "every batch acknowledged", func() bool { return acks.count() == 40 })
	acks.cursor(t)
	blocks := h.emu.srv.Count(odpsemu.OpBlockWrite)
	if blocks < 2 || blocks > 3 {
		t.Errorf("%d blocks for ~560KB of rows in 40 batches, want 2..3 (block_size 256KiB)", blocks)
	}
	if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != 0 {
		t.Errorf("%d commits before Close, want 0", n)
	}
	if err := h.sink.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
	if c, s := h.emu.srv.Count(odpsemu.OpUploadCommit), h.emu.srv.Count(odpsemu.OpUploadCreate); c != 1 || s != 1 {
		t.Errorf("%d sessions, %d commits; want 1 and 1", s, c)
	}
}

// kill -9 while blocks spanning batches are written: some batches are
// acknowledged, others are in recorded blocks without being acknowledged
// (their block also holds rows of later batches), others only in the
// open block. The log redelivers from the cursor in batches cut elsewhere;
// the sink skips the rows its recorded blocks hold, reattaches the session
// and commits every row exactly once.
func TestBulkKillMidBlocksReplayCutElsewhere(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, schema.Config{}, func(c *Config) { bulkConfig(c); c.BlockSize = 64 << 10 })
	evs := snapshotEvents(tbl, 1, 3000) // ~420KB: 6..7 blocks
	var acks ackLog
	for i := 0; i < 20; i++ { // 2000 rows
		b := batch(evs[i*100 : (i+1)*100])
		if err := h.sink.WriteAck(ctxT(t), b, acks.ack(b.Last)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three blocks recorded", func() bool {
		v, ok, _ := h.log.Get(h.sink.ns, "b/"+tg.Name+"/20240501")
		return ok && strings.Count(string(v), `"id"`) >= 3
	})
	crash(h.sink)
	acks.mu.Lock()
	acks.errs = nil // the crash canceled the block being written: refused, as the process died
	acks.mu.Unlock()
	cur := acks.cursor(t)
	if cur == 0 || cur >= 2000 {
		t.Fatalf("cursor %d at the crash, want some batches acknowledged and some not", cur)
	}
	h.restart()
	for from := int(cur); from < len(evs); from += 77 {
		h.write(batch(evs[from:min(from+77, len(evs))]))
	}
	if err := h.sink.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
	if c, s := h.emu.srv.Count(odpsemu.OpUploadCommit), h.emu.srv.Count(odpsemu.OpUploadCreate); c != 1 || s != 1 {
		t.Errorf("%d sessions, %d commits; want 1 and 1 (the session reattached)", s, c)
	}
	t.Logf("cursor at the crash %d; %d block writes", cur, h.emu.srv.Count(odpsemu.OpBlockWrite))
}

// Change rows redelivered in batches cut elsewhere (the sink is an Acker:
// after a crash or a refusal the log hands out every event after the
// cursor, cut anywhere) are recognised by the _seq ranges their packs
// recorded, whichever batch recorded them: nothing is stored twice.
func TestStreamRedeliveryCutElsewhere(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, schema.Config{}, nil)
	evs := simpleEvents(tbl, 1, 200, event.OpInsert)
	h.write(batch(evs[:100]))
	crash(h.sink) // as if the acknowledgement of 1..100 was lost
	h.restart()
	h.write(batch(evs[50:150])) // 51..150: 51..100 are stored already
	h.write(batch(evs[120:]))   // 121..200: cut elsewhere again
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
}
