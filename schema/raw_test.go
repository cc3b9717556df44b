package schema

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/odsync/odsync/event"
)

// rawScenarioTable: a key, a BIGINT, a DATE, a DATETIME, a TIMESTAMP and a DECIMAL(9,2).
func rawScenarioTable() *event.Table {
	return tableSpec("shop", "r", "*id int", "big bigint", "d date", "dt datetime", "ts timestamp", "amt decimal(9,2)")
}

func rawEvent(tb *event.Table, vals ...event.Value) *event.Event {
	return &event.Event{Seq: 42, Op: event.OpInsert, Source: tb.ID, Table: tb, After: vals,
		Pos: event.Position{File: "bin.000003", Offset: 1234}}
}

func TestRawFallback(t *testing.T) {
	t.Parallel()
	zeroTS := event.TimestampMicros(0) // MySQL's zero TIMESTAMP
	tests := []struct {
		name string
		cfg  Config
		vals []event.Value
		// want: column -> value text ("NULL"), plus "_raw".
		want map[string]string
	}{
		{"zero dates go to _raw by default", Config{},
			[]event.Value{event.Int(1), event.Int(5), event.Date(0, 0, 0), event.DateTime(2024, 0, 15, 1, 2, 3, 0), zeroTS, event.Decimal("1.50")},
			map[string]string{"d": "NULL", "dt": "NULL", "ts": "NULL", "big": "int:5", "amt": "decimal:1.50",
				"_raw": `{"d":"0000-00-00","dt":"2024-00-15 01:02:03","ts":"0000-00-00 00:00:00"}`}},
		{"zero_dates: null drops them (opt-in)", Config{ZeroDates: ZeroDatesNull},
			[]event.Value{event.Int(1), event.Int(5), event.Date(0, 0, 0), event.Null, event.Null, event.Null},
			map[string]string{"d": "NULL", "_raw": "NULL"}},
		{"zero_dates: string keeps the text in a STRING column", Config{ZeroDates: ZeroDatesString},
			[]event.Value{event.Int(1), event.Int(5), event.Date(0, 0, 0), event.Null, event.Null, event.Null},
			map[string]string{"d": "string:0000-00-00", "_raw": "NULL"}},
		{"-2^63 fits a Parquet BIGINT", Config{},
			[]event.Value{event.Int(1), event.Int(math.MinInt64), event.Null, event.Null, event.Null, event.Null},
			map[string]string{"big": "int:-9223372036854775808", "_raw": "NULL"}},
		{"-2^63 does not fit a MaxCompute BIGINT", Config{System: SystemMaxCompute},
			[]event.Value{event.Int(1), event.Int(math.MinInt64), event.Null, event.Null, event.Null, event.Null},
			map[string]string{"big": "NULL", "_raw": `{"big":"-9223372036854775808"}`}},
		{"-2^63+1 fits a MaxCompute BIGINT", Config{System: SystemMaxCompute},
			[]event.Value{event.Int(1), event.Int(math.MinInt64 + 1), event.Null, event.Null, event.Null, event.Null},
			map[string]string{"big": "int:-9223372036854775807", "_raw": "NULL"}},
		{"a value of the wrong kind, with characters JSON escapes", Config{},
			[]event.Value{event.Int(1), event.Null, event.Null, event.Null, event.Null, event.String("12\"3\n\\ü\x01")},
			map[string]string{"amt": "NULL", "_raw": `{"amt":"12\"3\n\\ü\u0001"}`}},
		{"too many integer digits for an override", Config{Tables: []TableRule{{Source: `shop\.r`, Columns: map[string]ColumnRule{"amt": {Type: "decimal(4,2)"}}}}},
			[]event.Value{event.Int(1), event.Null, event.Null, event.Null, event.Null, event.Decimal("1234567.89")},
			map[string]string{"amt": "NULL", "_raw": `{"amt":"1234567.89"}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := mustMapper(t, tc.cfg)
			tb := rawScenarioTable()
			tg, err := m.Target(tb)
			if err != nil {
				t.Fatal(err)
			}
			row, err := tg.SinkRow(rawEvent(tb, tc.vals...), nil)
			if err != nil {
				t.Fatalf("SinkRow: %v", err)
			}
			for col, want := range tc.want {
				i := tg.ColumnIndex(col)
				if i < 0 {
					t.Fatalf("no column %s", col)
				}
				got := row[i].String()
				if col == ColRaw && !row[i].IsNull() {
					got = row[i].Str()
				}
				if got != want {
					t.Errorf("%s = %s, want %s", col, got, want)
				}
			}
		})
	}
}

func TestRawCountsAndLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(lockedWriter{&buf, &mu}, nil))
	m := mustMapper(t, Config{System: SystemMaxCompute, Logger: lg})
	tb := rawScenarioTable()
	tg, err := m.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var row []event.Value
			for range 25 {
				row = tg.Row(rawEvent(tb, event.Int(1), event.Int(math.MinInt64), event.Date(0, 0, 0), event.Null, event.Null, event.Null), row)
			}
		}()
	}
	wg.Wait()
	got := m.RawCounts()
	if len(got) != 2 || got[0] != (RawCount{Source: tb.ID, Table: "ods_shop_r", Column: "big", Count: 100}) ||
		got[1] != (RawCount{Source: tb.ID, Table: "ods_shop_r", Column: "d", Count: 100}) {
		t.Fatalf("RawCounts = %+v", got)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Fatalf("%d WARN lines, want one per column:\n%s", n, out)
	}
	for _, want := range []string{"table=ods_shop_r", "column=big", "column=d", "pos=bin.000003:1234", "seq=42", "out of range", "zero date"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestOnValueErrorStop(t *testing.T) {
	t.Parallel()
	m := mustMapper(t, Config{System: SystemMaxCompute, OnValueError: OnValueErrorStop})
	tb := rawScenarioTable()
	tg, err := m.Target(tb)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tg.SinkRow(rawEvent(tb, event.Int(1), event.Int(math.MinInt64), event.Null, event.Null, event.Null, event.Null), nil)
	var ce *ConvertError
	if !errors.As(err, &ce) || ce.Column != "big" {
		t.Fatalf("SinkRow error = %v, want a ConvertError for column big", err)
	}
	for _, want := range []string{"shop.r", "ods_shop_r", "column big", "bin.000003:1234", "seq 42", "out of range"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Zero dates follow zero_dates (raw) also under stop.
	row, err := tg.SinkRow(rawEvent(tb, event.Int(1), event.Null, event.Date(0, 0, 0), event.Null, event.Null, event.Null), nil)
	if err != nil || row[tg.ColumnIndex(ColRaw)].Str() != `{"d":"0000-00-00"}` {
		t.Fatalf("zero date under stop: %v, %v", row, err)
	}
	if len(m.RawCounts()) != 1 {
		t.Errorf("RawCounts = %+v", m.RawCounts())
	}
	if err := (&Config{OnValueError: "skip"}).Validate(); err == nil || !strings.Contains(err.Error(), "on_value_error") {
		t.Errorf("on_value_error: skip accepted: %v", err)
	}
	if err := (&Config{ZeroDates: "keep"}).Validate(); err == nil || !strings.Contains(err.Error(), "zero_dates") {
		t.Errorf("zero_dates: keep accepted: %v", err)
	}
}

func TestPerSystemDecimals(t *testing.T) {
	t.Parallel()
	tb := (&event.Table{ID: id("shop", "dec"), Columns: []event.Column{
		{Name: "wide", Type: event.TypeDecimal, Precision: 40, Scale: 20, RawType: "decimal(40,20)", Nullable: true},
		{Name: "fine", Type: event.TypeDecimal, Precision: 30, Scale: 20, RawType: "decimal(30,20)", Nullable: true},
		{Name: "odps", Type: event.TypeDecimal, Precision: 38, Scale: 18, RawType: "decimal(38,18)", Nullable: true},
		{Name: "unknown", Type: event.TypeDecimal, RawType: "decimal", Nullable: true},
		{Name: "dflt", Type: event.TypeDecimal, Precision: 10, RawType: "decimal(10,0)", Nullable: true},
	}}).Seal()
	for _, tc := range []struct {
		sys  System
		want string
	}{
		{SystemMaxCompute, "wide STRING,fine STRING,odps DECIMAL(38,18),unknown STRING,dflt DECIMAL(10,0)"},
		{SystemFiles, "wide STRING,fine DECIMAL(30,20),odps DECIMAL(38,18),unknown STRING,dflt DECIMAL(10,0)"},
	} {
		tg, err := mustMapper(t, Config{System: tc.sys}).Target(tb)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range tg.Columns[5:] {
			got = append(got, c.Name+" "+c.MaxCompute)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s: %s, want %s", tc.sys, strings.Join(got, ","), tc.want)
		}
		// the STRING columns keep every digit
		row := tg.Row(&event.Event{Op: event.OpInsert, Source: tb.ID, After: []event.Value{
			event.Decimal("12345678901234567890.12345678901234567890"), event.Decimal("1234567890.00000000000000000001"),
			event.Null, event.Decimal("-99999999999999999999999999999999999.000000000000000000000000000001"), event.Null}}, nil)
		if row[5].Str() != "12345678901234567890.12345678901234567890" || row[6].Str() != "1234567890.00000000000000000001" ||
			row[8].Str() != "-99999999999999999999999999999999999.000000000000000000000000000001" || !row[4].IsNull() {
			t.Errorf("%s: row = %v", tc.sys, row)
		}
	}
	// An override MaxCompute cannot hold is a configuration error naming the key.
	for _, cfg := range []Config{
		{System: SystemMaxCompute, Types: map[string]string{"decimal": "decimal(38,20)"}},
		{System: SystemMaxCompute, Tables: []TableRule{{Source: `shop\.dec`, Columns: map[string]ColumnRule{"fine": {Type: "decimal(38,20)"}}}}},
	} {
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "scale is at most 18") || !strings.Contains(err.Error(), "decimal") {
			t.Errorf("decimal(38,20) on MaxCompute: %v", err)
		}
		cfg.System = SystemFiles
		if err := cfg.Validate(); err != nil {
			t.Errorf("decimal(38,20) for files: %v", err)
		}
	}
	if err := (&Config{System: "orc"}).Validate(); err == nil {
		t.Error("system orc accepted")
	}
}

// TestReconcileAddsRaw: a table created before _raw existed gets it added
// in every evolution mode (also ignore and exception), and rows then use it.
func TestReconcileAddsRaw(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeLenient, ModeEvolve, ModeIgnore, ModeException} {
		m := mustMapper(t, Config{Evolution: mode, System: SystemMaxCompute})
		tb := rawScenarioTable()
		old := Existing{Version: 1, Columns: []ExistingColumn{{"_op", "STRING"}, {"_seq", "BIGINT"}, {"_commit_ts", "TIMESTAMP"},
			{"_pos", "STRING"}, {"id", "INT"}, {"big", "BIGINT"}, {"d", "DATE"}, {"dt", "TIMESTAMP_NTZ"}, {"ts", "TIMESTAMP"},
			{"amt", "DECIMAL(9,2)"}}}
		p, err := m.Reconcile(tb, old)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if len(p.Steps) != 1 || p.Steps[0].Kind != StepAddColumns || len(p.Steps[0].Columns) != 1 ||
			p.Steps[0].Columns[0].Name != ColRaw || !p.Steps[0].Columns[0].Nullable {
			t.Fatalf("%s: plan %s", mode, p)
		}
		if ddl := p.MaxCompute(MaxComputeOptions{}); len(ddl) != 1 || !strings.Contains(ddl[0], "ADD COLUMNS (`_raw` STRING COMMENT") {
			t.Errorf("%s: DDL %v", mode, ddl)
		}
		tg, err := m.Target(tb)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if i := tg.ColumnIndex(ColRaw); i != len(tg.Columns)-1 {
			t.Fatalf("%s: _raw at %d of %d", mode, i, len(tg.Columns))
		}
		row := tg.Row(rawEvent(tb, event.Int(1), event.Int(math.MinInt64), event.Null, event.Null, event.Null, event.Null), nil)
		if row[len(row)-1].Str() != `{"big":"-9223372036854775808"}` {
			t.Errorf("%s: row %v", mode, row)
		}
	}
}
