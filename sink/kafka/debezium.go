package kafka

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// The Debezium JSON envelope with its schema (docs/kafka-sink.md#debezium):
// {"schema":{...},"payload":{"before","after","source","op","ts_ms"}}.
// Every field schema carries the source column type in the parameter
// __debezium.source.column.type (as Debezium's column.propagate.source.type
// does), so DECIMAL, DATE, DATETIME and TIME travel as exact text in
// "string" fields (zero dates included) and unsigned BIGINT as its value.
// DDL is a schema-change event {"payload":{"source","databaseName","ddl"}}.

// dbzField is one field's Kafka Connect schema.
func appendDbzField(b []byte, c *event.Column) []byte {
	typ, name := "string", ""
	var params [][2]string
	switch c.Type {
	case event.TypeTinyInt:
		typ = "int16"
	case event.TypeSmallInt:
		typ = "int32"
	case event.TypeMediumInt, event.TypeInt:
		typ = "int64"
	case event.TypeBigInt:
		typ = "int64"
	case event.TypeFloat:
		typ = "float"
	case event.TypeDouble:
		typ = "double"
	case event.TypeBit:
		typ, name = "bytes", "io.debezium.data.Bits"
		params = append(params, [2]string{"length", strconv.Itoa(int(max(c.Length, 1)))})
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		typ = "bytes"
	case event.TypeEnum:
		name = "io.debezium.data.Enum"
		params = append(params, [2]string{"allowed", strings.Join(c.Elems, ",")})
	case event.TypeSet:
		name = "io.debezium.data.EnumSet"
		params = append(params, [2]string{"allowed", strings.Join(c.Elems, ",")})
	case event.TypeTimestamp:
		name = "io.debezium.time.ZonedTimestamp"
	case event.TypeYear:
		typ, name = "int32", "io.debezium.time.Year"
	case event.TypeJSON:
		name = "io.debezium.data.Json"
	}
	params = append(params, [2]string{"__debezium.source.column.type", strings.ToUpper(mysqlType(c))})
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","optional":`...)
	b = strconv.AppendBool(b, c.Nullable)
	if name != "" {
		b = append(b, `,"name":"`...)
		b = append(b, name...)
		b = append(b, '"')
	}
	b = append(b, `,"parameters":{`...)
	for i, p := range params {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendText(b, p[0])
		b = append(b, ':')
		b = appendText(b, p[1])
	}
	b = append(b, `},"field":`...)
	b = appendText(b, c.Name)
	return append(b, '}')
}

// appendDbzRowSchema appends the struct schema of a row image.
func appendDbzRowSchema(b []byte, t *event.Table, field string) []byte {
	b = append(b, `{"type":"struct","optional":true,"name":`...)
	b = appendText(b, t.ID.DB+"."+t.ID.Table+".Value")
	b = append(b, `,"field":"`...)
	b = append(b, field...)
	b = append(b, `","fields":[`...)
	for i := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDbzField(b, &t.Columns[i])
	}
	return append(b, "]}"...)
}

func appendDbzSource(b []byte, e *event.Event) []byte {
	b = append(b, `{"version":"odsync","connector":"mysql","name":"odsync","ts_ms":`...)
	b = strconv.AppendInt(b, e.CommitTime/1000, 10)
	b = append(b, `,"ts_us":`...)
	b = strconv.AppendInt(b, e.CommitTime, 10)
	b = append(b, `,"snapshot":`...)
	if e.Op == event.OpRead {
		b = append(b, `"true"`...)
	} else {
		b = append(b, `"false"`...)
	}
	b = append(b, `,"db":`...)
	b = appendText(b, e.Source.DB)
	b = append(b, `,"table":`...)
	b = appendText(b, e.Source.Table)
	b = append(b, `,"file":`...)
	b = appendText(b, e.Pos.File)
	b = append(b, `,"pos":`...)
	b = strconv.AppendUint(b, e.Pos.Offset, 10)
	if e.Pos.GTID != "" {
		b = append(b, `,"gtid":`...)
		b = appendText(b, e.Pos.GTID)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	return append(b, '}')
}

func appendDebezium(b []byte, e *event.Event) []byte {
	if e.Op == event.OpDDL {
		b = append(b, `{"payload":{"source":`...)
		b = appendDbzSource(b, e)
		b = append(b, `,"databaseName":`...)
		b = appendText(b, e.Source.DB)
		b = append(b, `,"ddl":`...)
		b = appendText(b, e.DDL)
		b = append(b, `,"ts_ms":`...)
		b = strconv.AppendInt(b, e.CommitTime/1000, 10)
		return append(b, "}}"...)
	}
	t := e.Table
	b = append(b, `{"schema":{"type":"struct","optional":false,"name":`...)
	b = appendText(b, t.ID.DB+"."+t.ID.Table+".Envelope")
	b = append(b, `,"fields":[`...)
	b = appendDbzRowSchema(b, t, "before")
	b = append(b, ',')
	b = appendDbzRowSchema(b, t, "after")
	b = append(b, `,{"type":"struct","optional":false,"field":"source","fields":[]},{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}]},"payload":{"before":`...)
	before, after := e.Before, e.After
	if e.Op == event.OpInsert || e.Op == event.OpRead {
		before = nil
	}
	if e.Op == event.OpDelete {
		after = nil
	}
	b = appendDbzRow(b, t, before)
	b = append(b, `,"after":`...)
	b = appendDbzRow(b, t, after)
	b = append(b, `,"source":`...)
	b = appendDbzSource(b, e)
	b = append(b, `,"op":"`...)
	switch e.Op {
	case event.OpInsert:
		b = append(b, 'c')
	case event.OpRead:
		b = append(b, 'r')
	case event.OpUpdate:
		b = append(b, 'u')
	case event.OpDelete:
		b = append(b, 'd')
	}
	b = append(b, `","ts_ms":`...)
	b = strconv.AppendInt(b, e.CommitTime/1000, 10)
	return append(b, "}}"...)
}

func appendDbzRow(b []byte, t *event.Table, row []event.Value) []byte {
	if row == nil {
		return append(b, "null"...)
	}
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
		b = appendDbzValue(b, &t.Columns[i], row[i])
	}
	return append(b, '}')
}

func appendDbzValue(b []byte, c *event.Column, v event.Value) []byte {
	switch v.Kind() {
	case event.KindInt, event.KindYear:
		return strconv.AppendInt(b, v.Int(), 10)
	case event.KindUint:
		return strconv.AppendUint(b, v.Uint(), 10)
	case event.KindFloat32, event.KindFloat64:
		return v.AppendText(b)
	case event.KindBits:
		// Little-endian bytes of the BIT(n) value.
		n := (max(int(c.Length), 1) + 7) / 8
		var le [8]byte
		binary.LittleEndian.PutUint64(le[:], v.Uint())
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, le[:n])
		return append(b, '"')
	case event.KindBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.Str()))
		return append(b, '"')
	case event.KindTimestamp:
		b = append(b, '"')
		b = v.AppendText(b)
		return append(b, '"')
	case event.KindString, event.KindJSON, event.KindDecimal, event.KindEnum, event.KindSet:
		return appendText(b, v.Str())
	}
	var tmp [64]byte
	return appendText(b, string(v.AppendText(tmp[:0])))
}

// appendDbzKey appends the Debezium key: the key columns as a JSON object.
func appendDbzKey(b []byte, t *event.Table, row []event.Value) []byte {
	b = append(b, '{')
	for i, k := range t.Key {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendText(b, t.Columns[k].Name)
		b = append(b, ':')
		if k >= len(row) || row[k].IsNull() {
			b = append(b, "null"...)
			continue
		}
		b = appendDbzValue(b, &t.Columns[k], row[k])
	}
	return append(b, '}')
}
