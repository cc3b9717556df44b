package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/odpsemu"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// harness is a sink over an in-process emulator and a real log.
type harness struct {
	t      *testing.T
	emu    *emu
	log    *offsets.Log
	cfg    Config
	mapCfg schema.Config
	sink   *Sink
}

func newHarness(t *testing.T, mapCfg schema.Config, mod func(*Config)) *harness {
	t.Helper()
	return newHarnessEmu(t, mapCfg, nil, mod)
}

// newHarnessEmu is newHarness with the emulator's config changed by emuMod.
func newHarnessEmu(t *testing.T, mapCfg schema.Config, emuMod func(*odpsemu.Config), mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, emu: startEmuCfg(t, "", emuMod), mapCfg: mapCfg}
	h.log = openLog(t, filepath.Join(t.TempDir(), "state"))
	t.Cleanup(func() { h.log.Close() })
	h.cfg = testConfig(h.emu)
	if mod != nil {
		mod(&h.cfg)
	}
	h.restart()
	return h
}

// restart replaces the sink (and its mapper) as a process restart would.
func (h *harness) restart() {
	h.t.Helper()
	if h.sink != nil {
		h.sink.Close(context.Background())
	}
	s, err := New(h.cfg, newMapper(h.t, h.mapCfg), h.log, testLogger(h.t))
	if err != nil {
		h.t.Fatal(err)
	}
	h.sink = s
	h.t.Cleanup(func() { s.Close(context.Background()) })
}

func (h *harness) write(b *sink.Batch) {
	h.t.Helper()
	if err := h.sink.Write(ctxT(h.t), b); err != nil {
		h.t.Fatalf("Write %d..%d: %v", b.First, b.Last, err)
	}
}

func batch(evs []event.Event) *sink.Batch {
	return &sink.Batch{First: evs[0].Seq, Last: evs[len(evs)-1].Seq, Events: evs}
}

// checkRows compares what the table holds with the target values of evs
// (every column of every row), in _seq order; dup allows duplicates of
// whole rows (same _seq, same content).
func checkRows(t *testing.T, got []map[string]string, tg *schema.Target, evs []event.Event, dup bool) {
	t.Helper()
	want := map[string]map[string]string{}
	var order []string
	for i := range evs {
		row, err := tg.CheckedRow(&evs[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for c := range tg.Columns {
			m[tg.Columns[c].Name] = targetText(&tg.Columns[c], row[c])
		}
		want[m["_seq"]] = m
		order = append(order, m["_seq"])
	}
	seen := map[string]int{}
	for _, g := range got {
		seq := g["_seq"]
		seen[seq]++
		w, ok := want[seq]
		if !ok {
			t.Errorf("unexpected row _seq %s: %v", seq, g)
			continue
		}
		for col, wv := range w {
			if g[col] != wv {
				t.Errorf("_seq %s column %s = %q, want %q", seq, col, g[col], wv)
			}
		}
	}
	for _, seq := range order {
		switch n := seen[seq]; {
		case n == 0:
			t.Errorf("row _seq %s is missing", seq)
		case n > 1 && !dup:
			t.Errorf("row _seq %s stored %d times", seq, n)
		}
	}
}

func TestStreamAllTypes(t *testing.T) {
	h := newHarness(t, allTypesMapping(), nil)
	tg, evs := allTypesEvents(t)
	h.write(batch(evs))
	got := readTable(t, h.emu, tg.Name, "ds=20240301")
	if len(got) != len(evs) {
		t.Fatalf("%d rows, want %d", len(got), len(evs))
	}
	checkRows(t, got, tg, evs, false)
	// Writing the same batch again (a pipeline retry) stores nothing twice.
	h.write(batch(evs))
	if n := len(readTable(t, h.emu, tg.Name, "ds=20240301")); n != len(evs) {
		t.Fatalf("after a repeated Write: %d rows, want %d", n, len(evs))
	}
	// ... and neither does a new process (replay after a crash).
	h.restart()
	h.write(batch(evs))
	if n := len(readTable(t, h.emu, tg.Name, "ds=20240301")); n != len(evs) {
		t.Fatalf("after a replay: %d rows, want %d", n, len(evs))
	}
}

func TestSnapshotAllTypes(t *testing.T) {
	h := newHarness(t, allTypesMapping(), func(c *Config) { c.BlockSize = 1 << 10 })
	tg, evs := allTypesEvents(t)
	var all []event.Event
	for r := 0; r < 10; r++ { // ~10 blocks of 1KiB
		for _, e := range evs {
			e.Seq = uint64(len(all) + 1)
			e.Op = event.OpRead
			if e.After == nil {
				e.After, e.Before = e.Before, nil
			}
			all = append(all, e)
		}
	}
	h.write(batch(all))
	got := readTable(t, h.emu, tg.Name, "ds=20240301")
	checkRows(t, got, tg, all, false)
	// commit_bytes 1: every block is committed as soon as it is written.
	blocks := h.emu.srv.Count(odpsemu.OpBlockWrite)
	if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != blocks {
		t.Errorf("%d commits of %d blocks, want one per block", n, blocks)
	}
	if blocks < 5 {
		t.Errorf("%d block writes, want several", blocks)
	}
	if n := h.emu.srv.Count(odpsemu.OpStreamWrite); n != 0 {
		t.Errorf("snapshot rows went through %d stream writes", n)
	}
	// A replay of the committed batch loads nothing again.
	h.restart()
	h.write(batch(all))
	if n := len(readTable(t, h.emu, tg.Name, "ds=20240301")); n != len(all) {
		t.Fatalf("after a replay: %d rows, want %d", n, len(all))
	}
	if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != blocks {
		t.Errorf("%d commits after the replay, want %d", n, blocks)
	}
}

// simpleTable is a small table for behaviour tests.
func simpleTable(extra ...event.Column) *event.Table {
	cols := []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "n", Type: event.TypeInt, Nullable: true, RawType: "int"},
		{Name: "pad", Type: event.TypeVarchar, Length: 200, Nullable: true, RawType: "varchar(200)"},
	}
	return (&event.Table{ID: event.TableID{DB: "app", Table: "t"}, Key: []int{0}, Columns: append(cols, extra...)}).Seal()
}

var day = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixMicro()

func simpleEvents(tbl *event.Table, from uint64, n int, op event.Op) []event.Event {
	var evs []event.Event
	for i := 0; i < n; i++ {
		seq := from + uint64(i)
		vals := []event.Value{event.Int(int64(seq)), event.Int(int64(seq) * 10), event.String(strings.Repeat("x", 100))}
		for len(vals) < len(tbl.Columns) {
			vals = append(vals, event.String(fmt.Sprintf("extra-%d", seq)))
		}
		e := event.Event{Seq: seq, Op: op, Source: tbl.ID, Table: tbl, After: vals, CommitTime: day + int64(seq),
			Pos: event.Position{File: "bin.000001", Offset: seq * 100}}
		if op == event.OpDelete {
			e.Before, e.After = vals, nil
		}
		evs = append(evs, e)
	}
	return evs
}

func TestAddColumnMidStream(t *testing.T) {
	h := newHarness(t, schema.Config{}, nil)
	v1 := simpleTable()
	v2 := simpleTable(event.Column{Name: "note", Type: event.TypeVarchar, Length: 20, Nullable: true, RawType: "varchar(20)"})
	evs := simpleEvents(v1, 1, 50, event.OpInsert)
	ddl := event.Event{Seq: 51, Op: event.OpDDL, Source: v2.ID, Table: v2, DDL: "ALTER TABLE t ADD COLUMN note varchar(20)",
		CommitTime: day + 51, Pos: event.Position{File: "bin.000001", Offset: 5100}}
	after := simpleEvents(v2, 52, 50, event.OpUpdate)
	// One batch with rows before and after the DDL, then a second batch.
	b1 := append(append(append([]event.Event{}, evs...), ddl), after[:25]...)
	h.write(batch(b1))
	h.write(batch(after[25:]))
	got := readTable(t, h.emu, "ods_app_t", "ds=20240501")
	if len(got) != 100 {
		t.Fatalf("%d rows, want 100", len(got))
	}
	for _, r := range got {
		seq := seqOf(r)
		switch {
		case seq <= 50 && r["note"] != "NULL":
			t.Errorf("row %d written before the DDL has note %q", seq, r["note"])
		case seq > 51 && r["note"] != fmt.Sprintf("extra-%d", seq):
			t.Errorf("row %d has note %q", seq, r["note"])
		}
	}
	// An old-version row after the change (e.g. a shard or a replay) still fits.
	h.write(batch(simpleEvents(v1, 200, 3, event.OpInsert)))
	if got := readTable(t, h.emu, "ods_app_t", "ds=20240501"); len(got) != 103 || got[102]["note"] != "NULL" {
		t.Fatalf("old-version rows: %d rows, last %v", len(got), got[len(got)-1])
	}
}

func TestSchemaModifiedByAnotherWriter(t *testing.T) {
	h := newHarness(t, schema.Config{}, nil)
	v1 := simpleTable()
	h.write(batch(simpleEvents(v1, 1, 10, event.OpInsert)))
	// Someone else adds a column: the open session's next PUT gets 412.
	o, _ := h.emu.sdk()
	execSQL(t, o, "ALTER TABLE ods_app_t ADD COLUMNS (other STRING)")
	h.write(batch(simpleEvents(v1, 11, 10, event.OpInsert)))
	h.emu.srv.InjectSchemaModified()
	h.write(batch(simpleEvents(v1, 21, 10, event.OpInsert)))
	got := readTable(t, h.emu, "ods_app_t", "ds=20240501")
	if len(got) != 30 {
		t.Fatalf("%d rows, want 30", len(got))
	}
}

func TestFaultsLoseNothing(t *testing.T) {
	h := newHarness(t, schema.Config{}, func(c *Config) {
		c.FlushSize = 4 << 10
		c.MaxAttempts = 3
	})
	tbl := simpleTable()
	var want []event.Event
	seq := uint64(1)
	writeRetrying := func(b *sink.Batch) {
		// What the pipeline does: retry the batch until it succeeds.
		for attempt := 0; ; attempt++ {
			err := h.sink.Write(ctxT(t), b)
			if err == nil {
				return
			}
			if errors.Is(err, sink.ErrPermanent) || attempt > 50 {
				t.Fatalf("batch %d..%d: %v", b.First, b.Last, err)
			}
		}
	}
	phases := []odpsemu.Faults{
		{ErrorRate: 0.3, Status: 503, Ops: []odpsemu.Op{odpsemu.OpStreamWrite}, Seed: 1},
		{ErrorRate: 0.3, FailAfterProcessing: true, Ops: []odpsemu.Op{odpsemu.OpStreamWrite}, Seed: 2},
		{ErrorRate: 0.2, Ops: []odpsemu.Op{odpsemu.OpStreamCreate, odpsemu.OpSQL, odpsemu.OpTable}, Seed: 3},
		{Latency: 20 * time.Millisecond},
	}
	for i, f := range phases {
		if err := h.emu.srv.SetFaults(f); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			h.emu.srv.SetStreamSlots(5)
			h.emu.srv.InjectSchemaModified()
		}
		for j := 0; j < 4; j++ {
			evs := simpleEvents(tbl, seq, 120, event.OpInsert)
			seq += 120
			want = append(want, evs...)
			writeRetrying(batch(evs))
		}
	}
	h.emu.srv.SetFaults(odpsemu.Faults{})
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	got := readTable(t, h.emu, "ods_app_t", "ds=20240501")
	checkRows(t, got, tg, want, true) // duplicates only from failures after processing
	dups := len(got) - len(want)
	t.Logf("%d rows stored for %d changes (%d duplicates, removable by _seq)", len(got), len(want), dups)
}

func TestConcurrentWrites(t *testing.T) {
	h := newHarness(t, schema.Config{}, func(c *Config) { c.FlushAge = 50 * time.Millisecond })
	tbl := simpleTable()
	other := (&event.Table{ID: event.TableID{DB: "app", Table: "u"}, Key: []int{0}, Columns: tbl.Columns}).Seal()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tb := tbl
			if i%2 == 1 {
				tb = other
			}
			evs := simpleEvents(tb, uint64(1+i*1000), 300, event.OpInsert)
			errs <- h.sink.Write(ctxT(t), batch(evs))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ods_app_t", "ods_app_u"} {
		if n := len(readTable(t, h.emu, name, "ds=20240501")); n != 1200 {
			t.Errorf("%s: %d rows, want 1200", name, n)
		}
	}
}

func TestPermanentErrors(t *testing.T) {
	h := newHarness(t, schema.Config{ZeroDates: schema.ZeroDatesError}, nil)
	tbl := (&event.Table{ID: event.TableID{DB: "app", Table: "d"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "dt", Type: event.TypeDate, Nullable: true, RawType: "date"},
	}}).Seal()
	e := event.Event{Seq: 7, Op: event.OpInsert, Source: tbl.ID, Table: tbl, After: []event.Value{event.Int(1), event.Date(0, 0, 0)},
		CommitTime: day, Pos: event.Position{File: "bin.000009", Offset: 777}}
	err := h.sink.Write(ctxT(t), batch([]event.Event{e}))
	if !errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("zero date under zero_dates: error: %v, want a permanent error", err)
	}
	for _, want := range []string{"app.d", "dt", "bin.000009:777"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// rawTable has a BIGINT, a DATE and a DECIMAL(30,20) (STRING on MaxCompute).
func rawTable() *event.Table {
	return (&event.Table{ID: event.TableID{DB: "app", Table: "r"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeInt, RawType: "int"},
		{Name: "big", Type: event.TypeBigInt, Nullable: true, RawType: "bigint"},
		{Name: "d", Type: event.TypeDate, Nullable: true, RawType: "date"},
		{Name: "amt", Type: event.TypeDecimal, Precision: 30, Scale: 20, Nullable: true, RawType: "decimal(30,20)"},
	}}).Seal()
}

// TestValuesThatDoNotFitGoToRaw: by default BIGINT -2^63 (outside
// MaxCompute's BIGINT) and a zero date are NULL in their columns and kept
// in _raw; the batch succeeds and the other rows are untouched. A
// DECIMAL(30,20) is a STRING column holding every digit.
func TestValuesThatDoNotFitGoToRaw(t *testing.T) {
	h := newHarness(t, schema.Config{}, nil)
	tbl := rawTable()
	evs := []event.Event{
		{Seq: 1, Op: event.OpInsert, Source: tbl.ID, Table: tbl, CommitTime: day, Pos: event.Position{File: "bin.000001", Offset: 4},
			After: []event.Value{event.Int(1), event.Int(-1 << 63), event.Date(0, 0, 0), event.Decimal("1234567890.12345678901234567890")}},
		{Seq: 2, Op: event.OpInsert, Source: tbl.ID, Table: tbl, CommitTime: day, Pos: event.Position{File: "bin.000001", Offset: 5},
			After: []event.Value{event.Int(2), event.Int(-1<<63 + 1), event.Date(2024, 2, 29), event.Decimal("-0.00000000000000000001")}},
	}
	if err := h.sink.Write(ctxT(t), batch(evs)); err != nil {
		t.Fatalf("write: %v", err)
	}
	rows := readTable(t, h.emu, "ods_app_r", "ds=20240501")
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for _, c := range []struct {
		row       int
		col, want string
	}{
		{0, "big", "NULL"}, {0, "d", "NULL"}, {0, "amt", "1234567890.12345678901234567890"},
		{0, "_raw", `{"big":"-9223372036854775808","d":"0000-00-00"}`},
		{1, "big", "-9223372036854775807"}, {1, "d", "2024-02-29"}, {1, "amt", "-0.00000000000000000001"}, {1, "_raw", "NULL"},
	} {
		if got := rows[c.row][c.col]; got != c.want {
			t.Errorf("row %d %s = %q, want %q", c.row, c.col, got, c.want)
		}
	}
	// The table's DDL: metadata NOT NULL, _raw nullable, DECIMAL(30,20) as STRING.
	o, _ := h.emu.sdk()
	tb := o.Table("ods_app_r")
	if err := tb.Load(); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, c := range tb.Schema().Columns {
		types[c.Name] = c.Type.Name()
	}
	if types["amt"] != "STRING" || types["_raw"] != "STRING" || types["big"] != "BIGINT" {
		t.Errorf("column types = %v", types)
	}
	counts := h.sink.mapper.RawCounts()
	if len(counts) != 2 || counts[0].Column != "big" || counts[1].Column != "d" || counts[0].Count != 1 {
		t.Errorf("raw counts = %+v", counts)
	}
}

// TestStopOnValueError: under on_value_error: stop the -2^63 row is a
// permanent error naming table, column and position.
func TestStopOnValueError(t *testing.T) {
	h := newHarness(t, schema.Config{OnValueError: schema.OnValueErrorStop}, nil)
	tbl := rawTable()
	e := event.Event{Seq: 8, Op: event.OpInsert, Source: tbl.ID, Table: tbl, CommitTime: day, Pos: event.Position{File: "bin.000009", Offset: 778},
		After: []event.Value{event.Int(1), event.Int(-1 << 63), event.Null, event.Null}}
	err := h.sink.Write(ctxT(t), batch([]event.Event{e}))
	if !errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("BIGINT -2^63 under on_value_error: stop: %v, want a permanent error", err)
	}
	for _, want := range []string{"app.r", "column big", "bin.000009:778", "out of range"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestReconcileAfterRestart(t *testing.T) {
	h := newHarness(t, schema.Config{}, nil)
	v1 := simpleTable()
	h.write(batch(simpleEvents(v1, 1, 5, event.OpInsert)))
	// The source drops column n: lenient keeps it (written NULL).
	v2 := (&event.Table{ID: v1.ID, Key: []int{0}, Columns: []event.Column{v1.Columns[0], v1.Columns[2]}}).Seal()
	ddl := event.Event{Seq: 6, Op: event.OpDDL, Source: v2.ID, Table: v2, CommitTime: day + 6}
	rows := simpleEvents(v2, 7, 5, event.OpInsert)
	for i := range rows {
		rows[i].After = []event.Value{rows[i].After[0], rows[i].After[2]}
	}
	h.write(batch(append([]event.Event{ddl}, rows...)))
	// A new process sees v2 first: without reconciling, its layout
	// (id, pad) would not match the table (id, n, pad).
	h.restart()
	more := simpleEvents(v2, 20, 5, event.OpInsert)
	for i := range more {
		more[i].After = []event.Value{more[i].After[0], more[i].After[2]}
	}
	h.write(batch(more))
	got := readTable(t, h.emu, "ods_app_t", "ds=20240501")
	if len(got) != 15 {
		t.Fatalf("%d rows, want 15", len(got))
	}
	for _, r := range got {
		if seqOf(r) >= 7 && (r["n"] != "NULL" || r["pad"] != strings.Repeat("x", 100)) {
			t.Errorf("row %d: n=%q pad=%q", seqOf(r), r["n"], r["pad"])
		}
	}
}

func snapshotEvents(tbl *event.Table, from uint64, n int) []event.Event {
	return simpleEvents(tbl, from, n, event.OpRead)
}

func TestSnapshotRestartSafety(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("uncommitted session is reattached", func(t *testing.T) {
		h := newHarness(t, schema.Config{}, func(c *Config) { c.MaxAttempts = 1; c.BlockSize = 4 << 10 })
		evs := snapshotEvents(tbl, 1, 200)
		// The commit fails: the blocks are written, the session is recorded.
		h.emu.srv.SetFaults(odpsemu.Faults{FailNth: 1, Ops: []odpsemu.Op{odpsemu.OpUploadCommit}})
		if err := h.sink.Write(ctxT(t), batch(evs)); err == nil {
			t.Fatal("Write succeeded although the commit failed")
		}
		h.emu.srv.SetFaults(odpsemu.Faults{})
		h.restart()
		h.write(batch(evs))
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
		// commit_bytes 1: a session per block, the recorded one reattached
		// (not created again), each committed once.
		if n, c := h.emu.srv.Count(odpsemu.OpUploadCreate), h.emu.srv.Count(odpsemu.OpUploadCommit); n != c-1 {
			t.Errorf("%d upload sessions created, %d commits (one failed); want one session per successful commit (reattached)", n, c)
		}
	})
	t.Run("commit whose answer was lost", func(t *testing.T) {
		h := newHarness(t, schema.Config{}, nil)
		evs := snapshotEvents(tbl, 1, 100)
		h.emu.srv.SetFaults(odpsemu.Faults{FailNth: 1, FailAfterProcessing: true, Ops: []odpsemu.Op{odpsemu.OpUploadCommit}})
		h.write(batch(evs))
		h.emu.srv.SetFaults(odpsemu.Faults{})
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
	})
	t.Run("crash between commit and record", func(t *testing.T) {
		h := newHarness(t, schema.Config{}, nil)
		evs := snapshotEvents(tbl, 1, 100)
		// The open-session record as it was when the commit was sent.
		var open []byte
		h.emu.setHook(onFirst(isCommit, func() {
			open, _, _ = h.log.Get(h.sink.ns, "b/"+tg.Name+"/20240501")
		}))
		h.write(batch(evs))
		h.emu.setHook(nil)
		// Forget that the commit was recorded, as if the process died right after it.
		var keys []string
		h.log.Scan(h.sink.ns, "c/", func(k string, v []byte) error {
			keys = append(keys, k)
			return h.log.Put(h.sink.ns, k, nil)
		})
		if len(keys) != 1 || open == nil {
			t.Fatalf("%d committed records, open record %q; want 1 and the record", len(keys), open)
		}
		if err := h.log.Put(h.sink.ns, "b/"+tg.Name+"/20240501", open); err != nil {
			t.Fatal(err)
		}
		h.restart()
		h.write(batch(evs))
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
		if n := h.emu.srv.Count(odpsemu.OpUploadCommit); n != 1 {
			t.Errorf("%d commits, want 1", n)
		}
	})
	t.Run("expired record starts over", func(t *testing.T) {
		// The batch's blocks are recorded but its commit failed (not
		// acknowledged); the session expires while the sink is down; the
		// replay writes the batch through a new session.
		var clk emuClock
		h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) { c.SessionTTL = time.Hour; c.Now = clk.now },
			func(c *Config) { c.MaxAttempts = 1; c.SessionTTL = time.Minute })
		evs := snapshotEvents(tbl, 1, 50)
		h.emu.srv.SetFaults(odpsemu.Faults{FailNth: 1, Ops: []odpsemu.Op{odpsemu.OpUploadCommit}})
		if err := h.sink.Write(ctxT(t), batch(evs)); err == nil {
			t.Fatal("Write succeeded although the commit failed")
		}
		h.emu.srv.SetFaults(odpsemu.Faults{})
		clk.advance(2 * time.Hour)
		h.restart()
		h.write(batch(evs))
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
		if n := h.emu.srv.Count(odpsemu.OpUploadCreate); n != 2 {
			t.Errorf("%d upload sessions created, want 2", n)
		}
	})
	t.Run("faults during blocks", func(t *testing.T) {
		h := newHarness(t, schema.Config{}, func(c *Config) { c.BlockSize = 2 << 10 })
		evs := snapshotEvents(tbl, 1, 300)
		h.emu.srv.SetFaults(odpsemu.Faults{ErrorRate: 0.3, Ops: []odpsemu.Op{odpsemu.OpBlockWrite, odpsemu.OpUploadStatus}, Seed: 5})
		for attempt := 0; ; attempt++ {
			err := h.sink.Write(ctxT(t), batch(evs))
			if err == nil {
				break
			}
			if attempt > 20 {
				t.Fatal(err)
			}
		}
		h.emu.srv.SetFaults(odpsemu.Faults{})
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
	})
}

func TestStateGC(t *testing.T) {
	h := newHarness(t, schema.Config{}, nil)
	tbl := simpleTable()
	h.write(batch(simpleEvents(tbl, 1, 10, event.OpInsert)))
	h.write(batch(snapshotEvents(tbl, 11, 10)))
	count := func() int {
		n := 0
		h.log.Scan(h.sink.ns, "", func(k string, _ []byte) error {
			if !strings.HasPrefix(k, "p/") && k != "mark" { // progress marks (progress.go)
				n++
			}
			return nil
		})
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("%d state records, want 2 (stream progress, upload)", n)
	}
	if n, err := gcState(h.log, h.sink.ns); err != nil || n != 0 {
		t.Fatalf("gc removed %d (%v) while the log holds the batches", n, err)
	}
	// Once every sink acknowledged 1..15 and the log dropped them, the
	// record of batch 1..10 can never be needed again; 11..20 can.
	evs := make([]event.Event, 30)
	for i := range evs {
		evs[i] = event.Event{Op: event.OpInsert, Source: tbl.ID}
	}
	if _, err := h.log.Append(ctxT(t), evs, []byte("cp")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.log.Register("mc"); err != nil {
		t.Fatal(err)
	}
	if err := h.log.Ack("mc", 1, 15); err != nil {
		t.Fatal(err)
	}
	if _, err := h.log.GC(); err != nil {
		t.Fatal(err)
	}
	if n, err := gcState(h.log, h.sink.ns); err != nil || n != 1 || count() != 1 {
		t.Fatalf("gc with tail %d removed %d (%v), %d left; want 1 removed, 1 left", h.log.Tail(), n, err, count())
	}
}

// TestExistingTableGetsRaw: a table created by an odsync without _raw is
// reconciled when the sink starts: _raw is added (ALTER TABLE ADD
// COLUMNS, nullable) and rows that need it use it.
func TestExistingTableGetsRaw(t *testing.T) {
	h := newHarness(t, schema.Config{}, nil)
	o, _ := h.emu.sdk()
	execSQL(t, o, "CREATE TABLE `ods_app_r` (`_op` STRING NOT NULL, `_seq` BIGINT NOT NULL, `_commit_ts` TIMESTAMP NOT NULL, "+
		"`_pos` STRING NOT NULL, `id` INT, `big` BIGINT, `d` DATE, `amt` STRING) PARTITIONED BY (`ds` STRING);")
	h.restart()
	tbl := rawTable()
	e := event.Event{Seq: 1, Op: event.OpInsert, Source: tbl.ID, Table: tbl, CommitTime: day, Pos: event.Position{File: "bin.000001", Offset: 4},
		After: []event.Value{event.Int(1), event.Int(-1 << 63), event.Date(2024, 5, 1), event.Decimal("1.5")}}
	if err := h.sink.Write(ctxT(t), batch([]event.Event{e})); err != nil {
		t.Fatalf("write: %v", err)
	}
	rows := readTable(t, h.emu, "ods_app_r", "ds=20240501")
	if len(rows) != 1 || rows[0]["big"] != "NULL" || rows[0]["_raw"] != `{"big":"-9223372036854775808"}` || rows[0]["d"] != "2024-05-01" {
		t.Fatalf("rows = %v", rows)
	}
}

// TestSchemaPropagationDelay: right after ALTER TABLE new sessions still
// see the old schema for a while; the sink waits for the new one (bounded
// by schema_wait) instead of failing the batch after max_attempts.
func TestSchemaPropagationDelay(t *testing.T) {
	h := newHarness(t, schema.Config{}, func(c *Config) { c.MaxAttempts = 2; c.MaxBackoff = 100 * time.Millisecond })
	h.emu.srv.SetSchemaDelay(1500 * time.Millisecond)
	v1 := simpleTable()
	v2 := simpleTable(event.Column{Name: "note", Type: event.TypeVarchar, Length: 20, Nullable: true, RawType: "varchar(20)"})
	h.write(batch(simpleEvents(v1, 1, 5, event.OpInsert)))
	ddl := event.Event{Seq: 6, Op: event.OpDDL, Source: v2.ID, Table: v2, DDL: "ALTER TABLE t ADD COLUMN note varchar(20)",
		CommitTime: day + 6, Pos: event.Position{File: "bin.000001", Offset: 600}}
	start := time.Now()
	h.write(batch(append([]event.Event{ddl}, simpleEvents(v2, 7, 5, event.OpInsert)...)))
	if took := time.Since(start); took < time.Second {
		t.Errorf("the batch after ALTER took %s: the emulator's delay was not in effect", took)
	}
	got := readTable(t, h.emu, "ods_app_t", "ds=20240501")
	if len(got) != 10 || got[9]["note"] != "extra-11" {
		t.Fatalf("%d rows, last %v", len(got), got[len(got)-1])
	}
	if hl := h.sink.Health(); hl.ConsecutiveFailures != 0 || hl.Retries == 0 {
		t.Errorf("health after the wait: %+v (want retries counted, no failure left)", hl)
	}

	// Past schema_wait the batch fails (and the pipeline retries it).
	h2 := newHarness(t, schema.Config{}, func(c *Config) { c.SchemaWait = 300 * time.Millisecond; c.MaxBackoff = 50 * time.Millisecond })
	h2.emu.srv.SetSchemaDelay(time.Hour)
	h2.write(batch(simpleEvents(v1, 1, 5, event.OpInsert)))
	err := h2.sink.Write(ctxT(t), batch(append([]event.Event{ddl}, simpleEvents(v2, 7, 5, event.OpInsert)...)))
	if err == nil || !strings.Contains(err.Error(), "not visible after") || errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("past schema_wait: %v, want a retryable 'not visible after' error", err)
	}
}

// TestThrottlingIsRetriedWithoutLimit: 429s do not use up max_attempts;
// they are retried (honouring Retry-After) and counted in Health.
func TestThrottlingIsRetriedWithoutLimit(t *testing.T) {
	h := newHarness(t, schema.Config{}, func(c *Config) {
		c.MaxAttempts = 1
		c.ThrottleMaxBackoff = 20 * time.Millisecond
	})
	tbl := simpleTable()
	h.write(batch(simpleEvents(tbl, 1, 5, event.OpInsert)))
	if err := h.emu.srv.SetFaults(odpsemu.Faults{FailNth: 1, Status: 429, Ops: []odpsemu.Op{odpsemu.OpStreamWrite}}); err != nil {
		t.Fatal(err)
	}
	h.write(batch(simpleEvents(tbl, 6, 5, event.OpInsert)))
	if err := h.emu.srv.SetFaults(odpsemu.Faults{ErrorRate: 0.7, Status: 429, Seed: 3, Ops: []odpsemu.Op{odpsemu.OpStreamWrite}}); err != nil {
		t.Fatal(err)
	}
	h.write(batch(simpleEvents(tbl, 11, 5, event.OpInsert)))
	h.emu.srv.SetFaults(odpsemu.Faults{})
	if got := readTable(t, h.emu, "ods_app_t", "ds=20240501"); len(got) != 15 {
		t.Fatalf("%d rows, want 15", len(got))
	}
	if hl := h.sink.Health(); hl.Throttled == 0 || hl.ConsecutiveFailures != 0 {
		t.Errorf("health: %+v, want throttles counted and none left", hl)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
	}{{"", 0}, {"3", 3 * time.Second}, {"-1", 0}, {"junk", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second}, {now.Add(-time.Minute).Format(http.TimeFormat), 0}} {
		if got := retryAfter(c.v, now); got != c.want {
			t.Errorf("retryAfter(%q) = %s, want %s", c.v, got, c.want)
		}
	}
}
