package verify

import (
	"context"
	"fmt"
	"github.com/odsync/odsync/sink/local"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestCoversAndNotAfter(t *testing.T) {
	v := &Verifier{src: &Source{}}
	w := Watermark{File: "binlog.000003", Offset: 1000, GTID: "0-1-42", Micros: 1_700_000_000_000_000}
	for _, tc := range []struct {
		p    SinkProgress
		want bool
	}{
		{SinkProgress{Pos: "binlog.000003:1200 gtid=0-1-43"}, true},
		{SinkProgress{Pos: "binlog.000003:900 gtid=0-1-42"}, true}, // the source's last transaction
		{SinkProgress{Pos: "binlog.000003:900 gtid=0-1-41"}, false},
		{SinkProgress{Pos: "binlog.000004:4"}, true},
		{SinkProgress{Pos: "topic/0:99999"}, false}, // another kind of position
		{SinkProgress{CompleteBeforeMicros: w.Micros + 1}, true},
		{SinkProgress{CompleteBeforeMicros: w.Micros}, false},
		{SinkProgress{}, false},
	} {
		if got := v.covers(tc.p, w); got != tc.want {
			t.Errorf("covers(%+v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !v.notAfter(nil, w) {
		t.Error("no target row is not after anything")
	}
	if !v.notAfter(&targetRow{Pos: "binlog.000003:1000"}, w) || v.notAfter(&targetRow{Pos: "binlog.000003:1001"}, w) {
		t.Error("position comparison wrong")
	}
	// Without comparable positions: commit times, a second apart at least.
	w2 := Watermark{Micros: w.Micros}
	if !v.notAfter(&targetRow{Pos: "topic/0:5", Commit: w.Micros - 1_000_000}, w2) || v.notAfter(&targetRow{Commit: w.Micros - 999_999}, w2) {
		t.Error("commit-time comparison wrong")
	}
}

func TestWaitCaughtUpWithStatus(t *testing.T) {
	var head, cursor atomic.Uint64
	var pos atomic.Value
	pos.Store("binlog.000003:500")
	head.Store(10)
	cursor.Store(5)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(rw, r)
			return
		}
		fmt.Fprintf(rw, `{"source":{"position":%q},"log":{"head":%d},"sinks":[{"name":"files","cursor":%d}]}`,
			pos.Load().(string), head.Load(), cursor.Load())
	}))
	defer srv.Close()
	opts := Options{StatusURL: srv.URL + "/status", Wait: time.Minute, Settle: time.Hour, Poll: 10 * time.Millisecond}
	opts.EnsureDefaults()
	v := &Verifier{opts: opts, src: &Source{}}
	sk := Sink{Name: "files", Reader: local.NewReader(t.TempDir())}
	w := Watermark{File: "binlog.000003", Offset: 800, Micros: 1}
	done := make(chan bool)
	go func() {
		ok, _ := v.waitCaughtUp(context.Background(), sk, "t", w)
		done <- ok
	}()
	time.Sleep(100 * time.Millisecond)
	pos.Store("binlog.000003:900") // the capture passed the watermark at head 12
	head.Store(12)
	time.Sleep(100 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("caught up before the sink reached the head")
	default:
	}
	cursor.Store(12)
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("not caught up")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still waiting long after the sink reached the head")
	}

	// An unusable status endpoint falls back to settling, but only for a
	// sink that has durably written something.
	opts.StatusURL = srv.URL + "/nope"
	opts.Settle = 200 * time.Millisecond
	opts.Wait = time.Second
	v.opts = opts
	start := time.Now()
	ok, err := v.waitCaughtUp(context.Background(), sk, "t", w)
	if err != nil || ok || time.Since(start) < time.Second {
		t.Errorf("a sink that never wrote settled: %v %v after %v", ok, err, time.Since(start))
	}
	dir := sk.Reader.(*local.Reader).Dir
	if err := os.MkdirAll(filepath.Join(dir, "t", "ds=20240101"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t", "ds=20240101", "1-5.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok, err = v.waitCaughtUp(context.Background(), sk, "t", w)
	if err != nil || !ok {
		t.Errorf("fallback to settling: %v %v", ok, err)
	}
}

func TestWatermarkSamePosition(t *testing.T) {
	a := Watermark{File: "binlog.000003", Offset: 10, GTID: "0-1-5", Micros: 1}
	b := a
	b.Micros = 99 // the clock moves; the position does not
	if !a.samePosition(b) {
		t.Error("same position differs")
	}
	b.Offset = 11
	if a.samePosition(b) {
		t.Error("different offsets are the same position")
	}
	if (Watermark{Micros: 1}).samePosition(Watermark{Micros: 1}) {
		t.Error("watermarks without positions are the same position")
	}
}

// TestWaitCaughtUpDurable: for a sink that delivers after writing (S3), the
// durable sequence decides, not the cursor (what is only spooled).
func TestWaitCaughtUpDurable(t *testing.T) {
	var durable atomic.Uint64
	durable.Store(5)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, `{"source":{"position":"binlog.000003:900"},"log":{"head":12},"sinks":[{"name":"lake","cursor":12,"durable":%d}]}`, durable.Load())
	}))
	defer srv.Close()
	sw := &statusWaiter{url: srv.URL, client: srv.Client(), sink: "lake"}
	w := Watermark{File: "binlog.000003", Offset: 800}
	if ok, err := sw.caughtUp(context.Background(), w); err != nil || ok {
		t.Fatalf("spooled but not uploaded counts as caught up: %v %v", ok, err)
	}
	durable.Store(12)
	if ok, err := sw.caughtUp(context.Background(), w); err != nil || !ok {
		t.Fatalf("uploaded does not count as caught up: %v %v", ok, err)
	}
	// A durable sequence above the cursor (the sink holds nothing back but
	// is still writing a batch) is not beyond what was written.
	sw2 := &statusWaiter{url: statusServer(t, `{"source":{"position":"binlog.000003:900"},"log":{"head":12},"sinks":[{"name":"lake","cursor":5,"durable":12}]}`), client: http.DefaultClient, sink: "lake"}
	if ok, err := sw2.caughtUp(context.Background(), w); err != nil || ok {
		t.Fatalf("durable above the cursor counts as caught up: %v %v", ok, err)
	}
}

// statusServer serves body as /status.
func statusServer(t *testing.T, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, body) }))
	t.Cleanup(srv.Close)
	return srv.URL
}
