package odsfile

import "testing"

// ParseCivil is verify's and the ODS readers' own parser of civil text,
// independent of the capture's (mysqldialect) on purpose: a decoding bug
// of the capture must not repeat on the checking side (docs/verify.md).
func TestParseCivil(t *testing.T) {
	type parts struct{ y, mo, d, h, mi, s, us int }
	for _, tc := range []struct {
		in   string
		want parts
		ok   bool
	}{
		{"2024-02-29", parts{2024, 2, 29, 0, 0, 0, 0}, true},
		{"0000-00-00", parts{}, true},
		{"0001-01-01", parts{1, 1, 1, 0, 0, 0, 0}, true},
		{"9999-12-31 23:59:59.999999", parts{9999, 12, 31, 23, 59, 59, 999999}, true},
		{"0000-00-00 00:00:00", parts{}, true},
		{"2024-02-29 23:59:59", parts{2024, 2, 29, 23, 59, 59, 0}, true},
		{"2024-02-29T23:59:59.5", parts{2024, 2, 29, 23, 59, 59, 500000}, true},
		{"2024-02-29T23:59:59.000001Z", parts{2024, 2, 29, 23, 59, 59, 1}, true},
		{"1970-01-01T00:00:00Z", parts{1970, 1, 1, 0, 0, 0, 0}, true},
		{"2024-02-29 23:59:59.123456000", parts{2024, 2, 29, 23, 59, 59, 123456}, true},
		{"2024-02-29 23:59:59.1234561", parts{}, false}, // a seventh digit would be rounded away
		{"2024-1-01", parts{}, false},
		{"2024/01/01", parts{}, false},
		{"2024-01-01 1:00:00", parts{}, false},
		{"2024-01-01Z", parts{}, false},
		{"2024-01-01 00:00:00 x", parts{}, false},
		{"", parts{}, false},
	} {
		y, mo, d, h, mi, s, us, ok := ParseCivil(tc.in)
		got := parts{y, mo, d, h, mi, s, us}
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ParseCivil(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
