package backoff

import (
	"context"
	"testing"
	"time"
)

func TestNextDoublesWithJitterUpToTheCap(t *testing.T) {
	b := New(100*time.Millisecond, time.Second)
	for i, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		if d := b.Next(); d < want/2 || d > want {
			t.Fatalf("wait %d = %s, want within [%s, %s]", i, d, want/2, want)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %s", d)
	}
	if d := New(time.Second, 10*time.Millisecond).Next(); d > 10*time.Millisecond {
		t.Fatalf("min above the cap: %s", d)
	}
}

func TestAttempt(t *testing.T) {
	for n, want := range map[int]time.Duration{0: 200, 1: 200, 2: 400, 3: 800, 5: 3000, 100: 3000} {
		if got := Attempt(n, 200*time.Millisecond, 3*time.Second); got != want*time.Millisecond && !(want == 3000 && got == 3*time.Second) {
			t.Errorf("Attempt(%d) = %s, want %dms", n, got, want)
		}
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Wait = %v", err)
	}
	if err := Wait(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
