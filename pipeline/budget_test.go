package pipeline

import (
	"context"
	"testing"
	"time"
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
