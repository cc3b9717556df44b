package jsontape

import (
	"errors"
	"strings"
	"testing"
)

// Scalars keep their exact source text (numbers are never converted) and
// strings unescape as encoding/json does.
func TestScalars(t *testing.T) {
	for _, tc := range []struct {
		src  string
		kind Kind
		text string // Raw for numbers and literals, Text for strings
	}{
		{`18446744073709551616`, JNumber, `18446744073709551616`},
		{`-123456789012345678901234567890.000000000000000000001`, JNumber, `-123456789012345678901234567890.000000000000000000001`},
		{`-0`, JNumber, `-0`},
		{`-0.0e-0`, JNumber, `-0.0e-0`},
		{`1e400`, JNumber, `1e400`},
		{` true `, JTrue, `true`},
		{`false`, JFalse, `false`},
		{`null`, JNull, `null`},
		{`""`, JString, ``},
		{`"plain"`, JString, `plain`},
		{`"\"\\\/\b\f\n\r\t"`, JString, "\"\\/\b\f\n\r\t"},
		{`"\u00e9\u65E5"`, JString, "é日"},
		{`"\ud83d\ude00"`, JString, "😀"},
		{`"\ud83d"`, JString, "\uFFFD"},
		{`"\ude00x"`, JString, "\uFFFDx"},
		{`"\ud83d\u0041"`, JString, "\uFFFDA"},
		{`"\u0000"`, JString, "\x00"},
		{"\"日本\xff\"", JString, "日本\xff"}, // bytes pass through; the caller decides
	} {
		var tp Tape
		root, err := tp.ParseOne([]byte(tc.src))
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if k := tp.Kind(root); k != tc.kind {
			t.Fatalf("%s: kind %s, want %s", tc.src, k, tc.kind)
		}
		got := string(tp.Raw(root))
		if tc.kind == JString {
			got = string(tp.Text(root, nil))
			if s := tp.Str(root); s != got {
				t.Fatalf("%s: Str %q, Text %q", tc.src, s, got)
			}
		}
		if got != tc.text {
			t.Fatalf("%s: %q, want %q", tc.src, got, tc.text)
		}
	}
}

func TestStructure(t *testing.T) {
	var tp Tape
	root, err := tp.ParseOne([]byte(`{"a":[1,{"b":null},"x"],"\u0063":{},"d":-0}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := tp.Count(root); n != 3 {
		t.Fatalf("members %d, want 3", n)
	}
	a := tp.Field(root, "a")
	if tp.Kind(a) != JArray || tp.Count(a) != 3 {
		t.Fatalf("a: %s of %d", tp.Kind(a), tp.Count(a))
	}
	el := tp.Elems(a, nil)
	if tp.Kind(el[1]) != JObject || !tp.IsNull(tp.Field(el[1], "b")) || tp.Str(el[2]) != "x" {
		t.Fatalf("elements of a: %v", el)
	}
	if c := tp.Field(root, "c"); c < 0 || tp.Kind(c) != JObject || tp.Count(c) != 0 {
		t.Fatalf("escaped key c: %d", c)
	}
	if d := tp.Field(root, "d"); string(tp.Raw(d)) != "-0" {
		t.Fatalf("d: %q", tp.Raw(d))
	}
	if tp.Field(root, "missing") != -1 || !tp.IsNull(-1) {
		t.Fatal("missing member")
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ src, err string }{
		{``, "empty JSON document"},
		{`   `, "empty JSON document"},
		{`{"a":1`, "unexpected end of JSON input"},
		{`{"a" 1}`, "invalid JSON at offset"},
		{`[1,]`, "invalid JSON at offset"},
		{`01`, "invalid JSON at offset"},
		{`1.`, "invalid JSON at offset"},
		{`+1`, "invalid JSON at offset"},
		{`"\x"`, `invalid escape \x`},
		{`"\u12"`, `escape`},
		{"\"a\nb\"", "control character 0x0a"},
		{`tru`, "invalid JSON at offset"},
		{`{} {}`, "trailing data"},
		{strings.Repeat("[", MaxJSONDepth+2) + strings.Repeat("]", MaxJSONDepth+2), "nesting deeper than"},
	} {
		var tp Tape
		if _, err := tp.ParseOne([]byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%.40q: err %v, want one containing %q", tc.src, err, tc.err)
		}
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil}, {"-0", 0, nil}, {"9223372036854775807", 1<<63 - 1, nil}, {"-9223372036854775808", -1 << 63, nil},
		{"9223372036854775808", 0, ErrRange}, {"-9223372036854775809", 0, ErrRange}, {"", 0, ErrSyntax}, {"-", 0, ErrSyntax},
		{"1.5", 0, ErrSyntax}, {"1e3", 0, ErrSyntax},
	} {
		got, err := ParseInt([]byte(tc.in))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if u, err := ParseUint([]byte("18446744073709551615")); u != 1<<64-1 || err != nil {
		t.Errorf("ParseUint(max) = %d, %v", u, err)
	}
	if _, err := ParseUint([]byte("18446744073709551616")); !errors.Is(err, ErrRange) {
		t.Errorf("ParseUint(max+1): %v", err)
	}
}
