package mysql

import (
	"context"
	"testing"

	"github.com/odsync/odsync/event"
)

func TestKeyInventoryGhosts(t *testing.T) {
	ctx := context.Background()
	tbl := (&event.Table{ID: event.TableID{DB: "d", Table: "t"},
		Columns: []event.Column{{Name: "id", Type: event.TypeInt}, {Name: "n", Type: event.TypeInt}}, Key: []int{0}}).Seal()
	row := func(id int64) []event.Value { return []event.Value{event.Int(id), event.Int(id * 10)} }
	ev := func(op event.Op, id int64) event.Event {
		e := event.Event{Op: op, Source: tbl.ID, Table: tbl}
		if op == event.OpDelete {
			e.Before = row(id)
		} else {
			e.After = row(id)
		}
		return e
	}
	store := NewMemStore()
	inv := newKeyInventory(store)
	emit := func(p hpos, evs ...event.Event) {
		t.Helper()
		inv.observe(evs, p)
		if err := inv.flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// First copy and some changes: 1..5 read, 6 inserted, 2 deleted, 3
	// deleted and inserted again in one transaction.
	emit(hpos{1, 100}, ev(event.OpRead, 1), ev(event.OpRead, 2), ev(event.OpRead, 3), ev(event.OpRead, 4), ev(event.OpRead, 5))
	emit(hpos{1, 200}, ev(event.OpInsert, 6), ev(event.OpDelete, 2))
	emit(hpos{1, 300}, ev(event.OpDelete, 3), ev(event.OpInsert, 3))
	emit(hpos{1, 400}) // the removal of 2 is written after the checkpoint that covers its delete
	n := 0
	_ = store.Scan(nsKeys, inventoryPrefix(tbl.ID), func(string, []byte) error { n++; return nil })
	if n != 5 { // 1, 3, 4, 5, 6
		t.Fatalf("%d entries, want 5", n)
	}
	// The binlog is lost; the source now has 1, 4 (updated), 7. A new copy
	// starts at (2, 4) and reads 1 and 7; 4 changed after its chunk was read.
	since := hpos{2, 4}
	emit(hpos{2, 50}, ev(event.OpUpdate, 4))
	emit(hpos{2, 60}, ev(event.OpRead, 1), ev(event.OpRead, 7))
	gone, dropped, err := inv.ghosts(tbl, since, event.Position{File: "binlog.000002", Offset: 60}, 1)
	if err != nil || dropped != 0 {
		t.Fatal(err, dropped)
	}
	var ids []int64
	for _, g := range gone {
		if g.Op != event.OpDelete || !g.Before[1].IsNull() {
			t.Errorf("ghost %+v", g)
		}
		ids = append(ids, g.Before[0].Int())
	}
	if len(ids) != 3 || ids[0] != 3 || ids[1] != 5 || ids[2] != 6 {
		t.Fatalf("ghosts %v, want [3 5 6]", ids)
	}
	emit(hpos{2, 70}, gone...)
	emit(hpos{2, 80})
	gone, _, _ = inv.ghosts(tbl, since, event.Position{}, 1)
	if len(gone) != 0 {
		t.Fatalf("ghosts after their deletes: %d", len(gone))
	}
}

// A large transaction's spilled parts write their entries early (bounded
// memory) but never a removal before its checkpoint.
func TestKeyInventorySpill(t *testing.T) {
	ctx := context.Background()
	tbl := (&event.Table{ID: event.TableID{DB: "d", Table: "big"},
		Columns: []event.Column{{Name: "id", Type: event.TypeInt}}, Key: []int{0}}).Seal()
	store := NewMemStore()
	inv := newKeyInventory(store)
	inv.observe([]event.Event{{Op: event.OpInsert, Table: tbl, After: []event.Value{event.Int(-1)}}}, hpos{1, 10})
	if err := inv.flush(ctx); err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for i := 0; i < inventoryBatch; i++ {
		evs = append(evs, event.Event{Op: event.OpInsert, Table: tbl, After: []event.Value{event.Int(int64(i))}})
	}
	evs = append(evs, event.Event{Op: event.OpDelete, Table: tbl, Before: []event.Value{event.Int(-1)}})
	inv.observe(evs, hpos{1, 20})
	if err := inv.flushEntries(ctx); err != nil {
		t.Fatal(err)
	}
	if len(inv.puts) != 0 {
		t.Fatalf("%d entries kept in memory after a spill", len(inv.puts))
	}
	n, removed := 0, true
	_ = store.Scan(nsKeys, inventoryPrefix(tbl.ID), func(k string, _ []byte) error {
		n++
		if k == inventoryKey(tbl, []event.Value{event.Int(-1)}) {
			removed = false
		}
		return nil
	})
	if n != inventoryBatch+1 || removed {
		t.Fatalf("%d entries (removal written early: %v), want %d", n, removed, inventoryBatch+1)
	}
}
