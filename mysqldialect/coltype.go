package mysqldialect

import (
	"fmt"

	"github.com/odsync/odsync/event"
)

// ParseColumnType parses a column type as SHOW CREATE TABLE, DDL, canal-json's
// mysqlType or Debezium's source type parameters spell it: a type name (with
// its aliases: INTEGER, NUMERIC, BOOLEAN, NATIONAL VARCHAR, LONG VARBINARY,
// DOUBLE PRECISION, SERIAL...), optional arguments, optional attributes
// (UNSIGNED, ZEROFILL, CHARACTER SET, COLLATE, BINARY), e.g. "int",
// "int(11) unsigned zerofill", "decimal(10, 4)", "enum('a','b')",
// "varchar(16) character set utf8mb4". It is the grammar of a column
// definition's type in ParseDDL: the result's Type is the canonical
// lower-case name ("int", "decimal", "varchar", "mediumtext"...), Args the
// numeric arguments as written, Elems the ENUM/SET members (case kept).
// Words after the type (NOT NULL, DEFAULT ...) are ignored; Name is empty.
func ParseColumnType(s string) (ColumnDef, error) {
	toks, err := lexSQL(s)
	if err != nil {
		return ColumnDef{}, fmt.Errorf("type %q: %w", s, err)
	}
	p := &parser{toks: toks}
	c := ColumnDef{Nullable: true}
	if err := p.columnType(&c); err != nil {
		return c, fmt.Errorf("type %q: %w", s, err)
	}
	return c, nil
}

// eventTypes maps canonical type names (ColumnDef.Type, after ParseColumnType
// or ParseDDL) to event types. var_string, newdate and tidbvectorfloat32 are
// the server's internal names some producers write.
var eventTypes = map[string]event.Type{
	"tinyint": event.TypeTinyInt, "smallint": event.TypeSmallInt, "mediumint": event.TypeMediumInt, "int": event.TypeInt,
	"bigint": event.TypeBigInt, "decimal": event.TypeDecimal, "float": event.TypeFloat, "double": event.TypeDouble,
	"bit": event.TypeBit, "char": event.TypeChar, "varchar": event.TypeVarchar, "var_string": event.TypeVarchar,
	"tinytext": event.TypeText, "text": event.TypeText, "mediumtext": event.TypeText, "longtext": event.TypeText,
	"binary": event.TypeBinary, "varbinary": event.TypeVarbinary, "tinyblob": event.TypeBlob, "blob": event.TypeBlob,
	"mediumblob": event.TypeBlob, "longblob": event.TypeBlob, "enum": event.TypeEnum, "set": event.TypeSet,
	"date": event.TypeDate, "newdate": event.TypeDate, "datetime": event.TypeDateTime, "timestamp": event.TypeTimestamp,
	"time": event.TypeTime, "year": event.TypeYear, "json": event.TypeJSON, "geometry": event.TypeGeometry,
	"point": event.TypeGeometry, "linestring": event.TypeGeometry, "polygon": event.TypeGeometry,
	"multipoint": event.TypeGeometry, "multilinestring": event.TypeGeometry, "multipolygon": event.TypeGeometry,
	"geometrycollection": event.TypeGeometry, "vector": event.TypeVector, "tidbvectorfloat32": event.TypeVector,
	// MariaDB's UUID, INET4 and INET6: their text form.
	"uuid": event.TypeChar, "inet4": event.TypeChar, "inet6": event.TypeChar,
}

// EventType returns the event type of a canonical type name; ok is false
// for names odsync does not know.
func EventType(name string) (t event.Type, ok bool) {
	t, ok = eventTypes[name]
	return t, ok
}

// Maximum byte lengths of the TEXT and BLOB families.
const (
	LenTiny   = 255
	LenBlob   = 65535
	LenMedium = 16777215
	LenLong   = 4294967295
)

// TextLength returns the maximum byte length of a TEXT or BLOB type name
// (0 for other names).
func TextLength(name string) uint32 {
	switch name {
	case "tinytext", "tinyblob":
		return LenTiny
	case "text", "blob":
		return LenBlob
	case "mediumtext", "mediumblob":
		return LenMedium
	case "longtext", "longblob":
		return LenLong
	}
	return 0
}
