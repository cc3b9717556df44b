package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink"
)

// worker feeds one sink from its cursor.
type worker struct {
	p     *Pipeline
	spec  *SinkSpec
	drain <-chan struct{} // closed when capture stopped: write what is left, then return

	// free holds event slices of acknowledged batches for reuse; they are
	// dropped once the sink has waited idleRelease for a change.
	free        chan []event.Event
	idleRelease time.Duration

	mu      sync.Mutex
	pending []uint64 // boundaries of batches cut but not yet acknowledged, in order
	err     error    // first write failure

	// For an Acker (sink.Acker, see acker.go):
	deferred    bool
	outstanding int           // batches accepted, neither acknowledged nor refused
	redeliver   bool          // a batch was refused: hand out again from the cursor
	settled     chan struct{} // closed and replaced whenever an ack arrives
}

func (w *worker) draining() bool {
	select {
	case <-w.drain:
		return true
	default:
		return false
	}
}

func (w *worker) run(ctx context.Context) error {
	if a, ok := w.spec.Sink.(sink.Acker); ok {
		return w.runAcker(ctx, a)
	}
	log, name, pol := w.p.log, w.spec.Name, w.spec.Policy
	acked, err := log.Register(name)
	if err != nil {
		return err
	}
	// Boundaries recorded before a crash: cut there again.
	replay := log.Pending(name)
	if len(replay) > 0 {
		w.p.lg.Info("re-cutting batches at recorded boundaries", "sink", name, "from", acked+1, "boundaries", len(replay))
	}
	next := acked + 1
	sem := make(chan struct{}, pol.InFlight)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	var events []event.Event
	for {
		if err := w.failure(); err != nil {
			return err
		}
		var end uint64
		events = nil
		if len(replay) > 0 {
			end, replay = replay[0], replay[1:]
			if end < next {
				continue
			}
			if _, err := log.Wait(ctx, end-1); err != nil {
				return nil
			}
			events, err = log.ReadInto(new(event.Decoder), next, int(end-next+1), 0, events)
			if err != nil {
				return err
			}
		} else {
			events, err = w.gather(ctx, next)
			if err != nil || len(events) == 0 {
				return err
			}
			end = events[len(events)-1].Seq
		}
		if len(events) == 0 || events[0].Seq != next || events[len(events)-1].Seq != end {
			return fmt.Errorf("log read %d..%d returned an unexpected range (%d events)", next, end, len(events))
		}
		// Record the boundary before writing.
		w.mu.Lock()
		w.pending = append(w.pending, end)
		err := log.SetPending(name, w.pending)
		w.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		b := &sink.Batch{First: next, Last: end, Events: events}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-sem }()
			w.write(ctx, b)
		}()
		next = end + 1
	}
}

func (w *worker) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// gather reads the next batch from seq next: it waits for the first event,
// then for more until the batch is full or MaxAge has passed since the first
// event was seen. It returns no events when the sink should stop.
func (w *worker) gather(ctx context.Context, next uint64) ([]event.Event, error) {
	log, pol := w.p.log, w.spec.Policy
	idle := time.Now()
	for log.Head() < next {
		if w.draining() || (w.deferred && w.hasRedeliver()) {
			return nil, nil
		}
		if !idle.IsZero() && time.Since(idle) >= w.idleRelease {
			w.dropFree()
			idle = time.Time{}
		}
		if err := w.failure(); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := log.Wait(wctx, next-1)
		cancel()
		if ctx.Err() != nil {
			return nil, nil
		}
		_ = err
	}
	deadline := time.Now().Add(pol.MaxAge)
	// Room for what is already waiting (up to a full batch), so a large
	// batch is not copied again and again as it grows.
	var events []event.Event
	select {
	case events = <-w.free:
	default:
		events = make([]event.Event, 0, max(64, min(uint64(pol.MaxRows), log.Head()-next+1)))
	}
	// One decoder per batch: the batch's events share its allocations and
	// are dropped together.
	dec := new(event.Decoder)
	var bytes int64
	from := next
	for {
		var err error
		n := len(events)
		events, err = log.ReadInto(dec, from, pol.MaxRows-len(events), int64(pol.MaxBytes)-bytes, events)
		if err != nil {
			return nil, err
		}
		for _, e := range events[n:] {
			bytes += e.ApproxSize()
		}
		if len(events) > 0 {
			from = events[len(events)-1].Seq + 1
		}
		if len(events) >= pol.MaxRows || bytes >= int64(pol.MaxBytes) || w.draining() {
			return events, nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return events, nil
		}
		if err := w.failure(); err != nil {
			return nil, err
		}
		// Wake at least every 200ms: a drain that starts while this batch
		// waits for more events must cut it now, not after MaxAge.
		wctx, cancel := context.WithTimeout(ctx, min(wait, 200*time.Millisecond))
		_, err = log.Wait(wctx, from-1)
		cancel()
		if ctx.Err() != nil {
			return events, nil
		}
	}
}

// write delivers one batch, retrying with backoff until it succeeds, the
// error is permanent, or ctx is done; then acknowledges it.
func (w *worker) write(ctx context.Context, b *sink.Batch) {
	bo := backoff.New(100*time.Millisecond, 30*time.Second)
	obs := w.p.opts.Observer
	for attempt := 1; ; attempt++ {
		t0 := time.Now()
		err := w.spec.Sink.Write(ctx, b)
		obs.SinkWrite(w.spec.Name, b, time.Since(t0), err)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		first := b.Events[0]
		if errors.Is(err, event.ErrPermanent) {
			w.setErr(fmt.Errorf("batch %d..%d (first table %s at %s): %w", b.First, b.Last, first.Source, first.Pos, err))
			return
		}
		wait := bo.Next()
		w.p.lg.Warn("sink write failed; retrying", "sink", w.spec.Name, "first_seq", b.First, "last_seq", b.Last,
			"table", first.Source.String(), "position", first.Pos.String(), "attempt", attempt, "backoff", wait, "err", err)
		if backoff.Wait(ctx, wait) != nil {
			return
		}
	}
	w.acked(b)
	// The sink is done with the batch (sink contract 5): reuse its slice.
	w.recycle(b.Events)
}

// acked moves the cursor over an acknowledged batch (and, for a
// synchronous sink, forgets its boundary).
func (w *worker) acked(b *sink.Batch) {
	log, name, obs := w.p.log, w.spec.Name, w.p.opts.Observer
	if err := log.Ack(name, b.First, b.Last); err != nil {
		w.setErr(err)
		return
	}
	if w.deferred {
		cur, _ := log.Cursor(name)
		obs.SinkAcked(name, cur)
		w.wakeGC()
		return
	}
	w.mu.Lock()
	// Boundaries above the cursor stay recorded even when their batch was
	// acknowledged out of order: a replay must cut every batch it rewrites
	// exactly as before.
	cur, _ := log.Cursor(name)
	keep := w.pending[:0]
	for _, e := range w.pending {
		if e > cur {
			keep = append(keep, e)
		}
	}
	w.pending = keep
	err := log.SetPending(name, w.pending)
	w.mu.Unlock()
	obs.SinkAcked(name, cur)
	if err != nil {
		w.setErr(err)
		return
	}
	w.wakeGC()
}

func (w *worker) wakeGC() {
	select {
	case w.p.acked <- struct{}{}:
	default:
	}
}

// recycle keeps the slice of a batch the sink is done with for a later one.
func (w *worker) recycle(events []event.Event) {
	clear(events)
	select {
	case w.free <- events[:0]:
	default:
	}
}

// dropFree lets the recycled slices be collected: a full batch's slice
// holds MaxRows events (megabytes) that an idle sink does not need.
func (w *worker) dropFree() {
	for {
		select {
		case <-w.free:
		default:
			return
		}
	}
}

func (w *worker) setErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}
