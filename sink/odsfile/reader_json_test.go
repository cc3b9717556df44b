package odsfile

import (
	"math"
	"strings"
	"testing"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// The JSON-lines reader keeps every value's exact text: numbers are never
// read through float64 unless their column is FLOAT/DOUBLE, strings are
// unescaped exactly, and bad lines are errors naming the line.
func TestReadJSONLinesValueFidelity(t *testing.T) {
	target := &schema.Target{Columns: []schema.TargetColumn{
		{Name: "big", Kind: schema.KindBigInt},
		{Name: "dec", Kind: schema.KindDecimal, Precision: 38, Scale: 4},
		{Name: "dbl", Kind: schema.KindDouble},
		{Name: "s", Kind: schema.KindString},
		{Name: "flag", Kind: schema.KindBoolean},
	}}
	col := map[string]int{"big": 0, "dec": 1, "dbl": 2, "s": 3, "flag": 4}
	for _, tc := range []struct {
		name, line string
		col        string
		want       event.Value
		err        string
	}{
		{name: "int64 max", line: `{"big":9223372036854775807}`, col: "big", want: event.Int(math.MaxInt64)},
		{name: "int64 min", line: `{"big":-9223372036854775808}`, col: "big", want: event.Int(math.MinInt64)},
		{name: "beyond int64 kept as text", line: `{"big":18446744073709551615}`, col: "big", want: event.String("18446744073709551615")},
		{name: "big integer as string", line: `{"big":"123456789012345678901234567890"}`, col: "big", want: event.String("123456789012345678901234567890")},
		{name: "decimal string exact", line: `{"dec":"-1234567890123456789012345678.0123"}`, col: "dec", want: event.Decimal("-1234567890123456789012345678.0123")},
		{name: "decimal number exact", line: `{"dec":0.1000}`, col: "dec", want: event.Decimal("0.1000")},
		{name: "negative zero double", line: `{"dbl":-0}`, col: "dbl", want: event.Float64(math.Copysign(0, -1))},
		{name: "negative zero as string", line: `{"dbl":"-0.0"}`, col: "dbl", want: event.Float64(math.Copysign(0, -1))},
		{name: "exponent", line: `{"dbl":-2.25e300}`, col: "dbl", want: event.Float64(-2.25e300)},
		{name: "negative zero in a string column", line: `{"s":-0}`, col: "s", want: event.String("-0")},
		{name: "escapes", line: `{"s":"a\"b\\c\/d\b\f\n\r\t"}`, col: "s", want: event.String("a\"b\\c/d\b\f\n\r\t")},
		{name: "unicode escape", line: `{"s":"caf\u00e9 \u65e5"}`, col: "s", want: event.String("café 日")},
		{name: "surrogate pair", line: `{"s":"\ud83d\ude00"}`, col: "s", want: event.String("😀")},
		{name: "lone surrogate", line: `{"s":"x\ud83dy"}`, col: "s", want: event.String("x\uFFFDy")},
		// A high surrogate followed by another escape keeps that escape's character.
		{name: "high surrogate then escape", line: `{"s":"\ud83d\u0041"}`, col: "s", want: event.String("\uFFFDA")},
		{name: "escaped key", line: `{"\u0073":"k"}`, col: "s", want: event.String("k")},
		{name: "raw utf-8", line: `{"s":"日本語"}`, col: "s", want: event.String("日本語")},
		{name: "null", line: `{"s":null}`, col: "s", want: event.Null},
		{name: "bool column", line: `{"flag":true}`, col: "flag", want: event.Int(1)},
		{name: "bool in a string column", line: `{"s":false}`, col: "s", want: event.String("false")},
		{name: "nested unknown member", line: `{"other":{"x":[1]},"s":"v"}`, err: `member "other" is a JSON object`},
		{name: "unknown scalar member ignored", line: `{"other":1, "s" : "v" }`, col: "s", want: event.String("v")},
		{name: "not an object", line: `[1,2]`, err: "line 1: a JSON array, not an object"},
		{name: "nested value", line: `{"s":{"a":1}}`, err: `member "s" is a JSON object`},
		{name: "truncated", line: `{"s":"abc`, err: "line 1: invalid JSON at offset 5: unterminated string"},
		{name: "trailing data", line: `{"s":"a"} x`, err: "trailing data"},
		{name: "bad number", line: `{"dbl":1.}`, err: "line 1: invalid JSON"},
		{name: "bad escape", line: `{"s":"\x"}`, err: `invalid escape \x`},
		{name: "control character", line: "{\"s\":\"a\x01\"}", err: "control character 0x01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []event.Value
			err := NewRowReader(target).ReadJSONLines(strings.NewReader(tc.line+"\n"), func(row []event.Value) error {
				got = append([]event.Value(nil), row...)
				return nil
			})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := got[col[tc.col]]
			if v != tc.want || (v.Kind() == event.KindFloat64 && math.Signbit(v.Float()) != math.Signbit(tc.want.Float())) {
				t.Fatalf("%s = %#v, want %#v", tc.col, v, tc.want)
			}
		})
	}
}

// Lines are independent: a line's escaped text never leaks into the next,
// and long lines of many escaped members reuse the reader's buffers safely.
func TestReadJSONLinesBuffers(t *testing.T) {
	target := &schema.Target{Columns: []schema.TargetColumn{{Name: "a", Kind: schema.KindString}, {Name: "b", Kind: schema.KindString}}}
	in := `{"a":"plain","\u0062":"x\ny"}` + "\n" + `{"\u0061":"\u00e9\u00e9","b":"q"}` + "\r\n\n" + `{"b":"` + strings.Repeat(`\u0041`, 100000) + `"}`
	var rows [][]event.Value
	if err := NewRowReader(target).ReadJSONLines(strings.NewReader(in), func(row []event.Value) error {
		rows = append(rows, append([]event.Value(nil), row...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := [][]event.Value{
		{event.String("plain"), event.String("x\ny")},
		{event.String("éé"), event.String("q")},
		{event.Null, event.String(strings.Repeat("A", 100000))},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if rows[i][j] != want[i][j] {
				t.Errorf("row %d col %d = %.40v, want %.40v", i, j, rows[i][j], want[i][j])
			}
		}
	}
}
