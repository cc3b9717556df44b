package telemetry

import (
	"context"
	"errors"
	"github.com/odsync/odsync/sink"
	"time"

	"github.com/odsync/odsync/event"
)

// ring is a fixed-size history of samples.
type ring struct {
	buf  []float64
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]float64, n)} }

func (r *ring) push(v float64) {
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// values returns the samples, oldest first.
func (r *ring) values() []float64 {
	if !r.full {
		return append([]float64(nil), r.buf[:r.next]...)
	}
	out := make([]float64, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

func (r *ring) last() float64 {
	if !r.full && r.next == 0 {
		return 0
	}
	i := r.next - 1
	if i < 0 {
		i = len(r.buf) - 1
	}
	return r.buf[i]
}

// baselineLimit bounds the events read at start to date the backlog per
// table; a larger backlog is dated only partly (Status.TableLagPartial).
const baselineLimit = 1_000_000

// Sample takes one sample now: it probes the source and snapshot progress,
// reads the log's head, cursors and size, computes sink and per-table lag
// and pushes a point of throughput and lag history. Run calls it every
// Config.SampleInterval.
func (t *Telemetry) Sample(ctx context.Context) {
	t.sampleMu.Lock()
	defer t.sampleMu.Unlock()
	log := t.opts.Log
	stats := log.Stats()
	cursors := t.sinkCursors()
	now := t.now()

	type sinkLag struct {
		events  uint64
		seconds float64
	}
	health := make(map[string]sink.Health, len(t.opts.SinkHealth))
	for name, r := range t.opts.SinkHealth {
		health[name] = r.Health()
	}
	// Lag is measured to what the target holds: for sinks that deliver
	// after Write, their durable sequence, not the log cursor.
	reach := make(map[string]uint64, len(cursors))
	for name, c := range cursors {
		if h, ok := health[name]; ok && h.Delivers {
			c = min(c, h.Durable)
		}
		reach[name] = c
	}
	lags := make(map[string]sinkLag, len(cursors))
	var buf []event.Event
	for name, c := range reach {
		var l sinkLag
		if c < stats.Head {
			l.events = stats.Head - c
			var err error
			buf, err = log.Read(c+1, 1, 0, buf[:0])
			if err == nil && len(buf) == 1 && buf[0].CommitTime > 0 {
				l.seconds = max(0, float64(now.UnixMicro()-buf[0].CommitTime)/1e6)
			}
			clear(buf)
		}
		lags[name] = l
	}

	var src SourceLag
	var srcErr string
	probed := false
	if p := t.opts.Source; p != nil {
		pctx, cancel := context.WithTimeout(ctx, max(t.cfg.SampleInterval, time.Second))
		var err error
		src, err = p.Lag(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		probed = true
		if err != nil {
			src = SourceLag{BytesBehind: -1, MessagesBehind: -1, WatermarkAge: -1}
			srcErr = t.redact.Redact(err.Error())
			t.Error("source", err)
		}
	}
	var snap []TableProgress
	snapProbed := false
	if p := t.opts.Snapshot; p != nil {
		pctx, cancel := context.WithTimeout(ctx, max(t.cfg.SampleInterval, time.Second))
		s, err := p.SnapshotProgress(pctx)
		cancel()
		if err == nil {
			snap, snapProbed = s, true
		} else if ctx.Err() == nil {
			t.lg.Warn("snapshot progress", "err", t.redact.Redact(err.Error()))
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	st := &t.st
	dt := now.Sub(st.lastSample).Seconds()
	if !st.sampled {
		dt = now.Sub(t.started).Seconds()
	}
	st.head, st.tail, st.logBytes, st.diskBytes, st.uncommitted = stats.Head, stats.Tail, stats.Bytes, stats.DiskBytes, stats.Uncommitted
	if probed {
		st.source, st.sourceErr, st.sourceProbed = src, srcErr, true
	} else {
		st.source = SourceLag{Connected: true, SecondsBehind: st.appendLag, BytesBehind: -1, MessagesBehind: -1, WatermarkAge: -1}
	}
	st.sourceLagH.push(st.source.SecondsBehind)
	st.captureRateH.push(rate(st.captured-st.lastCaptured, dt))
	st.lastCaptured = st.captured

	var minCursor uint64
	first := true
	for name, c := range cursors {
		s := t.sink(name)
		s.cursor = c
		s.lagEvents, s.lagSeconds = lags[name].events, lags[name].seconds
		if r := reach[name]; first || r < minCursor {
			minCursor, first = r, false
		}
	}
	for name, h := range health {
		s := t.sink(name)
		s.reports, s.delivers, s.durable, s.buffered, s.asyncRetry = true, h.Delivers, h.Durable, h.Buffered, h.Retries
		s.throttled = h.Throttled
		if c, ok := cursors[name]; ok {
			s.durable = min(s.durable, c) // in the target only once written
		}
		s.asyncFails, s.asyncOK, s.holding = h.ConsecutiveFailures, h.LastSuccess, h.Holding
		if h.ConsecutiveFailures > 0 {
			s.asyncSince = h.FailingSince
			s.asyncErr = t.redact.Redact(h.LastError)
			s.asyncCause = Cause(errors.New(h.LastError))
		}
	}
	for _, name := range st.sinkOrder {
		s := st.sinks[name]
		s.rate = rate(s.written-s.lastTot, dt)
		s.lastTot = s.written
		s.rateH.push(s.rate)
		s.lagH.push(s.lagSeconds)
	}
	for _, ts := range st.tables {
		var tot int64
		for _, n := range ts.captured {
			tot += n
		}
		ts.rate = rate(tot-ts.lastTot, dt)
		ts.lastTot = tot
		ts.rateH.push(ts.rate)
		if ts.lag == nil {
			ts.lag = map[string]tableLag{}
		}
		worst := 0.0
		for name, c := range reach {
			n, oldest := ts.pending(c)
			l := tableLag{events: n}
			if n > 0 && oldest > 0 {
				l.seconds = max(0, float64(now.UnixMicro()-oldest)/1e6)
			}
			ts.lag[name] = l
			worst = max(worst, l.seconds)
		}
		ts.lagH.push(worst)
		if !first {
			ts.prune(minCursor)
		}
	}
	if snapProbed {
		st.snapshot = snap
	} else {
		st.snapshot = st.snapshot[:0]
		for _, ts := range st.tables {
			if n := ts.captured[event.OpRead]; n > 0 {
				st.snapshot = append(st.snapshot, TableProgress{Table: ts.id, RowsRead: n})
			}
		}
	}
	st.sampled = true
	st.lastSample = now
}

func rate(delta int64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(delta) / seconds
}

// scanBaseline dates the backlog the log held at start (events below every
// cursor's reach appended by an earlier run), so per-table sink lag covers
// it too. It reads at most baselineLimit events.
func (t *Telemetry) scanBaseline(ctx context.Context) {
	log := t.opts.Log
	cursors := t.sinkCursors()
	if len(cursors) == 0 {
		return
	}
	minC := ^uint64(0)
	for _, c := range cursors {
		minC = min(minC, c)
	}
	head := log.Head()
	local := map[event.TableID][]mark{}
	var buf []event.Event
	from, scanned := minC+1, 0
	for from <= head && scanned < baselineLimit && ctx.Err() == nil {
		var err error
		buf, err = log.Read(from, int(min(10000, head-from+1)), 0, buf[:0])
		if err != nil {
			t.lg.Warn("telemetry: reading the log's backlog for per-table lag", "from_seq", from, "err", err)
			break
		}
		if len(buf) == 0 {
			break
		}
		cur := map[event.TableID]*mark{}
		for i := range buf {
			e := &buf[i]
			m := cur[e.Source]
			if m == nil {
				m = &mark{first: e.Seq, commit: e.CommitTime}
				cur[e.Source] = m
			}
			m.last = e.Seq
			m.count++
			if e.CommitTime != 0 && (m.commit == 0 || e.CommitTime < m.commit) {
				m.commit = e.CommitTime
			}
		}
		for id, m := range cur {
			local[id] = append(local[id], *m)
		}
		scanned += len(buf)
		from = buf[len(buf)-1].Seq + 1
		clear(buf)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if from <= head {
		t.st.tableLagPart = true
	}
	for id, ms := range local {
		ts := t.table(id)
		// Appends observed live may overlap the scanned range: keep the
		// live marks and drop what they cover.
		if len(ts.marks) > 0 {
			live := ts.marks[0].first
			keep := ms[:0]
			for _, m := range ms {
				if m.first >= live {
					continue
				}
				if m.last >= live {
					m.count = max(1, m.count*int64(live-m.first)/int64(m.last-m.first+1))
					m.last = live - 1
				}
				keep = append(keep, m)
			}
			ms = keep
		}
		ts.marks = append(ms, ts.marks...)
		for len(ts.marks) > maxMarks {
			ts.compact()
		}
	}
}
