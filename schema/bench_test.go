package schema

import (
	"testing"

	"github.com/odsync/odsync/event"
)

func BenchmarkRow(b *testing.B) {
	m, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	tb := ordersTable("shop", "orders")
	tg, err := m.Target(tb)
	if err != nil {
		b.Fatal(err)
	}
	e := &event.Event{Seq: 1, Op: event.OpInsert, Source: tb.ID, Table: tb, CommitTime: 1_795_000_000_000_000,
		Pos:   event.Position{File: "binlog.000001", Offset: 4},
		After: []event.Value{event.Uint(12345), event.Decimal("12.5"), event.DateTime(2026, 11, 21, 1, 2, 3, 0), event.String("x")}}
	dst := make([]event.Value, 0, len(tg.Columns))
	b.ReportAllocs()
	for b.Loop() {
		dst = tg.Row(e, dst[:0])
	}
}

func BenchmarkTargetCached(b *testing.B) {
	m, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	tb := ordersTable("shop", "orders")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Target(tb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParquetValueDecimal(b *testing.B) {
	m, _ := New(Config{})
	tg, _ := m.Target(ordersTable("shop", "orders"))
	c := &tg.Columns[tg.ColumnIndex("id")] // DECIMAL(20,0): FIXED_LEN_BYTE_ARRAY
	v := event.Decimal("18446744073709551615")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ParquetValue(v); err != nil {
			b.Fatal(err)
		}
	}
}
