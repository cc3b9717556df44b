package warehouse

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// stateTable is a change-log table with a two-column key and values of
// several kinds, for the full load's state.
func stateTable(t testing.TB) *table {
	t.Helper()
	src := (&event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "part", Type: event.TypeVarchar, Length: 8, RawType: "varchar(8)"},
		{Name: "v", Type: event.TypeVarchar, Length: 200, RawType: "varchar(200)", Nullable: true},
		{Name: "amount", Type: event.TypeDecimal, Precision: 30, Scale: 4, RawType: "decimal(30,4)", Nullable: true},
		{Name: "e", Type: event.TypeEnum, Elems: []string{"a", "b"}, RawType: "enum('a','b')", Nullable: true},
		{Name: "bin", Type: event.TypeVarbinary, Length: 16, RawType: "varbinary(16)", Nullable: true},
	}, Key: []int{0, 1}}).Seal()
	m, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := m.Target(src)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := odsTable(tg.Name, tg.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// stateChanges is a change log of keys keys: inserts, updates, deletes,
// re-inserts, key changes (a delete and an insert) and copies of changes
// (the same _seq twice, as MaxCompute stream sessions may leave), in the
// order objects would hold them (_seq ranges interleaved).
func stateChanges(keys, n int, seed uint64) []change {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []change
	row := func(id int, part string, seq uint64) []event.Value {
		var e event.Value = event.Null
		if seq%3 != 0 {
			e = event.Enum(int(seq%2)+1, []string{"a", "b"}[seq%2])
		}
		return []event.Value{event.Int(int64(id)), event.String(part), event.String(fmt.Sprintf("v%d-%s", seq, "padpadpadpadpadpadpadpad")),
			event.Decimal(fmt.Sprintf("%d.%04d", seq, seq%10000)), e, event.Bytes([]byte{byte(seq), 0, byte(seq >> 8)})}
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		id := r.IntN(keys)
		part := []string{"x", "y"}[r.IntN(2)]
		var op event.Op
		switch r.IntN(10) {
		case 0, 1:
			op = event.OpDelete
		case 2:
			// A key change: the old key's delete, the new key's insert
			// (consecutive _seqs).
			out = append(out, change{op: event.OpDelete, seq: seq, commit: int64(seq), row: row(id, part, seq)})
			seq++
			id = r.IntN(keys)
			op = event.OpInsert
		case 3, 4, 5:
			op = event.OpUpdate
		default:
			op = event.OpInsert
		}
		out = append(out, change{op: op, seq: seq, commit: int64(seq) * 10, row: row(id, part, seq)})
		if r.IntN(50) == 0 {
			out = append(out, out[len(out)-1]) // a copy
		}
	}
	// Objects of 100 changes, read in a shuffled order (the load reads
	// them in _seq order, but the state must not depend on it).
	var objs [][]change
	for i := 0; i < len(out); i += 100 {
		objs = append(objs, out[i:min(i+100, len(out))])
	}
	r.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
	var shuffled []change
	for _, o := range objs {
		shuffled = append(shuffled, o...)
	}
	return shuffled
}

// render is the emitted rows as text, in emit order.
func render(chs []change) []string {
	out := make([]string, len(chs))
	for i, ch := range chs {
		out[i] = fmt.Sprintf("%s seq=%d commit=%d %v", ch.op, ch.seq, ch.commit, ch.row)
	}
	return out
}

// TestLoadStateSpill: the full load's state gives the same rows in the same
// order whether it stays in memory or spills to the Pebble store early,
// midway or not at all: the last change per key by _seq, deleted keys out,
// by _seq; each value exact (kinds, enum indexes, bytes, NULLs). The store
// is removed afterwards.
func TestLoadStateSpill(t *testing.T) {
	tb := stateTable(t)
	changes := stateChanges(3000, 20000, 7)

	// The expected state, computed plainly.
	last := map[string]change{}
	for _, ch := range changes {
		k := tb.keyOf(ch.row)
		if old, ok := last[k]; !ok || ch.seq > old.seq {
			last[k] = ch
		}
	}
	var want []change
	for _, ch := range last {
		if ch.op != event.OpDelete {
			ch.op = event.OpRead
			want = append(want, ch)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].seq < want[j].seq })
	if len(want) < 1000 || len(want) == len(last) {
		t.Fatalf("test data: %d live keys of %d", len(want), len(last))
	}

	for _, tc := range []struct {
		name    string
		limit   int64
		spilled bool
	}{
		{"memory", 1 << 30, false},
		{"spill at once", 1, true},
		{"spill midway", 1 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spill := t.TempDir()
			st := newLoadState(tb, tc.limit, spill, "", slog.New(slog.DiscardHandler))
			defer st.close()
			for i, ch := range changes {
				if err := st.add(ch); err != nil {
					t.Fatalf("change %d: %v", i, err)
				}
				if tc.name == "spill midway" && i == len(changes)/10 && st.spilled() {
					t.Fatalf("spilled after %d changes: the bound is meant to be passed later", i)
				}
			}
			if st.spilled() != tc.spilled {
				t.Fatalf("spilled %v, want %v", st.spilled(), tc.spilled)
			}
			var got []change
			if err := st.each(func(ch change) error { got = append(got, ch); return nil }); err != nil {
				t.Fatal(err)
			}
			g, w := render(got), render(want)
			if len(g) != len(w) {
				t.Fatalf("%d rows, want %d", len(g), len(w))
			}
			for i := range g {
				if g[i] != w[i] {
					t.Fatalf("row %d:\n got %s\nwant %s", i, g[i], w[i])
				}
				for c := range got[i].row {
					if got[i].row[c] != want[i].row[c] {
						t.Fatalf("row %d column %d: %#v, want %#v", i, c, got[i].row[c], want[i].row[c])
					}
				}
			}
			if err := st.close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(spill, "load")); !os.IsNotExist(err) {
				t.Errorf("the store is left behind: %v", err)
			}
		})
	}
}

// TestLoadStateStaleStore: a store a killed process left in the spill
// directory is removed, not merged into the new state.
func TestLoadStateStaleStore(t *testing.T) {
	tb := stateTable(t)
	spill := t.TempDir()
	changes := stateChanges(50, 400, 3)
	st := newLoadState(tb, 1, spill, "", slog.New(slog.DiscardHandler))
	for _, ch := range changes {
		if err := st.add(ch); err != nil {
			t.Fatal(err)
		}
	}
	// Killed: closed without removing the directory.
	if err := st.db.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := newLoadState(tb, 1, spill, "", slog.New(slog.DiscardHandler))
	defer st2.close()
	if _, err := os.Stat(filepath.Join(spill, "load")); !os.IsNotExist(err) {
		t.Errorf("the stale store is still there when the next load starts: %v", err)
	}
	one := changes[0]
	one.op = event.OpInsert
	if err := st2.add(one); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := st2.each(func(change) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d rows from a store with one key: the stale store was merged", n)
	}
}

// TestExpectedChanges: the state's size estimate is the units' _seq
// ranges up to upto, and none when a range is unknown (a MaxCompute
// partition).
func TestExpectedChanges(t *testing.T) {
	us := []unit{{first: 1, last: 100}, {first: 101, last: 250}, {first: 251, last: 400}}
	if n := expectedChanges(us, 300); n != 300 {
		t.Errorf("got %d, want 300", n)
	}
	if n := expectedChanges(append(us, unit{first: 0, last: math.MaxInt64}), 300); n != 0 {
		t.Errorf("with an unknown range: got %d, want 0", n)
	}
	st := newLoadState(stateTable(t), 512*1000, "", t.TempDir(), nil)
	st.expect(1 << 40) // bounded by the memory bound: must not allocate 2^40 entries
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
}
