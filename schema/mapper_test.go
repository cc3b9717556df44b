package schema

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/odsync/odsync/event"
)

func id(db, table string) event.TableID { return event.TableID{DB: db, Table: table} }

func mustMapper(t *testing.T, cfg Config) *Mapper {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// ordersTable is a small table with a primary key.
func ordersTable(db, name string) *event.Table {
	return (&event.Table{
		ID: id(db, name),
		Columns: []event.Column{
			{Name: "id", Type: event.TypeBigInt, Unsigned: true, RawType: "bigint unsigned"},
			{Name: "Amount", Type: event.TypeDecimal, Precision: 12, Scale: 2, Nullable: true, RawType: "decimal(12,2)"},
			{Name: "created", Type: event.TypeDateTime, Scale: 3, Nullable: true, RawType: "datetime(3)"},
			{Name: "note", Type: event.TypeVarchar, Length: 64, Nullable: true, RawType: "varchar(64)"},
		},
		Key: []int{0},
	}).Seal()
}

func TestCaptures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		in   event.TableID
		want bool
	}{
		{"default user table", Config{}, id("shop", "orders"), true},
		{"default system schema", Config{}, id("mysql", "user"), false},
		{"default sys", Config{}, id("sys", "x"), false},
		{"default information_schema", Config{}, id("information_schema", "tables"), false},
		{"default performance_schema", Config{}, id("performance_schema", "x"), false},
		{"include match", Config{Include: []string{`shop\..*`}}, id("shop", "orders"), true},
		{"include is a full match", Config{Include: []string{`shop\.order`}}, id("shop", "orders"), false},
		{"include other db", Config{Include: []string{`shop\..*`}}, id("crm", "users"), false},
		{"explicit include of system schema", Config{Include: []string{`mysql\.user`}}, id("mysql", "user"), true},
		{"exclude wins", Config{Include: []string{`shop\..*`}, Exclude: []string{`shop\.tmp_.*`}}, id("shop", "tmp_1"), false},
		{"exclude other", Config{Exclude: []string{`shop\.tmp_.*`}}, id("shop", "orders"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustMapper(t, tc.cfg)
			if got := m.Captures(tc.in); got != tc.want {
				t.Fatalf("Captures(%s) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestTargetName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		in      event.TableID
		want    string
		wantErr string
	}{
		{"default", Config{}, id("Shop", "Orders"), "ods_shop_orders", ""},
		{"template", Config{Target: "x_{table}"}, id("shop", "orders"), "x_orders", ""},
		{"route groups", Config{Routes: []Route{{Source: `app_(\w+)\.t_(\w+)`, Target: "ods_$1_${2}"}}},
			id("app_crm", "t_users"), "ods_crm_users", ""},
		{"route named group", Config{Routes: []Route{{Source: `(?P<d>\w+)\.(?P<t>\w+)_\d+`, Target: "ods_${d}_${t}", Merge: true}}},
			id("shop", "order_07"), "ods_shop_order", ""},
		{"first route wins", Config{Routes: []Route{
			{Source: `shop\.orders`, Target: "first"}, {Source: `shop\..*`, Target: "second_{table}"}}},
			id("shop", "orders"), "first", ""},
		{"unrouted uses template", Config{Routes: []Route{{Source: `shop\.orders`, Target: "first"}}},
			id("shop", "items"), "ods_shop_items", ""},
		{"table rule target wins", Config{Tables: []TableRule{{Source: `shop\.orders`, Target: "o"}}},
			id("shop", "orders"), "o", ""},
		{"illegal char", Config{}, id("shop", "order-items"), "", `"ods_shop_order-items" has '-'`},
		{"non-ascii", Config{}, id("shop", "订单"), "", "only letters, digits and underscores"},
		{"too long", Config{}, id("shop", strings.Repeat("x", 130)), "", "longer than 128"},
		{"starts with digit", Config{Target: "{table}"}, id("shop", "1x"), "", "does not start with a letter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustMapper(t, tc.cfg)
			got, err := m.TargetName(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.in.String()) {
					t.Fatalf("TargetName(%s) error = %v, want one naming the table and containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("TargetName(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestTargetLayout(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{})
	tg, err := m.Target(ordersTable("shop", "orders"))
	if err != nil {
		t.Fatal(err)
	}
	var names, types []string
	for _, c := range tg.Columns {
		names = append(names, c.Name)
		types = append(types, c.MaxCompute)
	}
	if got, want := strings.Join(names, ","), "_op,_seq,_commit_ts,_pos,_raw,id,amount,created,note"; got != want {
		t.Fatalf("columns = %s, want %s", got, want)
	}
	if got, want := strings.Join(types, ","), "STRING,BIGINT,TIMESTAMP,STRING,STRING,DECIMAL(20,0),DECIMAL(12,2),TIMESTAMP_NTZ,STRING"; got != want {
		t.Fatalf("types = %s, want %s", got, want)
	}
	if len(tg.Key) != 1 || tg.Columns[tg.Key[0]].Name != "id" {
		t.Fatalf("key = %v", tg.Key)
	}
	if tg.Name != "ods_shop_orders" || tg.PartitionColumn != "ds" || tg.Columns[5].Source != 0 || tg.Columns[0].Source != -1 {
		t.Fatalf("target = %+v", tg)
	}
	if tg.Columns[0].Nullable || !tg.Columns[5].Nullable || !tg.Columns[4].Nullable || tg.Columns[4].Meta != MetaRaw {
		t.Fatalf("nullability: meta %v _raw %v source %v", tg.Columns[0].Nullable, tg.Columns[4].Nullable, tg.Columns[5].Nullable)
	}
	// cached per version
	tg2, err := m.Target(ordersTable("shop", "orders"))
	if err != nil || tg2 != tg {
		t.Fatalf("second Target = %p, %v; want cached %p", tg2, err, tg)
	}
}

func TestRow(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{})
	tb := ordersTable("shop", "orders")
	tg, err := m.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	row := []event.Value{event.Uint(18446744073709551615), event.Decimal("12.5"), event.DateTime(2026, 11, 21, 13, 4, 5, 123000), event.String("hi")}
	e := &event.Event{Seq: 42, Op: event.OpUpdate, Source: tb.ID, Table: tb, Before: row, After: row,
		CommitTime: 1_795_000_000_000_000, Pos: event.Position{File: "bin.000003", Offset: 1234}}
	got := tg.Row(e, nil)
	want := []string{"string:U", "uint:42", "timestamp:2026-11-18T11:06:40Z", "string:bin.000003:1234", "NULL",
		"decimal:18446744073709551615", "decimal:12.50", "datetime:2026-11-21 13:04:05.123000", "string:hi"}
	if len(got) != len(want) {
		t.Fatalf("row has %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("row[%d] (%s) = %s, want %s", i, tg.Columns[i].Name, got[i], want[i])
		}
	}
	// deletes read Before; dst is reused.
	del := *e
	del.Op = event.OpDelete
	del.After = nil
	got2 := tg.Row(&del, got[:0])
	if &got2[0] != &got[0] || got2[0].Str() != "D" || got2[8].Str() != "hi" {
		t.Fatalf("delete row = %v", got2)
	}
	// short image: missing values are NULL
	short := *e
	short.After = row[:2]
	got3 := tg.Row(&short, nil)
	if !got3[7].IsNull() || !got3[8].IsNull() {
		t.Fatalf("short image row = %v", got3)
	}
}

func TestCheckedRowError(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{ZeroDates: ZeroDatesError})
	tb := ordersTable("shop", "orders")
	tg, err := m.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	e := &event.Event{Seq: 7, Op: event.OpInsert, Source: tb.ID, Table: tb, Pos: event.Position{File: "bin.1", Offset: 9},
		After: []event.Value{event.Uint(1), event.Null, event.DateTime(0, 0, 0, 0, 0, 0, 0), event.Null}}
	_, err = tg.CheckedRow(e, nil)
	var ce *ConvertError
	if !errors.As(err, &ce) || !errors.Is(err, ErrZeroDate) {
		t.Fatalf("CheckedRow error = %v, want a ConvertError wrapping ErrZeroDate", err)
	}
	for _, s := range []string{"shop.orders", "created", "bin.1:9", "seq 7"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	// Row keeps the source text in _raw instead of failing; SinkRow
	// refuses it (zero_dates: error stops every sink).
	row := tg.Row(e, nil)
	if !row[7].IsNull() || row[4].Str() != `{"created":"0000-00-00 00:00:00"}` {
		t.Fatalf("Row fallback = %v, _raw %v", row[7], row[4])
	}
	if _, err := tg.SinkRow(e, nil); !errors.Is(err, ErrZeroDate) {
		t.Fatalf("SinkRow error = %v, want ErrZeroDate", err)
	}
}

func TestPartition(t *testing.T) {
	t.Parallel()
	const us = 1_795_000_000_000_000 // 2026-11-18T11:06:40Z
	tests := []struct {
		cfg  PartitionConfig
		want string
	}{
		{PartitionConfig{}, "20261118"},
		{PartitionConfig{Granularity: "hour"}, "2026111811"},
		{PartitionConfig{TimeZone: "Asia/Shanghai", Granularity: "hour"}, "2026111819"},
		{PartitionConfig{TimeZone: "America/Los_Angeles"}, "20261118"},
		{PartitionConfig{TimeZone: "Pacific/Kiritimati"}, "20261119"},
	}
	for _, tc := range tests {
		m := mustMapper(t, Config{Partition: tc.cfg})
		tg, err := m.Target(ordersTable("shop", "orders"))
		if err != nil {
			t.Fatal(err)
		}
		if got := tg.Partition(us); got != tc.want {
			t.Errorf("%+v: Partition = %s, want %s", tc.cfg, got, tc.want)
		}
	}
	m := mustMapper(t, Config{Partition: PartitionConfig{TimeZone: "Asia/Shanghai"}})
	tg, _ := m.Target(ordersTable("shop", "orders"))
	if got := tg.Partition(1_795_024_000_000_000); got != "20261119" { // 2026-11-18T17:46:40Z = 01:46 +8
		t.Errorf("Shanghai partition = %s", got)
	}
	if got := tg.Partition(0); got != "19700101" {
		t.Errorf("epoch partition = %s", got)
	}
}

func TestMergedRoute(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{Routes: []Route{{Source: `shop\.order_\d+`, Target: "ods_shop_order", Merge: true}}})
	a, err := m.Target(ordersTable("shop", "order_00"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Target(ordersTable("shop", "order_63"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "ods_shop_order" || b.Name != a.Name || !a.Merged {
		t.Fatalf("names %s %s merged %v", a.Name, b.Name, a.Merged)
	}
	if a.Columns[4].Name != ColRaw || a.Columns[5].Name != ColSourceDB || a.Columns[6].Name != ColSourceTable {
		t.Fatalf("columns %v", a.Columns)
	}
	var keys []string
	for _, k := range a.Key {
		keys = append(keys, a.Columns[k].Name)
	}
	if strings.Join(keys, ",") != "_src_db,_src_table,id" {
		t.Fatalf("key = %v", keys)
	}
	tb := ordersTable("shop", "order_63")
	row := b.Row(&event.Event{Op: event.OpInsert, Source: tb.ID, After: make([]event.Value, 4)}, nil)
	if row[5].Str() != "shop" || row[6].Str() != "order_63" {
		t.Fatalf("row = %v", row)
	}
	// An incompatible shard is refused with both table names.
	bad := ordersTable("shop", "order_07")
	bad.Columns[1].Type = event.TypeVarchar
	bad.Columns[1].RawType = "varchar(10)"
	bad.Seal()
	_, err = m.Target(bad)
	if err == nil || !strings.Contains(err.Error(), "shop.order_07") || !strings.Contains(err.Error(), "shop.order_0") ||
		!strings.Contains(err.Error(), "Amount") {
		t.Fatalf("incompatible shard error = %v", err)
	}
}

func TestCollision(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{Target: "ods_{table}"})
	if _, err := m.Target(ordersTable("a", "orders")); err != nil {
		t.Fatal(err)
	}
	_, err := m.Target(ordersTable("b", "orders"))
	if err == nil || !strings.Contains(err.Error(), "a.orders") || !strings.Contains(err.Error(), "b.orders") ||
		!strings.Contains(err.Error(), "ods_orders") {
		t.Fatalf("collision error = %v", err)
	}
}

func TestTargetConcurrent(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{Routes: []Route{{Source: `shop\.order_\d+`, Target: "ods_shop_order", Merge: true}}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				tb := ordersTable("shop", "order_0"+string(rune('0'+(i+j)%8)))
				if _, err := m.Target(tb); err != nil {
					t.Error(err)
					return
				}
				m.Captures(tb.ID)
			}
		}()
	}
	wg.Wait()
}
