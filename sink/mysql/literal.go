package mysql

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// Values are written as SQL literals, not placeholders: one multi-row
// statement per chunk is parsed once by the server, and every literal is
// exact for its type:
//
//	integers, bits, year, decimals: their digits (a decimal literal is exact)
//	floats: the float64 digits of the value (a FLOAT's float32 widened
//	  exactly, so the server's double-to-float rounding gives it back)
//	text, JSON, ENUM, SET: a quoted utf8mb4 string (the connection
//	  charset; the server converts to the column's)
//	bytes (binary, BLOB, GEOMETRY): a hex literal X'...'
//	DATE, DATETIME: 'YYYY-MM-DD HH:MM:SS.ffffff', zero dates as they are
//	TIMESTAMP: the instant in UTC (the session time zone), the zero
//	  TIMESTAMP (0) as '0000-00-00 00:00:00'
//	TIME: '[-]HHH:MM:SS.ffffff'

// quoteID quotes an identifier with backticks.
func quoteID(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// appendID appends a quoted identifier.
func appendID(b []byte, s string) []byte {
	b = append(b, '`')
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			b = append(b, '`')
		}
		b = append(b, s[i])
	}
	return append(b, '`')
}

// appendString appends a single-quoted string literal, escaped for a
// session without NO_BACKSLASH_ESCAPES (the sink's sql_mode).
func appendString(b []byte, s string) []byte {
	b = append(b, '\'')
	start := 0 // the bytes from start on are not appended yet
	for i := 0; i < len(s); i++ {
		var esc byte
		switch c := s[i]; c {
		case 0:
			esc = '0'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		case 0x1a:
			esc = 'Z'
		case '\\', '\'':
			esc = c
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '\'')
}

// appendLiteral appends v as a SQL literal for column c.
func appendLiteral(b []byte, c *event.Column, v event.Value) ([]byte, error) {
	switch v.Kind() {
	case event.KindNull:
		return append(b, "NULL"...), nil
	case event.KindInt, event.KindYear:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case event.KindUint, event.KindBits:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case event.KindFloat32, event.KindFloat64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, fmt.Errorf("column %s: %v cannot be stored in MySQL", c.Name, f)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case event.KindDecimal:
		s := v.Str()
		if !decimalText(s) {
			return b, fmt.Errorf("column %s: %q is not a decimal", c.Name, s)
		}
		return append(b, s...), nil
	case event.KindString, event.KindJSON, event.KindEnum, event.KindSet:
		if c != nil && c.Type == event.TypeBit {
			// A codec that sends BIT as text: the server's b'...' is not
			// what arrives, so keep the bytes.
			return appendHex(b, v.Str()), nil
		}
		return appendString(b, v.Str()), nil
	case event.KindBytes:
		return appendHex(b, v.Str()), nil
	case event.KindDate:
		y, m, d, _, _, _, _ := v.Civil()
		b = append(b, '\'')
		b = appendDate(b, y, m, d)
		return append(b, '\''), nil
	case event.KindDateTime:
		y, m, d, h, mi, s, us := v.Civil()
		b = append(b, '\'')
		b = appendDate(b, y, m, d)
		b = append(b, ' ')
		b = appendClock(b, h, mi, s, us)
		return append(b, '\''), nil
	case event.KindTimestamp:
		if v.Micros() == 0 {
			return append(b, "'0000-00-00 00:00:00'"...), nil
		}
		t := v.Time()
		return append(b, t.Format("'2006-01-02 15:04:05.000000'")...), nil
	case event.KindTime:
		us := v.Micros()
		b = append(b, '\'')
		if us < 0 {
			b = append(b, '-')
			us = -us
		}
		secs := us / 1e6
		b = appendClock(b, int(secs/3600), int(secs/60%60), int(secs%60), int(us%1e6))
		return append(b, '\''), nil
	}
	return b, fmt.Errorf("column %s: value kind %s has no SQL literal", c.Name, v.Kind())
}

func appendHex(b []byte, s string) []byte {
	if s == "" {
		return append(b, "''"...)
	}
	b = append(b, "X'"...)
	b = hex.AppendEncode(b, []byte(s))
	return append(b, '\'')
}

// decimalText reports whether s is a plain decimal number (it is written
// unquoted).
func decimalText(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// appendDigits appends v in at least width digits.
func appendDigits(b []byte, v, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + v)
	return append(b, tmp[i:]...)
}

func appendDate(b []byte, y, m, d int) []byte {
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, m, 2)
	b = append(b, '-')
	return appendDigits(b, d, 2)
}

// appendClock appends HH:MM:SS.ffffff (hours may have more digits).
func appendClock(b []byte, h, mi, s, us int) []byte {
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	b = append(b, '.')
	return appendDigits(b, us, 6)
}
