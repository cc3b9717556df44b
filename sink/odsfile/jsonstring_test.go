package odsfile

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// appendJSONString skips plain ASCII eight bytes at a time; every string,
// whatever its bytes, must still decode to itself (invalid UTF-8 bytes
// each becoming U+FFFD) and keep U+2028/U+2029 escaped.
func TestAppendJSONStringRoundTrip(t *testing.T) {
	pieces := []string{"a", "abcdefgh", "0123456789", " ", `"`, `\`, "\n", "\t", "\x00", "\x1f", "\x7f", "é", "日本",
		"\u2028", "\u2029", "\xff", "\xc3", "😀", "</script>", "&"}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		var s string
		for k := r.IntN(12); k > 0; k-- {
			s += pieces[r.IntN(len(pieces))]
		}
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q: encoded %s: %v", s, out, err)
		}
		if want := string([]rune(s)); got != want {
			t.Fatalf("%q: encoded %s decodes to %q, want %q", s, out, got, want)
		}
		for _, sep := range []string{"\u2028", "\u2029"} {
			for i := 0; i+len(sep) <= len(out); i++ {
				if string(out[i:i+len(sep)]) == sep {
					t.Fatalf("%q: %s holds a raw line separator", s, out)
				}
			}
		}
	}
}

func TestPlainWord(t *testing.T) {
	for c := 0; c < 256; c++ {
		w := load64("abcdefgh", 0)
		for pos := 0; pos < 8; pos++ {
			v := w&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
			want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
			if got := plainWord(v); got != want {
				t.Fatalf("byte %#x at %d: plainWord = %v, want %v", c, pos, got, want)
			}
		}
	}
}
