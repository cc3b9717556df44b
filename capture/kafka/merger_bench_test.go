package kafka

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/canal"
	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// BenchmarkMergerCanalJSON measures what the source adds to decoding:
// decode a canal-json row, buffer it in the watermark merger of 3
// partitions, release every 1024 rows (a watermark to every partition),
// emit. Compare msgs/cpu-s with BenchmarkCanalJSON/insert.
func BenchmarkMergerCanalJSON(b *testing.B) {
	msgs, _ := benchMessages(1024, func(i int) []byte { return benchCanalMessage(i, false) })
	d, err := canal.NewCanalJSON(codec.Config{TimeZone: "Asia/Shanghai"})
	if err != nil {
		b.Fatal(err)
	}
	var parts []*partState
	for i := 0; i < 3; i++ {
		parts = append(parts, &partState{tp: tp{"cdc", i}, file: "cdc/" + string(rune('0'+i)), gate: newGate()})
	}
	emitted := 0
	m := newMerger(mergerConfig{ordering: OrderingWatermark, protocol: codec.ProtocolCanalJSON, maxBuffer: 1 << 40, maxEmit: 10000,
		cpInterval: time.Hour, stallWarn: time.Hour, log: slog.New(slog.DiscardHandler)},
		func(ctx context.Context, evs []event.Event, cp []byte) error { emitted += len(evs); return nil }, parts, map[tp]PartitionCheckpoint{})
	ctx := context.Background()
	ts := uint64(448158906396770305)
	batch := make([]message, 0, 64)
	clk := startCPU(b)
	for i := 0; i < b.N; i++ {
		p := parts[i%3]
		units, err := d.Decode(nil, msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		units[0].CommitTs = ts + uint64(i)
		codec.SetPosition(units, event.Position{File: p.file, Offset: uint64(i)})
		batch = append(batch[:0], message{offset: int64(i), units: units, size: eventsBytes(units[0].Events)})
		if err := m.add(ctx, p, batch); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			for _, q := range parts {
				q.wm = ts + uint64(i)
			}
			if err := m.release(ctx, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	reportRate(b, clk)
	_ = emitted
}
