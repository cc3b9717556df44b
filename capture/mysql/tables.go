package mysql

import (
	"bytes"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/event"
)

// collationBinary is the collation id of the binary character set.
const collationBinary = 63

// tableCache maps binlog table ids to schemas built from table-map events.
type tableCache struct {
	byID map[uint64]*cachedTable
	// charsets maps collation ids to character set names (read from the server).
	charsets map[uint64]string
	// columnNames looks up column names when the table map lacks them
	// (binlog_row_metadata=MINIMAL).
	columnNames func(db, table string) ([]string, []int, error)
}

type cachedTable struct {
	types []byte
	meta  []uint16
	table *event.Table
}

func (c *tableCache) invalidate() { clear(c.byID) }

// get returns the schema for a table-map event, building it once per table id
// and column layout.
func (c *tableCache) get(tm *replication.TableMapEvent) (*event.Table, error) {
	if ct, ok := c.byID[tm.TableID]; ok && bytes.Equal(ct.types, tm.ColumnType) && equalMeta(ct.meta, tm.ColumnMeta) {
		return ct.table, nil
	}
	t, err := c.build(tm)
	if err != nil {
		return nil, err
	}
	c.byID[tm.TableID] = &cachedTable{types: bytes.Clone(tm.ColumnType), meta: append([]uint16(nil), tm.ColumnMeta...), table: t}
	return t, nil
}

func equalMeta(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (c *tableCache) build(tm *replication.TableMapEvent) (*event.Table, error) {
	id := event.TableID{DB: string(tm.Schema), Table: string(tm.Table)}
	n := int(tm.ColumnCount)
	names := tm.ColumnNameString()
	var key []int
	for _, k := range tm.PrimaryKey {
		key = append(key, int(k))
	}
	if len(names) != n {
		if c.columnNames == nil {
			return nil, fmt.Errorf("mysql: table %s: the binlog carries no column names (binlog_row_metadata=MINIMAL) and no connection to look them up", id)
		}
		var err error
		names, key, err = c.columnNames(id.DB, id.Table)
		if err != nil {
			return nil, fmt.Errorf("mysql: table %s: look up column names: %w", id, err)
		}
		if len(names) != n {
			return nil, fmt.Errorf("mysql: table %s: binlog has %d columns but the server's current schema has %d (the table changed since this event; schema history arrives with the full MySQL capture)", id, n, len(names))
		}
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	t := &event.Table{ID: id, Columns: make([]event.Column, n), Key: key}
	for i := 0; i < n; i++ {
		col := &t.Columns[i]
		col.Name = names[i]
		if ok, nullable := tm.Nullable(i); ok {
			col.Nullable = nullable
		} else {
			col.Nullable = true
		}
		col.Unsigned = unsigned[i]
		tp, meta := tm.ColumnType[i], tm.ColumnMeta[i]
		coll, hasColl := collations[i]
		binary := hasColl && coll == collationBinary
		if hasColl {
			col.Charset = c.charsets[coll]
			if col.Charset == "" && coll == collationBinary {
				col.Charset = "binary"
			}
		}
		switch tp {
		case gomysql.MYSQL_TYPE_TINY:
			col.Type = event.TypeTinyInt
		case gomysql.MYSQL_TYPE_SHORT:
			col.Type = event.TypeSmallInt
		case gomysql.MYSQL_TYPE_INT24:
			col.Type = event.TypeMediumInt
		case gomysql.MYSQL_TYPE_LONG:
			col.Type = event.TypeInt
		case gomysql.MYSQL_TYPE_LONGLONG:
			col.Type = event.TypeBigInt
		case gomysql.MYSQL_TYPE_NEWDECIMAL:
			col.Type = event.TypeDecimal
			col.Precision, col.Scale = uint8(meta>>8), uint8(meta&0xff)
		case gomysql.MYSQL_TYPE_FLOAT:
			col.Type = event.TypeFloat
		case gomysql.MYSQL_TYPE_DOUBLE:
			col.Type = event.TypeDouble
		case gomysql.MYSQL_TYPE_BIT:
			col.Type = event.TypeBit
			col.Length = uint32(meta>>8)*8 + uint32(meta&0xff)
		case gomysql.MYSQL_TYPE_TIMESTAMP:
			col.Type = event.TypeTimestamp
		case gomysql.MYSQL_TYPE_TIMESTAMP2:
			col.Type = event.TypeTimestamp
			col.Scale = uint8(meta)
		case gomysql.MYSQL_TYPE_DATETIME:
			col.Type = event.TypeDateTime
		case gomysql.MYSQL_TYPE_DATETIME2:
			col.Type = event.TypeDateTime
			col.Scale = uint8(meta)
		case gomysql.MYSQL_TYPE_TIME:
			col.Type = event.TypeTime
		case gomysql.MYSQL_TYPE_TIME2:
			col.Type = event.TypeTime
			col.Scale = uint8(meta)
		case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE:
			col.Type = event.TypeDate
		case gomysql.MYSQL_TYPE_YEAR:
			col.Type = event.TypeYear
		case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
			col.Type = event.TypeVarchar
			if binary {
				col.Type = event.TypeVarbinary
			}
			col.Length = uint32(meta)
		case gomysql.MYSQL_TYPE_BLOB:
			col.Type = event.TypeText
			if binary {
				col.Type = event.TypeBlob
			}
			col.Length = blobLength(meta)
		case gomysql.MYSQL_TYPE_JSON:
			col.Type = event.TypeJSON
		case gomysql.MYSQL_TYPE_GEOMETRY:
			col.Type = event.TypeGeometry
		case gomysql.MYSQL_TYPE_ENUM:
			col.Type = event.TypeEnum
			col.Elems = enums[i]
		case gomysql.MYSQL_TYPE_SET:
			col.Type = event.TypeSet
			col.Elems = sets[i]
		case gomysql.MYSQL_TYPE_STRING:
			real, length := stringRealType(meta)
			switch real {
			case gomysql.MYSQL_TYPE_ENUM:
				col.Type = event.TypeEnum
				col.Elems = enums[i]
			case gomysql.MYSQL_TYPE_SET:
				col.Type = event.TypeSet
				col.Elems = sets[i]
			default:
				col.Type = event.TypeChar
				if binary {
					col.Type = event.TypeBinary
				}
				col.Length = uint32(length)
			}
		default:
			return nil, fmt.Errorf("mysql: table %s column %s: unsupported binlog column type %d", id, col.Name, tp)
		}
		if col.Type == event.TypeText || col.Type == event.TypeVarchar || col.Type == event.TypeChar || col.Type == event.TypeEnum || col.Type == event.TypeSet {
			if col.Charset == "" {
				col.Charset = "utf8mb4"
			}
		}
		col.RawType = rawType(col)
	}
	return t.Seal(), nil
}

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

func blobLength(meta uint16) uint32 {
	switch meta {
	case 1:
		return 255
	case 2:
		return 65535
	case 3:
		return 16777215
	default:
		return 4294967295
	}
}

// rawType renders a column type the way SHOW CREATE TABLE would, as far as
// the binlog tells it.
func rawType(c *event.Column) string {
	s := c.Type.String()
	switch c.Type {
	case event.TypeDecimal:
		s = fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
	case event.TypeBit:
		s = fmt.Sprintf("bit(%d)", c.Length)
	case event.TypeChar, event.TypeBinary, event.TypeVarchar, event.TypeVarbinary:
		s = fmt.Sprintf("%s(%d)", s, c.Length)
	case event.TypeDateTime, event.TypeTimestamp, event.TypeTime:
		if c.Scale > 0 {
			s = fmt.Sprintf("%s(%d)", s, c.Scale)
		}
	case event.TypeText, event.TypeBlob:
		prefix := map[uint32]string{255: "tiny", 65535: "", 16777215: "medium", 4294967295: "long"}[c.Length]
		s = prefix + s
	}
	if c.Unsigned {
		s += " unsigned"
	}
	return s
}
