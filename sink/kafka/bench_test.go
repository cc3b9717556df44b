package kafka

import (
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/odsync"
	"github.com/odsync/odsync/event"
)

// BenchmarkEncode encodes an update of the test table (every kind) in each
// format; BenchmarkDecodeOdsync decodes the odsync format with the Kafka
// source's decoder.
func BenchmarkEncode(b *testing.B) {
	tbl := testTable()
	e := event.Event{Seq: 1, Op: event.OpUpdate, Source: tbl.ID, Table: tbl, Before: values(1), After: values(2),
		Pos: event.Position{File: "binlog.000001", Offset: 1234}}
	for _, f := range []string{FormatOdsync, FormatCanalJSON, FormatDebezium} {
		b.Run(f, func(b *testing.B) {
			s := &Sink{cfg: Config{Format: f}}
			var buf []byte
			for b.Loop() {
				buf = s.appendKey(buf[:0], &e)
				switch f {
				case FormatOdsync:
					buf = appendNative(buf, &e)
				case FormatCanalJSON:
					buf = appendCanal(buf, &e)
				default:
					buf = appendDebezium(buf, &e)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkDecodeOdsync(b *testing.B) {
	tbl := testTable()
	e := event.Event{Seq: 1, Op: event.OpUpdate, Source: tbl.ID, Table: tbl, Before: values(1), After: values(2),
		Pos: event.Position{File: "binlog.000001", Offset: 1234}}
	_, v := Encode(FormatOdsync, &e)
	dec, err := odsync.NewOdsync(codec.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := dec.Decode(nil, v); err != nil {
			b.Fatal(err)
		}
	}
}
