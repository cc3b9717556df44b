package telemetry_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/telemetry"
)

// collector is a loopback OTLP/HTTP receiver decoding what it is sent.
type collector struct {
	mu      sync.Mutex
	metrics []string // metric names
	spans   []string // span names
	auth    []string // Authorization headers seen
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	switch r.URL.Path {
	case "/v1/metrics":
		var req colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					c.metrics = append(c.metrics, m.Name)
				}
			}
		}
		out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	case "/v1/traces":
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, s.Name)
				}
			}
		}
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	default:
		http.NotFound(w, r)
	}
}

// TestOTLPExport: with otlp.endpoint set, metrics and (with otlp.traces)
// flush spans reach a collector over OTLP/HTTP with the configured headers.
func TestOTLPExport(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	ctx := context.Background()
	log := openLog(t)
	tel, err := telemetry.New(ctx, telemetry.Config{OTLP: telemetry.OTLPConfig{
		Endpoint: srv.URL, Traces: true, Interval: time.Hour,
		Headers: map[string]string{"Authorization": "Bearer otlp-token-1"},
	}}, telemetry.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	evs := workload(0, 1, time.Now())[0]
	tel.Appended(evs, []byte("cp"), time.Millisecond)
	tel.SinkWrite("files", &sink.Batch{First: 1, Last: 5, Events: evs}, 3*time.Millisecond, nil)
	// Shutdown flushes both exporters.
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	has := func(list []string, name string) bool {
		for _, n := range list {
			if n == name {
				return true
			}
		}
		return false
	}
	for _, m := range []string{"odsync.events.captured", "odsync.events.written", "odsync.sink.flush.duration"} {
		if !has(col.metrics, m) {
			t.Errorf("metric %s not exported; got %v", m, col.metrics)
		}
	}
	if !has(col.spans, "odsync.sink.flush") {
		t.Errorf("no flush span exported; got %v", col.spans)
	}
	for _, a := range col.auth {
		if a != "Bearer otlp-token-1" {
			t.Errorf("Authorization header %q", a)
		}
	}
}

// TestNoTracesByDefault: without OTLP traces (or a span exporter) no
// tracer provider runs.
func TestNoTracesByDefault(t *testing.T) {
	ctx := context.Background()
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: openLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	_, sp := tel.Tracer().Start(ctx, "x")
	if sp.SpanContext().IsValid() || sp.IsRecording() {
		t.Error("tracing is on by default")
	}
}
