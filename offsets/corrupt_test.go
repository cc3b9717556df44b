package offsets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/odsync/odsync/event"
)

// rawEdit opens the state dir with plain pebble and applies fn.
func rawEdit(t *testing.T, fs vfs.FS, fn func(db *pebble.DB) error) {
	t.Helper()
	db, err := pebble.Open("/data", &pebble.Options{FS: fs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func overwrite(t *testing.T, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptDir damages a state dir in various ways. Open (or the first
// Read) must fail with an error that names the directory and the cause,
// never panic.
func TestCorruptDir(t *testing.T) {
	set := func(key string, value []byte) func(*pebble.DB) error {
		return func(db *pebble.DB) error { return db.Set([]byte(key), value, pebble.Sync) }
	}
	del := func(key []byte) func(*pebble.DB) error {
		return func(db *pebble.DB) error { return db.Delete(key, pebble.Sync) }
	}
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, fs vfs.FS)
		onRead  bool   // Open succeeds; Read reports the damage
		want    string // in the error text
		corrupt bool   // errors.Is(err, event.ErrCorrupt)
	}{
		{name: "manifest garbage", damage: func(t *testing.T, fs vfs.FS) {
			overwrite(t, fs, "/data/MANIFEST-000001", []byte("this is not a manifest"))
		}, want: "MANIFEST"},
		{name: "manifest missing", damage: func(t *testing.T, fs vfs.FS) {
			if err := fs.Remove("/data/MANIFEST-000001"); err != nil {
				t.Fatal(err)
			}
		}, want: "MANIFEST"},
		{name: "dir is a file", damage: func(t *testing.T, fs vfs.FS) {
			if err := fs.RemoveAll("/data"); err != nil {
				t.Fatal(err)
			}
			overwrite(t, fs, "/data", []byte("x"))
		}, want: "/data"},
		{name: "head record", damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, set(keyHead, []byte{1, 2, 3}))
		}, want: "head record of 3 bytes", corrupt: true},
		{name: "gc record beyond head", damage: func(t *testing.T, fs vfs.FS) {
			r := gcRecord{tail: 50, cum: 10}
			rawEdit(t, fs, set(keyGC, r.append(nil)))
		}, want: "tail 50 (bytes 10) beyond head 3", corrupt: true},
		{name: "format version", damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, set(keyVersion, []byte{0, 0, 0, 0, 0, 0, 0, 9}))
		}, want: "unsupported format version 9"},
		{name: "format version missing", damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, del([]byte(keyVersion)))
		}, want: "format version record missing", corrupt: true},
		{name: "head entry missing", damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, del(newSeqKey(prefixEvent, 3)))
		}, want: "entry 3 missing", corrupt: true},
		{name: "cursor value", damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, set(prefixCursor+"s3", []byte{1}))
		}, want: `cursor "s3" value of 1 bytes`, corrupt: true},
		{name: "cursor beyond head", damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, set(prefixCursor+"s3", []byte{0, 0, 0, 0, 0, 0, 0, 9}))
		}, want: `cursor "s3" at 9 outside [tail-1 0, head 3]`, corrupt: true},
		{name: "pending value", damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, set(prefixPending+"s3", []byte{1, 2, 3}))
		}, want: `pending "s3" value of 3 bytes`, corrupt: true},
		{name: "event value", onRead: true, damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, set(string(newSeqKey(prefixEvent, 2)), []byte{9, 9}))
		}, want: "decode seq 2", corrupt: true},
		{name: "middle entry missing", onRead: true, damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, del(newSeqKey(prefixEvent, 2)))
		}, want: "entry 2 missing", corrupt: true},
		{name: "table missing", onRead: true, damage: func(t *testing.T, fs vfs.FS) {
			rawEdit(t, fs, func(db *pebble.DB) error {
				return db.DeleteRange([]byte(prefixTable), prefixEnd(prefixTable), pebble.Sync)
			})
		}, want: "missing", corrupt: true},
		{name: "table value", onRead: true, damage: func(t *testing.T, fs vfs.FS) {
			v := testTables{}.get("a.t1").Version
			rawEdit(t, fs, set(string(newSeqKey(prefixTable, v)), []byte{1}))
		}, want: "table version", corrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			l, err := Open("/data", Options{FS: fs})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(context.Background(), txn(testTables{}, 1, 3), []byte("cp-3")); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, fs)

			l, err = Open("/data", Options{FS: fs})
			if tc.onRead {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				defer l.Close()
				_, err = l.Read(1, 10, 0, nil)
			} else if err == nil {
				_ = l.Close()
				t.Fatal("open of a damaged dir succeeded")
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), "/data") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the dir and %q", err, tc.want)
			}
			if tc.corrupt != errors.Is(err, event.ErrCorrupt) {
				t.Errorf("errors.Is(err, event.ErrCorrupt) = %v, want %v", !tc.corrupt, tc.corrupt)
			}
		})
	}
}

// TestOpenLocked: a second Open of a dir in use fails clearly.
func TestOpenLocked(t *testing.T) {
	fs := vfs.NewMem()
	l, err := Open("/data", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Open("/data", Options{FS: fs}); err == nil || !strings.Contains(err.Error(), "/data") {
		t.Fatalf("second open: %v", err)
	}
}

// TestClosed: calls after Close return ErrClosed; none panics.
func TestClosed(t *testing.T) {
	l, err := Open("/data", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"close":    l.Close(),
		"append":   second(l.Append(ctx, txn(testTables{}, 1, 1), []byte("x"))),
		"read":     second(l.Read(1, 1, 0, nil)),
		"wait":     second(l.Wait(ctx, 0)),
		"seek":     second(l.SeekTime(0)),
		"register": second(l.Register("x")),
		"ack":      l.Ack("x", 1, 1),
		"set":      l.SetCursor("x", 0),
		"drop":     l.DropCursor("x"),
		"pending":  l.SetPending("x", nil),
		"put":      l.Put("ns", "k", nil),
		"scan":     l.Scan("ns", "", func(string, []byte) error { return nil }),
		"gc":       second(l.GC()),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after close: %v", name, err)
		}
	}
	if _, _, err := l.Get("ns", "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("get after close: %v", err)
	}
	_ = l.Stats()
}

func second[T any](_ T, err error) error { return err }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
