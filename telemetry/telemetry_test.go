package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/sink/local"
	"github.com/odsync/odsync/telemetry"
)

var (
	orders    = event.TableID{DB: "shop", Table: "orders"}
	customers = event.TableID{DB: "shop", Table: "customers"}
)

func table(id event.TableID) *event.Table {
	return (&event.Table{ID: id, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt},
		{Name: "name", Type: event.TypeVarchar, Length: 64, Nullable: true, Charset: "utf8mb4"},
	}, Key: []int{0}}).Seal()
}

func row(id int64, name string) []event.Value {
	return []event.Value{event.Int(id), event.String(name)}
}

// feedSource is a capture that emits the transactions it is fed.
type feedSource struct {
	txns chan []event.Event
	n    int
}

func (s *feedSource) Run(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case evs := <-s.txns:
			s.n++
			if err := emit(ctx, evs, []byte(strconv.Itoa(s.n))); err != nil {
				return nil
			}
		}
	}
}

// workload returns n transactions: per transaction two inserts and an
// update on shop.orders, an insert and a delete on shop.customers.
func workload(start, n int, commit time.Time) [][]event.Event {
	to, tc := table(orders), table(customers)
	var out [][]event.Event
	for i := range n {
		id := int64(start + i)
		ct := commit.UnixMicro()
		txn := []event.Event{
			{Op: event.OpInsert, Source: orders, Table: to, After: row(2*id, "a"), CommitTime: ct},
			{Op: event.OpInsert, Source: orders, Table: to, After: row(2*id+1, "b"), CommitTime: ct},
			{Op: event.OpUpdate, Source: orders, Table: to, Before: row(2*id, "a"), After: row(2*id, "a2"), CommitTime: ct},
			{Op: event.OpInsert, Source: customers, Table: tc, After: row(id, "c"), CommitTime: ct},
			{Op: event.OpDelete, Source: customers, Table: tc, Before: row(id, "c"), CommitTime: ct, TxnEnd: true},
		}
		for j := range txn {
			txn[j].Pos = event.Position{File: "binlog.000001", Offset: uint64(1000 + i)}
		}
		out = append(out, txn)
	}
	return out
}

// sumInt returns the sum of an int64 sum/gauge metric's points whose
// attributes include want.
func sumInt(t *testing.T, rm *metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	var total int64
	found := false
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			v, ok := set.Value(kv.Key)
			if !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += p.Value
						found = true
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += p.Value
						found = true
					}
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += p.Sum
						found = true
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += int64(p.Count)
						found = true
					}
				}
			default:
				t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
		}
	}
	return total, found
}

func gaugeFloat(rm *metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (float64, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
				for _, p := range g.DataPoints {
					all := true
					for _, kv := range want {
						v, ok := p.Attributes.Value(kv.Key)
						all = all && ok && v == kv.Value
					}
					if all {
						return p.Value, true
					}
				}
			}
		}
	}
	return 0, false
}

func openLog(t *testing.T) *offsets.Log {
	t.Helper()
	l, err := offsets.Open(t.TempDir(), offsets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsMoveUnderLoad runs the real pipeline (log, local sink) with
// telemetry as its Observer and reads the metrics through an in-process
// ManualReader: every metric the issue lists exists, and counters move
// with load.
func TestMetricsMoveUnderLoad(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := openLog(t)
	mapper, err := schema.New(schema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := local.New(local.Config{Dir: t.TempDir(), NoSync: true}, mapper)
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(ctx, telemetry.Config{SampleInterval: 10 * time.Minute}, telemetry.Options{
		Log: log, Reader: reader, SpanExporter: spans, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	src := &feedSource{txns: make(chan []event.Event)}
	p := pipeline.New(log, src, []pipeline.SinkSpec{{Name: "files", Sink: sk,
		Policy: pipeline.BatchPolicy{MaxAge: 20 * time.Millisecond, MaxRows: 40}}},
		pipeline.Options{Observer: tel, GCInterval: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	feed := func(txns [][]event.Event) {
		for _, txn := range txns {
			src.txns <- txn
		}
	}
	caughtUp := func(head uint64) func() bool {
		return func() bool {
			c, _ := log.Cursor("files")
			return log.Head() == head && c == head
		}
	}
	commit := time.Now().Add(-2 * time.Second)
	feed(workload(0, 30, commit))
	waitFor(t, "150 events written", caughtUp(150))
	tel.Sample(ctx)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	kv := attribute.String
	checks := []struct {
		name string
		want int64
		attr []attribute.KeyValue
	}{
		{"odsync.events.captured", 60, []attribute.KeyValue{kv("table", "shop.orders"), kv("op", "insert")}},
		{"odsync.events.captured", 30, []attribute.KeyValue{kv("table", "shop.orders"), kv("op", "update")}},
		{"odsync.events.captured", 30, []attribute.KeyValue{kv("table", "shop.customers"), kv("op", "delete")}},
		{"odsync.events.written", 60, []attribute.KeyValue{kv("sink", "files"), kv("table", "shop.orders"), kv("op", "insert")}},
		{"odsync.events.written", 30, []attribute.KeyValue{kv("sink", "files"), kv("table", "shop.customers"), kv("op", "insert")}},
		{"odsync.log.append.events", 150, nil}, // histogram sum: every event appended once
		{"odsync.sink.batch.events", 150, []attribute.KeyValue{kv("sink", "files")}},
		{"odsync.log.head", 150, nil},
		{"odsync.sink.cursor", 150, []attribute.KeyValue{kv("sink", "files")}},
		{"odsync.sink.lag.events", 0, []attribute.KeyValue{kv("sink", "files")}},
		{"odsync.sink.table.lag.events", 0, []attribute.KeyValue{kv("sink", "files"), kv("table", "shop.orders")}},
	}
	for _, c := range checks {
		got, ok := sumInt(t, &rm, c.name, c.attr...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %d (found %v), want %d", c.name, c.attr, got, ok, c.want)
		}
	}
	for _, name := range []string{"odsync.captured.size", "odsync.written.size", "odsync.log.disk.size"} {
		if n, ok := sumInt(t, &rm, name); !ok || n <= 0 {
			t.Errorf("%s = %d (found %v), want > 0", name, n, ok)
		}
	}
	// Histograms of latency: one point per flush attempt.
	if n, ok := sumInt(t, &rm, "odsync.sink.flush.duration", kv("sink", "files"), kv("result", "ok")); !ok || n < 1 {
		t.Errorf("flush duration histogram count = %d", n)
	}
	if n, ok := sumInt(t, &rm, "odsync.log.append.duration"); !ok || n < 1 {
		t.Errorf("append duration histogram count = %d", n)
	}
	// Without a source probe the source counts as connected.
	if n, ok := sumInt(t, &rm, "odsync.source.connected"); !ok || n != 1 {
		t.Errorf("source connected = %d, %v", n, ok)
	}
	if lag, ok := gaugeFloat(&rm, "odsync.source.lag"); !ok || lag < 1 {
		t.Errorf("source lag (event-time at last append) = %v, %v; want >= 1s (commits were 2s old)", lag, ok)
	}

	// More load: the counters move.
	feed(workload(30, 10, time.Now()))
	waitFor(t, "200 events written", caughtUp(200))
	tel.Sample(ctx)
	var rm2 metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm2); err != nil {
		t.Fatal(err)
	}
	if n, _ := sumInt(t, &rm2, "odsync.events.captured", kv("table", "shop.orders"), kv("op", "insert")); n != 80 {
		t.Errorf("captured inserts after more load = %d, want 80", n)
	}
	if n, _ := sumInt(t, &rm2, "odsync.events.written", kv("sink", "files")); n != 200 {
		t.Errorf("written after more load = %d, want 200", n)
	}
	if n, _ := sumInt(t, &rm2, "odsync.log.head"); n != 200 {
		t.Errorf("log head = %d, want 200", n)
	}

	// Spans of sink flushes (tracing is on through the span exporter).
	flushes := 0
	for _, s := range spans.GetSpans() {
		if s.Name == "odsync.sink.flush" {
			flushes++
			if !s.EndTime.After(s.StartTime) && s.EndTime != s.StartTime {
				t.Errorf("span ends before it starts: %v..%v", s.StartTime, s.EndTime)
			}
		}
	}
	if flushes == 0 {
		t.Error("no odsync.sink.flush span")
	}

	// The status model.
	st := tel.Status()
	if len(st.Tables) != 2 || st.Tables[0].Table != "shop.customers" || st.Tables[1].Table != "shop.orders" {
		t.Fatalf("status tables = %+v", st.Tables)
	}
	if st.Tables[1].Captured["insert"] != 80 || st.Tables[1].Events != 120 {
		t.Errorf("orders captured = %v (events %d)", st.Tables[1].Captured, st.Tables[1].Events)
	}
	if len(st.Tables[1].RateHistory) != 2 || st.Tables[1].RateHistory[0] <= 0 {
		t.Errorf("orders rate history = %v, want 2 positive points", st.Tables[1].RateHistory)
	}
	if len(st.Sinks) != 1 || !st.Sinks[0].Writable || st.Sinks[0].Events != 200 || st.Sinks[0].Cursor != 200 {
		t.Errorf("sinks = %+v", st.Sinks)
	}
	if st.Log.Head != 200 || !st.Sampled {
		t.Errorf("log = %+v, sampled %v", st.Log, st.Sampled)
	}

	// Prometheus exposition of the same metrics.
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`odsync_events_captured_total{op="insert",table="shop.orders"} 80`,
		`odsync_events_written_total{op="delete",sink="files",table="shop.customers"} 40`,
		`odsync_sink_flush_duration_seconds_bucket{result="ok",sink="files",le="+Inf"}`,
		`odsync_log_append_events_bucket`,
		`odsync_sink_lag_events{sink="files"} 0`,
		`odsync_sink_lag_seconds{sink="files"} 0`,
		`odsync_sink_table_lag_seconds{sink="files",table="shop.orders"} 0`,
		`odsync_source_lag_seconds `,
		`odsync_log_disk_size_bytes `,
		`odsync_log_head 200`,
		`target_info{service_name="odsync",service_version="test"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSinkLagPerTable appends to a real log with a registered cursor and
// checks sink and per-table lag (events and commit-time age) as the cursor
// moves.
func TestSinkLagPerTable(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0.Add(time.Minute)
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Reader: reader, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	if _, err := log.Register("s3"); err != nil {
		t.Fatal(err)
	}
	to, tc := table(orders), table(customers)
	a := []event.Event{
		{Op: event.OpInsert, Source: orders, Table: to, After: row(1, "x"), CommitTime: t0.UnixMicro()},
		{Op: event.OpInsert, Source: orders, Table: to, After: row(2, "x"), CommitTime: t0.UnixMicro()},
		{Op: event.OpInsert, Source: orders, Table: to, After: row(3, "x"), CommitTime: t0.UnixMicro(), TxnEnd: true},
	}
	b := []event.Event{
		{Op: event.OpInsert, Source: customers, Table: tc, After: row(1, "y"), CommitTime: t0.Add(10 * time.Second).UnixMicro()},
		{Op: event.OpDelete, Source: customers, Table: tc, Before: row(1, "y"), CommitTime: t0.Add(10 * time.Second).UnixMicro(), TxnEnd: true},
	}
	for i, evs := range [][]event.Event{a, b} {
		if _, err := log.Append(ctx, evs, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		tel.Appended(evs, []byte{byte(i)}, time.Millisecond)
	}
	tel.Sample(ctx)
	st := tel.Status()
	if len(st.Sinks) != 1 || st.Sinks[0].LagEvents != 5 || st.Sinks[0].LagSeconds != 60 {
		t.Fatalf("sink lag = %+v, want 5 events, 60s", st.Sinks)
	}
	want := map[string][2]float64{"shop.orders": {3, 60}, "shop.customers": {2, 50}}
	for _, tb := range st.Tables {
		w := want[tb.Table]
		if float64(tb.LagEvents) != w[0] || tb.LagSeconds != w[1] {
			t.Errorf("%s lag = %d events %.1fs, want %v", tb.Table, tb.LagEvents, tb.LagSeconds, w)
		}
	}
	// The sink acknowledges the orders: only customers lag.
	if err := log.Ack("s3", 1, 3); err != nil {
		t.Fatal(err)
	}
	tel.SinkAcked("s3", 3)
	now = now.Add(5 * time.Second)
	tel.Sample(ctx)
	st = tel.Status()
	if st.Sinks[0].LagEvents != 2 || st.Sinks[0].LagSeconds != 55 {
		t.Errorf("sink lag after ack = %d events %.1fs, want 2, 55s", st.Sinks[0].LagEvents, st.Sinks[0].LagSeconds)
	}
	want = map[string][2]float64{"shop.orders": {0, 0}, "shop.customers": {2, 55}}
	for _, tb := range st.Tables {
		w := want[tb.Table]
		if float64(tb.LagEvents) != w[0] || tb.LagSeconds != w[1] {
			t.Errorf("after ack: %s lag = %d events %.1fs, want %v", tb.Table, tb.LagEvents, tb.LagSeconds, w)
		}
		if len(tb.LagHistory) != 2 {
			t.Errorf("%s lag history = %v, want 2 points", tb.Table, tb.LagHistory)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	if v, ok := gaugeFloat(&rm, "odsync.sink.table.lag", attribute.String("sink", "s3"), attribute.String("table", "shop.customers")); !ok || v != 55 {
		t.Errorf("odsync.sink.table.lag{customers} = %v, %v; want 55", v, ok)
	}
	if n, ok := sumInt(t, &rm, "odsync.sink.table.lag.events", attribute.String("table", "shop.customers")); !ok || n != 2 {
		t.Errorf("odsync.sink.table.lag.events{customers} = %d, %v; want 2", n, ok)
	}
}

// TestBacklogFromEarlierRun: events appended before telemetry started
// (an earlier run) are dated per table by the start-up scan.
func TestBacklogFromEarlierRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := openLog(t)
	if _, err := log.Register("files"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, txn := range workload(0, 4, old) {
		if _, err := log.Append(ctx, txn, []byte("cp")); err != nil {
			t.Fatal(err)
		}
	}
	tel, err := telemetry.New(ctx, telemetry.Config{SampleInterval: 100 * time.Millisecond}, telemetry.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	go tel.Run(ctx)
	waitFor(t, "backlog dated per table", func() bool {
		for _, tb := range tel.Status().Tables {
			if tb.Table == "shop.orders" && tb.LagEvents == 12 && tb.LagSeconds > 3500 {
				return true
			}
		}
		return false
	})
	st := tel.Status()
	if st.Sinks[0].LagEvents != 20 || st.Sinks[0].LagSeconds < 3500 {
		t.Errorf("sink lag = %+v", st.Sinks[0])
	}
	for _, tb := range st.Tables {
		if tb.Events != 0 {
			t.Errorf("%s: %d events counted as captured by this run", tb.Table, tb.Events)
		}
	}
}

// TestSinkFailures: failed writes are counted by cause, retries only when
// not permanent, the sink is unwritable until a write succeeds, and error
// texts are redacted.
func TestSinkFailures(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewInMemoryExporter()
	const password = "Sup3r-Secret-Pa55"
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Reader: reader, SpanExporter: spans,
		Redactor: telemetry.NewRedactor(password)})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	b := &sink.Batch{First: 1, Last: 2, Events: workload(0, 1, time.Now())[0][:2]}
	tel.SinkWrite("s3", b, 5*time.Millisecond, fmt.Errorf("put s3://bucket/x (key %s): %w", password, syscall.ECONNREFUSED))
	tel.SinkWrite("s3", b, 5*time.Millisecond, fmt.Errorf("dial: %w", syscall.ECONNREFUSED))
	st := tel.Status()
	k := st.Sinks[0]
	if k.Writable || k.Failures != 2 || k.LastErrorCause != telemetry.CauseRefused || k.FailingSince == nil {
		t.Errorf("after failures: %+v", k)
	}
	tel.SinkWrite("s3", b, time.Millisecond, fmt.Errorf("%w: table rejected", sink.ErrPermanent))
	tel.SinkWrite("s3", b, time.Millisecond, nil)
	st = tel.Status()
	if k := st.Sinks[0]; !k.Writable || k.FailingSince != nil || k.Events != 2 {
		t.Errorf("after success: %+v", k)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	kv := attribute.String
	if n, _ := sumInt(t, &rm, "odsync.sink.retries", kv("sink", "s3"), kv("cause", "connection_refused")); n != 2 {
		t.Errorf("retries{connection_refused} = %d, want 2", n)
	}
	if n, _ := sumInt(t, &rm, "odsync.sink.retries", kv("sink", "s3")); n != 2 {
		t.Errorf("retries = %d, want 2 (the permanent error is not retried)", n)
	}
	if n, _ := sumInt(t, &rm, "odsync.errors", kv("component", "sink"), kv("cause", "permanent")); n != 1 {
		t.Errorf("errors{permanent} = %d, want 1", n)
	}
	if n, _ := sumInt(t, &rm, "odsync.sink.flush.duration", kv("result", "error")); n != 3 {
		t.Errorf("flush duration{error} count = %d, want 3", n)
	}
	if len(st.Errors) != 2 {
		t.Errorf("status errors = %+v", st.Errors)
	}
	var all strings.Builder
	fmt.Fprintf(&all, "%+v", st)
	for _, s := range spans.GetSpans() {
		fmt.Fprintf(&all, "%s %s %v", s.Name, s.Status.Description, s.Attributes)
	}
	if strings.Contains(all.String(), password) {
		t.Errorf("the password leaked into status or spans: %s", all.String())
	}
	if !strings.Contains(all.String(), telemetry.Redacted) {
		t.Error("the redacted marker is missing: the error text was not kept")
	}
}

func TestCause(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{context.Canceled, telemetry.CauseCanceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), telemetry.CauseTimeout},
		{fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), telemetry.CauseRefused},
		{fmt.Errorf("write: %w", syscall.ENOSPC), telemetry.CauseDiskFull},
		{fmt.Errorf("open: %w", syscall.EACCES), telemetry.CausePermission},
		{errors.New("Error 1045 (28000): Access denied for user 'odsync'"), telemetry.CauseAuth},
		{errors.New("api error SlowDown: Please reduce your request rate"), telemetry.CauseThrottled},
		{fmt.Errorf("%w: schema rejected", sink.ErrPermanent), telemetry.CausePermanent},
		{io.ErrUnexpectedEOF, telemetry.CauseReset},
		{errors.New("something odd"), telemetry.CauseOther},
		{nil, ""},
	} {
		if got := telemetry.Cause(c.err); got != c.want {
			t.Errorf("Cause(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// BenchmarkAppended measures the observer's cost per log append of a
// 1000-event batch over two tables (reported per event too).
func BenchmarkAppended(b *testing.B) {
	log, err := offsets.Open(b.TempDir(), offsets.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	tel, err := telemetry.New(context.Background(), telemetry.Config{}, telemetry.Options{Log: log})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var evs []event.Event
	for _, txn := range workload(0, 200, time.Now()) {
		evs = append(evs, txn...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range evs {
			evs[j].Seq = uint64(i*len(evs) + j + 1)
		}
		tel.Appended(evs, nil, time.Millisecond)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// BenchmarkSinkWrite measures the observer's cost per written batch of
// 1000 events.
func BenchmarkSinkWrite(b *testing.B) {
	log, err := offsets.Open(b.TempDir(), offsets.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	tel, err := telemetry.New(context.Background(), telemetry.Config{}, telemetry.Options{Log: log})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var evs []event.Event
	for _, txn := range workload(0, 200, time.Now()) {
		evs = append(evs, txn...)
	}
	batch := &sink.Batch{First: 1, Last: uint64(len(evs)), Events: evs}
	b.ReportAllocs()
	for b.Loop() {
		tel.SinkWrite("files", batch, time.Millisecond, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

type snapProbe struct{ p []telemetry.TableProgress }

func (s snapProbe) SnapshotProgress(context.Context) ([]telemetry.TableProgress, error) {
	return s.p, nil
}

// TestSnapshotProgress: without a snapshot probe, snapshot reads are
// counted per table (total unknown) and traced as chunks; with one, its
// totals give percentages, also for tables not read yet.
func TestSnapshotProgress(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, SpanExporter: spans})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	to := table(orders)
	var reads []event.Event
	for i := range 7 {
		reads = append(reads, event.Event{Seq: uint64(i + 1), Op: event.OpRead, Source: orders, Table: to, After: row(int64(i), "r")})
	}
	tel.Appended(reads, nil, 2*time.Millisecond)
	tel.Sample(ctx)
	st := tel.Status()
	if len(st.Tables) != 1 || st.Tables[0].Snapshot == nil || st.Tables[0].Snapshot.RowsRead != 7 || st.Tables[0].Snapshot.Percent != -1 {
		t.Fatalf("snapshot from reads: %+v", st.Tables)
	}
	chunk := false
	for _, s := range spans.GetSpans() {
		if s.Name == "odsync.snapshot.chunk" {
			for _, a := range s.Attributes {
				if a.Key == "rows" && a.Value.AsInt64() == 7 {
					chunk = true
				}
			}
		}
	}
	if !chunk {
		t.Errorf("no snapshot chunk span with rows=7: %v", spans.GetSpans())
	}

	reader := sdkmetric.NewManualReader()
	tel2, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Reader: reader, Snapshot: snapProbe{[]telemetry.TableProgress{
		{Table: orders, RowsRead: 250, RowsTotal: 1000},
		{Table: customers, RowsTotal: 40},
		{Table: event.TableID{DB: "shop", Table: "items"}, RowsRead: 10, RowsTotal: 10, Done: true},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer tel2.Shutdown(ctx)
	tel2.Appended(reads, nil, time.Millisecond)
	tel2.SnapshotChunk(orders, 7, time.Now().Add(-time.Second), nil)
	tel2.Sample(ctx)
	got := map[string]float64{}
	for _, tb := range tel2.Status().Tables {
		if tb.Snapshot != nil {
			got[tb.Table] = tb.Snapshot.Percent
		}
	}
	if got["shop.orders"] != 25 || got["shop.customers"] != 0 || got["shop.items"] != 100 || len(got) != 3 {
		t.Errorf("snapshot percents = %v", got)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	if n, _ := sumInt(t, &rm, "odsync.snapshot.rows.read", attribute.String("table", "shop.orders")); n != 250 {
		t.Errorf("snapshot rows read = %d, want 250", n)
	}
	if n, _ := sumInt(t, &rm, "odsync.snapshot.done", attribute.String("table", "shop.items")); n != 1 {
		t.Errorf("snapshot done{items} = %d, want 1", n)
	}
	if n, _ := sumInt(t, &rm, "odsync.snapshot.chunk.duration", attribute.String("table", "shop.orders")); n != 1 {
		t.Errorf("chunk duration count = %d, want 1", n)
	}
}

// TestRawValuesMetric: values a sink keeps in _raw (here zero dates, the
// default zero_dates: raw) are exposed as odsync_values_raw_total{sink,
// table,column} and per table and sink on /status.
func TestRawValuesMetric(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := openLog(t)
	mapper, err := schema.New(schema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := local.New(local.Config{Dir: t.TempDir(), NoSync: true, Format: "jsonl"}, mapper)
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	tel, err := telemetry.New(ctx, telemetry.Config{SampleInterval: 10 * time.Minute}, telemetry.Options{
		Log: log, Reader: reader, RawCounts: func() []telemetry.RawCount {
			var out []telemetry.RawCount
			for _, c := range mapper.RawCounts() {
				out = append(out, telemetry.RawCount{Sink: "files", Source: c.Source, Table: c.Table, Column: c.Column, Count: c.Count})
			}
			return out
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	src := &feedSource{txns: make(chan []event.Event)}
	p := pipeline.New(log, src, []pipeline.SinkSpec{{Name: "files", Sink: sk,
		Policy: pipeline.BatchPolicy{MaxAge: 20 * time.Millisecond, MaxRows: 40}}},
		pipeline.Options{Observer: tel, GCInterval: 20 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	id := event.TableID{DB: "shop", Table: "events"}
	tb := (&event.Table{ID: id, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "d", Type: event.TypeDate, Nullable: true, RawType: "date"},
	}}).Seal()
	ct := time.Now().UnixMicro()
	var txn []event.Event
	for i := range 5 {
		d := event.Date(2024, 1, 2)
		if i%2 == 0 {
			d = event.Date(0, 0, 0) // rows 0, 2, 4
		}
		txn = append(txn, event.Event{Op: event.OpInsert, Source: id, Table: tb, After: []event.Value{event.Int(int64(i)), d}, CommitTime: ct})
	}
	txn[len(txn)-1].TxnEnd = true
	src.txns <- txn
	waitFor(t, "5 events written", func() bool {
		c, _ := log.Cursor("files")
		return log.Head() == 5 && c == 5
	})
	tel.Sample(ctx)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	kv := attribute.String
	if n, ok := sumInt(t, &rm, "odsync.values.raw", kv("sink", "files"), kv("table", "ods_shop_events"), kv("column", "d")); !ok || n != 3 {
		t.Errorf("odsync.values.raw = %d, %v; want 3", n, ok)
	}
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `odsync_values_raw_total{column="d",sink="files",table="ods_shop_events"} 3`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	st := tel.Status()
	if len(st.Tables) != 1 || st.Tables[0].RawValues != 3 || len(st.Tables[0].Sinks) != 1 || st.Tables[0].Sinks[0].RawValues != 3 {
		t.Errorf("status tables = %+v", st.Tables)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPrivateCursorsAreNotSinks: a sink's private log cursor (the
// MaxCompute snapshot hold) is not shown or judged as a sink.
func TestPrivateCursorsAreNotSinks(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	if err := log.SetCursor("files", 0); err != nil {
		t.Fatal(err)
	}
	if err := log.SetCursor("maxcompute/p/snapshot-hold", 0); err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Sinks: []string{"files"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	tel.Sample(ctx)
	st := tel.Status()
	if len(st.Sinks) != 1 || st.Sinks[0].Name != "files" {
		t.Fatalf("sinks on /status: %+v, want only files", st.Sinks)
	}
}

type fixedHealth sink.Health

func (f fixedHealth) Health() sink.Health { return sink.Health(f) }

// TestDurableNotAboveCursor: a sink's durable sequence on /status is never
// above its cursor (a sink may report one above a batch it is still
// writing, as the MaxCompute sink does when nothing is held back).
func TestDurableNotAboveCursor(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	if err := log.SetCursor("mc", 0); err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Sinks: []string{"mc"},
		SinkHealth: map[string]sink.HealthReporter{"mc": fixedHealth{Delivers: true, Durable: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	tel.Sample(ctx)
	st := tel.Status()
	if len(st.Sinks) != 1 || st.Sinks[0].Durable == nil || *st.Sinks[0].Durable != 0 {
		t.Fatalf("sinks on /status: %+v, want mc with durable 0 (its cursor)", st.Sinks)
	}
}

// TestThrottledReported: the attempts a sink's target refused to slow it
// down (Health.Throttled) reach /status and /metrics.
func TestThrottledReported(t *testing.T) {
	ctx := context.Background()
	log := openLog(t)
	if err := log.SetCursor("mc", 0); err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Sinks: []string{"mc"},
		SinkHealth: map[string]sink.HealthReporter{"mc": fixedHealth{Retries: 9, Throttled: 7}}})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	tel.Sample(ctx)
	if st := tel.Status(); len(st.Sinks) != 1 || st.Sinks[0].Throttled != 7 || st.Sinks[0].Retries != 9 {
		t.Fatalf("sinks on /status: %+v, want mc with throttled 7, retries 9", st.Sinks)
	}
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !regexp.MustCompile(`odsync_sink_throttled(?:_[a-z]+)*\{[^}]*sink="mc"[^}]*\} 7`).MatchString(rec.Body.String()) {
		t.Errorf("/metrics lacks odsync_sink_throttled_total 7 for mc:\n%s", rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), "odsync_sink_throttled_total{") {
		t.Errorf("/metrics: the counter is not named odsync_sink_throttled_total (docs/operations.md)")
	}
}
