package codec

import (
	"fmt"
	"strconv"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// ColSpec is how a decoder turns one column's wire value into an
// event.Value. It is derived once per table schema and cached with it.
type ColSpec struct {
	Typ      event.Type
	Unsigned bool
	// Binary: the column holds bytes (BINARY, VARBINARY, BLOB), not text.
	Binary bool
	// Bits is the width of integer types (8..64) and BIT(n) (0 when unknown).
	Bits  int
	Elems []string
	// Enc and scale: how generic-JSON decoders (Debezium, Maxwell) read the
	// value; unused by canal-json and open-protocol.
	Enc   Enc
	Scale int
}

// Materializes reports whether values of this column keep a string (so the
// decoder reserves arena room for them).
func (s *ColSpec) Materializes() bool {
	switch s.Typ {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt,
		event.TypeFloat, event.TypeDouble, event.TypeBit, event.TypeDate, event.TypeDateTime,
		event.TypeTimestamp, event.TypeTime, event.TypeYear, event.TypeEnum, event.TypeSet:
		return false
	}
	return true
}

// Maximum byte lengths of the TEXT/BLOB families (mysqldialect's).
const (
	LenTiny   = mysqldialect.LenTiny
	LenBlob   = mysqldialect.LenBlob
	LenMedium = mysqldialect.LenMedium
	LenLong   = mysqldialect.LenLong
)

// IntBits returns the width of an integer family type.
func IntBits(t event.Type) int {
	switch t {
	case event.TypeTinyInt:
		return 8
	case event.TypeSmallInt:
		return 16
	case event.TypeMediumInt:
		return 24
	case event.TypeInt:
		return 32
	case event.TypeBigInt:
		return 64
	}
	return 0
}

// ParseMySQLType parses a column type as canal-json's mysqlType (and
// Debezium's source type parameters) spell it, e.g. "int", "int unsigned",
// "decimal(10, 4)", "enum('a','b')", "varchar(16) character set utf8mb4",
// "bigint(20) unsigned zerofill", with the grammar of the DDL parser
// (mysqldialect.ParseColumnType), and maps it to a column and its decode
// spec. A bare "bit" (TiCDC's canal-json) has an unknown width.
func ParseMySQLType(s string) (event.Column, ColSpec, error) {
	var col event.Column
	var spec ColSpec
	col.RawType = s
	def, err := mysqldialect.ParseColumnType(s)
	if err != nil {
		return col, spec, err
	}
	name := def.Type
	col.Unsigned = def.Unsigned
	col.Charset = def.Charset
	var nums []int
	if name != "enum" && name != "set" {
		for _, a := range def.Args {
			n, err := strconv.Atoi(a)
			if err != nil || n < 0 {
				return col, spec, fmt.Errorf("type %q: bad parameter %q", s, a)
			}
			nums = append(nums, n)
		}
	}
	arg := func(k int) (int, bool) {
		if k < len(nums) {
			return nums[k], true
		}
		return 0, false
	}

	typ, ok := mysqldialect.EventType(name)
	switch name {
	case "uuid", "inet4", "inet6":
		ok = false // MariaDB types no Kafka producer writes
	}
	if !ok {
		return col, spec, fmt.Errorf("unsupported column type %q", s)
	}
	col.Type = typ
	switch typ {
	case event.TypeDecimal:
		if p, ok := arg(0); ok {
			if p > 65 {
				return col, spec, fmt.Errorf("type %q: precision %d exceeds 65", s, p)
			}
			col.Precision = uint8(p)
		}
		if sc, ok := arg(1); ok {
			if sc > 30 || (col.Precision != 0 && sc > int(col.Precision)) {
				return col, spec, fmt.Errorf("type %q: bad scale %d", s, sc)
			}
			col.Scale = uint8(sc)
		}
	case event.TypeBit:
		// A bare "bit" is what formats without type parameters (TiCDC's
		// canal-json mysqlType) write for every BIT(n): the width is
		// unknown (Length 0), so values up to 64 bits are accepted.
		if n, ok := arg(0); ok {
			if n < 1 || n > 64 {
				return col, spec, fmt.Errorf("type %q: BIT width %d out of 1..64", s, n)
			}
			col.Length = uint32(n)
			spec.Bits = n
		}
	case event.TypeChar, event.TypeBinary:
		col.Length = 1
		if n, ok := arg(0); ok {
			col.Length = uint32(n)
		}
	case event.TypeVarchar, event.TypeVarbinary:
		if n, ok := arg(0); ok {
			col.Length = uint32(n)
		}
	case event.TypeText, event.TypeBlob:
		col.Length = mysqldialect.TextLength(name)
		if n, ok := arg(0); ok && (name == "text" || name == "blob") {
			col.Length = uint32(n)
		}
	case event.TypeEnum, event.TypeSet:
		if len(def.Args) > 0 {
			return col, spec, fmt.Errorf("type %q: member %q is not quoted", s, def.Args[0])
		}
		if col.Type == event.TypeSet && len(def.Elems) > 64 {
			return col, spec, fmt.Errorf("type %q: SET with %d members", s, len(def.Elems))
		}
		col.Elems = def.Elems
	case event.TypeDateTime, event.TypeTimestamp, event.TypeTime:
		if n, ok := arg(0); ok {
			if n > 6 {
				return col, spec, fmt.Errorf("type %q: fractional second precision %d exceeds 6", s, n)
			}
			col.Scale = uint8(n)
		}
	}
	switch typ {
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry:
		spec.Binary = true
	}
	if b := IntBits(col.Type); b != 0 {
		spec.Bits = b
	}
	if spec.Binary && col.Charset == "" {
		col.Charset = "binary"
	}
	if col.Charset == "binary" {
		// CHAR/VARCHAR/TEXT with the binary charset are byte strings.
		switch col.Type {
		case event.TypeChar:
			col.Type, spec.Binary = event.TypeBinary, true
		case event.TypeVarchar:
			col.Type, spec.Binary = event.TypeVarbinary, true
		case event.TypeText:
			col.Type, spec.Binary = event.TypeBlob, true
		}
	}
	spec.Typ = col.Type
	spec.Unsigned = col.Unsigned
	spec.Elems = col.Elems
	return col, spec, nil
}

// JavaSQLType maps a canal sqlType code (java.sql.Types) to a column when
// mysqlType is missing. It is a fallback: integer codes depend on values.
func JavaSQLType(code int64) (event.Column, ColSpec, bool) {
	var c event.Column
	var s ColSpec
	switch code {
	case -6, 16: // TINYINT, BOOLEAN
		c.Type = event.TypeTinyInt
	case 5: // SMALLINT
		c.Type = event.TypeSmallInt
	case 4: // INTEGER
		c.Type = event.TypeInt
	case -5: // BIGINT
		c.Type = event.TypeBigInt
	case 7, 6: // REAL, FLOAT
		c.Type = event.TypeFloat
	case 8: // DOUBLE
		c.Type = event.TypeDouble
	case 3, 2: // DECIMAL, NUMERIC
		c.Type = event.TypeDecimal
	case 1, -15: // CHAR, NCHAR
		c.Type = event.TypeChar
	case 12, -9, -1, -16: // VARCHAR, NVARCHAR, LONGVARCHAR, LONGNVARCHAR
		c.Type = event.TypeVarchar
	case 2005, 2011: // CLOB, NCLOB
		c.Type = event.TypeText
	case 2004, -2, -3, -4: // BLOB, BINARY, VARBINARY, LONGVARBINARY
		c.Type, s.Binary, c.Charset = event.TypeBlob, true, "binary"
	case 91:
		c.Type = event.TypeDate
	case 92:
		c.Type = event.TypeTime
	case 93:
		c.Type = event.TypeDateTime
	case -7:
		c.Type = event.TypeBit
	default:
		return c, s, false
	}
	c.RawType = "sqlType " + strconv.FormatInt(code, 10)
	s.Typ = c.Type
	s.Bits = IntBits(c.Type)
	return c, s, true
}

// IndexOnly retypes an ENUM or SET column whose members the format does not
// carry while its values are member indexes / bitmasks (TiCDC's canal-json
// and open-protocol): ENUM as its 1-based index (0 for the invalid ”) in
// SMALLINT UNSIGNED, SET as its member bitmask in BIGINT UNSIGNED. As an
// ENUM without members the value would have no text, so nothing would keep
// it. RawType still names the source type.
func IndexOnly(col *event.Column, spec *ColSpec) {
	if len(col.Elems) > 0 {
		return
	}
	switch col.Type {
	case event.TypeEnum:
		col.Type, col.Unsigned = event.TypeSmallInt, true
	case event.TypeSet:
		col.Type, col.Unsigned = event.TypeBigInt, true
	default:
		return
	}
	spec.Typ, spec.Unsigned, spec.Bits, spec.Elems = col.Type, true, IntBits(col.Type), nil
}
