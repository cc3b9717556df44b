package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/sink"
)

// ackSink is a sink with deferred acknowledgements (sink.Acker): it keeps
// the accepted batches and their acks; the test (or Flush) acknowledges.
type ackSink struct {
	mu       sync.Mutex
	accepted [][2]uint64 // every accepted batch, in order (redeliveries too)
	values   []int64     // the rows of every accepted batch
	acks     []sink.AckFunc
	ranges   [][2]uint64 // of acks, by index
	done     []bool
	// flush: acknowledge everything at the drain (else decline).
	flush bool
	// reject: how many WriteAck calls fail before one accepts.
	reject int
}

func (s *ackSink) Write(context.Context, *sink.Batch) error {
	return errors.New("ackSink: Write called on an Acker")
}
func (s *ackSink) Close(context.Context) error { return nil }

func (s *ackSink) WriteAck(ctx context.Context, b *sink.Batch, ack sink.AckFunc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reject > 0 {
		s.reject--
		return errors.New("injected rejection")
	}
	s.accepted = append(s.accepted, [2]uint64{b.First, b.Last})
	for _, e := range b.Events {
		s.values = append(s.values, e.After[0].Int())
	}
	s.acks = append(s.acks, ack)
	s.ranges = append(s.ranges, [2]uint64{b.First, b.Last})
	s.done = append(s.done, false)
	return nil
}

func (s *ackSink) Flush(context.Context) {
	s.mu.Lock()
	flush := s.flush
	s.mu.Unlock()
	if flush {
		s.ackAll(nil)
	}
}

// ack settles the i-th accepted batch (in acceptance order).
func (s *ackSink) ack(i int, err error) {
	s.mu.Lock()
	if i >= len(s.acks) || s.done[i] {
		s.mu.Unlock()
		return
	}
	s.done[i] = true
	f := s.acks[i]
	s.mu.Unlock()
	f(err)
}

// ackAll settles every open batch with err.
func (s *ackSink) ackAll(err error) {
	s.mu.Lock()
	n := len(s.acks)
	s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.ack(i, err)
	}
}

func (s *ackSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acks)
}

func (s *ackSink) snapshot() ([][2]uint64, []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][2]uint64(nil), s.accepted...), append([]int64(nil), s.values...)
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestDeferredAcks: the cursor of an Acker moves only over the contiguous
// acknowledged prefix, whatever order the acks come in; acks may come
// after WriteAck returned, from other goroutines.
func TestDeferredAcks(t *testing.T) {
	for _, tc := range []struct {
		order []int    // ack order of batches 0..3 (10 rows each)
		want  []uint64 // cursor after each ack
	}{
		{order: []int{0, 1, 2, 3}, want: []uint64{10, 20, 30, 40}},
		{order: []int{3, 2, 1, 0}, want: []uint64{0, 0, 0, 40}},
		{order: []int{1, 0, 3, 2}, want: []uint64{0, 20, 20, 40}},
		{order: []int{2, 0, 3, 1}, want: []uint64{0, 10, 10, 40}},
	} {
		t.Run(fmt.Sprint(tc.order), func(t *testing.T) {
			l := openLog(t, t.TempDir())
			defer l.Close()
			for i := 0; i < 4; i++ {
				if _, err := l.Append(context.Background(), rows(10*i, 10), []byte(fmt.Sprint("cp", i))); err != nil {
					t.Fatal(err)
				}
			}
			as := &ackSink{}
			p := New(l, &scriptSource{}, []SinkSpec{{Name: "s", Sink: as, Policy: BatchPolicy{MaxRows: 10, MaxAge: time.Millisecond}}}, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			waitFor(t, "4 accepted batches", func() bool { return as.count() == 4 })
			for i, b := range tc.order {
				as.ack(b, nil)
				waitFor(t, fmt.Sprintf("cursor %d", tc.want[i]), func() bool { c, _ := l.Cursor("s"); return c == tc.want[i] })
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			acc, _ := as.snapshot()
			if fmt.Sprint(acc) != "[[1 10] [11 20] [21 30] [31 40]]" {
				t.Fatalf("accepted %v", acc)
			}
			if len(l.Pending("s")) != 0 {
				t.Fatalf("an Acker recorded batch boundaries: %v", l.Pending("s"))
			}
			if l.Tail() != 41 {
				t.Fatalf("log tail %d after every ack, want 41 (acknowledged entries collected)", l.Tail())
			}
		})
	}
}

// TestDeferredAckAfterRestart: batches accepted but not acknowledged when
// the pipeline stops (the sink declines to flush) stay in the log and are
// handed out again after the restart; an ack that comes after the drain
// still moves the cursor.
func TestDeferredAckAfterRestart(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	for i := 0; i < 3; i++ {
		if _, err := l.Append(context.Background(), rows(10*i, 10), []byte(fmt.Sprint("cp", i))); err != nil {
			t.Fatal(err)
		}
	}
	as := &ackSink{}
	p := New(l, &scriptSource{}, []SinkSpec{{Name: "s", Sink: as, Policy: BatchPolicy{MaxRows: 10, MaxAge: time.Millisecond}}},
		Options{DrainTimeout: 200 * time.Millisecond})
	if err := runUntil(t, p, func() bool { return as.count() == 3 }); err != nil {
		t.Fatal(err)
	}
	as.ack(0, nil) // after Run returned: the log is open, the cursor moves
	if c, _ := l.Cursor("s"); c != 10 {
		t.Fatalf("cursor %d after a late ack, want 10", c)
	}
	if l.Tail() > 11 {
		t.Fatalf("log tail %d: unacknowledged entries were collected", l.Tail())
	}
	l.Close()

	l = openLog(t, dir)
	defer l.Close()
	as2 := &ackSink{flush: true}
	p = New(l, &scriptSource{}, []SinkSpec{{Name: "s", Sink: as2, Policy: BatchPolicy{MaxRows: 1000, MaxAge: time.Millisecond}}}, Options{})
	if err := runUntil(t, p, func() bool { return as2.count() == 1 }); err != nil {
		t.Fatal(err)
	}
	acc, vals := as2.snapshot()
	if fmt.Sprint(acc) != "[[11 30]]" || len(vals) != 20 || vals[0] != 10 {
		t.Fatalf("after the restart: accepted %v (%d rows from %v), want [[11 30]]", acc, len(vals), vals[:1])
	}
	// The drain flushed: everything acknowledged.
	if c, _ := l.Cursor("s"); c != 30 {
		t.Fatalf("cursor %d after the drain, want 30", c)
	}
}

// TestDeferredRefusalRedelivers: a refused batch (ack with an error) and
// every batch after it are handed out again from the cursor; rejected
// WriteAck calls are retried; a permanent refusal ends the run.
func TestDeferredRefusalRedelivers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reject int
		// refuse: index of the first refused batch (it and all later are refused).
		refuse    int
		permanent bool
		want      string // accepted batches
	}{
		{name: "refuse-second", refuse: 1, want: "[[1 10] [11 20] [21 30] [11 20] [21 30]]"},
		{name: "refuse-first", refuse: 0, want: "[[1 10] [11 20] [21 30] [1 10] [11 20] [21 30]]"},
		{name: "rejected-writes", reject: 2, refuse: -1, want: "[[1 10] [11 20] [21 30]]"},
		{name: "permanent", refuse: 1, permanent: true, want: "[[1 10] [11 20] [21 30]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, t.TempDir())
			defer l.Close()
			for i := 0; i < 3; i++ {
				if _, err := l.Append(context.Background(), rows(10*i, 10), []byte(fmt.Sprint("cp", i))); err != nil {
					t.Fatal(err)
				}
			}
			as := &ackSink{reject: tc.reject}
			p := New(l, &scriptSource{}, []SinkSpec{{Name: "s", Sink: as, Policy: BatchPolicy{MaxRows: 10, MaxAge: time.Millisecond}}}, Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			waitFor(t, "3 accepted batches", func() bool { return as.count() == 3 })
			if tc.refuse >= 0 {
				for i := 0; i < tc.refuse; i++ {
					as.ack(i, nil)
				}
				err := errors.New("upload lost")
				if tc.permanent {
					err = fmt.Errorf("%w: bucket gone", sink.ErrPermanent)
				}
				for i := tc.refuse; i < 3; i++ {
					as.ack(i, err)
				}
			}
			if tc.permanent {
				select {
				case err := <-done:
					if !errors.Is(err, sink.ErrPermanent) {
						t.Fatalf("Run = %v, want the permanent refusal", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Run did not end after a permanent refusal")
				}
			} else {
				waitFor(t, "every batch acknowledged", func() bool {
					as.ackAll(nil)
					c, _ := l.Cursor("s")
					return c == 30
				})
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if acc, _ := as.snapshot(); fmt.Sprint(acc) != tc.want {
				t.Fatalf("accepted %v, want %s", acc, tc.want)
			}
		})
	}
}
