// Package backoff is odsync's one retry delay: exponential from a minimum,
// doubling up to a cap, with jitter. Every retry loop (sink writes, source
// reconnects, uploads, Tunnel requests) takes its waits from here.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff hands out the waits of one retry loop. It is not safe for
// concurrent use.
type Backoff struct {
	min, max, cur time.Duration
}

// New returns waits starting at min (or max, if lower) and doubling up to
// max.
func New(min, max time.Duration) *Backoff {
	if max < min {
		min = max
	}
	return &Backoff{min: min, max: max, cur: min}
}

// Next returns the next wait, drawn from [d/2, d] for the current delay d
// (jitter keeps retries of many clients apart), and doubles the delay up
// to the cap.
func (b *Backoff) Next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Reset starts again from the minimum (after progress).
func (b *Backoff) Reset() { b.cur = b.min }

// Attempt is the wait before retry n (n >= 1) of work that keeps its own
// attempt count (an S3 file that failed to upload n times): min·2^(n-1),
// at most max, without jitter.
func Attempt(n int, min, max time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return minDur(d, max)
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// Wait sleeps for d, or until ctx is done; then it returns ctx.Err().
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
