package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

var (
	secondsBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	eventsBuckets  = []float64{1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 50000, 100000}
	bytesBuckets   = []float64{1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20}
)

// instruments creates every instrument. Names are OTel-style; the
// Prometheus exporter adds unit and _total suffixes (docs/operations.md
// lists the exposed names).
func (t *Telemetry) instruments() error {
	m := t.mp.Meter("github.com/odsync/odsync")
	var err error
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	var e error
	t.appendDur, e = m.Float64Histogram("odsync.log.append.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of synced log appends."), metric.WithExplicitBucketBoundaries(secondsBuckets...))
	must(e)
	t.appendEvents, e = m.Int64Histogram("odsync.log.append.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events per log append (coalesced transactions)."), metric.WithExplicitBucketBoundaries(eventsBuckets...))
	must(e)
	t.flushDur, e = m.Float64Histogram("odsync.sink.flush.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of sink batch writes by sink and result (ok, error)."), metric.WithExplicitBucketBoundaries(secondsBuckets...))
	must(e)
	t.batchEvents, e = m.Int64Histogram("odsync.sink.batch.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events per written sink batch."), metric.WithExplicitBucketBoundaries(eventsBuckets...))
	must(e)
	t.batchBytes, e = m.Int64Histogram("odsync.sink.batch.size", metric.WithUnit("By"),
		metric.WithDescription("Estimated bytes per written sink batch."), metric.WithExplicitBucketBoundaries(bytesBuckets...))
	must(e)
	t.chunkDur, e = m.Float64Histogram("odsync.snapshot.chunk.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of snapshot chunk reads by table."), metric.WithExplicitBucketBoundaries(secondsBuckets...))
	must(e)
	t.retries, e = m.Int64Counter("odsync.sink.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Failed sink writes that will be retried, by sink and cause."))
	must(e)
	t.errorsTotal, e = m.Int64Counter("odsync.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Errors by component and cause."))
	must(e)
	must(t.verifyInstruments(m))

	captured, e := m.Int64ObservableCounter("odsync.events.captured", metric.WithUnit("{event}"),
		metric.WithDescription("Events appended to the log, by source table and operation."))
	must(e)
	capturedBytes, e := m.Int64ObservableCounter("odsync.captured.size", metric.WithUnit("By"),
		metric.WithDescription("Estimated bytes of the events appended to the log, by source table."))
	must(e)
	written, e := m.Int64ObservableCounter("odsync.events.written", metric.WithUnit("{event}"),
		metric.WithDescription("Events written by sinks, by sink, source table and operation."))
	must(e)
	writtenBytes, e := m.Int64ObservableCounter("odsync.written.size", metric.WithUnit("By"),
		metric.WithDescription("Estimated bytes written by sinks, by sink and source table."))
	must(e)
	connected, e := m.Int64ObservableGauge("odsync.source.connected",
		metric.WithDescription("1 when the source is reachable, else 0."))
	must(e)
	srcLag, e := m.Float64ObservableGauge("odsync.source.lag", metric.WithUnit("s"),
		metric.WithDescription("Seconds the log is behind the source (traffic-independent with a source probe)."))
	must(e)
	srcBytes, e := m.Int64ObservableGauge("odsync.source.binlog.lag", metric.WithUnit("By"),
		metric.WithDescription("Binlog bytes between the log's checkpoint and the server's current position."))
	must(e)
	srcMsgs, e := m.Int64ObservableGauge("odsync.source.consumer.lag", metric.WithUnit("{message}"),
		metric.WithDescription("Kafka consumer lag: messages between the committed offsets and the high watermarks."))
	must(e)
	wmAge, e := m.Float64ObservableGauge("odsync.source.watermark.age", metric.WithUnit("s"),
		metric.WithDescription("Age of the newest resolved watermark (Kafka sources)."))
	must(e)
	sinkLagEv, e := m.Int64ObservableGauge("odsync.sink.lag.events", metric.WithUnit("{event}"),
		metric.WithDescription("Log head minus the sink's cursor."))
	must(e)
	sinkLag, e := m.Float64ObservableGauge("odsync.sink.lag", metric.WithUnit("s"),
		metric.WithDescription("Age (by source commit time) of the oldest event the sink has not acknowledged; 0 when caught up."))
	must(e)
	tblLagEv, e := m.Int64ObservableGauge("odsync.sink.table.lag.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events of a source table in the log that the sink has not acknowledged."))
	must(e)
	tblLag, e := m.Float64ObservableGauge("odsync.sink.table.lag", metric.WithUnit("s"),
		metric.WithDescription("Age (by source commit time) of the table's oldest event the sink has not acknowledged."))
	must(e)
	cursor, e := m.Int64ObservableGauge("odsync.sink.cursor", metric.WithUnit("{seq}"),
		metric.WithDescription("Last sequence the sink acknowledged."))
	must(e)
	head, e := m.Int64ObservableGauge("odsync.log.head", metric.WithUnit("{seq}"),
		metric.WithDescription("Last committed log sequence."))
	must(e)
	logSize, e := m.Int64ObservableGauge("odsync.log.size", metric.WithUnit("By"),
		metric.WithDescription("Encoded bytes of the retained log entries (what state.max_log_bytes caps)."))
	must(e)
	diskSize, e := m.Int64ObservableGauge("odsync.log.disk.size", metric.WithUnit("By"),
		metric.WithDescription("Bytes of the state directory on disk."))
	must(e)
	snapRead, e := m.Int64ObservableGauge("odsync.snapshot.rows.read", metric.WithUnit("{row}"),
		metric.WithDescription("Snapshot rows read so far, by table."))
	must(e)
	snapTotal, e := m.Int64ObservableGauge("odsync.snapshot.rows.estimated", metric.WithUnit("{row}"),
		metric.WithDescription("Estimated rows of the table's snapshot (0 unknown)."))
	must(e)
	sinkFailing, e := m.Int64ObservableGauge("odsync.sink.failures.consecutive", metric.WithUnit("{failure}"),
		metric.WithDescription("Failed writes or deliveries (S3 uploads) since the sink's last success, by sink; 0 when healthy."))
	must(e)
	sinkDeliveryRetries, e := m.Int64ObservableCounter("odsync.sink.delivery.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Failed deliveries to the target after Write (S3 uploads) that will be retried, by sink."))
	must(e)
	sinkThrottled, e := m.Int64ObservableCounter("odsync.sink.throttled", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts the target refused to slow us down (HTTP 429, 503: MaxCompute quotas, S3 SlowDown), by sink; each was retried with backoff."))
	must(e)
	sinkBuffered, e := m.Int64ObservableGauge("odsync.sink.buffered.size", metric.WithUnit("By"),
		metric.WithDescription("Bytes accepted by a sink but not yet in its target (the S3 spool), by sink."))
	must(e)
	srcCounters, e := m.Int64ObservableCounter("odsync.source.messages", metric.WithUnit("{message}"),
		metric.WithDescription("The capture's own counters by kind (Kafka: messages, rows, ddl, watermarks, skipped, duplicates, ddl_copies, filtered, bad_messages)."))
	must(e)
	snapDone, e := m.Int64ObservableGauge("odsync.snapshot.done",
		metric.WithDescription("1 when the table's snapshot completed."))
	must(e)
	rawValues, e := m.Int64ObservableCounter("odsync.values.raw", metric.WithUnit("{value}"),
		metric.WithDescription("Values a sink wrote as NULL with their text in the _raw column because they did not fit their typed column, by sink, ODS table and column."))
	must(e)
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if f := t.opts.SourceCounters; f != nil {
			for kind, n := range f() {
				o.ObserveInt64(srcCounters, n, metric.WithAttributes(attribute.String("kind", kind)))
			}
		}
		// _raw counts: summed over the source tables of merged targets.
		type rawKey struct{ sink, table, column string }
		raw := map[rawKey]int64{}
		for _, c := range t.rawCounts() {
			raw[rawKey{c.Sink, c.Table, c.Column}] += c.Count
		}
		for k, n := range raw {
			o.ObserveInt64(rawValues, n, metric.WithAttributes(attribute.String("sink", k.sink),
				attribute.String("table", k.table), attribute.String("column", k.column)))
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		st := &t.st
		for _, ts := range st.tables {
			for op := 1; op < opCount; op++ {
				if n := ts.captured[op]; n > 0 {
					o.ObserveInt64(captured, n, metric.WithAttributeSet(ts.attrs[op]))
				}
			}
			o.ObserveInt64(capturedBytes, ts.bytes, metric.WithAttributeSet(ts.tattr))
		}
		for _, s := range st.sinks {
			for _, tb := range s.tables {
				for op := 1; op < opCount; op++ {
					if n := tb.written[op]; n > 0 {
						o.ObserveInt64(written, n, metric.WithAttributeSet(tb.attrs[op]))
					}
				}
				o.ObserveInt64(writtenBytes, tb.bytes, metric.WithAttributeSet(tb.battr))
			}
		}
		if !st.sampled {
			return nil
		}
		c := int64(0)
		if st.source.Connected {
			c = 1
		}
		o.ObserveInt64(connected, c)
		o.ObserveFloat64(srcLag, st.source.SecondsBehind)
		if st.source.BytesBehind >= 0 {
			o.ObserveInt64(srcBytes, st.source.BytesBehind)
		}
		if st.source.MessagesBehind >= 0 {
			o.ObserveInt64(srcMsgs, st.source.MessagesBehind)
		}
		if st.source.WatermarkAge >= 0 {
			o.ObserveFloat64(wmAge, st.source.WatermarkAge)
		}
		for _, s := range st.sinks {
			o.ObserveInt64(sinkLagEv, int64(s.lagEvents), metric.WithAttributeSet(s.attr))
			o.ObserveFloat64(sinkLag, s.lagSeconds, metric.WithAttributeSet(s.attr))
			o.ObserveInt64(cursor, int64(s.cursor), metric.WithAttributeSet(s.attr))
			fails := int64(s.asyncFails)
			if s.failing && fails == 0 {
				fails = 1
			}
			o.ObserveInt64(sinkFailing, fails, metric.WithAttributeSet(s.attr))
			if s.reports {
				o.ObserveInt64(sinkDeliveryRetries, s.asyncRetry, metric.WithAttributeSet(s.attr))
				o.ObserveInt64(sinkBuffered, s.buffered, metric.WithAttributeSet(s.attr))
				o.ObserveInt64(sinkThrottled, s.throttled, metric.WithAttributeSet(s.attr))
			}
		}
		for _, ts := range st.tables {
			for sinkName, l := range ts.lag {
				s := st.sinks[sinkName]
				if s == nil {
					continue
				}
				set := s.table(ts.id).battr
				o.ObserveInt64(tblLagEv, l.events, metric.WithAttributeSet(set))
				o.ObserveFloat64(tblLag, l.seconds, metric.WithAttributeSet(set))
			}
		}
		o.ObserveInt64(head, int64(st.head))
		o.ObserveInt64(logSize, st.logBytes)
		o.ObserveInt64(diskSize, st.diskBytes)
		for _, p := range st.snapshot {
			set := metric.WithAttributes(attribute.String("table", p.Table.String()))
			o.ObserveInt64(snapRead, p.RowsRead, set)
			o.ObserveInt64(snapTotal, p.RowsTotal, set)
			d := int64(0)
			if p.Done {
				d = 1
			}
			o.ObserveInt64(snapDone, d, set)
		}
		return nil
	}, captured, capturedBytes, written, writtenBytes, connected, srcLag, srcBytes, srcMsgs, wmAge,
		sinkLagEv, sinkLag, tblLagEv, tblLag, cursor, head, logSize, diskSize, snapRead, snapTotal, snapDone, rawValues,
		sinkFailing, sinkDeliveryRetries, sinkThrottled, sinkBuffered, srcCounters)
	return err
}
