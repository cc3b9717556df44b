package odsync

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// Odsync decodes odsync's own Kafka format, written by odsync's Kafka sink
// (docs/kafka-sink.md#the-odsync-format): one event per message with its
// _seq, commit time, source position and full table schema, values typed
// exactly; watermarks. Each event's _seq becomes codec.Decoded.CommitTs (the
// ordering and replay key of watermark ordering) and Event.Origin (the ODS
// _seq); Event.Pos is the capture's source position. It is not safe for
// concurrent use.
type Odsync struct {
	dec    codec.Decompressor
	tables map[string]*event.Table
	max    int
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

type odsyncMsg struct {
	V        int    `json:"v"`
	Seq      uint64 `json:"_seq"`
	Op       string `json:"_op"`
	DB       string `json:"db"`
	Table    string `json:"table"`
	CommitTs int64  `json:"_commit_ts"`
	Pos      struct {
		File   string `json:"file"`
		Offset uint64 `json:"offset"`
		GTID   string `json:"gtid"`
	} `json:"_pos"`
	TxnEnd        bool            `json:"txn_end"`
	SchemaVersion string          `json:"schema_version"`
	Schema        json.RawMessage `json:"schema"`
	Before        []*string       `json:"before"`
	After         []*string       `json:"after"`
	DDL           string          `json:"ddl"`
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
	b, err := d.dec.Decode(value)
	if err != nil {
		return nil, odsFail("", "value", "", err)
	}
	var m odsyncMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, odsFail("", "value", "", err)
	}
	name := codec.TableName(m.DB, m.Table)
	if m.V != 1 {
		return nil, odsFail(name, "v", "", fmt.Errorf("format version %d (this odsync reads 1)", m.V))
	}
	if m.Seq == 0 {
		return nil, odsFail(name, "_seq", "", errors.New("missing or 0"))
	}
	if m.Op == "W" {
		return []codec.Decoded{{Kind: codec.KindWatermark, Watermark: m.Seq}}, nil
	}
	var op event.Op
	switch m.Op {
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
		return nil, odsFail(name, "_op", "", fmt.Errorf("unknown op %q", m.Op))
	}
	ev := event.Event{Op: op, Source: event.TableID{DB: m.DB, Table: m.Table}, CommitTime: m.CommitTs,
		Pos: event.Position{File: m.Pos.File, Offset: m.Pos.Offset, GTID: m.Pos.GTID}, TxnEnd: m.TxnEnd,
		DDL: m.DDL, Origin: m.Seq}
	if len(m.Schema) > 0 && string(m.Schema) != "null" {
		if ev.Table, err = d.table(&m); err != nil {
			return nil, err
		}
	}
	if op == event.OpDDL {
		if m.DDL == "" {
			return nil, odsFail(name, "ddl", "", errors.New("empty DDL statement"))
		}
		return []codec.Decoded{{Kind: codec.KindDDL, Events: []event.Event{ev}, CommitTs: m.Seq}}, nil
	}
	if ev.Table == nil {
		return nil, odsFail(name, "schema", "", errors.New("row event without a schema"))
	}
	if ev.Before, err = odsRow(ev.Table, m.Before, "before"); err == nil {
		ev.After, err = odsRow(ev.Table, m.After, "after")
	}
	if err != nil {
		return nil, err
	}
	if ev.Row() == nil {
		return nil, odsFail(name, "after", "", fmt.Errorf("%s event without its row image", op))
	}
	return []codec.Decoded{{Kind: codec.KindRow, Events: []event.Event{ev}, CommitTs: m.Seq}}, nil
}

// table returns the message's schema, cached by its version.
func (d *Odsync) table(m *odsyncMsg) (*event.Table, error) {
	name := codec.TableName(m.DB, m.Table)
	key := m.SchemaVersion + "\x00" + name
	if t := d.tables[key]; t != nil {
		return t, nil
	}
	var s odsyncSchema
	if err := json.Unmarshal(m.Schema, &s); err != nil {
		return nil, odsFail(name, "schema", "", err)
	}
	t := &event.Table{ID: event.TableID{DB: m.DB, Table: m.Table}, Key: s.Key}
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
	if want := strconv.FormatUint(t.Version, 10); m.SchemaVersion != want {
		return nil, odsFail(name, "schema_version", "", fmt.Errorf("%s, but the schema hashes to %s (altered in transit, or written by an incompatible odsync)", m.SchemaVersion, want))
	}
	if len(d.tables) >= d.max {
		clear(d.tables)
	}
	d.tables[key] = t
	return t, nil
}

func odsRow(t *event.Table, in []*string, field string) ([]event.Value, error) {
	if in == nil {
		return nil, nil
	}
	if len(in) != len(t.Columns) {
		return nil, odsFail(codec.TableName(t.ID.DB, t.ID.Table), field, "", fmt.Errorf("%d values for %d columns", len(in), len(t.Columns)))
	}
	out := make([]event.Value, len(in))
	for i, p := range in {
		if p == nil {
			continue
		}
		v, err := ParseOdsyncValue(*p)
		if err != nil {
			return nil, odsFail(codec.TableName(t.ID.DB, t.ID.Table), field, t.Columns[i].Name, err)
		}
		out[i] = v
	}
	return out, nil
}

// ParseOdsyncValue parses a value's "<kind>:<text>" (see the Kafka sink's
// AppendValueText).
func ParseOdsyncValue(s string) (event.Value, error) {
	if len(s) < 2 || s[1] != ':' {
		return event.Null, fmt.Errorf("value %s: want <kind>:<text>", codec.QuoteShort([]byte(s)))
	}
	k, text := s[0], s[2:]
	bad := func(err error) (event.Value, error) {
		return event.Null, fmt.Errorf("value %s: %v", codec.QuoteShort([]byte(s)), err)
	}
	switch k {
	case 'i', 'y':
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return bad(err)
		}
		if k == 'y' {
			return event.Year(int(n)), nil
		}
		return event.Int(n), nil
	case 'u', 'B':
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return bad(err)
		}
		if k == 'B' {
			return event.Bits(n), nil
		}
		return event.Uint(n), nil
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
	case 'Z', 't':
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return bad(err)
		}
		if k == 'Z' {
			return event.TimestampMicros(n), nil
		}
		return event.TimeMicros(n), nil
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
