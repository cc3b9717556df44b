package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestTrimWhenIdleOncePerIdlePeriod(t *testing.T) {
	var head, trims atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		trimWhenIdle(ctx, head.Load, 40*time.Millisecond, func() { trims.Add(1) })
	}()
	time.Sleep(120 * time.Millisecond)
	if n := trims.Load(); n != 0 {
		t.Fatalf("trimmed %d times before any append", n)
	}
	head.Store(5) // appends, then idle
	deadline := time.Now().Add(5 * time.Second)
	for trims.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(120 * time.Millisecond)
	if n := trims.Load(); n != 1 {
		t.Fatalf("trimmed %d times after one idle period, want 1", n)
	}
	cancel()
	<-done
}
