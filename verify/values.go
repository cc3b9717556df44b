package verify

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// sqlValue converts a value the MySQL driver returns over the binary
// protocol (prepared statements; parseTime off) into the typed event value
// the capture produces for the same stored value: integers signed or
// unsigned as the column, exact decimal text, float32 for FLOAT, civil
// dates and times, instants for TIMESTAMP (the session time zone is UTC),
// signed microseconds for TIME, enum index and member, set mask and
// members, bytes for binary types. Zero dates stay zero (the mapping's
// zero_dates policy decides).
func sqlValue(c *event.Column, v any) (event.Value, error) {
	if v == nil {
		return event.Null, nil
	}
	bad := func() (event.Value, error) {
		return event.Null, fmt.Errorf("column %s (%s): cannot read value %T %v", c.Name, c.RawType, v, v)
	}
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		if c.Unsigned {
			if u, ok := anyUint(v); ok {
				return event.Uint(u), nil
			}
			return bad()
		}
		if i, ok := anyInt(v); ok {
			return event.Int(i), nil
		}
		return bad()
	case event.TypeYear:
		if i, ok := anyInt(v); ok {
			return event.Year(int(i)), nil
		}
		return bad()
	case event.TypeDecimal:
		if s, ok := anyText(v); ok {
			return event.Decimal(s), nil
		}
		return bad()
	case event.TypeFloat:
		switch f := v.(type) {
		case float32:
			return event.Float32(f), nil
		case float64:
			return event.Float32(float32(f)), nil
		}
		if s, ok := anyText(v); ok {
			if f, err := strconv.ParseFloat(s, 32); err == nil {
				return event.Float32(float32(f)), nil
			}
		}
		return bad()
	case event.TypeDouble:
		switch f := v.(type) {
		case float64:
			return event.Float64(f), nil
		case float32:
			return event.Float64(float64(f)), nil
		}
		if s, ok := anyText(v); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return event.Float64(f), nil
			}
		}
		return bad()
	case event.TypeBit:
		switch b := v.(type) {
		case []byte:
			var u uint64
			for _, x := range b {
				u = u<<8 | uint64(x)
			}
			return event.Bits(u), nil
		}
		if u, ok := anyUint(v); ok {
			return event.Bits(u), nil
		}
		return bad()
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		if s, ok := anyText(v); ok {
			return event.String(s), nil
		}
		return bad()
	case event.TypeJSON:
		if s, ok := anyText(v); ok {
			return event.JSON(s), nil
		}
		return bad()
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		if s, ok := anyText(v); ok {
			return event.BytesString(s), nil
		}
		return bad()
	case event.TypeEnum:
		s, ok := anyText(v)
		if !ok {
			return bad()
		}
		idx := 0
		for i, e := range c.Elems {
			if strings.EqualFold(e, s) {
				idx = i + 1
				s = e
				break
			}
		}
		return event.Enum(idx, s), nil
	case event.TypeSet:
		s, ok := anyText(v)
		if !ok {
			return bad()
		}
		var mask uint64
		var members []string
		if s != "" {
			have := map[string]bool{}
			for _, p := range strings.Split(s, ",") {
				have[strings.ToLower(p)] = true
			}
			for i, e := range c.Elems {
				if i < 64 && have[strings.ToLower(e)] {
					mask |= 1 << i
					members = append(members, e)
				}
			}
		}
		return event.Set(mask, strings.Join(members, ",")), nil
	case event.TypeDate:
		s, ok := anyText(v)
		if !ok {
			return bad()
		}
		y, mo, d, _, _, _, _, ok := parseCivil(s)
		if !ok {
			return bad()
		}
		return event.Date(y, mo, d), nil
	case event.TypeDateTime:
		s, ok := anyText(v)
		if !ok {
			return bad()
		}
		y, mo, d, h, mi, sec, us, ok := parseCivil(s)
		if !ok {
			return bad()
		}
		return event.DateTime(y, mo, d, h, mi, sec, us), nil
	case event.TypeTimestamp:
		s, ok := anyText(v)
		if !ok {
			return bad()
		}
		y, mo, d, h, mi, sec, us, ok := parseCivil(s)
		if !ok {
			return bad()
		}
		if y == 0 && mo == 0 && d == 0 {
			// The zero TIMESTAMP: the capture keeps it as the zero civil
			// value so that the zero-date policy applies.
			return event.DateTime(0, 0, 0, 0, 0, 0, 0), nil
		}
		return event.TimestampMicros(civilMicros(y, mo, d, h, mi, sec, us)), nil
	case event.TypeTime:
		s, ok := anyText(v)
		if !ok {
			return bad()
		}
		us, ok := parseDuration(s)
		if !ok {
			return bad()
		}
		return event.TimeMicros(us), nil
	}
	return bad()
}

func anyText(v any) (string, bool) {
	switch s := v.(type) {
	case []byte:
		return string(s), true
	case string:
		return s, true
	case int64:
		return strconv.FormatInt(s, 10), true
	case uint64:
		return strconv.FormatUint(s, 10), true
	}
	return "", false
}

func anyInt(v any) (int64, bool) {
	switch i := v.(type) {
	case int64:
		return i, true
	case int32:
		return int64(i), true
	case int:
		return int64(i), true
	case uint64:
		if i <= math.MaxInt64 {
			return int64(i), true
		}
	case []byte:
		n, err := strconv.ParseInt(string(i), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(i, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func anyUint(v any) (uint64, bool) {
	switch i := v.(type) {
	case int64:
		return uint64(i), true
	case uint64:
		return i, true
	case int32:
		return uint64(uint32(i)), true
	case []byte:
		n, err := strconv.ParseUint(string(i), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseUint(i, 10, 64)
		return n, err == nil
	}
	return 0, false
}

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

// parseDuration parses a TIME value "[-]HHH:MM:SS[.ffffff]" into signed
// microseconds.
func parseDuration(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	frac := ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s, frac = s[:i], s[i+1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, false
	}
	h, e1 := strconv.Atoi(parts[0])
	m, e2 := strconv.Atoi(parts[1])
	sec, e3 := strconv.Atoi(parts[2])
	if e1 != nil || e2 != nil || e3 != nil {
		return 0, false
	}
	var us int64
	if frac != "" {
		if len(frac) > 6 {
			frac = frac[:6]
		}
		n, err := strconv.Atoi(frac)
		if err != nil {
			return 0, false
		}
		for i := len(frac); i < 6; i++ {
			n *= 10
		}
		us = int64(n)
	}
	total := (int64(h)*3600+int64(m)*60+int64(sec))*1e6 + us
	if neg {
		total = -total
	}
	return total, true
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
