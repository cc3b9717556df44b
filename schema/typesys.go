package schema

import (
	"fmt"
	"math"
	"strings"
)

// ParquetPhysical is a Parquet physical type.
type ParquetPhysical string

// Parquet physical types.
const (
	ParquetBoolean           ParquetPhysical = "BOOLEAN"
	ParquetInt32             ParquetPhysical = "INT32"
	ParquetInt64             ParquetPhysical = "INT64"
	ParquetFloat             ParquetPhysical = "FLOAT"
	ParquetDouble            ParquetPhysical = "DOUBLE"
	ParquetByteArray         ParquetPhysical = "BYTE_ARRAY"
	ParquetFixedLenByteArray ParquetPhysical = "FIXED_LEN_BYTE_ARRAY"
	// ParquetGroup is a LIST group; Element describes the element.
	ParquetGroup ParquetPhysical = "GROUP"
)

// ParquetLogical is a Parquet logical type annotation.
type ParquetLogical string

// Parquet logical types ("" = none).
const (
	LogicalNone      ParquetLogical = ""
	LogicalInt       ParquetLogical = "INT"       // BitWidth, Signed
	LogicalDecimal   ParquetLogical = "DECIMAL"   // Precision, Scale
	LogicalString    ParquetLogical = "STRING"    // UTF-8
	LogicalDate      ParquetLogical = "DATE"      // days since 1970-01-01 (INT32)
	LogicalTimestamp ParquetLogical = "TIMESTAMP" // Unit, AdjustedToUTC
	LogicalJSON      ParquetLogical = "JSON"
	LogicalList      ParquetLogical = "LIST" // 3-level list: group (LIST) { repeated group list { element } }
)

// ParquetType describes the Parquet leaf (or LIST group) of a column.
// Every ODS column is OPTIONAL except the metadata columns (REQUIRED), see
// TargetColumn.Nullable.
type ParquetType struct {
	Physical ParquetPhysical
	// Length is the byte length of a FIXED_LEN_BYTE_ARRAY.
	Length  int
	Logical ParquetLogical
	// BitWidth and Signed of LogicalInt.
	BitWidth int
	Signed   bool
	// Precision and Scale of LogicalDecimal.
	Precision int
	Scale     int
	// Unit ("MILLIS" or "MICROS") and AdjustedToUTC of LogicalTimestamp.
	Unit          string
	AdjustedToUTC bool
	// Element is the element type of LogicalList (its repetition is OPTIONAL).
	Element *ParquetType
}

// String renders the type, e.g. "INT64 TIMESTAMP(MICROS,utc)".
func (p ParquetType) String() string {
	var b strings.Builder
	b.WriteString(string(p.Physical))
	if p.Physical == ParquetFixedLenByteArray {
		fmt.Fprintf(&b, "(%d)", p.Length)
	}
	switch p.Logical {
	case LogicalNone:
	case LogicalInt:
		fmt.Fprintf(&b, " INT(%d,%t)", p.BitWidth, p.Signed)
	case LogicalDecimal:
		fmt.Fprintf(&b, " DECIMAL(%d,%d)", p.Precision, p.Scale)
	case LogicalTimestamp:
		zone := "local"
		if p.AdjustedToUTC {
			zone = "utc"
		}
		fmt.Fprintf(&b, " TIMESTAMP(%s,%s)", p.Unit, zone)
	case LogicalList:
		b.WriteString(" LIST<")
		if p.Element != nil {
			b.WriteString(p.Element.String())
		}
		b.WriteString(">")
	default:
		b.WriteString(" " + string(p.Logical))
	}
	return b.String()
}

// decimalBytes is the FIXED_LEN_BYTE_ARRAY length for a precision: the
// fewest bytes whose two's complement holds 10^p - 1.
func decimalBytes(precision int) int {
	return int(math.Ceil((float64(precision)*math.Log2(10) + 1) / 8))
}

// maxCompute renders the MaxCompute 2.0 type.
func (s typeSpec) maxCompute() string {
	switch s.kind {
	case KindBoolean:
		return "BOOLEAN"
	case KindTinyInt:
		return "TINYINT"
	case KindSmallInt:
		return "SMALLINT"
	case KindInt:
		return "INT"
	case KindBigInt:
		return "BIGINT"
	case KindFloat:
		return "FLOAT"
	case KindDouble:
		return "DOUBLE"
	case KindDecimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", s.precision, s.scale)
	case KindString:
		return "STRING"
	case KindBinary:
		return "BINARY"
	case KindDate:
		return "DATE"
	case KindDateTime:
		return "DATETIME"
	case KindTimestampNTZ:
		return "TIMESTAMP_NTZ"
	case KindTimestamp:
		return "TIMESTAMP"
	case KindJSON:
		return "JSON"
	case KindStringArray:
		return "ARRAY<STRING>"
	}
	return "INVALID"
}

// hive renders the Hive/Athena DDL type for Parquet-backed tables.
func (s typeSpec) hive() string {
	switch s.kind {
	case KindBoolean:
		return "boolean"
	case KindTinyInt:
		return "tinyint"
	case KindSmallInt:
		return "smallint"
	case KindInt:
		return "int"
	case KindBigInt:
		return "bigint"
	case KindFloat:
		return "float"
	case KindDouble:
		return "double"
	case KindDecimal:
		return fmt.Sprintf("decimal(%d,%d)", s.precision, s.scale)
	case KindString, KindJSON:
		return "string"
	case KindBinary:
		return "binary"
	case KindDate:
		return "date"
	case KindDateTime, KindTimestampNTZ, KindTimestamp:
		return "timestamp"
	case KindStringArray:
		return "array<string>"
	}
	return "invalid"
}

// parquet describes the Parquet type.
func (s typeSpec) parquet() ParquetType {
	switch s.kind {
	case KindBoolean:
		return ParquetType{Physical: ParquetBoolean}
	case KindTinyInt:
		return ParquetType{Physical: ParquetInt32, Logical: LogicalInt, BitWidth: 8, Signed: true}
	case KindSmallInt:
		return ParquetType{Physical: ParquetInt32, Logical: LogicalInt, BitWidth: 16, Signed: true}
	case KindInt:
		return ParquetType{Physical: ParquetInt32, Logical: LogicalInt, BitWidth: 32, Signed: true}
	case KindBigInt:
		return ParquetType{Physical: ParquetInt64, Logical: LogicalInt, BitWidth: 64, Signed: true}
	case KindFloat:
		return ParquetType{Physical: ParquetFloat}
	case KindDouble:
		return ParquetType{Physical: ParquetDouble}
	case KindDecimal:
		p := ParquetType{Logical: LogicalDecimal, Precision: s.precision, Scale: s.scale}
		switch {
		case s.precision <= 9:
			p.Physical = ParquetInt32
		case s.precision <= 18:
			p.Physical = ParquetInt64
		default:
			p.Physical = ParquetFixedLenByteArray
			p.Length = decimalBytes(s.precision)
		}
		return p
	case KindString:
		return ParquetType{Physical: ParquetByteArray, Logical: LogicalString}
	case KindBinary:
		return ParquetType{Physical: ParquetByteArray}
	case KindDate:
		return ParquetType{Physical: ParquetInt32, Logical: LogicalDate}
	case KindDateTime:
		return ParquetType{Physical: ParquetInt64, Logical: LogicalTimestamp, Unit: "MILLIS", AdjustedToUTC: true}
	case KindTimestampNTZ:
		return ParquetType{Physical: ParquetInt64, Logical: LogicalTimestamp, Unit: "MICROS", AdjustedToUTC: false}
	case KindTimestamp:
		return ParquetType{Physical: ParquetInt64, Logical: LogicalTimestamp, Unit: "MICROS", AdjustedToUTC: true}
	case KindJSON:
		return ParquetType{Physical: ParquetByteArray, Logical: LogicalJSON}
	case KindStringArray:
		return ParquetType{Physical: ParquetGroup, Logical: LogicalList,
			Element: &ParquetType{Physical: ParquetByteArray, Logical: LogicalString}}
	}
	return ParquetType{}
}
