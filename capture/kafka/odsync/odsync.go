package odsync

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"
	"math"
	"strconv"
	"strings"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// Odsync decodes odsync's own Kafka format, written by odsync's Kafka sink
// (docs/kafka-sink.md#the-odsync-format): one event per message with its
// _seq, commit time, source position and full table schema, values typed
// exactly; watermarks. Each event's _seq becomes Decoded.CommitTs (the
// ordering and replay key of watermark ordering) and Event.Origin (the ODS
// _seq); Event.Pos is the capture's source position. It is not safe for
// concurrent use.
type Odsync struct {
	dec    codec.Decompressor
	tape   jsontape.Tape
	tables map[string]*event.Table
	max    int
	key    []byte
	buf    []byte
}

// NewOdsync returns a decoder for odsync's own format.
func NewOdsync(cfg codec.Config) (*Odsync, error) {
	cfg.Protocol = codec.ProtocolOdsync
	cfg, _, err := codec.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &Odsync{dec: codec.Decompressor{Codec: cfg.Compression}, tables: map[string]*event.Table{}, max: cfg.MaxCachedTables}, nil
}

type odsyncSchema struct {
	Columns []struct {
		Name      string   `json:"name"`
		Type      string   `json:"type"`
		Unsigned  bool     `json:"unsigned"`
		Nullable  bool     `json:"nullable"`
		Length    uint32   `json:"length"`
		Precision uint8    `json:"precision"`
		Scale     uint8    `json:"scale"`
		Elems     []string `json:"elems"`
		Charset   string   `json:"charset"`
		RawType   string   `json:"raw_type"`
	} `json:"columns"`
	Key []int `json:"key"`
}

func odsFail(table, field, column string, err error) error {
	return &codec.DecodeError{Protocol: codec.ProtocolOdsync, Table: table, Field: field, Column: column, Err: err}
}

// Decode decodes one message (the key is not used).
func (d *Odsync) Decode(key, value []byte) ([]codec.Decoded, error) {
	t := &d.tape
	root, err := codec.ParseObject(&d.dec, t, value)
	if err != nil {
		return nil, odsFail("", "value", "", err)
	}
	str := func(k string) (string, error) {
		n := t.Field(root, k)
		if t.IsNull(n) {
			return "", nil
		}
		if t.Kind(n) != jsontape.JString {
			return "", odsFail("", k, "", fmt.Errorf("is a JSON %s, not a string", t.Kind(n)))
		}
		return t.Str(n), nil
	}
	db, err := str("db")
	if err != nil {
		return nil, err
	}
	tbl, err := str("table")
	if err != nil {
		return nil, err
	}
	name := codec.TableName(db, tbl)
	num := func(obj int32, k string) (uint64, error) {
		n := t.Field(obj, k)
		if t.IsNull(n) {
			return 0, nil
		}
		v, err := t.UintNode(n)
		if err != nil {
			return 0, odsFail(name, k, "", err)
		}
		return v, nil
	}
	if v, err := num(root, "v"); err != nil {
		return nil, err
	} else if v != 1 {
		return nil, odsFail(name, "v", "", fmt.Errorf("format version %d (this odsync reads 1)", v))
	}
	seq, err := num(root, "_seq")
	if err != nil {
		return nil, err
	}
	if seq == 0 {
		return nil, odsFail(name, "_seq", "", errors.New("missing or 0"))
	}
	opText, err := str("_op")
	if err != nil {
		return nil, err
	}
	if opText == "W" {
		return []codec.Decoded{{Kind: codec.KindWatermark, Watermark: seq}}, nil
	}
	var op event.Op
	switch opText {
	case "I":
		op = event.OpInsert
	case "U":
		op = event.OpUpdate
	case "D":
		op = event.OpDelete
	case "R":
		op = event.OpRead
	case "X":
		op = event.OpDDL
	default:
		return nil, odsFail(name, "_op", "", fmt.Errorf("unknown op %q", opText))
	}
	ev := event.Event{Op: op, Source: event.TableID{DB: db, Table: tbl}, Origin: seq}
	if n := t.Field(root, "_commit_ts"); !t.IsNull(n) {
		if ev.CommitTime, err = t.IntNode(n); err != nil {
			return nil, odsFail(name, "_commit_ts", "", err)
		}
	}
	if pos := t.Field(root, "_pos"); !t.IsNull(pos) {
		if t.Kind(pos) != jsontape.JObject {
			return nil, odsFail(name, "_pos", "", fmt.Errorf("is a JSON %s, not an object", t.Kind(pos)))
		}
		if f := t.Field(pos, "file"); !t.IsNull(f) && t.Kind(f) == jsontape.JString {
			ev.Pos.File = t.Str(f)
		}
		if ev.Pos.Offset, err = num(pos, "offset"); err != nil {
			return nil, err
		}
		if g := t.Field(pos, "gtid"); !t.IsNull(g) && t.Kind(g) == jsontape.JString {
			ev.Pos.GTID = t.Str(g)
		}
	}
	if n := t.Field(root, "txn_end"); !t.IsNull(n) {
		if ev.TxnEnd, err = t.BoolNode(n); err != nil {
			return nil, odsFail(name, "txn_end", "", err)
		}
	}
	if ev.DDL, err = str("ddl"); err != nil {
		return nil, err
	}
	if sch := t.Field(root, "schema"); !t.IsNull(sch) {
		ver, err := str("schema_version")
		if err != nil {
			return nil, err
		}
		if ev.Table, err = d.table(db, tbl, ver, t.Src[t.Nodes[sch].Start:t.Nodes[sch].End]); err != nil {
			return nil, err
		}
	}
	if op == event.OpDDL {
		if ev.DDL == "" {
			return nil, odsFail(name, "ddl", "", errors.New("empty DDL statement"))
		}
		return []codec.Decoded{{Kind: codec.KindDDL, Events: []event.Event{ev}, CommitTs: seq}}, nil
	}
	if ev.Table == nil {
		return nil, odsFail(name, "schema", "", errors.New("row event without a schema"))
	}
	if ev.Before, err = d.row(ev.Table, t.Field(root, "before"), "before"); err == nil {
		ev.After, err = d.row(ev.Table, t.Field(root, "after"), "after")
	}
	if err != nil {
		return nil, err
	}
	if ev.Row() == nil {
		return nil, odsFail(name, "after", "", fmt.Errorf("%s event without its row image", op))
	}
	return []codec.Decoded{{Kind: codec.KindRow, Events: []event.Event{ev}, CommitTs: seq}}, nil
}

// table returns a message's schema (JSON), cached by its version.
func (d *Odsync) table(db, tbl, version string, raw []byte) (*event.Table, error) {
	name := codec.TableName(db, tbl)
	d.key = append(append(append(d.key[:0], version...), 0), name...)
	if t := d.tables[string(d.key)]; t != nil {
		return t, nil
	}
	var s odsyncSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, odsFail(name, "schema", "", err)
	}
	t := &event.Table{ID: event.TableID{DB: db, Table: tbl}, Key: s.Key}
	for _, c := range s.Columns {
		typ, ok := event.ParseType(c.Type)
		if !ok {
			return nil, odsFail(name, "schema", c.Name, fmt.Errorf("unknown type %q", c.Type))
		}
		t.Columns = append(t.Columns, event.Column{Name: c.Name, Type: typ, Unsigned: c.Unsigned, Nullable: c.Nullable,
			Length: c.Length, Precision: c.Precision, Scale: c.Scale, Elems: c.Elems, Charset: c.Charset, RawType: c.RawType})
	}
	for _, k := range t.Key {
		if k < 0 || k >= len(t.Columns) {
			return nil, odsFail(name, "schema.key", "", fmt.Errorf("key column %d of %d columns", k, len(t.Columns)))
		}
	}
	t.Seal()
	if want := strconv.FormatUint(t.Version, 10); version != want {
		return nil, odsFail(name, "schema_version", "", fmt.Errorf("%s, but the schema hashes to %s (altered in transit, or written by an incompatible odsync)", version, want))
	}
	if len(d.tables) >= d.max {
		clear(d.tables)
	}
	d.tables[string(d.key)] = t
	return t, nil
}

// row decodes a row image (absent or null: nil).
func (d *Odsync) row(tb *event.Table, arr int32, field string) ([]event.Value, error) {
	t := &d.tape
	if t.IsNull(arr) {
		return nil, nil
	}
	name := codec.TableName(tb.ID.DB, tb.ID.Table)
	if t.Kind(arr) != jsontape.JArray {
		return nil, odsFail(name, field, "", fmt.Errorf("is a JSON %s, not an array", t.Kind(arr)))
	}
	if n := t.Count(arr); n != len(tb.Columns) {
		return nil, odsFail(name, field, "", fmt.Errorf("%d values for %d columns", n, len(tb.Columns)))
	}
	out := make([]event.Value, len(tb.Columns))
	end := t.Nodes[arr].Next
	i := 0
	for e := arr + 1; e < end; e = t.Nodes[e].Next {
		switch t.Kind(e) {
		case jsontape.JNull:
		case jsontape.JString:
			v, err := parseOdsyncValue(t.Text(e, d.buf[:0]))
			if err != nil {
				return nil, odsFail(name, field, tb.Columns[i].Name, err)
			}
			out[i] = v
		default:
			return nil, odsFail(name, field, tb.Columns[i].Name, fmt.Errorf("value is a JSON %s, not a string or null", t.Kind(e)))
		}
		i++
	}
	return out, nil
}

// ParseOdsyncValue parses a value's "<kind>:<text>" (see the Kafka sink's
// AppendValueText).
func ParseOdsyncValue(s string) (event.Value, error) { return parseOdsyncValue([]byte(s)) }

// parseOdsyncValue parses b without keeping it (strings are copied).
func parseOdsyncValue(b []byte) (event.Value, error) {
	if len(b) < 2 || b[1] != ':' {
		return event.Null, fmt.Errorf("value %s: want <kind>:<text>", jsontape.QuoteShort(b))
	}
	k, raw := b[0], b[2:]
	bad := func(err error) (event.Value, error) {
		return event.Null, fmt.Errorf("value %s: %v", jsontape.QuoteShort(b), err)
	}
	switch k {
	case 'i', 'y', 'Z', 't':
		n, err := jsontape.ParseInt(raw)
		if err != nil {
			return bad(err)
		}
		switch k {
		case 'y':
			return event.Year(int(n)), nil
		case 'Z':
			return event.TimestampMicros(n), nil
		case 't':
			return event.TimeMicros(n), nil
		}
		return event.Int(n), nil
	case 'u', 'B':
		n, err := jsontape.ParseUint(raw)
		if err != nil {
			return bad(err)
		}
		if k == 'B' {
			return event.Bits(n), nil
		}
		return event.Uint(n), nil
	}
	text := string(raw)
	switch k {
	case 'f':
		f, err := strconv.ParseFloat(text, 32)
		if err != nil {
			return bad(err)
		}
		return event.Float32(float32(f)), nil
	case 'F':
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return bad(err)
		}
		return event.Float64(f), nil
	case 'd':
		return event.Decimal(text), nil
	case 's':
		return event.String(text), nil
	case 'j':
		return event.JSON(text), nil
	case 'S', 'J', 'b':
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return bad(err)
		}
		switch k {
		case 'S':
			return event.String(string(raw)), nil
		case 'J':
			return event.JSON(string(raw)), nil
		}
		return event.Bytes(raw), nil
	case 'D', 'T':
		p, err := civilParts(text, k == 'T')
		if err != nil {
			return bad(err)
		}
		if k == 'D' {
			return event.Date(p[0], p[1], p[2]), nil
		}
		return event.DateTime(p[0], p[1], p[2], p[3], p[4], p[5], p[6]), nil
	case 'e', 'E':
		i := strings.IndexByte(text, ':')
		if i < 0 {
			return bad(errors.New("want <number>:<text>"))
		}
		n, err := strconv.ParseUint(text[:i], 10, 64)
		if err != nil {
			return bad(err)
		}
		if k == 'e' {
			if n > math.MaxInt32 {
				return bad(errors.New("enum index out of range"))
			}
			return event.Enum(int(n), text[i+1:]), nil
		}
		return event.Set(n, text[i+1:]), nil
	}
	return bad(fmt.Errorf("unknown kind %q", k))
}

// civilParts parses "Y-M-D" or "Y-M-D h:m:s[.ffffff]" (zero parts allowed).
func civilParts(s string, withTime bool) ([7]int, error) {
	var p [7]int
	date, clock, hasClock := strings.Cut(s, " ")
	if hasClock != withTime {
		return p, errors.New("malformed date/time")
	}
	ds := strings.Split(date, "-")
	if len(ds) != 3 {
		return p, errors.New("malformed date")
	}
	for i, x := range ds {
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 {
			return p, errors.New("malformed date")
		}
		p[i] = n
	}
	if !withTime {
		return p, nil
	}
	hms, frac, hasFrac := strings.Cut(clock, ".")
	ts := strings.Split(hms, ":")
	if len(ts) != 3 {
		return p, errors.New("malformed time")
	}
	for i, x := range ts {
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 {
			return p, errors.New("malformed time")
		}
		p[3+i] = n
	}
	if hasFrac {
		if len(frac) != 6 {
			return p, errors.New("fraction must have 6 digits")
		}
		n, err := strconv.Atoi(frac)
		if err != nil || n < 0 {
			return p, errors.New("malformed fraction")
		}
		p[6] = n
	}
	return p, nil
}
