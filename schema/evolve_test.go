package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
)

// tableSpec builds tables from "name type" column lists; a leading * marks a key column.
func tableSpec(db, name string, cols ...string) *event.Table {
	t := &event.Table{ID: id(db, name)}
	for i, c := range cols {
		n, raw, _ := strings.Cut(c, " ")
		if strings.HasPrefix(n, "*") {
			n = n[1:]
			t.Key = append(t.Key, i)
		}
		col := catalogueByRaw(raw)
		col.Name = n
		col.Nullable = true
		t.Columns = append(t.Columns, col)
	}
	return t.Seal()
}

func catalogueByRaw(raw string) event.Column {
	for _, c := range catalogue {
		if c.RawType == raw {
			return c
		}
	}
	// a few extra variants used by the evolution scenarios
	switch raw {
	case "decimal(14,2)":
		return event.Column{Type: event.TypeDecimal, Precision: 14, Scale: 2, RawType: raw}
	case "decimal(12,2)":
		return event.Column{Type: event.TypeDecimal, Precision: 12, Scale: 2, RawType: raw}
	case "decimal(12,4)":
		return event.Column{Type: event.TypeDecimal, Precision: 12, Scale: 4, RawType: raw}
	}
	panic("unknown raw type " + raw)
}

func renderPlan(p *Plan) string {
	var b strings.Builder
	b.WriteString(p.String())
	b.WriteString("maxcompute:\n")
	for _, s := range p.MaxCompute(MaxComputeOptions{}) {
		b.WriteString(indent(s))
	}
	b.WriteString("athena:\n")
	for _, s := range p.Athena(AthenaOptions{Database: "ods", Bucket: "lake", Prefix: "odsync"}) {
		b.WriteString(indent(s))
	}
	if p.New != nil {
		fmt.Fprintf(&b, "layout %s v%d:", p.New.Name, p.New.Version)
		for _, c := range p.New.Columns {
			src := "-"
			if c.Source >= 0 {
				src = fmt.Sprint(c.Source)
			}
			fmt.Fprintf(&b, " %s:%s@%s", c.Name, c.TypeSpec(), src)
		}
		var key []string
		for _, k := range p.New.Key {
			key = append(key, p.New.Columns[k].Name)
		}
		fmt.Fprintf(&b, "\nkey: %s\n", strings.Join(key, ","))
	}
	return b.String()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ") + "\n"
}

var (
	ordersV1 = tableSpec("shop", "orders", "*id bigint unsigned", "amount decimal(12,2)", "created datetime(6)",
		"note varchar(255)", "qty int", "legacy varchar(255)")
	// v2: qty widened, amount widened, note now an int (fits the string
	// column), created now a string (does not fit), legacy dropped, status added.
	ordersV2 = tableSpec("shop", "orders", "*id bigint unsigned", "amount decimal(14,2)", "created varchar(255)",
		"note int", "qty bigint", "status enum('new','paid','shipped')")
	// v3: created back to datetime, amount's scale changed.
	ordersV3 = tableSpec("shop", "orders", "*id bigint unsigned", "amount decimal(12,4)", "created datetime(6)",
		"note int", "qty bigint", "status enum('new','paid','shipped')")
)

func TestEvolutionGolden(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeLenient, ModeEvolve, ModeIgnore, ModeException} {
		t.Run(string(mode), func(t *testing.T) {
			m := mustMapper(t, Config{Evolution: mode})
			var b strings.Builder
			tables := []*event.Table{nil, ordersV1, ordersV2, ordersV3, ordersV3, nil}
			for i := 1; i < len(tables); i++ {
				old, new := tables[i-1], tables[i]
				fmt.Fprintf(&b, "### %s -> %s\n", versionName(tables, old), versionName(tables, new))
				p, err := m.Plan(old, new)
				if err != nil {
					fmt.Fprintf(&b, "error: %v\n\n", err)
					if mode != ModeException {
						t.Errorf("Plan: %v", err)
					}
					continue
				}
				b.WriteString(renderPlan(p))
				b.WriteString("\n")
			}
			golden(t, "evolution/"+string(mode)+".golden", []byte(b.String()))
		})
	}
}

// TestEvolveAlterGolden: evolve mode alters in place when it can.
func TestEvolveAlterGolden(t *testing.T) {
	t.Parallel()
	v2 := tableSpec("shop", "orders", "*id bigint unsigned", "amount decimal(14,2)", "created datetime(6)",
		"note varchar(255)", "qty bigint", "status enum('new','paid','shipped')")
	m := mustMapper(t, Config{Evolution: ModeEvolve})
	if _, err := m.Plan(nil, ordersV1); err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan(ordersV1, v2)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(renderPlan(p))
	b.WriteString("athena csv:\n")
	for _, s := range p.Athena(AthenaOptions{Bucket: "lake", Format: FormatCSV}) {
		b.WriteString(indent(s))
	}
	golden(t, "evolution/evolve_alter.golden", []byte(b.String()))
}

func versionName(tables []*event.Table, t *event.Table) string {
	switch t {
	case nil:
		return "nil"
	case ordersV1:
		return "v1"
	case ordersV2:
		return "v2"
	case ordersV3:
		return "v3"
	}
	return "?"
}

func TestLenientRows(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{})
	if _, err := m.Plan(nil, ordersV1); err != nil {
		t.Fatal(err)
	}
	// Before the Plan, v2 does not fit the layout.
	if _, err := m.Target(ordersV2); !errors.Is(err, ErrPlanRequired) || !strings.Contains(err.Error(), "shop.orders") {
		t.Fatalf("Target(v2) before Plan = %v, want ErrPlanRequired naming the table", err)
	}
	p, err := m.Plan(ordersV1, ordersV2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 3 {
		t.Fatalf("plan = %s", p)
	}
	t2, err := m.Target(ordersV2)
	if err != nil {
		t.Fatal(err)
	}
	if t2 != p.New {
		t.Fatalf("Target(v2) is not the plan's layout")
	}
	// Plan is idempotent.
	if p2, err := m.Plan(ordersV1, ordersV2); err != nil || !p2.Empty() || len(p2.New.Columns) != len(t2.Columns) {
		t.Fatalf("second Plan = %v, %v; want empty", p2, err)
	}
	row := t2.Row(&event.Event{Op: event.OpInsert, Source: ordersV2.ID, After: []event.Value{
		event.Uint(1), event.Decimal("1.5"), event.String("yesterday"), event.Int(7), event.Int(1 << 40), event.Enum(2, "paid")}}, nil)
	got := map[string]string{}
	for i, c := range t2.Columns {
		got[c.Name] = row[i].String()
	}
	want := map[string]string{"id": "decimal:1", "amount": "decimal:1.50", "created": "NULL", "created__string": "string:yesterday",
		"note": "string:7", "qty": "int:1099511627776", "legacy": "NULL", "status": "string:paid"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %s, want %s", k, got[k], w)
		}
	}
	// v1 rows still align with the evolved layout.
	t1, err := m.Target(ordersV1)
	if err != nil {
		t.Fatal(err)
	}
	if len(t1.Columns) != len(t2.Columns) || t1.Columns[t1.ColumnIndex("legacy")].Source != 5 ||
		t1.Columns[t1.ColumnIndex("status")].Source != -1 || t1.Columns[t1.ColumnIndex("created")].Source != 2 {
		t.Fatalf("v1 aligned layout wrong: %+v", t1.Columns)
	}
}

func TestIgnoreRows(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{Evolution: ModeIgnore})
	if _, err := m.Plan(nil, ordersV1); err != nil {
		t.Fatal(err)
	}
	// ignore mode: Target aligns without a Plan; status is not written.
	t2, err := m.Target(ordersV2)
	if err != nil {
		t.Fatal(err)
	}
	if t2.ColumnIndex("status") >= 0 || t2.Columns[t2.ColumnIndex("created")].Source != -1 ||
		t2.Columns[t2.ColumnIndex("qty")].Source != -1 || t2.Columns[t2.ColumnIndex("note")].Source != 3 {
		t.Fatalf("ignore layout: %+v", t2.Columns)
	}
}

func TestExceptionTarget(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{Tables: []TableRule{{Source: `shop\.orders`, Evolution: ModeException}}})
	if _, err := m.Target(ordersV1); err != nil {
		t.Fatal(err)
	}
	_, err := m.Plan(ordersV1, ordersV2)
	if err == nil {
		t.Fatal("no error in exception mode")
	}
	for _, s := range []string{"shop.orders", "column status is new", "column legacy dropped", "column created changed", "exception"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

func TestMergedEvolution(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{Routes: []Route{{Source: `shop\.order_(\d+)`, Target: "ods_shop_order", Merge: true}}})
	s0v1 := tableSpec("shop", "order_00", "*id bigint", "amount decimal(12,2)")
	s1v1 := tableSpec("shop", "order_01", "*id bigint", "amount decimal(12,2)")
	s0v2 := tableSpec("shop", "order_00", "*id bigint", "amount decimal(12,2)", "note varchar(255)")
	s1v2 := tableSpec("shop", "order_01", "*id bigint", "amount decimal(12,2)", "note varchar(255)")
	for _, tb := range []*event.Table{s0v1, s1v1} {
		if _, err := m.Target(tb); err != nil {
			t.Fatal(err)
		}
	}
	// shard 1 changes first: without a Plan it does not fit.
	if _, err := m.Target(s1v2); !errors.Is(err, ErrPlanRequired) {
		t.Fatalf("Target(s1v2) = %v, want ErrPlanRequired", err)
	}
	p, err := m.Plan(s1v1, s1v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Kind != StepAddColumns || p.Steps[0].Columns[0].Name != "note" {
		t.Fatalf("plan = %s", p)
	}
	// shard 0 (still v1) aligns to the evolved layout: note is NULL.
	t0, err := m.Target(s0v1)
	if err != nil {
		t.Fatal(err)
	}
	if i := t0.ColumnIndex("note"); i < 0 || t0.Columns[i].Source != -1 {
		t.Fatalf("shard 0 layout: %+v", t0.Columns)
	}
	// shard 0's own change then needs no DDL.
	p, err = m.Plan(s0v1, s0v2)
	if err != nil || !p.Empty() {
		t.Fatalf("Plan(s0) = %v, %v; want empty", p, err)
	}
	// A shard with an incompatible column is refused at Target and Plan time.
	bad := tableSpec("shop", "order_02", "*id bigint", "amount varchar(255)")
	if _, err := m.Target(bad); err == nil || !strings.Contains(err.Error(), "shop.order_02") || !strings.Contains(err.Error(), "amount") {
		t.Fatalf("Target(bad shard) = %v", err)
	}
	if _, err := m.Plan(nil, bad); err == nil || !strings.Contains(err.Error(), "incompatible") || !strings.Contains(err.Error(), "shop.order_02") ||
		!strings.Contains(err.Error(), "column amount is string in shop.order_02 but decimal(12,2)") {
		t.Fatalf("Plan(nil, bad shard) = %v", err)
	}
	// A new shard with an extra column evolves the shared layout through Plan.
	wide := tableSpec("shop", "order_03", "*id bigint", "amount decimal(14,2)", "note varchar(255)", "extra int")
	p, err = m.Plan(nil, wide)
	if err != nil || len(p.Steps) != 2 || p.Steps[0].Kind != StepWidenColumn || p.Steps[1].Kind != StepAddColumns {
		t.Fatalf("Plan(nil, wide shard) = %v, %v", p, err)
	}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{})
	// The table as a sink finds it: created from an older version with a
	// column since dropped (legacy), and without the newer status column.
	ex := Existing{Version: 1, Columns: []ExistingColumn{
		{"_op", "STRING"}, {"_seq", "BIGINT"}, {"_commit_ts", "TIMESTAMP"}, {"_pos", "STRING"},
		{"id", "DECIMAL(20,0)"}, {"amount", "DECIMAL(12,2)"}, {"created", "TIMESTAMP_NTZ"}, {"note", "STRING"},
		{"qty", "INT"}, {"legacy", "STRING"}, {"ds", "STRING"},
	}}
	p, err := m.Reconcile(ordersV2, ex)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "evolution/reconcile.golden", []byte(renderPlan(p)))
	tg, err := m.Target(ordersV2)
	if err != nil || tg != p.New {
		t.Fatalf("Target after Reconcile = %v, %v", tg, err)
	}
	// Round trip through the schema file.
	ex2, err := ParseSchemaJSON(tg.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	m2 := mustMapper(t, Config{})
	p2, err := m2.Reconcile(ordersV2, ex2)
	if err != nil || !p2.Empty() {
		t.Fatalf("Reconcile from the schema file = %v, %v; want empty", p2, err)
	}
	if !slices.EqualFunc(p2.New.Columns, tg.Columns, func(a, b TargetColumn) bool { return a.Name == b.Name && a.MaxCompute == b.MaxCompute }) {
		t.Fatalf("layout after schema-file round trip differs")
	}
	// A type the sink reports that odsync cannot read is an error naming the column.
	_, err = m2.Reconcile(ordersV2, Existing{Columns: []ExistingColumn{{"id", "MAP<STRING,STRING>"}}})
	if err == nil || !strings.Contains(err.Error(), "column id") {
		t.Fatalf("Reconcile with a bad type = %v", err)
	}
}

func TestPlanDropTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode Mode
		want string
	}{{ModeLenient, "note"}, {ModeEvolve, "drop"}, {ModeIgnore, "note"}, {ModeException, "error"}} {
		m := mustMapper(t, Config{Evolution: tc.mode})
		if _, err := m.Plan(nil, ordersV1); err != nil {
			t.Fatal(err)
		}
		p, err := m.Plan(ordersV1, nil)
		got := ""
		switch {
		case err != nil:
			got = "error"
			if !strings.Contains(err.Error(), "shop.orders") {
				t.Errorf("%s: error does not name the table: %v", tc.mode, err)
			}
		case len(p.Steps) == 1 && p.Steps[0].Kind == StepDropTable:
			got = "drop"
		case len(p.Steps) == 0 && len(p.Notes) == 1:
			got = "note"
		}
		if got != tc.want {
			t.Errorf("%s: drop table plan = %v, %v; want %s", tc.mode, p, err, tc.want)
		}
	}
}
