package kafka

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
)

// This file writes messages as TiCDC does (canal-json with the TiDB
// extension, open-protocol batches), for tests and benchmarks.

// TSO builds a TiDB TSO from a physical time in milliseconds and a logical counter.
func TSO(ms int64, logical uint64) uint64 { return uint64(ms)<<18 | logical&(1<<18-1) }

// Col is a column of a test table.
type Col struct {
	Name string
	// MySQLType is the canal-json mysqlType ("bigint", "varchar"...).
	MySQLType string
	// SQLType is the java.sql.Types code canal-json writes.
	SQLType int
	// OpenType is the open-protocol type code (8 BIGINT, 15 VARCHAR, 3 INT).
	OpenType int
}

// Table is a test table; the first column is the primary key.
type Table struct {
	DB, Name string
	Cols     []Col
}

// ID returns "db.table".
func (t *Table) ID() string { return t.DB + "." + t.Name }

// Common column shapes.
var (
	ColBigint  = Col{MySQLType: "bigint", SQLType: -5, OpenType: 8}
	ColInt     = Col{MySQLType: "int", SQLType: 4, OpenType: 3}
	ColVarchar = Col{MySQLType: "varchar", SQLType: 12, OpenType: 15}
)

// C returns the column shape with a name.
func C(name string, shape Col) Col { shape.Name = name; return shape }

// Row is a row's values as text in column order; nil is NULL.
type Row []*string

// V returns a text value pointer.
func V(s string) *string { return &s }

// jsonBuf writes JSON with keys in the order given.
type jsonBuf struct{ b []byte }

func (j *jsonBuf) raw(s string)  { j.b = append(j.b, s...) }
func (j *jsonBuf) str(s string)  { j.b, _ = appendJSONString(j.b, s) }
func (j *jsonBuf) key(k string)  { j.str(k); j.raw(":") }
func (j *jsonBuf) uint(v uint64) { j.b = strconv.AppendUint(j.b, v, 10) }
func (j *jsonBuf) int(v int64)   { j.b = strconv.AppendInt(j.b, v, 10) }

func appendJSONString(b []byte, s string) ([]byte, error) {
	q, err := json.Marshal(s)
	return append(b, q...), err
}

func (j *jsonBuf) row(t *Table, r Row) {
	j.raw("{")
	for i, c := range t.Cols {
		if i > 0 {
			j.raw(",")
		}
		j.key(c.Name)
		if i >= len(r) || r[i] == nil {
			j.raw("null")
		} else {
			j.str(*r[i])
		}
	}
	j.raw("}")
}

// canalHeader writes the fields common to every canal-json message.
func canalHeader(j *jsonBuf, db, table string, isDDL bool, typ string, commitTs uint64) {
	ms := int64(commitTs >> 18)
	j.raw(`{"id":0,`)
	j.key("database")
	j.str(db)
	j.raw(",")
	j.key("table")
	j.str(table)
	j.raw(",")
	if isDDL {
		j.raw(`"pkNames":null,"isDdl":true,`)
	} else {
		j.raw(`"isDdl":false,`)
	}
	j.key("type")
	j.str(typ)
	j.raw(`,"es":`)
	j.int(ms)
	j.raw(`,"ts":`)
	j.int(ms + 5)
	j.raw(",")
}

// CanalRow writes a canal-json row message (op INSERT, UPDATE or DELETE)
// with the TiDB extension. For UPDATE old is the before image (all
// columns); for DELETE row is the deleted row.
func (t *Table) CanalRow(op string, commitTs uint64, row, old Row) []byte {
	var j jsonBuf
	canalHeader(&j, t.DB, t.Name, false, op, commitTs)
	j.raw(`"pkNames":[`)
	j.str(t.Cols[0].Name)
	j.raw(`],"sql":"","sqlType":{`)
	for i, c := range t.Cols {
		if i > 0 {
			j.raw(",")
		}
		j.key(c.Name)
		j.int(int64(c.SQLType))
	}
	j.raw(`},"mysqlType":{`)
	for i, c := range t.Cols {
		if i > 0 {
			j.raw(",")
		}
		j.key(c.Name)
		j.str(c.MySQLType)
	}
	j.raw(`},"data":[`)
	j.row(t, row)
	j.raw(`],"old":`)
	if old != nil {
		j.raw("[")
		j.row(t, old)
		j.raw("]")
	} else {
		j.raw("null")
	}
	j.raw(`,"_tidb":{"commitTs":`)
	j.uint(commitTs)
	j.raw("}}")
	return j.b
}

// CanalDDL writes a canal-json DDL message.
func CanalDDL(db, table, sql string, commitTs uint64) []byte {
	var j jsonBuf
	canalHeader(&j, db, table, true, "ALTER", commitTs)
	j.key("sql")
	j.str(sql)
	j.raw(`,"sqlType":null,"mysqlType":null,"data":null,"old":null,"_tidb":{"commitTs":`)
	j.uint(commitTs)
	j.raw("}}")
	return j.b
}

// CanalWatermark writes a canal-json TIDB_WATERMARK message.
func CanalWatermark(ts uint64) []byte {
	var j jsonBuf
	canalHeader(&j, "", "", false, "TIDB_WATERMARK", ts)
	j.raw(`"pkNames":null,"sql":"","sqlType":null,"mysqlType":null,"data":null,"old":null,"_tidb":{"watermarkTs":`)
	j.uint(ts)
	j.raw("}}")
	return j.b
}

// OpenEvent is one open-protocol event (key and value JSON).
type OpenEvent struct{ Key, Value []byte }

// OpenBatch frames events into one open-protocol message.
func OpenBatch(events ...OpenEvent) (key, value []byte) {
	key = binary.BigEndian.AppendUint64(nil, 1)
	for _, e := range events {
		key = binary.BigEndian.AppendUint64(key, uint64(len(e.Key)))
		key = append(key, e.Key...)
		if e.Value != nil {
			value = binary.BigEndian.AppendUint64(value, uint64(len(e.Value)))
			value = append(value, e.Value...)
		}
	}
	return key, value
}

func (t *Table) openCols(j *jsonBuf, r Row) {
	j.raw("{")
	for i, c := range t.Cols {
		if i > 0 {
			j.raw(",")
		}
		j.key(c.Name)
		j.raw(`{"t":`)
		j.int(int64(c.OpenType))
		if i == 0 {
			j.raw(`,"h":true,"f":11`)
		} else {
			j.raw(`,"f":64`)
		}
		j.raw(`,"v":`)
		switch {
		case i >= len(r) || r[i] == nil:
			j.raw("null")
		case c.OpenType == 15 || c.OpenType == 253 || c.OpenType == 254:
			j.str(*r[i])
		default:
			j.raw(*r[i])
		}
		j.raw("}")
	}
	j.raw("}")
}

// OpenRow writes an open-protocol row event (op INSERT, UPDATE or DELETE).
func (t *Table) OpenRow(op string, commitTs uint64, row, old Row) OpenEvent {
	var k jsonBuf
	k.raw(`{"ts":`)
	k.uint(commitTs)
	k.raw(`,"scm":`)
	k.str(t.DB)
	k.raw(`,"tbl":`)
	k.str(t.Name)
	k.raw(`,"t":1}`)
	var v jsonBuf
	switch op {
	case "DELETE":
		v.raw(`{"d":`)
		t.openCols(&v, row)
		v.raw("}")
	case "UPDATE":
		v.raw(`{"u":`)
		t.openCols(&v, row)
		v.raw(`,"p":`)
		t.openCols(&v, old)
		v.raw("}")
	default:
		v.raw(`{"u":`)
		t.openCols(&v, row)
		v.raw("}")
	}
	return OpenEvent{Key: k.b, Value: v.b}
}

// OpenDDL writes an open-protocol DDL event.
func OpenDDL(db, table, sql string, commitTs uint64) OpenEvent {
	var k jsonBuf
	k.raw(`{"ts":`)
	k.uint(commitTs)
	k.raw(`,"scm":`)
	k.str(db)
	k.raw(`,"tbl":`)
	k.str(table)
	k.raw(`,"t":2}`)
	var v jsonBuf
	v.raw(`{"q":`)
	v.str(sql)
	code := 5
	if strings.HasPrefix(strings.ToUpper(sql), "CREATE") {
		code = 3
	}
	v.raw(`,"t":`)
	v.int(int64(code))
	v.raw("}")
	return OpenEvent{Key: k.b, Value: v.b}
}

// OpenResolved writes an open-protocol resolved event.
func OpenResolved(ts uint64) OpenEvent {
	var k jsonBuf
	k.raw(`{"ts":`)
	k.uint(ts)
	k.raw(`,"t":3}`)
	return OpenEvent{Key: k.b}
}
