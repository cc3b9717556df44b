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
//	b/, c/, l/                            snapshot upload sessions (bulk.go)
//	u/<first>-<last>/...                  per-batch upload records of older
//	                                      versions (only collected)
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

// progressBook keeps the stream progress of batches in memory and writes
// each change through to the store. Batches redelivered after a crash or a
// refusal may be cut anywhere (the sink is an Acker): a batch's progress
// is what every record overlapping its range holds.
type progressBook struct {
	store Store
	ns    string

	mu      sync.Mutex
	loaded  bool
	batches map[[2]uint64]streamProgress // by batch (first, last)
	maxLast uint64
}

// loadAll reads the records of earlier runs.
func (b *progressBook) loadAll() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loaded {
		return nil
	}
	err := b.store.Scan(b.ns, "s/", func(key string, v []byte) error {
		rest := key[len("s/"):]
		if len(rest) != 41 || rest[20] != '-' {
			return nil
		}
		first, err1 := strconv.ParseUint(rest[:20], 10, 64)
		last, err2 := strconv.ParseUint(rest[21:], 10, 64)
		if err1 != nil || err2 != nil {
			return nil
		}
		p := streamProgress{}
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("stream progress %s: %w", key, err)
		}
		b.batches[[2]uint64{first, last}] = p
		b.maxLast = max(b.maxLast, last)
		return nil
	})
	b.loaded = err == nil
	return err
}

// load returns the rows of first..last that earlier attempts stored.
func (b *progressBook) load(first, last uint64) (streamProgress, error) {
	if err := b.loadAll(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := streamProgress{}
	if first > b.maxLast {
		return out, nil // the common case: a batch never seen
	}
	for k, p := range b.batches {
		if k[0] <= last && k[1] >= first {
			for g, rs := range p {
				out[g] = append(out[g], rs...)
			}
		}
	}
	return out, nil
}

// add records that the rows lo..hi of batch first..last in group were stored.
func (b *progressBook) add(first, last uint64, group string, lo, hi uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := [2]uint64{first, last}
	p := b.batches[k]
	if p == nil {
		p = streamProgress{}
		b.batches[k] = p
	}
	p[group] = append(p[group], seqRange{lo, hi})
	b.maxLast = max(b.maxLast, last)
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.store.Put(b.ns, batchKey("s", first, last), v)
}

// forget drops batches below tail from memory.
func (b *progressBook) forget(tail uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.batches {
		if k[1] < tail {
			delete(b.batches, k)
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
