package offsets

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/odsync/odsync/event"
)

// Checkpoint returns a copy of the latest committed source checkpoint (nil if none).
func (l *Log) Checkpoint() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.mu.hasCP {
		return nil
	}
	return append([]byte{}, l.mu.checkpoint...)
}

// Head returns the last committed seq, 0 when nothing was ever committed.
func (l *Log) Head() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.head
}

// Tail returns the lowest retained seq (Head()+1 when the log is empty).
func (l *Log) Tail() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.tail
}

// Wait blocks until Head() > after and returns the head, or returns ctx's
// error or ErrClosed.
func (l *Log) Wait(ctx context.Context, after uint64) (head uint64, err error) {
	for {
		l.mu.Lock()
		head, ch := l.mu.head, l.mu.commitCh
		l.mu.Unlock()
		if head > after {
			return head, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return head, ctx.Err()
		case <-l.done:
			return head, ErrClosed
		}
	}
}

// Read appends committed events with Seq >= from to dst: at most maxEvents
// events (maxEvents <= 0: no count limit) and stops after the event that
// reaches maxBytes encoded bytes (0 = no byte limit). Never blocks. Events
// below Tail() are an error (ErrTruncated) naming the seq.
//
// On error, dst is returned unchanged. Decoded events share their
// *event.Table with other events of the same schema version: treat tables
// as immutable.
func (l *Log) Read(from uint64, maxEvents int, maxBytes int64, dst []event.Event) ([]event.Event, error) {
	return l.ReadInto(nil, from, maxEvents, maxBytes, dst)
}

// ReadInto is Read decoding with dec (nil: every event decoded on its own),
// so that a batch built from several reads shares dec's few allocations;
// see event.Decoder for what that retains.
func (l *Log) ReadInto(dec *event.Decoder, from uint64, maxEvents int, maxBytes int64, dst []event.Event) ([]event.Event, error) {
	if err := l.enter(); err != nil {
		return dst, err
	}
	defer l.exit()
	n := len(dst)
	out, err := l.read(dec, from, maxEvents, maxBytes, dst)
	if err != nil {
		clear(out[n:])
		return out[:n], err
	}
	return out, nil
}

func (l *Log) read(dec *event.Decoder, from uint64, maxEvents int, maxBytes int64, dst []event.Event) ([]event.Event, error) {
	if from == 0 {
		from = 1 // seqs start at 1
	}
	// Order matters (invariant 7): head before the iterator, tail after it.
	head := l.Head()
	if from > head { // tail <= head+1 < from: nothing to read, nothing truncated
		return dst, nil
	}
	end := head
	if maxEvents > 0 && uint64(maxEvents) <= end-from {
		end = from + uint64(maxEvents) - 1
	}
	var lo, hi [seqKeyLen]byte
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: seqKey(&lo, prefixEvent, from),
		UpperBound: seqKey(&hi, prefixEvent, end+1),
	})
	if err != nil {
		return dst, fmt.Errorf("offsets: state dir %s: read from seq %d: %w", l.dir, from, err)
	}
	defer it.Close()
	if tail := l.Tail(); from < tail {
		return dst, fmt.Errorf("%w: read from seq %d, below tail %d", ErrTruncated, from, tail)
	}
	tc := tableCache{l: l}
	lookup := tc.lookup
	want := from
	var total int64
	for ok := it.First(); ok; ok = it.Next() {
		seq, _ := keySeq(it.Key())
		if seq != want {
			return dst, fmt.Errorf("offsets: state dir %s: %w: entry %d missing (found %d)", l.dir, event.ErrCorrupt, want, seq)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return dst, fmt.Errorf("offsets: state dir %s: read seq %d: %w", l.dir, seq, err)
		}
		var e event.Event
		if dec != nil {
			e, err = dec.Decode(v, lookup)
		} else {
			e, err = event.DecodeEvent(v, lookup)
		}
		if err != nil {
			return dst, fmt.Errorf("offsets: state dir %s: decode seq %d: %w", l.dir, seq, err)
		}
		e.Seq = seq
		dst = append(dst, e)
		total += int64(len(v))
		want++
		if maxBytes > 0 && total >= maxBytes {
			return dst, nil
		}
	}
	if err := it.Error(); err != nil {
		return dst, fmt.Errorf("offsets: state dir %s: read seq %d: %w", l.dir, want, err)
	}
	if want <= end {
		return dst, fmt.Errorf("offsets: state dir %s: %w: entry %d missing (head %d)", l.dir, event.ErrCorrupt, want, head)
	}
	return dst, nil
}

// tableCache resolves schema versions for one reader: the last table, then
// the log's cache, then pebble.
type tableCache struct {
	l    *Log
	ver  uint64
	last *event.Table
}

func (c *tableCache) lookup(ver uint64) (*event.Table, error) {
	if ver == c.ver && c.last != nil {
		return c.last, nil
	}
	t, err := c.l.table(ver)
	if err != nil {
		return nil, err
	}
	c.ver, c.last = ver, t
	return t, nil
}

// table returns the schema stored under version ver.
func (l *Log) table(ver uint64) (*event.Table, error) {
	l.mu.Lock()
	t := l.mu.tables[ver]
	l.mu.Unlock()
	if t != nil {
		return t, nil
	}
	v, ok, err := l.get(newSeqKey(prefixTable, ver))
	if err != nil {
		return nil, fmt.Errorf("table version %016x: %w", ver, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: table version %016x missing", event.ErrCorrupt, ver)
	}
	t, err = event.DecodeTable(v)
	if err != nil {
		return nil, fmt.Errorf("table version %016x: %w", ver, err)
	}
	if t.Version != ver {
		return nil, fmt.Errorf("%w: table under version %016x has version %016x", event.ErrCorrupt, ver, t.Version)
	}
	l.mu.Lock()
	if old := l.mu.tables[ver]; old != nil {
		t = old
	} else {
		l.mu.tables[ver] = t
	}
	l.mu.Unlock()
	return t, nil
}

// SeekTime returns the first committed seq whose CommitTime >= micros
// (Head()+1 if none).
//
// It binary-searches [Tail, Head], so it assumes commit times do not
// decrease with seq. Source commit times are nearly monotone (a binlog is in
// commit order; clocks may step back slightly); where they are not, the
// result is still a seq s with CommitTime(s-1) < micros <= CommitTime(s),
// just not necessarily the first such.
func (l *Log) SeekTime(micros int64) (uint64, error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.exit()
	head := l.Head()
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixEvent), UpperBound: newSeqKey(prefixEvent, head+1)})
	if err != nil {
		return 0, fmt.Errorf("offsets: state dir %s: seek time %d: %w", l.dir, micros, err)
	}
	defer it.Close()
	tail := l.Tail()
	noTable := func(uint64) (*event.Table, error) { return nil, nil }
	var key [seqKeyLen]byte
	lo, hi := tail, head+1 // answer in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		if !it.SeekGE(seqKey(&key, prefixEvent, mid)) {
			return 0, l.seekErr(micros, mid, it.Error())
		}
		if s, _ := keySeq(it.Key()); s != mid {
			return 0, l.seekErr(micros, mid, nil)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return 0, l.seekErr(micros, mid, err)
		}
		e, err := event.DecodeEvent(v, noTable)
		if err != nil {
			return 0, l.seekErr(micros, mid, err)
		}
		if e.CommitTime >= micros {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

func (l *Log) seekErr(micros int64, seq uint64, err error) error {
	if err == nil {
		err = fmt.Errorf("%w: entry %d missing", event.ErrCorrupt, seq)
	}
	return fmt.Errorf("offsets: state dir %s: seek time %d at seq %d: %w", l.dir, micros, seq, err)
}
