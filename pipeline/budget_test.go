package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
)

func TestBudget(t *testing.T) {
	b := newBudget(100)
	ctx := context.Background()
	if err := b.acquire(ctx, 250); err != nil { // oversized, but nothing is held: passes
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(ctx, 10) }()
	select {
	case err := <-got:
		t.Fatalf("acquire over the budget returned %v before a release", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(250)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 90); err != nil { // 10 + 90 fits exactly
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.acquire(cctx, 1); err == nil {
		t.Fatal("acquire over the budget did not wait for the context")
	}
}

// pace waits only while the slowest sink is between PaceBytes and
// 4×PaceBytes behind, and only for PaceWait; never with retention.
func TestPace(t *testing.T) {
	log := openLog(t, t.TempDir())
	ctx := context.Background()
	if _, err := log.Register("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, rows(1, 100), []byte("cp")); err != nil {
		t.Fatal(err)
	}
	r := log.Retained()
	if r <= 0 {
		t.Fatalf("retained %d bytes", r)
	}
	spec := []SinkSpec{{Name: "s", Sink: &recordSink{}}}
	timed := func(o Options) time.Duration {
		p := New(log, &scriptSource{}, spec, o)
		t0 := time.Now()
		p.pace(ctx)
		return time.Since(t0)
	}
	const wait = 200 * time.Millisecond
	if d := timed(Options{PaceBytes: r / 2, PaceWait: wait}); d < wait {
		t.Errorf("lag within 4×PaceBytes: pace returned after %s, want it to wait %s", d, wait)
	}
	for name, o := range map[string]Options{
		"below PaceBytes":    {PaceBytes: r, PaceWait: wait},
		"beyond 4×PaceBytes": {PaceBytes: r/4 - 1, PaceWait: wait},
		"retention":          {PaceBytes: r / 2, PaceWait: wait, Retention: time.Hour},
		"disabled":           {PaceBytes: -1, PaceWait: wait},
	} {
		if d := timed(o); d >= wait {
			t.Errorf("%s: pace waited %s", name, d)
		}
	}
	// GC freeing room ends the wait early.
	if err := log.Ack("s", 1, 100); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(20 * time.Millisecond); _, _ = log.GC() }()
	if d := timed(Options{PaceBytes: r / 2, PaceWait: 5 * time.Second}); d >= 5*time.Second {
		t.Errorf("pace did not end when GC freed room (%s)", d)
	}
}

// A sink waiting for changes drops its recycled event slices once it has
// waited idleRelease, and only then.
func TestWorkerDropsRecycledWhenIdle(t *testing.T) {
	for name, tc := range map[string]struct {
		idleRelease time.Duration
		wantKept    int
	}{
		"idle longer than idleRelease": {idleRelease: 20 * time.Millisecond, wantKept: 0},
		"idle shorter":                 {idleRelease: time.Hour, wantKept: 2},
	} {
		t.Run(name, func(t *testing.T) {
			l := openLog(t, t.TempDir())
			p := New(l, nil, nil, Options{})
			spec := &SinkSpec{Name: "s"}
			spec.Policy.EnsureDefaults()
			w := &worker{p: p, spec: spec, drain: make(chan struct{}), free: make(chan []event.Event, 3), idleRelease: tc.idleRelease}
			w.recycle(make([]event.Event, 10))
			w.recycle(make([]event.Event, 10))
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			evs, err := w.gather(ctx, l.Head()+1) // nothing is appended: waits until ctx is done
			if err != nil || len(evs) != 0 {
				t.Fatalf("gather on an empty log: %d events, %v", len(evs), err)
			}
			if got := len(w.free); got != tc.wantKept {
				t.Errorf("recycled slices kept after 300ms idle: %d, want %d", got, tc.wantKept)
			}
		})
	}
}
