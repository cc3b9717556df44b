package schema

import "testing"

// canonicalDecimal is the fast path of decimal conversion: it must accept
// exactly the texts rescaleDecimal returns unchanged.
func TestCanonicalDecimalMatchesRescale(t *testing.T) {
	texts := []string{"0", "-0", "0.0", "-0.0", "0.00", "-0.00", "00.5", "0.5", "-0.5", ".5", "5.", "1", "-1",
		"12.3400", "-12.3400", "012.3400", "12.34", "12.34000", "123456789012345678", "99.9999", "+1.0000",
		"1.0000", "1e5", "", "-", "1.2.3", "0.0001", "-0.0000", "-0.0001", "10", "100.0000", " 1.0000", "1.000a"}
	specs := [][2]int{{18, 4}, {10, 0}, {2, 2}, {4, 4}, {1, 0}, {38, 10}, {3, 1}, {65, 30}}
	for _, sp := range specs {
		for _, s := range texts {
			out, err := rescaleDecimal(s, sp[0], sp[1])
			want := err == nil && out == s
			if got := canonicalDecimal(s, sp[0], sp[1]); got != want {
				t.Errorf("canonicalDecimal(%q, %d, %d) = %v; rescaleDecimal gives %q, %v", s, sp[0], sp[1], got, out, err)
			}
		}
	}
}
