package event

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
	"strings"
)

// TableID names a source table.
type TableID struct {
	DB    string
	Table string
}

// String returns "db.table".
func (t TableID) String() string { return t.DB + "." + t.Table }

// Type is the source column type family. It decides which Value kinds a column
// holds and how targets map it.
type Type uint8

// Source type families (MySQL/MariaDB/TiDB).
const (
	TypeUnknown   Type = iota
	TypeTinyInt        // TINYINT (BOOL is TINYINT(1))
	TypeSmallInt       // SMALLINT
	TypeMediumInt      // MEDIUMINT
	TypeInt            // INT
	TypeBigInt         // BIGINT
	TypeDecimal        // DECIMAL(p,s)
	TypeFloat          // FLOAT
	TypeDouble         // DOUBLE
	TypeBit            // BIT(n)
	TypeChar           // CHAR(n)
	TypeVarchar        // VARCHAR(n)
	TypeText           // TINYTEXT..LONGTEXT
	TypeBinary         // BINARY(n)
	TypeVarbinary      // VARBINARY(n)
	TypeBlob           // TINYBLOB..LONGBLOB
	TypeEnum           // ENUM(...)
	TypeSet            // SET(...)
	TypeDate           // DATE
	TypeDateTime       // DATETIME(fsp)
	TypeTimestamp      // TIMESTAMP(fsp)
	TypeTime           // TIME(fsp)
	TypeYear           // YEAR
	TypeJSON           // JSON
	TypeGeometry       // GEOMETRY family (WKB bytes)
	TypeVector         // VECTOR (TiDB/MySQL 9), float32 array bytes
	typeCount
)

var typeNames = [...]string{
	TypeUnknown: "unknown", TypeTinyInt: "tinyint", TypeSmallInt: "smallint", TypeMediumInt: "mediumint",
	TypeInt: "int", TypeBigInt: "bigint", TypeDecimal: "decimal", TypeFloat: "float", TypeDouble: "double",
	TypeBit: "bit", TypeChar: "char", TypeVarchar: "varchar", TypeText: "text", TypeBinary: "binary",
	TypeVarbinary: "varbinary", TypeBlob: "blob", TypeEnum: "enum", TypeSet: "set", TypeDate: "date",
	TypeDateTime: "datetime", TypeTimestamp: "timestamp", TypeTime: "time", TypeYear: "year",
	TypeJSON: "json", TypeGeometry: "geometry", TypeVector: "vector",
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType returns the family for a type name as typeNames spells it.
func ParseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n == s {
			return Type(i), true
		}
	}
	return TypeUnknown, false
}

// Column describes one source column.
type Column struct {
	Name     string
	Type     Type
	Unsigned bool
	Nullable bool
	// Length is the declared length: CHAR/VARCHAR/BINARY/VARBINARY characters
	// or bytes, BIT width, TEXT/BLOB maximum bytes (255, 65535, 16777215, 4294967295).
	Length uint32
	// Precision and Scale of DECIMAL; Scale holds the fractional-second
	// precision (0..6) of DATETIME, TIMESTAMP and TIME.
	Precision uint8
	Scale     uint8
	// Elems lists ENUM and SET members in declaration order.
	Elems []string
	// Charset is the column character set for text types ("utf8mb4", "gbk", "binary"...).
	Charset string
	// RawType is the full column type as the source spells it, e.g. "decimal(65,30) unsigned".
	RawType string
}

// Table is the schema of a source table at one point in its history.
type Table struct {
	ID      TableID
	Columns []Column
	// Key lists the indexes into Columns of the primary key (or, failing one,
	// the chosen unique key). Empty when the table has neither.
	Key []int
	// Version identifies this schema: a content hash over everything above.
	// Call Seal after building a Table to set it.
	Version uint64
}

// Seal computes Version from the table's content and returns t.
func (t *Table) Seal() *Table {
	h := fnv.New64a()
	var buf []byte
	buf = AppendTable(buf[:0], t, false)
	h.Write(buf)
	t.Version = h.Sum64()
	if t.Version == 0 {
		t.Version = 1
	}
	return t
}

// ColumnIndex returns the index of the named column (case-insensitive, as
// MySQL compares column names) or -1.
func (t *Table) ColumnIndex(name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// AppendTable encodes t into buf. withVersion also writes the Version.
func AppendTable(buf []byte, t *Table, withVersion bool) []byte {
	if withVersion {
		buf = binary.BigEndian.AppendUint64(buf, t.Version)
	}
	buf = appendString(buf, t.ID.DB)
	buf = appendString(buf, t.ID.Table)
	buf = binary.AppendUvarint(buf, uint64(len(t.Columns)))
	for i := range t.Columns {
		c := &t.Columns[i]
		buf = appendString(buf, c.Name)
		var flags byte
		if c.Unsigned {
			flags |= 1
		}
		if c.Nullable {
			flags |= 2
		}
		buf = append(buf, byte(c.Type), flags, c.Precision, c.Scale)
		buf = binary.AppendUvarint(buf, uint64(c.Length))
		buf = binary.AppendUvarint(buf, uint64(len(c.Elems)))
		for _, e := range c.Elems {
			buf = appendString(buf, e)
		}
		buf = appendString(buf, c.Charset)
		buf = appendString(buf, c.RawType)
	}
	buf = binary.AppendUvarint(buf, uint64(len(t.Key)))
	for _, k := range t.Key {
		buf = binary.AppendUvarint(buf, uint64(k))
	}
	return buf
}

// DecodeTable decodes a table written by AppendTable(buf, t, true).
func DecodeTable(b []byte) (*Table, error) {
	d := decoder{b: b}
	t := &Table{}
	t.Version = d.u64()
	t.ID.DB = d.str()
	t.ID.Table = d.str()
	n := d.uvarint()
	if n > uint64(len(b)) {
		return nil, errCorrupt("table column count")
	}
	t.Columns = make([]Column, n)
	for i := range t.Columns {
		c := &t.Columns[i]
		c.Name = d.str()
		c.Type = Type(d.byte1())
		flags := d.byte1()
		c.Unsigned = flags&1 != 0
		c.Nullable = flags&2 != 0
		c.Precision = d.byte1()
		c.Scale = d.byte1()
		c.Length = uint32(d.uvarint())
		ne := d.uvarint()
		if ne > uint64(len(b)) {
			return nil, errCorrupt("table enum count")
		}
		if ne > 0 {
			c.Elems = make([]string, ne)
			for j := range c.Elems {
				c.Elems[j] = d.str()
			}
		}
		c.Charset = d.str()
		c.RawType = d.str()
	}
	nk := d.uvarint()
	if nk > uint64(len(b)) {
		return nil, errCorrupt("table key count")
	}
	if nk > 0 {
		t.Key = make([]int, nk)
		for i := range t.Key {
			t.Key[i] = int(d.uvarint())
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}
