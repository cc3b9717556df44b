package maxcompute

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Store is the durable state the sink keeps next to the log: small
// namespaced key/values, Put synced. *offsets.Log satisfies it; Tail is the
// lowest sequence number the log still holds (every sink acknowledged what
// is below), which bounds what can ever be replayed.
type Store interface {
	Get(ns, key string) ([]byte, bool, error)
	Put(ns, key string, value []byte) error
	Scan(ns, prefix string, fn func(key string, value []byte) error) error
	Tail() uint64
}

// State keys, in the sink's namespace ("maxcompute/<project>[.<schema>]"):
//
//	s/<first>-<last>                      stream progress of batch first..last:
//	                                      the _seq ranges per table partition
//	                                      that flushed packs stored
//	u/<first>-<last>/<table>/<part>/<n>   batch upload of the snapshot rows of
//	                                      batch first..last into one table
//	                                      partition: session id, committed
//	m/<table>                             the last partition merged into the
//	                                      base table
//
// Sequence numbers are zero-padded to 20 digits. Records of batches below
// the log's Tail are deleted (gc).

func batchKey(prefix string, first, last uint64) string {
	return fmt.Sprintf("%s/%020d-%020d", prefix, first, last)
}

// keyLast parses the batch's last sequence number out of an s/ or u/ key.
func keyLast(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, "s/")
	if !ok {
		if rest, ok = strings.CutPrefix(key, "u/"); !ok {
			if rest, ok = strings.CutPrefix(key, "c/"); !ok {
				return 0, false
			}
		}
	}
	if len(rest) < 41 || rest[20] != '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(rest[21:41], 10, 64)
	return n, err == nil
}

// seqRange is an inclusive range of _seq values.
type seqRange [2]uint64

// streamProgress is the value of an s/ key: per table partition ("table/part"),
// the _seq ranges of this batch's rows that stream flushes stored.
type streamProgress map[string][]seqRange

func (p streamProgress) has(group string, seq uint64) bool {
	for _, r := range p[group] {
		if seq >= r[0] && seq <= r[1] {
			return true
		}
	}
	return false
}

// uploadRecord is the value of a u/ key.
type uploadRecord struct {
	Session   string `json:"session"`
	Created   int64  `json:"created"` // unix seconds
	Committed bool   `json:"committed"`
}

// progressBook keeps the stream progress of batches in memory and writes
// each change through to the store.
type progressBook struct {
	store Store
	ns    string

	mu      sync.Mutex
	batches map[uint64]*progEntry // by batch first
}

type progEntry struct {
	last uint64
	p    streamProgress
}

func (b *progressBook) load(first, last uint64) (streamProgress, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.batches[first]; ok && e.last == last {
		return clone(e.p), nil
	}
	v, ok, err := b.store.Get(b.ns, batchKey("s", first, last))
	if err != nil {
		return nil, err
	}
	p := streamProgress{}
	if ok {
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("stream progress of batch %d..%d: %w", first, last, err)
		}
	}
	b.batches[first] = &progEntry{last: last, p: p}
	return clone(p), nil
}

func clone(p streamProgress) streamProgress {
	out := make(streamProgress, len(p))
	for k, v := range p {
		out[k] = append([]seqRange(nil), v...)
	}
	return out
}

// add records that the rows lo..hi of batch first..last in group were stored.
func (b *progressBook) add(first, last uint64, group string, lo, hi uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.batches[first]
	if e == nil || e.last != last {
		e = &progEntry{last: last, p: streamProgress{}}
		b.batches[first] = e
	}
	e.p[group] = append(e.p[group], seqRange{lo, hi})
	v, err := json.Marshal(e.p)
	if err != nil {
		return err
	}
	return b.store.Put(b.ns, batchKey("s", first, last), v)
}

// forget drops batches below tail from memory.
func (b *progressBook) forget(tail uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for first, e := range b.batches {
		if e.last < tail {
			delete(b.batches, first)
		}
	}
}

// gc deletes the records of batches that lie below the log's tail: they
// are acknowledged by every sink and can never be replayed.
func gcState(store Store, ns string) (int, error) {
	tail := store.Tail()
	var dead []string
	err := store.Scan(ns, "", func(key string, _ []byte) error {
		if last, ok := keyLast(key); ok && last < tail {
			dead = append(dead, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dead {
		if err := store.Put(ns, k, nil); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

func nowUnix() int64 { return time.Now().Unix() }
