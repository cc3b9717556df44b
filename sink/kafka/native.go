package kafka

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink/odsfile"
)

// The odsync format (docs/kafka-sink.md#the-odsync-format): one JSON object
// per event, keys in this order:
//
//	{"v":1,"_seq":N,"_op":"I|U|D|R|X","db":..,"table":..,"_commit_ts":µs,
//	 "_pos":{"file":..,"offset":N,"gtid":..},"txn_end":bool,
//	 "schema_version":"N","schema":{"columns":[..],"key":[..]},
//	 "before":[..],"after":[..],"ddl":".."}
//
// and a watermark {"v":1,"_op":"W","_seq":N} on every partition: every
// event with _seq <= N of that partition was written before it.
//
// Values are null or a string "<kind>:<text>" that restores the event.Value
// exactly (ValueText).

// NativeVersion is the format version ("v").
const NativeVersion = 1

// appendNative appends e as an odsync-format message.
func appendNative(b []byte, e *event.Event) []byte {
	b = append(b, `{"v":1,"_seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"_op":"`...)
	b = append(b, e.Op.Code()...)
	b = append(b, `","db":`...)
	b = odsfile.AppendJSONString(b, e.Source.DB)
	b = append(b, `,"table":`...)
	b = odsfile.AppendJSONString(b, e.Source.Table)
	b = append(b, `,"_commit_ts":`...)
	b = strconv.AppendInt(b, e.CommitTime, 10)
	b = append(b, `,"_pos":{"file":`...)
	b = appendText(b, e.Pos.File)
	b = append(b, `,"offset":`...)
	b = strconv.AppendUint(b, e.Pos.Offset, 10)
	if e.Pos.GTID != "" {
		b = append(b, `,"gtid":`...)
		b = appendText(b, e.Pos.GTID)
	}
	b = append(b, `},"txn_end":`...)
	b = strconv.AppendBool(b, e.TxnEnd)
	if t := e.Table; t != nil {
		b = append(b, `,"schema_version":"`...)
		b = strconv.AppendUint(b, t.Version, 10)
		b = append(b, `","schema":`...)
		b = appendSchema(b, t)
	}
	if e.Before != nil {
		b = append(b, `,"before":`...)
		b = appendRow(b, e.Before)
	}
	if e.After != nil {
		b = append(b, `,"after":`...)
		b = appendRow(b, e.After)
	}
	if e.Op == event.OpDDL {
		b = append(b, `,"ddl":`...)
		b = appendText(b, e.DDL)
	}
	return append(b, '}')
}

// appendNativeWatermark appends a watermark message.
func appendNativeWatermark(b []byte, seq uint64) []byte {
	b = append(b, `{"v":1,"_op":"W","_seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

// appendText appends text that is UTF-8 (identifiers, statements, GTIDs).
func appendText(b []byte, s string) []byte { return odsfile.AppendJSONString(b, s) }

func appendSchema(b []byte, t *event.Table) []byte {
	b = append(b, `{"columns":[`...)
	for i := range t.Columns {
		c := &t.Columns[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendText(b, c.Name)
		b = append(b, `,"type":"`...)
		b = append(b, c.Type.String()...)
		b = append(b, '"')
		if c.Unsigned {
			b = append(b, `,"unsigned":true`...)
		}
		if c.Nullable {
			b = append(b, `,"nullable":true`...)
		}
		if c.Length != 0 {
			b = append(b, `,"length":`...)
			b = strconv.AppendUint(b, uint64(c.Length), 10)
		}
		if c.Precision != 0 {
			b = append(b, `,"precision":`...)
			b = strconv.AppendUint(b, uint64(c.Precision), 10)
		}
		if c.Scale != 0 {
			b = append(b, `,"scale":`...)
			b = strconv.AppendUint(b, uint64(c.Scale), 10)
		}
		if c.Elems != nil {
			b = append(b, `,"elems":[`...)
			for j, e := range c.Elems {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendText(b, e)
			}
			b = append(b, ']')
		}
		if c.Charset != "" {
			b = append(b, `,"charset":`...)
			b = appendText(b, c.Charset)
		}
		if c.RawType != "" {
			b = append(b, `,"raw_type":`...)
			b = appendText(b, c.RawType)
		}
		b = append(b, '}')
	}
	b = append(b, `],"key":[`...)
	for i, k := range t.Key {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(k), 10)
	}
	return append(b, "]}"...)
}

func appendRow(b []byte, row []event.Value) []byte {
	b = append(b, '[')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		if v.IsNull() {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '"')
		b = AppendValueText(b, v)
		b = append(b, '"')
	}
	return append(b, ']')
}

// AppendValueText appends the odsync format's text of a non-NULL value,
// already escaped for a JSON string: a kind letter, ':', and the text.
//
//	i int64  u uint64  f float32  F float64 (shortest round trip)
//	d decimal  s string  S string, base64 (not UTF-8)  b bytes, base64
//	D date YYYY-MM-DD  T datetime YYYY-MM-DD HH:MM:SS[.ffffff] (zero parts kept)
//	Z timestamp, µs since the epoch  t time, signed µs  y year
//	j JSON  J JSON, base64 (not UTF-8)  B bits
//	e enum <index>:<member>  E set <bitmask>:<members>
func AppendValueText(b []byte, v event.Value) []byte {
	switch v.Kind() {
	case event.KindInt:
		b = append(b, "i:"...)
		return strconv.AppendInt(b, v.Int(), 10)
	case event.KindUint:
		b = append(b, "u:"...)
		return strconv.AppendUint(b, v.Uint(), 10)
	case event.KindFloat32:
		b = append(b, "f:"...)
		return v.AppendText(b)
	case event.KindFloat64:
		b = append(b, "F:"...)
		return v.AppendText(b)
	case event.KindDecimal:
		b = append(b, "d:"...)
		return appendInner(b, v.Str())
	case event.KindString:
		if !utf8.ValidString(v.Str()) {
			b = append(b, "S:"...)
			return base64.StdEncoding.AppendEncode(b, []byte(v.Str()))
		}
		b = append(b, "s:"...)
		return appendInner(b, v.Str())
	case event.KindBytes:
		b = append(b, "b:"...)
		return base64.StdEncoding.AppendEncode(b, []byte(v.Str()))
	case event.KindDate:
		b = append(b, "D:"...)
		return v.AppendText(b)
	case event.KindDateTime:
		b = append(b, "T:"...)
		return v.AppendText(b)
	case event.KindTimestamp:
		b = append(b, "Z:"...)
		return strconv.AppendInt(b, v.Micros(), 10)
	case event.KindTime:
		b = append(b, "t:"...)
		return strconv.AppendInt(b, v.Micros(), 10)
	case event.KindYear:
		b = append(b, "y:"...)
		return strconv.AppendInt(b, v.Int(), 10)
	case event.KindJSON:
		if !utf8.ValidString(v.Str()) {
			b = append(b, "J:"...)
			return base64.StdEncoding.AppendEncode(b, []byte(v.Str()))
		}
		b = append(b, "j:"...)
		return appendInner(b, v.Str())
	case event.KindBits:
		b = append(b, "B:"...)
		return strconv.AppendUint(b, v.Uint(), 10)
	case event.KindEnum:
		b = append(b, "e:"...)
		b = strconv.AppendInt(b, v.Int(), 10)
		b = append(b, ':')
		return appendInner(b, v.Str())
	case event.KindSet:
		b = append(b, "E:"...)
		b = strconv.AppendUint(b, v.Uint(), 10)
		b = append(b, ':')
		return appendInner(b, v.Str())
	}
	return append(b, "?:"...)
}

// appendInner appends valid UTF-8 s escaped as the inside of a JSON string.
func appendInner(b []byte, s string) []byte {
	n := len(b)
	b = odsfile.AppendJSONString(b, s)
	// Drop the quotes AppendJSONString wrote around s.
	copy(b[n:], b[n+1:len(b)-1])
	return b[:len(b)-2]
}
