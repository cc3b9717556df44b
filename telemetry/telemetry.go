// Package telemetry is odsync's observability: OpenTelemetry metrics (served
// for Prometheus and optionally exported over OTLP), traces of sink flushes
// and snapshot chunks, source and sink lag sampled independently of traffic,
// a status model with per-table throughput and lag history for the status
// page, and a log handler that redacts secrets.
//
// *Telemetry implements pipeline.Observer. Its hot path (Appended,
// SinkWrite) runs once per log append or sink batch: it walks the batch's
// events once, bumping plain counters keyed by table and operation under
// one mutex, with no allocation per event; the OTel instruments read those
// counters when metrics are collected.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink"
)

// Options are what New needs besides the config.
type Options struct {
	// Log is the open offsets log (required for lag and log size).
	Log Log
	// Source probes source lag without traffic (optional; without it source
	// lag is the event-time lag at the last append and the source counts as
	// connected).
	Source SourceProbe
	// SourceName names the probe on the status page ("mysql", "kafka").
	SourceName string
	// Snapshot reports snapshot progress (optional; without it the status
	// shows rows read per table, counted from snapshot-read events).
	Snapshot SnapshotProbe
	// Redactor hides secrets in error texts kept for the status page and
	// spans (nil: a Redactor without secrets, which still hides DSN passwords).
	Redactor *Redactor
	// Logger receives telemetry's own warnings (nil: discard).
	Logger *slog.Logger
	// Version is reported as service.version and on the status page.
	Version string
	// Reader is an extra metric reader (tests: sdkmetric.NewManualReader()).
	Reader sdkmetric.Reader
	// SpanExporter receives spans in addition to OTLP (tests: an in-memory
	// exporter); setting it turns tracing on.
	SpanExporter sdktrace.SpanExporter
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// SinkHealth reports, per sink name, the state of sinks whose writes
	// reach the target after Write returned (sink.HealthReporter, e.g. S3
	// uploads): their lag is measured to what the target holds, and their
	// failures count against readiness like failed writes.
	SinkHealth map[string]sink.HealthReporter
	// SourceCounters reports the capture's own counters by kind (Kafka:
	// messages, duplicates — TiCDC replays and re-reads dropped —,
	// bad_messages sent to the dead-letter destination, ...); optional.
	// Exposed as odsync_source_messages_total{kind} and on /status.
	SourceCounters func() map[string]int64
	// Sinks names the configured sinks. When set, log cursors of other
	// names (a sink's private holds, such as the MaxCompute sink's
	// snapshot hold) are not reported as sinks.
	Sinks []string
	// RawCounts reports, per sink, source table, ODS table and column, the
	// values the sinks kept in the _raw column because they did not fit
	// their typed column (optional; odsync adapts schema.Mapper.RawCounts).
	// It must not call back into Telemetry.
	RawCounts func() []RawCount
}

// RawCount is how many values of one source table one sink kept in _raw
// for one ODS table column.
type RawCount struct {
	Sink   string
	Source event.TableID
	Table  string // the ODS table
	Column string
	Count  int64
}

// rawCounts calls Options.RawCounts (nil without it).
func (t *Telemetry) rawCounts() []RawCount {
	if t.opts.RawCounts == nil {
		return nil
	}
	return t.opts.RawCounts()
}

// Telemetry records odsync's progress. Create it with New, call Run in a
// goroutine, pass it as pipeline.Options.Observer, serve MetricsHandler and
// Status (package admin), and call Shutdown at exit.
type Telemetry struct {
	cfg      Config
	opts     Options
	now      func() time.Time
	started  time.Time
	lg       *slog.Logger
	redact   *Redactor
	stopping atomic.Bool
	verify   verifyResults // scheduled verification (verify.go)

	mp       *sdkmetric.MeterProvider
	tp       *sdktrace.TracerProvider // nil when tracing is off
	tracer   trace.Tracer
	promReg  *prometheus.Registry
	handler  http.Handler
	shutdown []func(context.Context) error

	appendDur, flushDur, chunkDur metric.Float64Histogram
	appendEvents, batchEvents     metric.Int64Histogram
	batchBytes                    metric.Int64Histogram
	retries, errorsTotal          metric.Int64Counter
	flushOK, flushErr             attribute.Set // result attribute sets without sink
	sampleMu                      sync.Mutex    // one Sample at a time
	chunksReported                atomic.Bool   // the capture reports snapshot chunks itself
	baselineOnce                  sync.Once
	mu                            sync.Mutex
	st                            state
}

// state is everything behind Telemetry.mu.
type state struct {
	gen        uint64
	tables     map[event.TableID]*tableStats
	touched    []*tableStats
	sinks      map[string]*sinkStats
	sinkOrder  []string
	appends    int64
	lastAppend time.Time
	lastCommit int64   // newest commit time appended (µs)
	appendLag  float64 // event-time lag at the last append with events (s)
	errs       map[errKey]int64

	sampled      bool
	lastSample   time.Time
	source       SourceLag
	sourceErr    string
	sourceProbed bool
	snapshot     []TableProgress
	head, tail   uint64
	logBytes     int64
	diskBytes    int64
	uncommitted  uint64
	sourceLagH   *ring
	captureRateH *ring
	lastCaptured int64
	captured     int64
	tableLagPart bool // per-table lag misses part of the backlog found at start
}

type errKey struct{ component, cause string }

const opCount = int(event.OpDDL) + 1

var opNames = [opCount]string{"unknown", "insert", "update", "delete", "read", "ddl"}

type tableStats struct {
	id       event.TableID
	name     string
	captured [opCount]int64
	bytes    int64
	attrs    [opCount]attribute.Set // table, op
	tattr    attribute.Set          // table
	gen      uint64
	cur      mark
	curReads int64
	marks    []mark // appends not yet acknowledged by every sink, oldest first
	rateH    *ring
	lagH     *ring
	lastTot  int64
	rate     float64
	lag      map[string]tableLag // per sink, from the last sample
}

type tableLag struct {
	events  int64
	seconds float64
}

// mark summarizes one append's events of one table.
type mark struct {
	first, last uint64
	count       int64
	commit      int64 // oldest commit time among them (µs)
}

type sinkStats struct {
	name      string
	attr      attribute.Set
	tables    map[event.TableID]*sinkTable
	writes    int64
	failures  int64
	written   int64
	cursor    uint64
	lastOK    time.Time
	lastErr   string
	lastCause string
	lastErrAt time.Time
	failing   bool      // the last attempt failed
	failSince time.Time // first failure since the last success
	// From a sink.HealthReporter (async delivery to the target).
	reports    bool
	delivers   bool
	durable    uint64
	buffered   int64
	asyncFails int
	asyncSince time.Time
	asyncErr   string
	asyncCause string
	asyncOK    time.Time
	asyncRetry int64
	throttled  int64 // attempts the target refused to slow us down (429, 503)
	holding    time.Duration
	lagEvents  uint64
	lagSeconds float64
	rateH      *ring
	lagH       *ring
	lastTot    int64
	rate       float64
}

type sinkTable struct {
	written [opCount]int64
	bytes   int64
	attrs   [opCount]attribute.Set // sink, table, op
	battr   attribute.Set          // sink, table
}

// New sets up the meter (Prometheus registry, optional OTLP) and tracer
// providers. cfg must have been defaulted and validated.
func New(ctx context.Context, cfg Config, opts Options) (*Telemetry, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("telemetry"); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		return nil, errors.New("telemetry: Options.Log is required")
	}
	t := &Telemetry{cfg: cfg, opts: opts, now: opts.Now, lg: opts.Logger, redact: opts.Redactor}
	if t.now == nil {
		t.now = time.Now
	}
	if t.lg == nil {
		t.lg = slog.New(slog.DiscardHandler)
	}
	if t.redact == nil {
		t.redact = NewRedactor()
	}
	t.started = t.now()
	t.st.tables = map[event.TableID]*tableStats{}
	t.st.sinks = map[string]*sinkStats{}
	t.st.errs = map[errKey]int64{}
	t.st.sourceLagH = newRing(cfg.History)
	t.st.captureRateH = newRing(cfg.History)
	t.st.source = SourceLag{BytesBehind: -1, MessagesBehind: -1, WatermarkAge: -1}

	res := resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", opts.Version))

	// Metrics: a private Prometheus registry (no global state), OTLP if configured.
	t.promReg = prometheus.NewRegistry()
	t.promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExp, err := otelprom.New(otelprom.WithRegisterer(t.promReg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}
	if opts.Reader != nil {
		mopts = append(mopts, sdkmetric.WithReader(opts.Reader))
	}
	if cfg.OTLP.Endpoint != "" && *cfg.OTLP.Metrics {
		exp, err := newOTLPMetricExporter(ctx, cfg.OTLP)
		if err != nil {
			return nil, err
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp,
			sdkmetric.WithInterval(cfg.OTLP.Interval), sdkmetric.WithTimeout(cfg.OTLP.Timeout))))
	}
	t.mp = sdkmetric.NewMeterProvider(mopts...)
	t.shutdown = append(t.shutdown, t.mp.Shutdown)
	t.handler = promhttp.HandlerFor(t.promReg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})

	// Traces: only when exported somewhere.
	var topts []sdktrace.TracerProviderOption
	if cfg.OTLP.Endpoint != "" && cfg.OTLP.Traces {
		exp, err := newOTLPTraceExporter(ctx, cfg.OTLP)
		if err != nil {
			return nil, err
		}
		topts = append(topts, sdktrace.WithBatcher(exp, sdktrace.WithExportTimeout(cfg.OTLP.Timeout)))
	}
	if opts.SpanExporter != nil {
		topts = append(topts, sdktrace.WithSyncer(opts.SpanExporter))
	}
	if len(topts) > 0 {
		t.tp = sdktrace.NewTracerProvider(append(topts, sdktrace.WithResource(res))...)
		t.tracer = t.tp.Tracer("github.com/odsync/odsync")
		t.shutdown = append(t.shutdown, t.tp.Shutdown)
	} else {
		t.tracer = tracenoop.NewTracerProvider().Tracer("")
	}
	if err := t.instruments(); err != nil {
		_ = t.Shutdown(context.Background())
		return nil, err
	}
	return t, nil
}

// MetricsHandler serves the Prometheus text exposition of every metric.
func (t *Telemetry) MetricsHandler() http.Handler { return t.handler }

// MeterProvider is the provider other components may create instruments from.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Tracer returns odsync's tracer (a no-op one when tracing is off).
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Redactor returns the redactor used for error texts.
func (t *Telemetry) Redactor() *Redactor { return t.redact }

// SetStopping marks the process as shutting down (the status says so and
// readiness fails).
func (t *Telemetry) SetStopping() { t.stopping.Store(true) }

// Stopping reports whether SetStopping was called.
func (t *Telemetry) Stopping() bool { return t.stopping.Load() }

// Shutdown flushes and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		if err := t.shutdown[i](ctx); err != nil && !errors.Is(err, sdkmetric.ErrReaderShutdown) {
			errs = append(errs, err)
		}
	}
	t.shutdown = nil
	return errors.Join(errs...)
}

// Run samples lag, log size and throughput every Config.SampleInterval
// until ctx is done. It returns nil.
func (t *Telemetry) Run(ctx context.Context) error {
	t.baselineOnce.Do(func() { go t.scanBaseline(ctx) })
	t.Sample(ctx)
	tick := time.NewTicker(t.cfg.SampleInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.Sample(ctx)
		}
	}
}

func (t *Telemetry) table(id event.TableID) *tableStats {
	ts := t.st.tables[id]
	if ts == nil {
		ts = &tableStats{id: id, name: id.String(), rateH: newRing(t.cfg.History), lagH: newRing(t.cfg.History)}
		for op := range opCount {
			ts.attrs[op] = attribute.NewSet(attribute.String("table", ts.name), attribute.String("op", opNames[op]))
		}
		ts.tattr = attribute.NewSet(attribute.String("table", ts.name))
		id = event.TableID{DB: strings.Clone(id.DB), Table: strings.Clone(id.Table)}
		ts.id = id
		t.st.tables[id] = ts
	}
	return ts
}

func (t *Telemetry) sink(name string) *sinkStats {
	s := t.st.sinks[name]
	if s == nil {
		s = &sinkStats{name: name, attr: attribute.NewSet(attribute.String("sink", name)),
			tables: map[event.TableID]*sinkTable{}, rateH: newRing(t.cfg.History), lagH: newRing(t.cfg.History)}
		t.st.sinks[name] = s
		t.st.sinkOrder = append(t.st.sinkOrder, name)
		sort.Strings(t.st.sinkOrder)
	}
	return s
}

func (s *sinkStats) table(id event.TableID) *sinkTable {
	st := s.tables[id]
	if st == nil {
		st = &sinkTable{}
		name := id.String()
		for op := range opCount {
			st.attrs[op] = attribute.NewSet(attribute.String("sink", s.name), attribute.String("table", name), attribute.String("op", opNames[op]))
		}
		st.battr = attribute.NewSet(attribute.String("sink", s.name), attribute.String("table", name))
		// Own copies: a sink batch's strings share (and would pin) its
		// decoder's chunks.
		s.tables[event.TableID{DB: strings.Clone(id.DB), Table: strings.Clone(id.Table)}] = st
	}
	return st
}

func opIndex(op event.Op) int {
	if int(op) < opCount {
		return int(op)
	}
	return 0
}

// maxMarks bounds the append summaries kept per table (4 KiB); beyond it
// adjacent ones are merged: a table's lag then stays conservative (its
// oldest commit time is kept) but coarser while a sink lags far behind.
const maxMarks = 128

func (ts *tableStats) pushMark(m mark) {
	if n := len(ts.marks); n > 0 && ts.marks[n-1].last >= m.first {
		// Out of order (a baseline scan): keep it sorted by merging.
		last := &ts.marks[n-1]
		last.last = max(last.last, m.last)
		last.count += m.count
		last.commit = minCommit(last.commit, m.commit)
		return
	}
	if len(ts.marks) >= maxMarks {
		ts.compact()
	}
	ts.marks = append(ts.marks, m)
}

// compact halves the marks by merging neighbours.
func (ts *tableStats) compact() {
	half := ts.marks[:0]
	for i := 0; i+1 < len(ts.marks); i += 2 {
		a, b := ts.marks[i], ts.marks[i+1]
		half = append(half, mark{first: a.first, last: b.last, count: a.count + b.count, commit: minCommit(a.commit, b.commit)})
	}
	if len(ts.marks)%2 == 1 {
		half = append(half, ts.marks[len(ts.marks)-1])
	}
	ts.marks = half
}

// minCommit is the older of two commit times, 0 meaning unknown.
func minCommit(a, b int64) int64 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	return min(a, b)
}

// pending returns how many of the table's events are above cursor and the
// commit time of the oldest of them (0 when none).
func (ts *tableStats) pending(cursor uint64) (n int64, oldest int64) {
	for i := range ts.marks {
		m := &ts.marks[i]
		if m.last <= cursor {
			continue
		}
		oldest = minCommit(oldest, m.commit)
		if m.first > cursor {
			n += m.count
		} else {
			part := m.count * int64(m.last-cursor) / int64(m.last-m.first+1)
			n += max(part, 1)
		}
	}
	return n, oldest
}

func (ts *tableStats) prune(below uint64) {
	i := 0
	for i < len(ts.marks) && ts.marks[i].last <= below {
		i++
	}
	if i > 0 {
		ts.marks = append(ts.marks[:0], ts.marks[i:]...)
	}
}

// Appended implements pipeline.Observer: it counts the appended events per
// table and operation and remembers, per table, the range and oldest commit
// time of this append for per-table sink lag.
func (t *Telemetry) Appended(events []event.Event, checkpoint []byte, took time.Duration) {
	now := t.now()
	var reads []*tableStats
	t.mu.Lock()
	t.st.gen++
	gen := t.st.gen
	var ts *tableStats
	var newest int64
	for i := range events {
		e := &events[i]
		if ts == nil || ts.id != e.Source {
			ts = t.table(e.Source)
		}
		op := opIndex(e.Op)
		ts.captured[op]++
		ts.bytes += e.ApproxSize()
		if ts.gen != gen {
			ts.gen = gen
			ts.cur = mark{first: e.Seq, last: e.Seq, commit: e.CommitTime}
			ts.curReads = 0
			t.st.touched = append(t.st.touched, ts)
		}
		ts.cur.last = e.Seq
		ts.cur.count++
		if op == int(event.OpRead) {
			ts.curReads++
		}
		if e.CommitTime != 0 && (ts.cur.commit == 0 || e.CommitTime < ts.cur.commit) {
			ts.cur.commit = e.CommitTime
		}
		newest = max(newest, e.CommitTime)
	}
	traceChunks := t.tp != nil && !t.chunksReported.Load()
	for _, ts := range t.st.touched {
		ts.pushMark(ts.cur)
		if traceChunks && ts.curReads > 0 {
			reads = append(reads, ts)
		}
	}
	t.st.touched = t.st.touched[:0]
	t.st.appends++
	t.st.captured += int64(len(events))
	t.st.lastAppend = now
	if newest > 0 {
		t.st.lastCommit = max(t.st.lastCommit, newest)
		t.st.appendLag = max(0, float64(now.UnixMicro()-newest)/1e6)
	}
	var chunks []chunkSpan
	for _, ts := range reads {
		chunks = append(chunks, chunkSpan{name: ts.name, first: ts.cur.first, last: ts.cur.last, rows: ts.curReads})
	}
	t.mu.Unlock()
	ctx := context.Background()
	if len(events) > 0 {
		t.appendDur.Record(ctx, took.Seconds())
		t.appendEvents.Record(ctx, int64(len(events)))
	}
	for _, c := range chunks {
		_, sp := t.tracer.Start(ctx, "odsync.snapshot.chunk", trace.WithTimestamp(now.Add(-took)),
			trace.WithAttributes(attribute.String("table", c.name), attribute.Int64("rows", c.rows),
				attribute.Int64("first_seq", int64(c.first)), attribute.Int64("last_seq", int64(c.last))))
		sp.End(trace.WithTimestamp(now))
	}
}

type chunkSpan struct {
	name        string
	first, last uint64
	rows        int64
}

// SnapshotChunk records one snapshot chunk read by a capture: a duration
// histogram per table and, with tracing on, a span. A capture that calls it
// replaces the chunk spans otherwise derived from appends of snapshot reads.
func (t *Telemetry) SnapshotChunk(table event.TableID, rows int, start time.Time, err error) {
	t.chunksReported.Store(true)
	now := t.now()
	name := table.String()
	ctx := context.Background()
	t.chunkDur.Record(ctx, now.Sub(start).Seconds(), metric.WithAttributes(attribute.String("table", name)))
	_, sp := t.tracer.Start(ctx, "odsync.snapshot.chunk", trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("table", name), attribute.Int("rows", rows)))
	if err != nil {
		sp.SetAttributes(attribute.String("cause", Cause(err)))
		sp.SetStatus(codes.Error, t.redact.Redact(err.Error()))
		t.Error("snapshot", err)
	}
	sp.End(trace.WithTimestamp(now))
}

// SinkWrite implements pipeline.Observer: it counts written events per
// sink, table and operation, records flush latency and batch size, and
// classifies failures by cause.
func (t *Telemetry) SinkWrite(sinkName string, b *sink.Batch, took time.Duration, err error) {
	now := t.now()
	if err != nil && errors.Is(err, context.Canceled) {
		return // the pipeline is stopping
	}
	var bytes int64
	var cause, msg string
	if err != nil {
		cause = Cause(err)
		msg = t.redact.Redact(err.Error())
	}
	t.mu.Lock()
	s := t.sink(sinkName)
	s.writes++
	if err == nil {
		var st *sinkTable
		var id event.TableID
		for i := range b.Events {
			e := &b.Events[i]
			if st == nil || id != e.Source {
				id = e.Source
				st = s.table(id)
			}
			sz := e.ApproxSize()
			st.written[opIndex(e.Op)]++
			st.bytes += sz
			bytes += sz
		}
		s.written += int64(len(b.Events))
		s.lastOK = now
		s.failing = false
	} else {
		s.failures++
		if !s.failing {
			s.failSince = now
		}
		s.failing = true
		s.lastErr, s.lastCause, s.lastErrAt = msg, cause, now
		t.st.errs[errKey{"sink", cause}]++
	}
	attr := s.attr
	t.mu.Unlock()

	ctx := context.Background()
	result := "ok"
	if err != nil {
		result = "error"
		permanent := errors.Is(err, event.ErrPermanent)
		t.errorsTotal.Add(ctx, 1, metric.WithAttributes(attribute.String("component", "sink"), attribute.String("cause", cause)))
		if !permanent {
			t.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("sink", sinkName), attribute.String("cause", cause)))
		}
	} else {
		t.batchEvents.Record(ctx, int64(len(b.Events)), metric.WithAttributeSet(attr))
		t.batchBytes.Record(ctx, bytes, metric.WithAttributeSet(attr))
	}
	t.flushDur.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("sink", sinkName), attribute.String("result", result)))
	if t.tp != nil {
		_, sp := t.tracer.Start(ctx, "odsync.sink.flush", trace.WithTimestamp(now.Add(-took)),
			trace.WithAttributes(attribute.String("sink", sinkName), attribute.Int64("first_seq", int64(b.First)),
				attribute.Int64("last_seq", int64(b.Last)), attribute.Int("events", len(b.Events)),
				attribute.Int64("bytes", bytes), attribute.String("result", result)))
		if err != nil {
			sp.SetAttributes(attribute.String("cause", cause))
			sp.SetStatus(codes.Error, msg)
		}
		sp.End(trace.WithTimestamp(now))
	}
}

// SinkAcked implements pipeline.Observer.
func (t *Telemetry) SinkAcked(sinkName string, cursor uint64) {
	t.mu.Lock()
	s := t.sink(sinkName)
	s.cursor = max(s.cursor, cursor)
	t.mu.Unlock()
}

// Error counts an error of a component ("capture", "sink", "log",
// "snapshot", "source_probe") by its cause (see Cause).
func (t *Telemetry) Error(component string, err error) {
	if err == nil {
		return
	}
	cause := Cause(err)
	t.mu.Lock()
	t.st.errs[errKey{component, cause}]++
	t.mu.Unlock()
	t.errorsTotal.Add(context.Background(), 1, metric.WithAttributes(attribute.String("component", component), attribute.String("cause", cause)))
}

// sinkCursors returns the log's cursors of configured sinks (all of them
// when Options.Sinks is empty).
func (t *Telemetry) sinkCursors() map[string]uint64 {
	cursors := t.opts.Log.Cursors()
	if len(t.opts.Sinks) == 0 {
		return cursors
	}
	out := make(map[string]uint64, len(t.opts.Sinks))
	for _, n := range t.opts.Sinks {
		if c, ok := cursors[n]; ok {
			out[n] = c
		}
	}
	return out
}
