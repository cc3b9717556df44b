package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// BenchmarkWrite applies batches of 5000 inserts of ~200-byte rows (the
// reference workload's shape) into the package's MariaDB.
func BenchmarkWrite(b *testing.B) {
	s, db := server(b)
	if _, err := db.Exec("DROP DATABASE IF EXISTS benchw"); err != nil {
		b.Fatal(err)
	}
	mapper, err := schema.New(schema.Config{})
	if err != nil {
		b.Fatal(err)
	}
	sk, err := New(Config{Addr: s.Addr(), User: "root"}, "benchw", mapper, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sk.Close(context.Background())
	tb := (&event.Table{ID: event.TableID{DB: "benchw", Table: "t"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "a", Type: event.TypeInt, RawType: "int(11)"},
		{Name: "c", Type: event.TypeVarchar, Length: 64, Charset: "utf8mb4", RawType: "varchar(64)"},
		{Name: "d", Type: event.TypeDecimal, Precision: 18, Scale: 4, RawType: "decimal(18,4)"},
		{Name: "e", Type: event.TypeDateTime, Scale: 6, RawType: "datetime(6)"},
		{Name: "f", Type: event.TypeText, Charset: "utf8mb4", RawType: "text"},
	}}).Seal()
	const n = 5000
	pad := strings.Repeat("p", 80)
	events := make([]event.Event, n)
	var seq uint64
	b.SetBytes(200 * n)
	b.ReportAllocs()
	for b.Loop() {
		first := seq + 1
		for i := range events {
			seq++
			id := int64(seq)
			events[i] = event.Event{Seq: seq, Op: event.OpInsert, Source: tb.ID, Table: tb, Pos: event.Position{File: "b", Offset: seq},
				After: []event.Value{event.Int(id), event.Int(id % 1000), event.String(fmt.Sprintf("name-%d-abcdefghijklmnopqrstuvwxyz", id)),
					event.Decimal("1234.5678"), event.DateTime(2026, 11, 21, 12, 34, 56, int(id%1000000)), event.String(pad)}}
		}
		if err := sk.Write(context.Background(), &sink.Batch{First: first, Last: seq, Events: events}); err != nil {
			b.Fatal(err)
		}
	}
}
