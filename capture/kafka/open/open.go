package open

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"
	"strconv"
	"unicode/utf8"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// OpenProtocol decodes TiCDC's open protocol. It is not safe for
// concurrent use.
type OpenProtocol struct {
	vc    codec.ValueCtx
	dec   codec.Decompressor
	tape  jsontape.Tape
	cache codec.TableCache

	keys, vals [][]byte
	evs        []event.Event
	lastSchema string
	lastTable  string
	cols       []openCol
	present    []bool
	oldSeen    []bool
	names      []byte
	unesc      []byte
	keyBuf     []byte
	ar         codec.Arena
	slab       codec.Slab
}

type openCol struct {
	name     []byte
	code     uint64
	flags    uint64
	hasFlags bool
	handle   bool
}

// Open-protocol message types (the key's "t").
const (
	openRow      = 1
	openDDL      = 2
	openResolved = 3
)

// Open-protocol column flags (the column's "f").
const (
	openFlagBinary    = 1 << 0
	openFlagHandleKey = 1 << 1
	openFlagGenerated = 1 << 2
	openFlagPK        = 1 << 3
	openFlagUnique    = 1 << 4
	openFlagMultiKey  = 1 << 5
	openFlagNullable  = 1 << 6
	openFlagUnsigned  = 1 << 7
)

// openBatchVersion is the only key format version TiCDC writes.
const OpenBatchVersion = 1

// NewOpenProtocol returns a decoder for TiCDC's open protocol.
func NewOpenProtocol(cfg codec.Config) (*OpenProtocol, error) {
	cfg.Protocol = codec.ProtocolOpen
	cfg, loc, err := codec.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &OpenProtocol{
		vc:    codec.NewValueCtx(loc, true),
		dec:   codec.Decompressor{Codec: cfg.Compression},
		cache: codec.NewTableCache(cfg.MaxCachedTables),
	}, nil
}

func openFail(table, field, column string, err error) error {
	return &codec.DecodeError{Protocol: codec.ProtocolOpen, Table: table, Field: field, Column: column, Err: err}
}

// splitFrames splits [int64 len][bytes]... into frames.
func splitFrames(b []byte, dst [][]byte) ([][]byte, error) {
	for len(b) > 0 {
		if len(b) < 8 {
			return dst, fmt.Errorf("%d trailing bytes, too short for a length prefix", len(b))
		}
		n := binary.BigEndian.Uint64(b)
		b = b[8:]
		if n > uint64(len(b)) {
			return dst, fmt.Errorf("frame length %d exceeds the %d remaining bytes", n, len(b))
		}
		dst = append(dst, b[:n])
		b = b[n:]
	}
	return dst, nil
}

// openKey is a decoded event key.
type openKey struct {
	ts            uint64
	schema, table string
	typ           uint64
	onlyHandleKey bool
	claimCheck    string
}

// Decode decodes one open-protocol Kafka message: one Decoded per event of
// the batch, in order.
func (d *OpenProtocol) Decode(key, value []byte) ([]codec.Decoded, error) {
	if len(key) < 8 {
		return nil, openFail("", "key", "", fmt.Errorf("key of %d bytes has no version header", len(key)))
	}
	if v := binary.BigEndian.Uint64(key); v != OpenBatchVersion {
		return nil, openFail("", "key", "", fmt.Errorf("key format version %d, want %d", v, OpenBatchVersion))
	}
	var err error
	if d.keys, err = splitFrames(key[8:], d.keys[:0]); err != nil {
		return nil, openFail("", "key", "", err)
	}
	if len(d.keys) == 0 {
		return nil, openFail("", "key", "", errors.New("batch holds no event"))
	}
	if d.vals, err = splitFrames(value, d.vals[:0]); err != nil {
		return nil, openFail("", "value", "", err)
	}
	n := len(d.keys)
	out := make([]codec.Decoded, 0, n)
	// One arena and one event array for the whole batch.
	d.ar.Reserve(len(value))
	d.evs = d.slab.Events(n)
	for i, kb := range d.keys {
		k, err := d.parseKey(kb)
		if err != nil {
			return nil, openFail("", openField(i, n, "key"), "", err)
		}
		var val []byte
		if i < len(d.vals) {
			val = d.vals[i]
		} else if k.typ != openResolved {
			return nil, openFail(codec.TableName(k.schema, k.table), openField(i, n, "key"), "",
				fmt.Errorf("%d keys but only %d values", n, len(d.vals)))
		}
		switch k.typ {
		case openResolved:
			out = append(out, codec.Decoded{Kind: codec.KindWatermark, Watermark: k.ts})
		case openDDL:
			dd, err := d.ddl(k, val, i)
			if err != nil {
				return nil, openFail(codec.TableName(k.schema, k.table), openField(i, n, "value"), "", err)
			}
			out = append(out, dd)
		case openRow:
			dd, err := d.row(k, val, i, n)
			if err != nil {
				return nil, err
			}
			out = append(out, dd)
		default:
			return nil, openFail(codec.TableName(k.schema, k.table), openField(i, n, "key"), "", fmt.Errorf("unknown event type %d", k.typ))
		}
	}
	if len(d.vals) > n {
		return nil, openFail("", "value", "", fmt.Errorf("%d values but only %d keys", len(d.vals), n))
	}
	return out, nil
}

// openField names a part of event i of an n-event batch for errors.
func openField(i, n int, part string) string {
	if n == 1 {
		return part
	}
	return fmt.Sprintf("event %d %s", i, part)
}

// internName returns raw as a string, reusing last when it is equal.
func internName(last *string, raw []byte) string {
	if *last != string(raw) {
		*last = string(raw)
	}
	return *last
}

func (d *OpenProtocol) parseKey(b []byte) (openKey, error) {
	var k openKey
	t := &d.tape
	root, err := t.ParseOne(b)
	if err != nil {
		return k, err
	}
	if t.Kind(root) != jsontape.JObject {
		return k, fmt.Errorf("key is a JSON %s, not an object", t.Kind(root))
	}
	hasTs, hasT := false, false
	end := t.Nodes[root].Next
	for kn := root + 1; kn < end; {
		v := kn + 1
		var err error
		switch {
		case t.KeyIs(kn, "ts"):
			k.ts, err = t.UintNode(v)
			hasTs = true
		case t.KeyIs(kn, "scm"):
			if t.Kind(v) == jsontape.JString && !t.Nodes[v].Esc {
				k.schema = internName(&d.lastSchema, t.Raw(v))
			} else {
				k.schema, err = jsontape.StringOrNull(t, v)
			}
		case t.KeyIs(kn, "tbl"):
			if t.Kind(v) == jsontape.JString && !t.Nodes[v].Esc {
				k.table = internName(&d.lastTable, t.Raw(v))
			} else {
				k.table, err = jsontape.StringOrNull(t, v)
			}
		case t.KeyIs(kn, "t"):
			k.typ, err = t.UintNode(v)
			hasT = true
		case t.KeyIs(kn, "ohk"):
			if t.Kind(v) != jsontape.JNull {
				k.onlyHandleKey, err = t.BoolNode(v)
			}
		case t.KeyIs(kn, "ccl"):
			k.claimCheck, err = jsontape.StringOrNull(t, v)
		}
		if err != nil {
			return k, fmt.Errorf("field %s: %w", t.Str(kn), err)
		}
		kn = t.Nodes[v].Next
	}
	if !hasTs || !hasT {
		return k, errors.New(`key lacks "ts" or "t"`)
	}
	return k, nil
}

func (d *OpenProtocol) ddl(k openKey, val []byte, i int) (codec.Decoded, error) {
	src, err := d.dec.Decode(val)
	if err != nil {
		return codec.Decoded{}, err
	}
	t := &d.tape
	root, err := t.ParseOne(src)
	if err != nil {
		return codec.Decoded{}, err
	}
	q := t.Field(root, "q")
	if q < 0 || t.Kind(q) != jsontape.JString || t.Nodes[q].Start == t.Nodes[q].End {
		return codec.Decoded{}, errors.New(`DDL value without a "q" statement`)
	}
	d.evs[i] = event.Event{
		Op:         event.OpDDL,
		Source:     event.TableID{DB: k.schema, Table: k.table},
		DDL:        t.Str(q),
		CommitTime: codec.TSOToMicros(k.ts),
		TxnEnd:     true,
	}
	return codec.Decoded{Kind: codec.KindDDL, Events: d.evs[i : i+1 : i+1], CommitTs: k.ts}, nil
}

func (d *OpenProtocol) row(k openKey, val []byte, ei, n int) (codec.Decoded, error) {
	fail := func(part, column string, err error) error {
		return openFail(codec.TableName(k.schema, k.table), openField(ei, n, part), column, err)
	}
	src, err := d.dec.Decode(val)
	if err != nil {
		return codec.Decoded{}, fail("value", "", err)
	}
	t := &d.tape
	root, err := t.ParseOne(src)
	if err != nil {
		return codec.Decoded{}, fail("value", "", err)
	}
	if t.Kind(root) != jsontape.JObject {
		return codec.Decoded{}, fail("value", "", fmt.Errorf("row value is a JSON %s, not an object", t.Kind(root)))
	}
	u, p, del := t.Field(root, "u"), t.Field(root, "p"), t.Field(root, "d")
	for _, x := range [...]struct {
		n int32
		s string
	}{{u, "u"}, {p, "p"}, {del, "d"}} {
		if !t.IsNull(x.n) && t.Kind(x.n) != jsontape.JObject {
			return codec.Decoded{}, fail("value."+x.s, "", fmt.Errorf("is a JSON %s, not an object", t.Kind(x.n)))
		}
	}
	var op event.Op
	var main int32
	switch {
	case !t.IsNull(del) && t.Count(del) > 0:
		op, main = event.OpDelete, del
	case !t.IsNull(u) && t.Count(u) > 0:
		main = u
		op = event.OpInsert
		if !t.IsNull(p) {
			op = event.OpUpdate
		}
	default:
		return codec.Decoded{}, fail("value", "", errors.New(`row value has no "u" or "d" columns`))
	}
	entry, err := d.schema(k, main, ei, n)
	if err != nil {
		return codec.Decoded{}, err
	}
	tbl := entry.Table
	nc := len(tbl.Columns)
	var vals, before []event.Value
	if op == event.OpUpdate {
		both := d.slab.Values(2 * nc)
		vals, before = both[:nc:nc], both[nc:]
	} else {
		vals = d.slab.Values(nc)
	}
	seen := codec.ClearedFlags(&d.present, nc)
	sect := "u"
	if op == event.OpDelete {
		sect = "d"
	}
	if err := d.decodeCols(main, entry, vals, seen, ei, n, sect); err != nil {
		return codec.Decoded{}, err
	}
	ev := event.Event{Op: op, Source: tbl.ID, Table: tbl, CommitTime: codec.TSOToMicros(k.ts)}
	switch op {
	case event.OpInsert:
		ev.After = vals
	case event.OpDelete:
		ev.Before = vals
	case event.OpUpdate:
		ev.After = vals
		present := codec.ClearedFlags(&d.oldSeen, nc)
		if err := d.decodeCols(p, entry, before, present, ei, n, "p"); err != nil {
			return codec.Decoded{}, err
		}
		// Columns missing from a partial "p" did not change.
		codec.KeepUnchanged(before, vals, present)
		ev.Before = before
	}
	d.evs[ei] = ev
	return codec.Decoded{
		Kind:          codec.KindRow,
		Events:        d.evs[ei : ei+1 : ei+1],
		CommitTs:      k.ts,
		HandleKeyOnly: k.onlyHandleKey,
		ClaimCheck:    k.claimCheck,
	}, nil
}

// schema builds (or finds) the table of a column map.
func (d *OpenProtocol) schema(k openKey, obj int32, ei, n int) (*codec.TableEntry, error) {
	t := &d.tape
	fail := func(column string, err error) error {
		return openFail(codec.TableName(k.schema, k.table), openField(ei, n, "value"), column, err)
	}
	d.cols = d.cols[:0]
	d.names = d.names[:0]
	end := t.Nodes[obj].Next
	for kn := obj + 1; kn < end; {
		c := kn + 1
		cname := t.Raw(kn)
		if t.Nodes[kn].Esc {
			start := len(d.names)
			d.names = jsontape.AppendUnescape(d.names, cname)
			cname = d.names[start:]
		}
		if t.Kind(c) != jsontape.JObject {
			return nil, fail(string(cname), fmt.Errorf("column is a JSON %s, not an object", t.Kind(c)))
		}
		oc := openCol{name: cname}
		var hasType bool
		ce := t.Nodes[c].Next
		for fk := c + 1; fk < ce; {
			fv := fk + 1
			var err error
			switch {
			case t.KeyIs(fk, "t"):
				oc.code, err = t.UintNode(fv)
				hasType = true
			case t.KeyIs(fk, "f"):
				if t.Kind(fv) != jsontape.JNull {
					oc.flags, err = t.UintNode(fv)
					oc.hasFlags = true
				}
			case t.KeyIs(fk, "h"):
				if t.Kind(fv) != jsontape.JNull {
					oc.handle, err = t.BoolNode(fv)
				}
			}
			if err != nil {
				return nil, fail(string(cname), fmt.Errorf("%s: %w", t.Str(fk), err))
			}
			fk = t.Nodes[fv].Next
		}
		if !hasType {
			return nil, fail(string(cname), errors.New(`column lacks its type "t"`))
		}
		if oc.flags&openFlagHandleKey != 0 {
			oc.handle = true
		}
		d.cols = append(d.cols, oc)
		kn = t.Nodes[c].Next
	}
	key := append(d.keyBuf[:0], 'o')
	key = codec.AppendKeyString(key, k.schema)
	key = codec.AppendKeyString(key, k.table)
	for i := range d.cols {
		c := &d.cols[i]
		key = codec.AppendKeyPart(key, c.name)
		key = binary.BigEndian.AppendUint64(key, c.code)
		key = binary.BigEndian.AppendUint64(key, c.flags)
		var b byte
		if c.handle {
			b |= 1
		}
		if c.hasFlags {
			b |= 2
		}
		key = append(key, b)
	}
	d.keyBuf = key
	if e := d.cache.Get(key); e != nil {
		return e, nil
	}
	tbl := &event.Table{ID: event.TableID{DB: k.schema, Table: k.table}, Columns: make([]event.Column, len(d.cols))}
	specs := make([]codec.ColSpec, len(d.cols))
	for i := range d.cols {
		c := &d.cols[i]
		col, spec, err := openColumn(c.code, c.flags)
		if err != nil {
			return nil, fail(string(c.name), err)
		}
		col.Name = string(c.name)
		if tbl.ColumnIndex(col.Name) >= 0 {
			return nil, fail(col.Name, errors.New("duplicate column"))
		}
		// Without flags (old TiCDC) nullability is unknown: assume nullable.
		col.Nullable = c.flags&openFlagNullable != 0 || !c.hasFlags && !c.handle
		if c.handle {
			tbl.Key = append(tbl.Key, i)
		}
		tbl.Columns[i] = col
		specs[i] = spec
	}
	tbl.Seal()
	e := &codec.TableEntry{Table: tbl, Specs: specs}
	d.cache.Put(key, e)
	return e, nil
}

// MySQL protocol type codes used by the open protocol.
const (
	myTiny       = 1
	myShort      = 2
	myLong       = 3
	myFloat      = 4
	myDouble     = 5
	myNull       = 6
	myTimestamp  = 7
	myLonglong   = 8
	myInt24      = 9
	myDate       = 10
	myDuration   = 11
	myDatetime   = 12
	myYear       = 13
	myNewDate    = 14
	myVarchar    = 15
	myBit        = 16
	myVector     = 225
	myJSON       = 245
	myNewDecimal = 246
	myEnum       = 247
	mySet        = 248
	myTinyBlob   = 249
	myMediumBlob = 250
	myLongBlob   = 251
	myBlob       = 252
	myVarString  = 253
	myString     = 254
	myGeometry   = 255
)

// openColumn maps an open-protocol type code and flags to a column. The
// protocol carries no length, precision, scale, fsp or ENUM/SET members.
func openColumn(code, flags uint64) (event.Column, codec.ColSpec, error) {
	var c event.Column
	binary := flags&openFlagBinary != 0
	c.Unsigned = flags&openFlagUnsigned != 0
	var name string
	switch code {
	case myTiny:
		c.Type, name = event.TypeTinyInt, "tinyint"
	case myShort:
		c.Type, name = event.TypeSmallInt, "smallint"
	case myInt24:
		c.Type, name = event.TypeMediumInt, "mediumint"
	case myLong:
		c.Type, name = event.TypeInt, "int"
	case myLonglong:
		c.Type, name = event.TypeBigInt, "bigint"
	case myFloat:
		c.Type, name = event.TypeFloat, "float"
	case myDouble:
		c.Type, name = event.TypeDouble, "double"
	case myNull:
		c.Type, name = event.TypeUnknown, codec.NullOnlyRawType
	case myTimestamp:
		c.Type, name = event.TypeTimestamp, "timestamp"
	case myDate, myNewDate:
		c.Type, name = event.TypeDate, "date"
	case myDuration:
		c.Type, name = event.TypeTime, "time"
	case myDatetime:
		c.Type, name = event.TypeDateTime, "datetime"
	case myYear:
		c.Type, name = event.TypeYear, "year"
	case myVarchar, myVarString:
		c.Type, name = event.TypeVarchar, "varchar"
		if binary {
			c.Type, name = event.TypeVarbinary, "varbinary"
		}
	case myString:
		c.Type, name = event.TypeChar, "char"
		if binary {
			c.Type, name = event.TypeBinary, "binary"
		}
	case myBit:
		c.Type, name = event.TypeBit, "bit"
	case myJSON:
		c.Type, name = event.TypeJSON, "json"
	case myNewDecimal:
		c.Type, name = event.TypeDecimal, "decimal"
	case myEnum:
		c.Type, name = event.TypeEnum, "enum"
	case mySet:
		c.Type, name = event.TypeSet, "set"
	case myTinyBlob, myBlob, myMediumBlob, myLongBlob:
		c.Type = event.TypeText
		var pre string
		switch code {
		case myTinyBlob:
			pre, c.Length = "tiny", codec.LenTiny
		case myBlob:
			c.Length = codec.LenBlob
		case myMediumBlob:
			pre, c.Length = "medium", codec.LenMedium
		default:
			pre, c.Length = "long", codec.LenLong
		}
		name = pre + "text"
		if binary {
			c.Type, name = event.TypeBlob, pre+"blob"
		}
	case myVector:
		c.Type, name = event.TypeVector, "vector"
	default:
		return c, codec.ColSpec{}, fmt.Errorf("unsupported open-protocol column type %d", code)
	}
	if binary && (c.Type == event.TypeBinary || c.Type == event.TypeVarbinary || c.Type == event.TypeBlob) {
		c.Charset = "binary"
	}
	if c.Unsigned && codec.IntBits(c.Type) == 0 && c.Type != event.TypeDecimal && c.Type != event.TypeFloat && c.Type != event.TypeDouble {
		c.Unsigned = false
	}
	c.RawType = name
	if c.Unsigned {
		c.RawType += " unsigned"
	}
	spec := codec.ColSpec{Typ: c.Type, Unsigned: c.Unsigned, Bits: codec.IntBits(c.Type),
		Binary: c.Charset == "binary"}
	codec.IndexOnly(&c, &spec)
	return c, spec, nil
}

func (d *OpenProtocol) decodeCols(obj int32, e *codec.TableEntry, vals []event.Value, present []bool, ei, n int, sect string) error {
	t := &d.tape
	tbl := e.Table
	fail := func(column string, err error) error {
		return openFail(codec.TableName(tbl.ID.DB, tbl.ID.Table), openField(ei, n, "value")+"."+sect, column, err)
	}
	end := t.Nodes[obj].Next
	ci := 0
	for kn := obj + 1; kn < end; {
		c := kn + 1
		cname := t.Raw(kn)
		if t.Nodes[kn].Esc {
			cname = t.Text(kn, d.unesc[:0])
		}
		idx := codec.ColumnIndex(tbl, ci, cname)
		if idx < 0 {
			return fail(string(cname), errors.New("column is not in the row's schema"))
		}
		if present[idx] {
			return fail(string(cname), errors.New("duplicate column"))
		}
		present[idx] = true
		if t.Kind(c) != jsontape.JObject {
			return fail(string(cname), fmt.Errorf("column is a JSON %s, not an object", t.Kind(c)))
		}
		v := t.Field(c, "v")
		val, err := d.value(v, &e.Specs[idx])
		if err != nil {
			return fail(tbl.Columns[idx].Name, err)
		}
		vals[idx] = val
		ci = idx + 1
		kn = t.Nodes[c].Next
	}
	return nil
}

// value converts one open-protocol "v".
func (d *OpenProtocol) value(v int32, spec *codec.ColSpec) (event.Value, error) {
	t := &d.tape
	if t.IsNull(v) {
		return event.Null, nil
	}
	nd := &t.Nodes[v]
	raw := t.Src[nd.Start:nd.End]
	if nd.Kind == jsontape.JString && nd.Esc {
		d.unesc = jsontape.AppendUnescape(d.unesc[:0], raw)
		raw = d.unesc
	}
	isNum := nd.Kind == jsontape.JNumber
	isStr := nd.Kind == jsontape.JString
	switch spec.Typ {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt,
		event.TypeBit, event.TypeYear, event.TypeEnum, event.TypeSet, event.TypeFloat, event.TypeDouble:
		if nd.Kind == jsontape.JTrue || nd.Kind == jsontape.JFalse {
			if nd.Kind == jsontape.JTrue {
				raw = []byte("1")
			} else {
				raw = []byte("0")
			}
		} else if !isNum && !isStr {
			return event.Null, fmt.Errorf("value is a JSON %s, not a number", nd.Kind)
		}
		return codec.DecodeText(spec, raw, &d.ar, &d.vc)
	case event.TypeDecimal:
		if !isNum && !isStr {
			return event.Null, fmt.Errorf("value is a JSON %s, not a decimal", nd.Kind)
		}
		return codec.DecodeText(spec, raw, &d.ar, &d.vc)
	}
	if !isStr {
		return event.Null, fmt.Errorf("value is a JSON %s, not a string", nd.Kind)
	}
	switch spec.Typ {
	case event.TypeChar, event.TypeVarchar:
		return event.String(d.ar.Str(raw)), nil
	case event.TypeBinary, event.TypeVarbinary:
		// TiCDC writes binary CHAR/VARCHAR as a Go-quoted string body.
		s, err := d.goUnquote(raw)
		if err != nil {
			return event.Null, err
		}
		return event.BytesString(s), nil
	case event.TypeText, event.TypeBlob:
		// TEXT and BLOB are base64.
		start := len(d.ar.Buf)
		out, err := base64.StdEncoding.AppendDecode(d.ar.Buf, raw)
		if err != nil {
			return event.Null, fmt.Errorf("base64 value: %w", err)
		}
		d.ar.Buf = out
		s := d.ar.Since(start)
		if spec.Typ == event.TypeText {
			return event.String(s), nil
		}
		return event.BytesString(s), nil
	case event.TypeUnknown:
		return event.String(d.ar.Str(raw)), nil
	}
	return codec.DecodeText(spec, raw, &d.ar, &d.vc)
}

// goUnquote reverses strconv.Quote's escaping (without the quotes) into the arena.
func (d *OpenProtocol) goUnquote(raw []byte) (string, error) {
	start := len(d.ar.Buf)
	s := string(raw)
	for len(s) > 0 {
		if s[0] != '\\' {
			i := 0
			for i < len(s) && s[i] != '\\' {
				i++
			}
			d.ar.Buf = append(d.ar.Buf, s[:i]...)
			s = s[i:]
			continue
		}
		r, multibyte, tail, err := strconv.UnquoteChar(s, '"')
		if err != nil {
			d.ar.Buf = d.ar.Buf[:start]
			return "", fmt.Errorf("binary value %s: bad escape: %w", jsontape.QuoteShort(raw), err)
		}
		if r < 0x100 && !multibyte {
			d.ar.Buf = append(d.ar.Buf, byte(r))
		} else {
			d.ar.Buf = utf8.AppendRune(d.ar.Buf, r)
		}
		s = tail
	}
	return d.ar.Since(start), nil
}
