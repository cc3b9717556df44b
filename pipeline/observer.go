package pipeline

import (
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink"
)

// Observer receives the pipeline's progress, for metrics, traces and the
// status page. Methods are called from the pipeline's goroutines, must be
// safe for concurrent use, and must not block.
type Observer interface {
	// Appended is called after each log append with the events it stored
	// (their Seq set) and how long the synced append took.
	Appended(events []event.Event, checkpoint []byte, took time.Duration)
	// SinkWrite is called after every write attempt of a batch.
	SinkWrite(sink string, b *sink.Batch, took time.Duration, err error)
	// SinkAcked is called when a sink's cursor has moved to cursor.
	SinkAcked(sink string, cursor uint64)
}

type nopObserver struct{}

func (nopObserver) Appended([]event.Event, []byte, time.Duration)       {}
func (nopObserver) SinkWrite(string, *sink.Batch, time.Duration, error) {}
func (nopObserver) SinkAcked(string, uint64)                            {}
