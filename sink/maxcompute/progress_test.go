package maxcompute

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/schema"
)

// readMarks reads every mark of the progress table with the reader the
// maxcompute source uses.
func readMarks(t *testing.T, h *harness) []Mark {
	t.Helper()
	acct, err := NewAccount(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(ReaderConfig{Endpoint: h.cfg.Endpoint, TunnelEndpoint: h.cfg.TunnelEndpoint, Project: h.cfg.Project, Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	parts, found, err := r.MarkPartitions(h.cfg.ProgressTable)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return nil
	}
	var out []Mark
	for _, p := range parts {
		ms, _, err := r.Marks(ctxT(t), h.cfg.ProgressTable, p, -1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ms...)
	}
	return out
}

// visibleSeqs returns the _seq values the ODS table shows in a partition.
func visibleSeqs(t *testing.T, h *harness, table, part string) map[int64]bool {
	t.Helper()
	out := map[int64]bool{}
	for _, r := range readTable(t, h.emu, table, part) {
		out[seqOf(r)] = true
	}
	return out
}

func lastMark(t *testing.T, h *harness) (Mark, bool) {
	t.Helper()
	ms := readMarks(t, h)
	if len(ms) == 0 {
		return Mark{}, false
	}
	m := ms[0]
	for _, x := range ms {
		if x.CompleteSeq > m.CompleteSeq {
			m = x
		}
	}
	return m, true
}

func findPart(m Mark, table, spec string) (MarkPartition, bool) {
	for _, p := range m.Partitions {
		if p.Table == table && p.Partition == spec {
			return p, true
		}
	}
	return MarkPartition{}, false
}

// A mark never leads what is visible: snapshot rows acknowledged into an
// open upload session hold complete_seq below them until the commit, and
// change rows count once stored; every mark lists the partitions holding
// rows above its floor.
func TestProgressMarkLagsCommit(t *testing.T) {
	snapTbl := simpleTable()
	chTbl := (&event.Table{ID: event.TableID{DB: "app", Table: "c"}, Key: []int{0}, Columns: snapTbl.Columns}).Seal()
	h := newHarness(t, schema.Config{}, bulkConfig)
	snapTg, err := newMapper(t, schema.Config{}).Target(snapTbl)
	if err != nil {
		t.Fatal(err)
	}
	chTg, err := newMapper(t, schema.Config{}).Target(chTbl)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	// Snapshot rows 1..100 in an open session, change rows 101..150 of another table.
	h.write(batch(snapshotEvents(snapTbl, 1, 100)))
	h.write(batch(simpleEvents(chTbl, 101, 50, event.OpInsert)))
	if err := h.sink.writeMark(ctx); err != nil {
		t.Fatal(err)
	}
	if m, ok := lastMark(t, h); ok {
		t.Fatalf("a mark while every acknowledged row above 0 waits for its commit: %+v", m)
	}
	if got := visibleSeqs(t, h, snapTg.Name, "ds=20240501"); len(got) != 0 {
		t.Fatalf("snapshot rows visible before the commit: %d", len(got))
	}
	if err := h.sink.commitBulk(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := h.sink.writeMark(ctx); err != nil {
		t.Fatal(err)
	}
	m, ok := lastMark(t, h)
	if !ok || m.CompleteSeq != 150 || m.FloorSeq != 150 {
		t.Fatalf("after the commit: mark %+v (found %v), want complete 150, floor 150 (the first mark)", m, ok)
	}
	snapVis, chVis := visibleSeqs(t, h, snapTg.Name, "ds=20240501"), visibleSeqs(t, h, chTg.Name, "ds=20240501")
	for seq := int64(1); seq <= int64(m.CompleteSeq); seq++ {
		if !snapVis[seq] && !chVis[seq] {
			t.Fatalf("mark complete_seq %d, but _seq %d is not visible", m.CompleteSeq, seq)
		}
	}
	// More change rows, into a new partition and the old one.
	evs := simpleEvents(chTbl, 151, 20, event.OpInsert)
	for i := range evs[10:] {
		evs[10+i].CommitTime = day + int64(24*time.Hour/time.Microsecond)
	}
	h.write(batch(evs))
	if err := h.sink.writeMark(ctx); err != nil {
		t.Fatal(err)
	}
	m, _ = lastMark(t, h)
	if m.CompleteSeq != 170 || m.FloorSeq != 150 {
		t.Fatalf("mark %+v, want complete 170 above floor 150", m)
	}
	p1, ok1 := findPart(m, chTg.Name, "ds=20240501")
	p2, ok2 := findPart(m, chTg.Name, "ds=20240502")
	if !ok1 || !ok2 || p1.FirstSeq > 151 || p1.LastSeq < 160 || p2.FirstSeq > 161 || p2.LastSeq < 170 {
		t.Fatalf("mark partitions %+v: want %s ds=20240501 with 151..160 and ds=20240502 with 161..170", m.Partitions, chTg.Name)
	}
	if _, ok := findPart(m, snapTg.Name, "ds=20240501"); ok {
		t.Fatalf("mark lists %s, whose rows are all at or below the floor: %+v", snapTg.Name, m.Partitions)
	}
	// Nothing new: no mark is written.
	n := len(readMarks(t, h))
	if err := h.sink.writeMark(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(readMarks(t, h)); got != n {
		t.Fatalf("%d marks after an idle interval, want %d", got, n)
	}
}

// kill -9 between the data and the mark: the next process's first mark
// still lists the partition the lost interval wrote (its entry was
// recorded before the rows were sent), with a floor at the last mark.
func TestProgressMarkAfterCrash(t *testing.T) {
	tbl := simpleTable()
	h := newHarness(t, schema.Config{}, nil)
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	h.write(batch(simpleEvents(tbl, 1, 50, event.OpInsert)))
	if err := h.sink.writeMark(ctx); err != nil {
		t.Fatal(err)
	}
	// Rows 51..80 into the next day's partition, acknowledged, no mark.
	evs := simpleEvents(tbl, 51, 30, event.OpInsert)
	for i := range evs {
		evs[i].CommitTime = day + int64(24*time.Hour/time.Microsecond)
	}
	h.write(batch(evs))
	// "kill -9": the process stops without Close (no last mark).
	old := h.sink
	old.cancel()
	old.wg.Wait()
	old.mu.Lock()
	old.closed = true // its Close (cleanup) must not write a mark
	old.mu.Unlock()
	s, err := New(h.cfg, newMapper(t, h.mapCfg), h.log, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h.sink = s
	t.Cleanup(func() { s.Close(context.Background()) })
	if m, _ := lastMark(t, h); m.CompleteSeq != 50 {
		t.Fatalf("mark %+v, want complete 50 (the last one written)", m)
	}
	// The log delivers from its cursor (80) on, into the first partition.
	h.write(batch(simpleEvents(tbl, 81, 5, event.OpInsert)))
	if err := h.sink.writeMark(ctx); err != nil {
		t.Fatal(err)
	}
	m, _ := lastMark(t, h)
	if m.CompleteSeq != 85 || m.FloorSeq != 50 {
		t.Fatalf("mark %+v, want complete 85 above floor 50", m)
	}
	p, ok := findPart(m, tg.Name, "ds=20240502")
	if !ok || p.FirstSeq > 51 || p.LastSeq < 80 {
		t.Fatalf("mark partitions %+v: want ds=20240502 with rows 51..80 (written before the crash)", m.Partitions)
	}
	if p, ok := findPart(m, tg.Name, "ds=20240501"); !ok || p.FirstSeq > 81 || p.LastSeq < 85 {
		t.Fatalf("mark partitions %+v: want ds=20240501 with rows 81..85", m.Partitions)
	}
	if n := len(visibleSeqs(t, h, tg.Name, "ds=20240502")); n != 30 {
		t.Fatalf("ds=20240502 holds %d rows, want 30", n)
	}
}

// putCounter counts the Puts of progress entries (p/ keys) into the log.
type putCounter struct {
	*offsets.Log
	mu   sync.Mutex
	puts map[string]int
}

func (c *putCounter) Put(ns, key string, v []byte) error {
	if strings.HasPrefix(key, "p/") {
		c.mu.Lock()
		c.puts[key]++
		c.mu.Unlock()
	}
	return c.Log.Put(ns, key, v)
}

// A partition written in every interval stays open: one Put when it
// becomes active, none per mark; it is closed (deleted) once a mark
// passed it after an interval without rows.
func TestProgressMarkBusyPartition(t *testing.T) {
	tbl := simpleTable()
	h := newHarness(t, schema.Config{}, nil)
	pc := &putCounter{Log: h.log, puts: map[string]int{}}
	h.sink.Close(context.Background())
	s, err := New(h.cfg, newMapper(t, h.mapCfg), pc, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h.sink = s
	t.Cleanup(func() { s.Close(context.Background()) })
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	key := "p/" + tg.Name + "/ds=20240501"
	for i := 0; i < 5; i++ {
		h.write(batch(simpleEvents(tbl, uint64(1+i*10), 10, event.OpInsert)))
		if err := h.sink.writeMark(ctx); err != nil {
			t.Fatal(err)
		}
		if m, _ := lastMark(t, h); m.CompleteSeq != uint64(10+i*10) {
			t.Fatalf("mark %+v, want complete %d", m, 10+i*10)
		}
	}
	if n := pc.puts[key]; n != 1 {
		t.Fatalf("%d Puts of %s over 5 busy intervals, want 1", n, key)
	}
	// An interval without rows there (rows go to the next day): closed.
	evs := simpleEvents(tbl, 51, 5, event.OpInsert)
	for i := range evs {
		evs[i].CommitTime = day + int64(24*time.Hour/time.Microsecond)
	}
	h.write(batch(evs))
	if err := h.sink.writeMark(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := h.log.Get(h.sink.ns, key); ok {
		t.Fatalf("%s still recorded after an idle interval and a mark past it", key)
	}
	if m, _ := lastMark(t, h); len(m.Partitions) != 1 || m.Partitions[0].Partition != "ds=20240502" {
		t.Fatalf("mark %+v: want only ds=20240502 above the floor", m)
	}
}
