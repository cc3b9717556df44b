package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/sink"
)

var testTable = (&event.Table{ID: event.TableID{DB: "d", Table: "t"},
	Columns: []event.Column{{Name: "id", Type: event.TypeBigInt}}}).Seal()

func rows(from, n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Op: event.OpInsert, Source: testTable.ID, Table: testTable,
			After: []event.Value{event.Int(int64(from + i))}}
	}
	evs[n-1].TxnEnd = true
	return evs
}

// scriptSource runs its script on each Run call (by attempt), then blocks.
type scriptSource struct {
	mu    sync.Mutex
	runs  int
	froms [][]byte
	steps []func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error
}

func (s *scriptSource) Run(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	s.mu.Lock()
	i := s.runs
	s.runs++
	s.froms = append(s.froms, from)
	s.mu.Unlock()
	if i < len(s.steps) {
		if err := s.steps[i](ctx, emit); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// recordSink records batches; fail makes the first n writes fail.
type recordSink struct {
	mu      sync.Mutex
	batches [][2]uint64
	values  []int64
	fail    int
}

func (r *recordSink) Write(ctx context.Context, b *sink.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("injected write failure")
	}
	r.batches = append(r.batches, [2]uint64{b.First, b.Last})
	for _, e := range b.Events {
		r.values = append(r.values, e.After[0].Int())
	}
	return nil
}

func (r *recordSink) Close(context.Context) error { return nil }

func (r *recordSink) snapshot() ([][2]uint64, []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]uint64(nil), r.batches...), append([]int64(nil), r.values...)
}

func openLog(t *testing.T, dir string) *offsets.Log {
	t.Helper()
	l, err := offsets.Open(dir, offsets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// runUntil runs p until cond holds, then stops it and returns Run's error.
func runUntil(t *testing.T, p *Pipeline, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			cancel()
			return err
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached")
		}
	}
	cancel()
	return <-done
}

func TestDeliversInOrderAcrossRetries(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	src := &scriptSource{steps: []func(context.Context, func(context.Context, []event.Event, []byte) error) error{
		func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error {
			for i := 0; i < 50; i++ {
				if err := emit(ctx, rows(i*10, 10), []byte(fmt.Sprintf("cp%d", i))); err != nil {
					return err
				}
			}
			return nil
		}}}
	rs := &recordSink{fail: 2}
	p := New(l, src, []SinkSpec{{Name: "s", Sink: rs, Policy: BatchPolicy{MaxRows: 64, MaxAge: 10 * time.Millisecond, InFlight: 3}}}, Options{})
	if err := runUntil(t, p, func() bool { c, _ := l.Cursor("s"); return c == 500 }); err != nil {
		t.Fatal(err)
	}
	batches, values := rs.snapshot()
	// Batches are written concurrently (in_flight 3), so they may land in
	// any order; together they must cover every seq exactly once.
	sort.Slice(batches, func(i, j int) bool { return batches[i][0] < batches[j][0] })
	var next uint64 = 1
	for _, b := range batches {
		if b[0] != next || b[1]-b[0]+1 > 64 {
			t.Fatalf("batches %v: not contiguous or over max_rows", batches)
		}
		next = b[1] + 1
	}
	sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
	for i, v := range values {
		if v != int64(i) {
			t.Fatalf("value %d = %d: lost or duplicated", i, v)
		}
	}
	if string(l.Checkpoint()) != "cp49" || l.Head() != 500 {
		t.Fatalf("checkpoint %q head %d", l.Checkpoint(), l.Head())
	}
	if len(l.Pending("s")) != 0 {
		t.Fatalf("pending boundaries left: %v", l.Pending("s"))
	}
}

func TestRecutsAtRecordedBoundaries(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	if _, err := l.Append(context.Background(), rows(0, 20), []byte("cp")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Register("s"); err != nil {
		t.Fatal(err)
	}
	// As if a crash hit after the boundaries 7 and 13 were recorded.
	if err := l.SetPending("s", []uint64{7, 13}); err != nil {
		t.Fatal(err)
	}
	rs := &recordSink{}
	p := New(l, &scriptSource{}, []SinkSpec{{Name: "s", Sink: rs, Policy: BatchPolicy{MaxRows: 1000, MaxAge: 10 * time.Millisecond}}}, Options{})
	if err := runUntil(t, p, func() bool { c, _ := l.Cursor("s"); return c == 20 }); err != nil {
		t.Fatal(err)
	}
	batches, _ := rs.snapshot()
	if len(batches) != 3 || batches[0] != [2]uint64{1, 7} || batches[1] != [2]uint64{8, 13} || batches[2] != [2]uint64{14, 20} {
		t.Fatalf("batches %v, want [1 7] [8 13] [14 20]", batches)
	}
	l.Close()
}

func TestSourceRestartRollsBackSpilledChunks(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	src := &scriptSource{steps: []func(context.Context, func(context.Context, []event.Event, []byte) error) error{
		func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error {
			if err := emit(ctx, rows(0, 5), []byte("cp-a")); err != nil {
				return err
			}
			if err := emit(ctx, rows(100, 7), nil); err != nil { // a chunk of a huge transaction
				return err
			}
			return errors.New("connection lost")
		},
		func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error {
			return emit(ctx, rows(5, 3), []byte("cp-b"))
		},
	}}
	rs := &recordSink{}
	p := New(l, src, []SinkSpec{{Name: "s", Sink: rs, Policy: BatchPolicy{MaxRows: 100, MaxAge: 10 * time.Millisecond}}}, Options{})
	if err := runUntil(t, p, func() bool { c, _ := l.Cursor("s"); return c == 8 }); err != nil {
		t.Fatal(err)
	}
	_, values := rs.snapshot()
	if fmt.Sprint(values) != "[0 1 2 3 4 5 6 7]" {
		t.Fatalf("values %v: the rolled-back chunk leaked or rows were lost", values)
	}
	if len(src.froms) < 2 || string(src.froms[1]) != "cp-a" {
		t.Fatalf("the restarted source did not resume from cp-a: %q", src.froms)
	}
}

func TestSourceFailingBeforeProgressEndsTheRun(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	src := &scriptSource{steps: []func(context.Context, func(context.Context, []event.Event, []byte) error) error{
		func(context.Context, func(context.Context, []event.Event, []byte) error) error {
			return errors.New("connect: connection refused")
		}}}
	p := New(l, src, nil, Options{})
	err := p.Run(context.Background())
	if err == nil || !errors.Is(err, err) || src.runs != 1 {
		t.Fatalf("Run = %v after %d source runs; want the source error after one run", err, src.runs)
	}
}

func TestPermanentSinkErrorStops(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	if _, err := l.Append(context.Background(), rows(0, 3), []byte("cp")); err != nil {
		t.Fatal(err)
	}
	bad := sinkFunc(func(ctx context.Context, b *sink.Batch) error {
		return fmt.Errorf("%w: table rejected", sink.ErrPermanent)
	})
	p := New(l, &scriptSource{}, []SinkSpec{{Name: "s", Sink: bad, Policy: BatchPolicy{MaxAge: 10 * time.Millisecond}}}, Options{})
	err := p.Run(context.Background())
	if err == nil || !errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("Run = %v, want a permanent sink error", err)
	}
	if c, _ := l.Cursor("s"); c != 0 {
		t.Fatalf("cursor moved to %d over a failed batch", c)
	}
}

type sinkFunc func(ctx context.Context, b *sink.Batch) error

func (f sinkFunc) Write(ctx context.Context, b *sink.Batch) error { return f(ctx, b) }
func (f sinkFunc) Close(context.Context) error                    { return nil }

type permanentErr struct{}

func (permanentErr) Error() string        { return "bad message at topic t partition 0 offset 7" }
func (permanentErr) Is(target error) bool { return target == event.ErrPermanent }

func TestPermanentSourceErrorAfterProgressEndsTheRun(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	src := &scriptSource{steps: []func(context.Context, func(context.Context, []event.Event, []byte) error) error{
		func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error {
			if err := emit(ctx, rows(0, 2), []byte("cp")); err != nil {
				return err
			}
			return fmt.Errorf("capture: %w", permanentErr{})
		}}}
	err := New(l, src, nil, Options{}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "offset 7") || src.runs != 1 {
		t.Fatalf("Run = %v after %d source runs; want the permanent error after one run", err, src.runs)
	}
}

// TestPermanentSourceErrorDeliversFirst: what the source emitted before a
// permanent error is appended to the log and written by the sinks before
// Run returns the error.
func TestPermanentSourceErrorDeliversFirst(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	src := &scriptSource{steps: []func(context.Context, func(context.Context, []event.Event, []byte) error) error{
		func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error {
			for i := 0; i < 5; i++ {
				if err := emit(ctx, rows(10*i, 10), []byte(fmt.Sprintf("cp%d", i))); err != nil {
					return err
				}
			}
			return fmt.Errorf("capture: %w", permanentErr{})
		}}}
	rec := &recordSink{}
	err := New(l, src, []SinkSpec{{Name: "s", Sink: rec, Policy: BatchPolicy{MaxAge: time.Hour, MaxRows: 1000}}}, Options{}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "offset 7") {
		t.Fatalf("Run = %v, want the permanent error", err)
	}
	if cp := l.Checkpoint(); string(cp) != "cp4" {
		t.Fatalf("log checkpoint %q, want cp4", cp)
	}
	if _, vals := rec.snapshot(); len(vals) != 50 {
		t.Fatalf("the sink wrote %d rows before the run ended, want 50", len(vals))
	}
}

// TestDrainCutsAWaitingBatch: a batch that waits for more events (MaxAge
// far away) when the capture stops is written at once by the drain, not
// after MaxAge or the drain timeout.
func TestDrainCutsAWaitingBatch(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &scriptSource{steps: []func(context.Context, func(context.Context, []event.Event, []byte) error) error{
		func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error {
			if err := emit(ctx, rows(0, 10), []byte("cp0")); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		}}}
	rec := &recordSink{}
	done := make(chan error, 1)
	go func() {
		done <- New(l, src, []SinkSpec{{Name: "s", Sink: rec, Policy: BatchPolicy{MaxAge: time.Hour, MaxRows: 1000}}},
			Options{DrainTimeout: 5 * time.Second}).Run(ctx)
	}()
	for l.Head() < 10 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the worker now waits for more events
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the drain took %s: the waiting batch was not cut", took)
	}
	if _, vals := rec.snapshot(); len(vals) != 10 {
		t.Fatalf("the sink wrote %d rows, want 10", len(vals))
	}
}

// startSink records whether Start ran before the first Write.
type startSink struct {
	mu           sync.Mutex
	started      int
	writesBefore int
	written      uint64
	startErr     error
}

func (s *startSink) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started++
	return s.startErr
}

func (s *startSink) Write(_ context.Context, b *sink.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started == 0 {
		s.writesBefore++
	}
	s.written = b.Last
	return nil
}

func (s *startSink) Close(context.Context) error { return nil }

// TestStartsSinksBeforeWriting: a sink.Starter is started once, before its
// first Write; a failed start ends the run with the sink's name.
func TestStartsSinksBeforeWriting(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	if _, err := l.Append(context.Background(), rows(0, 3), []byte("cp")); err != nil {
		t.Fatal(err)
	}
	s := &startSink{}
	p := New(l, &scriptSource{}, []SinkSpec{{Name: "s", Sink: s, Policy: BatchPolicy{MaxAge: 10 * time.Millisecond}}}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s.started != 1 || s.writesBefore != 0 || s.written == 0 {
		t.Fatalf("started %d times, %d writes before the start, last written %d", s.started, s.writesBefore, s.written)
	}
	bad := &startSink{startErr: errors.New("spool directory unusable")}
	p = New(l, &scriptSource{}, []SinkSpec{{Name: "bad", Sink: bad, Policy: BatchPolicy{MaxAge: 10 * time.Millisecond}}}, Options{})
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "sink bad: start: spool directory unusable") {
		t.Fatalf("Run = %v, want the start error", err)
	}
}

// recyclingSource is a scriptSource that records the slices handed back.
type recyclingSource struct {
	scriptSource
	mu       sync.Mutex
	recycled [][]event.Event
	early    bool // a slice came back with events still in it
}

func (s *recyclingSource) Recycle(evs []event.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := evs[:cap(evs)]
	for i := range full {
		if full[i].Table != nil || full[i].After != nil {
			s.early = true // not cleared
		}
	}
	s.recycled = append(s.recycled, evs)
}

func TestRecyclerGetsEmittedSlicesBackClearedAfterAppend(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	emitted := map[*event.Event]bool{}
	src := &recyclingSource{scriptSource: scriptSource{steps: []func(context.Context, func(context.Context, []event.Event, []byte) error) error{
		func(ctx context.Context, emit func(context.Context, []event.Event, []byte) error) error {
			for i := 0; i < 40; i++ {
				evs := rows(i*5, 5)
				emitted[&evs[0]] = true
				if err := emit(ctx, evs, []byte(fmt.Sprintf("cp%d", i))); err != nil {
					return err
				}
			}
			return nil
		}}}}
	rs := &recordSink{}
	p := New(l, src, []SinkSpec{{Name: "s", Sink: rs, Policy: BatchPolicy{MaxRows: 64, MaxAge: 10 * time.Millisecond}}}, Options{})
	if err := runUntil(t, p, func() bool { c, _ := l.Cursor("s"); return c == 200 }); err != nil {
		t.Fatal(err)
	}
	_, values := rs.snapshot()
	for i, v := range values {
		if v != int64(i) {
			t.Fatalf("value %d is %d", i, v)
		}
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.early {
		t.Fatal("a slice came back with events still in it")
	}
	// Every emitted slice comes back once (the last may still be on its
	// way when the run stops), empty, with its room.
	seen := map[*event.Event]bool{}
	for _, evs := range src.recycled {
		if len(evs) != 0 || cap(evs) != 5 {
			t.Fatalf("recycled slice of len %d cap %d, want 0 and 5", len(evs), cap(evs))
		}
		first := &evs[:1][0]
		if !emitted[first] || seen[first] {
			t.Fatalf("recycled a slice that was not emitted, or twice")
		}
		seen[first] = true
	}
	if len(seen) < 39 {
		t.Fatalf("%d of 40 emitted slices recycled", len(seen))
	}
}
