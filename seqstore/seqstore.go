// Package seqstore opens temporary Pebble databases that keep, per key, the
// value with the highest _seq: the state a reader of an ODS change log
// builds (a key's latest row) when it does not fit in memory. verify keeps
// the target's rows there and the warehouse source its full load's.
//
// A value begins with its _seq as 8 big-endian bytes. Writing a key with
// db.Merge keeps the operand with the highest _seq; on a tie, the one
// written last, or with TiesKeepFirst the one written first.
//
// The stores are scratch space: no WAL, nothing synced, removed on Close.
package seqstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// Options size a store. Memory is about MemTables × MemTableBytes plus
// CacheBytes.
type Options struct {
	// Name names the merge operator (stored in the database's options).
	Name string
	// MemTableBytes and MemTables bound the memtables (writes stall past
	// MemTables of them).
	MemTableBytes int64
	MemTables     int
	// CacheBytes is the block cache.
	CacheBytes int64
	// TiesKeepFirst keeps the first written of two values with one _seq
	// (copies of one change) instead of the last.
	TiesKeepFirst bool
}

// Store is an open store in its own directory.
type Store struct {
	*pebble.DB
	dir string
}

// Open creates a store in dir, which must not hold anything else; Close
// removes it.
func Open(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	opts := &pebble.Options{
		DisableWAL:                  true,
		MemTableSize:                uint64(o.MemTableBytes),
		MemTableStopWritesThreshold: o.MemTables,
		Cache:                       pebble.NewCache(o.CacheBytes),
		Merger:                      &pebble.Merger{Name: o.Name, Merge: merger(o.TiesKeepFirst)},
		Logger:                      quietLogger{},
	}
	defer opts.Cache.Unref()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Store{DB: db, dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the store and removes its directory.
func (s *Store) Close() error {
	err := s.DB.Close()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// Seq is the _seq a value begins with (0 if it is shorter than 8 bytes).
func Seq(v []byte) uint64 {
	if len(v) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func merger(keepFirst bool) func(key, value []byte) (pebble.ValueMerger, error) {
	return func(_, value []byte) (pebble.ValueMerger, error) {
		return &maxSeq{best: bytes.Clone(value), keepFirst: keepFirst}, nil
	}
}

// maxSeq keeps the operand with the highest _seq.
type maxSeq struct {
	best      []byte
	keepFirst bool
}

// MergeNewer sees an operand written after those merged so far.
func (m *maxSeq) MergeNewer(value []byte) error {
	if s, b := Seq(value), Seq(m.best); s > b || s == b && !m.keepFirst {
		m.best = append(m.best[:0], value...)
	}
	return nil
}

// MergeOlder sees an operand written before those merged so far.
func (m *maxSeq) MergeOlder(value []byte) error {
	if s, b := Seq(value), Seq(m.best); s > b || s == b && m.keepFirst {
		m.best = append(m.best[:0], value...)
	}
	return nil
}

func (m *maxSeq) Finish(bool) ([]byte, io.Closer, error) { return m.best, nil, nil }

// quietLogger drops Pebble's informational messages. Fatalf is Pebble's
// report of an internal invariant broken (it must not return); the panic
// carries its text, and the store is scratch space rebuilt by a rerun.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("seqstore: pebble: "+format, args...))
}
