package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink"
)

// runAcker feeds a sink with deferred acknowledgements (sink.Acker,
// contract 6..10): batches are handed to WriteAck one at a time, in order,
// and the cursor moves when the sink acknowledges them, later. No batch
// boundary is recorded (the sink does not depend on where batches end,
// contract 9), and the policy's InFlight does not apply: how much the sink
// holds accepted but undelivered is the sink's to bound (it blocks in
// WriteAck).
//
// A refused batch (ack with a non-permanent error) makes the worker stop
// handing out batches until every accepted one is settled, then start
// again from the cursor (contract 7). At the drain the sink is asked to
// flush, and the worker waits for the acks until the drain budget ends.
func (w *worker) runAcker(ctx context.Context, a sink.Acker) error {
	log, name := w.p.log, w.spec.Name
	w.deferred = true
	w.settled = make(chan struct{})
	acked, err := log.Register(name)
	if err != nil {
		return err
	}
	if len(log.Pending(name)) > 0 {
		// Boundaries recorded while the sink was synchronous mean nothing
		// to an Acker.
		if err := log.SetPending(name, nil); err != nil {
			return err
		}
	}
	next := acked + 1
	for {
		if err := w.failure(); err != nil {
			return err
		}
		if w.hasRedeliver() {
			if !w.settle(ctx) {
				return nil
			}
			w.mu.Lock()
			w.redeliver = false
			w.mu.Unlock()
			cur, _ := log.Cursor(name)
			w.p.lg.Warn("sink refused a batch; delivering again from its cursor", "sink", name, "from", cur+1)
			next = cur + 1
			continue
		}
		events, err := w.gather(ctx, next)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			if ctx.Err() == nil && w.hasRedeliver() {
				continue
			}
			if ctx.Err() != nil || !w.draining() {
				return nil
			}
			// Drain: deliver what was accepted, wait for its acks.
			a.Flush(ctx)
			if !w.settle(ctx) {
				return nil
			}
			if w.hasRedeliver() {
				continue
			}
			return w.failure()
		}
		end := events[len(events)-1].Seq
		if events[0].Seq != next {
			return fmt.Errorf("log read from %d returned %d..%d", next, events[0].Seq, end)
		}
		b := &sink.Batch{First: next, Last: end, Events: events}
		if !w.accept(ctx, a, b) {
			return w.failure()
		}
		// Accepted: the sink is done with the events (contract 10).
		w.recycle(events)
		next = end + 1
	}
}

// accept hands b to the sink, retrying a rejection with backoff like a
// failed Write. It reports false when the worker must stop (ctx done, or
// a permanent error, then recorded).
func (w *worker) accept(ctx context.Context, a sink.Acker, b *sink.Batch) bool {
	bo := backoff.New(100*time.Millisecond, 30*time.Second)
	obs := w.p.opts.Observer
	first, last := b.First, b.Last
	var once bool
	ack := func(err error) {
		w.mu.Lock()
		if once {
			w.mu.Unlock()
			// A broken sink: stop rather than trust its acks.
			w.setErr(fmt.Errorf("batch %d..%d acknowledged twice (a bug in the sink)", first, last))
			return
		}
		once = true
		w.mu.Unlock()
		switch {
		case err == nil:
			w.acked(&sink.Batch{First: first, Last: last})
		case errors.Is(err, event.ErrPermanent):
			w.setErr(fmt.Errorf("batch %d..%d: %w", first, last, err))
		default:
			w.p.lg.Warn("sink refused an accepted batch", "sink", w.spec.Name, "first_seq", first, "last_seq", last, "err", err)
			w.mu.Lock()
			w.redeliver = true
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.outstanding--
		close(w.settled)
		w.settled = make(chan struct{})
		w.mu.Unlock()
	}
	for attempt := 1; ; attempt++ {
		w.mu.Lock()
		w.outstanding++
		w.mu.Unlock()
		t0 := time.Now()
		err := a.WriteAck(ctx, b, ack)
		obs.SinkWrite(w.spec.Name, b, time.Since(t0), err)
		if err == nil {
			return true
		}
		w.mu.Lock()
		w.outstanding-- // rejected: no ack will come
		w.mu.Unlock()
		if ctx.Err() != nil {
			return false
		}
		e := b.Events[0]
		if errors.Is(err, event.ErrPermanent) {
			w.setErr(fmt.Errorf("batch %d..%d (first table %s at %s): %w", b.First, b.Last, e.Source, e.Pos, err))
			return false
		}
		wait := bo.Next()
		w.p.lg.Warn("sink write failed; retrying", "sink", w.spec.Name, "first_seq", b.First, "last_seq", b.Last,
			"table", e.Source.String(), "position", e.Pos.String(), "attempt", attempt, "backoff", wait, "err", err)
		if backoff.Wait(ctx, wait) != nil {
			return false
		}
		if w.failure() != nil {
			return false
		}
	}
}

// settle waits until no accepted batch is waiting for its ack; false when
// ctx ended first.
func (w *worker) settle(ctx context.Context) bool {
	for {
		w.mu.Lock()
		n, ch := w.outstanding, w.settled
		w.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (w *worker) hasRedeliver() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.redeliver
}
