package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// Arena hands out strings that share one allocation per message, or one
// per chunk of small messages. Bytes are only ever appended, never
// overwritten, so strings taken earlier stay valid and immutable even when a
// later append moves to a new array.
type Arena struct{ Buf []byte }

// arenaChunk is the array small messages share; a message reserving more
// than a quarter of it gets its own.
const arenaChunk = 32 << 10

// Reserve makes room for n bytes of the next message's strings after those
// of the previous one: in the current array when they fit, else in a new
// one. The previous array is left to the strings that point into it.
func (a *Arena) Reserve(n int) {
	if n <= 0 {
		a.Buf = a.Buf[len(a.Buf):len(a.Buf)]
		return
	}
	if cap(a.Buf)-len(a.Buf) >= n {
		a.Buf = a.Buf[len(a.Buf):len(a.Buf)]
		return
	}
	if n > arenaChunk/4 {
		a.Buf = make([]byte, 0, n)
		return
	}
	a.Buf = make([]byte, 0, arenaChunk)
}

func (a *Arena) Str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	start := len(a.Buf)
	a.Buf = append(a.Buf, b...)
	return unsafe.String(&a.Buf[start], len(b))
}

// Since returns the bytes appended after start as a string.
func (a *Arena) Since(start int) string {
	if len(a.Buf) == start {
		return ""
	}
	return unsafe.String(&a.Buf[start], len(a.Buf)-start)
}

// latin1 decodes TiCDC's canal-json byte strings: every byte b was written as
// the character U+00bb, so every character must be at most U+00FF.
func (a *Arena) latin1(b []byte) (string, error) {
	start := len(a.Buf)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			a.Buf = append(a.Buf, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			a.Buf = a.Buf[:start]
			return "", fmt.Errorf("invalid UTF-8 at byte %d of a binary value", i)
		}
		if r > 0xFF {
			a.Buf = a.Buf[:start]
			return "", fmt.Errorf("character %U at byte %d is outside ISO-8859-1; not a TiCDC binary value", r, i)
		}
		a.Buf = append(a.Buf, byte(r))
		i += n
	}
	return a.Since(start), nil
}

// ValueCtx carries per-decoder settings for value conversion.
type ValueCtx struct {
	loc *time.Location
	utc bool
	// enumIndex: ENUM and SET arrive as index / bitmask numbers (TiCDC);
	// otherwise as member text (Alibaba Canal).
	enumIndex bool
}

func NewValueCtx(loc *time.Location, enumIndex bool) ValueCtx {
	if loc == nil {
		loc = time.UTC
	}
	return ValueCtx{loc: loc, utc: loc == time.UTC, enumIndex: enumIndex}
}

// DecodeText converts the text form of a value (canal-json's strings, the
// string-typed fields of other protocols) according to spec. raw is the
// unescaped text; strings kept by the value are copied into ar.
func DecodeText(spec *ColSpec, raw []byte, ar *Arena, vc *ValueCtx) (event.Value, error) {
	switch spec.Typ {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		return parseIntValue(raw, spec.Bits, spec.Unsigned)
	case event.TypeDecimal:
		if bytes.ContainsAny(raw, "eE") {
			// Exponent form: the same number as plain decimal text, exactly.
			txt, err := expandExponent(nil, raw)
			if err != nil {
				return event.Null, fmt.Errorf("DECIMAL %s: %w", jsontape.QuoteShort(raw), err)
			}
			raw = txt
		}
		if err := checkDecimal(raw); err != nil {
			return event.Null, err
		}
		return event.Decimal(ar.Str(raw)), nil
	case event.TypeFloat:
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 32)
		if err != nil {
			return event.Null, fmt.Errorf("FLOAT %s: %w", jsontape.QuoteShort(raw), jsontape.ErrSyntax)
		}
		return event.Float32(float32(f)), nil
	case event.TypeDouble:
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
		if err != nil {
			return event.Null, fmt.Errorf("DOUBLE %s: %w", jsontape.QuoteShort(raw), jsontape.ErrSyntax)
		}
		return event.Float64(f), nil
	case event.TypeBit:
		v, err := jsontape.ParseUint(raw)
		if err != nil {
			return event.Null, fmt.Errorf("BIT %s: %w", jsontape.QuoteShort(raw), err)
		}
		return BitsValue(v, spec.Bits)
	case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeUnknown:
		return event.String(ar.Str(raw)), nil
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry:
		s, err := ar.latin1(raw)
		if err != nil {
			return event.Null, err
		}
		return event.BytesString(s), nil
	case event.TypeJSON:
		return event.JSON(ar.Str(raw)), nil
	case event.TypeEnum:
		return enumText(raw, spec.Elems, vc.enumIndex)
	case event.TypeSet:
		return setText(raw, spec.Elems, vc.enumIndex)
	case event.TypeDate:
		y, m, d, err := parseDate(raw)
		if err != nil {
			return event.Null, err
		}
		return event.Date(y, m, d), nil
	case event.TypeDateTime:
		c, err := parseDateTime(raw)
		if err != nil {
			return event.Null, err
		}
		return event.DateTime(c.Y, c.Mo, c.D, c.H, c.Mi, c.S, c.Us), nil
	case event.TypeTimestamp:
		us, err := parseTimestamp(raw, vc)
		if err != nil {
			return event.Null, err
		}
		return event.TimestampMicros(us), nil
	case event.TypeTime:
		us, err := parseDuration(raw)
		if err != nil {
			return event.Null, err
		}
		return event.TimeMicros(us), nil
	case event.TypeYear:
		y, err := jsontape.ParseInt(raw)
		if err != nil || y < 0 || y > 9999 {
			return event.Null, fmt.Errorf("YEAR %s: %w", jsontape.QuoteShort(raw), jsontape.ErrSyntax)
		}
		return event.Year(int(y)), nil
	case event.TypeVector:
		return parseVector(raw, ar)
	}
	return event.Null, fmt.Errorf("no decoder for type %s", spec.Typ)
}

func parseIntValue(raw []byte, bits int, unsigned bool) (event.Value, error) {
	if bits <= 0 || bits > 64 {
		bits = 64
	}
	if unsigned {
		u, err := jsontape.ParseUint(raw)
		if err == nil && bits < 64 && u >= 1<<uint(bits) {
			err = jsontape.ErrRange
		}
		if err != nil {
			return event.Null, fmt.Errorf("unsigned %d-bit integer %s: %w", bits, jsontape.QuoteShort(raw), err)
		}
		return event.Uint(u), nil
	}
	v, err := jsontape.ParseInt(raw)
	if err == nil && bits < 64 {
		lim := int64(1) << uint(bits-1)
		if v < -lim || v >= lim {
			err = jsontape.ErrRange
		}
	}
	if err != nil {
		return event.Null, fmt.Errorf("signed %d-bit integer %s: %w", bits, jsontape.QuoteShort(raw), err)
	}
	return event.Int(v), nil
}

func BitsValue(v uint64, width int) (event.Value, error) {
	if width > 0 && width < 64 && v >= 1<<uint(width) {
		return event.Null, fmt.Errorf("BIT(%d) value %d: %w", width, v, jsontape.ErrRange)
	}
	return event.Bits(v), nil
}

// maxExponent bounds the exponent expandExponent accepts: DECIMAL values
// have at most 65 digits, so larger exponents are no decimal anyway.
const maxExponent = 200

// expandExponent appends to dst the plain decimal text of a number written
// in exponent form ("1e-30", "-1.5E+3", "1.0E10"), exactly: the digits as
// written with the point moved, no float rounding ("0.000…01", "-1500",
// "10000000000"). Numbers without exponent are appended unchanged.
func expandExponent(dst, raw []byte) ([]byte, error) {
	i := 0
	neg := false
	if i < len(raw) && (raw[i] == '-' || raw[i] == '+') {
		neg = raw[i] == '-'
		i++
	}
	start := i
	var digits []byte
	for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
		i++
	}
	intDigits := i - start
	digits = append(digits, raw[start:i]...)
	if i < len(raw) && raw[i] == '.' {
		i++
		fs := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		digits = append(digits, raw[fs:i]...)
	}
	if len(digits) == 0 {
		return dst, jsontape.ErrSyntax
	}
	exp := 0
	if i < len(raw) {
		if raw[i] != 'e' && raw[i] != 'E' {
			return dst, jsontape.ErrSyntax
		}
		i++
		eneg := false
		if i < len(raw) && (raw[i] == '-' || raw[i] == '+') {
			eneg = raw[i] == '-'
			i++
		}
		if i == len(raw) {
			return dst, jsontape.ErrSyntax
		}
		for ; i < len(raw); i++ {
			c := raw[i]
			if c < '0' || c > '9' {
				return dst, jsontape.ErrSyntax
			}
			exp = exp*10 + int(c-'0')
			if exp > maxExponent {
				return dst, jsontape.ErrRange
			}
		}
		if eneg {
			exp = -exp
		}
	}
	point := intDigits + exp
	var plain []byte
	switch {
	case point <= 0:
		plain = append(plain, '0', '.')
		for range -point {
			plain = append(plain, '0')
		}
		plain = append(plain, digits...)
	case point >= len(digits):
		plain = append(plain, digits...)
		for range point - len(digits) {
			plain = append(plain, '0')
		}
	default:
		plain = append(plain, digits[:point]...)
		plain = append(plain, '.')
		plain = append(plain, digits[point:]...)
	}
	// One leading integer zero at most.
	for len(plain) > 1 && plain[0] == '0' && plain[1] != '.' {
		plain = plain[1:]
	}
	if neg && strings.Trim(string(plain), "0.") != "" {
		dst = append(dst, '-')
	}
	return append(dst, plain...), nil
}

// checkDecimal validates exact decimal text: [-]digits[.digits], at most
// 65 digits (MySQL's maximum precision).
func checkDecimal(b []byte) error {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits, intDigits := 0, 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		intDigits++
	}
	digits = intDigits
	if i < len(b) && b[i] == '.' {
		i++
		frac := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			frac++
		}
		if frac == 0 {
			return fmt.Errorf("DECIMAL %s: %w", jsontape.QuoteShort(b), jsontape.ErrSyntax)
		}
		digits += frac
	}
	if intDigits == 0 || i != len(b) {
		return fmt.Errorf("DECIMAL %s: %w", jsontape.QuoteShort(b), jsontape.ErrSyntax)
	}
	if digits > 65 && significantDigits(b) > 65 {
		return fmt.Errorf("DECIMAL %s: more than 65 digits", jsontape.QuoteShort(b))
	}
	return nil
}

// significantDigits counts digits without leading integer zeros.
func significantDigits(b []byte) int {
	n := 0
	leading := true
	for _, c := range b {
		switch {
		case c == '.':
			leading = false
		case c >= '0' && c <= '9':
			if leading && c == '0' {
				continue
			}
			leading = false
			n++
		}
	}
	return n
}

func enumText(raw []byte, elems []string, asIndex bool) (event.Value, error) {
	if len(elems) > 0 && (!asIndex || !isDigits(raw)) {
		// Member text (also from an index-writing producer that names the
		// members, e.g. TiCDC's content-compatible canal-json).
		for i, e := range elems {
			if e == string(raw) {
				return event.Enum(i+1, e), nil
			}
		}
		for i, e := range elems {
			if strings.EqualFold(e, string(raw)) {
				return event.Enum(i+1, e), nil
			}
		}
		if len(raw) == 0 {
			return event.Enum(0, ""), nil
		}
	}
	idx, err := jsontape.ParseUint(raw)
	if err != nil {
		if !asIndex && len(elems) == 0 {
			// Member text without the member list: the index is unknown.
			return event.Enum(0, string(raw)), nil
		}
		return event.Null, fmt.Errorf("ENUM %s: not a member or index", jsontape.QuoteShort(raw))
	}
	return enumIndex(idx, elems)
}

func enumIndex(idx uint64, elems []string) (event.Value, error) {
	if idx == 0 {
		return event.Enum(0, ""), nil
	}
	if len(elems) == 0 {
		return event.Enum(int(min(idx, math.MaxInt32)), ""), nil
	}
	if idx > uint64(len(elems)) {
		return event.Null, fmt.Errorf("ENUM index %d out of range 1..%d", idx, len(elems))
	}
	return event.Enum(int(idx), elems[idx-1]), nil
}

func setText(raw []byte, elems []string, asIndex bool) (event.Value, error) {
	if mask, err := jsontape.ParseUint(raw); err == nil && (asIndex || !isMemberList(raw, elems)) {
		return setMask(mask, elems)
	}
	if asIndex && len(elems) == 0 {
		return event.Null, fmt.Errorf("SET %s: not a bitmask", jsontape.QuoteShort(raw))
	}
	if len(elems) == 0 {
		return event.Set(0, string(raw)), nil
	}
	var mask uint64
	if len(raw) > 0 {
		for _, part := range strings.Split(string(raw), ",") {
			found := false
			for i, e := range elems {
				if strings.EqualFold(e, part) {
					mask |= 1 << uint(i)
					found = true
					break
				}
			}
			if !found {
				return event.Null, fmt.Errorf("SET %s: %q is not a member", jsontape.QuoteShort(raw), part)
			}
		}
	}
	return setMask(mask, elems)
}

// isMemberList reports whether raw names members (so "1" as a member name
// is not mistaken for a bitmask).
func isMemberList(raw []byte, elems []string) bool {
	for _, part := range strings.Split(string(raw), ",") {
		found := false
		for _, e := range elems {
			if strings.EqualFold(e, part) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return len(elems) > 0
}

func setMask(mask uint64, elems []string) (event.Value, error) {
	if len(elems) == 0 {
		return event.Set(mask, ""), nil
	}
	if len(elems) < 64 && mask >= 1<<uint(len(elems)) {
		return event.Null, fmt.Errorf("SET bitmask %d has bits beyond its %d members", mask, len(elems))
	}
	if mask == 0 {
		return event.Set(0, ""), nil
	}
	n := 0
	for i := range elems {
		if mask&(1<<uint(i)) != 0 {
			n += len(elems[i]) + 1
		}
	}
	b := make([]byte, 0, n)
	for i := range elems {
		if mask&(1<<uint(i)) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, elems[i]...)
		}
	}
	return event.Set(mask, string(b)), nil
}

// ---- temporal text (grammar in mysqldialect) ----

var errDate = mysqldialect.ErrInvalidDate

func parseDate(b []byte) (y, m, d int, err error) {
	if y, m, d, err = mysqldialect.ParseDate(b); err != nil {
		return 0, 0, 0, fmt.Errorf("DATE %s: %w", jsontape.QuoteShort(b), err)
	}
	return y, m, d, nil
}

func parseDateTime(b []byte) (mysqldialect.Civil, error) {
	c, err := mysqldialect.ParseDateTime(b)
	if err != nil {
		return c, fmt.Errorf("DATETIME %s: %w", jsontape.QuoteShort(b), err)
	}
	return c, nil
}

// parseDuration parses TIME text: [-]HHH:MM:SS[.ffffff].
func parseDuration(b []byte) (int64, error) {
	v, err := mysqldialect.ParseTime(b)
	switch {
	case errors.Is(err, mysqldialect.ErrTimeRange):
		return 0, fmt.Errorf("TIME %s: %w", jsontape.QuoteShort(b), jsontape.ErrRange)
	case err != nil:
		return 0, fmt.Errorf("TIME %s: %w", jsontape.QuoteShort(b), errDate)
	}
	return v, nil
}

// parseTimestamp parses TIMESTAMP text, naive in vc.loc, into microseconds
// since the epoch. The zero timestamp maps to 0, as MySQL stores it.
func parseTimestamp(b []byte, vc *ValueCtx) (int64, error) {
	c, err := parseDateTime(b)
	if err != nil {
		return 0, fmt.Errorf("TIMESTAMP %s: %w", jsontape.QuoteShort(b), errDate)
	}
	if c.Y == 0 && c.Mo == 0 && c.D == 0 {
		if c.H == 0 && c.Mi == 0 && c.S == 0 && c.Us == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("TIMESTAMP %s: zero date with a time: %w", jsontape.QuoteShort(b), errDate)
	}
	if c.Mo < 1 || c.D < 1 || c.D > event.DaysIn(c.Y, c.Mo) {
		return 0, fmt.Errorf("TIMESTAMP %s: %w", jsontape.QuoteShort(b), errDate)
	}
	return CivilMicros(c, vc), nil
}

func CivilMicros(c mysqldialect.Civil, vc *ValueCtx) int64 {
	if vc.utc {
		days := event.DaysFromCivil(c.Y, c.Mo, c.D)
		return (days*86400+int64(c.H*3600+c.Mi*60+c.S))*1e6 + int64(c.Us)
	}
	return time.Date(c.Y, time.Month(c.Mo), c.D, c.H, c.Mi, c.S, c.Us*1000, vc.loc).UnixMicro()
}

// parseVector parses TiDB's VECTOR text "[1,2.5,-3]" into little-endian
// float32 bytes.
func parseVector(b []byte, ar *Arena) (event.Value, error) {
	s := strings.TrimSpace(string(b))
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return event.Null, fmt.Errorf("VECTOR %s: want [f1,f2,...]", jsontape.QuoteShort(b))
	}
	body := strings.TrimSpace(s[1 : len(s)-1])
	start := len(ar.Buf)
	if body != "" {
		for _, part := range strings.Split(body, ",") {
			f, err := strconv.ParseFloat(strings.TrimSpace(part), 32)
			if err != nil {
				ar.Buf = ar.Buf[:start]
				return event.Null, fmt.Errorf("VECTOR %s: element %q: %w", jsontape.QuoteShort(b), part, jsontape.ErrSyntax)
			}
			ar.Buf = binary.LittleEndian.AppendUint32(ar.Buf, math.Float32bits(float32(f)))
		}
	}
	return event.BytesString(ar.Since(start)), nil
}

// isDigits reports whether b is a non-empty run of ASCII digits.
func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
