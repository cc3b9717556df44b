// Package sink holds what every sink shares: the Batch a sink writes and the
// contract it must keep. Sinks live in subpackages (sink/local, sink/s3,
// sink/maxcompute).
//
// The contract:
//
//  1. Write is called with batches in increasing sequence order, possibly
//     several in flight at once when the pipeline allows it.
//  2. Write must be idempotent for the same batch: after a crash the pipeline
//     replays from the sink's cursor and cuts batches at the same sequence
//     numbers it had recorded before writing, so a sink that derives its
//     object names and contents from (target, first seq, last seq) rewrites
//     identical objects. Sinks that cannot overwrite (append-only tables)
//     write the _seq column so duplicates are removable.
//  3. A nil error means the batch is durable in the target; only then does
//     the pipeline advance the sink's cursor over it.
//  4. Errors are retried with backoff unless permanent: wrapping
//     ErrPermanent (errors.Is(err, event.ErrPermanent) holds for them).
//  5. Write must not keep b.Events, or pointers into it, after it returns:
//     the pipeline reuses the slice for a later batch. The events' values,
//     strings and tables are immutable and may be kept, but strings share
//     memory with the whole batch (see event.Decoder): clone a string kept
//     for long, such as a map key.
package sink

import (
	"context"
	"time"

	"github.com/odsync/odsync/event"
)

// Batch is a contiguous range of the log.
type Batch struct {
	// First and Last are the sequence numbers of the first and last event.
	First, Last uint64
	Events      []event.Event
}

// ErrPermanent marks sink errors that retrying cannot fix (rejected schema,
// permission denied): wrap it (fmt.Errorf("%w: ...", sink.ErrPermanent)).
// It is the sinks' spelling of event.ErrPermanent, which it matches
// (errors.Is), so the pipeline stops instead of retrying.
var ErrPermanent error = permanentError{}

type permanentError struct{}

func (permanentError) Error() string        { return "permanent sink error" }
func (permanentError) Is(target error) bool { return target == event.ErrPermanent }

// Health is what a sink reports about its target beyond Write's result: for
// a sink whose writes reach the target after Write returned (the S3 sink
// spools locally and uploads later), that second step, so lag, readiness and
// metrics describe the target, not the spool; for any sink, failures it is
// still retrying inside a blocked Write (throttling).
type Health struct {
	// Delivers is true for sinks whose writes reach the target after Write
	// returned; Durable and Buffered are set only then. Durable: every
	// event with a sequence number <= Durable is in the target (uploaded,
	// committed); Buffered is the bytes accepted but not yet there.
	Delivers bool
	Durable  uint64
	Buffered int64
	// ConsecutiveFailures counts the failed attempts since the last
	// success; FailingSince is the first of them (zero when none).
	ConsecutiveFailures int
	FailingSince        time.Time
	// LastError is the last failure's text ("" after a success).
	LastError string
	// LastSuccess is when the target last accepted data.
	LastSuccess time.Time
	// Retries counts every failed attempt; Throttled those the target
	// refused to slow us down (429, 503).
	Retries, Throttled int64
	// Holding is how long data may wait before delivery by design (the S3
	// sink's max_age file rolling): readiness allows this much lag on top
	// of its bound.
	Holding time.Duration
}

// Starter is implemented by sinks that work in the background (uploads,
// timers). Constructors must not start goroutines; the pipeline calls
// Start once before the first Write, and the background work lasts until
// Close (ctx bounds the start itself, not the work). Write and Close may
// start it too when a caller (a test) skipped Start: Start is idempotent.
type Starter interface {
	Start(ctx context.Context) error
}

// HealthReporter is implemented by sinks that report Health. It is called
// from telemetry's sampler, concurrently with Write.
type HealthReporter interface {
	Health() Health
}
