package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
)

// converter holds what value conversion needs besides the target type.
type converter struct {
	srcType   event.Type
	bitWidth  int
	zeroDates string
	srcZone   *time.Location
	// minBigInt is the smallest BIGINT of the target system (MaxCompute
	// excludes -2^63); 0 means math.MinInt64.
	minBigInt int64
}

// ConvertError is a value that cannot be converted to its target column.
type ConvertError struct {
	Table  event.TableID
	Target string
	Column string
	Pos    event.Position
	Seq    uint64
	Err    error
}

func (e *ConvertError) Error() string {
	return fmt.Sprintf("schema: table %s (target %s) column %s at %s (seq %d): %v",
		e.Table, e.Target, e.Column, e.Pos, e.Seq, e.Err)
}

func (e *ConvertError) Unwrap() error { return e.Err }

// ErrZeroDate is the cause of a ConvertError for a zero date under zero_dates: error.
var ErrZeroDate = errors.New("zero date (zero_dates: error)")

// ErrZeroDateRaw is what Convert returns for a zero date under zero_dates:
// raw: Target.Row writes NULL and keeps the text in _raw.
var ErrZeroDateRaw = errors.New("zero date (zero_dates: raw)")

// Convert converts a source value of the column to the column's target
// representation (the event.Value kind listed at each Kind constant). NULL
// stays NULL; a zero date in a temporal column becomes NULL under
// zero_dates: null and is an error (ErrZeroDateRaw, ErrZeroDate) under
// raw and error. The error names the value and the cause.
func (c *TargetColumn) Convert(v event.Value) (event.Value, error) {
	if v.IsNull() {
		return event.Null, nil
	}
	out, err := c.convert(v)
	if err != nil {
		return event.Null, fmt.Errorf("value %s to %s: %w", v, c.spec(), err)
	}
	return out, nil
}

func (c *TargetColumn) conv() *converter {
	if c.cv != nil {
		return c.cv
	}
	return &defaultConverter
}

var defaultConverter = converter{bitWidth: 64, zeroDates: ZeroDatesRaw, srcZone: time.UTC}

func (c *TargetColumn) convert(v event.Value) (event.Value, error) {
	cv := c.conv()
	switch c.Kind {
	case KindString:
		return event.String(cv.text(v)), nil
	case KindBinary:
		switch v.Kind() {
		case event.KindBytes:
			return v, nil
		case event.KindString, event.KindJSON, event.KindDecimal, event.KindEnum, event.KindSet:
			return event.BytesString(v.Str()), nil
		case event.KindBits, event.KindUint:
			n := (cv.bitWidth + 7) / 8
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], v.Uint())
			return event.Bytes(b[8-n:]), nil
		}
		return event.BytesString(v.Text()), nil
	case KindBoolean:
		i, u, neg, err := cv.integer(v)
		if err != nil {
			return event.Null, err
		}
		if i != 0 || u != 0 || neg {
			return event.Int(1), nil
		}
		return event.Int(0), nil
	case KindTinyInt, KindSmallInt, KindInt, KindBigInt:
		i, u, neg, err := cv.integer(v)
		if err != nil {
			return event.Null, err
		}
		lo, hi, _ := kindRange(c.Kind)
		if c.Kind == KindBigInt && cv.minBigInt != 0 {
			lo = cv.minBigInt
		}
		if neg {
			if i < lo {
				return event.Null, fmt.Errorf("out of range %d..%d", lo, hi)
			}
			return event.Int(i), nil
		}
		if u > hi {
			return event.Null, fmt.Errorf("out of range %d..%d", lo, hi)
		}
		return event.Int(int64(u)), nil
	case KindFloat, KindDouble:
		var f float64
		switch v.Kind() {
		case event.KindFloat32, event.KindFloat64:
			f = v.Float()
		case event.KindDecimal:
			var err error
			if f, err = strconv.ParseFloat(v.Str(), 64); err != nil {
				return event.Null, err
			}
		default:
			i, u, neg, err := cv.integer(v)
			if err != nil {
				return event.Null, err
			}
			if neg {
				f = float64(i)
			} else {
				f = float64(u)
			}
		}
		if c.Kind == KindFloat {
			return event.Float32(float32(f)), nil
		}
		return event.Float64(f), nil
	case KindDecimal:
		var text string
		switch v.Kind() {
		case event.KindDecimal:
			// The binlog and snapshot decoders already write the column's
			// canonical text: keep it as it is.
			if canonicalDecimal(v.Str(), c.Precision, c.Scale) {
				return v, nil
			}
			text = v.Str()
		case event.KindFloat32, event.KindFloat64:
			f := v.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return event.Null, errors.New("not a finite number")
			}
			prec := 32
			if v.Kind() == event.KindFloat64 {
				prec = 64
			}
			text = strconv.FormatFloat(f, 'f', -1, prec)
		default:
			i, u, neg, err := cv.integer(v)
			if err != nil {
				return event.Null, err
			}
			if neg {
				text = strconv.FormatInt(i, 10)
			} else {
				text = strconv.FormatUint(u, 10)
			}
		}
		d, err := rescaleDecimal(text, c.Precision, c.Scale)
		if err != nil {
			return event.Null, err
		}
		return event.Decimal(d), nil
	case KindDate, KindTimestampNTZ, KindTimestamp, KindDateTime:
		return cv.temporal(c.Kind, v)
	case KindJSON:
		switch v.Kind() {
		case event.KindJSON:
			return v, nil
		case event.KindString, event.KindBytes:
			return event.JSON(v.Str()), nil
		}
	case KindStringArray:
		switch v.Kind() {
		case event.KindSet, event.KindString, event.KindEnum:
			return event.String(v.Str()), nil
		}
	}
	return event.Null, fmt.Errorf("unexpected value kind %s", v.Kind())
}

// integer extracts an integer from integer-like values: neg reports that
// the value is negative and in i, otherwise it is in u.
func (cv *converter) integer(v event.Value) (i int64, u uint64, neg bool, err error) {
	switch v.Kind() {
	case event.KindInt, event.KindYear:
		i = v.Int()
		if i < 0 {
			return i, 0, true, nil
		}
		return i, uint64(i), false, nil
	case event.KindEnum:
		return v.Int(), uint64(v.Int()), false, nil
	case event.KindUint, event.KindBits, event.KindSet:
		return 0, v.Uint(), false, nil
	case event.KindTimestamp, event.KindTime:
		i = v.Micros()
		if i < 0 {
			return i, 0, true, nil
		}
		return i, uint64(i), false, nil
	case event.KindDecimal:
		s := v.Str()
		if dot := strings.IndexByte(s, '.'); dot >= 0 {
			if strings.Trim(s[dot+1:], "0") != "" {
				return 0, 0, false, errors.New("has a fraction")
			}
			s = s[:dot]
		}
		if strings.HasPrefix(s, "-") {
			i, err = strconv.ParseInt(s, 10, 64)
			if i == 0 && err == nil {
				return 0, 0, false, nil
			}
			return i, 0, true, err
		}
		u, err = strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64)
		return 0, u, false, err
	case event.KindFloat32, event.KindFloat64:
		f := v.Float()
		if f != math.Trunc(f) || math.IsNaN(f) || math.IsInf(f, 0) || f < math.MinInt64 || f >= math.MaxUint64 {
			return 0, 0, false, errors.New("not an integer in range")
		}
		if f < 0 {
			return int64(f), 0, true, nil
		}
		return 0, uint64(f), false, nil
	}
	return 0, 0, false, fmt.Errorf("unexpected value kind %s", v.Kind())
}

// isZero reports whether v is a MySQL zero date of a temporal source column.
func (cv *converter) isZero(v event.Value) bool {
	switch v.Kind() {
	case event.KindDate, event.KindDateTime:
		return v.IsZeroDate()
	case event.KindTimestamp:
		// MySQL stores TIMESTAMP as seconds since the epoch and its range
		// starts at 1970-01-01 00:00:01 UTC: 0 is the zero timestamp.
		return cv.srcType == event.TypeTimestamp && v.Micros() == 0
	}
	return false
}

func (cv *converter) temporal(k Kind, v event.Value) (event.Value, error) {
	if cv.isZero(v) {
		switch cv.zeroDates {
		case ZeroDatesError:
			return event.Null, ErrZeroDate
		case ZeroDatesNull:
			return event.Null, nil
		}
		return event.Null, ErrZeroDateRaw
	}
	switch v.Kind() {
	case event.KindDate, event.KindDateTime:
		y, mo, d, h, mi, s, us := v.Civil()
		switch k {
		case KindDate:
			return event.Date(y, mo, d), nil
		case KindTimestampNTZ:
			return event.DateTime(y, mo, d, h, mi, s, us), nil
		}
		t, ok := v.CivilTime(cv.srcZone)
		if !ok {
			return event.Null, errors.New("not a valid date")
		}
		us64 := t.UnixMicro()
		if k == KindDateTime {
			us64 = floorMillis(us64)
		}
		return event.TimestampMicros(us64), nil
	case event.KindTimestamp:
		us := v.Micros()
		t := v.Time()
		switch k {
		case KindDate:
			return event.Date(t.Year(), int(t.Month()), t.Day()), nil
		case KindTimestampNTZ:
			return event.DateTime(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000), nil
		case KindDateTime:
			return event.TimestampMicros(floorMillis(us)), nil
		}
		return v, nil
	}
	return event.Null, fmt.Errorf("unexpected value kind %s", v.Kind())
}

func floorMillis(us int64) int64 {
	r := us % 1000
	if r < 0 {
		r += 1000
	}
	return us - r
}

// text is the STRING form of a source value.
func (cv *converter) text(v event.Value) string {
	switch v.Kind() {
	case event.KindString, event.KindJSON, event.KindDecimal, event.KindEnum, event.KindSet:
		return v.Str()
	case event.KindBytes:
		if cv.srcType == event.TypeVector {
			if s, ok := vectorText(v.Str()); ok {
				return s
			}
		}
	case event.KindTimestamp:
		if cv.isZero(v) {
			return "0000-00-00 00:00:00"
		}
	}
	return v.Text()
}

// vectorText renders a VECTOR (little-endian float32 array) as "[1,2.5]".
func vectorText(b string) (string, bool) {
	if len(b)%4 != 0 {
		return "", false
	}
	out := []byte{'['}
	for i := 0; i < len(b); i += 4 {
		if i > 0 {
			out = append(out, ',')
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32([]byte(b[i : i+4])))
		out = strconv.AppendFloat(out, float64(f), 'g', -1, 32)
	}
	return string(append(out, ']')), true
}

// rescaleDecimal renders decimal text with exactly scale fraction digits
// (rounding half away from zero) and checks it has at most
// precision-scale integer digits.
func rescaleDecimal(text string, precision, scale int) (string, error) {
	s := strings.TrimSpace(text)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return "", fmt.Errorf("not a decimal: %q", text)
	}
	intPart = strings.TrimLeft(intPart, "0")
	digits := []byte(intPart + frac)
	point := len(intPart)
	want := point + scale
	if len(digits) < want {
		digits = append(digits, strings.Repeat("0", want-len(digits))...)
	} else if len(digits) > want {
		roundUp := digits[want] >= '5'
		digits = digits[:want]
		if roundUp {
			i := len(digits) - 1
			for ; i >= 0; i-- {
				if digits[i] == '9' {
					digits[i] = '0'
					continue
				}
				digits[i]++
				break
			}
			if i < 0 {
				digits = append([]byte{'1'}, digits...)
				point++
			}
		}
	}
	ip := strings.TrimLeft(string(digits[:point]), "0")
	if len(ip) > precision-scale {
		return "", fmt.Errorf("%s has more than %d integer digits for decimal(%d,%d)", text, precision-scale, precision, scale)
	}
	if ip == "" {
		ip = "0"
	}
	out := ip
	if scale > 0 {
		out += "." + string(digits[point:])
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, nil
}

// canonicalDecimal reports whether s is what rescaleDecimal(s, precision,
// scale) returns: an optional "-", an integer part without leading zeros
// ("0" alone) of at most precision-scale digits, and exactly scale
// fraction digits; "-" only before a non-zero value.
func canonicalDecimal(s string, precision, scale int) bool {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	ip, frac := s, ""
	if scale > 0 {
		if len(s) < scale+2 || s[len(s)-scale-1] != '.' {
			return false
		}
		ip, frac = s[:len(s)-scale-1], s[len(s)-scale:]
	}
	if ip == "" || !allDigits(ip) || !allDigits(frac) {
		return false
	}
	if ip != "0" && (ip[0] == '0' || len(ip) > precision-scale) {
		return false
	}
	return !neg || ip != "0" || strings.Trim(frac, "0") != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Elements returns the elements of a KindStringArray value (a SET's
// members; MySQL forbids commas in them). NULL and "" have none.
func Elements(v event.Value) []string {
	if v.IsNull() || v.Str() == "" {
		return nil
	}
	return strings.Split(v.Str(), ",")
}
