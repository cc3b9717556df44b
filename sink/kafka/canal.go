package kafka

import (
	"strconv"
	"unicode/utf8"

	"github.com/odsync/odsync/event"
)

// canal-json as TiCDC writes it with enable-tidb-extension=true and
// content-compatible type names (docs/kafka-sink.md#canal-json): one event
// per message, `_tidb.commitTs` a TSO whose physical part is the commit time
// in milliseconds and whose logical part is the event's _seq modulo 2^18,
// `mysqlType` the full column type (with length, precision, members),
// values as text (binary as ISO-8859-1 characters, ENUM and SET as their
// member text, TIMESTAMP in UTC).

// canalTSO is the `_tidb.commitTs` of an event.
func canalTSO(e *event.Event) uint64 {
	ms := e.CommitTime / 1000
	if ms < 0 {
		ms = 0
	}
	return uint64(ms)<<18 | e.Seq&(1<<18-1)
}

func appendCanal(b []byte, e *event.Event) []byte {
	ms := e.CommitTime / 1000
	b = append(b, `{"id":0,"database":`...)
	b = appendText(b, e.Source.DB)
	b = append(b, `,"table":`...)
	b = appendText(b, e.Source.Table)
	b = append(b, `,"pkNames":`...)
	t := e.Table
	if t == nil || len(t.Key) == 0 || e.Op == event.OpDDL {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, k := range t.Key {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendText(b, t.Columns[k].Name)
		}
		b = append(b, ']')
	}
	b = append(b, `,"isDdl":`...)
	b = strconv.AppendBool(b, e.Op == event.OpDDL)
	b = append(b, `,"type":"`...)
	switch e.Op {
	case event.OpInsert, event.OpRead:
		b = append(b, "INSERT"...)
	case event.OpUpdate:
		b = append(b, "UPDATE"...)
	case event.OpDelete:
		b = append(b, "DELETE"...)
	default:
		b = append(b, "QUERY"...)
	}
	b = append(b, `","es":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, `,"sql":`...)
	if e.Op == event.OpDDL {
		b = appendText(b, e.DDL)
		b = append(b, `,"sqlType":null,"mysqlType":null,"data":null,"old":null`...)
	} else {
		b = append(b, `"","sqlType":{`...)
		for i := range t.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendText(b, t.Columns[i].Name)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(canalSQLType(&t.Columns[i])), 10)
		}
		b = append(b, `},"mysqlType":{`...)
		for i := range t.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendText(b, t.Columns[i].Name)
			b = append(b, ':')
			b = appendText(b, mysqlType(&t.Columns[i]))
		}
		b = append(b, `},"data":[`...)
		b = appendCanalRow(b, t, e.Row())
		b = append(b, `],"old":`...)
		if e.Op == event.OpUpdate && e.Before != nil {
			b = append(b, '[')
			b = appendCanalRow(b, t, e.Before)
			b = append(b, ']')
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, `,"_tidb":{"commitTs":`...)
	b = strconv.AppendUint(b, canalTSO(e), 10)
	return append(b, "}}"...)
}

// mysqlType is the column's full type as MySQL spells it.
func mysqlType(c *event.Column) string {
	if c.RawType != "" {
		return c.RawType
	}
	s := c.Type.String()
	if c.Unsigned {
		s += " unsigned"
	}
	return s
}

func appendCanalRow(b []byte, t *event.Table, row []event.Value) []byte {
	b = append(b, '{')
	for i := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendText(b, t.Columns[i].Name)
		b = append(b, ':')
		if i >= len(row) || row[i].IsNull() {
			b = append(b, "null"...)
			continue
		}
		b = appendCanalValue(b, row[i])
	}
	return append(b, '}')
}

func appendCanalValue(b []byte, v event.Value) []byte {
	switch v.Kind() {
	case event.KindBytes:
		// ISO-8859-1: each byte is the character of the same code.
		var tmp []byte
		for i := 0; i < len(v.Str()); i++ {
			tmp = utf8.AppendRune(tmp, rune(v.Str()[i]))
		}
		return appendText(b, string(tmp))
	case event.KindTimestamp:
		// Naive text in UTC (the consumer's time_zone: UTC).
		y, mo, d := v.Time().Date()
		h, mi, s := v.Time().Clock()
		dt := event.DateTime(y, int(mo), d, h, mi, s, v.Time().Nanosecond()/1000)
		return appendText(b, dt.Text())
	case event.KindEnum, event.KindSet, event.KindString, event.KindJSON, event.KindDecimal:
		return appendText(b, v.Str())
	}
	var tmp [64]byte
	b = append(b, '"')
	b = append(b, v.AppendText(tmp[:0])...)
	return append(b, '"')
}

// canalSQLType is the java.sql.Types code canal-json writes for a column.
func canalSQLType(c *event.Column) int {
	switch c.Type {
	case event.TypeTinyInt:
		return -6
	case event.TypeSmallInt:
		return 5
	case event.TypeMediumInt, event.TypeInt, event.TypeEnum:
		return 4
	case event.TypeBigInt:
		if c.Unsigned {
			return 3
		}
		return -5
	case event.TypeDecimal:
		return 3
	case event.TypeFloat:
		return 7
	case event.TypeDouble:
		return 8
	case event.TypeBit, event.TypeSet:
		return -7
	case event.TypeChar:
		return 1
	case event.TypeText:
		return 2005
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry:
		return 2004
	case event.TypeDate:
		return 91
	case event.TypeDateTime, event.TypeTimestamp:
		return 93
	case event.TypeTime:
		return 92
	}
	return 12 // VARCHAR, YEAR, JSON, VECTOR
}
