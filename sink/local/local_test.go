package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

func TestFormats(t *testing.T) {
	tbl := (&event.Table{ID: event.TableID{DB: "shop", Table: "orders"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "note", Type: event.TypeVarchar, Length: 10, Nullable: true, RawType: "varchar(10)"},
	}}).Seal()
	var evs []event.Event
	for i := 1; i <= 3; i++ {
		evs = append(evs, event.Event{Seq: uint64(i), Op: event.OpInsert, Source: tbl.ID, Table: tbl, CommitTime: 1714557600000000,
			After: []event.Value{event.Int(int64(i)), event.String("n, \"q\"")}})
	}
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, data []byte)
	}{
		{"jsonl", func(t *testing.T, data []byte) {
			if n := bytes.Count(data, []byte("\n")); n != 3 {
				t.Errorf("%d lines", n)
			}
		}},
		{"csv", func(t *testing.T, data []byte) {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) != 4 || lines[0] != `"_op","_seq","_commit_ts","_pos","_raw","id","note"` || !strings.HasSuffix(lines[1], `"1","n, \"q\""`) {
				t.Errorf("csv:\n%s", data)
			}
		}},
		{"parquet", func(t *testing.T, data []byte) {
			f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil || f.NumRows() != 3 {
				t.Errorf("parquet: %v, %d rows", err, f.NumRows())
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			cfg := schema.Config{}
			cfg.EnsureDefaults()
			m, err := schema.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			s, err := New(Config{Dir: dir, Format: tc.format}, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Write(context.Background(), &sink.Batch{First: 1, Last: 3, Events: evs}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "ods_shop_orders", "ds=20240501", "00000000000000000001-00000000000000000003."+tc.format)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, data)
			schemas, _ := filepath.Glob(filepath.Join(dir, "ods_shop_orders", "_schema", "v*.json"))
			cur, err := os.ReadFile(filepath.Join(dir, "ods_shop_orders", "_schema", "current.json"))
			if len(schemas) != 1 || err != nil {
				t.Errorf("schema files: %v, current.json: %v", schemas, err)
			} else if v, _ := os.ReadFile(schemas[0]); string(v) != string(cur) {
				t.Errorf("current.json is not the layout's schema file")
			}
		})
	}
	if err := (&Config{Dir: "x", Format: "orc", Compression: "snappy"}).Validate("local"); err == nil {
		t.Error("format orc accepted")
	}
}

// TestZeroDateInRaw: a zero date is NULL in its DATE column and its text
// is in _raw (default zero_dates: raw); under on_value_error: stop a value
// out of range stops the sink with a permanent error.
func TestZeroDateInRaw(t *testing.T) {
	tbl := (&event.Table{ID: event.TableID{DB: "shop", Table: "d"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "d", Type: event.TypeDate, Nullable: true, RawType: "date"},
	}}).Seal()
	evs := []event.Event{{Seq: 1, Op: event.OpInsert, Source: tbl.ID, Table: tbl, CommitTime: 1714557600000000,
		After: []event.Value{event.Int(1), event.Date(2024, 0, 15)}}}
	m, err := schema.New(schema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := New(Config{Dir: dir, Format: "jsonl"}, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), &sink.Batch{First: 1, Last: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "ods_shop_d", "ds=20240501", "00000000000000000001-00000000000000000001.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"_raw":"{\"d\":\"2024-00-15\"}","id":1,"d":null}`; !strings.Contains(string(data), want) {
		t.Errorf("row %s lacks %s", data, want)
	}

	stop, err := schema.New(schema.Config{OnValueError: schema.OnValueErrorStop,
		Tables: []schema.TableRule{{Source: `shop\.d`, Columns: map[string]schema.ColumnRule{"id": {Type: "tinyint"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{Dir: t.TempDir(), Format: "jsonl"}, stop)
	if err != nil {
		t.Fatal(err)
	}
	evs[0].After[0] = event.Int(1000)
	err = s2.Write(context.Background(), &sink.Batch{First: 1, Last: 1, Events: evs})
	if !errors.Is(err, sink.ErrPermanent) || !strings.Contains(err.Error(), "column id") {
		t.Fatalf("out of range under on_value_error: stop: %v", err)
	}
}
