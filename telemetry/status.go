package telemetry

import (
	"sort"
	"time"

	"github.com/odsync/odsync/event"
)

// Status is the JSON document of /status and the model of the status page
// and `odsync status`.
type Status struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	Time    time.Time `json:"time"`
	// SampleInterval is the seconds between history points.
	SampleInterval float64 `json:"sample_interval_seconds"`
	// Sampled is false until the first sample (lag fields are then zero).
	Sampled  bool          `json:"sampled"`
	Stopping bool          `json:"stopping"`
	Source   SourceStatus  `json:"source"`
	Log      LogStatus     `json:"log"`
	Sinks    []SinkStatus  `json:"sinks"`
	Tables   []TableStatus `json:"tables"`
	Errors   []ErrorCount  `json:"errors"`
	// Verify lists the latest scheduled verification per sink and table
	// (empty when `verify.interval` is off).
	Verify []VerifyResult `json:"verify,omitempty"`
	// TableLagPartial is true when the backlog found at start was too large
	// to date per table completely (per-sink lag is always exact).
	TableLagPartial bool `json:"table_lag_partial,omitempty"`
}

// SourceStatus is the capture side.
type SourceStatus struct {
	// Probe names the source probe; empty when there is none (then
	// Connected is assumed and SecondsBehind is the event-time lag at the
	// last append).
	Probe          string  `json:"probe"`
	Connected      bool    `json:"connected"`
	SecondsBehind  float64 `json:"seconds_behind"`
	BytesBehind    int64   `json:"bytes_behind"`    // -1: unknown / not applicable
	MessagesBehind int64   `json:"messages_behind"` // -1: unknown / not applicable
	WatermarkAge   float64 `json:"watermark_age_seconds"`
	Position       string  `json:"position,omitempty"`
	SourcePosition string  `json:"source_position,omitempty"`
	// Counters are the capture's own counters by kind (Kafka: messages,
	// duplicates, bad_messages, ...).
	Counters map[string]int64 `json:"counters,omitempty"`
	Error    string           `json:"error,omitempty"`
	// EventsPerSecond is the capture rate over the last sample interval.
	EventsPerSecond float64    `json:"events_per_second"`
	Appends         int64      `json:"appends"`
	Events          int64      `json:"events"`
	LastAppend      *time.Time `json:"last_append,omitempty"`
	LastCommit      *time.Time `json:"last_commit,omitempty"`
	LagHistory      []float64  `json:"lag_history"`
	RateHistory     []float64  `json:"rate_history"`
}

// LogStatus is the durable log.
type LogStatus struct {
	Head        uint64 `json:"head"`
	Tail        uint64 `json:"tail"`
	Uncommitted uint64 `json:"uncommitted"`
	Bytes       int64  `json:"bytes"`
	DiskBytes   int64  `json:"disk_bytes"`
}

// SinkStatus is one sink.
type SinkStatus struct {
	Name            string     `json:"name"`
	Cursor          uint64     `json:"cursor"`
	LagEvents       uint64     `json:"lag_events"`
	LagSeconds      float64    `json:"lag_seconds"`
	Writable        bool       `json:"writable"`
	Writes          int64      `json:"writes"`
	Failures        int64      `json:"failures"`
	Events          int64      `json:"events"`
	EventsPerSecond float64    `json:"events_per_second"`
	LastWrite       *time.Time `json:"last_write,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	LastErrorCause  string     `json:"last_error_cause,omitempty"`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
	// FailingSince is set while the last write attempt failed: the time of
	// the first failure since the last success.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// For sinks that deliver after Write (S3 uploads): Durable is the
	// sequence up to which the target holds every change (lag is measured
	// to it), BufferedBytes what waits locally (the spool), Retries the
	// failed deliveries so far, ConsecutiveFailures those since the last
	// success, LastDelivered the last success.
	Durable       *uint64 `json:"durable,omitempty"`
	BufferedBytes int64   `json:"buffered_bytes,omitempty"`
	Retries       int64   `json:"retries,omitempty"`
	// Throttled counts the attempts the target refused to slow us down
	// (429, 503); each was retried with backoff.
	Throttled           int64      `json:"throttled,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures,omitempty"`
	LastDelivered       *time.Time `json:"last_delivered,omitempty"`
	// HoldingSeconds is how long the sink holds data before delivery by
	// design (S3 max_age): readiness allows it on top of ready_max_lag.
	HoldingSeconds float64   `json:"holding_seconds,omitempty"`
	RateHistory    []float64 `json:"rate_history"`
	LagHistory     []float64 `json:"lag_history"`
}

// TableStatus is one source table.
type TableStatus struct {
	Table string `json:"table"`
	// Captured counts appended events by operation (insert, update,
	// delete, read, ddl) since odsync started.
	Captured        map[string]int64 `json:"captured"`
	Events          int64            `json:"events"`
	Bytes           int64            `json:"bytes"`
	EventsPerSecond float64          `json:"events_per_second"`
	// LagSeconds is the worst per-sink lag of the table.
	LagSeconds float64 `json:"lag_seconds"`
	LagEvents  int64   `json:"lag_events"`
	// RawValues counts the table's values kept in _raw, summed over the
	// sinks (per sink in Sinks).
	RawValues   int64             `json:"raw_values"`
	Sinks       []TableSinkStatus `json:"sinks"`
	RateHistory []float64         `json:"rate_history"`
	LagHistory  []float64         `json:"lag_history"`
	Snapshot    *SnapshotStatus   `json:"snapshot,omitempty"`
}

// TableSinkStatus is one table in one sink.
type TableSinkStatus struct {
	Sink       string  `json:"sink"`
	Written    int64   `json:"written"`
	LagEvents  int64   `json:"lag_events"`
	LagSeconds float64 `json:"lag_seconds"`
	// RawValues counts the table's values the sink kept in the _raw
	// column (NULL in their typed column) since odsync started.
	RawValues int64 `json:"raw_values"`
}

// SnapshotStatus is a table's snapshot progress.
type SnapshotStatus struct {
	RowsRead    int64 `json:"rows_read"`
	RowsTotal   int64 `json:"rows_total"` // estimate; 0 unknown
	ChunksDone  int64 `json:"chunks_done"`
	ChunksTotal int64 `json:"chunks_total"`
	Done        bool  `json:"done"`
	// Percent is 0..100, or -1 when the total is unknown.
	Percent float64 `json:"percent"`
}

// ErrorCount counts errors of one component and cause.
type ErrorCount struct {
	Component string `json:"component"`
	Cause     string `json:"cause"`
	Count     int64  `json:"count"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Status returns the current status (as of the last sample for lag; live
// counters).
func (t *Telemetry) Status() Status {
	type rawKey struct {
		sink  string
		table event.TableID
	}
	raw := map[rawKey]int64{}
	for _, c := range t.rawCounts() {
		raw[rawKey{c.Sink, c.Source}] += c.Count
	}
	verified := t.verifyList()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &t.st
	s := Status{
		Verify:          verified,
		Version:         t.opts.Version,
		Started:         t.started.UTC(),
		Time:            t.now().UTC(),
		SampleInterval:  t.cfg.SampleInterval.Seconds(),
		Sampled:         st.sampled,
		Stopping:        t.stopping.Load(),
		TableLagPartial: st.tableLagPart,
		Log: LogStatus{Head: st.head, Tail: st.tail, Uncommitted: st.uncommitted,
			Bytes: st.logBytes, DiskBytes: st.diskBytes},
		Sinks:  []SinkStatus{},
		Tables: []TableStatus{},
		Errors: []ErrorCount{},
	}
	src := st.source
	s.Source = SourceStatus{
		Probe: t.opts.SourceName, Connected: src.Connected, SecondsBehind: src.SecondsBehind,
		BytesBehind: src.BytesBehind, MessagesBehind: src.MessagesBehind, WatermarkAge: src.WatermarkAge,
		Position: src.Position, SourcePosition: src.SourcePosition, Error: st.sourceErr,
		EventsPerSecond: st.captureRateH.last(), Appends: st.appends, Events: st.captured,
		LastAppend: timePtr(st.lastAppend), LagHistory: st.sourceLagH.values(), RateHistory: st.captureRateH.values(),
	}
	if t.opts.Source == nil {
		s.Source.Probe = ""
	}
	if f := t.opts.SourceCounters; f != nil {
		s.Source.Counters = f()
	}
	if st.lastCommit > 0 {
		s.Source.LastCommit = timePtr(time.UnixMicro(st.lastCommit))
	}
	for _, name := range st.sinkOrder {
		k := st.sinks[name]
		var failSince *time.Time
		if k.failing {
			failSince = timePtr(k.failSince)
		}
		ss := SinkStatus{FailingSince: failSince,
			Name: k.name, Cursor: k.cursor, LagEvents: k.lagEvents, LagSeconds: k.lagSeconds,
			Writable: !k.failing, Writes: k.writes, Failures: k.failures, Events: k.written,
			EventsPerSecond: k.rate, LastWrite: timePtr(k.lastOK), LastError: k.lastErr,
			LastErrorCause: k.lastCause, LastErrorAt: timePtr(k.lastErrAt),
			RateHistory: k.rateH.values(), LagHistory: k.lagH.values(),
		}
		if k.reports {
			if k.delivers {
				d := k.durable
				ss.Durable, ss.BufferedBytes = &d, k.buffered
			}
			ss.Retries, ss.Throttled = k.asyncRetry, k.throttled
			ss.LastDelivered = timePtr(k.asyncOK)
			ss.HoldingSeconds = k.holding.Seconds()
			if k.asyncFails > 0 {
				ss.Writable = false
				ss.ConsecutiveFailures = k.asyncFails
				if ss.FailingSince == nil || k.asyncSince.Before(*ss.FailingSince) {
					ss.FailingSince = timePtr(k.asyncSince)
				}
				ss.LastError, ss.LastErrorCause = k.asyncErr, k.asyncCause
			}
		}
		s.Sinks = append(s.Sinks, ss)
	}
	snaps := map[event.TableID]TableProgress{}
	for _, p := range st.snapshot {
		snaps[p.Table] = p
	}
	for _, ts := range st.tables {
		tb := TableStatus{Table: ts.name, Captured: map[string]int64{}, Bytes: ts.bytes,
			EventsPerSecond: ts.rate, RateHistory: ts.rateH.values(), LagHistory: ts.lagH.values(), Sinks: []TableSinkStatus{}}
		for op := 1; op < opCount; op++ {
			if n := ts.captured[op]; n > 0 {
				tb.Captured[opNames[op]] = n
			}
			tb.Events += ts.captured[op]
		}
		for _, name := range st.sinkOrder {
			k := st.sinks[name]
			l := ts.lag[name]
			var w int64
			if wt := k.tables[ts.id]; wt != nil {
				for _, n := range wt.written {
					w += n
				}
			}
			tb.Sinks = append(tb.Sinks, TableSinkStatus{Sink: name, Written: w, LagEvents: l.events, LagSeconds: l.seconds,
				RawValues: raw[rawKey{name, ts.id}]})
			tb.LagSeconds = max(tb.LagSeconds, l.seconds)
			tb.LagEvents = max(tb.LagEvents, l.events)
			tb.RawValues += raw[rawKey{name, ts.id}]
		}
		if p, ok := snaps[ts.id]; ok {
			tb.Snapshot = snapshotStatus(p)
			delete(snaps, ts.id)
		}
		s.Tables = append(s.Tables, tb)
	}
	// Tables planned for a snapshot that have no events yet.
	for id, p := range snaps {
		s.Tables = append(s.Tables, TableStatus{Table: id.String(), Captured: map[string]int64{},
			Sinks: []TableSinkStatus{}, RateHistory: []float64{}, LagHistory: []float64{}, Snapshot: snapshotStatus(p)})
	}
	sort.Slice(s.Tables, func(i, j int) bool { return s.Tables[i].Table < s.Tables[j].Table })
	for k, n := range st.errs {
		s.Errors = append(s.Errors, ErrorCount{Component: k.component, Cause: k.cause, Count: n})
	}
	sort.Slice(s.Errors, func(i, j int) bool {
		if s.Errors[i].Component != s.Errors[j].Component {
			return s.Errors[i].Component < s.Errors[j].Component
		}
		return s.Errors[i].Cause < s.Errors[j].Cause
	})
	return s
}

func snapshotStatus(p TableProgress) *SnapshotStatus {
	s := &SnapshotStatus{RowsRead: p.RowsRead, RowsTotal: p.RowsTotal, ChunksDone: p.ChunksDone,
		ChunksTotal: p.ChunksTotal, Done: p.Done, Percent: -1}
	switch {
	case p.Done:
		s.Percent = 100
	case p.RowsTotal > 0:
		s.Percent = min(99.9, 100*float64(p.RowsRead)/float64(p.RowsTotal))
	case p.ChunksTotal > 0:
		s.Percent = min(99.9, 100*float64(p.ChunksDone)/float64(p.ChunksTotal))
	}
	return s
}
