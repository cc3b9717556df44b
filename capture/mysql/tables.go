package mysql

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// collationBinary is the collation id of the binary character set.
const collationBinary = 63

func stringRealType(meta uint16) (byte, int) {
	if meta >= 256 {
		b0, b1 := uint8(meta>>8), uint8(meta&0xff)
		if b0&0x30 != 0x30 {
			return b0 | 0x30, int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
		}
		return b0, int(b1)
	}
	return gomysql.MYSQL_TYPE_STRING, int(meta)
}

// binlogFamily returns the history type families a binlog column type can
// be (the first is the canonical one), with its resolved real type.
func binlogFamily(tp byte, meta uint16, binary bool) (families []string, real byte) {
	switch tp {
	case gomysql.MYSQL_TYPE_TINY:
		return []string{"tinyint"}, tp
	case gomysql.MYSQL_TYPE_SHORT:
		return []string{"smallint"}, tp
	case gomysql.MYSQL_TYPE_INT24:
		return []string{"mediumint"}, tp
	case gomysql.MYSQL_TYPE_LONG:
		return []string{"int"}, tp
	case gomysql.MYSQL_TYPE_LONGLONG:
		return []string{"bigint"}, tp
	case gomysql.MYSQL_TYPE_NEWDECIMAL:
		return []string{"decimal"}, tp
	case gomysql.MYSQL_TYPE_FLOAT:
		return []string{"float"}, tp
	case gomysql.MYSQL_TYPE_DOUBLE:
		return []string{"double"}, tp
	case gomysql.MYSQL_TYPE_BIT:
		return []string{"bit"}, tp
	case gomysql.MYSQL_TYPE_YEAR:
		return []string{"year"}, tp
	case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE:
		return []string{"date"}, tp
	case gomysql.MYSQL_TYPE_DATETIME, gomysql.MYSQL_TYPE_DATETIME2:
		return []string{"datetime"}, tp
	case gomysql.MYSQL_TYPE_TIMESTAMP, gomysql.MYSQL_TYPE_TIMESTAMP2:
		return []string{"timestamp"}, tp
	case gomysql.MYSQL_TYPE_TIME, gomysql.MYSQL_TYPE_TIME2:
		return []string{"time"}, tp
	case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
		if binary {
			return []string{"varbinary", "varchar"}, tp
		}
		return []string{"varchar", "varbinary"}, tp
	case gomysql.MYSQL_TYPE_BLOB:
		blob := []string{"tinyblob", "blob", "mediumblob", "longblob"}
		text := []string{"tinytext", "text", "mediumtext", "longtext", "json"}
		var canon string
		switch meta {
		case 1:
			canon = "tiny"
		case 2:
			canon = ""
		case 3:
			canon = "medium"
		default:
			canon = "long"
		}
		if binary {
			return append([]string{canon + "blob"}, append(blob, text...)...), tp
		}
		return append([]string{canon + "text"}, append(text, blob...)...), tp
	case gomysql.MYSQL_TYPE_JSON:
		return []string{"json"}, tp
	case gomysql.MYSQL_TYPE_GEOMETRY:
		return []string{"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}, tp
	case gomysql.MYSQL_TYPE_VECTOR:
		return []string{"vector"}, tp
	case gomysql.MYSQL_TYPE_ENUM:
		return []string{"enum"}, tp
	case gomysql.MYSQL_TYPE_SET:
		return []string{"set"}, tp
	case gomysql.MYSQL_TYPE_STRING:
		real, _ := stringRealType(meta)
		switch real {
		case gomysql.MYSQL_TYPE_ENUM:
			return []string{"enum"}, real
		case gomysql.MYSQL_TYPE_SET:
			return []string{"set"}, real
		}
		if binary {
			// MariaDB's UUID, INET4 and INET6 are binary strings in the binlog.
			return []string{"binary", "char", "uuid", "inet4", "inet6"}, gomysql.MYSQL_TYPE_STRING
		}
		return []string{"char", "binary"}, gomysql.MYSQL_TYPE_STRING
	}
	return nil, tp
}

// mapInfo is what a table-map event says beyond types, decoded once.
type mapInfo struct {
	names      []string // nil unless binlog_row_metadata=FULL
	unsigned   map[int]bool
	hasSign    bool
	collations map[int]uint64
	// enumSetColl holds the collations of the ENUM and SET columns.
	enumSetColl map[int]uint64
	enums       map[int][]string
	sets        map[int][]string
	primary     []string
}

// readMap decodes a table map's optional metadata. ENUM and SET members
// arrive in the column's character set: they are decoded like the column's
// text (charsets maps collation ids to character sets).
func readMap(tm *replication.TableMapEvent, charsets map[uint64]string) mapInfo {
	mi := mapInfo{}
	if names := tm.ColumnNameString(); len(names) == int(tm.ColumnCount) {
		mi.names = names
	}
	mi.hasSign = len(tm.SignednessBitmap) > 0
	mi.unsigned = tm.UnsignedMap()
	mi.collations = tm.CollationMap()
	mi.enumSetColl = tm.EnumSetCollationMap()
	mi.enums = tm.EnumStrValueMap()
	mi.sets = tm.SetStrValueMap()
	for _, m := range []map[int][]string{mi.enums, mi.sets} {
		for i, elems := range m {
			coll, ok := mi.enumSetColl[i]
			if !ok {
				continue
			}
			dec, ok := mysqldialect.CharsetDecoder(charsets[coll])
			if !ok || dec == nil {
				continue
			}
			out := make([]string, len(elems))
			for j, e := range elems {
				out[j] = dec([]byte(e))
			}
			m[i] = out
		}
	}
	if mi.names != nil {
		for _, k := range tm.PrimaryKey {
			if int(k) < len(mi.names) {
				mi.primary = append(mi.primary, mi.names[k])
			}
		}
	}
	return mi
}

// fits reports whether a history schema describes the columns of a
// table-map event; when not, it says why.
func fits(tm *replication.TableMapEvent, mi *mapInfo, s *tableSchema, charsets map[uint64]string) (bool, string) {
	n := int(tm.ColumnCount)
	if len(s.Columns) != n {
		return false, fmt.Sprintf("the binlog row has %d columns, the schema history %d", n, len(s.Columns))
	}
	for i := 0; i < n; i++ {
		c := &s.Columns[i]
		if mi.names != nil && !strings.EqualFold(mi.names[i], c.Name) {
			return false, fmt.Sprintf("column %d is %s in the binlog, %s in the schema history", i+1, mi.names[i], c.Name)
		}
		coll, hasColl := mi.collations[i]
		binary := c.Charset == "binary" || fbtOf(c.Type) != fbtNone
		if hasColl {
			binary = coll == collationBinary
		}
		fam, real := binlogFamily(tm.ColumnType[i], tm.ColumnMeta[i], binary)
		if !slices.Contains(fam, c.Type) {
			return false, fmt.Sprintf("column %s is %s in the schema history but binlog type %d", c.Name, c.Type, tm.ColumnType[i])
		}
		meta := tm.ColumnMeta[i]
		switch real {
		case gomysql.MYSQL_TYPE_NEWDECIMAL:
			if argInt(c.Args, 0, 10) != int(meta>>8) || argInt(c.Args, 1, 0) != int(meta&0xff) {
				return false, fmt.Sprintf("column %s is %s in the schema history but decimal(%d,%d) in the binlog", c.Name, c.rawType(), meta>>8, meta&0xff)
			}
		case gomysql.MYSQL_TYPE_DATETIME2, gomysql.MYSQL_TYPE_TIMESTAMP2, gomysql.MYSQL_TYPE_TIME2:
			if argInt(c.Args, 0, 0) != int(meta) {
				return false, fmt.Sprintf("column %s is %s in the schema history but has %d fractional digits in the binlog", c.Name, c.rawType(), meta)
			}
		case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
			if want := argInt(c.Args, 0, 0) * maxBytesPerChar(c.Charset); want != int(meta) {
				return false, fmt.Sprintf("column %s is %s (%d bytes) in the schema history but %d bytes in the binlog", c.Name, c.rawType(), want, meta)
			}
		case gomysql.MYSQL_TYPE_STRING:
			_, l := stringRealType(meta)
			if k := fbtOf(c.Type); k != fbtNone {
				if l != k.size() {
					return false, fmt.Sprintf("column %s is %s (%d bytes) in the schema history but %d bytes in the binlog", c.Name, c.rawType(), k.size(), l)
				}
				break
			}
			if want := argInt(c.Args, 0, 1) * maxBytesPerChar(c.Charset); want != l {
				return false, fmt.Sprintf("column %s is %s (%d bytes) in the schema history but %d bytes in the binlog", c.Name, c.rawType(), want, l)
			}
		case gomysql.MYSQL_TYPE_BIT:
			if want := argInt(c.Args, 0, 1); want != int(meta>>8)*8+int(meta&0xff) {
				return false, fmt.Sprintf("column %s is %s in the schema history but bit(%d) in the binlog", c.Name, c.rawType(), int(meta>>8)*8+int(meta&0xff))
			}
		case gomysql.MYSQL_TYPE_ENUM, gomysql.MYSQL_TYPE_SET:
			elems := mi.enums[i]
			if real == gomysql.MYSQL_TYPE_SET {
				elems = mi.sets[i]
			}
			if elems != nil && !slices.Equal(elems, c.Elems) {
				return false, fmt.Sprintf("column %s has members %q in the schema history but %q in the binlog", c.Name, c.Elems, elems)
			}
		}
		if esColl, ok := mi.enumSetColl[i]; ok && (c.Type == "enum" || c.Type == "set") {
			coll, hasColl = esColl, true
		}
		if hasColl && textType(c.Type) {
			if cs := charsets[coll]; cs != "" && cs != c.Charset && !(cs == "utf8mb3" && c.Charset == "utf8") && !(cs == "utf8" && c.Charset == "utf8mb3") {
				return false, fmt.Sprintf("column %s is %s in the schema history but %s in the binlog", c.Name, c.Charset, cs)
			}
		}
		if mi.hasSign && (c.Type == "tinyint" || c.Type == "smallint" || c.Type == "mediumint" || c.Type == "int" || c.Type == "bigint") && mi.unsigned[i] != c.Unsigned {
			return false, fmt.Sprintf("column %s signedness differs between the schema history and the binlog", c.Name)
		}
	}
	return true, ""
}

// schemaFromMap builds a schema from a table-map event with full metadata
// (binlog_row_metadata=FULL), taking from base what the binlog lacks (the
// JSON-ness of MariaDB LONGTEXT columns, declared lengths, keys).
func schemaFromMap(tm *replication.TableMapEvent, mi *mapInfo, base *tableSchema, charsets map[uint64]string) (*tableSchema, error) {
	s := &tableSchema{DB: string(tm.Schema), Name: string(tm.Table), Source: "table-map"}
	if base != nil {
		s.Charset = base.Charset
	}
	if s.Charset == "" {
		s.Charset = "utf8mb4"
	}
	for i := 0; i < int(tm.ColumnCount); i++ {
		c := colSchema{Name: mi.names[i], Nullable: true}
		if ok, null := tm.Nullable(i); ok {
			c.Nullable = null
		}
		var bc *colSchema
		if base != nil {
			if j := base.column(c.Name); j >= 0 {
				bc = &base.Columns[j]
			}
		}
		coll, hasColl := mi.collations[i]
		binary := hasColl && coll == collationBinary
		if !hasColl && bc != nil {
			binary = bc.Charset == "binary" || fbtOf(bc.Type) != fbtNone
		}
		fam, real := binlogFamily(tm.ColumnType[i], tm.ColumnMeta[i], binary)
		if fam == nil {
			return nil, fmt.Errorf("column %s: unsupported binlog column type %d", c.Name, tm.ColumnType[i])
		}
		c.Type = fam[0]
		if bc != nil && slices.Contains(fam, bc.Type) && (bc.Type == "json" || real == gomysql.MYSQL_TYPE_GEOMETRY) {
			c.Type = bc.Type // MariaDB JSON is LONGTEXT in the binlog; geometry subtypes
		}
		fbt := fbtNone
		if bc != nil && slices.Contains(fam, bc.Type) && real == gomysql.MYSQL_TYPE_STRING {
			if k := fbtOf(bc.Type); k != fbtNone {
				if _, l := stringRealType(tm.ColumnMeta[i]); l == k.size() {
					c.Type, fbt = bc.Type, k // MariaDB UUID/INET4/INET6 are BINARY(n) in the binlog
				}
			}
		}
		if mi.hasSign {
			c.Unsigned = mi.unsigned[i]
		} else if bc != nil {
			c.Unsigned = bc.Unsigned
		}
		if esColl, ok := mi.enumSetColl[i]; ok && (c.Type == "enum" || c.Type == "set") {
			coll, hasColl = esColl, true
		}
		if textType(c.Type) {
			switch {
			case hasColl:
				c.Charset = charsets[coll]
			case bc != nil:
				c.Charset = bc.Charset
			default:
				c.Charset = s.Charset
			}
			if c.Charset == "" {
				c.Charset = s.Charset
			}
		} else if c.Type == "json" {
			c.Charset = "utf8mb4"
		} else if strings.Contains(c.Type, "binary") || strings.HasSuffix(c.Type, "blob") {
			c.Charset = "binary"
		}
		meta := tm.ColumnMeta[i]
		if fbt != fbtNone {
			s.Columns = append(s.Columns, c)
			continue
		}
		switch real {
		case gomysql.MYSQL_TYPE_NEWDECIMAL:
			c.Args = []string{strconv.Itoa(int(meta >> 8)), strconv.Itoa(int(meta & 0xff))}
		case gomysql.MYSQL_TYPE_DATETIME2, gomysql.MYSQL_TYPE_TIMESTAMP2, gomysql.MYSQL_TYPE_TIME2:
			if meta > 0 {
				c.Args = []string{strconv.Itoa(int(meta))}
			}
		case gomysql.MYSQL_TYPE_BIT:
			c.Args = []string{strconv.Itoa(int(meta>>8)*8 + int(meta&0xff))}
		case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
			c.Args = []string{strconv.Itoa(int(meta) / maxBytesPerChar(c.Charset))}
		case gomysql.MYSQL_TYPE_STRING:
			_, l := stringRealType(meta)
			c.Args = []string{strconv.Itoa(l / maxBytesPerChar(c.Charset))}
		case gomysql.MYSQL_TYPE_ENUM:
			c.Elems = mi.enums[i]
			if c.Elems == nil && bc != nil {
				c.Elems = bc.Elems
			}
		case gomysql.MYSQL_TYPE_SET:
			c.Elems = mi.sets[i]
			if c.Elems == nil && bc != nil {
				c.Elems = bc.Elems
			}
		}
		if bc != nil && c.Type == bc.Type && (c.Type == "tinyint" || c.Type == "smallint" || c.Type == "mediumint" || c.Type == "int" || c.Type == "bigint" || c.Type == "year") {
			c.Args = bc.Args // display width, e.g. tinyint(1)
		}
		s.Columns = append(s.Columns, c)
	}
	if mi.primary != nil {
		s.Primary = mi.primary
	} else if base != nil {
		s.Primary = base.Primary
	}
	if base != nil {
		for _, u := range base.Uniques {
			ok := true
			for _, k := range u.Columns {
				ok = ok && s.column(k) >= 0
			}
			if ok {
				s.Uniques = append(s.Uniques, u)
			}
		}
	}
	if s.checkKeys() != nil {
		s.Primary, s.Uniques = nil, nil
	}
	return s, nil
}

// newRowDecoder builds the decoder for a table-map event and the event.Table
// derived from a schema that fits it.
func newRowDecoder(tm *replication.TableMapEvent, t *event.Table, zero string) (*rowDecoder, error) {
	d := &rowDecoder{table: t, cols: make([]colDec, len(t.Columns)), zero: zero}
	for i := range t.Columns {
		col := &t.Columns[i]
		tp, meta := tm.ColumnType[i], tm.ColumnMeta[i]
		c := colDec{col: col, tp: tp, meta: meta}
		if tp == gomysql.MYSQL_TYPE_STRING {
			real, l := stringRealType(meta)
			c.tp, c.length = real, l
		}
		if k := fbtOf(col.RawType); k != fbtNone && c.tp == gomysql.MYSQL_TYPE_STRING {
			c.fbt = k
			d.cols[i] = c
			continue
		}
		switch col.Type {
		case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector, event.TypeUnknown:
			c.binary = true
		case event.TypeJSON:
			if tp == gomysql.MYSQL_TYPE_JSON {
				c.jsonBinary = true
				d.jsonBinary = true
			} else {
				c.json = true
			}
		default:
			dec, ok := mysqldialect.CharsetDecoder(col.Charset)
			if !ok {
				return nil, fmt.Errorf("column %s: character set %s is not supported", col.Name, col.Charset)
			}
			c.text = dec
		}
		if c.binary && c.tp != gomysql.MYSQL_TYPE_STRING {
			c.length = 0
		}
		d.cols[i] = c
	}
	return d, nil
}

// cachedMap is the decoding plan of one binlog table id.
type cachedMap struct {
	types []byte
	meta  []uint16
	names []byte
	ver   *version
	dec   *rowDecoder
}

func (c *cachedMap) matches(tm *replication.TableMapEvent, v *version) bool {
	if c.ver != v || !bytes.Equal(c.types, tm.ColumnType) || !slices.Equal(c.meta, tm.ColumnMeta) {
		return false
	}
	if len(tm.ColumnName) > 0 {
		return bytes.Equal(c.names, bytes.Join(tm.ColumnName, []byte{0}))
	}
	return true
}
