package event

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
)

// Kind says how a Value is stored.
type Kind uint8

// Value kinds. The zero Value is Null.
const (
	KindNull      Kind = iota
	KindInt            // signed integer: Int()
	KindUint           // unsigned integer: Uint()
	KindFloat32        // FLOAT: Float()
	KindFloat64        // DOUBLE: Float()
	KindDecimal        // exact decimal text, e.g. "-12.3400": Str()
	KindString         // text, UTF-8: Str()
	KindBytes          // raw bytes: Str() (bytes in a string)
	KindDate           // civil date: Civil()
	KindDateTime       // civil date and time, microseconds, no zone: Civil()
	KindTimestamp      // instant: Micros() since the Unix epoch, UTC
	KindTime           // signed time of day / duration: Micros() (TIME can be negative or > 24h)
	KindYear           // YEAR: Int() (0 is the zero year)
	KindJSON           // JSON text: Str()
	KindBits           // BIT(n): Uint()
	KindEnum           // ENUM member: Str() is the member, Int() its 1-based index
	KindSet            // SET: Str() is the comma-joined members, Uint() the bitmask
	kindCount
)

var kindNames = [...]string{"null", "int", "uint", "float32", "float64", "decimal", "string", "bytes",
	"date", "datetime", "timestamp", "time", "year", "json", "bits", "enum", "set"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one typed column value. It is small, comparable and immutable.
type Value struct {
	kind Kind
	num  uint64
	str  string
}

// Null is the SQL NULL.
var Null = Value{}

// Constructors.
func Int(v int64) Value         { return Value{kind: KindInt, num: uint64(v)} }
func Uint(v uint64) Value       { return Value{kind: KindUint, num: v} }
func Float32(v float32) Value   { return Value{kind: KindFloat32, num: uint64(math.Float32bits(v))} }
func Float64(v float64) Value   { return Value{kind: KindFloat64, num: math.Float64bits(v)} }
func Decimal(text string) Value { return Value{kind: KindDecimal, str: text} }
func String(s string) Value     { return Value{kind: KindString, str: s} }
func Bytes(b []byte) Value      { return Value{kind: KindBytes, str: string(b)} }
func BytesString(b string) Value {
	return Value{kind: KindBytes, str: b}
}
func JSON(text string) Value       { return Value{kind: KindJSON, str: text} }
func Bits(v uint64) Value          { return Value{kind: KindBits, num: v} }
func Year(y int) Value             { return Value{kind: KindYear, num: uint64(int64(y))} }
func Enum(idx int, s string) Value { return Value{kind: KindEnum, num: uint64(idx), str: s} }
func Set(mask uint64, s string) Value {
	return Value{kind: KindSet, num: mask, str: s}
}

// TimeMicros is a TIME value as signed microseconds.
func TimeMicros(us int64) Value { return Value{kind: KindTime, num: uint64(us)} }

// TimestampMicros is an instant in microseconds since the Unix epoch (UTC).
func TimestampMicros(us int64) Value { return Value{kind: KindTimestamp, num: uint64(us)} }

// Timestamp is an instant, kept to the microsecond.
func Timestamp(t time.Time) Value { return TimestampMicros(t.UnixMicro()) }

// Date is a civil date. Zero parts are kept as they are (MySQL zero dates).
func Date(year, month, day int) Value {
	return Value{kind: KindDate, num: packCivil(year, month, day, 0, 0, 0, 0)}
}

// DateTime is a civil date and time without a zone. Zero parts are kept.
func DateTime(year, month, day, hour, min, sec, micro int) Value {
	return Value{kind: KindDateTime, num: packCivil(year, month, day, hour, min, sec, micro)}
}

// Packing follows MySQL's own: ((year*13+month)<<5|day)<<17 | hour<<12|min<<6|sec, then <<24 | micro.
// It orders like the civil time and keeps zero dates exactly.
func packCivil(year, month, day, hour, min, sec, micro int) uint64 {
	ymd := uint64(year*13+month)<<5 | uint64(day)
	hms := uint64(hour)<<12 | uint64(min)<<6 | uint64(sec)
	return (ymd<<17|hms)<<24 | uint64(micro)
}

// Kind returns how the value is stored.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is SQL NULL.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Int returns the value of KindInt, KindYear and KindEnum (its index).
func (v Value) Int() int64 { return int64(v.num) }

// Uint returns the value of KindUint, KindBits and KindSet (its bitmask).
func (v Value) Uint() uint64 { return v.num }

// Float returns the value of KindFloat32 and KindFloat64.
func (v Value) Float() float64 {
	if v.kind == KindFloat32 {
		return float64(math.Float32frombits(uint32(v.num)))
	}
	return math.Float64frombits(v.num)
}

// Float32 returns the value of KindFloat32.
func (v Value) Float32() float32 { return math.Float32frombits(uint32(v.num)) }

// Str returns the text of KindDecimal, KindString, KindJSON, KindEnum, KindSet
// and the raw bytes of KindBytes.
func (v Value) Str() string { return v.str }

// Micros returns KindTimestamp (since the epoch) and KindTime (signed) values.
func (v Value) Micros() int64 { return int64(v.num) }

// Time returns a KindTimestamp value as a UTC time.
func (v Value) Time() time.Time { return time.UnixMicro(int64(v.num)).UTC() }

// Civil returns the parts of a KindDate or KindDateTime value.
func (v Value) Civil() (year, month, day, hour, min, sec, micro int) {
	micro = int(v.num & (1<<24 - 1))
	ymdhms := v.num >> 24
	hms := ymdhms & (1<<17 - 1)
	ymd := ymdhms >> 17
	day = int(ymd & 31)
	ym := int(ymd >> 5)
	year, month = ym/13, ym%13
	sec = int(hms & 63)
	min = int(hms >> 6 & 63)
	hour = int(hms >> 12)
	return
}

// IsZeroDate reports whether a KindDate/KindDateTime has a zero year, month or day.
func (v Value) IsZeroDate() bool {
	y, m, d, _, _, _, _ := v.Civil()
	return y == 0 || m == 0 || d == 0
}

// CivilTime converts a KindDate/KindDateTime to a time.Time in loc. ok is
// false for zero dates, which time.Time cannot represent.
func (v Value) CivilTime(loc *time.Location) (t time.Time, ok bool) {
	y, mo, d, h, mi, s, us := v.Civil()
	if mo == 0 || d == 0 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, us*1000, loc), true
}

// Equal reports whether two values are identical (same kind and content).
func (v Value) Equal(o Value) bool { return v == o }

// AppendText appends the canonical text form of v: the form used in CSV and
// JSON files and by verification checksums. NULL appends nothing; callers
// that must tell NULL from "" check IsNull first.
//
//	int, uint, year, bits, enum index: decimal digits (enum and set: their text)
//	float32/float64: shortest text that round-trips ('g' style, exponent when needed)
//	decimal, string, json: as stored
//	bytes: base64 (std encoding)
//	date: YYYY-MM-DD; datetime: YYYY-MM-DD HH:MM:SS[.ffffff] (fraction only when non-zero)
//	timestamp: YYYY-MM-DDTHH:MM:SS[.ffffff]Z (UTC)
//	time: [-]HH:MM:SS[.ffffff] (hours may exceed 24)
func (v Value) AppendText(buf []byte) []byte {
	switch v.kind {
	case KindNull:
		return buf
	case KindInt, KindYear:
		return strconv.AppendInt(buf, int64(v.num), 10)
	case KindUint, KindBits:
		return strconv.AppendUint(buf, v.num, 10)
	case KindFloat32:
		return strconv.AppendFloat(buf, v.Float(), 'g', -1, 32)
	case KindFloat64:
		return strconv.AppendFloat(buf, v.Float(), 'g', -1, 64)
	case KindDecimal, KindString, KindJSON, KindEnum, KindSet:
		return append(buf, v.str...)
	case KindBytes:
		return base64.StdEncoding.AppendEncode(buf, []byte(v.str))
	case KindDate:
		y, m, d, _, _, _, _ := v.Civil()
		return appendDate(buf, y, m, d)
	case KindDateTime:
		y, m, d, h, mi, s, us := v.Civil()
		buf = appendDate(buf, y, m, d)
		buf = append(buf, ' ')
		return appendClock(buf, h, mi, s, us)
	case KindTimestamp:
		t := v.Time()
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		buf = appendDate(buf, y, int(mo), d)
		buf = append(buf, 'T')
		buf = appendClock(buf, h, mi, s, t.Nanosecond()/1000)
		return append(buf, 'Z')
	case KindTime:
		us := int64(v.num)
		if us < 0 {
			buf = append(buf, '-')
			us = -us
		}
		secs := us / 1e6
		return appendClock(buf, int(secs/3600), int(secs/60%60), int(secs%60), int(us%1e6))
	}
	return buf
}

// Text returns AppendText as a string.
func (v Value) Text() string { return string(v.AppendText(nil)) }

// String is for debugging: kind and text.
func (v Value) String() string {
	if v.kind == KindNull {
		return "NULL"
	}
	return v.kind.String() + ":" + v.Text()
}

func appendDate(buf []byte, y, m, d int) []byte {
	if y < 0 || y > 9999 || m < 0 || m > 99 || d < 0 || d > 99 {
		buf = appendPad(buf, y, 4)
		buf = append(buf, '-')
		buf = appendPad(buf, m, 2)
		buf = append(buf, '-')
		return appendPad(buf, d, 2)
	}
	return append(buf, digits2[2*(y/100)], digits2[2*(y/100)+1], digits2[2*(y%100)], digits2[2*(y%100)+1], '-',
		digits2[2*m], digits2[2*m+1], '-', digits2[2*d], digits2[2*d+1])
}

func appendClock(buf []byte, h, mi, s, us int) []byte {
	if h < 0 || h > 99 || mi < 0 || mi > 99 || s < 0 || s > 99 || us < 0 || us > 999999 {
		buf = appendPad(buf, h, 2)
		buf = append(buf, ':')
		buf = appendPad(buf, mi, 2)
		buf = append(buf, ':')
		buf = appendPad(buf, s, 2)
		if us != 0 {
			buf = append(buf, '.')
			buf = appendPad(buf, us, 6)
		}
		return buf
	}
	buf = append(buf, digits2[2*h], digits2[2*h+1], ':', digits2[2*mi], digits2[2*mi+1], ':', digits2[2*s], digits2[2*s+1])
	if us != 0 {
		a, b, c := us/10000, us/100%100, us%100
		buf = append(buf, '.', digits2[2*a], digits2[2*a+1], digits2[2*b], digits2[2*b+1], digits2[2*c], digits2[2*c+1])
	}
	return buf
}

// digits2 holds the two-digit forms of 0..99.
const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"4041424344454647484950515253545556575859606162636465666768697071727374757677787980818283848586878889" +
	"90919293949596979899"

func appendPad(buf []byte, v, width int) []byte {
	var tmp [20]byte
	b := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(b); i < width; i++ {
		buf = append(buf, '0')
	}
	return append(buf, b...)
}

// ApproxSize estimates the bytes a row of values holds: 9 per value plus
// its string or byte content. Batch byte limits and file rolling use it;
// it is cheap and depends on the values alone.
func ApproxSize(row []Value) int64 {
	var n int64
	for i := range row {
		n += 9 + int64(len(row[i].str))
	}
	return n
}
