package schema

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// Kind is the target type of an ODS column, independent of the target
// system. Each Kind has one rendering per system (MaxCompute, Parquet,
// Hive/Athena) and one value representation (see TargetColumn.Convert).
type Kind uint8

// Target kinds. The comment names the event.Value kind Convert produces.
const (
	KindInvalid      Kind = iota
	KindBoolean           // event.Int 0 or 1
	KindTinyInt           // event.Int, -128..127
	KindSmallInt          // event.Int, -32768..32767
	KindInt               // event.Int, 32-bit
	KindBigInt            // event.Int, 64-bit
	KindFloat             // event.Float32
	KindDouble            // event.Float64
	KindDecimal           // event.Decimal, text with exactly Scale fraction digits
	KindString            // event.String, UTF-8 text
	KindBinary            // event.Bytes
	KindDate              // event.Date (never a zero date)
	KindDateTime          // event.TimestampMicros, truncated to milliseconds (MaxCompute DATETIME)
	KindTimestampNTZ      // event.DateTime: civil date-time, microseconds, no zone
	KindTimestamp         // event.TimestampMicros: instant, microseconds, UTC
	KindJSON              // event.JSON text
	KindStringArray       // event.String holding the comma-joined elements (SET members); see Elements
	kindCount
)

var kindNames = [...]string{
	KindInvalid: "invalid", KindBoolean: "boolean", KindTinyInt: "tinyint", KindSmallInt: "smallint",
	KindInt: "int", KindBigInt: "bigint", KindFloat: "float", KindDouble: "double", KindDecimal: "decimal",
	KindString: "string", KindBinary: "binary", KindDate: "date", KindDateTime: "datetime",
	KindTimestampNTZ: "timestamp_ntz", KindTimestamp: "timestamp", KindJSON: "json",
	KindStringArray: "array<string>",
}

// String returns the type-spec spelling of k ("decimal" without precision).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// typeSpec is a Kind with its decimal precision and scale.
type typeSpec struct {
	kind      Kind
	precision int
	scale     int
}

// MaxDecimalPrecision is the largest DECIMAL precision of the targets
// (MaxCompute 2.0, Parquet readers, Athena).
const MaxDecimalPrecision = 38

func (s typeSpec) String() string {
	if s.kind == KindDecimal {
		return fmt.Sprintf("decimal(%d,%d)", s.precision, s.scale)
	}
	return s.kind.String()
}

// parseTypeSpec parses a target type spec as written in the configuration.
func parseTypeSpec(s string) (typeSpec, error) {
	t := strings.ToLower(strings.Join(strings.Fields(s), ""))
	switch t {
	case "bool":
		return typeSpec{kind: KindBoolean}, nil
	case "integer":
		return typeSpec{kind: KindInt}, nil
	case "array<string>":
		return typeSpec{kind: KindStringArray}, nil
	}
	if rest, ok := strings.CutPrefix(t, "decimal"); ok {
		if rest == "" {
			return typeSpec{}, fmt.Errorf("%q: decimal needs a precision and scale, e.g. decimal(38,4)", s)
		}
		var p, sc int
		inner, ok := strings.CutPrefix(rest, "(")
		inner, ok2 := strings.CutSuffix(inner, ")")
		ps := strings.Split(inner, ",")
		if !ok || !ok2 || len(ps) > 2 {
			return typeSpec{}, fmt.Errorf("%q: want decimal(p,s)", s)
		}
		var err error
		if p, err = strconv.Atoi(ps[0]); err != nil {
			return typeSpec{}, fmt.Errorf("%q: bad precision", s)
		}
		if len(ps) == 2 {
			if sc, err = strconv.Atoi(ps[1]); err != nil {
				return typeSpec{}, fmt.Errorf("%q: bad scale", s)
			}
		}
		if p < 1 || p > MaxDecimalPrecision {
			return typeSpec{}, fmt.Errorf("%q: precision must be 1..%d (map wider decimals to string)", s, MaxDecimalPrecision)
		}
		if sc < 0 || sc > p {
			return typeSpec{}, fmt.Errorf("%q: scale must be 0..precision", s)
		}
		return typeSpec{kind: KindDecimal, precision: p, scale: sc}, nil
	}
	for k := KindBoolean; k < kindCount; k++ {
		if k != KindDecimal && kindNames[k] == t {
			return typeSpec{kind: k}, nil
		}
	}
	return typeSpec{}, fmt.Errorf("%q: unknown target type (want one of boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s), string, binary, date, datetime, timestamp_ntz, timestamp, json, array<string>)", s)
}

// validFamilyKey reports whether k can key Config.Types.
func validFamilyKey(k string) bool {
	k = strings.ToLower(k)
	if k == "tinyint(1)" || k == "bit(1)" {
		return true
	}
	k = strings.TrimSuffix(k, " unsigned")
	t, ok := event.ParseType(k)
	return ok && t != event.TypeUnknown
}

// intRange returns the value range of an integer family.
func intRange(t event.Type, unsigned bool) (lo int64, hi uint64) {
	bits := map[event.Type]uint{event.TypeTinyInt: 8, event.TypeSmallInt: 16, event.TypeMediumInt: 24,
		event.TypeInt: 32, event.TypeBigInt: 64}[t]
	if unsigned {
		if bits == 64 {
			return 0, math.MaxUint64
		}
		return 0, 1<<bits - 1
	}
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

// kindRange returns the range of an integer target kind.
func kindRange(k Kind) (lo int64, hi uint64, ok bool) {
	switch k {
	case KindTinyInt:
		return math.MinInt8, math.MaxInt8, true
	case KindSmallInt:
		return math.MinInt16, math.MaxInt16, true
	case KindInt:
		return math.MinInt32, math.MaxInt32, true
	case KindBigInt:
		return math.MinInt64, math.MaxInt64, true
	}
	return 0, 0, false
}

// digits returns the decimal digits needed for the integer range.
func digits(lo int64, hi uint64) int {
	n := len(strconv.FormatUint(hi, 10))
	if l := len(strconv.FormatInt(lo, 10)) - 1; lo < 0 && l > n {
		n = l
	}
	return n
}

func isIntFamily(t event.Type) bool {
	return t >= event.TypeTinyInt && t <= event.TypeBigInt
}

func isTemporalFamily(t event.Type) bool {
	return t == event.TypeDate || t == event.TypeDateTime || t == event.TypeTimestamp
}

// decimalPS returns a DECIMAL column's precision and scale, from the fields
// or, when Precision is 0, from RawType; ok is false when unknown (a bare
// "decimal" from a Kafka codec: the MySQL capture sets Precision 10 for a
// DDL DECIMAL without (p,s) itself).
func decimalPS(c *event.Column) (p, s int, ok bool) {
	if c.Precision > 0 {
		return int(c.Precision), int(c.Scale), true
	}
	raw := strings.ToLower(c.RawType)
	i := strings.IndexByte(raw, '(')
	j := strings.IndexByte(raw, ')')
	if i < 0 || j < i {
		return 0, 0, false
	}
	parts := strings.Split(raw[i+1:j], ",")
	p, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || p <= 0 {
		return 0, 0, false
	}
	if len(parts) > 1 {
		if s, err = strconv.Atoi(strings.TrimSpace(parts[1])); err != nil {
			return 0, 0, false
		}
	}
	return p, s, true
}

// bitWidth returns BIT(n)'s n; 64 when unknown.
func bitWidth(c *event.Column) int {
	if c.Length == 0 || c.Length > 64 {
		return 64
	}
	return int(c.Length)
}

// isBool reports whether c is TINYINT(1) (MySQL's BOOL).
func isBool(c *event.Column) bool {
	return c.Type == event.TypeTinyInt && strings.HasPrefix(strings.ToLower(c.RawType), "tinyint(1)")
}

// nullOnly reports a column no value has typed yet: every value so far was
// NULL (schema-less Kafka formats such as Maxwell; TiCDC open-protocol's
// NULL type). the Kafka codecs (capture/kafka) mark it TypeUnknown with RawType "null". It
// maps to STRING, which holds whatever kind its later values have, and a
// column type override may give it any type (there is no value to lose).
func nullOnly(c *event.Column) bool {
	return c.Type == event.TypeUnknown && c.RawType == "null"
}

// defaultSpec is the lossless default mapping of a source column.
func defaultSpec(c *event.Column, zeroDates string, sys System) (typeSpec, error) {
	k := func(k Kind) (typeSpec, error) { return typeSpec{kind: k}, nil }
	if nullOnly(c) {
		return k(KindString)
	}
	switch c.Type {
	case event.TypeTinyInt:
		if c.Unsigned {
			return k(KindSmallInt)
		}
		return k(KindTinyInt)
	case event.TypeSmallInt:
		if c.Unsigned {
			return k(KindInt)
		}
		return k(KindSmallInt)
	case event.TypeMediumInt:
		return k(KindInt)
	case event.TypeInt:
		if c.Unsigned {
			return k(KindBigInt)
		}
		return k(KindInt)
	case event.TypeBigInt:
		if c.Unsigned {
			return typeSpec{kind: KindDecimal, precision: 20}, nil
		}
		return k(KindBigInt)
	case event.TypeDecimal:
		p, s, ok := decimalPS(c)
		if !ok || p > MaxDecimalPrecision || sys == SystemMaxCompute && s > MaxComputeMaxScale {
			// unknown precision, or too wide for the target: STRING holds
			// every MySQL/TiDB decimal (up to DECIMAL(65,30)) exactly.
			return k(KindString)
		}
		return typeSpec{kind: KindDecimal, precision: p, scale: s}, nil
	case event.TypeFloat:
		return k(KindFloat)
	case event.TypeDouble:
		return k(KindDouble)
	case event.TypeBit:
		if bitWidth(c) == 64 {
			return typeSpec{kind: KindDecimal, precision: 20}, nil
		}
		return k(KindBigInt)
	case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeEnum, event.TypeSet:
		return k(KindString)
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		return k(KindBinary)
	case event.TypeDate:
		if zeroDates == ZeroDatesString {
			return k(KindString)
		}
		return k(KindDate)
	case event.TypeDateTime:
		if zeroDates == ZeroDatesString {
			return k(KindString)
		}
		return k(KindTimestampNTZ)
	case event.TypeTimestamp:
		if zeroDates == ZeroDatesString {
			return k(KindString)
		}
		return k(KindTimestamp)
	case event.TypeTime:
		return k(KindString)
	case event.TypeYear:
		return k(KindInt)
	case event.TypeJSON:
		return k(KindString)
	}
	return typeSpec{}, fmt.Errorf("unsupported source type %s (%q); map it with a column type override (string or binary)", c.Type, c.RawType)
}

// familyKeys returns the Config.Types keys that apply to c, most specific first.
func familyKeys(c *event.Column) []string {
	var keys []string
	if isBool(c) {
		keys = append(keys, "tinyint(1)")
	}
	if c.Type == event.TypeBit && bitWidth(c) == 1 {
		keys = append(keys, "bit(1)")
	}
	if c.Unsigned {
		keys = append(keys, c.Type.String()+" unsigned")
	}
	return append(keys, c.Type.String())
}

// checkConversion reports whether values of c can be converted to s and, if
// so, what the conversion loses ("" when nothing).
func checkConversion(c *event.Column, s typeSpec, zeroDates string, srcZone string) (lossy string, err error) {
	reject := func() (string, error) {
		return "", fmt.Errorf("cannot map %s (%s) to %s", c.Type, rawOr(c), s)
	}
	if nullOnly(c) {
		return "", nil
	}
	if s.kind == KindString {
		// Every value has a lossless text form (binary as base64, VECTOR as
		// a JSON array, unknown types as their canonical text).
		return "", nil
	}
	if s.kind == KindBinary {
		switch c.Type {
		case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector,
			event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeJSON:
			return "", nil
		case event.TypeBit:
			return "", nil // big-endian bytes
		}
		if c.Type == event.TypeUnknown || c.Type.String() == fmt.Sprintf("type(%d)", c.Type) {
			return "", nil // raw bytes of an unknown type
		}
		return reject()
	}
	switch {
	case isIntFamily(c.Type):
		lo, hi := intRange(c.Type, c.Unsigned)
		return numericTo(c, s, lo, hi, reject)
	case c.Type == event.TypeYear:
		return numericTo(c, s, 0, 2155, reject)
	case c.Type == event.TypeBit:
		n := bitWidth(c)
		if s.kind == KindBoolean {
			if n == 1 {
				return "", nil
			}
			return "any non-zero value becomes true", nil
		}
		return numericTo(c, s, 0, uint64(1)<<n-1|uint64(1)<<(n-1), reject)
	case c.Type == event.TypeEnum:
		// the 1-based member index; 0 is MySQL's invalid-value ''.
		if _, _, ok := kindRange(s.kind); ok || s.kind == KindDecimal {
			return numericTo(c, s, 0, uint64(max(len(c.Elems), 1)), reject)
		}
		return reject()
	case c.Type == event.TypeSet:
		switch s.kind {
		case KindStringArray:
			return "", nil
		case KindBigInt, KindInt, KindSmallInt, KindTinyInt, KindDecimal:
			n := len(c.Elems)
			if n == 0 || n > 64 {
				n = 64
			}
			return numericTo(c, s, 0, uint64(1)<<n-1|uint64(1)<<(n-1), reject)
		}
		return reject()
	case c.Type == event.TypeDecimal:
		p, sc, ok := decimalPS(c)
		if !ok {
			p, sc = 65, 30
		}
		switch s.kind {
		case KindDecimal:
			var notes []string
			if s.scale < sc {
				notes = append(notes, fmt.Sprintf("rounded to %d fraction digits", s.scale))
			}
			if s.precision-s.scale < p-sc {
				notes = append(notes, fmt.Sprintf("values with more than %d integer digits fail", s.precision-s.scale))
			}
			return strings.Join(notes, "; "), nil
		case KindDouble:
			return "rounded to a double (about 15 significant digits)", nil
		case KindFloat:
			return "rounded to a float (about 7 significant digits)", nil
		case KindTinyInt, KindSmallInt, KindInt, KindBigInt:
			if sc > 0 {
				return "", fmt.Errorf("cannot map %s with scale %d to %s; use decimal or string", rawOr(c), sc, s)
			}
			lo, hi, _ := kindRange(s.kind)
			if d := digits(lo, hi); d-1 < p {
				return fmt.Sprintf("values outside %d..%d fail", lo, hi), nil
			}
			return "", nil
		}
		return reject()
	case c.Type == event.TypeFloat:
		switch s.kind {
		case KindFloat, KindDouble:
			return "", nil
		case KindDecimal:
			return fmt.Sprintf("rounded to %d fraction digits; NaN/infinite values fail", s.scale), nil
		}
		return reject()
	case c.Type == event.TypeDouble:
		switch s.kind {
		case KindDouble:
			return "", nil
		case KindFloat:
			return "rounded to a float (about 7 significant digits)", nil
		case KindDecimal:
			return fmt.Sprintf("rounded to %d fraction digits; NaN/infinite values fail", s.scale), nil
		}
		return reject()
	case c.Type == event.TypeChar || c.Type == event.TypeVarchar || c.Type == event.TypeText:
		return reject()
	case c.Type == event.TypeJSON:
		if s.kind == KindJSON {
			return "", nil
		}
		return reject()
	case c.Type == event.TypeDate:
		switch s.kind {
		case KindDate, KindTimestampNTZ:
			return "", nil
		case KindDateTime, KindTimestamp:
			return zoneNote(srcZone), nil
		}
		return reject()
	case c.Type == event.TypeDateTime:
		switch s.kind {
		case KindTimestampNTZ:
			return "", nil
		case KindDate:
			return "time of day dropped", nil
		case KindTimestamp:
			return zoneNote(srcZone), nil
		case KindDateTime:
			return joinNotes(msNote(c), zoneNote(srcZone)), nil
		}
		return reject()
	case c.Type == event.TypeTimestamp:
		switch s.kind {
		case KindTimestamp, KindTimestampNTZ:
			return "", nil // NTZ: the UTC wall clock
		case KindBigInt:
			return "", nil // microseconds since the epoch
		case KindDateTime:
			return msNote(c), nil
		case KindDate:
			return "time of day dropped (UTC date)", nil
		}
		return reject()
	case c.Type == event.TypeTime:
		if s.kind == KindBigInt {
			return "", nil // signed microseconds
		}
		return reject()
	}
	return reject()
}

func joinNotes(notes ...string) string {
	var out []string
	for _, n := range notes {
		if n != "" {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

func msNote(c *event.Column) string {
	if c.Scale > 3 {
		return "fraction truncated to milliseconds"
	}
	return ""
}

func zoneNote(zone string) string {
	if zone == "UTC" || zone == "" {
		return ""
	}
	return "civil time read in " + zone + ": ambiguous or skipped at DST changes"
}

// numericTo checks an integer-valued source with range lo..hi against s.
func numericTo(c *event.Column, s typeSpec, lo int64, hi uint64, reject func() (string, error)) (string, error) {
	switch s.kind {
	case KindBoolean:
		return "any non-zero value becomes true", nil
	case KindTinyInt, KindSmallInt, KindInt, KindBigInt:
		klo, khi, _ := kindRange(s.kind)
		if lo < klo || hi > khi {
			return fmt.Sprintf("values outside %d..%d fail", klo, khi), nil
		}
		return "", nil
	case KindDecimal:
		if d := digits(lo, hi); d > s.precision-s.scale {
			return fmt.Sprintf("values with more than %d digits fail", s.precision-s.scale), nil
		}
		return "", nil
	case KindDouble:
		if hi > 1<<53 || lo < -(1<<53) {
			return "integers beyond ±2^53 are rounded", nil
		}
		return "", nil
	case KindFloat:
		if hi > 1<<24 || lo < -(1<<24) {
			return "integers beyond ±2^24 are rounded", nil
		}
		return "", nil
	}
	return reject()
}

func rawOr(c *event.Column) string {
	if c.RawType != "" {
		return c.RawType
	}
	s := c.Type.String()
	if c.Unsigned {
		s += " unsigned"
	}
	return s
}
