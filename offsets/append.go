package offsets

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/odsync/odsync/event"
)

// KV is extra state written atomically with an Append, in namespace NS. Value nil deletes.
type KV struct {
	NS, Key string
	Value   []byte
}

// Append assigns dense seqs to events (sets events[i].Seq in place) and writes them,
// every schema they reference (event.Table, stored once per Version), the checkpoint
// and state, in ONE pebble batch committed with Sync.
//
// checkpoint == nil: a partial transaction (spill of a huge txn): invisible
// to readers, and discarded by Open unless a later Append with a checkpoint
// commits it. (Such a batch is committed without Sync unless it carries
// state: its durability only matters once the committing Append, which is
// synced and later in the WAL, returns.)
// checkpoint != nil: commits everything appended so far (Head advances to last).
//
// Returns the last assigned seq (Head() if events is empty).
//
// While the retained committed bytes exceed Options.MaxBytes, an Append with
// events blocks until GC frees room, ctx is done or the log is closed.
// Append calls are serialized; the pipeline calls it from one goroutine.
// After an error the Seq fields of events are meaningless.
func (l *Log) Append(ctx context.Context, events []event.Event, checkpoint []byte, state ...KV) (last uint64, err error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.exit()
	a := &l.app
	a.Lock()
	defer a.Unlock()
	if err := l.failed(); err != nil {
		return 0, fmt.Errorf("offsets: append: %w", err)
	}
	for i := range state {
		if err := validNS(state[i].NS); err != nil {
			return 0, fmt.Errorf("offsets: append: state %d: %w", i, err)
		}
	}
	if len(events) == 0 && checkpoint == nil && len(state) == 0 {
		return l.Head(), nil
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("offsets: append: %w", err)
	}
	if len(events) > 0 {
		if err := l.waitRoom(ctx); err != nil {
			return 0, err
		}
	}

	// Size a big batch up front from the average event size so far:
	// growing a multi-megabyte batch by doubling copies it twice over. The
	// buffer is kept for the next Append up to retainedBatchBytes (Pebble
	// drops a reset batch's buffer above that, and takes it over when the
	// batch is big enough to become a flushable batch).
	if est := len(events)*a.avgEvent + 4096; a.batch == nil || est > a.batchCap {
		if a.batch != nil {
			_ = a.batch.Close()
		}
		if est < retainedBatchBytes {
			est = min(est+est/4, retainedBatchBytes)
		}
		a.batch = l.db.NewBatchWithSize(est, pebble.WithMaxRetainedSizeBytes(retainedBatchBytes))
		a.batchCap = est
	}
	b := a.batch
	first := a.next
	var newTables []*event.Table
	rollback := func() {
		for _, t := range newTables {
			delete(a.known, t.Version)
		}
		a.lastTable = nil
		b.Reset()
	}
	size := int64(0)
	for i := range events {
		e := &events[i]
		seq := first + uint64(i)
		// The pointer alone is not enough: a caller may re-Seal a table in place.
		if t := e.Table; t != nil && (t != a.lastTable || t.Version != a.lastVersion) {
			if t.Version == 0 {
				rollback()
				return 0, fmt.Errorf("offsets: append seq %d (%s at %s): table schema not sealed (Version 0)", seq, e.Source, e.Pos)
			}
			if _, ok := a.known[t.Version]; !ok {
				nt, err := l.putTable(b, t)
				if err != nil {
					rollback()
					return 0, fmt.Errorf("offsets: append seq %d (%s at %s): %w", seq, e.Source, e.Pos, err)
				}
				a.known[t.Version] = struct{}{}
				newTables = append(newTables, nt)
			}
			a.lastTable, a.lastVersion = t, t.Version
		}
		e.Seq = seq
		a.buf = event.AppendEvent(a.buf[:0], e)
		size += int64(len(a.buf))
		if b.Len()+len(a.buf) > maxBatchBytes {
			rollback()
			return 0, fmt.Errorf("offsets: append seq %d (%s at %s): batch exceeds %d bytes; spill with partial appends", seq, e.Source, e.Pos, maxBatchBytes)
		}
		_ = b.Set(seqKey(&a.key, prefixEvent, seq), a.buf, nil)
	}
	next, cum := a.next+uint64(len(events)), a.cum+size
	if len(events) > 0 {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(cum))
		_ = b.Set(seqKey(&a.key, prefixBytes, next-1), v[:], nil)
	}
	if checkpoint != nil {
		r := headRecord{head: next - 1, cum: cum, checkpoint: checkpoint, hasCP: true}
		a.meta = r.append(a.meta[:0])
		_ = b.Set([]byte(keyHead), a.meta, nil)
	}
	for _, kv := range state {
		if kv.Value == nil {
			_ = b.Delete(stateKey(kv.NS, kv.Key), nil)
		} else {
			_ = b.Set(stateKey(kv.NS, kv.Key), kv.Value, nil)
		}
	}
	wo := pebble.Sync
	if checkpoint == nil && len(state) == 0 {
		wo = pebble.NoSync
	}
	if b.Len() > a.batchCap || a.batchCap > retainedBatchBytes {
		// The batch outgrew its buffer, or the buffer is above what Reset
		// keeps: the next Append needs a new one.
		a.batchCap = 0
	}
	if err := l.commit(b, wo); err != nil {
		a.batch = nil // pebble does not reuse a batch that failed
		a.lastTable = nil
		return 0, fmt.Errorf("offsets: append seqs %d..%d: %w", first, next-1, err)
	}
	b.Reset()
	a.next, a.cum = next, cum
	if len(events) > 0 {
		a.avgEvent = int(size)/len(events) + 16 // + key and batch overhead
	}

	l.mu.Lock()
	for _, t := range newTables {
		l.mu.tables[t.Version] = t
	}
	if checkpoint != nil {
		l.mu.head, l.mu.cumHead = next-1, cum
		l.mu.checkpoint, l.mu.hasCP = append(l.mu.checkpoint[:0:0], checkpoint...), true
		l.mu.uncommitted = 0
		close(l.mu.commitCh)
		l.mu.commitCh = make(chan struct{})
	} else {
		l.mu.uncommitted = next - 1 - l.mu.head
	}
	head := l.mu.head
	l.mu.Unlock()
	if len(events) == 0 {
		return head, nil
	}
	return next - 1, nil
}

// ReleaseBuffers drops the buffer Append keeps for the next Append (up to
// 8MiB), so that an idle process can return it to the operating system.
// The next Append allocates a new one.
func (l *Log) ReleaseBuffers() {
	a := &l.app
	a.Lock()
	defer a.Unlock()
	if a.batch != nil {
		_ = a.batch.Close()
		a.batch, a.batchCap = nil, 0
	}
	a.buf = nil
}

// putTable adds t to b and returns an independent decoded copy for the
// read cache.
func (l *Log) putTable(b *pebble.Batch, t *event.Table) (*event.Table, error) {
	a := &l.app
	a.buf = event.AppendTable(a.buf[:0], t, true)
	nt, err := event.DecodeTable(a.buf)
	if err != nil {
		return nil, fmt.Errorf("table %s version %016x: %w", t.ID, t.Version, err)
	}
	_ = b.Set(seqKey(&a.key, prefixTable, t.Version), a.buf, nil)
	return nt, nil
}

// waitRoom blocks while the retained committed bytes exceed MaxBytes.
func (l *Log) waitRoom(ctx context.Context) error {
	if l.opts.MaxBytes <= 0 {
		return nil
	}
	blocked := false
	used, err := l.waitRetained(ctx, l.opts.MaxBytes, func(used int64) {
		blocked = true
		l.logger.Info("backpressure: log full, append waits for sinks and GC", "bytes", used, "max_bytes", l.opts.MaxBytes)
		if l.app.onBlock != nil {
			l.app.onBlock()
		}
	})
	switch {
	case err == ErrClosed:
		return err
	case err != nil:
		return fmt.Errorf("offsets: append waiting for room (%d bytes retained, max %d): %w", used, l.opts.MaxBytes, err)
	case blocked:
		l.logger.Info("backpressure released", "bytes", used, "max_bytes", l.opts.MaxBytes)
	}
	return nil
}

// Rollback discards the partial (uncommitted) entries appended since the
// last checkpointed Append, as Open would after a crash. A capture calls it
// (through the pipeline) before resuming from the last checkpoint after it
// lost its source connection in the middle of a spilled transaction.
func (l *Log) Rollback() error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.exit()
	a := &l.app
	a.Lock()
	defer a.Unlock()
	l.mu.Lock()
	head, cum, n := l.mu.head, l.mu.cumHead, l.mu.uncommitted
	l.mu.Unlock()
	if n == 0 && a.next == head+1 {
		return nil
	}
	err := l.write(func(b *pebble.Batch) {
		_ = b.DeleteRange(newSeqKey(prefixEvent, head+1), prefixEnd(prefixEvent), nil)
		_ = b.DeleteRange(newSeqKey(prefixBytes, head+1), prefixEnd(prefixBytes), nil)
	}, pebble.Sync)
	if err != nil {
		return fmt.Errorf("offsets: rollback of %d uncommitted entries: %w", n, err)
	}
	l.logger.Info("discarded uncommitted entries", "count", n, "head", head)
	a.next, a.cum = head+1, cum
	l.mu.Lock()
	l.mu.uncommitted = 0
	l.mu.Unlock()
	return nil
}
