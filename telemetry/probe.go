package telemetry

import (
	"context"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
)

// SourceLag is how far the durable log is behind the source, measured
// independently of traffic.
type SourceLag struct {
	// Connected reports whether the source is reachable.
	Connected bool
	// SecondsBehind estimates the age of the oldest change the source has
	// and the log does not; 0 when caught up.
	SecondsBehind float64
	// BytesBehind is binlog bytes between the log's checkpoint and the
	// server's current position; -1 when not applicable or unknown.
	BytesBehind int64
	// MessagesBehind is the Kafka consumer lag (high watermark − next
	// offset, summed over partitions); -1 when not applicable or unknown.
	MessagesBehind int64
	// WatermarkAge is the age in seconds of the newest resolved
	// timestamp/watermark seen (Kafka sources); -1 when not applicable.
	WatermarkAge float64
	// Position is the log's checkpoint position, SourcePosition the
	// source's current one (e.g. "binlog.000003:1234"), for display.
	Position, SourcePosition string
}

// SourceProbe is implemented by captures (or companions of them) that can
// tell how far behind the source the log is without waiting for traffic.
// Lag is called from the sampler every Config.SampleInterval with a
// deadline; an error means the source could not be asked (it is reported as
// disconnected with the error's text, redacted).
type SourceProbe interface {
	Lag(ctx context.Context) (SourceLag, error)
}

// TableProgress is the snapshot progress of one table.
type TableProgress struct {
	Table event.TableID
	// RowsRead so far; RowsTotal is the estimate of all rows (0: unknown).
	RowsRead, RowsTotal int64
	// ChunksDone of ChunksTotal (0: unknown).
	ChunksDone, ChunksTotal int64
	// Done is true when the table's snapshot completed.
	Done bool
}

// SnapshotProbe is implemented by captures that snapshot tables; it reports
// every table whose snapshot is planned, running or done.
type SnapshotProbe interface {
	SnapshotProgress(ctx context.Context) ([]TableProgress, error)
}

// Log is what telemetry reads from the offsets log (*offsets.Log
// implements it): the head, every sink's cursor, sizes, and single events
// to date the oldest event a sink has not acknowledged.
type Log interface {
	Head() uint64
	Cursors() map[string]uint64
	Stats() offsets.Stats
	Read(from uint64, maxEvents int, maxBytes int64, dst []event.Event) ([]event.Event, error)
}
