package offsets

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/odsync/odsync/event"
)

// benchEvents returns n ~200-byte insert events of a 6-column table, like
// the reference workload of docs/benchmarks.md (bigint pk, ints, varchar(64), decimal(18,4),
// datetime(6), ~80-byte text).
func benchEvents(n int) []event.Event {
	tbl := (&event.Table{
		ID: event.TableID{DB: "shop", Table: "orders"},
		Columns: []event.Column{
			{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
			{Name: "qty", Type: event.TypeInt, RawType: "int"},
			{Name: "name", Type: event.TypeVarchar, Length: 64, RawType: "varchar(64)"},
			{Name: "price", Type: event.TypeDecimal, Precision: 18, Scale: 4, RawType: "decimal(18,4)"},
			{Name: "at", Type: event.TypeDateTime, Scale: 6, RawType: "datetime(6)"},
			{Name: "note", Type: event.TypeText, Length: 65535, RawType: "text"},
		},
		Key: []int{0},
	}).Seal()
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{
			Op: event.OpInsert, Source: tbl.ID, Table: tbl,
			After: []event.Value{
				event.Int(int64(i)), event.Int(42), event.String("customer-name-0123456789-abcdefghij"),
				event.Decimal("12345.6789"), event.DateTime(2026, 11, 22, 10, 11, 12, 123456),
				event.String("a note of about eighty bytes, which is what a typical text column holds here....."),
			},
			CommitTime: 1_700_000_000_000_000 + int64(i),
			Pos:        event.Position{File: "mysql-bin.000042", Offset: uint64(1000 + i*250), GTID: "0-1-12345"},
		}
	}
	evs[n-1].TxnEnd = true
	return evs
}

func benchFS(b *testing.B, disk bool) (vfs.FS, string) {
	if disk {
		return vfs.Default, b.TempDir()
	}
	return vfs.NewMem(), "/data"
}

// BenchmarkAppend appends synced batches of 1000 events: "disk" and "mem"
// with no sink (nothing is deleted, pebble flushes and compacts
// everything), "disk-gc" with a sink that acks 20 batches behind and a GC
// every 10 batches (the steady state: most entries die in the memtable).
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		name     string
		disk, gc bool
	}{{"disk", true, false}, {"disk-gc", true, true}, {"mem", false, false}} {
		b.Run(tc.name, func(b *testing.B) {
			fs, dir := benchFS(b, tc.disk)
			l, err := Open(dir, Options{FS: fs})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			if _, err := l.Register("sink"); err != nil {
				b.Fatal(err)
			}
			evs := benchEvents(1000)
			b.SetBytes(int64(len(event.AppendEvent(nil, &evs[0])) * len(evs)))
			cp := make([]byte, 0, 32)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cp = fmt.Appendf(cp[:0], "mysql-bin.000042:%d", i)
				last, err := l.Append(ctx, evs, cp)
				if err != nil {
					b.Fatal(err)
				}
				if !tc.gc {
					continue
				}
				if last > 20_000 {
					if err := l.Ack("sink", last-20_999, last-20_000); err != nil {
						b.Fatal(err)
					}
				}
				if i%10 == 9 {
					if _, err := l.GC(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkRead reads batches of 1000 events of a 100k-event log.
// "decode-only" decodes the same 1000 events from memory with
// event.DecodeEvent: the floor that the log's own overhead adds to (compare
// figures of one run only; this machine's load varies).
func BenchmarkRead(b *testing.B) {
	b.Run("decode-only", func(b *testing.B) {
		evs := benchEvents(1000)
		enc := make([][]byte, len(evs))
		for i := range evs {
			enc[i] = event.AppendEvent(nil, &evs[i])
		}
		tbl := evs[0].Table
		lookup := func(uint64) (*event.Table, error) { return tbl, nil }
		b.SetBytes(int64(len(enc[0]) * len(enc)))
		dst := make([]event.Event, 0, 1000)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			dst = dst[:0]
			for _, v := range enc {
				e, err := event.DecodeEvent(v, lookup)
				if err != nil {
					b.Fatal(err)
				}
				dst = append(dst, e)
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
	})
	for _, disk := range []bool{true, false} {
		name := map[bool]string{true: "disk", false: "mem"}[disk]
		b.Run(name, func(b *testing.B) {
			fs, dir := benchFS(b, disk)
			l, err := Open(dir, Options{FS: fs})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			evs := benchEvents(1000)
			for i := 0; i < 100; i++ {
				if _, err := l.Append(context.Background(), evs, []byte("cp")); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(event.AppendEvent(nil, &evs[0])) * len(evs)))
			dst := make([]event.Event, 0, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			from := uint64(1)
			for i := 0; i < b.N; i++ {
				dst, err = l.Read(from, 1000, 0, dst[:0])
				if err != nil {
					b.Fatal(err)
				}
				if len(dst) != 1000 {
					b.Fatalf("read %d events", len(dst))
				}
				if from += 1000; from > l.Head() {
					from = 1
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
