package offsets

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// GC deletes entries at or below the lowest cursor (no cursors: nothing is
// deleted) and frees their bytes from the MaxBytes budget (waking blocked
// appenders). It uses the persisted cursor values; the synced GC batch
// follows their writes in the WAL, so it makes them durable too.
func (l *Log) GC() (deleted uint64, err error) {
	return l.GCUpTo(math.MaxUint64)
}

// GCUpTo is GC that also keeps every entry above limit: a retention floor
// (entries kept for replay after every sink has passed them).
func (l *Log) GCUpTo(limit uint64) (deleted uint64, err error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.exit()
	l.wmu.Lock()
	defer l.wmu.Unlock()

	l.mu.Lock()
	tail, cumTail := l.mu.tail, l.mu.cumTail
	upto, found := uint64(0), false
	for _, c := range l.mu.cursors {
		if !found || c.persisted < upto {
			upto, found = c.persisted, true
		}
	}
	l.mu.Unlock()
	upto = min(upto, limit)
	if !found || upto < tail {
		return 0, nil
	}
	cum, err := l.cumAt(upto, tail, cumTail)
	if err != nil {
		return 0, fmt.Errorf("offsets: state dir %s: gc through %d: %w", l.dir, upto, err)
	}

	// Publish the new tail before deleting (invariant 7).
	l.mu.Lock()
	l.mu.tail, l.mu.cumTail = upto+1, cum
	l.mu.Unlock()

	r := gcRecord{tail: upto + 1, cum: cum}
	err = l.write(func(b *pebble.Batch) {
		// Tight bounds: a tombstone from e/ itself would make the flushed
		// file overlap every older one.
		_ = b.DeleteRange(newSeqKey(prefixEvent, tail), newSeqKey(prefixEvent, upto+1), nil)
		_ = b.DeleteRange(newSeqKey(prefixBytes, tail-1), newSeqKey(prefixBytes, upto+1), nil)
		_ = b.Set([]byte(keyGC), r.append(nil), nil)
	}, pebble.Sync)
	if err != nil {
		return 0, fmt.Errorf("offsets: gc through %d: %w", upto, err)
	}
	l.mu.Lock()
	close(l.mu.gcCh)
	l.mu.gcCh = make(chan struct{})
	l.mu.Unlock()
	deleted = upto + 1 - tail
	l.logger.Debug("gc", "deleted", deleted, "tail", upto+1, "freed_bytes", cum-cumTail)
	return deleted, nil
}

// cumAt returns the cumulative event bytes through seq (tail-1 <= seq <= head):
// the nearest t/ record at or below seq (or the gc record), plus the sizes
// of the entries between it and seq (at most one Append's worth).
func (l *Log) cumAt(seq, tail uint64, cumTail int64) (int64, error) {
	base, cum := tail-1, cumTail
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixBytes), UpperBound: newSeqKey(prefixBytes, seq+1)})
	if err != nil {
		return 0, err
	}
	if it.Last() {
		s, _ := keySeq(it.Key())
		if s >= base {
			v, err := it.ValueAndErr()
			if err == nil {
				var c uint64
				c, err = decodeU64("byte count", v)
				base, cum = s, int64(c)
			}
			if err != nil {
				_ = it.Close()
				return 0, err
			}
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, err
	}
	if base == seq {
		return cum, nil
	}
	it, err = l.db.NewIter(&pebble.IterOptions{LowerBound: newSeqKey(prefixEvent, base+1), UpperBound: newSeqKey(prefixEvent, seq+1)})
	if err != nil {
		return 0, err
	}
	n := base
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return 0, err
		}
		cum += int64(len(v))
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, err
	}
	if n != seq {
		return 0, fmt.Errorf("entries %d..%d: found %d", base+1, seq, n-base)
	}
	return cum, nil
}

// Stats describe the log.
type Stats struct {
	// Head and Tail are as Head() and Tail(); Uncommitted counts the partial
	// entries above Head.
	Head, Tail, Uncommitted uint64
	// Bytes is the encoded size of the retained committed entries (what
	// MaxBytes caps); DiskBytes the size of the state directory's files.
	Bytes     int64
	DiskBytes int64
}

// Retained returns the encoded bytes of the retained committed entries
// (Stats.Bytes, without the disk usage Stats also measures).
func (l *Log) Retained() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.cumHead - l.mu.cumTail
}

// WaitRetainedBelow waits until the retained committed bytes (Stats.Bytes)
// are at most n, or until ctx is done (it then returns ctx's error). GC
// wakes it.
func (l *Log) WaitRetainedBelow(ctx context.Context, n int64) error {
	_, err := l.waitRetained(ctx, n, nil)
	return err
}

// waitRetained waits until the retained committed bytes are at most n and
// returns them; onWait (if set) is called once, when it starts waiting. It
// fails with ctx's error (and the bytes retained then) or ErrClosed.
func (l *Log) waitRetained(ctx context.Context, n int64, onWait func(used int64)) (int64, error) {
	for {
		l.mu.Lock()
		used, ch := l.mu.cumHead-l.mu.cumTail, l.mu.gcCh
		l.mu.Unlock()
		if used <= n {
			return used, nil
		}
		if onWait != nil {
			onWait(used)
			onWait = nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return used, ctx.Err()
		case <-l.done:
			return used, ErrClosed
		}
	}
}

// Stats returns the log's statistics.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	s := Stats{
		Head: l.mu.head, Tail: l.mu.tail, Uncommitted: l.mu.uncommitted,
		Bytes: l.mu.cumHead - l.mu.cumTail,
	}
	l.mu.Unlock()
	if l.enter() == nil {
		s.DiskBytes = int64(l.db.Metrics().DiskSpaceUsage())
		l.exit()
	}
	return s
}
