package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/odsync/odsync/event"
)

// Helpers shared by the generic JSON decoders (Debezium, Maxwell): value
// encodings, type inference for schema-less JSON, identifier quoting.

// Enc says how a generic-JSON value is written on the wire.
type Enc uint8

const (
	encInfer          Enc = iota // schema-less: from the JSON kind
	EncInt                       // JSON integer
	EncBool                      // true/false
	EncFloat32                   // number (or "NaN"/"Infinity" strings)
	EncFloat64                   //
	EncDecimalText               // string or number token holding the decimal
	EncDecimalBytes              // base64 two's complement unscaled, spec.scale
	EncVarDecimal                // {"scale":s,"value":base64}
	EncString                    // text
	EncJSONText                  // JSON document as a string
	EncEnumText                  // member text
	EncSetText                   // comma-joined members
	EncBytes                     // base64 bytes
	EncBitsBytes                 // base64 little-endian bytes of a BIT(n)
	EncDateDays                  // int days since the epoch
	EncTimeMillis                // int milliseconds of a TIME
	EncTimeMicros                //
	EncTimeNanos                 //
	EncDateTimeMillis            // int epoch milliseconds of a naive DATETIME read as UTC
	EncDateTimeMicros            //
	EncDateTimeNanos             //
	EncZoned                     // ISO-8601 instant string
	EncYear                      // int year
	EncGeometry                  // {"wkb":base64,"srid":n}
	EncVectorText                // "[1,2,3]"
	EncText                      // text parsed by decodeText (dates, times as text)
)

// Inferred is the type of a schema-less column, merged over the values of
// every image of the row.
type Inferred struct {
	typ      event.Type
	unsigned bool // an integer above 2^63-1 was seen
	neg      bool // a negative integer was seen
	set      bool // a non-null value was seen
}

// inferValue types one schema-less value from its JSON kind: integers are
// BIGINT, other numbers DECIMAL (their exact text; exponent forms are
// expanded to plain decimal text) or DOUBLE (exponent forms beyond 65
// digits), strings VARCHAR, booleans BIT(1), objects and arrays JSON.
func inferValue(t *jsontape.Tape, v int32) Inferred {
	if t.IsNull(v) {
		return Inferred{}
	}
	in := Inferred{set: true}
	switch t.Kind(v) {
	case jsontape.JNumber:
		raw := t.Raw(v)
		switch {
		case bytes.ContainsAny(raw, "eE"):
			in.typ = event.TypeDouble
			if txt, err := expandExponent(nil, raw); err == nil && checkDecimal(txt) == nil {
				in.typ = event.TypeDecimal
			}
		case bytes.IndexByte(raw, '.') >= 0:
			in.typ = event.TypeDecimal
		default:
			in.typ = event.TypeBigInt
			if raw[0] == '-' {
				in.neg = true
			} else if _, err := jsontape.ParseInt(raw); err != nil {
				in.unsigned = true
			}
		}
	case jsontape.JString:
		in.typ = event.TypeVarchar
	case jsontape.JTrue, jsontape.JFalse:
		in.typ = event.TypeBit
	default:
		in.typ = event.TypeJSON
	}
	return in
}

// merge combines the types seen in two images: numbers widen (BIGINT,
// DECIMAL, DOUBLE), other mismatches make the column text (each value is
// kept as its JSON text: numbers as written, true/false, documents).
func (a Inferred) merge(b Inferred) Inferred {
	if !b.set {
		return a
	}
	if !a.set {
		return b
	}
	out := Inferred{set: true, unsigned: a.unsigned || b.unsigned, neg: a.neg || b.neg}
	num := func(t event.Type) bool {
		return t == event.TypeBigInt || t == event.TypeDecimal || t == event.TypeDouble
	}
	switch {
	case a.typ == b.typ:
		out.typ = a.typ
	case num(a.typ) && num(b.typ):
		out.typ = event.TypeDecimal
		if a.typ == event.TypeDouble || b.typ == event.TypeDouble {
			out.typ = event.TypeDouble
		}
	default:
		out.typ = event.TypeText
	}
	if out.typ == event.TypeBigInt && out.unsigned && out.neg {
		out.typ = event.TypeDecimal
	}
	if out.typ != event.TypeBigInt {
		out.unsigned = false
	}
	return out
}

// InferRow types the columns of schema-less row images: one entry per key
// of main, in order, merged with the value of the same name in other
// (other < 0 when there is no second image).
func InferRow(t *jsontape.Tape, main, other int32, dst []Inferred) []Inferred {
	dst = dst[:0]
	end := t.Nodes[main].Next
	for k := main + 1; k < end; {
		v := k + 1
		dst = append(dst, inferValue(t, v))
		k = t.Nodes[v].Next
	}
	if other < 0 || t.Kind(other) != jsontape.JObject {
		return dst
	}
	oend := t.Nodes[other].Next
	for ok := other + 1; ok < oend; {
		ov := ok + 1
		i := 0
		for k := main + 1; k < end; i++ {
			if string(t.Raw(k)) == string(t.Raw(ok)) {
				dst[i] = dst[i].merge(inferValue(t, ov))
				break
			}
			k = t.Nodes[k+1].Next
		}
		ok = t.Nodes[ov].Next
	}
	return dst
}

// AppendInferredKey appends the names and inferred types of a row to a
// schema cache key.
func AppendInferredKey(key []byte, t *jsontape.Tape, main int32, inf []Inferred) []byte {
	end := t.Nodes[main].Next
	i := 0
	for k := main + 1; k < end; i++ {
		key = AppendKeyPart(key, t.Raw(k))
		b := byte(inf[i].typ) << 2
		if inf[i].unsigned {
			b |= 1
		}
		if inf[i].set {
			b |= 2
		}
		key = append(key, b)
		k = t.Nodes[k+1].Next
	}
	return key
}

// NullOnlyRawType is the RawType of a column whose type no value tells:
// every value of it so far was NULL (a schema-less format, or TiCDC's
// open-protocol NULL type). Its Type is event.TypeUnknown; package schema
// maps it to STRING and lets a column type override give it any type.
const NullOnlyRawType = "null"

// column returns the column and decoder of an inferred type.
func (a Inferred) column() (event.Column, ColSpec) {
	c := event.Column{Type: a.typ, Unsigned: a.unsigned, Nullable: true}
	if !a.set {
		c.Type = event.TypeUnknown
		c.RawType = NullOnlyRawType
		return c, ColSpec{Typ: c.Type, Enc: encInfer}
	}
	if c.Type == event.TypeBit {
		c.Length = 1
	}
	c.RawType = "inferred " + c.Type.String()
	if c.Unsigned {
		c.RawType += " unsigned"
	}
	return c, ColSpec{Typ: c.Type, Unsigned: c.Unsigned, Bits: IntBits(c.Type), Enc: encInfer}
}

// inferText decodes a schema-less value of a text column (one whose
// values were of different JSON kinds) as its JSON text: a string's
// content, a number as written, true/false, a document as written. raw is
// the unescaped text or token.
func inferText(kind jsontape.Kind, raw []byte, ar *Arena) (event.Value, error) {
	switch kind {
	case jsontape.JTrue:
		return event.String("true"), nil
	case jsontape.JFalse:
		return event.String("false"), nil
	}
	return event.String(ar.Str(raw)), nil
}

// GenericValue converts one generic-JSON value node according to spec.
func GenericValue(t *jsontape.Tape, v int32, spec *ColSpec, ar *Arena, vc *ValueCtx, scratch *[]byte) (event.Value, error) {
	if t.IsNull(v) {
		return event.Null, nil
	}
	nd := &t.Nodes[v]
	raw := t.Src[nd.Start:nd.End]
	if nd.Kind == jsontape.JString && nd.Esc {
		*scratch = jsontape.AppendUnescape((*scratch)[:0], raw)
		raw = *scratch
	}
	kindErr := func(want string) error { return fmt.Errorf("value is a JSON %s, not %s", nd.Kind, want) }
	switch spec.Enc {
	case encInfer:
		if spec.Typ == event.TypeText {
			return inferText(nd.Kind, raw, ar)
		}
		switch {
		case nd.Kind == jsontape.JNumber && spec.Typ == event.TypeBigInt:
			return parseIntValue(raw, 64, spec.Unsigned)
		case nd.Kind == jsontape.JNumber && spec.Typ == event.TypeDecimal:
			return DecodeText(spec, raw, ar, vc)
		case nd.Kind == jsontape.JNumber && spec.Typ == event.TypeDouble:
			f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
			if err != nil {
				return event.Null, fmt.Errorf("number %s: %w", jsontape.QuoteShort(raw), jsontape.ErrSyntax)
			}
			return event.Float64(f), nil
		case nd.Kind == jsontape.JString && spec.Typ == event.TypeVarchar:
			return event.String(ar.Str(raw)), nil
		case nd.Kind == jsontape.JTrue && spec.Typ == event.TypeBit:
			return event.Bits(1), nil
		case nd.Kind == jsontape.JFalse && spec.Typ == event.TypeBit:
			return event.Bits(0), nil
		case (nd.Kind == jsontape.JObject || nd.Kind == jsontape.JArray) && spec.Typ == event.TypeJSON:
			return event.JSON(ar.Str(raw)), nil
		}
		return event.Null, fmt.Errorf("value is a JSON %s, the column was inferred as %s", nd.Kind, spec.Typ)
	case EncInt, EncYear:
		if nd.Kind != jsontape.JNumber && nd.Kind != jsontape.JString {
			return event.Null, kindErr("an integer")
		}
		if spec.Typ == event.TypeDecimal {
			return decimalForColumn(raw, spec, ar)
		}
		return intForColumn(raw, spec)
	case EncBool:
		var b uint64
		switch nd.Kind {
		case jsontape.JTrue:
			b = 1
		case jsontape.JFalse:
		default:
			return event.Null, kindErr("a boolean")
		}
		if IntBits(spec.Typ) != 0 {
			if spec.Unsigned {
				return event.Uint(b), nil
			}
			return event.Int(int64(b)), nil
		}
		return event.Bits(b), nil
	case EncFloat32, EncFloat64:
		if nd.Kind != jsontape.JNumber && nd.Kind != jsontape.JString {
			return event.Null, kindErr("a number")
		}
		bits := 64
		if spec.Enc == EncFloat32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), bits)
		if err != nil {
			return event.Null, fmt.Errorf("number %s: %w", jsontape.QuoteShort(raw), jsontape.ErrSyntax)
		}
		if spec.Typ == event.TypeFloat {
			return event.Float32(float32(f)), nil
		}
		return event.Float64(f), nil
	case EncDecimalText:
		if nd.Kind != jsontape.JNumber && nd.Kind != jsontape.JString {
			return event.Null, kindErr("a decimal")
		}
		if bytes.ContainsAny(raw, "eE") {
			// Exponent form (TiCDC's decimal-as-double, BigDecimal's
			// toString): the same number as plain decimal text, exactly.
			txt, err := expandExponent(nil, raw)
			if err != nil {
				return event.Null, fmt.Errorf("decimal %s: %w", jsontape.QuoteShort(raw), err)
			}
			raw = txt
		}
		return decimalForColumn(raw, spec, ar)
	case EncDecimalBytes:
		if nd.Kind != jsontape.JString {
			return event.Null, kindErr("a base64 decimal")
		}
		txt, err := DecimalFromBase64(raw, spec.Scale)
		if err != nil {
			return event.Null, err
		}
		return decimalForColumn(txt, spec, ar)
	case EncVarDecimal:
		if nd.Kind != jsontape.JObject {
			return event.Null, kindErr("a {scale,value} decimal")
		}
		sn, vn := t.Field(v, "scale"), t.Field(v, "value")
		if sn < 0 || vn < 0 || t.Kind(vn) != jsontape.JString {
			return event.Null, errors.New("variable-scale decimal lacks scale or value")
		}
		sc, err := t.IntNode(sn)
		if err != nil || sc < 0 || sc > 65 {
			return event.Null, fmt.Errorf("variable-scale decimal scale: %w", jsontape.ErrRange)
		}
		txt, err := DecimalFromBase64(t.Text(vn, nil), int(sc))
		if err != nil {
			return event.Null, err
		}
		return decimalForColumn(txt, spec, ar)
	case EncString, EncJSONText, EncEnumText, EncSetText, EncVectorText, EncText:
		if nd.Kind != jsontape.JString {
			if spec.Enc == EncJSONText && nd.Kind != jsontape.JNumber {
				// Some producers embed JSON documents unquoted.
				return event.JSON(ar.Str(raw)), nil
			}
			if nd.Kind != jsontape.JNumber {
				return event.Null, kindErr("a string")
			}
		}
		switch spec.Enc {
		case EncJSONText:
			return event.JSON(ar.Str(raw)), nil
		case EncEnumText:
			v, err := enumText(raw, spec.Elems, false)
			return v, err
		case EncSetText:
			return setText(raw, spec.Elems, false)
		case EncVectorText:
			return parseVector(raw, ar)
		case EncText:
			return DecodeText(spec, raw, ar, vc)
		}
		if spec.Binary {
			return event.BytesString(ar.Str(raw)), nil
		}
		return event.String(ar.Str(raw)), nil
	case EncBytes, EncBitsBytes, EncGeometry:
		if spec.Enc == EncGeometry {
			if nd.Kind != jsontape.JObject {
				return event.Null, kindErr("a geometry object")
			}
			w := t.Field(v, "wkb")
			if w < 0 || t.Kind(w) != jsontape.JString {
				return event.Null, errors.New("geometry lacks wkb")
			}
			raw = t.Text(w, nil)
		} else if nd.Kind != jsontape.JString {
			return event.Null, kindErr("a base64 string")
		}
		start := len(ar.Buf)
		out, err := base64.StdEncoding.AppendDecode(ar.Buf, raw)
		if err != nil {
			return event.Null, fmt.Errorf("base64 value: %w", err)
		}
		ar.Buf = out
		b := ar.Buf[start:]
		if spec.Enc == EncBitsBytes {
			if len(b) > 8 {
				return event.Null, fmt.Errorf("BIT value of %d bytes", len(b))
			}
			var u uint64
			for i := len(b) - 1; i >= 0; i-- {
				u = u<<8 | uint64(b[i])
			}
			ar.Buf = ar.Buf[:start]
			return BitsValue(u, spec.Bits)
		}
		s := ar.Since(start)
		if !spec.Binary && (spec.Typ == event.TypeChar || spec.Typ == event.TypeVarchar || spec.Typ == event.TypeText) {
			return event.String(s), nil
		}
		return event.BytesString(s), nil
	case EncDateDays:
		n, err := intToken(nd, raw)
		if err != nil {
			return event.Null, err
		}
		if n < -1e7 || n > 1e7 {
			return event.Null, fmt.Errorf("date %d days: %w", n, jsontape.ErrRange)
		}
		y, m, d := event.CivilFromDays(n)
		return event.Date(y, m, d), nil
	case EncTimeMillis, EncTimeMicros, EncTimeNanos:
		n, err := intToken(nd, raw)
		if err != nil {
			return event.Null, err
		}
		switch spec.Enc {
		case EncTimeMillis:
			if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
				return event.Null, jsontape.ErrRange
			}
			n *= 1000
		case EncTimeNanos:
			n /= 1000
		}
		return event.TimeMicros(n), nil
	case EncDateTimeMillis, EncDateTimeMicros, EncDateTimeNanos:
		n, err := intToken(nd, raw)
		if err != nil {
			return event.Null, err
		}
		var us int64
		switch spec.Enc {
		case EncDateTimeMillis:
			if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
				return event.Null, jsontape.ErrRange
			}
			us = n * 1000
		case EncDateTimeMicros:
			us = n
		default:
			us = FloorDiv(n, 1000)
		}
		if spec.Typ == event.TypeTimestamp {
			return event.TimestampMicros(us), nil
		}
		return dateTimeFromMicros(us)
	case EncZoned:
		if nd.Kind != jsontape.JString {
			return event.Null, kindErr("an ISO-8601 timestamp")
		}
		ts, err := time.Parse(time.RFC3339Nano, string(raw))
		if err != nil {
			return event.Null, fmt.Errorf("timestamp %s: %w", jsontape.QuoteShort(raw), errDate)
		}
		return event.Timestamp(ts), nil
	}
	return event.Null, fmt.Errorf("value is a JSON %s, unexpected for type %s", nd.Kind, spec.Typ)
}

func intToken(nd *jsontape.Node, raw []byte) (int64, error) {
	if nd.Kind != jsontape.JNumber && nd.Kind != jsontape.JString {
		return 0, fmt.Errorf("value is a JSON %s, not an integer", nd.Kind)
	}
	n, err := jsontape.ParseInt(raw)
	if err != nil {
		return 0, fmt.Errorf("integer %s: %w", jsontape.QuoteShort(raw), err)
	}
	return n, nil
}

func FloorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// dateTimeFromMicros turns epoch microseconds of a naive DATETIME (read as
// UTC, Debezium's convention) into civil parts.
func dateTimeFromMicros(us int64) (event.Value, error) {
	const day = 86400 * 1e6
	days := FloorDiv(us, day)
	rem := us - days*day
	if days < -1e7 || days > 1e7 {
		return event.Null, fmt.Errorf("datetime %d µs: %w", us, jsontape.ErrRange)
	}
	y, m, d := event.CivilFromDays(days)
	if y < 0 || y > 9999 {
		return event.Null, fmt.Errorf("datetime year %d: %w", y, jsontape.ErrRange)
	}
	secs := rem / 1e6
	return event.DateTime(y, m, d, int(secs/3600), int(secs/60%60), int(secs%60), int(rem%1e6)), nil
}

// intForColumn parses an integer token for an integer/YEAR/BIT column.
// Unsigned BIGINT values written as signed 64-bit (TiCDC's debezium writes
// values above 2^63-1 as their two's complement) are restored.
func intForColumn(raw []byte, spec *ColSpec) (event.Value, error) {
	switch spec.Typ {
	case event.TypeYear:
		y, err := jsontape.ParseInt(raw)
		if err != nil || y < 0 || y > 9999 {
			return event.Null, fmt.Errorf("YEAR %s: %w", jsontape.QuoteShort(raw), jsontape.ErrSyntax)
		}
		return event.Year(int(y)), nil
	case event.TypeBit:
		u, err := jsontape.ParseUint(raw)
		if err != nil {
			return event.Null, fmt.Errorf("BIT %s: %w", jsontape.QuoteShort(raw), err)
		}
		return BitsValue(u, spec.Bits)
	}
	if spec.Unsigned {
		if len(raw) > 0 && raw[0] == '-' {
			v, err := jsontape.ParseInt(raw)
			if err != nil || spec.Bits != 64 {
				return event.Null, fmt.Errorf("unsigned integer %s: %w", jsontape.QuoteShort(raw), jsontape.ErrRange)
			}
			return event.Uint(uint64(v)), nil
		}
		return parseIntValue(raw, spec.Bits, true)
	}
	bits := spec.Bits
	if bits == 0 {
		bits = 64
	}
	return parseIntValue(raw, bits, false)
}

// decimalForColumn stores decimal text as the column's family requires:
// Decimal for DECIMAL (and unknown), an integer for integer columns
// (bigint.unsigned.handling.mode=precise).
func decimalForColumn(txt []byte, spec *ColSpec, ar *Arena) (event.Value, error) {
	if err := checkDecimal(txt); err != nil {
		return event.Null, err
	}
	if IntBits(spec.Typ) != 0 {
		if i := bytes.IndexByte(txt, '.'); i >= 0 {
			if strings.Trim(string(txt[i+1:]), "0") != "" {
				return event.Null, fmt.Errorf("integer column holds decimal %s", jsontape.QuoteShort(txt))
			}
			txt = txt[:i]
		}
		return parseIntValue(txt, spec.Bits, spec.Unsigned)
	}
	switch spec.Typ {
	case event.TypeFloat:
		f, err := strconv.ParseFloat(string(txt), 32)
		if err != nil {
			return event.Null, err
		}
		return event.Float32(float32(f)), nil
	case event.TypeDouble:
		f, err := strconv.ParseFloat(string(txt), 64)
		if err != nil {
			return event.Null, err
		}
		return event.Float64(f), nil
	}
	return event.Decimal(ar.Str(txt)), nil
}

// DecimalFromBase64 decodes Kafka Connect's Decimal: base64 of the
// big-endian two's complement unscaled value.
func DecimalFromBase64(b64 []byte, scale int) ([]byte, error) {
	var buf [64]byte
	b, err := base64.StdEncoding.AppendDecode(buf[:0], b64)
	if err != nil {
		return nil, fmt.Errorf("base64 decimal: %w", err)
	}
	if len(b) > 40 {
		return nil, fmt.Errorf("decimal of %d bytes exceeds 65 digits", len(b))
	}
	if scale < 0 || scale > 65 {
		return nil, fmt.Errorf("decimal scale %d out of range", scale)
	}
	x := new(big.Int)
	if len(b) > 0 {
		x.SetBytes(b)
		if b[0]&0x80 != 0 {
			x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
		}
	}
	neg := x.Sign() < 0
	digits := x.Abs(x).Text(10)
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	var out []byte
	if neg {
		out = append(out, '-')
	}
	out = append(out, digits[:len(digits)-scale]...)
	if scale > 0 {
		out = append(out, '.')
		out = append(out, digits[len(digits)-scale:]...)
	}
	return out, nil
}

// QuoteIdent quotes a MySQL identifier with backticks.
func QuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
