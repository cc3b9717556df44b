package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/odsync/odsync/event"
)

// deadLetters records bad messages (on_error: dead_letter): on a Kafka
// topic (at least once: a message re-read after a crash is sent again)
// and/or as a row of a quarantine table in the log (exactly once, with the
// checkpoint that moves past the message).
type deadLetters struct {
	w     messageWriter
	topic string
	table *event.Table
}

// messageWriter is the part of *kafka.Writer the dead-letter topic uses.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// Headers of a dead-lettered message.
const (
	HeaderReason    = "odsync-reason"
	HeaderTopic     = "odsync-topic"
	HeaderPartition = "odsync-partition"
	HeaderOffset    = "odsync-offset"
)

func newDeadLetters(cfg *SourceConfig, transport *kafka.Transport) *deadLetters {
	d := &deadLetters{}
	if cfg.DeadLetter.Topic != "" {
		brokers := cfg.DeadLetter.Brokers
		if len(brokers) == 0 {
			brokers = cfg.Brokers
		}
		d.topic = cfg.DeadLetter.Topic
		d.w = &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: cfg.DeadLetter.Topic, Transport: transport,
			Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, MaxAttempts: 10}
	}
	if cfg.DeadLetter.Table != "" {
		db, tbl, _ := strings.Cut(cfg.DeadLetter.Table, ".")
		d.table = QuarantineTable(event.TableID{DB: db, Table: tbl})
	}
	return d
}

// QuarantineTable is the schema of the dead-letter table: one row per bad
// message, keyed by (topic, partition, offset).
func QuarantineTable(id event.TableID) *event.Table {
	return (&event.Table{ID: id, Key: []int{0, 1, 2}, Columns: []event.Column{
		{Name: "topic", Type: event.TypeVarchar, Length: 255, RawType: "varchar(255)"},
		{Name: "partition", Type: event.TypeInt, RawType: "int"},
		{Name: "offset", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "message_time", Type: event.TypeTimestamp, Scale: 3, Nullable: true, RawType: "timestamp(3)"},
		{Name: "reason", Type: event.TypeText, Length: 65535, Nullable: true, RawType: "text"},
		{Name: "message_key", Type: event.TypeBlob, Length: 4294967295, Nullable: true, RawType: "longblob"},
		{Name: "message_value", Type: event.TypeBlob, Length: 4294967295, Nullable: true, RawType: "longblob"},
	}}).Seal()
}

// handle records one bad message.
func (d *deadLetters) handle(ctx context.Context, p *partState, m *message) ([]event.Event, error) {
	reason := m.err.Error()
	if d.w != nil {
		msg := kafka.Message{Key: m.key, Value: m.value, Headers: []kafka.Header{
			{Key: HeaderReason, Value: []byte(reason)},
			{Key: HeaderTopic, Value: []byte(p.tp.topic)},
			{Key: HeaderPartition, Value: []byte(strconv.Itoa(p.tp.partition))},
			{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.offset, 10))},
		}}
		err := d.w.WriteMessages(ctx, msg)
		switch {
		case err == nil:
			if d.table == nil {
				return nil, nil
			}
		case tooLarge(err) && d.table != nil:
			// Retrying cannot help: the quarantine row holds it instead.
			reason += fmt.Sprintf(" (too large for dead-letter topic %s: %v; kept in the quarantine table only)", d.topic, err)
		case tooLarge(err):
			return nil, fatal(fmt.Errorf("the message (%d bytes) is too large for dead-letter topic %s (%w); set dead_letter.table to keep such messages in a quarantine table, raise the topic's max.message.bytes, or skip the message by starting after its offset (odsync replay --source-start)",
				len(m.key)+len(m.value), d.topic, err))
		default:
			return nil, fmt.Errorf("writing to dead-letter topic %s: %w", d.topic, err)
		}
	}
	if d.table == nil {
		return nil, nil
	}
	ts := m.time
	if ts.IsZero() {
		ts = time.Now()
	}
	bytesOrNull := func(b []byte) event.Value {
		if b == nil {
			return event.Null
		}
		return event.Bytes(b)
	}
	e := event.Event{Op: event.OpInsert, Source: d.table.ID, Table: d.table, CommitTime: ts.UnixMicro(),
		Pos: event.Position{File: p.file, Offset: uint64(m.offset)}, TxnEnd: true,
		After: []event.Value{event.String(p.tp.topic), event.Int(int64(p.tp.partition)), event.Int(m.offset),
			event.TimestampMicros(ts.UnixMilli() * 1000), event.String(reason), bytesOrNull(m.key), bytesOrNull(m.value)}}
	return []event.Event{e}, nil
}

func (d *deadLetters) close() error {
	if d.w != nil {
		return d.w.Close()
	}
	return nil
}

// tooLarge reports a write refused for the message's size (locally by the
// writer or by the broker): retrying cannot help.
func tooLarge(err error) bool {
	if errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge) {
		return true
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && tooLarge(e) {
				return true
			}
		}
	}
	return false
}
