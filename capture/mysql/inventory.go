package mysql

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
)

// The key inventory: with snapshot: when_needed, the capture keeps the key
// of every row it delivered that is not deleted (state namespace
// mysql.keys, one entry per key), so that a re-snapshot can remove rows the
// ODS still has but the source no longer has. A re-snapshot happens when
// the checkpoint's binlog was purged, and the rows deleted in the purged
// binlog would otherwise stay in the ODS for ever ("ghost rows").
//
// Each entry's value is the position (hpos as a number) of the checkpoint
// that last delivered the key. When a table's copy starts, its position G
// is recorded with the snapshot progress; every row the copy or the stream
// delivers from then on refreshes its entry to a position >= G, every
// delete removes it. When the copy's last chunk is emitted, the entries
// still below G are keys the source no longer has: they are delivered as
// deletes (key columns set, the other columns NULL) in the same
// transaction as the last chunk, and their entries removed.
//
// Writes are batched: entries are written in one durable batch before the
// checkpoint that covers them (so a key in the ODS is always in the
// inventory); removals are written with the batch after the one whose
// checkpoint covers the delete (so a crash cannot drop the entry of a key
// whose delete is not yet delivered).

const nsKeys = "mysql.keys"

// inventoryBatch caps the entries of one state batch.
const inventoryBatch = 16384

// stateBatcher writes many state keys in one durable batch; offsets.Log,
// the store the pipeline passes, is one.
type stateBatcher interface {
	Append(ctx context.Context, events []event.Event, checkpoint []byte, state ...offsets.KV) (uint64, error)
}

type keyInventory struct {
	store Store
	batch stateBatcher // nil: one Put per key
	// puts are written before the next checkpoint; dels after it.
	puts     map[string][]byte
	dels     map[string]bool
	nextDels map[string]bool
}

func newKeyInventory(store Store) *keyInventory {
	inv := &keyInventory{store: store, puts: map[string][]byte{}, dels: map[string]bool{}, nextDels: map[string]bool{}}
	if b, ok := store.(stateBatcher); ok {
		inv.batch = b
	}
	return inv
}

func (p hpos) number() uint64 { return p.seq<<32 | uint64(p.off) }

func hposOf(n uint64) hpos { return hpos{seq: n >> 32, off: uint32(n)} }

func inventoryPrefix(id event.TableID) string { return id.DB + "\x00" + id.Table + "\x00" }

// inventoryKey is the entry name of a row's key (nil when the table has no key).
func inventoryKey(t *event.Table, row []event.Value) string {
	if len(t.Key) == 0 || len(row) != len(t.Columns) {
		return ""
	}
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = keyText(row[k])
	}
	b, _ := json.Marshal(parts)
	return inventoryPrefix(t.ID) + string(b)
}

// observe records the rows of events delivered with a checkpoint at pos.
func (inv *keyInventory) observe(events []event.Event, pos hpos) {
	var val [8]byte
	binary.BigEndian.PutUint64(val[:], pos.number())
	for i := range events {
		e := &events[i]
		if e.Table == nil {
			continue
		}
		switch e.Op {
		case event.OpInsert, event.OpUpdate, event.OpRead:
			if k := inventoryKey(e.Table, e.After); k != "" {
				inv.puts[k] = append([]byte(nil), val[:]...)
				delete(inv.dels, k)
				delete(inv.nextDels, k)
			}
		case event.OpDelete:
			if k := inventoryKey(e.Table, e.Before); k != "" {
				delete(inv.puts, k)
				inv.nextDels[k] = true
			}
		}
	}
}

// flush writes the pending entries and the removals whose deletes an
// earlier checkpoint covers; call it before emitting a checkpoint.
func (inv *keyInventory) flush(ctx context.Context) error {
	if err := inv.write(ctx, true); err != nil {
		return err
	}
	clear(inv.dels)
	inv.dels, inv.nextDels = inv.nextDels, inv.dels
	return nil
}

// flushEntries writes the pending entries only (a spilled part of a large
// transaction: entries may precede their checkpoint, removals may not), so
// the memory they take stays bounded.
func (inv *keyInventory) flushEntries(ctx context.Context) error {
	if len(inv.puts) < inventoryBatch {
		return nil
	}
	return inv.write(ctx, false)
}

func (inv *keyInventory) write(ctx context.Context, withDels bool) error {
	if len(inv.puts) == 0 && (!withDels || len(inv.dels) == 0) {
		return nil
	}
	kvs := make([]offsets.KV, 0, len(inv.puts)+len(inv.dels))
	if withDels {
		for k := range inv.dels {
			kvs = append(kvs, offsets.KV{NS: nsKeys, Key: k})
		}
	}
	for k, v := range inv.puts {
		kvs = append(kvs, offsets.KV{NS: nsKeys, Key: k, Value: v})
	}
	if inv.batch != nil {
		for len(kvs) > 0 {
			n := min(len(kvs), inventoryBatch)
			if _, err := inv.batch.Append(ctx, nil, nil, kvs[:n]...); err != nil {
				return fmt.Errorf("mysql: key inventory: %w", err)
			}
			kvs = kvs[n:]
		}
	} else {
		for _, kv := range kvs {
			if err := inv.store.Put(kv.NS, kv.Key, kv.Value); err != nil {
				return fmt.Errorf("mysql: key inventory: %w", err)
			}
		}
	}
	clear(inv.puts)
	return nil
}

// ghosts returns deletes for the inventoried keys of t last delivered
// before since (the table's copy start), and queues the removal of their
// entries. Entries of another key shape (the key changed) are dropped.
func (inv *keyInventory) ghosts(t *event.Table, since hpos, pos event.Position, commit int64) ([]event.Event, int, error) {
	var out []event.Event
	dropped := 0
	prefix := inventoryPrefix(t.ID)
	err := inv.store.Scan(nsKeys, prefix, func(key string, value []byte) error {
		if _, pending := inv.puts[key]; pending || len(value) != 8 || binary.BigEndian.Uint64(value) >= since.number() {
			return nil
		}
		var parts []string
		if json.Unmarshal([]byte(key[len(prefix):]), &parts) != nil || len(parts) != len(t.Key) {
			inv.nextDels[key] = true
			dropped++
			return nil
		}
		row := make([]event.Value, len(t.Columns))
		for i, k := range t.Key {
			v, err := parseKeyText(parts[i])
			if err != nil {
				inv.nextDels[key] = true
				dropped++
				return nil
			}
			row[k] = v
		}
		out = append(out, event.Event{Op: event.OpDelete, Source: t.ID, Table: t, Before: row, CommitTime: commit, Pos: pos})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("mysql: key inventory of %s: %w", t.ID, err)
	}
	return out, dropped, nil
}
