package verify

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/odsync/odsync/seqstore"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// store holds, on disk, the latest target row per key (rebuilt from the ODS
// change log: the row with the highest _seq, deletes included) and the
// suspects of the comparison. Memory is bounded by the memtable budget and
// the block cache; the rest spills to a temporary Pebble directory that is
// removed on close.
//
// Keys: 't' + store key (the order-preserving key encoding) for target
// rows; 's' + store key for suspects. Target values are merged with a
// "highest _seq wins" merge operator, so rows can be ingested in any order
// and ingesting a file twice changes nothing.
type store struct {
	db *seqstore.Store
	wb *pebble.Batch
	n  int
}

const (
	prefixTarget  = 't'
	prefixSuspect = 's'
)

// openStore creates a store in a new temporary directory under dir ("":
// the system's). budget bounds the memory of the memtables.
func openStore(dir string, budget int64) (*store, error) {
	d, err := os.MkdirTemp(dir, "odsync-verify-")
	if err != nil {
		return nil, fmt.Errorf("verify: temporary store: %w", err)
	}
	// At most 4 memtables of budget/8, plus a cache of budget/4: about
	// three quarters of the budget.
	db, err := seqstore.Open(d, seqstore.Options{Name: "odsync.verify.maxseq",
		MemTableBytes: max(budget/8, 4<<20), MemTables: 4, CacheBytes: max(budget/4, 4<<20)})
	if err != nil {
		return nil, fmt.Errorf("verify: temporary store: %w", err)
	}
	return &store{db: db}, nil
}

// close closes the store and removes its directory.
func (s *store) close() error {
	if s.wb != nil {
		s.wb.Close()
		s.wb = nil
	}
	return s.db.Close()
}

// targetRow is the latest row of a key in the target.
type targetRow struct {
	Seq    uint64
	Op     byte // 'I', 'U', 'D', 'R'
	Pos    string
	Commit int64 // _commit_ts, microseconds
	Hash   uint64
	Canon  []byte // the canonical encoding of the compared columns
	Key    []byte // the key's display text
}

// live reports whether the row exists in the rebuilt state (not deleted).
func (r *targetRow) live() bool { return r != nil && r.Op != 'D' }

func encodeTargetRow(buf []byte, r *targetRow) []byte {
	buf = binary.BigEndian.AppendUint64(buf, r.Seq)
	buf = append(buf, r.Op)
	buf = binary.AppendVarint(buf, r.Commit)
	buf = binary.BigEndian.AppendUint64(buf, r.Hash)
	buf = appendBytes(buf, []byte(r.Pos))
	buf = appendBytes(buf, r.Key)
	return append(buf, r.Canon...)
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

func readBytes(b []byte) ([]byte, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return nil, nil, false
	}
	return b[n : n+int(l)], b[n+int(l):], true
}

func decodeTargetRow(b []byte) (*targetRow, error) {
	if len(b) < 9 {
		return nil, errors.New("verify: corrupt store value")
	}
	r := &targetRow{Seq: binary.BigEndian.Uint64(b), Op: b[8]}
	b = b[9:]
	c, n := binary.Varint(b)
	if n <= 0 || len(b) < n+8 {
		return nil, errors.New("verify: corrupt store value")
	}
	r.Commit = c
	b = b[n:]
	r.Hash = binary.BigEndian.Uint64(b)
	b = b[8:]
	pos, b, ok := readBytes(b)
	if !ok {
		return nil, errors.New("verify: corrupt store value")
	}
	key, b, ok := readBytes(b)
	if !ok {
		return nil, errors.New("verify: corrupt store value")
	}
	r.Pos = string(pos)
	r.Key = bytes.Clone(key)
	r.Canon = bytes.Clone(b)
	return r, nil
}

func prefixed(p byte, key []byte) []byte {
	out := make([]byte, 0, len(key)+1)
	out = append(out, p)
	return append(out, key...)
}

// put merges a target row under key.
func (s *store) put(key []byte, r *targetRow, scratch []byte) error {
	if s.wb == nil {
		s.wb = s.db.NewBatch()
	}
	v := encodeTargetRow(scratch[:0], r)
	if err := s.wb.Merge(prefixed(prefixTarget, key), v, nil); err != nil {
		return err
	}
	s.n++
	if s.wb.Len() > 4<<20 {
		return s.flush()
	}
	return nil
}

// flush commits buffered writes.
func (s *store) flush() error {
	if s.wb == nil {
		return nil
	}
	err := s.wb.Commit(pebble.NoSync)
	s.wb.Close()
	s.wb = nil
	return err
}

// get returns the target row of key, or nil.
func (s *store) get(key []byte) (*targetRow, error) {
	v, closer, err := s.db.Get(prefixed(prefixTarget, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return decodeTargetRow(v)
}

// scanTargets iterates the target rows with lo < key <= hi (nil bounds are
// open) in key order.
func (s *store) scanTargets(lo, hi []byte, fn func(key []byte, r *targetRow) error) error {
	opts := &pebble.IterOptions{LowerBound: []byte{prefixTarget}, UpperBound: []byte{prefixTarget + 1}}
	if hi != nil {
		ub := prefixed(prefixTarget, hi)
		opts.UpperBound = append(ub, 0) // the smallest key above hi
	}
	it, err := s.db.NewIter(opts)
	if err != nil {
		return err
	}
	defer it.Close()
	var ok bool
	if lo != nil {
		start := prefixed(prefixTarget, lo)
		ok = it.SeekGE(start)
		if ok && bytes.Equal(it.Key(), start) {
			ok = it.Next()
		}
	} else {
		ok = it.First()
	}
	for ; ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		r, err := decodeTargetRow(v)
		if err != nil {
			return err
		}
		if err := fn(bytes.Clone(it.Key()[1:]), r); err != nil {
			return err
		}
	}
	return it.Error()
}

// putSuspect stores a suspect.
func (s *store) putSuspect(key []byte, v []byte) error {
	return s.db.Set(prefixed(prefixSuspect, key), v, pebble.NoSync)
}

// deleteSuspect removes a suspect.
func (s *store) deleteSuspect(key []byte) error {
	return s.db.Delete(prefixed(prefixSuspect, key), pebble.NoSync)
}

// scanSuspects iterates every suspect in key order. fn must not write to
// the store; collect and write afterwards.
func (s *store) scanSuspects(fn func(key, v []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSuspect}, UpperBound: []byte{prefixSuspect + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(bytes.Clone(it.Key()[1:]), bytes.Clone(v)); err != nil {
			return err
		}
	}
	return it.Error()
}

// scanSuspectsAfter iterates the suspects with keys above after (nil: all)
// until fn returns false.
func (s *store) scanSuspectsAfter(after []byte, fn func(key, v []byte) (bool, error)) error {
	opts := &pebble.IterOptions{LowerBound: []byte{prefixSuspect}, UpperBound: []byte{prefixSuspect + 1}}
	if after != nil {
		opts.LowerBound = append(prefixed(prefixSuspect, after), 0)
	}
	it, err := s.db.NewIter(opts)
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		more, err := fn(bytes.Clone(it.Key()[1:]), bytes.Clone(v))
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	return it.Error()
}
