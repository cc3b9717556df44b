package maxcompute

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/odpsemu"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// The emulator enforces the real service's limits (session expiry, quotas,
// Date skew, slot ids, TableModified); these tests show the sink copes
// with each without losing or duplicating rows.

// emuClock is an emulator clock (odpsemu.Config.Now) the tests move.
type emuClock struct{ off atomic.Int64 }

func (c *emuClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *emuClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// isCommit matches a batch upload commit (POST …/tables/t?uploadid=).
func isCommit(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploadid") && !strings.HasSuffix(r.URL.Path, "/streams")
}

// onFirst runs fn before the first request that match accepts.
func onFirst(match func(*http.Request) bool, fn func()) func(*http.Request) {
	var done atomic.Bool
	return func(r *http.Request) {
		if match(r) && done.CompareAndSwap(false, true) {
			fn()
		}
	}
}

func TestUploadSessionExpiry(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	// The sink recorded a session (commit failed), was down for longer than
	// the service keeps sessions, and still believes the record (its
	// session_ttl is 20h, the emulator's 1h here): the status request says
	// expired and the sink starts a clean session.
	t.Run("expired while the sink was down", func(t *testing.T) {
		var clk emuClock
		h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) { c.SessionTTL = time.Hour; c.Now = clk.now },
			func(c *Config) { c.MaxAttempts = 1 })
		evs := snapshotEvents(tbl, 1, 200)
		h.emu.srv.SetFaults(odpsemu.Faults{FailNth: 1, Ops: []odpsemu.Op{odpsemu.OpUploadCommit}})
		if err := h.sink.Write(ctxT(t), batch(evs)); err == nil {
			t.Fatal("Write succeeded although the commit failed")
		}
		h.emu.srv.SetFaults(odpsemu.Faults{})
		clk.advance(2 * time.Hour)
		h.restart()
		h.write(batch(evs))
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
		if n := h.emu.srv.Count(odpsemu.OpUploadCreate); n != 2 {
			t.Errorf("%d upload sessions created, want 2 (the expired one replaced)", n)
		}
	})
	// The session expires between the blocks and the commit: the sink
	// writes every block again through a new session and commits once.
	t.Run("expires before the commit", func(t *testing.T) {
		var clk emuClock
		h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) { c.SessionTTL = time.Hour; c.Now = clk.now },
			nil)
		evs := snapshotEvents(tbl, 1, 300)
		h.emu.setHook(onFirst(isCommit, func() { clk.advance(2 * time.Hour) }))
		h.write(batch(evs))
		h.emu.setHook(nil)
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
		if n := h.emu.srv.Count(odpsemu.OpUploadCreate); n != 2 {
			t.Errorf("%d upload sessions created, want 2", n)
		}
	})
	// Stream sessions expire too: the next pack opens a new session.
	t.Run("stream session expires", func(t *testing.T) {
		var clk emuClock
		h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) { c.SessionTTL = time.Hour; c.Now = clk.now }, nil)
		evs := simpleEvents(tbl, 1, 20, event.OpInsert)
		h.write(batch(evs[:10]))
		clk.advance(2 * time.Hour)
		h.write(batch(evs[10:]))
		checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, evs, false)
		if n := h.emu.srv.Count(odpsemu.OpStreamCreate); n != 2 {
			t.Errorf("%d stream sessions created, want 2", n)
		}
	})
}

// TestCommitAfterAlterTable: another writer alters the table while a
// snapshot upload is open; the commit gets 409 TableModified and the sink
// loads the rows through a new session.
func TestCommitAfterAlterTable(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, schema.Config{}, nil)
	h.write(batch(snapshotEvents(tbl, 1, 10)))
	o, _ := h.emu.sdk()
	h.emu.setHook(onFirst(isCommit, func() { execSQL(t, o, "alter table "+tg.Name+" add columns (other_writer STRING);") }))
	evs := snapshotEvents(tbl, 11, 200)
	h.write(batch(evs))
	h.emu.setHook(nil)
	all := append(snapshotEvents(tbl, 1, 10), evs...)
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, all, false)
	if n := h.emu.srv.Count(odpsemu.OpUploadCreate); n != 3 {
		t.Errorf("%d upload sessions created, want 3 (one replaced after TableModified)", n)
	}
}

// TestQuotasLoseNothing: with the per-table quotas scaled down (2 open
// upload sessions, 1 commit per second, 4 session creations per 6 s), a
// sink that meets another writer's open sessions and commits back to back
// is throttled (429 + Retry-After), waits, and loads every row once.
func TestQuotasLoseNothing(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) {
		c.MaxUploadSessions = 2
		c.CommitLimit, c.CommitWindow = 1, time.Second
		c.SessionCreateLimit, c.SessionCreateWindow = 4, 6*time.Second
	}, func(c *Config) {
		c.MaxAttempts = 1
		c.ThrottleMaxBackoff = 50 * time.Millisecond
		c.BlockSize = 4 << 10
	})
	var all []event.Event
	add := func(evs []event.Event) {
		h.write(batch(evs))
		all = append(all, evs...)
	}
	add(snapshotEvents(tbl, 1, 50))

	// Another writer holds both open-session places; it commits one of
	// them a little later.
	_, tun := h.emu.sdk()
	var holders []*tunnel.UploadSession
	for range 2 {
		s, err := tun.CreateUploadSession(testProject, tg.Name, tunnel.SessionCfg.WithPartitionKey("ds=20240501"))
		if err != nil {
			t.Fatal(err)
		}
		holders = append(holders, s)
	}
	released := make(chan error, 1)
	time.AfterFunc(300*time.Millisecond, func() { released <- holders[0].Commit(nil) })
	add(snapshotEvents(tbl, 51, 50))
	if err := <-released; err != nil {
		t.Fatalf("the other writer's commit: %v", err)
	}
	// Back-to-back batches: one commit per second, stream rows in between.
	for i := uint64(0); i < 3; i++ {
		first := 101 + i*60
		add(append(snapshotEvents(tbl, first, 50), simpleEvents(tbl, first+50, 10, event.OpInsert)...))
	}
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, all, false)
	hl := h.sink.Health()
	if hl.Throttled < 3 || hl.ConsecutiveFailures != 0 {
		t.Errorf("health %+v: want several throttled requests and none failing", hl)
	}
	// Each quota was hit, with the real error shape.
	for _, quota := range []string{"open upload sessions", "sessions created", "commits on table"} {
		hit := false
		for _, a := range h.emu.errorAnswers() {
			hit = hit || strings.HasPrefix(a, `429 {"Code":"FlowExceeded"`) && strings.Contains(a, quota)
		}
		if !hit {
			t.Errorf("the %q quota was never hit: %q", quota, h.emu.errorAnswers())
		}
	}
}

// TestSignedRequestsAndClockSkew: with signatures verified the sink's
// requests (SDK DDL and its own Tunnel requests) pass the emulator's Date
// check; a server clock 20 minutes off makes them fail at once with a
// permanent RequestTimeTooSkewed error instead of retrying, and once the
// clock is right the replayed batch is loaded once.
func TestSignedRequestsAndClockSkew(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	var clk emuClock
	h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) { c.AccessID, c.AccessKey, c.Now = "ak", "sk", clk.now }, nil)
	first := append(snapshotEvents(tbl, 1, 20), simpleEvents(tbl, 21, 20, event.OpInsert)...)
	h.write(batch(first))
	clk.advance(20 * time.Minute)
	second := append(snapshotEvents(tbl, 41, 20), simpleEvents(tbl, 61, 20, event.OpInsert)...)
	start := time.Now()
	err = h.sink.Write(ctxT(t), batch(second))
	if err == nil || !strings.Contains(err.Error(), "RequestTimeTooSkewed") || !errors.Is(asSinkError(err), sink.ErrPermanent) {
		t.Fatalf("Write with a skewed clock: %v, want a permanent RequestTimeTooSkewed error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the skewed request was retried for %s", d)
	}
	clk.advance(-20 * time.Minute)
	h.restart()
	h.write(batch(second))
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, append(first, second...), false)
}

// TestStreamSlotChanges: the emulator refuses slot ids a session does not
// have; the sink only uses the slots it was given and follows slot count
// changes (reload), so no write is ever refused.
func TestStreamSlotChanges(t *testing.T) {
	tbl := simpleTable()
	tg, err := newMapper(t, schema.Config{}).Target(tbl)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessEmu(t, schema.Config{}, func(c *odpsemu.Config) { c.StreamSlots = 3 }, nil)
	var all []event.Event
	for i, slots := range []int{3, 1, 4, 2} {
		if err := h.emu.srv.SetStreamSlots(slots); err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			evs := simpleEvents(tbl, uint64(1+i*30+j*10), 10, event.OpInsert)
			h.write(batch(evs))
			all = append(all, evs...)
		}
	}
	checkRows(t, readTable(t, h.emu, tg.Name, "ds=20240501"), tg, all, false)
	if hl := h.sink.Health(); hl.Retries != 0 {
		t.Errorf("health %+v: a stream write was refused", hl)
	}
	if n := h.emu.srv.Count(odpsemu.OpStreamReload); n < 3 {
		t.Errorf("%d session reloads, want one per slot count change", n)
	}
}
