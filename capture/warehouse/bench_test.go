package warehouse

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
)

// BenchmarkLoadParquet measures the source side of a full load per row,
// without S3 and the sink: decoding an odsync Parquet object of the
// reference workload's rows (bench/workload), converting each back to
// source values and keeping the last row per key. CPU per row is the
// figure that survives a shared machine.
//
//	go test -run XXX -bench LoadParquet ./capture/warehouse/
func BenchmarkLoadParquet(b *testing.B) {
	src := (&event.Table{ID: event.TableID{DB: "bench", Table: "t"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "a", Type: event.TypeInt, RawType: "int(11)"},
		{Name: "b", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "c", Type: event.TypeVarchar, Length: 64, RawType: "varchar(64)"},
		{Name: "d", Type: event.TypeDecimal, Precision: 18, Scale: 4, RawType: "decimal(18,4)"},
		{Name: "e", Type: event.TypeDateTime, Scale: 6, RawType: "datetime(6)"},
		{Name: "f", Type: event.TypeText, Length: 65535, RawType: "text"},
	}}).Seal()
	m, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		b.Fatal(err)
	}
	tg, err := m.Target(src)
	if err != nil {
		b.Fatal(err)
	}
	const rows = 20000
	var buf bytes.Buffer
	w, err := odsfile.NewParquet(&buf, tg, "snappy", 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	pad := strings.Repeat("p", 80)
	var row []event.Value
	for id := range rows {
		e := event.Event{Seq: uint64(id + 1), Op: event.OpInsert, Source: src.ID, Table: src, CommitTime: 1e15,
			After: []event.Value{event.Int(int64(id)), event.Int(int64(id % 100000)), event.Int(int64(id) * 7919),
				event.String(fmt.Sprintf("name-%d-abcdefghijklmnopqrstuvwxyz", id)), event.Decimal(fmt.Sprintf("%d.%04d", id, id%10000)),
				event.DateTime(2026, 11, 21, 12, 34, 56, id%1000000), event.String(pad)}}
		row = tg.Row(&e, row)
		if err := w.WriteRow(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	tb, err := odsTable(tg.Name, tg.SchemaJSON())
	if err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		state := map[string]change{}
		err := odsfile.NewRowReader(tb.layout).ReadParquet(bytes.NewReader(data), int64(len(data)), func(r []event.Value) error {
			ch, err := tb.decode(r, "bench")
			if err != nil {
				return err
			}
			state[tb.keyOf(ch.row)] = ch
			return nil
		})
		if err != nil || len(state) != rows {
			b.Fatalf("%d keys, %v", len(state), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
