package debezium

import (
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"
	"strconv"
	"strings"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// Debezium decodes Debezium JSON change events: the envelope with schema
// ({"schema":...,"payload":...}) or without (schemas.enable=false), from
// Debezium connectors or TiCDC's debezium protocol. It is not safe for
// concurrent use.
type Debezium struct {
	vc    codec.ValueCtx
	dec   codec.Decompressor
	tape  jsontape.Tape
	ktape jsontape.Tape
	cache codec.TableCache
	ar    codec.Arena

	keyNames []string
	defs     []int32
	inf      []codec.Inferred
	present  []bool
	unesc    []byte
	keyBuf   []byte
}

// NewDebezium returns a Debezium JSON decoder.
func NewDebezium(cfg codec.Config) (*Debezium, error) {
	cfg.Protocol = codec.ProtocolDebezium
	cfg, loc, err := codec.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &Debezium{
		vc:    codec.NewValueCtx(loc, false),
		dec:   codec.Decompressor{Codec: cfg.Compression},
		cache: codec.NewTableCache(cfg.MaxCachedTables),
	}, nil
}

func dbzFail(table, field, column string, err error) error {
	return &codec.DecodeError{Protocol: codec.ProtocolDebezium, Table: table, Field: field, Column: column, Err: err}
}

// Decode decodes one message. key is the Kafka key; when it is a JSON
// object (with or without schema), its fields name the key columns.
func (d *Debezium) Decode(key, value []byte) ([]codec.Decoded, error) {
	if len(value) == 0 {
		return []codec.Decoded{{Kind: codec.KindSkip, Reason: "tombstone (empty value)"}}, nil
	}
	t := &d.tape
	root, err := codec.ParseObject(&d.dec, t, value)
	if err != nil {
		return nil, dbzFail("", "value", "", err)
	}
	env, sch := root, int32(-1)
	if p := t.Field(root, "payload"); p >= 0 {
		switch t.Kind(p) {
		case jsontape.JNull:
			return []codec.Decoded{{Kind: codec.KindSkip, Reason: "tombstone (null payload)"}}, nil
		case jsontape.JObject:
			env = p
			if s := t.Field(root, "schema"); s >= 0 && t.Kind(s) == jsontape.JObject {
				sch = s
			}
		default:
			return nil, dbzFail("", "payload", "", fmt.Errorf("is a JSON %s, not an object", t.Kind(p)))
		}
	}

	source := t.Field(env, "source")
	if source >= 0 && t.Kind(source) != jsontape.JObject {
		if t.Kind(source) != jsontape.JNull {
			return nil, dbzFail("", "payload.source", "", fmt.Errorf("is a JSON %s, not an object", t.Kind(source)))
		}
		source = -1
	}
	db, tbl, err := dbzSourceNames(t, source)
	if err != nil {
		return nil, dbzFail("", "payload.source", "", err)
	}
	name := codec.TableName(db, tbl)
	var commitTs uint64
	var commitTime int64
	connector := ""
	if source >= 0 {
		if n := t.Field(source, "commit_ts"); !t.IsNull(n) {
			if commitTs, err = t.UintNode(n); err != nil {
				return nil, dbzFail(name, "payload.source.commit_ts", "", err)
			}
		}
		if n := t.Field(source, "connector"); n >= 0 && t.Kind(n) == jsontape.JString {
			connector = t.Str(n)
		}
		switch {
		case !t.IsNull(t.Field(source, "ts_us")):
			us, err := t.IntNode(t.Field(source, "ts_us"))
			if err != nil {
				return nil, dbzFail(name, "payload.source.ts_us", "", err)
			}
			commitTime = us
		case !t.IsNull(t.Field(source, "ts_ns")):
			ns, err := t.IntNode(t.Field(source, "ts_ns"))
			if err != nil {
				return nil, dbzFail(name, "payload.source.ts_ns", "", err)
			}
			commitTime = ns / 1000
		case !t.IsNull(t.Field(source, "ts_ms")):
			ms, err := t.IntNode(t.Field(source, "ts_ms"))
			if err != nil {
				return nil, dbzFail(name, "payload.source.ts_ms", "", err)
			}
			commitTime = ms * 1000
		}
	}
	if commitTime == 0 {
		if n := t.Field(env, "ts_ms"); !t.IsNull(n) {
			if ms, err := t.IntNode(n); err == nil {
				commitTime = ms * 1000
			}
		}
	}
	if commitTs != 0 {
		commitTime = codec.TSOToMicros(commitTs)
	}

	opn := t.Field(env, "op")
	if t.IsNull(opn) {
		// Not a row change: schema change, transaction marker, heartbeat.
		if q := t.Field(env, "ddl"); q >= 0 && t.Kind(q) == jsontape.JString {
			if t.Nodes[q].End == t.Nodes[q].Start {
				return nil, dbzFail(name, "payload.ddl", "", errors.New("empty DDL statement"))
			}
			if db == "" {
				if n := t.Field(env, "databaseName"); n >= 0 && t.Kind(n) == jsontape.JString {
					db = t.Str(n)
				}
			}
			ev := event.Event{Op: event.OpDDL, Source: event.TableID{DB: db, Table: tbl},
				DDL: t.Str(q), CommitTime: commitTime, TxnEnd: true}
			return []codec.Decoded{{Kind: codec.KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
		}
		if s := t.Field(env, "status"); s >= 0 && t.Kind(s) == jsontape.JString {
			return []codec.Decoded{{Kind: codec.KindSkip, Reason: "transaction " + t.Str(s) + " marker"}}, nil
		}
		if t.Field(env, "ts_ms") >= 0 && t.Count(env) == 1 {
			return []codec.Decoded{{Kind: codec.KindSkip, Reason: "heartbeat"}}, nil
		}
		return nil, dbzFail(name, "payload", "", errors.New(`not a Debezium change event: no "op" or "ddl"`))
	}
	if t.Kind(opn) != jsontape.JString {
		return nil, dbzFail(name, "payload.op", "", fmt.Errorf("is a JSON %s, not a string", t.Kind(opn)))
	}
	var op event.Op
	switch o := t.Raw(opn); string(o) {
	case "c":
		op = event.OpInsert
	case "r":
		op = event.OpRead
	case "u":
		op = event.OpUpdate
	case "d":
		op = event.OpDelete
	case "t":
		ev := event.Event{Op: event.OpDDL, Source: event.TableID{DB: db, Table: tbl},
			DDL: "TRUNCATE TABLE " + codec.QuoteIdent(db) + "." + codec.QuoteIdent(tbl), CommitTime: commitTime, TxnEnd: true}
		return []codec.Decoded{{Kind: codec.KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
	case "m":
		if connector == "TiCDC" && commitTs != 0 {
			return []codec.Decoded{{Kind: codec.KindWatermark, Watermark: commitTs}}, nil
		}
		return []codec.Decoded{{Kind: codec.KindSkip, Reason: "debezium message event (op m)"}}, nil
	default:
		return nil, dbzFail(name, "payload.op", "", fmt.Errorf("unknown op %s", jsontape.QuoteShort(o)))
	}

	before, after := t.Field(env, "before"), t.Field(env, "after")
	for _, x := range [...]struct {
		n int32
		s string
	}{{before, "payload.before"}, {after, "payload.after"}} {
		if !t.IsNull(x.n) && t.Kind(x.n) != jsontape.JObject {
			return nil, dbzFail(name, x.s, "", fmt.Errorf("is a JSON %s, not an object", t.Kind(x.n)))
		}
	}
	main, mainField := after, "payload.after"
	if op == event.OpDelete {
		main, mainField = before, "payload.before"
	}
	if t.IsNull(main) {
		return nil, dbzFail(name, mainField, "", fmt.Errorf("%s event without %s", op, mainField))
	}

	d.parseKeyNames(key)
	other := int32(-1)
	if op == event.OpUpdate && !t.IsNull(before) {
		other = before
	}
	entry, err := d.schema(db, tbl, sch, main, other, op == event.OpDelete)
	if err != nil {
		return nil, err
	}
	tb := entry.Table
	size := int(t.Nodes[main].End - t.Nodes[main].Start)
	if op == event.OpUpdate && !t.IsNull(before) {
		size += int(t.Nodes[before].End - t.Nodes[before].Start)
	}
	d.ar.Reserve(size)
	mainVals, err := d.row(main, entry, mainField)
	if err != nil {
		return nil, err
	}
	ev := event.Event{Op: op, Source: tb.ID, Table: tb, CommitTime: commitTime}
	switch op {
	case event.OpInsert, event.OpRead:
		ev.After = mainVals
	case event.OpDelete:
		ev.Before = mainVals
	case event.OpUpdate:
		ev.After = mainVals
		if !t.IsNull(before) {
			if ev.Before, err = d.row(before, entry, "payload.before"); err != nil {
				return nil, err
			}
		}
	}
	return []codec.Decoded{{Kind: codec.KindRow, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
}

// dbzSourceNames reads the table name from source: db (MySQL, TiCDC), or
// schema when the connector has one (PostgreSQL, SQL Server).
func dbzSourceNames(t *jsontape.Tape, source int32) (string, string, error) {
	if source < 0 {
		return "", "", nil
	}
	var db, tbl string
	var err error
	if n := t.Field(source, "db"); n >= 0 {
		if db, err = jsontape.StringOrNull(t, n); err != nil {
			return "", "", fmt.Errorf("db %w", err)
		}
	}
	if n := t.Field(source, "schema"); n >= 0 && t.Kind(n) == jsontape.JString {
		if s := t.Str(n); s != "" {
			db = s
		}
	}
	if n := t.Field(source, "table"); n >= 0 {
		if tbl, err = jsontape.StringOrNull(t, n); err != nil {
			return "", "", fmt.Errorf("table %w", err)
		}
	}
	return db, tbl, nil
}

// parseKeyNames collects the key column names from a JSON Kafka key. A key
// that is not a JSON object names no columns.
func (d *Debezium) parseKeyNames(key []byte) {
	d.keyNames = d.keyNames[:0]
	if len(key) == 0 {
		return
	}
	kt := &d.ktape
	root, err := kt.ParseOne(key)
	if err != nil || kt.Kind(root) != jsontape.JObject {
		return
	}
	obj := root
	if p := kt.Field(root, "payload"); p >= 0 {
		if kt.Kind(p) != jsontape.JObject {
			return
		}
		obj = p
	}
	end := kt.Nodes[obj].Next
	for k := obj + 1; k < end; {
		d.keyNames = append(d.keyNames, kt.Str(k))
		k = kt.Nodes[k+1].Next
	}
}

// schema returns the table for the event: from the envelope schema when
// present, else inferred from the row's values.
func (d *Debezium) schema(db, tbl string, sch, main, other int32, preferBefore bool) (*codec.TableEntry, error) {
	t := &d.tape
	name := codec.TableName(db, tbl)
	key := d.keyBuf[:0]
	d.defs = d.defs[:0]
	if sch >= 0 {
		fields := t.Field(sch, "fields")
		if fields < 0 || t.Kind(fields) != jsontape.JArray {
			return nil, dbzFail(name, "schema.fields", "", errors.New("missing or not an array"))
		}
		// The before and after structs are the same row schema; use the one
		// of the image being decoded, or any non-empty one.
		var rowDef, before, after int32 = -1, -1, -1
		for e := fields + 1; e < t.Nodes[fields].Next; e = t.Nodes[e].Next {
			if t.Kind(e) != jsontape.JObject {
				continue
			}
			f := t.Field(e, "field")
			fs := t.Field(e, "fields")
			if f < 0 || t.Kind(f) != jsontape.JString || fs < 0 || t.Kind(fs) != jsontape.JArray {
				continue
			}
			switch {
			case t.KeyIs(f, "after"):
				after = fs
			case t.KeyIs(f, "before"):
				before = fs
			}
		}
		rowDef = after
		if preferBefore || after < 0 || t.Count(after) == 0 && before >= 0 {
			rowDef = before
		}
		if rowDef >= 0 && t.Count(rowDef) == 0 && after >= 0 && t.Count(after) > 0 {
			rowDef = after
		}
		if rowDef < 0 {
			return nil, dbzFail(name, "schema.fields", "", errors.New("no before/after struct schema"))
		}
		d.defs = t.Elems(rowDef, d.defs)
		key = append(key, 'd')
		key = codec.AppendKeyString(key, db)
		key = codec.AppendKeyString(key, tbl)
		key = codec.AppendKeyPart(key, t.Raw(rowDef))
	} else {
		key = append(key, 'D')
		key = codec.AppendKeyString(key, db)
		key = codec.AppendKeyString(key, tbl)
		d.inf = codec.InferRow(t, main, other, d.inf)
		key = codec.AppendInferredKey(key, t, main, d.inf)
	}
	for _, k := range d.keyNames {
		key = codec.AppendKeyString(key, k)
	}
	d.keyBuf = key
	if e := d.cache.Get(key); e != nil {
		return e, nil
	}

	tb := &event.Table{ID: event.TableID{DB: db, Table: tbl}}
	var specs []codec.ColSpec
	if sch >= 0 {
		for i, def := range d.defs {
			col, spec, err := dbzColumn(t, def)
			if err != nil {
				return nil, dbzFail(name, fmt.Sprintf("schema field %d", i), col.Name, err)
			}
			if tb.ColumnIndex(col.Name) >= 0 {
				return nil, dbzFail(name, "schema", col.Name, errors.New("duplicate column"))
			}
			tb.Columns = append(tb.Columns, col)
			specs = append(specs, spec)
		}
	} else {
		var err error
		specs, err = codec.AppendInferredColumns(tb, t, main, d.inf, func(column string, err error) error {
			return dbzFail(name, "payload", column, err)
		})
		if err != nil {
			return nil, err
		}
	}
	e := codec.SealEntry(tb, specs, d.keyNames)
	d.cache.Put(key, e)
	return e, nil
}

// row decodes a before/after object. Columns absent from the object are NULL.
func (d *Debezium) row(obj int32, e *codec.TableEntry, field string) ([]event.Value, error) {
	t := &d.tape
	tb := e.Table
	vals := make([]event.Value, len(tb.Columns))
	n := len(tb.Columns)
	present := codec.ClearedFlags(&d.present, n)
	end := t.Nodes[obj].Next
	ci := 0
	for k := obj + 1; k < end; {
		v := k + 1
		cname := t.Raw(k)
		if t.Nodes[k].Esc {
			cname = t.Text(k, nil)
		}
		idx := codec.ColumnIndex(tb, ci, cname)
		if idx < 0 {
			return nil, dbzFail(codec.TableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("column is not in the schema"))
		}
		if present[idx] {
			return nil, dbzFail(codec.TableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("duplicate column"))
		}
		present[idx] = true
		val, err := codec.GenericValue(t, v, &e.Specs[idx], &d.ar, &d.vc, &d.unesc)
		if err != nil {
			return nil, dbzFail(codec.TableName(tb.ID.DB, tb.ID.Table), field, tb.Columns[idx].Name, err)
		}
		vals[idx] = val
		ci = idx + 1
		k = t.Nodes[v].Next
	}
	return vals, nil
}

// dbzParam returns a schema parameter as a string ("" when absent).
func dbzParam(t *jsontape.Tape, params int32, key string) string {
	if params < 0 || t.Kind(params) != jsontape.JObject {
		return ""
	}
	n := t.Field(params, key)
	if n < 0 {
		return ""
	}
	switch t.Kind(n) {
	case jsontape.JString:
		return t.Str(n)
	case jsontape.JNumber:
		return string(t.Raw(n))
	}
	return ""
}

// dbzColumn derives a column from a Debezium field schema: the logical
// type name decides the encoding, and the source column type (TiCDC's
// tidb_type or Debezium's __debezium.source.column.type parameter, when
// present) refines the family.
func dbzColumn(t *jsontape.Tape, def int32) (event.Column, codec.ColSpec, error) {
	var c event.Column
	var s codec.ColSpec
	if t.Kind(def) != jsontape.JObject {
		return c, s, fmt.Errorf("field schema is a JSON %s, not an object", t.Kind(def))
	}
	str := func(k string) string {
		if n := t.Field(def, k); n >= 0 && t.Kind(n) == jsontape.JString {
			return t.Str(n)
		}
		return ""
	}
	c.Name = str("field")
	if c.Name == "" {
		return c, s, errors.New(`field schema without "field"`)
	}
	typ, lname := str("type"), str("name")
	params := t.Field(def, "parameters")
	c.Nullable = true
	if n := t.Field(def, "optional"); n >= 0 && t.Kind(n) == jsontape.JFalse {
		c.Nullable = false
	}
	switch lname {
	case "io.debezium.time.Date", "org.apache.kafka.connect.data.Date":
		c.Type, s.Enc = event.TypeDate, codec.EncDateDays
	case "io.debezium.time.Time", "org.apache.kafka.connect.data.Time":
		c.Type, s.Enc = event.TypeTime, codec.EncTimeMillis
	case "io.debezium.time.MicroTime":
		c.Type, s.Enc = event.TypeTime, codec.EncTimeMicros
	case "io.debezium.time.NanoTime":
		c.Type, s.Enc = event.TypeTime, codec.EncTimeNanos
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
		c.Type, s.Enc = event.TypeDateTime, codec.EncDateTimeMillis
	case "io.debezium.time.MicroTimestamp":
		c.Type, s.Enc = event.TypeDateTime, codec.EncDateTimeMicros
	case "io.debezium.time.NanoTimestamp":
		c.Type, s.Enc = event.TypeDateTime, codec.EncDateTimeNanos
	case "io.debezium.time.ZonedTimestamp", "io.debezium.time.IsoTimestamp":
		c.Type, s.Enc = event.TypeTimestamp, codec.EncZoned
	case "io.debezium.time.IsoDate":
		c.Type, s.Enc = event.TypeDate, codec.EncText
	case "io.debezium.time.Year":
		c.Type, s.Enc = event.TypeYear, codec.EncYear
	case "io.debezium.data.Json":
		c.Type, s.Enc = event.TypeJSON, codec.EncJSONText
	case "io.debezium.data.Enum", "io.debezium.data.EnumSet":
		c.Type, s.Enc = event.TypeEnum, codec.EncEnumText
		if lname == "io.debezium.data.EnumSet" {
			c.Type, s.Enc = event.TypeSet, codec.EncSetText
		}
		if allowed := dbzParam(t, params, "allowed"); allowed != "" {
			c.Elems = strings.Split(allowed, ",")
		}
	case "io.debezium.data.Bits":
		c.Type, s.Enc = event.TypeBit, codec.EncBitsBytes
		if n, err := strconv.Atoi(dbzParam(t, params, "length")); err == nil && n > 0 && n <= 64 {
			c.Length = uint32(n)
			s.Bits = n
		}
	case "org.apache.kafka.connect.data.Decimal":
		c.Type, s.Enc = event.TypeDecimal, codec.EncDecimalBytes
		sc, err := strconv.Atoi(dbzParam(t, params, "scale"))
		if err != nil || sc < 0 || sc > 65 {
			return c, s, fmt.Errorf("Decimal schema scale %q", dbzParam(t, params, "scale"))
		}
		s.Scale = sc
		c.Scale = uint8(min(sc, 30))
		if p, err := strconv.Atoi(dbzParam(t, params, "connect.decimal.precision")); err == nil && p > 0 && p <= 65 {
			c.Precision = uint8(p)
		}
	case "io.debezium.data.VariableScaleDecimal":
		c.Type, s.Enc = event.TypeDecimal, codec.EncVarDecimal
	case "io.debezium.data.geometry.Geometry", "io.debezium.data.geometry.Point", "io.debezium.data.geometry.Geography":
		c.Type, s.Enc = event.TypeGeometry, codec.EncGeometry
		c.Charset = "binary"
	case "io.debezium.data.TiDBVectorFloat32":
		c.Type, s.Enc = event.TypeVector, codec.EncVectorText
	default:
		switch typ {
		case "int8":
			c.Type, s.Enc = event.TypeTinyInt, codec.EncInt
		case "int16":
			c.Type, s.Enc = event.TypeSmallInt, codec.EncInt
		case "int32":
			c.Type, s.Enc = event.TypeInt, codec.EncInt
		case "int64":
			c.Type, s.Enc = event.TypeBigInt, codec.EncInt
		case "float32", "float":
			c.Type, s.Enc = event.TypeFloat, codec.EncFloat32
		case "float64", "double":
			c.Type, s.Enc = event.TypeDouble, codec.EncFloat64
		case "boolean":
			c.Type, s.Enc, c.Length = event.TypeBit, codec.EncBool, 1
		case "string":
			c.Type, s.Enc = event.TypeVarchar, codec.EncString
		case "bytes":
			c.Type, s.Enc, c.Charset = event.TypeBlob, codec.EncBytes, "binary"
		case "struct", "array", "map":
			c.Type, s.Enc = event.TypeJSON, codec.EncJSONText
		default:
			return c, s, fmt.Errorf("unsupported Debezium field type %q (name %q)", typ, lname)
		}
	}
	c.RawType = typ
	if lname != "" {
		c.RawType = typ + " " + lname
	}
	srcType := str("tidb_type")
	if srcType == "" {
		srcType = dbzParam(t, params, "__debezium.source.column.type")
	}
	if srcType != "" {
		refineBySourceType(&c, &s, srcType, dbzParam(t, params, "__debezium.source.column.length"),
			dbzParam(t, params, "__debezium.source.column.scale"))
	}
	s.Typ, s.Unsigned = c.Type, c.Unsigned
	if b := codec.IntBits(c.Type); b != 0 {
		s.Bits = b
	} else if c.Type == event.TypeBit && c.Length > 0 {
		s.Bits = int(c.Length)
	}
	s.Binary = c.Charset == "binary"
	if s.Elems == nil {
		s.Elems = c.Elems
	}
	return c, s, nil
}

// refineBySourceType narrows the family with the source column type when
// the wire encoding can carry it.
func refineBySourceType(c *event.Column, s *codec.ColSpec, srcType, length, scale string) {
	src, _, err := codec.ParseMySQLType(strings.ToLower(srcType))
	if err != nil {
		return
	}
	e := s.Enc
	switch {
	case e == codec.EncString && src.Type == event.TypeEnum:
		e = codec.EncEnumText
	case e == codec.EncString && src.Type == event.TypeSet:
		e = codec.EncSetText
	case e == codec.EncString && src.Type == event.TypeJSON:
		e = codec.EncJSONText
	case e == codec.EncString && src.Type == event.TypeDecimal:
		e = codec.EncDecimalText
	case e == codec.EncString && (src.Type == event.TypeDate || src.Type == event.TypeDateTime || src.Type == event.TypeTime):
		e = codec.EncText
	case (e == codec.EncFloat32 || e == codec.EncFloat64) && src.Type == event.TypeDecimal:
		// TiCDC's debezium writes DECIMAL as a double: keep the text.
		e = codec.EncDecimalText
	}
	if !encFits(e, src.Type) {
		return
	}
	s.Enc = e
	c.Type, c.Unsigned = src.Type, src.Unsigned
	if src.Charset != "" {
		c.Charset = src.Charset
	} else if c.Charset == "binary" && (src.Type == event.TypeChar || src.Type == event.TypeVarchar || src.Type == event.TypeText) {
		c.Charset = ""
	}
	if src.Length != 0 && (strings.Contains(srcType, "(") || src.Type == event.TypeText || src.Type == event.TypeBlob) {
		c.Length = src.Length
	}
	if n, err := strconv.Atoi(length); err == nil && n > 0 {
		switch src.Type {
		case event.TypeDecimal:
			if n <= 65 {
				c.Precision = uint8(n)
			}
		case event.TypeChar, event.TypeVarchar, event.TypeBinary, event.TypeVarbinary, event.TypeBit:
			c.Length = uint32(n)
		}
	}
	if n, err := strconv.Atoi(scale); err == nil && n >= 0 {
		switch src.Type {
		case event.TypeDecimal:
			if n <= 30 {
				c.Scale = uint8(n)
			}
		case event.TypeDateTime, event.TypeTimestamp, event.TypeTime:
			if n <= 6 {
				c.Scale = uint8(n)
			}
		}
	}
	if src.Type == event.TypeDecimal && src.Precision != 0 {
		c.Precision, c.Scale = src.Precision, src.Scale
	}
	if len(src.Elems) > 0 {
		c.Elems = src.Elems
	}
	c.RawType = srcType
}

// encFits reports whether values in encoding e can represent family t.
func encFits(e codec.Enc, t event.Type) bool {
	isInt := codec.IntBits(t) != 0
	switch e {
	case codec.EncInt:
		return isInt || t == event.TypeBit || t == event.TypeYear || t == event.TypeDecimal
	case codec.EncBool:
		return isInt || t == event.TypeBit
	case codec.EncFloat32, codec.EncFloat64:
		return t == event.TypeFloat || t == event.TypeDouble
	case codec.EncDecimalText, codec.EncDecimalBytes, codec.EncVarDecimal:
		return t == event.TypeDecimal || isInt || t == event.TypeFloat || t == event.TypeDouble
	case codec.EncString:
		switch t {
		case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeUnknown:
			return true
		}
	case codec.EncBytes:
		switch t {
		case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry:
			return true
		}
	case codec.EncBitsBytes:
		return t == event.TypeBit
	case codec.EncDateDays:
		return t == event.TypeDate
	case codec.EncTimeMillis, codec.EncTimeMicros, codec.EncTimeNanos:
		return t == event.TypeTime
	case codec.EncDateTimeMillis, codec.EncDateTimeMicros, codec.EncDateTimeNanos:
		return t == event.TypeDateTime || t == event.TypeTimestamp
	case codec.EncZoned:
		return t == event.TypeTimestamp
	case codec.EncYear:
		return t == event.TypeYear
	case codec.EncJSONText:
		return t == event.TypeJSON
	case codec.EncEnumText:
		return t == event.TypeEnum
	case codec.EncSetText:
		return t == event.TypeSet
	case codec.EncText:
		return t == event.TypeDate || t == event.TypeDateTime || t == event.TypeTime
	case codec.EncVectorText:
		return t == event.TypeVector
	case codec.EncGeometry:
		return t == event.TypeGeometry
	}
	return false
}
