package offsets

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/odsync/odsync/event"
)

func TestBackpressure(t *testing.T) {
	ctx := context.Background()
	tables := testTables{}
	size := int64(len(event.AppendEvent(nil, &txn(tables, 1, 1)[0])))
	l, err := Open("/data", Options{FS: vfs.NewMem(), MaxBytes: 10 * size})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	blocked := make(chan struct{}, 10)
	l.app.onBlock = func() { blocked <- struct{}{} }
	if _, err := l.Register("s"); err != nil {
		t.Fatal(err)
	}
	// Under the cap: does not block. This one takes the log over the cap.
	if _, err := l.Append(ctx, txn(tables, 1, 20), []byte("cp-20")); err != nil {
		t.Fatal(err)
	}
	if b := l.Stats().Bytes; b != 20*size {
		t.Fatalf("bytes %d, want %d", b, 20*size)
	}

	// Over the cap: blocks until Ack+GC bring it under.
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, txn(tables, 21, 5), []byte("cp-25"))
		done <- err
	}()
	<-blocked
	if err := l.Ack("s", 1, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GC(); err != nil { // 15 events left: still over
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("append returned while still over the cap: %v", err)
	default:
	}
	if err := l.Ack("s", 6, 12); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GC(); err != nil { // 8 left: room
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h := l.Head(); h != 25 {
		t.Fatalf("head %d", h)
	}

	// Over the cap again (13 events): ctx cancellation and Close end the wait.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := l.Append(cctx, txn(tables, 26, 1), []byte("cp-26"))
		done <- err
	}()
	<-blocked
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: %v", err)
	}
	go func() {
		_, err := l.Append(ctx, txn(tables, 26, 1), []byte("cp-26"))
		done <- err
	}()
	<-blocked
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("append blocked at close: %v", err)
	}
}

// TestConcurrent runs one appender, several sinks that wait, read, ack out
// of order and GC, and other readers, under a small MaxBytes, and checks
// that every sink saw every event exactly in order.
func TestConcurrent(t *testing.T) {
	const total, sinks = 10000, 3
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // deadlock guard only
	defer cancel()
	l, err := Open("/data", Options{FS: vfs.NewMem(), MaxBytes: 200 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range sinks {
		if _, err := l.Register(fmt.Sprint("sink", i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, sinks+2)
	wg.Add(1)
	go func() { // the appender
		defer wg.Done()
		tables := testTables{}
		rng := rand.New(rand.NewPCG(7, 7))
		for next := 1; next <= total; {
			n := min(1+rng.IntN(300), total-next+1)
			var cp []byte
			if rng.IntN(4) > 0 || next+n-1 == total {
				cp = fmt.Appendf(nil, "cp-%d", next+n-1)
			}
			if _, err := l.Append(ctx, txn(tables, next, n), cp); err != nil {
				errs <- err
				return
			}
			next += n
		}
	}()
	for i := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprint("sink", i)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var buf []event.Event
			acked, _ := l.Cursor(name)
			for acked < total {
				if _, err := l.Wait(ctx, acked); err != nil {
					errs <- err
					return
				}
				var err error
				buf, err = l.Read(acked+1, 1+rng.IntN(400), int64(rng.IntN(40000)), buf[:0])
				if err != nil {
					errs <- err
					return
				}
				for j := range buf {
					if buf[j].Seq != acked+1+uint64(j) || buf[j].After[0].Int() != int64(buf[j].Seq) {
						errs <- fmt.Errorf("%s: got %s at %d", name, formatEvent(&buf[j]), acked+1+uint64(j))
						return
					}
				}
				// Ack the batch in two pieces, the second first.
				first, last := acked+1, acked+uint64(len(buf))
				mid := first + uint64(rng.IntN(len(buf)))
				if mid < last {
					if err := l.Ack(name, mid+1, last); err != nil {
						errs <- err
						return
					}
				}
				if err := l.Ack(name, first, mid); err != nil {
					errs <- err
					return
				}
				if c, _ := l.Cursor(name); c != last {
					errs <- fmt.Errorf("%s: cursor %d after acking through %d", name, c, last)
					return
				}
				acked = last
				if _, err := l.GC(); err != nil {
					errs <- err
					return
				}
				_ = l.Stats()
				if _, err := l.SeekTime(0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := l.GC(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Head != total || st.Tail != total+1 || st.Bytes != 0 {
		t.Fatalf("stats at end: %+v", st)
	}
}

// TestWaitWakes: Wait returns as soon as a commit moves the head past after,
// and not for partial appends.
func TestWaitWakes(t *testing.T) {
	ctx := context.Background()
	l, err := Open("/data", Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tables := testTables{}
	got := make(chan uint64, 1)
	go func() {
		h, err := l.Wait(ctx, 0)
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	if _, err := l.Append(ctx, txn(tables, 1, 2), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-got:
		t.Fatalf("wait returned %d for a partial append", h)
	default:
	}
	if _, err := l.Append(ctx, txn(tables, 3, 1), []byte("cp-3")); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h != 3 {
		t.Fatalf("wait returned head %d", h)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Wait(cctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with cancelled ctx: %v", err)
	}
}
