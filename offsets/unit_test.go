package offsets

import (
	"context"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/odsync/odsync/event"
)

func TestCursorAck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		acks   [][2]uint64
		acked  uint64
		ranges []seqRange
	}{
		{"in order", [][2]uint64{{1, 3}, {4, 4}, {5, 9}}, 9, nil},
		{"gap", [][2]uint64{{1, 3}, {5, 6}}, 3, []seqRange{{5, 6}}},
		{"gap filled", [][2]uint64{{5, 6}, {1, 3}, {4, 4}}, 6, nil},
		{"adjacent ranges merge", [][2]uint64{{7, 8}, {3, 4}, {5, 6}}, 0, []seqRange{{3, 8}}},
		{"overlaps merge", [][2]uint64{{3, 6}, {5, 9}, {2, 4}}, 0, []seqRange{{2, 9}}},
		{"sorted insert", [][2]uint64{{20, 21}, {10, 11}, {15, 15}}, 0, []seqRange{{10, 11}, {15, 15}, {20, 21}}},
		{"bridge", [][2]uint64{{10, 11}, {15, 15}, {20, 21}, {12, 19}}, 0, []seqRange{{10, 21}}},
		{"duplicate below", [][2]uint64{{1, 5}, {2, 3}, {1, 5}}, 5, nil},
		{"straddles cursor", [][2]uint64{{1, 5}, {3, 8}}, 8, nil},
		{"prefix absorbs all", [][2]uint64{{3, 3}, {5, 5}, {7, 7}, {1, 7}}, 7, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cursor{}
			for _, a := range tc.acks {
				c.ack(a[0], a[1])
			}
			if c.acked != tc.acked || !slices.Equal(c.ranges, tc.ranges) {
				t.Fatalf("acked %d ranges %v, want %d %v", c.acked, c.ranges, tc.acked, tc.ranges)
			}
		})
	}
}

func TestSeekTime(t *testing.T) {
	ctx := context.Background()
	tables := testTables{}
	mk := func(times ...int64) []event.Event {
		evs := txn(tables, 1, len(times))
		for i := range evs {
			evs[i].CommitTime = times[i]
		}
		return evs
	}
	for _, tc := range []struct {
		name   string
		times  []int64
		gcTo   uint64 // GC entries through this seq first
		micros int64
		want   uint64
	}{
		{"empty log", nil, 0, 5, 1},
		{"before all", []int64{10, 20, 30}, 0, 5, 1},
		{"exact first", []int64{10, 20, 30}, 0, 10, 1},
		{"between", []int64{10, 20, 30}, 0, 15, 2},
		{"exact last", []int64{10, 20, 30}, 0, 30, 3},
		{"after all", []int64{10, 20, 30}, 0, 31, 4},
		{"first of equal run", []int64{10, 20, 20, 20, 20, 30}, 0, 20, 2},
		{"negative times", []int64{-30, -20, -10}, 0, -15, 3},
		{"one event", []int64{10}, 0, 10, 1},
		{"below tail", []int64{10, 20, 30, 40}, 2, 0, 3},
		{"all collected", []int64{10, 20}, 2, 0, 3},
		// Not monotone: the answer is a boundary, s with t(s-1) < micros <= t(s),
		// here 4 (20 < 25 <= 40), not the first seq at or after 25 (2).
		{"step back", []int64{10, 30, 20, 40}, 0, 25, 4},
		{"step back later", []int64{10, 30, 20, 40}, 0, 35, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open("/data", Options{FS: vfs.NewMem()})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if len(tc.times) > 0 {
				if _, err := l.Append(ctx, mk(tc.times...), []byte("cp")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.gcTo > 0 {
				if err := l.SetCursor("s", tc.gcTo); err != nil {
					t.Fatal(err)
				}
				if _, err := l.GC(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := l.SeekTime(tc.micros)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("SeekTime(%d) = %d, want %d", tc.micros, got, tc.want)
			}
		})
	}
}

// TestAppendErrors: bad input is rejected with the event's position and
// leaves the log unchanged.
func TestAppendErrors(t *testing.T) {
	ctx := context.Background()
	l, err := Open("/data", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tables := testTables{}
	evs := txn(tables, 1, 3)
	unsealed := *evs[1].Table
	unsealed.Version = 0
	evs[1].Table = &unsealed
	_, err = l.Append(ctx, evs, []byte("cp"))
	if err == nil || err.Error() != "offsets: append seq 2 (a.t1 at bin.000001:2): table schema not sealed (Version 0)" {
		t.Fatalf("unsealed table: %v", err)
	}
	if _, err := l.Append(ctx, txn(tables, 1, 1), []byte("cp"), KV{NS: "", Key: "k"}); err == nil {
		t.Fatal("empty state namespace accepted")
	}
	if _, err := l.Append(ctx, txn(tables, 1, 1), []byte("cp"), KV{NS: "a\x00b", Key: "k"}); err == nil {
		t.Fatal("NUL in state namespace accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(cctx, txn(tables, 1, 1), []byte("cp")); err == nil {
		t.Fatal("append with a cancelled context succeeded")
	}
	if st := l.Stats(); st.Head != 0 || st.Uncommitted != 0 || st.Bytes != 0 {
		t.Fatalf("log changed by failed appends: %+v", st)
	}
	// The table of the rejected batch was not remembered as stored.
	last, err := l.Append(ctx, txn(tables, 1, 2), []byte("cp-2"))
	if err != nil || last != 2 {
		t.Fatalf("append: %d, %v", last, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{MaxBytes: -1}
	if err := o.Validate(); err == nil {
		t.Fatal("negative MaxBytes accepted")
	}
	if _, err := Open("/data", o); err == nil {
		t.Fatal("Open accepted negative MaxBytes")
	}
	o = Options{}
	o.EnsureDefaults()
	if o.FS == nil || o.Logger == nil || o.Validate() != nil {
		t.Fatalf("defaults: %+v", o)
	}
}

// TestTableResealedInPlace: a capture that changes a *event.Table in place
// and seals it again still gets the new version stored.
func TestTableResealedInPlace(t *testing.T) {
	ctx := context.Background()
	l, err := Open("/data", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tables := testTables{}
	evs := txn(tables, 1, 2)
	if _, err := l.Append(ctx, evs[:1], []byte("cp-1")); err != nil {
		t.Fatal(err)
	}
	tbl := evs[1].Table
	tbl.Columns = append(tbl.Columns, event.Column{Name: "added", Type: event.TypeInt, RawType: "int"})
	tbl.Seal()
	if _, err := l.Append(ctx, evs[1:], []byte("cp-2")); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	clear(l.mu.tables) // force decoding from the store
	l.mu.Unlock()
	got, err := l.Read(1, 10, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].Table.Columns) != 2 || len(got[1].Table.Columns) != 3 {
		t.Fatalf("read %d events with tables %v, %v", len(got), got[0].Table, got[1].Table)
	}
}

func TestRollbackDiscardsPartialAppends(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	tbl := (&event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{{Name: "id", Type: event.TypeInt}}}).Seal()
	mk := func(n int) []event.Event {
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = event.Event{Op: event.OpInsert, Source: tbl.ID, Table: tbl, After: []event.Value{event.Int(int64(i))}}
		}
		return evs
	}
	if _, err := l.Append(ctx, mk(2), []byte("cp1")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, mk(3), nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Rollback(); err != nil {
		t.Fatal(err)
	}
	last, err := l.Append(ctx, mk(1), []byte("cp2"))
	if err != nil {
		t.Fatal(err)
	}
	if last != 3 || l.Head() != 3 || string(l.Checkpoint()) != "cp2" {
		t.Fatalf("after rollback: last %d head %d checkpoint %q, want 3 3 cp2", last, l.Head(), l.Checkpoint())
	}
	evs, err := l.Read(1, 0, 0, nil)
	if err != nil || len(evs) != 3 {
		t.Fatalf("read %d events, %v; want 3", len(evs), err)
	}
	if err := l.Rollback(); err != nil {
		t.Fatalf("rollback with nothing uncommitted: %v", err)
	}
}
