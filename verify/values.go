package verify

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// parseCivil parses "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" (also with a 'T').
func parseCivil(s string) (y, mo, d, h, mi, sec, us int, ok bool) {
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

// civilMicros is the instant of a UTC civil time in microseconds.
func civilMicros(y, mo, d, h, mi, s, us int) int64 {
	days := daysFromCivil(y, mo, d)
	return ((days*24+int64(h))*60+int64(mi))*60*1e6 + int64(s)*1e6 + int64(us)
}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// sqlParam turns a key value (a source value, or a target value read back
// from an ODS file) into a statement parameter for source column c, so
// that `c = ?` and `c > ?` compare as the column's type does: integers as
// integers (never as text, which MySQL would compare as DOUBLE), decimals
// as exact text, temporal values as text in the session time zone (UTC),
// binary values as bytes.
func sqlParam(c *event.Column, v event.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt, event.TypeYear:
		switch v.Kind() {
		case event.KindInt, event.KindYear:
			return v.Int(), nil
		case event.KindUint, event.KindBits:
			return v.Uint(), nil
		case event.KindDecimal, event.KindString:
			s := strings.TrimSuffix(v.Str(), ".0")
			if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
				s = s[:i]
			}
			if strings.HasPrefix(s, "-") {
				if i, err := strconv.ParseInt(s, 10, 64); err == nil {
					return i, nil
				}
			} else if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
	case event.TypeBit:
		switch v.Kind() {
		case event.KindInt:
			return uint64(v.Int()), nil
		case event.KindUint, event.KindBits:
			return v.Uint(), nil
		case event.KindDecimal:
			if u, err := strconv.ParseUint(v.Str(), 10, 64); err == nil {
				return u, nil
			}
		case event.KindBytes:
			var u uint64
			for _, b := range []byte(v.Str()) {
				u = u<<8 | uint64(b)
			}
			return u, nil
		}
	case event.TypeFloat, event.TypeDouble:
		switch v.Kind() {
		case event.KindFloat32, event.KindFloat64:
			return v.Float(), nil
		}
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		return []byte(v.Str()), nil
	case event.TypeEnum:
		if v.Kind() == event.KindEnum || v.Kind() == event.KindString {
			return v.Str(), nil
		}
		if v.Kind() == event.KindInt {
			return v.Int(), nil
		}
	case event.TypeDate, event.TypeDateTime, event.TypeTimestamp:
		switch v.Kind() {
		case event.KindDate:
			y, mo, d, _, _, _, _ := v.Civil()
			return fmt.Sprintf("%04d-%02d-%02d", y, mo, d), nil
		case event.KindDateTime:
			y, mo, d, h, mi, s, us := v.Civil()
			return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", y, mo, d, h, mi, s, us), nil
		case event.KindTimestamp:
			if v.Micros() == 0 && c.Type == event.TypeTimestamp {
				// The zero TIMESTAMP (the capture's instant 0; a real
				// TIMESTAMP starts at 1970-01-01 00:00:01).
				return "0000-00-00 00:00:00", nil
			}
			t := v.Time()
			return t.Format("2006-01-02 15:04:05.000000"), nil
		}
	}
	switch v.Kind() {
	case event.KindBytes:
		return []byte(v.Str()), nil
	case event.KindInt, event.KindYear:
		return v.Int(), nil
	case event.KindUint, event.KindBits:
		return v.Uint(), nil
	case event.KindFloat32, event.KindFloat64:
		return v.Float(), nil
	}
	return v.Text(), nil
}
