package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
	kafkasink "github.com/odsync/odsync/sink/kafka"
)

// The Kafka sink's formats in the Kafka codec kit: the conformance stream
// as odsync events (the types a MySQL capture gives shop.kit), encoded by
// the sink's own encoders and read back by odsync's Kafka source.
func sinkKitFormats() []kitFormat {
	return []kitFormat{
		{name: "odsync-sink odsync", kind: "kafka", protocol: "odsync",
			encode: func(t *testing.T, s []kitChange) []kh.Message { return encodeSinkFormat(t, s, kafkasink.FormatOdsync) }},
		{name: "odsync-sink canal-json", kind: "kafka", protocol: "canal-json",
			encode: func(t *testing.T, s []kitChange) []kh.Message {
				return encodeSinkFormat(t, s, kafkasink.FormatCanalJSON)
			}},
		{name: "odsync-sink debezium", kind: "kafka", protocol: "debezium",
			encode: func(t *testing.T, s []kitChange) []kh.Message {
				return encodeSinkFormat(t, s, kafkasink.FormatDebezium)
			}},
	}
}

// kitSinkTable is shop.kit as the MySQL capture describes it, with or
// without the column the DDL adds.
func kitSinkTable(extra bool) *event.Table {
	t := &event.Table{ID: event.TableID{DB: "shop", Table: "kit"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "n", Type: event.TypeInt, Nullable: true, RawType: "int(11)"},
		{Name: "s", Type: event.TypeVarchar, Length: 255, Charset: "utf8mb4", Nullable: true, RawType: "varchar(255)"},
		{Name: "dn", Type: event.TypeDecimal, Precision: 65, Scale: 30, Nullable: true, RawType: "decimal(65,30)"},
		{Name: "dw", Type: event.TypeDecimal, Precision: 65, Scale: 30, Nullable: true, RawType: "decimal(65,30)"},
		{Name: "f", Type: event.TypeDouble, Nullable: true, RawType: "double"},
		{Name: "bin", Type: event.TypeVarbinary, Length: 16, Charset: "binary", Nullable: true, RawType: "varbinary(16)"},
		{Name: "dt", Type: event.TypeDateTime, Scale: 6, Nullable: true, RawType: "datetime(6)"},
		{Name: "dd", Type: event.TypeDate, Nullable: true, RawType: "date"},
		{Name: "j", Type: event.TypeJSON, Nullable: true, RawType: "json"},
		{Name: "en", Type: event.TypeEnum, Elems: kitEnum, Nullable: true, RawType: "enum('a','b','c')"},
	}}
	if extra {
		t.Columns = append(t.Columns, event.Column{Name: "extra", Type: event.TypeVarchar, Length: 10, Charset: "utf8mb4", Nullable: true, RawType: "varchar(10)"})
	}
	return t.Seal()
}

// kitSinkValue converts a kit value text to the value the capture gives.
func kitSinkValue(t *testing.T, col string, p *string) event.Value {
	if p == nil {
		return event.Null
	}
	v := *p
	civil := func(s string) []int {
		var out []int
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ' ' || r == ':' || r == '.' }) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s: %q", col, s)
			}
			out = append(out, n)
		}
		return append(out, 0, 0, 0, 0)
	}
	switch col {
	case "id", "n":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return event.Int(n)
	case "dn", "dw":
		return event.Decimal(v)
	case "f":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		return event.Float64(f)
	case "bin":
		return event.Bytes([]byte(v))
	case "dt":
		c := civil(v)
		return event.DateTime(c[0], c[1], c[2], c[3], c[4], c[5], c[6])
	case "dd":
		c := civil(v)
		return event.Date(c[0], c[1], c[2])
	case "j":
		return event.JSON(v)
	case "en":
		return event.Enum(memberIndex(v), v)
	}
	return event.String(v)
}

// encodeSinkFormat writes the stream as the Kafka sink does in format
// (one partition; the odsync format ends with a watermark).
func encodeSinkFormat(t *testing.T, s []kitChange, format string) []kh.Message {
	tbl := kitSinkTable(false)
	row := func(r kitRow) []event.Value {
		if r == nil {
			return nil
		}
		out := make([]event.Value, len(tbl.Columns))
		for i, c := range tbl.Columns {
			out[i] = kitSinkValue(t, c.Name, r[c.Name])
		}
		return out
	}
	var msgs []kh.Message
	for i, c := range s {
		seq := uint64(i + 1)
		e := event.Event{Seq: seq, Source: tbl.ID, Table: tbl, TxnEnd: true,
			CommitTime: time.UnixMilli(kitBaseMs).UnixMicro() + int64(i)*1e6,
			Pos:        event.Position{File: "binlog.000001", Offset: uint64(1000 + 100*i)}}
		switch c.op {
		case "DDL":
			tbl = kitSinkTable(true)
			e.Op, e.Table, e.DDL = event.OpDDL, tbl, kitDDL
		case "I":
			e.Op, e.After = event.OpInsert, row(c.after)
		case "U":
			e.Op, e.Before, e.After = event.OpUpdate, row(c.before), row(c.after)
		case "D":
			e.Op, e.Before = event.OpDelete, row(c.before)
		}
		k, v := kafkasink.Encode(format, &e)
		msgs = append(msgs, kh.Message{Key: k, Value: v})
	}
	if format == kafkasink.FormatOdsync {
		msgs = append(msgs, kh.Message{Value: kafkasink.EncodeWatermark(uint64(len(s)))})
	}
	return msgs
}
