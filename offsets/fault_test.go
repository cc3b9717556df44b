package offsets

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/odsync/odsync/event"
)

// txn returns n insert events of table a.t1 with ids from id.
func txn(tables testTables, id, n int) []event.Event {
	tbl := tables.get("a.t1")
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{
			Op: event.OpInsert, Source: tbl.ID, Table: tbl,
			After:      []event.Value{event.Int(int64(id + i)), event.String(strings.Repeat("v", 150))},
			CommitTime: int64(1_700_000_000_000_000 + id + i),
			Pos:        event.Position{File: "bin.000001", Offset: uint64(id + i)},
		}
	}
	evs[n-1].TxnEnd = true
	return evs
}

// checkLog verifies that the log holds exactly ids Tail..Head in order, that
// its checkpoint names its head, and that nothing is uncommitted. It
// returns the encoded bytes of the entries.
func checkLog(t *testing.T, l *Log) (bytes int64) {
	t.Helper()
	head := l.Head()
	if cp := string(l.Checkpoint()); head > 0 && cp != fmt.Sprintf("cp-%d", head) {
		t.Fatalf("head %d with checkpoint %q", head, cp)
	}
	from := l.Tail()
	for from <= head {
		evs, err := l.Read(from, 500, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			e := &evs[i]
			if e.Seq != from || e.After[0].Int() != int64(from) || e.Table == nil || e.Table.ID.Table != "t1" {
				t.Fatalf("seq %d: got %s", from, formatEvent(e))
			}
			bytes += int64(len(event.AppendEvent(nil, e)))
			from++
		}
	}
	if st := l.Stats(); st.Uncommitted != 0 {
		t.Fatalf("uncommitted %d after open", st.Uncommitted)
	}
	return bytes
}

func TestWriteFault(t *testing.T) {
	ctx := context.Background()
	isWAL := func(op errorfs.Op) bool { return strings.HasSuffix(op.Path, ".log") }
	for _, tc := range []struct {
		name string
		kind func(errorfs.OpKind) bool
	}{
		{"wal-sync", func(k errorfs.OpKind) bool {
			return k == errorfs.OpFileSync || k == errorfs.OpFileSyncData || k == errorfs.OpFileSyncTo
		}},
		{"wal-write", func(k errorfs.OpKind) bool { return k == errorfs.OpFileWrite || k == errorfs.OpFileWriteAt }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			inj := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
				if isWAL(op) && tc.kind(op.Kind) {
					return errorfs.ErrInjected
				}
				return nil
			})}
			l, err := Open("/data", Options{FS: errorfs.Wrap(mem, inj)})
			if err != nil {
				t.Fatal(err)
			}
			tables := testTables{}
			if _, err := l.Append(ctx, txn(tables, 1, 2), []byte("cp-2")); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Register("s3"); err != nil {
				t.Fatal(err)
			}

			inj.On()
			_, err = l.Append(ctx, txn(tables, 3, 2), []byte("cp-4"))
			if err == nil {
				t.Fatal("append with a failing WAL succeeded")
			}
			t.Logf("append error: %v", err)
			if !errors.Is(err, errorfs.ErrInjected) {
				t.Errorf("error does not wrap the injected error: %v", err)
			}
			for _, want := range []string{"/data", "append seqs 3..4", "reopen required"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			crashed := mem.CrashClone(vfs.CrashCloneCfg{})
			inj.Off()

			// The log refuses further writes but still serves reads.
			if _, err := l.Append(ctx, txn(tables, 3, 1), []byte("cp-3")); err == nil || !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("append after failure: %v", err)
			}
			if err := l.Put("ns", "k", []byte("v")); err == nil {
				t.Fatal("put after failure succeeded")
			}
			if err := l.Ack("s3", 1, 2); err == nil {
				t.Fatal("ack after failure succeeded")
			}
			if h := l.Head(); h != 2 {
				t.Fatalf("head %d after failed append", h)
			}
			if evs, err := l.Read(1, 10, 0, nil); err != nil || len(evs) != 2 {
				t.Fatalf("read after failure: %d events, %v", len(evs), err)
			}
			_ = l.Close()

			// Reopen the same files, and a crash image taken at the failure:
			// each is consistent (the failed batch is all there or not at all).
			for name, fs := range map[string]vfs.FS{"same": mem, "crash": crashed} {
				l, err := Open("/data", Options{FS: fs})
				if err != nil {
					t.Fatalf("%s: reopen: %v", name, err)
				}
				if h := l.Head(); h != 2 && h != 4 {
					t.Fatalf("%s: head %d", name, h)
				}
				if name == "crash" && l.Head() != 2 {
					t.Fatalf("crash: head %d: an unsynced batch survived", l.Head())
				}
				checkLog(t, l)
				next := int(l.Head()) + 1
				if _, err := l.Append(ctx, txn(tables, next, 3), fmt.Appendf(nil, "cp-%d", next+2)); err != nil {
					t.Fatalf("%s: append after reopen: %v", name, err)
				}
				checkLog(t, l)
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestCrash runs random appends (committed and partial), acks and GCs,
// crashes at random points keeping a random share of unsynced data, and
// checks after every reopen that everything Append acknowledged is there,
// partial transactions are gone, and the log is consistent.
func TestCrash(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	fs := vfs.NewCrashableMem()
	tables := testTables{}
	l, err := Open("/data", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Register("sink"); err != nil {
		t.Fatal(err)
	}
	acked := uint64(0) // the highest head an Append returned
	for round := 0; round < 40; round++ {
		for op := rng.IntN(20); op > 0; op-- {
			next := l.Head() + l.Stats().Uncommitted + 1
			n := 1 + rng.IntN(50)
			evs := txn(tables, int(next), n)
			var cp []byte
			if rng.IntN(3) > 0 {
				cp = fmt.Appendf(nil, "cp-%d", int(next)+n-1)
			}
			last, err := l.Append(ctx, evs, cp)
			if err != nil {
				t.Fatal(err)
			}
			if cp != nil {
				acked = last
			}
			if rng.IntN(4) == 0 && l.Head() > 0 {
				c, _ := l.Cursor("sink")
				if c < l.Head() {
					if err := l.Ack("sink", c+1, c+1+uint64(rng.IntN(int(l.Head()-c)))); err != nil {
						t.Fatal(err)
					}
				}
			}
			if rng.IntN(8) == 0 {
				if _, err := l.GC(); err != nil {
					t.Fatal(err)
				}
			}
		}
		tailBefore := l.Tail()
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rng})
		_ = l.Close()
		fs = clone
		if l, err = Open("/data", Options{FS: fs}); err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if l.Head() != acked {
			t.Fatalf("round %d: head %d after crash, %d was acknowledged", round, l.Head(), acked)
		}
		if l.Tail() < tailBefore {
			t.Fatalf("round %d: tail %d went back from %d", round, l.Tail(), tailBefore)
		}
		c, ok := l.Cursor("sink")
		if !ok || c+1 < l.Tail() || c > l.Head() {
			t.Fatalf("round %d: cursor %d (ok %v), tail %d, head %d", round, c, ok, l.Tail(), l.Head())
		}
		st := l.Stats()
		if sum := checkLog(t, l); sum != st.Bytes {
			t.Fatalf("round %d: retained bytes %d, entries hold %d", round, st.Bytes, sum)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFaultUnsynced fails the WAL under unsynced writes (cursor
// acks), which pebble does not report to the writer; the next write finds
// the WAL broken and pebble panics there. The log turns that into an error,
// refuses further writes, and Close does not hang.
func TestWriteFaultUnsynced(t *testing.T) {
	const n = 20000
	ctx := context.Background()
	mem := vfs.NewCrashableMem()
	inj := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && (op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileWriteAt) {
			return errorfs.ErrInjected
		}
		return nil
	})}
	l, err := Open("/data", Options{FS: errorfs.Wrap(mem, inj)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, txn(testTables{}, 1, n), fmt.Appendf(nil, "cp-%d", n)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Register("s3"); err != nil {
		t.Fatal(err)
	}
	// Start a fresh, full-size memtable: a memtable rotation on a broken
	// WAL is fatal inside pebble (an unrecoverable runtime error), so the
	// acks below must fit in it.
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	inj.On()
	var ackErr error
	for seq := uint64(1); seq <= n && ackErr == nil; seq++ {
		ackErr = l.Ack("s3", seq, seq)
	}
	if ackErr == nil {
		t.Fatal("no error from acks on a failing WAL")
	}
	t.Logf("ack error: %v", ackErr)
	if !strings.Contains(ackErr.Error(), "reopen required") {
		t.Errorf("error %q does not say the log failed", ackErr)
	}
	if _, err := l.Append(ctx, nil, []byte("cp-x")); err == nil {
		t.Fatal("commit after failure succeeded")
	}
	if h := l.Head(); h != n {
		t.Fatalf("head %d", h)
	}
	inj.Off()
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	if err := l.Close(); err == nil {
		t.Error("close after a failure reported no error")
	}
	l, err = Open("/data", Options{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Head() != n {
		t.Fatalf("head %d", l.Head())
	}
	checkLog(t, l)
}
