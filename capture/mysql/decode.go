package mysql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
)

// toValue converts a value as go-mysql decodes it (ParseTime on, decimals as
// strings) into a typed event value for column c. It never rounds: decimals
// stay exact text, unsigned stays unsigned, zero dates stay zero.
func toValue(c *event.Column, v any) (event.Value, error) {
	if v == nil {
		return event.Null, nil
	}
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		if c.Unsigned {
			u, ok := asUint(v)
			if !ok {
				return event.Null, badValue(c, v)
			}
			return event.Uint(u), nil
		}
		i, ok := asInt(v)
		if !ok {
			return event.Null, badValue(c, v)
		}
		return event.Int(i), nil
	case event.TypeDecimal:
		if s, ok := v.(string); ok {
			return event.Decimal(s), nil
		}
	case event.TypeFloat:
		switch f := v.(type) {
		case float32:
			return event.Float32(f), nil
		case float64:
			return event.Float32(float32(f)), nil
		}
	case event.TypeDouble:
		switch f := v.(type) {
		case float64:
			return event.Float64(f), nil
		case float32:
			return event.Float64(float64(f)), nil
		}
	case event.TypeBit:
		if i, ok := asInt(v); ok {
			return event.Bits(uint64(i)), nil
		}
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		switch s := v.(type) {
		case string:
			return event.String(s), nil
		case []byte:
			return event.String(string(s)), nil
		}
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		switch s := v.(type) {
		case string:
			return event.BytesString(s), nil
		case []byte:
			return event.Bytes(s), nil
		}
	case event.TypeJSON:
		switch s := v.(type) {
		case string:
			return event.JSON(s), nil
		case []byte:
			return event.JSON(string(s)), nil
		}
	case event.TypeEnum:
		if i, ok := asInt(v); ok {
			name := ""
			if i >= 1 && int(i) <= len(c.Elems) {
				name = c.Elems[i-1]
			}
			return event.Enum(int(i), name), nil
		}
	case event.TypeSet:
		if i, ok := asInt(v); ok {
			mask := uint64(i)
			var parts []string
			for b := 0; b < len(c.Elems) && b < 64; b++ {
				if mask&(1<<b) != 0 {
					parts = append(parts, c.Elems[b])
				}
			}
			return event.Set(mask, strings.Join(parts, ",")), nil
		}
	case event.TypeYear:
		if i, ok := asInt(v); ok {
			return event.Year(int(i)), nil
		}
	case event.TypeDate:
		if s, ok := v.(string); ok {
			y, m, d, _, _, _, _, ok := parseDateTime(s)
			if ok {
				return event.Date(y, m, d), nil
			}
		}
		if t, ok := v.(time.Time); ok {
			return event.Date(t.Year(), int(t.Month()), t.Day()), nil
		}
	case event.TypeDateTime:
		switch t := v.(type) {
		case time.Time:
			return event.DateTime(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000), nil
		case string:
			if y, mo, d, h, mi, s, us, ok := parseDateTime(t); ok {
				return event.DateTime(y, mo, d, h, mi, s, us), nil
			}
		}
	case event.TypeTimestamp:
		switch t := v.(type) {
		case time.Time:
			return event.Timestamp(t), nil
		case string:
			// go-mysql renders the zero TIMESTAMP as text; keep it as the zero
			// civil value so the zero-date policy can decide.
			if y, mo, d, h, mi, s, us, ok := parseDateTime(t); ok {
				if y == 0 && mo == 0 && d == 0 {
					return event.DateTime(0, 0, 0, 0, 0, 0, 0), nil
				}
				return event.TimestampMicros(time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC).UnixMicro()), nil
			}
		}
	case event.TypeTime:
		if s, ok := v.(string); ok {
			if us, ok := parseTime(s); ok {
				return event.TimeMicros(us), nil
			}
		}
	}
	return event.Null, badValue(c, v)
}

func badValue(c *event.Column, v any) error {
	return fmt.Errorf("column %s (%s): cannot decode binlog value %T %v", c.Name, c.RawType, v, v)
}

func asInt(v any) (int64, bool) {
	switch i := v.(type) {
	case int8:
		return int64(i), true
	case int16:
		return int64(i), true
	case int32:
		return int64(i), true
	case int64:
		return i, true
	case int:
		return int64(i), true
	case uint8:
		return int64(i), true
	case uint16:
		return int64(i), true
	case uint32:
		return int64(i), true
	case uint64:
		return int64(i), true
	}
	return 0, false
}

func asUint(v any) (uint64, bool) {
	switch i := v.(type) {
	case uint8:
		return uint64(i), true
	case uint16:
		return uint64(i), true
	case uint32:
		return uint64(i), true
	case uint64:
		return i, true
	case int8:
		return uint64(uint8(i)), true
	case int16:
		return uint64(uint16(i)), true
	case int32:
		return uint64(uint32(i)), true
	case int64:
		return uint64(i), true
	}
	return 0, false
}

// parseDateTime parses "YYYY-MM-DD[ HH:MM:SS[.ffffff]]".
func parseDateTime(s string) (y, mo, d, h, mi, sec, us int, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return
	}
	var err error
	num := func(a, b int) int {
		n, e := strconv.Atoi(s[a:b])
		if e != nil {
			err = e
		}
		return n
	}
	y, mo, d = num(0, 4), num(5, 7), num(8, 10)
	if len(s) >= 19 {
		h, mi, sec = num(11, 13), num(14, 16), num(17, 19)
		if len(s) > 20 && s[19] == '.' {
			frac := s[20:]
			n := num(20, len(s))
			for i := len(frac); i < 6; i++ {
				n *= 10
			}
			us = n
		}
	}
	return y, mo, d, h, mi, sec, us, err == nil
}

// parseTime parses "[-]HHH:MM:SS[.ffffff]" into signed microseconds.
func parseTime(s string) (int64, bool) {
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
