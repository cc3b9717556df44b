package schema

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
)

// The functions here take target values: what Target.Row and
// TargetColumn.Convert produce (the event.Value kind listed at each Kind).
// They encode them for one sink format, so sinks hold no mapping logic.

// ParquetValue is a target value in its Parquet physical representation.
type ParquetValue struct {
	Null bool
	// Bool is the BOOLEAN value.
	Bool bool
	// Int holds INT32 (in range) and INT64 values: integers, unscaled
	// decimals of precision <= 18, DATE days since 1970-01-01, TIMESTAMP
	// milliseconds or microseconds since the epoch (NTZ: of the wall clock
	// read as UTC).
	Int int64
	// Float holds FLOAT and DOUBLE values.
	Float float64
	// Bytes holds BYTE_ARRAY (string, JSON, binary) and
	// FIXED_LEN_BYTE_ARRAY (unscaled decimal, big-endian two's complement,
	// Parquet.Length bytes) values.
	Bytes []byte
	// List holds the elements of a LIST (array<string>).
	List []string
}

// ParquetValue encodes a target value of the column for Parquet.
func (c *TargetColumn) ParquetValue(v event.Value) (ParquetValue, error) {
	if v.IsNull() {
		return ParquetValue{Null: true}, nil
	}
	bad := func() (ParquetValue, error) {
		return ParquetValue{}, fmt.Errorf("schema: column %s (%s): cannot encode %s for Parquet", c.Name, c.TypeSpec(), v)
	}
	switch c.Kind {
	case KindBoolean:
		return ParquetValue{Bool: v.Int() != 0}, nil
	case KindTinyInt, KindSmallInt, KindInt, KindBigInt:
		switch v.Kind() {
		case event.KindInt:
			return ParquetValue{Int: v.Int()}, nil
		case event.KindUint:
			if v.Uint() > math.MaxInt64 {
				return bad()
			}
			return ParquetValue{Int: int64(v.Uint())}, nil
		}
		return bad()
	case KindFloat, KindDouble:
		if v.Kind() != event.KindFloat32 && v.Kind() != event.KindFloat64 {
			return bad()
		}
		return ParquetValue{Float: v.Float()}, nil
	case KindDecimal:
		if v.Kind() != event.KindDecimal {
			return bad()
		}
		u, err := unscaled(v.Str(), c.Scale)
		if err != nil {
			return ParquetValue{}, fmt.Errorf("schema: column %s: %w", c.Name, err)
		}
		if c.Parquet.Physical != ParquetFixedLenByteArray {
			if !u.IsInt64() {
				return bad()
			}
			return ParquetValue{Int: u.Int64()}, nil
		}
		b, err := twosComplement(u, c.Parquet.Length)
		if err != nil {
			return ParquetValue{}, fmt.Errorf("schema: column %s: %w", c.Name, err)
		}
		return ParquetValue{Bytes: b}, nil
	case KindString, KindJSON, KindBinary:
		return ParquetValue{Bytes: []byte(v.Str())}, nil
	case KindDate:
		if v.Kind() != event.KindDate {
			return bad()
		}
		t, ok := v.CivilTime(time.UTC)
		if !ok {
			return bad()
		}
		return ParquetValue{Int: floorDiv(t.Unix(), 86400)}, nil
	case KindDateTime:
		if v.Kind() != event.KindTimestamp {
			return bad()
		}
		return ParquetValue{Int: floorDiv(v.Micros(), 1000)}, nil
	case KindTimestamp:
		if v.Kind() != event.KindTimestamp {
			return bad()
		}
		return ParquetValue{Int: v.Micros()}, nil
	case KindTimestampNTZ:
		if v.Kind() != event.KindDateTime {
			return bad()
		}
		t, ok := v.CivilTime(time.UTC)
		if !ok {
			return bad()
		}
		return ParquetValue{Int: t.UnixMicro()}, nil
	case KindStringArray:
		l := Elements(v)
		if l == nil {
			l = []string{} // an empty set is an empty list, not NULL
		}
		return ParquetValue{List: l}, nil
	}
	return bad()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// unscaled returns the decimal text times 10^scale as an integer; the text
// must have at most scale fraction digits.
func unscaled(text string, scale int) (*big.Int, error) {
	intPart, frac, _ := strings.Cut(text, ".")
	if len(frac) > scale {
		if strings.TrimRight(frac[scale:], "0") != "" {
			return nil, fmt.Errorf("decimal %s has more than %d fraction digits", text, scale)
		}
		frac = frac[:scale]
	}
	s := intPart + frac + strings.Repeat("0", scale-len(frac))
	u, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("not a decimal: %q", text)
	}
	return u, nil
}

// twosComplement renders u as n big-endian two's complement bytes.
func twosComplement(u *big.Int, n int) ([]byte, error) {
	b := make([]byte, n)
	if u.Sign() >= 0 {
		if u.BitLen() > 8*n-1 {
			return nil, errors.New("decimal does not fit its Parquet length")
		}
		u.FillBytes(b)
		return b, nil
	}
	// -x = 2^(8n) - x
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	m.Add(m, u)
	if m.BitLen() > 8*n || m.Bit(8*n-1) == 0 {
		return nil, errors.New("decimal does not fit its Parquet length")
	}
	m.FillBytes(b)
	return b, nil
}

// AppendText appends the text of a target value for CSV files and Hive
// text formats and returns buf; NULL appends nothing (callers tell NULL
// from "" with IsNull). Formats: boolean true/false; integers and decimals
// as digits; floats shortest round-trip ('g'); strings, JSON and arrays
// (comma-joined) as they are; binary as standard base64; DATE YYYY-MM-DD;
// TIMESTAMP, DATETIME and TIMESTAMP_NTZ as YYYY-MM-DD HH:MM:SS[.ffffff]
// (the instants in UTC), which Hive and Athena cast to timestamp.
func (c *TargetColumn) AppendText(buf []byte, v event.Value) []byte {
	switch v.Kind() {
	case event.KindNull:
		return buf
	case event.KindInt:
		if c.Kind == KindBoolean {
			return strconv.AppendBool(buf, v.Int() != 0)
		}
	case event.KindBytes:
		return base64.StdEncoding.AppendEncode(buf, []byte(v.Str()))
	case event.KindTimestamp:
		t := v.Time()
		return appendSQLTime(buf, t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
	case event.KindDateTime:
		y, mo, d, h, mi, s, us := v.Civil()
		return appendSQLTime(buf, y, mo, d, h, mi, s, us)
	}
	return v.AppendText(buf)
}

func appendSQLTime(buf []byte, y, mo, d, h, mi, s, us int) []byte {
	buf = appendDigits(buf, y, 4)
	buf = append(buf, '-')
	buf = appendDigits(buf, mo, 2)
	buf = append(buf, '-')
	buf = appendDigits(buf, d, 2)
	buf = append(buf, ' ')
	buf = appendDigits(buf, h, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, mi, 2)
	buf = append(buf, ':')
	buf = appendDigits(buf, s, 2)
	if us != 0 {
		buf = append(buf, '.')
		buf = appendDigits(buf, us, 6)
	}
	return buf
}

// MaxComputeValue returns a target value of the column as the Go value a
// MaxCompute writer needs for the column's type: nil for NULL; bool;
// int8, int16, int32 or int64 for TINYINT..BIGINT; float32 or float64;
// string for DECIMAL (exact text with Scale fraction digits), STRING and
// JSON; []byte for BINARY; []string for ARRAY<STRING>; time.Time in UTC
// for DATE (midnight), DATETIME (millisecond instant), TIMESTAMP (instant)
// and TIMESTAMP_NTZ (the wall clock, read as UTC).
func (c *TargetColumn) MaxComputeValue(v event.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	bad := func() (any, error) {
		return nil, fmt.Errorf("schema: column %s (%s): cannot encode %s for MaxCompute", c.Name, c.MaxCompute, v)
	}
	switch c.Kind {
	case KindBoolean:
		return v.Int() != 0, nil
	case KindTinyInt, KindSmallInt, KindInt, KindBigInt:
		var i int64
		switch v.Kind() {
		case event.KindInt:
			i = v.Int()
		case event.KindUint:
			if v.Uint() > math.MaxInt64 {
				return bad()
			}
			i = int64(v.Uint())
		default:
			return bad()
		}
		lo, hi, _ := kindRange(c.Kind)
		if i < lo || i > 0 && uint64(i) > hi {
			return bad()
		}
		switch c.Kind {
		case KindTinyInt:
			return int8(i), nil
		case KindSmallInt:
			return int16(i), nil
		case KindInt:
			return int32(i), nil
		}
		return i, nil
	case KindFloat:
		return float32(v.Float()), nil
	case KindDouble:
		return v.Float(), nil
	case KindDecimal, KindString, KindJSON:
		return v.Str(), nil
	case KindBinary:
		return []byte(v.Str()), nil
	case KindStringArray:
		return Elements(v), nil
	case KindDate, KindTimestampNTZ:
		t, ok := v.CivilTime(time.UTC)
		if !ok || (v.Kind() != event.KindDate && v.Kind() != event.KindDateTime) {
			return bad()
		}
		return t, nil
	case KindDateTime, KindTimestamp:
		if v.Kind() != event.KindTimestamp {
			return bad()
		}
		return v.Time(), nil
	}
	return bad()
}
