package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/sink"
)

// The sink's one retry loop. Every request that may fail transiently (a
// stream pack upload, a block write, a commit) runs through retry, which
// sorts each failure into one of these classes:
//
//   - permanent (401/403, malformed data: the batch fails, the pipeline stops);
//   - throttled (429, 503, or a Retry-After header): the service asks us to
//     slow down. Retried for as long as it takes, as the official SDKs do,
//     with jittered backoff up to ThrottleMaxBackoff and never sooner than
//     Retry-After; it does not count against MaxAttempts;
//   - schema not yet visible (a new session still has the table's old
//     columns right after ALTER TABLE): retried with backoff for up to
//     SchemaWait (the Java SDK waits up to 5 minutes), not counted either;
//   - everything else: retried up to MaxAttempts times, with jittered
//     exponential backoff up to MaxBackoff.
//
// Failures are counted for Health (consecutive failures, retries), so a
// throttled or failing sink shows on /status, /readyz and in metrics while
// its Write blocks.

type failureClass int

const (
	failTransient failureClass = iota
	failPermanent
	failThrottled
	failSchemaStale
	failHandBack // not retried here: the caller handles it (stopRetry)
)

// stopRetry hands an error back to retry's caller at once, unchanged
// (a session that is gone: the caller starts a new one).
type stopRetry struct{ err error }

func (e *stopRetry) Error() string { return e.err.Error() }
func (e *stopRetry) Unwrap() error { return e.err }

// errSchemaStale marks a session whose schema lacks columns the rows have:
// the table was just altered and the change is not visible yet.
var errSchemaStale = errors.New("the table's new schema is not visible to new sessions yet")

func classify(err error) (failureClass, time.Duration) {
	var sr *stopRetry
	if errors.As(err, &sr) {
		return failHandBack, 0
	}
	if errors.Is(err, errSchemaStale) {
		return failSchemaStale, 0
	}
	if e := asSinkError(err); errors.Is(e, sink.ErrPermanent) {
		return failPermanent, 0
	}
	var ae *apiError
	if errors.As(err, &ae) {
		if isPermanentStatus(ae) {
			return failPermanent, 0
		}
		if ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable || ae.RetryAfter > 0 {
			return failThrottled, ae.RetryAfter
		}
	}
	return failTransient, 0
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retryState is the sink's failure record for Health.
type retryState struct {
	mu           sync.Mutex
	streak       int
	failingSince time.Time
	lastErr      string
	lastOK       time.Time
	retries      int64
	throttled    int64
}

func (r *retryState) failed(err error, throttled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streak == 0 {
		r.failingSince = time.Now()
	}
	r.streak++
	r.retries++
	if throttled {
		r.throttled++
	}
	r.lastErr = err.Error()
}

func (r *retryState) succeeded() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streak, r.lastErr, r.lastOK = 0, "", time.Now()
}

// retryOpts tune one retry call (zero values: the sink's config).
type retryOpts struct {
	what string // for messages: "record pack of t/ds=1"
	log  []any  // log attributes
	// quick makes the first retry of a failure that a fresh session fixes
	// (412 SchemaModified, 404) immediate.
	quick func(error) bool
}

// retry runs op until it succeeds, fails permanently, runs out of
// attempts (transient failures) or of SchemaWait, or ctx ends.
func (s *Sink) retry(ctx context.Context, o retryOpts, op func() error) error {
	bo := backoff.New(100*time.Millisecond, s.cfg.MaxBackoff)
	throttle := backoff.New(100*time.Millisecond, s.cfg.ThrottleMaxBackoff)
	var staleSince time.Time
	for attempt := 1; ; {
		err := op()
		if err == nil {
			s.retries.succeeded()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: sink closing: %w", o.what, err)
		}
		class, after := classify(err)
		var wait time.Duration
		switch class {
		case failHandBack:
			s.retries.failed(err, false)
			var sr *stopRetry
			errors.As(err, &sr)
			return sr.err
		case failPermanent:
			s.retries.failed(err, false)
			return err
		case failThrottled:
			wait = max(throttle.Next(), after)
			s.retries.failed(err, true)
			s.lg.Warn("maxcompute: throttled; retrying", append(o.log, "what", o.what, "backoff", wait, "err", err)...)
		case failSchemaStale:
			if staleSince.IsZero() {
				staleSince = time.Now()
			}
			if time.Since(staleSince) > s.cfg.SchemaWait {
				s.retries.failed(err, false)
				return fmt.Errorf("%s: the altered schema was not visible after %s: %w", o.what, s.cfg.SchemaWait, err)
			}
			wait = bo.Next()
			s.retries.failed(err, false)
			s.lg.Info("maxcompute: waiting for the altered schema to become visible", append(o.log, "what", o.what, "waited", time.Since(staleSince).Round(time.Millisecond), "err", err)...)
		default:
			s.retries.failed(err, false)
			if attempt >= s.cfg.MaxAttempts {
				return fmt.Errorf("%s: not done after %d attempts: %w", o.what, attempt, err)
			}
			wait = bo.Next()
			if attempt == 1 && o.quick != nil && o.quick(err) {
				wait = 0
			}
			attempt++
			s.lg.Warn("maxcompute: request failed; retrying", append(o.log, "what", o.what, "attempt", attempt-1, "backoff", wait, "err", err)...)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: sink closing: %w", o.what, err)
		case <-time.After(wait):
		}
	}
}

// Health implements sink.HealthReporter: failures of requests still being
// retried inside Write (throttling, a schema change not yet visible, a
// failing service), so they show while Write blocks. Change rows are
// visible when Write returns; snapshot rows in an open bulk session only
// after its commit. So, with a log to hold (the *offsets.Log), the sink
// always reports Delivers: Durable is just below the lowest seq of any
// uncommitted snapshot row, or the log's head when nothing is held back
// (readers take the lower of it and the cursor). Always, not only while a
// session is open: telemetry updates the cursor at every acknowledgement
// but Health only at its samples, and a stale "does not deliver" next to
// a fresh cursor would count rows acknowledged into a new session as
// visible (odsync verify --status then compared too early).
func (s *Sink) Health() sink.Health {
	r := &s.retries
	r.mu.Lock()
	h := sink.Health{ConsecutiveFailures: r.streak, LastError: r.lastErr, LastSuccess: r.lastOK, Retries: r.retries, Throttled: r.throttled}
	if r.streak > 0 {
		h.FailingSince = r.failingSince
	}
	r.mu.Unlock()
	lh, ok := s.store.(logHolder)
	if !ok {
		return h
	}
	s.bulk.holdMu.Lock()
	held := s.bulk.held
	s.bulk.holdMu.Unlock()
	h.Delivers, h.Durable, h.Buffered = true, lh.Head(), s.buffered()
	if held > 0 {
		h.Durable, h.Holding = min(h.Durable, held-1), min(s.cfg.CommitAge, s.cfg.SessionTTL/2)
	}
	return h
}
