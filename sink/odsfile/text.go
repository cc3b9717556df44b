package odsfile

import (
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// The text forms of ODS values that readers and verify parse: civil times
// and plain decimals.

// ParseCivil parses "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" (also with a 'T').
func ParseCivil(s string) (y, mo, d, h, mi, sec, us int, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return
	}
	bad := false
	num := func(a, b int) int {
		n, err := strconv.Atoi(s[a:b])
		if err != nil {
			bad = true
		}
		return n
	}
	y, mo, d = num(0, 4), num(5, 7), num(8, 10)
	if len(s) > 10 {
		if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
			return
		}
		h, mi, sec = num(11, 13), num(14, 16), num(17, 19)
		rest := strings.TrimSuffix(s[19:], "Z")
		if rest != "" {
			if rest[0] != '.' {
				return
			}
			frac := rest[1:]
			if len(frac) > 6 {
				if strings.TrimRight(frac[6:], "0") != "" {
					return
				}
				frac = frac[:6]
			}
			if frac != "" {
				n, err := strconv.Atoi(frac)
				if err != nil {
					return
				}
				for i := len(frac); i < 6; i++ {
					n *= 10
				}
				us = n
			}
		}
	}
	return y, mo, d, h, mi, sec, us, !bad
}

// CivilMicros is the instant of a UTC civil time in microseconds.
func CivilMicros(y, mo, d, h, mi, s, us int) int64 {
	days := event.DaysFromCivil(y, mo, d)
	return ((days*24+int64(h))*60+int64(mi))*60*1e6 + int64(s)*1e6 + int64(us)
}

// NormalizeDecimal renders decimal text with exactly scale fraction digits,
// no leading zeros and no negative zero. It never rounds: ok is false when
// the text has more significant fraction digits than scale, or is not a
// plain decimal.
func NormalizeDecimal(s string, scale int) (string, bool) {
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" && fp == "" || !digitsOnly(ip) || !digitsOnly(fp) {
		return "", false
	}
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	if len(fp) > scale {
		if strings.TrimRight(fp[scale:], "0") != "" {
			return "", false
		}
		fp = fp[:scale]
	}
	fp += strings.Repeat("0", scale-len(fp))
	out := ip
	if scale > 0 {
		out += "." + fp
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, true
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
