package schema

import (
	"testing"

	"github.com/odsync/odsync/event"
)

// TestNullOnlyColumn: a column whose values were all NULL so far (a
// schema-less Kafka format) maps to STRING, does not stop the sink, can be
// given its real type by a column rule, and fits whatever target column a
// later (typed) version created, so a NULL never adds a column.
func TestNullOnlyColumn(t *testing.T) {
	t.Parallel()
	tbl := func(typ event.Type, raw string) *event.Table {
		return (&event.Table{ID: event.TableID{DB: "db", Table: "t"}, Key: []int{0}, Columns: []event.Column{
			{Name: "id", Type: event.TypeBigInt, RawType: "inferred bigint"},
			{Name: "n", Type: typ, Nullable: true, RawType: raw},
		}}).Seal()
	}
	nullV := tbl(event.TypeUnknown, "null")
	intV := tbl(event.TypeBigInt, "inferred bigint")

	m := mustMapper(t, Config{})
	tg, err := m.Target(nullV)
	if err != nil {
		t.Fatalf("null-only column: %v", err)
	}
	if c := tg.Columns[tg.ColumnIndex("n")]; c.Kind != KindString {
		t.Fatalf("null-only column maps to %s, want string", c.Kind)
	}
	// A later value types the column: the STRING target holds it.
	p, err := m.Plan(nullV, intV)
	if err != nil || !p.Empty() {
		t.Fatalf("typed later: plan %+v, %v", p, err)
	}
	if v, err := mustTarget(t, m, intV).Columns[tg.ColumnIndex("n")].Convert(event.Int(42)); err != nil || v.Str() != "42" {
		t.Fatalf("42 into the STRING column: %v, %v", v, err)
	}

	// An override gives the column its real type.
	m2 := mustMapper(t, Config{Tables: []TableRule{{Source: `db\.t`, Columns: map[string]ColumnRule{"n": {Type: "bigint"}}}}})
	tg2, err := m2.Target(nullV)
	if err != nil {
		t.Fatalf("override of a null-only column: %v", err)
	}
	if c := tg2.Columns[tg2.ColumnIndex("n")]; c.Kind != KindBigInt {
		t.Fatalf("override: %s, want bigint", c.Kind)
	}
	if p, err := m2.Plan(nullV, intV); err != nil || !p.Empty() {
		t.Fatalf("override, typed later: plan %+v, %v", p, err)
	}

	// Typed first, NULL-only later (e.g. after a restart): no new column.
	m3 := mustMapper(t, Config{})
	if _, err := m3.Plan(nil, intV); err != nil {
		t.Fatal(err)
	}
	p, err = m3.Plan(intV, nullV)
	if err != nil || !p.Empty() {
		t.Fatalf("NULL-only after typed: plan %+v, %v", p, err)
	}
}

func mustTarget(t *testing.T, m *Mapper, tb *event.Table) *Target {
	t.Helper()
	tg, err := m.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
