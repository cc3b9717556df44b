package s3

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink"
)

var benchTable = (&event.Table{ID: event.TableID{DB: "bench", Table: "t"}, Key: []int{0}, Columns: []event.Column{
	{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
	{Name: "a", Type: event.TypeInt, Nullable: true, RawType: "int"},
	{Name: "b", Type: event.TypeBigInt, Nullable: true, RawType: "bigint"},
	{Name: "s", Type: event.TypeVarchar, Length: 64, Nullable: true, RawType: "varchar(64)"},
	{Name: "amount", Type: event.TypeDecimal, Precision: 18, Scale: 4, Nullable: true, RawType: "decimal(18,4)"},
	{Name: "ts", Type: event.TypeDateTime, Scale: 6, Nullable: true, RawType: "datetime(6)"},
	{Name: "txt", Type: event.TypeText, Length: 65535, Nullable: true, RawType: "text"},
}}).Seal()

// BenchmarkSink measures the sink alone (no capture): rows of the reference
// workload (~200 bytes, docs/benchmarks.md) taken in by WriteAck in 20000-row batches, encoded
// and uploaded to the loopback S3 server, Close included.
func BenchmarkSink(b *testing.B) {
	for _, format := range []string{"parquet", "csv", "jsonl"} {
		b.Run(format, func(b *testing.B) {
			srv, bucket := server((*testing.T)(nil), b)
			cfg := testConfig(srv, bucket, format, b.TempDir())
			cfg.Format = format
			s, err := New(cfg, testMapper(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			txt := strings.Repeat("lorem ipsum dolor sit amet ", 3)[:80]
			const batch = 20000
			evs := make([]event.Event, batch)
			var bytes int64
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				for i := 0; i < n; i++ {
					id := int64(done + i + 1)
					evs[i] = event.Event{Seq: uint64(id), Op: event.OpInsert, Source: benchTable.ID, Table: benchTable,
						CommitTime: t0 + id, Pos: event.Position{File: "binlog.000001", Offset: uint64(id * 250)},
						After: []event.Value{event.Int(id), event.Int(id % 100000), event.Int(id * 7919),
							event.String(fmt.Sprintf("name-%d-%s", id, strings.Repeat("x", 40))),
							event.Decimal(fmt.Sprintf("%d.%04d", id%1000000, id%10000)),
							event.DateTime(2024, 5, 1, 10, int(id/60%60), int(id%60), int(id%1000000)), event.String(txt)}}
					bytes += 200
				}
				if err := s.WriteAck(context.Background(), &sink.Batch{First: evs[0].Seq, Last: evs[n-1].Seq, Events: evs[:n]}, nil); err != nil {
					b.Fatal(err)
				}
				done += n
			}
			if err := s.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N)/secs, "rows/s")
			b.ReportMetric(float64(s.Stats().UploadBytes)/1e6/secs, "outMB/s")
		})
	}
}
