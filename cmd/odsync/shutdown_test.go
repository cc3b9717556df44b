package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/sink"
)

type closeSink struct{ block bool }

func (s *closeSink) Write(context.Context, *sink.Batch) error { return nil }
func (s *closeSink) Close(ctx context.Context) error {
	if s.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// A stuck sink uses its own close budget, is named, and does not make the
// sinks after it fail.
func TestCloseSinksEachOnItsOwnDeadline(t *testing.T) {
	sinks := []pipeline.SinkSpec{{Name: "stuck", Sink: &closeSink{block: true}}, {Name: "mc", Sink: &closeSink{}}}
	start := time.Now()
	err := closeSinks(sinks, 200*time.Millisecond, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "sink stuck") || strings.Contains(err.Error(), "sink mc") {
		t.Fatalf("err = %v, want only the stuck sink named", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closing took %s: sinks were not closed concurrently on their own deadlines", took)
	}
	if err := closeSinks(sinks[1:], time.Second, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("healthy sink: %v", err)
	}
}
