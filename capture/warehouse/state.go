package warehouse

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/seqstore"
)

// loadState is the state of one change-log table during the full load:
// the last change per key by _seq. It is kept in memory up to a bound
// (load_memory_bytes, counted with event.MemSize); past it, it moves to a
// temporary Pebble store and every further change is merged there, so the
// memory of a full load stays bounded whatever the table's size.
//
// Either way the live rows (those whose last change is not a delete) come
// out in the same order — by _seq, then by key — so a load resumed after
// a restart skips exactly the rows the log holds, whether the run before
// kept its state in memory or on disk.
//
// Store keys: 'k' + key → seq (8 bytes, big-endian) + op + the change
// (event.AppendEvent: the log's codec keeps every value exact); merged
// with "highest _seq wins". Once loaded, the live rows are copied to
// 's' + seq + key → the same value and read back in that order.
type loadState struct {
	t      *table
	limit  int64
	dir    string // the store's directory ("" until the state spills)
	tmpDir string // where the directory goes when dir is not set
	log    *slog.Logger

	mem      map[string]change
	memBytes int64

	db         *seqstore.Store
	wb         *pebble.Batch
	batchBytes int
	buf        []byte
	kbuf       []byte
	keyBuf     []byte // the key of the change being added
}

const (
	prefixKey = 'k'
	prefixSeq = 's'
	// spillBatchBytes bounds how much a store write batch holds before it
	// is committed (half a memtable at most: a larger batch would be
	// kept whole on the Go heap as a flushable batch).
	spillBatchBytes = 4 << 20
)

// newLoadState returns the state of table t; it spills into
// spillDir/load (a store a killed process left there is removed now) or,
// with no spillDir, a new directory under tmpDir ("": the system's).
func newLoadState(t *table, limit int64, spillDir, tmpDir string, logger *slog.Logger) *loadState {
	s := &loadState{t: t, limit: limit, tmpDir: tmpDir, log: logger, mem: map[string]change{}}
	if spillDir != "" {
		s.dir = filepath.Join(spillDir, "load")
		// A store a killed process left; were it to stay (a removal
		// that fails), spill would fail on it with the error.
		_ = os.RemoveAll(s.dir)
	}
	return s
}

// expect sizes the in-memory state for about n changes (an estimate from
// the objects' _seq ranges): a map grown entry by entry rehashes itself
// as it doubles, which costs about as much CPU as the inserts. The
// reservation is bounded by the memory bound (an entry is counted at 512
// bytes or more: the map slot is a fraction of that).
func (s *loadState) expect(n uint64) {
	if s.db != nil || len(s.mem) > 0 {
		return
	}
	s.mem = make(map[string]change, int(min(n, uint64(max(s.limit, 0))/512, 1<<24)))
}

// memSize is what an entry of the in-memory state holds: its key and the
// change's row, counted as an event's (event.MemSize also covers the map
// entry and the change struct).
func memSize(k string, ch change) int64 {
	e := event.Event{After: ch.row}
	return e.MemSize() + int64(len(k))
}

// add merges a change into the state.
func (s *loadState) add(ch change) error {
	s.keyBuf = s.t.appendKey(s.keyBuf[:0], ch.row)
	if s.db != nil {
		return s.merge(s.keyBuf, ch)
	}
	old, ok := s.mem[string(s.keyBuf)]
	if ok && ch.seq <= old.seq {
		return nil
	}
	k := string(s.keyBuf)
	if ok {
		s.memBytes -= memSize(k, old)
	}
	s.mem[k] = ch
	s.memBytes += memSize(k, ch)
	if s.memBytes > s.limit {
		return s.spill()
	}
	return nil
}

// spill opens the store and moves the in-memory state into it.
func (s *loadState) spill() error {
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			return s.fail(err)
		}
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return s.fail(err)
		}
	} else {
		d, err := os.MkdirTemp(s.tmpDir, "odsync-warehouse-load-")
		if err != nil {
			return s.fail(err)
		}
		s.dir = d
	}
	// Memtables of an eighth of the bound, at most two of them, and a
	// cache of a quarter: the store holds about half the bound.
	mt := max(s.limit/8, 1<<20)
	s.batchBytes = int(min(spillBatchBytes, mt/2))
	db, err := seqstore.Open(s.dir, seqstore.Options{Name: "odsync.warehouse.maxseq",
		MemTableBytes: mt, MemTables: 2, CacheBytes: max(s.limit/4, 1<<20), TiesKeepFirst: true})
	if err != nil {
		return s.fail(err)
	}
	s.db = db
	s.log.Info("full load: the table's state passed load_memory_bytes and continues on disk",
		"table", s.t.name, "keys", len(s.mem), "memory", bytesize.Human(s.memBytes), "dir", s.dir)
	for k, ch := range s.mem {
		if err := s.merge([]byte(k), ch); err != nil {
			return err
		}
		delete(s.mem, k)
	}
	s.mem, s.memBytes = nil, 0
	return nil
}

func (s *loadState) fail(err error) error {
	return fmt.Errorf("warehouse: table %s: full load state on disk (%s): %w", s.t.name, s.dir, err)
}

// encodeChange is the store value of a change.
func encodeChange(buf []byte, ch change) []byte {
	buf = binary.BigEndian.AppendUint64(buf[:0], ch.seq)
	buf = append(buf, byte(ch.op))
	e := event.Event{Op: ch.op, CommitTime: ch.commit, Pos: event.Position{Offset: ch.seq}, After: ch.row}
	return event.AppendEvent(buf, &e)
}

func decodeChange(v []byte) (change, error) {
	if len(v) < 9 {
		return change{}, errors.New("corrupt value")
	}
	e, err := event.DecodeEvent(v[9:], nil)
	if err != nil {
		return change{}, err
	}
	return change{op: e.Op, seq: e.Pos.Offset, commit: e.CommitTime, row: e.After}, nil
}

func (s *loadState) merge(k []byte, ch change) error {
	if s.wb == nil {
		s.wb = s.db.NewBatch()
	}
	s.buf = encodeChange(s.buf, ch)
	s.kbuf = append(append(s.kbuf[:0], prefixKey), k...)
	if err := s.wb.Merge(s.kbuf, s.buf, nil); err != nil {
		return s.fail(err)
	}
	return s.commitIfFull(false)
}

func (s *loadState) commitIfFull(force bool) error {
	if s.wb == nil || (!force && s.wb.Len() < s.batchBytes) {
		return nil
	}
	err := s.wb.Commit(pebble.NoSync)
	s.wb.Close()
	s.wb = nil
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// each calls fn with every live row as a read, by _seq then key.
func (s *loadState) each(fn func(change) error) error {
	if s.db == nil {
		type live struct {
			k  string
			ch change
		}
		rows := make([]live, 0, len(s.mem))
		for k, ch := range s.mem {
			if ch.op != event.OpDelete {
				rows = append(rows, live{k, ch})
			}
		}
		s.mem = nil
		slices.SortFunc(rows, func(a, b live) int {
			if c := cmp.Compare(a.ch.seq, b.ch.seq); c != 0 {
				return c
			}
			return strings.Compare(a.k, b.k)
		})
		for i := range rows {
			ch := rows[i].ch
			rows[i] = live{} // emitted rows go when the sink is done with them
			ch.op = event.OpRead
			if err := fn(ch); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.commitIfFull(true); err != nil {
		return err
	}
	// The live rows, re-keyed by _seq.
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixKey}, UpperBound: []byte{prefixKey + 1}})
	if err != nil {
		return s.fail(err)
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return s.fail(err)
		}
		if len(v) < 9 {
			it.Close()
			return s.fail(errors.New("corrupt value"))
		}
		if event.Op(v[8]) == event.OpDelete {
			continue
		}
		if s.wb == nil {
			s.wb = s.db.NewBatch()
		}
		s.kbuf = append(append(append(s.kbuf[:0], prefixSeq), v[:8]...), it.Key()[1:]...)
		if err := s.wb.Set(s.kbuf, v, nil); err != nil {
			it.Close()
			return s.fail(err)
		}
		if err := s.commitIfFull(false); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return s.fail(err)
	}
	if err := s.commitIfFull(true); err != nil {
		return err
	}
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSeq}, UpperBound: []byte{prefixSeq + 1}})
	if err != nil {
		return s.fail(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return s.fail(err)
		}
		ch, err := decodeChange(v)
		if err != nil {
			return s.fail(fmt.Errorf("key %q: %w", it.Key(), err))
		}
		ch.op = event.OpRead
		if err := fn(ch); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return s.fail(err)
	}
	return nil
}

// spilled reports whether the state moved to disk.
func (s *loadState) spilled() bool { return s.db != nil }

// close releases the state and removes the store.
func (s *loadState) close() error {
	s.mem = nil
	if s.db == nil {
		return nil
	}
	if s.wb != nil {
		s.wb.Close()
		s.wb = nil
	}
	err := s.db.Close() // removes s.dir
	s.db = nil
	if err != nil {
		return s.fail(err)
	}
	return nil
}
