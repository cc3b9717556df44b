package odpsemu

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is a MaxCompute 2.0 data type as the emulator stores it.
type kind uint8

const (
	kBigint kind = iota + 1
	kInt
	kSmallint
	kTinyint
	kDouble
	kFloat
	kDecimal
	kString
	kVarchar
	kChar
	kBinary
	kBoolean
	kDate
	kDatetime
	kTimestamp
	kTimestampNtz
	kJSON
	kArray
	kMap
	kStruct
)

var kindStrings = [...]string{
	kBigint: "BIGINT", kInt: "INT", kSmallint: "SMALLINT", kTinyint: "TINYINT",
	kDouble: "DOUBLE", kFloat: "FLOAT", kDecimal: "DECIMAL",
	kString: "STRING", kVarchar: "VARCHAR", kChar: "CHAR", kBinary: "BINARY",
	kBoolean: "BOOLEAN", kDate: "DATE", kDatetime: "DATETIME",
	kTimestamp: "TIMESTAMP", kTimestampNtz: "TIMESTAMP_NTZ", kJSON: "JSON",
	kArray: "ARRAY", kMap: "MAP", kStruct: "STRUCT",
}

// kindByName looks a type keyword up (upper case).
func kindByName(upper string) (kind, bool) {
	for k, n := range kindStrings {
		if n != "" && n == upper {
			return kind(k), true
		}
	}
	return 0, false
}

// unsupportedTypes are type names MaxCompute (or the SDK) knows that the
// emulator refuses as column types, with a clear message.
var unsupportedTypes = map[string]bool{
	"INTERVAL_DAY_TIME": true, "INTERVAL_YEAR_MONTH": true, "GEOGRAPHY": true, "VOID": true,
}

// dataType is a parsed column type. Complex types nest.
type dataType struct {
	kind      kind
	length    int // CHAR(n), VARCHAR(n)
	precision int // DECIMAL(p,s)
	scale     int
	elem      *dataType // ARRAY
	key, val  *dataType // MAP
	fields    []structField
}

type structField struct {
	name string
	typ  *dataType
}

// String renders the type the way the emulator reports it to the SDK: upper
// case, DECIMAL always with precision and scale, and struct field names never
// back-quoted (the SDK's type parser, odps/datatype/data_type_parser.go,
// rejects back-quotes).
func (t *dataType) String() string {
	var sb strings.Builder
	t.appendTo(&sb)
	return sb.String()
}

func (t *dataType) appendTo(sb *strings.Builder) {
	switch t.kind {
	case kDecimal:
		fmt.Fprintf(sb, "DECIMAL(%d,%d)", t.precision, t.scale)
	case kVarchar:
		fmt.Fprintf(sb, "VARCHAR(%d)", t.length)
	case kChar:
		fmt.Fprintf(sb, "CHAR(%d)", t.length)
	case kArray:
		sb.WriteString("ARRAY<")
		t.elem.appendTo(sb)
		sb.WriteByte('>')
	case kMap:
		sb.WriteString("MAP<")
		t.key.appendTo(sb)
		sb.WriteByte(',')
		t.val.appendTo(sb)
		sb.WriteByte('>')
	case kStruct:
		sb.WriteString("STRUCT<")
		for i, f := range t.fields {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(f.name)
			sb.WriteByte(':')
			f.typ.appendTo(sb)
		}
		sb.WriteByte('>')
	default:
		sb.WriteString(t.kind.name())
	}
}

func (k kind) name() string {
	if int(k) < len(kindStrings) && kindStrings[k] != "" {
		return kindStrings[k]
	}
	return "UNKNOWN"
}

// wireType is the protobuf wire type the SDK writes in a field key for a
// column of this type.
func (t *dataType) wireType() uint64 {
	switch t.kind {
	case kBigint, kInt, kSmallint, kTinyint, kBoolean, kDate, kDatetime:
		return 0
	case kDouble:
		return 1
	case kFloat:
		return 5
	default:
		return 2
	}
}

// partitionKeyType reports whether MaxCompute accepts t as a partition column type.
func (t *dataType) partitionKeyType() bool {
	switch t.kind {
	case kString, kVarchar, kChar, kTinyint, kSmallint, kInt, kBigint:
		return true
	}
	return false
}

func (t *dataType) primitive() bool {
	return t.kind != kArray && t.kind != kMap && t.kind != kStruct
}

// parseTypeString parses a type string as stored in the catalog (or written
// in DDL), e.g. "MAP<STRING,ARRAY<DECIMAL(10,2)>>".
func parseTypeString(s string) (*dataType, error) {
	lx, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: lx}
	t, err := p.parseType()
	if err != nil {
		return nil, err
	}
	if !p.at(tEOF, "") {
		return nil, fmt.Errorf("unexpected %q after type %s", p.peek().text, t)
	}
	return t, nil
}

// parseType parses a MaxCompute type at the parser's position.
func (p *parser) parseType() (*dataType, error) {
	tok := p.next()
	if tok.kind != tIdent {
		return nil, p.errAt(tok, "expected a type name, got %q", tok.text)
	}
	upper := strings.ToUpper(tok.text)
	k, ok := kindByName(upper)
	if !ok {
		if unsupportedTypes[upper] {
			return nil, p.errAt(tok, "type %s is not supported as a column type by the emulator", upper)
		}
		return nil, p.errAt(tok, "unknown type %q", tok.text)
	}
	t := &dataType{kind: k}
	switch k {
	case kChar, kVarchar:
		if err := p.expect(tPunct, "("); err != nil {
			return nil, err
		}
		n, err := p.intLiteral()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tPunct, ")"); err != nil {
			return nil, err
		}
		max := 65535
		if k == kChar {
			max = 255
		}
		if n < 1 || n > max {
			return nil, p.errAt(tok, "length of %s must be 1..%d, got %d", upper, max, n)
		}
		t.length = n
	case kDecimal:
		t.precision, t.scale = 38, 18
		if p.at(tPunct, "(") {
			p.next()
			prec, err := p.intLiteral()
			if err != nil {
				return nil, err
			}
			scale := 0
			if p.at(tPunct, ",") {
				p.next()
				if scale, err = p.intLiteral(); err != nil {
					return nil, err
				}
			}
			if err := p.expect(tPunct, ")"); err != nil {
				return nil, err
			}
			if prec < 1 || prec > 38 {
				return nil, p.errAt(tok, "DECIMAL precision must be 1..38, got %d", prec)
			}
			if scale < 0 || scale > 18 || scale > prec {
				return nil, p.errAt(tok, "DECIMAL scale must be 0..min(precision,18), got %d", scale)
			}
			t.precision, t.scale = prec, scale
		}
	case kArray:
		if err := p.expect(tPunct, "<"); err != nil {
			return nil, err
		}
		elem, err := p.parseType()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tPunct, ">"); err != nil {
			return nil, err
		}
		t.elem = elem
	case kMap:
		if err := p.expect(tPunct, "<"); err != nil {
			return nil, err
		}
		key, err := p.parseType()
		if err != nil {
			return nil, err
		}
		if !key.primitive() {
			return nil, p.errAt(tok, "MAP key type must be primitive, got %s", key)
		}
		if err := p.expect(tPunct, ","); err != nil {
			return nil, err
		}
		val, err := p.parseType()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tPunct, ">"); err != nil {
			return nil, err
		}
		t.key, t.val = key, val
	case kStruct:
		if err := p.expect(tPunct, "<"); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for {
			nameTok := p.next()
			if nameTok.kind != tIdent && nameTok.kind != tQuoted {
				return nil, p.errAt(nameTok, "expected a STRUCT field name, got %q", nameTok.text)
			}
			if !plainIdent(nameTok.text) {
				// The SDK cannot parse a field name that needs quoting.
				return nil, p.errAt(nameTok, "STRUCT field name %q must consist of letters, digits and '_' (the SDK cannot parse other names)", nameTok.text)
			}
			low := strings.ToLower(nameTok.text)
			if seen[low] {
				return nil, p.errAt(nameTok, "duplicate STRUCT field %q", nameTok.text)
			}
			seen[low] = true
			if err := p.expect(tPunct, ":"); err != nil {
				return nil, err
			}
			ft, err := p.parseType()
			if err != nil {
				return nil, err
			}
			if p.atKeyword("COMMENT") {
				p.next()
				if _, err := p.stringLiteral(); err != nil {
					return nil, err
				}
			}
			t.fields = append(t.fields, structField{name: nameTok.text, typ: ft})
			if p.at(tPunct, ",") {
				p.next()
				continue
			}
			if err := p.expect(tPunct, ">"); err != nil {
				return nil, err
			}
			break
		}
	}
	return t, nil
}

func plainIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (p *parser) intLiteral() (int, error) {
	tok := p.next()
	if tok.kind != tNumber {
		return 0, p.errAt(tok, "expected a number, got %q", tok.text)
	}
	n, err := strconv.Atoi(tok.text)
	if err != nil {
		return 0, p.errAt(tok, "invalid number %q", tok.text)
	}
	return n, nil
}
