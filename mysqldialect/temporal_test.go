package mysqldialect

import (
	"errors"
	"testing"
)

func TestParseTemporalText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Civil
		err  bool
	}{
		{in: "0000-00-00", want: Civil{}},
		{in: "0001-01-01", want: Civil{Y: 1, Mo: 1, D: 1}},
		{in: "9999-12-31", want: Civil{Y: 9999, Mo: 12, D: 31}},
		{in: "2024-02-29", want: Civil{Y: 2024, Mo: 2, D: 29}},
		{in: "2023-02-30", want: Civil{Y: 2023, Mo: 2, D: 30}}, // ALLOW_INVALID_DATES: the caller checks DaysIn
		{in: "2024-00-15", want: Civil{Y: 2024, D: 15}},
		{in: "2024-13-01", err: true},
		{in: "2024-01-32", err: true},
		{in: "24-01-01", err: true},
		{in: "2024-01-1", err: true},
	} {
		y, m, d, err := ParseDate([]byte(tc.in))
		if (err != nil) != tc.err || (err == nil && (Civil{Y: y, Mo: m, D: d}) != tc.want) {
			t.Errorf("ParseDate(%q) = %d-%d-%d, %v", tc.in, y, m, d, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidDate) {
			t.Errorf("ParseDate(%q): %v does not match ErrInvalidDate", tc.in, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want Civil
		err  bool
	}{
		{in: "0000-00-00 00:00:00", want: Civil{}},
		{in: "0001-01-01 00:00:00.000001", want: Civil{Y: 1, Mo: 1, D: 1, Us: 1}},
		{in: "9999-12-31 23:59:59.999999", want: Civil{Y: 9999, Mo: 12, D: 31, H: 23, Mi: 59, S: 59, Us: 999999}},
		{in: "2024-02-29T12:00:00.5", want: Civil{Y: 2024, Mo: 2, D: 29, H: 12, Us: 500000}},
		{in: "2024-02-29 24:00:00", err: true},
		{in: "2024-02-29 23:59:60", err: true},
		{in: "2024-02-29 23:59:59.1234567", err: true},
		{in: "2024-02-29 23:59", err: true},
		{in: "2024-02-29", err: true},
	} {
		c, err := ParseDateTime([]byte(tc.in))
		if (err != nil) != tc.err || (err == nil && c != tc.want) {
			t.Errorf("ParseDateTime(%q) = %+v, %v", tc.in, c, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{in: "00:00:00", want: 0},
		{in: "-00:00:00.000001", want: -1},
		{in: "-838:59:59", want: -MaxTimeMicros},
		{in: "838:59:59.999999", want: MaxTimeMicros + 999999},
		{in: "839:00:00", err: ErrTimeRange},
		{in: "-839:00:00", err: ErrTimeRange},
		{in: "12:60:00", err: ErrInvalidDate},
		{in: "1:2:3", err: ErrInvalidDate},
		{in: "--01:00:00", err: ErrInvalidDate},
	} {
		us, err := ParseTime([]byte(tc.in))
		if !errors.Is(err, tc.err) || (err == nil && us != tc.want) {
			t.Errorf("ParseTime(%q) = %d, %v; want %d, %v", tc.in, us, err, tc.want, tc.err)
		}
	}
}
