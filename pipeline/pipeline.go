// Package pipeline runs odsync: a capture appends to the durable log while
// every sink reads the log from its own cursor, concurrently.
//
// Invariants:
//
//  1. A source position (checkpoint) is stored only together with every
//     event before it, in one synced log append; so the log and the source
//     position never diverge, and a restart resumes the source from the
//     checkpoint with nothing lost and nothing appended twice.
//  2. A sink's cursor advances only over batches the sink has acknowledged,
//     and only over a contiguous prefix of them.
//  3. Before a batch is handed to a sink its last sequence number is recorded
//     (synced) as a pending boundary; after a crash the sink's first batches
//     are cut at exactly those boundaries, so sinks that name their output
//     after sequence ranges rewrite identical files.
//  4. A sink with deferred acknowledgements (sink.Acker: the S3 sink) is
//     handed batches in order, one at a time, and its cursor advances when
//     it acknowledges them, later (2 holds: out-of-order acks move the
//     cursor over the contiguous prefix only). No boundary is recorded (3
//     does not apply: such a sink recognises what it delivered by sequence
//     number). The log keeps every event until every cursor passed it, so
//     it is the spool of everything accepted but not yet acknowledged; a
//     refused batch is handed out again from the cursor, as after a crash.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/sink"
)

// Source is a capture. Run streams from checkpoint from (nil: the source's
// configured start) and calls emit with complete transactions and their
// checkpoint, or with chunks of huge transactions (checkpoint nil). It
// returns nil when ctx is done.
type Source interface {
	Run(ctx context.Context, from []byte, emit func(ctx context.Context, events []event.Event, checkpoint []byte) error) error
}

// Recycler is a Source that reuses the slices it emits. The pipeline owns
// an emitted slice (the source must not touch it once emit returned); once
// its events are appended to the log and nothing refers to them, the
// pipeline hands the slice back, cleared and of length 0, so that the source
// need not allocate one per emit. Recycle must not block.
type Recycler interface {
	Recycle(events []event.Event)
}

// Sink writes batches; see package sink for the contract.
type Sink interface {
	Write(ctx context.Context, b *sink.Batch) error
	Close(ctx context.Context) error
}

// BatchPolicy says when a sink batch is cut.
type BatchPolicy struct {
	MaxRows  int           `yaml:"max_rows"`
	MaxBytes bytesize.Size `yaml:"max_bytes"`
	MaxAge   time.Duration `yaml:"max_age"`
	// InFlight is how many batches may be written concurrently.
	InFlight int `yaml:"in_flight"`
}

// EnsureDefaults fills unset fields.
func (b *BatchPolicy) EnsureDefaults() {
	if b.MaxRows == 0 {
		b.MaxRows = 20000
	}
	if b.MaxBytes == 0 {
		b.MaxBytes = 16 << 20
	}
	if b.MaxAge == 0 {
		b.MaxAge = time.Second
	}
	if b.InFlight == 0 {
		b.InFlight = 1
	}
}

// Validate reports every problem.
func (b *BatchPolicy) Validate(prefix string) error {
	var errs []error
	if b.MaxRows < 1 {
		errs = append(errs, fmt.Errorf("%s.max_rows: %d: must be positive", prefix, b.MaxRows))
	}
	if b.MaxBytes < 1 {
		errs = append(errs, fmt.Errorf("%s.max_bytes: %d: must be positive", prefix, b.MaxBytes))
	}
	if b.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("%s.max_age: %s: must be positive", prefix, b.MaxAge))
	}
	if b.InFlight < 1 || b.InFlight > 64 {
		errs = append(errs, fmt.Errorf("%s.in_flight: %d: want 1..64", prefix, b.InFlight))
	}
	return errors.Join(errs...)
}

// SinkSpec is one named sink with its batch policy.
type SinkSpec struct {
	Name   string
	Sink   Sink
	Policy BatchPolicy
}

// Options tune the pipeline.
type Options struct {
	// AppendEvents caps how many events one log append coalesces. Default 20000.
	AppendEvents int
	// PaceBytes paces the capture by its sinks when nothing is retained
	// for replay (Retention 0): while the slowest sink is more than this
	// many log bytes behind, an append waits for it, up to PaceWait. Sinks
	// that keep up within this distance read what Pebble still holds in
	// its memtable, and entries deleted there are never written to disk
	// again (flush and compaction cost about as much CPU as the sink).
	// Pacing stops while the slowest sink is more than 4×PaceBytes behind
	// (its entries reach disk anyway): a sink slower than the capture, or
	// stalled, then lets the log absorb the difference as it would without
	// pacing. Default half of offsets.DefaultMemTableSize (the run command
	// passes half of the configured memtable); negative disables pacing.
	// A pipeline with a sink that acknowledges later (sink.Acker) is not
	// paced.
	PaceBytes int64
	// PaceWait bounds one append's wait for PaceBytes. Default 50ms.
	PaceWait time.Duration
	// QueueBytes bounds the (approximate, in-memory) bytes of emitted
	// transactions waiting for the log append; the source's emit blocks
	// beyond it. A single transaction bigger than it still passes alone.
	// Default 16MiB.
	QueueBytes int64
	// DrainTimeout bounds how long sinks keep writing after capture stopped. Default 30s.
	DrainTimeout time.Duration
	// GCInterval is how often entries below every cursor are deleted. Default 1s.
	GCInterval time.Duration
	Logger     *slog.Logger
	// Observer receives progress (metrics); nil observes nothing.
	Observer Observer
	// Retention keeps entries committed within this long in the log after
	// every sink has passed them, so sinks can be replayed from there; it
	// yields when the log holds more than RetentionMaxBytes. 0 keeps nothing.
	Retention         time.Duration
	RetentionMaxBytes int64
}

// idleRelease is how long a sink waits for a change before it drops the
// event slices it keeps for reuse: well within the 10 s after which
// cmd/odsync returns freed memory to the operating system, which counts
// from the last append (the sink's wait starts a little later).
const idleRelease = 5 * time.Second

// Pipeline wires a source, the log and sinks.
type Pipeline struct {
	log   *offsets.Log
	src   Source
	sinks []SinkSpec
	opts  Options
	lg    *slog.Logger
	// acked wakes the GC after a sink acknowledged a batch (nil when
	// entries are retained anyway, see Options.Retention).
	acked chan struct{}
	// holds: a sink acknowledges later (sink.Acker); no pacing.
	holds bool
}

// minGCGap spaces GCs triggered by acknowledgements. Deleting acknowledged
// entries promptly, while they are still in Pebble's memtable, lets the
// memtable flush drop them instead of writing them to disk and compacting
// them later.
const minGCGap = 20 * time.Millisecond

// New returns a pipeline. The log must be open; the pipeline does not close it.
func New(log *offsets.Log, src Source, sinks []SinkSpec, opts Options) *Pipeline {
	if opts.AppendEvents == 0 {
		opts.AppendEvents = 20000
	}
	if opts.PaceBytes == 0 {
		opts.PaceBytes = offsets.DefaultMemTableSize / 2
	}
	if opts.PaceWait == 0 {
		opts.PaceWait = 50 * time.Millisecond
	}
	if opts.QueueBytes == 0 {
		opts.QueueBytes = 16 << 20
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.GCInterval == 0 {
		opts.GCInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	for i := range sinks {
		sinks[i].Policy.EnsureDefaults()
	}
	p := &Pipeline{log: log, src: src, sinks: sinks, opts: opts, lg: opts.Logger}
	for _, s := range sinks {
		if _, ok := s.Sink.(sink.Acker); ok {
			p.holds = true
		}
	}
	if opts.Retention == 0 {
		p.acked = make(chan struct{}, 1)
	}
	return p
}

type txn struct {
	events     []event.Event
	checkpoint []byte
	size       int64 // MemSize of events, held from the queue budget
	// rollback, when set, asks the appender to discard the uncommitted
	// chunks (after appending everything before it) and to report on it.
	rollback chan error
}

// Run runs until ctx is done (then stops the capture, lets sinks drain what
// the log holds within DrainTimeout, persists cursors and returns nil) or
// until a component fails (returns its error). A permanent capture error
// (the source says retrying cannot help, e.g. a bad message) ends the run
// like ctx: what was emitted before it is appended and drained, then Run
// returns the error.
func (p *Pipeline) Run(ctx context.Context) error {
	failCtx, fail := context.WithCancelCause(context.Background())
	defer fail(nil)
	// Capture stops on ctx or on any failure.
	captureCtx, stopCapture := context.WithCancel(ctx)
	defer stopCapture()
	go func() {
		<-failCtx.Done()
		stopCapture()
	}()

	var wg sync.WaitGroup
	captureDone := make(chan struct{})
	ch := make(chan txn, 64)
	queue := newBudget(p.opts.QueueBytes)
	// srcErr is a permanent capture error (a bad message under on_error:
	// stop): what the source emitted before it is appended and the sinks
	// drain the log, then the run ends with it. Read after wg.Wait.
	var srcErr error
	wg.Add(1)
	go func() { // source → channel
		defer wg.Done()
		defer close(ch)
		if err := p.runSource(captureCtx, ch, queue); err != nil && captureCtx.Err() == nil {
			if errors.Is(err, event.ErrPermanent) {
				p.lg.Error("capture stopped; delivering the changes before the failure, then stopping", "err", err)
				srcErr = fmt.Errorf("capture: %w", err)
				return
			}
			fail(fmt.Errorf("capture: %w", err))
		}
	}()
	wg.Add(1)
	go func() { // channel → log
		defer wg.Done()
		defer close(captureDone)
		if err := p.appendLoop(captureCtx, ch, queue); err != nil && captureCtx.Err() == nil {
			fail(fmt.Errorf("log append: %w", err))
		}
	}()

	// Sinks run until failure, or until capture is done and they drained.
	sinkCtx, stopSinks := context.WithCancel(context.Background())
	defer stopSinks()
	drain := make(chan struct{})
	go func() {
		select {
		case <-captureDone:
			close(drain)
			select {
			case <-time.After(p.opts.DrainTimeout):
				p.lg.Warn("sinks did not drain in time; stopping them", "timeout", p.opts.DrainTimeout)
			case <-failCtx.Done():
			case <-sinkCtx.Done():
			}
		case <-failCtx.Done():
		}
		stopSinks()
	}()
	var sinkWG sync.WaitGroup
	for i := range p.sinks {
		spec := &p.sinks[i]
		sinkWG.Add(1)
		go func() {
			defer sinkWG.Done()
			if st, ok := spec.Sink.(sink.Starter); ok {
				if err := st.Start(sinkCtx); err != nil {
					if sinkCtx.Err() == nil {
						fail(fmt.Errorf("sink %s: start: %w", spec.Name, err))
					}
					return
				}
			}
			w := &worker{p: p, spec: spec, drain: drain, free: make(chan []event.Event, spec.Policy.InFlight+1), idleRelease: idleRelease}
			if err := w.run(sinkCtx); err != nil && sinkCtx.Err() == nil {
				fail(fmt.Errorf("sink %s: %w", spec.Name, err))
			}
		}()
	}
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		t := time.NewTicker(p.opts.GCInterval)
		defer t.Stop()
		for {
			select {
			case <-sinkCtx.Done():
				return
			case <-t.C:
			case <-p.acked:
			}
			p.gc()
			// At most one GC per minGCGap, however often sinks ack.
			select {
			case <-sinkCtx.Done():
				return
			case <-time.After(minGCGap):
			}
		}
	}()
	wg.Wait()
	sinkWG.Wait()
	stopSinks()
	<-gcDone
	p.gc()
	if err := context.Cause(failCtx); err != nil {
		return err
	}
	return srcErr
}

// appendLoop coalesces emitted transactions into log appends: it takes one,
// then whatever else is already waiting, up to AppendEvents events. A chunk
// of an unfinished transaction (no checkpoint) is never coalesced after a
// complete one, so complete transactions commit at once and a rollback only
// ever discards the chunks of the unfinished one.
func (p *Pipeline) appendLoop(ctx context.Context, ch <-chan txn, queue *budget) error {
	var buf []event.Event
	var carry *txn
	recycle := func([]event.Event) {}
	if r, ok := p.src.(Recycler); ok {
		recycle = r.Recycle
	}
	for {
		var t txn
		if carry != nil {
			t, carry = *carry, nil
		} else {
			var ok bool
			select {
			case t, ok = <-ch:
				if !ok {
					return nil
				}
			case <-ctx.Done():
				return nil
			}
		}
		if t.rollback != nil {
			t.rollback <- p.log.Rollback()
			continue
		}
		// A transaction appended alone is appended from the emitted slice
		// (the source handed it over); only coalescing copies into buf.
		evs := t.events
		cp := t.checkpoint
		taken := t.size
	more:
		for len(evs) < p.opts.AppendEvents {
			select {
			case t2, ok := <-ch:
				if !ok {
					break more
				}
				if t2.rollback != nil || (cp != nil && t2.checkpoint == nil) {
					carry = &t2
					break more
				}
				if len(buf) == 0 {
					buf = append(buf, evs...)
				}
				buf = append(buf, t2.events...)
				clear(t2.events)
				recycle(t2.events[:0])
				evs = buf
				cp = t2.checkpoint
				taken += t2.size
			default:
				break more
			}
		}
		if len(evs) > 0 || cp != nil {
			p.pace(ctx)
			t0 := time.Now()
			if _, err := p.log.Append(ctx, evs, cp); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			p.opts.Observer.Appended(evs, cp, time.Since(t0))
		}
		// Drop references so appended rows can be collected.
		clear(t.events)
		if t.events != nil {
			recycle(t.events[:0])
		}
		clear(buf)
		buf = buf[:0]
		queue.release(taken)
	}
}

// pace waits (at most PaceWait) while the slowest sink is more than
// PaceBytes behind the log; see Options.PaceBytes. A sink with deferred
// acknowledgements holds the log by design (until its files are cut), so
// its pipeline is not paced.
func (p *Pipeline) pace(ctx context.Context) {
	if p.opts.PaceBytes < 0 || p.opts.Retention > 0 || len(p.sinks) == 0 || p.holds {
		return
	}
	if r := p.log.Retained(); r <= p.opts.PaceBytes || r > 4*p.opts.PaceBytes {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, p.opts.PaceWait)
	defer cancel()
	_ = p.log.WaitRetainedBelow(wctx, p.opts.PaceBytes)
}

// runSource runs the source, restarting it from the log's checkpoint when
// it fails after making progress (a connection lost in the middle of a
// spilled transaction): the uncommitted chunks are rolled back first, so the
// transaction is appended once. A source that fails before emitting anything
// (unreachable, misconfigured) is not retried: its error ends the run.
func (p *Pipeline) runSource(ctx context.Context, ch chan<- txn, queue *budget) error {
	bo := backoff.New(time.Second, 30*time.Second)
	for {
		var progressed atomic.Bool
		err := p.src.Run(ctx, p.log.Checkpoint(), func(ctx context.Context, events []event.Event, cp []byte) error {
			var size int64
			for i := range events {
				size += events[i].MemSize()
			}
			if err := queue.acquire(ctx, size); err != nil {
				return err
			}
			select {
			case ch <- txn{events: events, checkpoint: cp, size: size}:
				progressed.Store(true)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		// Errors a source marks permanent (a bad message, lost offsets) end
		// the run: restarting would meet them again.
		if err == nil || ctx.Err() != nil || !progressed.Load() || errors.Is(err, event.ErrPermanent) {
			return err
		}
		wait := bo.Next()
		p.lg.Warn("capture failed after progress; restarting from the last checkpoint", "err", err, "backoff", wait)
		// The appender appends what was emitted before the failure, then
		// drops the chunks of the unfinished transaction.
		if backoff.Wait(ctx, wait) != nil {
			return nil
		}
		done := make(chan error, 1)
		select {
		case ch <- txn{rollback: done}:
		case <-ctx.Done():
			return nil
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// gc deletes log entries every sink has acknowledged, keeping the retention
// window unless the log is over its retention byte budget.
func (p *Pipeline) gc() {
	limit := uint64(math.MaxUint64)
	if p.opts.Retention > 0 && (p.opts.RetentionMaxBytes <= 0 || p.log.Stats().Bytes < p.opts.RetentionMaxBytes) {
		seq, err := p.log.SeekTime(time.Now().Add(-p.opts.Retention).UnixMicro())
		if err != nil {
			p.lg.Warn("log gc: retention", "err", err)
			return
		}
		limit = seq - 1
	}
	if _, err := p.log.GCUpTo(limit); err != nil {
		p.lg.Warn("log gc", "err", err)
	}
}

// budget bounds bytes in flight between the source and the appender.
type budget struct {
	mu    sync.Mutex
	used  int64
	max   int64
	freed chan struct{} // closed and replaced on every release
}

func newBudget(max int64) *budget { return &budget{max: max, freed: make(chan struct{})} }

// acquire takes n bytes, waiting while that would pass the maximum (unless
// nothing is taken: one oversized item always passes).
func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}
