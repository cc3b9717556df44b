package maxcompute

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// cdcTable is a typical OLTP table: ~150-200 bytes per ODS row.
func cdcTable() *event.Table {
	return (&event.Table{ID: event.TableID{DB: "shop", Table: "orders"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "customer_id", Type: event.TypeInt, Nullable: true, RawType: "int"},
		{Name: "name", Type: event.TypeVarchar, Length: 64, Nullable: true, RawType: "varchar(64)"},
		{Name: "amount", Type: event.TypeDecimal, Precision: 18, Scale: 4, Nullable: true, RawType: "decimal(18,4)"},
		{Name: "status", Type: event.TypeEnum, Elems: []string{"new", "paid", "shipped"}, Nullable: true, RawType: "enum('new','paid','shipped')"},
		{Name: "created", Type: event.TypeDateTime, Nullable: true, RawType: "datetime"},
		{Name: "updated", Type: event.TypeTimestamp, Nullable: true, RawType: "timestamp"},
		{Name: "note", Type: event.TypeVarchar, Length: 255, Nullable: true, RawType: "varchar(255)"},
	}}).Seal()
}

func cdcEvents(b testing.TB, n int) (*schema.Target, []event.Event) {
	tbl := cdcTable()
	m := newMapper(b, schema.Config{})
	tg, err := m.Target(tbl)
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Seq: uint64(i + 1), Op: event.OpUpdate, Source: tbl.ID, Table: tbl,
			After: []event.Value{event.Int(int64(i) * 7), event.Int(int64(i % 1000)), event.String(fmt.Sprintf("customer-%08d", i)),
				event.Decimal(fmt.Sprintf("%d.%04d", i, i%10000)), event.Enum(2, "paid"),
				event.DateTime(2024, 3, 1, 12, i%60, i%60, 0), event.TimestampMicros(1709294400000000 + int64(i)*1000),
				event.String("deliver to the back door, ring twice")},
			CommitTime: 1709294400000000 + int64(i), Pos: event.Position{File: "mysql-bin.000042", Offset: uint64(4000 + i*200)}}
	}
	return tg, evs
}

// BenchmarkEncode measures record encoding (target row → Tunnel record
// stream) per core; SetBytes is the encoded size, so MB/s is what one core
// feeds Tunnel connections.
func BenchmarkEncode(b *testing.B) {
	const n = 10000
	tg, evs := cdcEvents(b, n)
	rows := make([][]event.Value, n)
	for i := range evs {
		r, err := tg.CheckedRow(&evs[i], nil)
		if err != nil {
			b.Fatal(err)
		}
		rows[i] = r
	}
	lay := newLayout(tg)
	enc := newEncoder(lay, 4<<20)
	for _, r := range rows {
		_ = enc.Append(r)
	}
	size := len(enc.Finish())
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		enc := newEncoder(lay, 4<<20)
		for i := 0; i < b.N; i++ {
			enc.buf, enc.count, enc.crcs, enc.done = enc.buf[:0], 0, 0, false
			for _, r := range rows {
				if err := enc.Append(r); err != nil {
					b.Fatal(err)
				}
			}
			enc.Finish()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	// row+encode includes the schema package's row conversion (CheckedRow).
	b.Run("row+encode", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		enc := newEncoder(lay, 4<<20)
		row := make([]event.Value, len(tg.Columns))
		for i := 0; i < b.N; i++ {
			enc.buf, enc.count, enc.crcs, enc.done = enc.buf[:0], 0, 0, false
			for j := range evs {
				r, err := tg.CheckedRow(&evs[j], row)
				if err != nil {
					b.Fatal(err)
				}
				if err := enc.Append(r); err != nil {
					b.Fatal(err)
				}
			}
			enc.Finish()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Logf("%d rows, %d bytes encoded (%.0f bytes/row)", n, size, float64(size)/n)
}

// BenchmarkSDKWriter is the same encoding through the SDK's
// RecordPackStreamWriter.Append (values from MaxComputeValue), for
// comparison.
func BenchmarkSDKWriter(b *testing.B) {
	const n = 10000
	tg, evs := cdcEvents(b, n)
	e := startEmu(b, "")
	o, tun := e.sdk()
	execSQL(b, o, tg.MaxComputeCreate(schema.MaxComputeOptions{}))
	sess, err := tun.CreateStreamUploadSession(testProject, tg.Name,
		tunnel.SessionCfg.WithPartitionKey("ds=20240301"), tunnel.SessionCfg.WithCreatePartition())
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]data.Record, n)
	for i := range evs {
		row, _ := tg.CheckedRow(&evs[i], nil)
		rec := data.NewRecord(len(row))
		for c := range row {
			v, err := tg.Columns[c].MaxComputeValue(row[c])
			if err != nil {
				b.Fatal(err)
			}
			rec[c] = sdkData(b, &tg.Columns[c], v)
		}
		recs[i] = rec
	}
	w := sess.OpenRecordPackWriter()
	for _, r := range recs {
		_ = w.Append(r)
	}
	size := w.DataSize()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Reset()
		for _, r := range recs {
			if err := w.Append(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	_ = time.Now
}

// BenchmarkSinkWrite measures Write end to end into the in-process
// emulator (no fsync): conversion, encoding, compression, HTTP, the
// emulator's validating decoder (all on the same cores). 20000-row batches
// of ~150-byte rows.
func BenchmarkSinkWrite(b *testing.B) {
	for _, c := range []struct {
		comp     string
		inflight int
	}{{CompressionSnappy, 1}, {CompressionSnappy, 2}, {CompressionNone, 1}} {
		comp, inflight := c.comp, c.inflight
		b.Run(fmt.Sprintf("%s/in_flight=%d", comp, inflight), func(b *testing.B) {
			e := startEmu(b, "")
			l := openLog(b, b.TempDir())
			defer l.Close()
			cfg := testConfig(e)
			cfg.Compression = comp
			s, err := New(cfg, newMapper(b, schema.Config{}), l, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			const n = 20000
			_, evs := cdcEvents(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			sem := make(chan struct{}, inflight)
			for i := 0; i < b.N; i++ {
				batch := make([]event.Event, n)
				copy(batch, evs)
				for j := range batch {
					batch[j].Seq = uint64(i*n + j + 1)
				}
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if err := s.Write(ctx, &sink.Batch{First: batch[0].Seq, Last: batch[n-1].Seq, Events: batch}); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
