package offsets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/cockroachdb/pebble/v2"
)

// cursor is one sink's progress.
type cursor struct {
	acked     uint64 // last contiguous acked seq
	persisted uint64 // the value last written under r/<name>
	// ranges are the acked ranges above acked+1: sorted, disjoint and not
	// adjacent to each other or to acked.
	ranges []seqRange
}

type seqRange struct{ first, last uint64 }

// ack records [first, last] and advances acked over the contiguous prefix.
func (c *cursor) ack(first, last uint64) {
	if last <= c.acked {
		return
	}
	first = max(first, c.acked+1)
	rs := c.ranges
	i := sort.Search(len(rs), func(i int) bool { return rs[i].last+1 >= first })
	j := i
	for j < len(rs) && rs[j].first <= last+1 {
		first, last = min(first, rs[j].first), max(last, rs[j].last)
		j++
	}
	rs = slices.Replace(rs, i, j, seqRange{first, last})
	if rs[0].first == c.acked+1 {
		c.acked = rs[0].last
		rs = rs[1:]
	}
	if len(rs) == 0 {
		rs = nil // let the backing array go
	}
	c.ranges = rs
}

// Cursor returns the last contiguous acked seq of the named cursor.
func (l *Log) Cursor(name string) (acked uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.mu.cursors[name]
	if c == nil {
		return 0, false
	}
	return c.acked, true
}

// Cursors returns every cursor's last contiguous acked seq.
func (l *Log) Cursors() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]uint64, len(l.mu.cursors))
	for n, c := range l.mu.cursors {
		m[n] = c.acked
	}
	return m
}

// Register creates the named cursor at Tail()-1 if it is missing (synced)
// and returns its acked seq.
func (l *Log) Register(name string) (acked uint64, err error) {
	if name == "" {
		return 0, errors.New("offsets: register: empty cursor name")
	}
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.exit()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	c, tail := l.mu.cursors[name], l.mu.tail
	l.mu.Unlock()
	if c != nil {
		return l.cursorAcked(c), nil
	}
	acked = tail - 1
	if err := l.putCursor(name, acked, pebble.Sync); err != nil {
		return 0, fmt.Errorf("offsets: register cursor %q at %d: %w", name, acked, err)
	}
	l.mu.Lock()
	l.mu.cursors[name] = &cursor{acked: acked, persisted: acked}
	l.mu.Unlock()
	l.logger.Info("cursor registered", "cursor", name, "acked", acked)
	return acked, nil
}

func (l *Log) cursorAcked(c *cursor) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return c.acked
}

func (l *Log) putCursor(name string, acked uint64, wo *pebble.WriteOptions) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], acked)
	return l.write(func(b *pebble.Batch) { _ = b.Set([]byte(prefixCursor+name), v[:], nil) }, wo)
}

// Ack records that the named sink durably wrote seqs first..last. Acks may
// arrive out of order; the cursor advances only over the contiguous acked
// prefix (acked ranges above it are kept in memory). The cursor is
// persisted without Sync: replay after a crash is idempotent, and Close and
// GC sync it.
func (l *Log) Ack(name string, first, last uint64) error {
	if first == 0 || first > last {
		return fmt.Errorf("offsets: ack cursor %q: bad range %d..%d", name, first, last)
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	l.mu.Lock()
	c, head := l.mu.cursors[name], l.mu.head
	if c == nil {
		l.mu.Unlock()
		return fmt.Errorf("%w %q (ack %d..%d)", ErrUnknownCursor, name, first, last)
	}
	if last > head {
		l.mu.Unlock()
		return fmt.Errorf("offsets: ack cursor %q %d..%d: beyond head %d", name, first, last, head)
	}
	c.ack(first, last)
	dirty := c.acked != c.persisted
	l.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := l.persistCursor(name); err != nil {
		return fmt.Errorf("offsets: ack cursor %q %d..%d: %w", name, first, last, err)
	}
	return nil
}

// persistCursor writes the current acked value of the named cursor if it
// differs from the persisted one. wmu orders the writes, so the persisted
// value follows the in-memory one.
func (l *Log) persistCursor(name string) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	c := l.mu.cursors[name]
	if c == nil || c.acked == c.persisted {
		l.mu.Unlock()
		return nil
	}
	v := c.acked
	l.mu.Unlock()
	if err := l.putCursor(name, v, pebble.NoSync); err != nil {
		return err
	}
	l.mu.Lock()
	c.persisted = v
	l.mu.Unlock()
	return nil
}

// SetCursor sets the named cursor (creating it if missing) for a replay
// (rewind) or a skip (forward), and forgets its out-of-order acks. acked
// must be in [Tail()-1, Head()]. Synced.
func (l *Log) SetCursor(name string, acked uint64) error {
	if name == "" {
		return errors.New("offsets: set cursor: empty cursor name")
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	head, tail := l.mu.head, l.mu.tail
	l.mu.Unlock()
	if acked+1 < tail || acked > head {
		return fmt.Errorf("offsets: set cursor %q to %d: outside [tail-1 %d, head %d]", name, acked, tail-1, head)
	}
	if err := l.putCursor(name, acked, pebble.Sync); err != nil {
		return fmt.Errorf("offsets: set cursor %q to %d: %w", name, acked, err)
	}
	l.mu.Lock()
	l.mu.cursors[name] = &cursor{acked: acked, persisted: acked}
	l.mu.Unlock()
	l.logger.Info("cursor set", "cursor", name, "acked", acked)
	return nil
}

// DropCursor deletes the named cursor and its pending boundaries (synced).
// Dropping a missing cursor is not an error.
func (l *Log) DropCursor(name string) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	err := l.write(func(b *pebble.Batch) {
		_ = b.Delete([]byte(prefixCursor+name), nil)
		_ = b.Delete([]byte(prefixPending+name), nil)
	}, pebble.Sync)
	if err != nil {
		return fmt.Errorf("offsets: drop cursor %q: %w", name, err)
	}
	l.mu.Lock()
	delete(l.mu.cursors, name)
	delete(l.mu.pending, name)
	l.mu.Unlock()
	l.logger.Info("cursor dropped", "cursor", name)
	return nil
}

// SetPending records the named sink's pending batch boundaries (the last
// seq of each batch it is about to write), so a replay after a crash cuts
// batches at the same seqs. ends must be strictly increasing; empty clears.
// Synced.
func (l *Log) SetPending(name string, ends []uint64) error {
	for i, s := range ends {
		if s == 0 || (i > 0 && s <= ends[i-1]) {
			return fmt.Errorf("offsets: set pending %q: ends %v not strictly increasing from 1", name, ends)
		}
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	key := []byte(prefixPending + name)
	err := l.write(func(b *pebble.Batch) {
		if len(ends) == 0 {
			_ = b.Delete(key, nil)
		} else {
			_ = b.Set(key, encodeSeqs(ends), nil)
		}
	}, pebble.Sync)
	if err != nil {
		return fmt.Errorf("offsets: set pending %q: %w", name, err)
	}
	l.mu.Lock()
	if len(ends) == 0 {
		delete(l.mu.pending, name)
	} else {
		l.mu.pending[name] = slices.Clone(ends)
	}
	l.mu.Unlock()
	return nil
}

// Pending returns a copy of the named sink's pending batch boundaries.
func (l *Log) Pending(name string) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.pending[name])
}
