package mysqldialect

import (
	"errors"
	"fmt"
)

// The text forms of MySQL's temporal types, as the server renders them
// (snapshot SELECTs in the text protocol) and as TiCDC and Canal write them
// (canal-json, open-protocol): DATE "YYYY-MM-DD", DATETIME/TIMESTAMP
// "YYYY-MM-DD HH:MM:SS[.ffffff]", TIME "[-]HHH:MM:SS[.ffffff]".

// ErrInvalidDate is matched by every error of the temporal parsers, except
// ErrTimeRange.
var ErrInvalidDate = errors.New("invalid date")

// ErrTimeRange: a TIME beyond MySQL's range (838:59:59.999999).
var ErrTimeRange = errors.New("value out of range")

// Civil is a calendar date and wall-clock time.
type Civil struct{ Y, Mo, D, H, Mi, S, Us int }

// MaxTimeMicros is TIME's range limit, 838:59:59, in microseconds.
const MaxTimeMicros = (838*3600 + 59*60 + 59) * 1e6

func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// ParseDate parses YYYY-MM-DD. Zero parts are allowed (MySQL zero dates);
// days up to 31 are accepted in every month (ALLOW_INVALID_DATES).
func ParseDate(b []byte) (y, m, d int, err error) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, 0, 0, fmt.Errorf("want YYYY-MM-DD: %w", ErrInvalidDate)
	}
	y, ok1 := digits(b[0:4])
	m, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || m > 12 || d > 31 {
		return 0, 0, 0, ErrInvalidDate
	}
	return y, m, d, nil
}

// parseClock parses HH:MM:SS[.ffffff] (hours may have up to four digits
// when allowLong) and returns the parts.
func parseClock(b []byte, allowLong bool) (h, mi, s, us int, err error) {
	c1 := -1
	for i, c := range b {
		if c == ':' {
			c1 = i
			break
		}
	}
	if c1 < 1 || (!allowLong && c1 != 2) || c1 > 4 || len(b) < c1+6 || b[c1+3] != ':' {
		return 0, 0, 0, 0, ErrInvalidDate
	}
	var ok1, ok2, ok3 bool
	h, ok1 = digits(b[:c1])
	mi, ok2 = digits(b[c1+1 : c1+3])
	s, ok3 = digits(b[c1+4 : c1+6])
	if !ok1 || !ok2 || !ok3 || mi > 59 || s > 59 {
		return 0, 0, 0, 0, ErrInvalidDate
	}
	rest := b[c1+6:]
	if len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 7 {
			return 0, 0, 0, 0, ErrInvalidDate
		}
		f, ok := digits(rest[1:])
		if !ok {
			return 0, 0, 0, 0, ErrInvalidDate
		}
		for n := len(rest) - 1; n < 6; n++ {
			f *= 10
		}
		us = f
	}
	return h, mi, s, us, nil
}

// ParseDateTime parses "YYYY-MM-DD HH:MM:SS[.ffffff]" (a 'T' separator is
// accepted too), the text of DATETIME and TIMESTAMP.
func ParseDateTime(b []byte) (Civil, error) {
	var c Civil
	if len(b) < 19 || (b[10] != ' ' && b[10] != 'T') {
		return c, fmt.Errorf("want YYYY-MM-DD HH:MM:SS[.ffffff]: %w", ErrInvalidDate)
	}
	var err error
	if c.Y, c.Mo, c.D, err = ParseDate(b[:10]); err != nil {
		return c, ErrInvalidDate
	}
	if c.H, c.Mi, c.S, c.Us, err = parseClock(b[11:], false); err != nil || c.H > 23 {
		return c, ErrInvalidDate
	}
	return c, nil
}

// ParseTime parses TIME text, [-]HHH:MM:SS[.ffffff], into signed
// microseconds.
func ParseTime(b []byte) (int64, error) {
	neg := false
	s := b
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	h, mi, sec, us, err := parseClock(s, true)
	if err != nil {
		return 0, err
	}
	v := (int64(h)*3600+int64(mi)*60+int64(sec))*1e6 + int64(us)
	if v > MaxTimeMicros+999999 {
		return 0, ErrTimeRange
	}
	if neg {
		v = -v
	}
	return v, nil
}
