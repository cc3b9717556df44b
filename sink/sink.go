// Package sink holds what every sink shares: the Batch a sink writes and the
// contract it must keep. Sinks live in subpackages (sink/local, sink/s3,
// sink/maxcompute).
//
// The contract (every sink):
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
//
// A sink that gathers many batches into one object (the S3 sink) may
// instead implement Acker: the pipeline then calls WriteAck, not Write, and
// the log itself is the sink's spool. For an Acker, 3 becomes 6..10 and 2
// becomes 9:
//
//  6. WriteAck accepts b (nil error) or rejects it (error, retried as in 4;
//     nothing of a rejected batch may have been taken in). Accepting is not
//     delivering: the sink calls ack exactly once per accepted batch, later
//     and from any goroutine, with nil once every event of the batch is
//     durable in the target. Only then does the pipeline advance the
//     sink's cursor over it (acks may come in any order; the cursor moves
//     over the contiguous acknowledged prefix). The log keeps every event
//     until every cursor has passed it, so an accepted batch needs no
//     local durable copy.
//  7. ack(err) refuses delivery of an accepted batch. With ErrPermanent the
//     pipeline stops. Otherwise the pipeline redelivers: it stops handing
//     out batches, waits until every accepted batch is acknowledged or
//     refused (a sink that refuses one must refuse, or deliver, every
//     later one and forget them), and hands out batches again from its
//     cursor.
//  8. Flush asks the sink to deliver what it accepted as soon as it can
//     (the pipeline drains at shutdown and waits for the acks within its
//     drain budget). A sink may decline (its flush_on_close is off); the
//     batches then stay in the log and are delivered after the restart.
//  9. After a crash, or a redelivery, the pipeline hands out again every
//     event after the cursor, in batches cut anywhere: events the sink had
//     delivered before (acknowledged above the cursor, or delivered but
//     not yet acknowledged at the crash) must not be delivered twice. The
//     sink recognises them by sequence number (the S3 sink derives object
//     names from sequence ranges and cuts its objects where the data says,
//     not where batches end).
//  10. 5 holds for WriteAck as for Write: the events may be encoded while
//     WriteAck runs, not kept for the ack.
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

// AckFunc acknowledges an accepted batch: nil when it is durable in the
// target, an error when the sink gave up on it (contract 6 and 7).
type AckFunc func(err error)

// Acker is the optional deferred-acknowledgement contract (6..10).
type Acker interface {
	WriteAck(ctx context.Context, b *Batch, ack AckFunc) error
	Flush(ctx context.Context)
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
// a sink whose writes reach the target after they were accepted (an Acker:
// the S3 sink accepts batches and uploads files later), that second step, so
// lag, readiness and metrics describe the target; for any sink, failures it
// is still retrying inside a blocked Write (throttling).
type Health struct {
	// Delivers is true for sinks whose writes reach the target after they
	// were accepted; Durable and Buffered are set only then. Durable: every
	// event with a sequence number <= Durable is in the target (uploaded,
	// committed) — for an Acker, what it has acknowledged; Buffered is the
	// bytes accepted but not yet there.
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
