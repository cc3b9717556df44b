package ticdc

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
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

// enc says how a generic-JSON value is written on the wire.
type enc uint8

const (
	encInfer          enc = iota // schema-less: from the JSON kind
	encInt                       // JSON integer
	encBool                      // true/false
	encFloat32                   // number (or "NaN"/"Infinity" strings)
	encFloat64                   //
	encDecimalText               // string or number token holding the decimal
	encDecimalBytes              // base64 two's complement unscaled, spec.scale
	encVarDecimal                // {"scale":s,"value":base64}
	encString                    // text
	encJSONText                  // JSON document as a string
	encEnumText                  // member text
	encSetText                   // comma-joined members
	encBytes                     // base64 bytes
	encBitsBytes                 // base64 little-endian bytes of a BIT(n)
	encDateDays                  // int days since the epoch
	encTimeMillis                // int milliseconds of a TIME
	encTimeMicros                //
	encTimeNanos                 //
	encDateTimeMillis            // int epoch milliseconds of a naive DATETIME read as UTC
	encDateTimeMicros            //
	encDateTimeNanos             //
	encZoned                     // ISO-8601 instant string
	encYear                      // int year
	encGeometry                  // {"wkb":base64,"srid":n}
	encVectorText                // "[1,2,3]"
	encText                      // text parsed by decodeText (dates, times as text)
)

// inferred is the type of a schema-less column, merged over the values of
// every image of the row.
type inferred struct {
	typ      event.Type
	unsigned bool // an integer above 2^63-1 was seen
	neg      bool // a negative integer was seen
	set      bool // a non-null value was seen
}

// inferValue types one schema-less value from its JSON kind: integers are
// BIGINT, other numbers DECIMAL (their exact text; exponent forms are
// expanded to plain decimal text) or DOUBLE (exponent forms beyond 65
// digits), strings VARCHAR, booleans BIT(1), objects and arrays JSON.
func inferValue(t *jtape, v int32) inferred {
	if t.isNull(v) {
		return inferred{}
	}
	in := inferred{set: true}
	switch t.kind(v) {
	case jNumber:
		raw := t.raw(v)
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
			} else if _, err := parseInt(raw); err != nil {
				in.unsigned = true
			}
		}
	case jString:
		in.typ = event.TypeVarchar
	case jTrue, jFalse:
		in.typ = event.TypeBit
	default:
		in.typ = event.TypeJSON
	}
	return in
}

// merge combines the types seen in two images: numbers widen (BIGINT,
// DECIMAL, DOUBLE), other mismatches make the column text (each value is
// kept as its JSON text: numbers as written, true/false, documents).
func (a inferred) merge(b inferred) inferred {
	if !b.set {
		return a
	}
	if !a.set {
		return b
	}
	out := inferred{set: true, unsigned: a.unsigned || b.unsigned, neg: a.neg || b.neg}
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

// inferRow types the columns of schema-less row images: one entry per key
// of main, in order, merged with the value of the same name in other
// (other < 0 when there is no second image).
func inferRow(t *jtape, main, other int32, dst []inferred) []inferred {
	dst = dst[:0]
	end := t.nodes[main].next
	for k := main + 1; k < end; {
		v := k + 1
		dst = append(dst, inferValue(t, v))
		k = t.nodes[v].next
	}
	if other < 0 || t.kind(other) != jObject {
		return dst
	}
	oend := t.nodes[other].next
	for ok := other + 1; ok < oend; {
		ov := ok + 1
		i := 0
		for k := main + 1; k < end; i++ {
			if string(t.raw(k)) == string(t.raw(ok)) {
				dst[i] = dst[i].merge(inferValue(t, ov))
				break
			}
			k = t.nodes[k+1].next
		}
		ok = t.nodes[ov].next
	}
	return dst
}

// appendInferredKey appends the names and inferred types of a row to a
// schema cache key.
func appendInferredKey(key []byte, t *jtape, main int32, inf []inferred) []byte {
	end := t.nodes[main].next
	i := 0
	for k := main + 1; k < end; i++ {
		key = appendKeyPart(key, t.raw(k))
		b := byte(inf[i].typ) << 2
		if inf[i].unsigned {
			b |= 1
		}
		if inf[i].set {
			b |= 2
		}
		key = append(key, b)
		k = t.nodes[k+1].next
	}
	return key
}

// NullOnlyRawType is the RawType of a column whose type no value tells:
// every value of it so far was NULL (a schema-less format, or TiCDC's
// open-protocol NULL type). Its Type is event.TypeUnknown; package schema
// maps it to STRING and lets a column type override give it any type.
const NullOnlyRawType = "null"

// column returns the column and decoder of an inferred type.
func (a inferred) column() (event.Column, colSpec) {
	c := event.Column{Type: a.typ, Unsigned: a.unsigned, Nullable: true}
	if !a.set {
		c.Type = event.TypeUnknown
		c.RawType = NullOnlyRawType
		return c, colSpec{typ: c.Type, enc: encInfer}
	}
	if c.Type == event.TypeBit {
		c.Length = 1
	}
	c.RawType = "inferred " + c.Type.String()
	if c.Unsigned {
		c.RawType += " unsigned"
	}
	return c, colSpec{typ: c.Type, unsigned: c.Unsigned, bits: intBits(c.Type), enc: encInfer}
}

// inferText decodes a schema-less value of a text column (one whose
// values were of different JSON kinds) as its JSON text: a string's
// content, a number as written, true/false, a document as written. raw is
// the unescaped text or token.
func inferText(kind jkind, raw []byte, ar *arena) (event.Value, error) {
	switch kind {
	case jTrue:
		return event.String("true"), nil
	case jFalse:
		return event.String("false"), nil
	}
	return event.String(ar.str(raw)), nil
}

// genericValue converts one generic-JSON value node according to spec.
func genericValue(t *jtape, v int32, spec *colSpec, ar *arena, vc *valueCtx, scratch *[]byte) (event.Value, error) {
	if t.isNull(v) {
		return event.Null, nil
	}
	nd := &t.nodes[v]
	raw := t.src[nd.start:nd.end]
	if nd.kind == jString && nd.esc {
		*scratch = appendUnescape((*scratch)[:0], raw)
		raw = *scratch
	}
	kindErr := func(want string) error { return fmt.Errorf("value is a JSON %s, not %s", nd.kind, want) }
	switch spec.enc {
	case encInfer:
		if spec.typ == event.TypeText {
			return inferText(nd.kind, raw, ar)
		}
		switch {
		case nd.kind == jNumber && spec.typ == event.TypeBigInt:
			return parseIntValue(raw, 64, spec.unsigned)
		case nd.kind == jNumber && spec.typ == event.TypeDecimal:
			return decodeText(spec, raw, ar, vc)
		case nd.kind == jNumber && spec.typ == event.TypeDouble:
			f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
			if err != nil {
				return event.Null, fmt.Errorf("number %s: %w", quoteShort(raw), errSyntax)
			}
			return event.Float64(f), nil
		case nd.kind == jString && spec.typ == event.TypeVarchar:
			return event.String(ar.str(raw)), nil
		case nd.kind == jTrue && spec.typ == event.TypeBit:
			return event.Bits(1), nil
		case nd.kind == jFalse && spec.typ == event.TypeBit:
			return event.Bits(0), nil
		case (nd.kind == jObject || nd.kind == jArray) && spec.typ == event.TypeJSON:
			return event.JSON(ar.str(raw)), nil
		}
		return event.Null, fmt.Errorf("value is a JSON %s, the column was inferred as %s", nd.kind, spec.typ)
	case encInt, encYear:
		if nd.kind != jNumber && nd.kind != jString {
			return event.Null, kindErr("an integer")
		}
		if spec.typ == event.TypeDecimal {
			return decimalForColumn(raw, spec, ar)
		}
		return intForColumn(raw, spec)
	case encBool:
		var b uint64
		switch nd.kind {
		case jTrue:
			b = 1
		case jFalse:
		default:
			return event.Null, kindErr("a boolean")
		}
		if intBits(spec.typ) != 0 {
			if spec.unsigned {
				return event.Uint(b), nil
			}
			return event.Int(int64(b)), nil
		}
		return event.Bits(b), nil
	case encFloat32, encFloat64:
		if nd.kind != jNumber && nd.kind != jString {
			return event.Null, kindErr("a number")
		}
		bits := 64
		if spec.enc == encFloat32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), bits)
		if err != nil {
			return event.Null, fmt.Errorf("number %s: %w", quoteShort(raw), errSyntax)
		}
		if spec.typ == event.TypeFloat {
			return event.Float32(float32(f)), nil
		}
		return event.Float64(f), nil
	case encDecimalText:
		if nd.kind != jNumber && nd.kind != jString {
			return event.Null, kindErr("a decimal")
		}
		if bytes.ContainsAny(raw, "eE") {
			// Exponent form (TiCDC's decimal-as-double, BigDecimal's
			// toString): the same number as plain decimal text, exactly.
			txt, err := expandExponent(nil, raw)
			if err != nil {
				return event.Null, fmt.Errorf("decimal %s: %w", quoteShort(raw), err)
			}
			raw = txt
		}
		return decimalForColumn(raw, spec, ar)
	case encDecimalBytes:
		if nd.kind != jString {
			return event.Null, kindErr("a base64 decimal")
		}
		txt, err := decimalFromBase64(raw, spec.scale)
		if err != nil {
			return event.Null, err
		}
		return decimalForColumn(txt, spec, ar)
	case encVarDecimal:
		if nd.kind != jObject {
			return event.Null, kindErr("a {scale,value} decimal")
		}
		sn, vn := t.field(v, "scale"), t.field(v, "value")
		if sn < 0 || vn < 0 || t.kind(vn) != jString {
			return event.Null, errors.New("variable-scale decimal lacks scale or value")
		}
		sc, err := t.intNode(sn)
		if err != nil || sc < 0 || sc > 65 {
			return event.Null, fmt.Errorf("variable-scale decimal scale: %w", errRange)
		}
		txt, err := decimalFromBase64(t.text(vn, nil), int(sc))
		if err != nil {
			return event.Null, err
		}
		return decimalForColumn(txt, spec, ar)
	case encString, encJSONText, encEnumText, encSetText, encVectorText, encText:
		if nd.kind != jString {
			if spec.enc == encJSONText && nd.kind != jNumber {
				// Some producers embed JSON documents unquoted.
				return event.JSON(ar.str(raw)), nil
			}
			if nd.kind != jNumber {
				return event.Null, kindErr("a string")
			}
		}
		switch spec.enc {
		case encJSONText:
			return event.JSON(ar.str(raw)), nil
		case encEnumText:
			v, err := enumText(raw, spec.elems, false)
			return v, err
		case encSetText:
			return setText(raw, spec.elems, false)
		case encVectorText:
			return parseVector(raw, ar)
		case encText:
			return decodeText(spec, raw, ar, vc)
		}
		if spec.binary {
			return event.BytesString(ar.str(raw)), nil
		}
		return event.String(ar.str(raw)), nil
	case encBytes, encBitsBytes, encGeometry:
		if spec.enc == encGeometry {
			if nd.kind != jObject {
				return event.Null, kindErr("a geometry object")
			}
			w := t.field(v, "wkb")
			if w < 0 || t.kind(w) != jString {
				return event.Null, errors.New("geometry lacks wkb")
			}
			raw = t.text(w, nil)
		} else if nd.kind != jString {
			return event.Null, kindErr("a base64 string")
		}
		start := len(ar.buf)
		out, err := base64.StdEncoding.AppendDecode(ar.buf, raw)
		if err != nil {
			return event.Null, fmt.Errorf("base64 value: %w", err)
		}
		ar.buf = out
		b := ar.buf[start:]
		if spec.enc == encBitsBytes {
			if len(b) > 8 {
				return event.Null, fmt.Errorf("BIT value of %d bytes", len(b))
			}
			var u uint64
			for i := len(b) - 1; i >= 0; i-- {
				u = u<<8 | uint64(b[i])
			}
			ar.buf = ar.buf[:start]
			return bitsValue(u, spec.bits)
		}
		s := ar.since(start)
		if !spec.binary && (spec.typ == event.TypeChar || spec.typ == event.TypeVarchar || spec.typ == event.TypeText) {
			return event.String(s), nil
		}
		return event.BytesString(s), nil
	case encDateDays:
		n, err := intToken(nd, raw)
		if err != nil {
			return event.Null, err
		}
		if n < -1e7 || n > 1e7 {
			return event.Null, fmt.Errorf("date %d days: %w", n, errRange)
		}
		y, m, d := civilFromDays(n)
		return event.Date(y, m, d), nil
	case encTimeMillis, encTimeMicros, encTimeNanos:
		n, err := intToken(nd, raw)
		if err != nil {
			return event.Null, err
		}
		switch spec.enc {
		case encTimeMillis:
			if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
				return event.Null, errRange
			}
			n *= 1000
		case encTimeNanos:
			n /= 1000
		}
		return event.TimeMicros(n), nil
	case encDateTimeMillis, encDateTimeMicros, encDateTimeNanos:
		n, err := intToken(nd, raw)
		if err != nil {
			return event.Null, err
		}
		var us int64
		switch spec.enc {
		case encDateTimeMillis:
			if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
				return event.Null, errRange
			}
			us = n * 1000
		case encDateTimeMicros:
			us = n
		default:
			us = floorDiv(n, 1000)
		}
		if spec.typ == event.TypeTimestamp {
			return event.TimestampMicros(us), nil
		}
		return dateTimeFromMicros(us)
	case encZoned:
		if nd.kind != jString {
			return event.Null, kindErr("an ISO-8601 timestamp")
		}
		ts, err := time.Parse(time.RFC3339Nano, string(raw))
		if err != nil {
			return event.Null, fmt.Errorf("timestamp %s: %w", quoteShort(raw), errDate)
		}
		return event.Timestamp(ts), nil
	}
	return event.Null, fmt.Errorf("value is a JSON %s, unexpected for type %s", nd.kind, spec.typ)
}

func intToken(nd *jnode, raw []byte) (int64, error) {
	if nd.kind != jNumber && nd.kind != jString {
		return 0, fmt.Errorf("value is a JSON %s, not an integer", nd.kind)
	}
	n, err := parseInt(raw)
	if err != nil {
		return 0, fmt.Errorf("integer %s: %w", quoteShort(raw), err)
	}
	return n, nil
}

func floorDiv(a, b int64) int64 {
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
	days := floorDiv(us, day)
	rem := us - days*day
	if days < -1e7 || days > 1e7 {
		return event.Null, fmt.Errorf("datetime %d µs: %w", us, errRange)
	}
	y, m, d := civilFromDays(days)
	if y < 0 || y > 9999 {
		return event.Null, fmt.Errorf("datetime year %d: %w", y, errRange)
	}
	secs := rem / 1e6
	return event.DateTime(y, m, d, int(secs/3600), int(secs/60%60), int(secs%60), int(rem%1e6)), nil
}

// intForColumn parses an integer token for an integer/YEAR/BIT column.
// Unsigned BIGINT values written as signed 64-bit (TiCDC's debezium writes
// values above 2^63-1 as their two's complement) are restored.
func intForColumn(raw []byte, spec *colSpec) (event.Value, error) {
	switch spec.typ {
	case event.TypeYear:
		y, err := parseInt(raw)
		if err != nil || y < 0 || y > 9999 {
			return event.Null, fmt.Errorf("YEAR %s: %w", quoteShort(raw), errSyntax)
		}
		return event.Year(int(y)), nil
	case event.TypeBit:
		u, err := parseUint(raw)
		if err != nil {
			return event.Null, fmt.Errorf("BIT %s: %w", quoteShort(raw), err)
		}
		return bitsValue(u, spec.bits)
	}
	if spec.unsigned {
		if len(raw) > 0 && raw[0] == '-' {
			v, err := parseInt(raw)
			if err != nil || spec.bits != 64 {
				return event.Null, fmt.Errorf("unsigned integer %s: %w", quoteShort(raw), errRange)
			}
			return event.Uint(uint64(v)), nil
		}
		return parseIntValue(raw, spec.bits, true)
	}
	bits := spec.bits
	if bits == 0 {
		bits = 64
	}
	return parseIntValue(raw, bits, false)
}

// decimalForColumn stores decimal text as the column's family requires:
// Decimal for DECIMAL (and unknown), an integer for integer columns
// (bigint.unsigned.handling.mode=precise).
func decimalForColumn(txt []byte, spec *colSpec, ar *arena) (event.Value, error) {
	if err := checkDecimal(txt); err != nil {
		return event.Null, err
	}
	if intBits(spec.typ) != 0 {
		if i := bytes.IndexByte(txt, '.'); i >= 0 {
			if strings.Trim(string(txt[i+1:]), "0") != "" {
				return event.Null, fmt.Errorf("integer column holds decimal %s", quoteShort(txt))
			}
			txt = txt[:i]
		}
		return parseIntValue(txt, spec.bits, spec.unsigned)
	}
	switch spec.typ {
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
	return event.Decimal(ar.str(txt)), nil
}

// decimalFromBase64 decodes Kafka Connect's Decimal: base64 of the
// big-endian two's complement unscaled value.
func decimalFromBase64(b64 []byte, scale int) ([]byte, error) {
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

// quoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
