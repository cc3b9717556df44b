package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"

	kafka "github.com/segmentio/kafka-go"

	"github.com/odsync/odsync/event"
)

type fakeWriter struct{ err error }

func (f *fakeWriter) WriteMessages(ctx context.Context, msgs ...kafka.Message) error { return f.err }
func (f *fakeWriter) Close() error                                                   { return nil }

// TestDeadLetterTooLarge: a message the dead-letter topic refuses for its
// size is never retried: it falls back to the quarantine table, or (without
// one) stops the source with an error that retrying cannot fix.
func TestDeadLetterTooLarge(t *testing.T) {
	p := &partState{tp: tp{"cdc", 2}, file: "cdc/2"}
	msg := &message{offset: 41, err: errors.New("bad JSON"), value: []byte("{")}
	tooBig := []error{
		kafka.MessageTooLargeError{},
		kafka.WriteErrors{kafka.MessageSizeTooLarge},
		kafka.RecordListTooLarge,
	}
	for _, werr := range tooBig {
		d := &deadLetters{w: &fakeWriter{err: werr}, topic: "dlq",
			table: QuarantineTable(event.TableID{DB: "ops", Table: "dead"})}
		evs, err := d.handle(context.Background(), p, msg)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%T: with a quarantine table: %v, %d rows", werr, err, len(evs))
		}
		if r := evs[0].After[4].Str(); !strings.Contains(r, "bad JSON") || !strings.Contains(r, "too large for dead-letter topic dlq") {
			t.Fatalf("reason %q", r)
		}
		d.table = nil
		_, err = d.handle(context.Background(), p, msg)
		if err == nil || !isFatal(err) || !strings.Contains(err.Error(), "too large for dead-letter topic dlq") {
			t.Fatalf("%T: without a quarantine table: %v (fatal %v)", werr, err, isFatal(err))
		}
	}
	// Other failures (the broker is down) stay retryable.
	d := &deadLetters{w: &fakeWriter{err: errors.New("connection refused")}, topic: "dlq"}
	if _, err := d.handle(context.Background(), p, msg); err == nil || isFatal(err) {
		t.Fatalf("transient failure: %v (fatal %v)", err, isFatal(err))
	}
	// Sent: no quarantine row unless a table is configured too.
	d = &deadLetters{w: &fakeWriter{}, topic: "dlq"}
	if evs, err := d.handle(context.Background(), p, msg); err != nil || len(evs) != 0 {
		t.Fatalf("sent: %v, %d rows", err, len(evs))
	}
}
