package telemetry

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// VerifyResult is the latest scheduled verification of one source table in
// one sink (`verify:` in the config; see docs/verify.md).
type VerifyResult struct {
	Sink       string    `json:"sink"`
	Table      string    `json:"table"`
	Status     string    `json:"status"` // match, mismatch, unsettled, error
	Time       time.Time `json:"time"`
	Seconds    float64   `json:"seconds"`
	SourceRows int64     `json:"source_rows"`
	TargetRows int64     `json:"target_rows"`
	Changed    int64     `json:"changed"`
	Missing    int64     `json:"missing"`
	Extra      int64     `json:"extra"`
	Unsettled  int64     `json:"unsettled"`
	Error      string    `json:"error,omitempty"`
}

// verifyResults holds the latest result per sink and table.
type verifyResults struct {
	mu sync.Mutex
	m  map[[2]string]VerifyResult
}

// SetVerify records a scheduled verification result.
func (t *Telemetry) SetVerify(r VerifyResult) {
	v := &t.verify
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[[2]string]VerifyResult{}
	}
	v.m[[2]string{r.Sink, r.Table}] = r
}

// verifyList returns the results sorted by sink and table.
func (t *Telemetry) verifyList() []VerifyResult {
	v := &t.verify
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]VerifyResult, 0, len(v.m))
	for _, r := range v.m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Sink != out[j].Sink {
			return out[i].Sink < out[j].Sink
		}
		return out[i].Table < out[j].Table
	})
	return out
}

// verifyStatusCode is the value of odsync_verify_status.
func verifyStatusCode(s string) int64 {
	switch s {
	case "match":
		return 0
	case "mismatch":
		return 1
	case "unsettled":
		return 2
	}
	return 3
}

// verifyInstruments registers the scheduled verification's gauges.
func (t *Telemetry) verifyInstruments(m metric.Meter) error {
	status, err := m.Int64ObservableGauge("odsync.verify.status",
		metric.WithDescription("Latest scheduled verification of a table in a sink: 0 match, 1 mismatch, 2 unsettled, 3 error."))
	if err != nil {
		return err
	}
	diffs, err := m.Int64ObservableGauge("odsync.verify.differences", metric.WithUnit("{row}"),
		metric.WithDescription("Rows that differ in the latest scheduled verification, by sink, table and kind (changed, missing, extra, unsettled)."))
	if err != nil {
		return err
	}
	last, err := m.Float64ObservableGauge("odsync.verify.last_run", metric.WithUnit("s"),
		metric.WithDescription("Unix time of the latest scheduled verification of a table in a sink."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, r := range t.verifyList() {
			at := metric.WithAttributes(attribute.String("sink", r.Sink), attribute.String("table", r.Table))
			o.ObserveInt64(status, verifyStatusCode(r.Status), at)
			o.ObserveFloat64(last, float64(r.Time.UnixNano())/1e9, at)
			for kind, n := range map[string]int64{"changed": r.Changed, "missing": r.Missing, "extra": r.Extra, "unsettled": r.Unsettled} {
				o.ObserveInt64(diffs, n, metric.WithAttributes(attribute.String("sink", r.Sink), attribute.String("table", r.Table), attribute.String("kind", kind)))
			}
		}
		return nil
	}, status, diffs, last)
	return err
}
