package ticdc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// Debezium decodes Debezium JSON change events: the envelope with schema
// ({"schema":...,"payload":...}) or without (schemas.enable=false), from
// Debezium connectors or TiCDC's debezium protocol. It is not safe for
// concurrent use.
type Debezium struct {
	vc    valueCtx
	dec   decompressor
	tape  jtape
	ktape jtape
	cache tableCache
	ar    arena

	keyNames []string
	defs     []int32
	inf      []inferred
	present  []bool
	unesc    []byte
	keyBuf   []byte
}

// NewDebezium returns a Debezium JSON decoder.
func NewDebezium(cfg Config) (*Debezium, error) {
	cfg.Protocol = ProtocolDebezium
	cfg, loc, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &Debezium{
		vc:    newValueCtx(loc, false),
		dec:   decompressor{codec: cfg.Compression},
		cache: newTableCache(cfg.MaxCachedTables),
	}, nil
}

func dbzFail(table, field, column string, err error) error {
	return &DecodeError{Protocol: ProtocolDebezium, Table: table, Field: field, Column: column, Err: err}
}

// Decode decodes one message. key is the Kafka key; when it is a JSON
// object (with or without schema), its fields name the key columns.
func (d *Debezium) Decode(key, value []byte) ([]Decoded, error) {
	if len(value) == 0 {
		return []Decoded{{Kind: KindSkip, Reason: "tombstone (empty value)"}}, nil
	}
	t := &d.tape
	root, err := parseObject(&d.dec, t, value)
	if err != nil {
		return nil, dbzFail("", "value", "", err)
	}
	env, sch := root, int32(-1)
	if p := t.field(root, "payload"); p >= 0 {
		switch t.kind(p) {
		case jNull:
			return []Decoded{{Kind: KindSkip, Reason: "tombstone (null payload)"}}, nil
		case jObject:
			env = p
			if s := t.field(root, "schema"); s >= 0 && t.kind(s) == jObject {
				sch = s
			}
		default:
			return nil, dbzFail("", "payload", "", fmt.Errorf("is a JSON %s, not an object", t.kind(p)))
		}
	}

	source := t.field(env, "source")
	if source >= 0 && t.kind(source) != jObject {
		if t.kind(source) != jNull {
			return nil, dbzFail("", "payload.source", "", fmt.Errorf("is a JSON %s, not an object", t.kind(source)))
		}
		source = -1
	}
	db, tbl, err := dbzSourceNames(t, source)
	if err != nil {
		return nil, dbzFail("", "payload.source", "", err)
	}
	name := tableName(db, tbl)
	var commitTs uint64
	var commitTime int64
	connector := ""
	if source >= 0 {
		if n := t.field(source, "commit_ts"); !t.isNull(n) {
			if commitTs, err = t.uintNode(n); err != nil {
				return nil, dbzFail(name, "payload.source.commit_ts", "", err)
			}
		}
		if n := t.field(source, "connector"); n >= 0 && t.kind(n) == jString {
			connector = t.string(n)
		}
		switch {
		case !t.isNull(t.field(source, "ts_us")):
			us, err := t.intNode(t.field(source, "ts_us"))
			if err != nil {
				return nil, dbzFail(name, "payload.source.ts_us", "", err)
			}
			commitTime = us
		case !t.isNull(t.field(source, "ts_ns")):
			ns, err := t.intNode(t.field(source, "ts_ns"))
			if err != nil {
				return nil, dbzFail(name, "payload.source.ts_ns", "", err)
			}
			commitTime = ns / 1000
		case !t.isNull(t.field(source, "ts_ms")):
			ms, err := t.intNode(t.field(source, "ts_ms"))
			if err != nil {
				return nil, dbzFail(name, "payload.source.ts_ms", "", err)
			}
			commitTime = ms * 1000
		}
	}
	if commitTime == 0 {
		if n := t.field(env, "ts_ms"); !t.isNull(n) {
			if ms, err := t.intNode(n); err == nil {
				commitTime = ms * 1000
			}
		}
	}
	if commitTs != 0 {
		commitTime = TSOToMicros(commitTs)
	}

	opn := t.field(env, "op")
	if t.isNull(opn) {
		// Not a row change: schema change, transaction marker, heartbeat.
		if q := t.field(env, "ddl"); q >= 0 && t.kind(q) == jString {
			if t.nodes[q].end == t.nodes[q].start {
				return nil, dbzFail(name, "payload.ddl", "", errors.New("empty DDL statement"))
			}
			if db == "" {
				if n := t.field(env, "databaseName"); n >= 0 && t.kind(n) == jString {
					db = t.string(n)
				}
			}
			ev := event.Event{Op: event.OpDDL, Source: event.TableID{DB: db, Table: tbl},
				DDL: t.string(q), CommitTime: commitTime, TxnEnd: true}
			return []Decoded{{Kind: KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
		}
		if s := t.field(env, "status"); s >= 0 && t.kind(s) == jString {
			return []Decoded{{Kind: KindSkip, Reason: "transaction " + t.string(s) + " marker"}}, nil
		}
		if t.field(env, "ts_ms") >= 0 && t.count(env) == 1 {
			return []Decoded{{Kind: KindSkip, Reason: "heartbeat"}}, nil
		}
		return nil, dbzFail(name, "payload", "", errors.New(`not a Debezium change event: no "op" or "ddl"`))
	}
	if t.kind(opn) != jString {
		return nil, dbzFail(name, "payload.op", "", fmt.Errorf("is a JSON %s, not a string", t.kind(opn)))
	}
	var op event.Op
	switch o := t.raw(opn); string(o) {
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
			DDL: "TRUNCATE TABLE " + quoteIdent(db) + "." + quoteIdent(tbl), CommitTime: commitTime, TxnEnd: true}
		return []Decoded{{Kind: KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
	case "m":
		if connector == "TiCDC" && commitTs != 0 {
			return []Decoded{{Kind: KindWatermark, Watermark: commitTs}}, nil
		}
		return []Decoded{{Kind: KindSkip, Reason: "debezium message event (op m)"}}, nil
	default:
		return nil, dbzFail(name, "payload.op", "", fmt.Errorf("unknown op %s", quoteShort(o)))
	}

	before, after := t.field(env, "before"), t.field(env, "after")
	for _, x := range [...]struct {
		n int32
		s string
	}{{before, "payload.before"}, {after, "payload.after"}} {
		if !t.isNull(x.n) && t.kind(x.n) != jObject {
			return nil, dbzFail(name, x.s, "", fmt.Errorf("is a JSON %s, not an object", t.kind(x.n)))
		}
	}
	main, mainField := after, "payload.after"
	if op == event.OpDelete {
		main, mainField = before, "payload.before"
	}
	if t.isNull(main) {
		return nil, dbzFail(name, mainField, "", fmt.Errorf("%s event without %s", op, mainField))
	}

	d.parseKeyNames(key)
	other := int32(-1)
	if op == event.OpUpdate && !t.isNull(before) {
		other = before
	}
	entry, err := d.schema(db, tbl, sch, main, other, op == event.OpDelete)
	if err != nil {
		return nil, err
	}
	tb := entry.table
	size := int(t.nodes[main].end - t.nodes[main].start)
	if op == event.OpUpdate && !t.isNull(before) {
		size += int(t.nodes[before].end - t.nodes[before].start)
	}
	d.ar.reserve(size)
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
		if !t.isNull(before) {
			if ev.Before, err = d.row(before, entry, "payload.before"); err != nil {
				return nil, err
			}
		}
	}
	return []Decoded{{Kind: KindRow, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
}

// dbzSourceNames reads the table name from source: db (MySQL, TiCDC), or
// schema when the connector has one (PostgreSQL, SQL Server).
func dbzSourceNames(t *jtape, source int32) (string, string, error) {
	if source < 0 {
		return "", "", nil
	}
	var db, tbl string
	var err error
	if n := t.field(source, "db"); n >= 0 {
		if db, err = stringOrNull(t, n); err != nil {
			return "", "", fmt.Errorf("db %w", err)
		}
	}
	if n := t.field(source, "schema"); n >= 0 && t.kind(n) == jString {
		if s := t.string(n); s != "" {
			db = s
		}
	}
	if n := t.field(source, "table"); n >= 0 {
		if tbl, err = stringOrNull(t, n); err != nil {
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
	root, err := kt.parseOne(key)
	if err != nil || kt.kind(root) != jObject {
		return
	}
	obj := root
	if p := kt.field(root, "payload"); p >= 0 {
		if kt.kind(p) != jObject {
			return
		}
		obj = p
	}
	end := kt.nodes[obj].next
	for k := obj + 1; k < end; {
		d.keyNames = append(d.keyNames, kt.string(k))
		k = kt.nodes[k+1].next
	}
}

// schema returns the table for the event: from the envelope schema when
// present, else inferred from the row's values.
func (d *Debezium) schema(db, tbl string, sch, main, other int32, preferBefore bool) (*tableEntry, error) {
	t := &d.tape
	name := tableName(db, tbl)
	key := d.keyBuf[:0]
	d.defs = d.defs[:0]
	if sch >= 0 {
		fields := t.field(sch, "fields")
		if fields < 0 || t.kind(fields) != jArray {
			return nil, dbzFail(name, "schema.fields", "", errors.New("missing or not an array"))
		}
		// The before and after structs are the same row schema; use the one
		// of the image being decoded, or any non-empty one.
		var rowDef, before, after int32 = -1, -1, -1
		for e := fields + 1; e < t.nodes[fields].next; e = t.nodes[e].next {
			if t.kind(e) != jObject {
				continue
			}
			f := t.field(e, "field")
			fs := t.field(e, "fields")
			if f < 0 || t.kind(f) != jString || fs < 0 || t.kind(fs) != jArray {
				continue
			}
			switch {
			case t.keyIs(f, "after"):
				after = fs
			case t.keyIs(f, "before"):
				before = fs
			}
		}
		rowDef = after
		if preferBefore || after < 0 || t.count(after) == 0 && before >= 0 {
			rowDef = before
		}
		if rowDef >= 0 && t.count(rowDef) == 0 && after >= 0 && t.count(after) > 0 {
			rowDef = after
		}
		if rowDef < 0 {
			return nil, dbzFail(name, "schema.fields", "", errors.New("no before/after struct schema"))
		}
		d.defs = t.elems(rowDef, d.defs)
		key = append(key, 'd')
		key = appendKeyString(key, db)
		key = appendKeyString(key, tbl)
		key = appendKeyPart(key, t.raw(rowDef))
	} else {
		key = append(key, 'D')
		key = appendKeyString(key, db)
		key = appendKeyString(key, tbl)
		d.inf = inferRow(t, main, other, d.inf)
		key = appendInferredKey(key, t, main, d.inf)
	}
	for _, k := range d.keyNames {
		key = appendKeyString(key, k)
	}
	d.keyBuf = key
	if e := d.cache.get(key); e != nil {
		return e, nil
	}

	tb := &event.Table{ID: event.TableID{DB: db, Table: tbl}}
	var specs []colSpec
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
		specs, err = appendInferredColumns(tb, t, main, d.inf, func(column string, err error) error {
			return dbzFail(name, "payload", column, err)
		})
		if err != nil {
			return nil, err
		}
	}
	e := sealEntry(tb, specs, d.keyNames)
	d.cache.put(key, e)
	return e, nil
}

// row decodes a before/after object. Columns absent from the object are NULL.
func (d *Debezium) row(obj int32, e *tableEntry, field string) ([]event.Value, error) {
	t := &d.tape
	tb := e.table
	vals := make([]event.Value, len(tb.Columns))
	n := len(tb.Columns)
	present := clearedFlags(&d.present, n)
	end := t.nodes[obj].next
	ci := 0
	for k := obj + 1; k < end; {
		v := k + 1
		cname := t.raw(k)
		if t.nodes[k].esc {
			cname = t.text(k, nil)
		}
		idx := columnIndex(tb, ci, cname)
		if idx < 0 {
			return nil, dbzFail(tableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("column is not in the schema"))
		}
		if present[idx] {
			return nil, dbzFail(tableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("duplicate column"))
		}
		present[idx] = true
		val, err := genericValue(t, v, &e.specs[idx], &d.ar, &d.vc, &d.unesc)
		if err != nil {
			return nil, dbzFail(tableName(tb.ID.DB, tb.ID.Table), field, tb.Columns[idx].Name, err)
		}
		vals[idx] = val
		ci = idx + 1
		k = t.nodes[v].next
	}
	return vals, nil
}

// dbzParam returns a schema parameter as a string ("" when absent).
func dbzParam(t *jtape, params int32, key string) string {
	if params < 0 || t.kind(params) != jObject {
		return ""
	}
	n := t.field(params, key)
	if n < 0 {
		return ""
	}
	switch t.kind(n) {
	case jString:
		return t.string(n)
	case jNumber:
		return string(t.raw(n))
	}
	return ""
}

// dbzColumn derives a column from a Debezium field schema: the logical
// type name decides the encoding, and the source column type (TiCDC's
// tidb_type or Debezium's __debezium.source.column.type parameter, when
// present) refines the family.
func dbzColumn(t *jtape, def int32) (event.Column, colSpec, error) {
	var c event.Column
	var s colSpec
	if t.kind(def) != jObject {
		return c, s, fmt.Errorf("field schema is a JSON %s, not an object", t.kind(def))
	}
	str := func(k string) string {
		if n := t.field(def, k); n >= 0 && t.kind(n) == jString {
			return t.string(n)
		}
		return ""
	}
	c.Name = str("field")
	if c.Name == "" {
		return c, s, errors.New(`field schema without "field"`)
	}
	typ, lname := str("type"), str("name")
	params := t.field(def, "parameters")
	c.Nullable = true
	if n := t.field(def, "optional"); n >= 0 && t.kind(n) == jFalse {
		c.Nullable = false
	}
	switch lname {
	case "io.debezium.time.Date", "org.apache.kafka.connect.data.Date":
		c.Type, s.enc = event.TypeDate, encDateDays
	case "io.debezium.time.Time", "org.apache.kafka.connect.data.Time":
		c.Type, s.enc = event.TypeTime, encTimeMillis
	case "io.debezium.time.MicroTime":
		c.Type, s.enc = event.TypeTime, encTimeMicros
	case "io.debezium.time.NanoTime":
		c.Type, s.enc = event.TypeTime, encTimeNanos
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
		c.Type, s.enc = event.TypeDateTime, encDateTimeMillis
	case "io.debezium.time.MicroTimestamp":
		c.Type, s.enc = event.TypeDateTime, encDateTimeMicros
	case "io.debezium.time.NanoTimestamp":
		c.Type, s.enc = event.TypeDateTime, encDateTimeNanos
	case "io.debezium.time.ZonedTimestamp", "io.debezium.time.IsoTimestamp":
		c.Type, s.enc = event.TypeTimestamp, encZoned
	case "io.debezium.time.IsoDate":
		c.Type, s.enc = event.TypeDate, encText
	case "io.debezium.time.Year":
		c.Type, s.enc = event.TypeYear, encYear
	case "io.debezium.data.Json":
		c.Type, s.enc = event.TypeJSON, encJSONText
	case "io.debezium.data.Enum", "io.debezium.data.EnumSet":
		c.Type, s.enc = event.TypeEnum, encEnumText
		if lname == "io.debezium.data.EnumSet" {
			c.Type, s.enc = event.TypeSet, encSetText
		}
		if allowed := dbzParam(t, params, "allowed"); allowed != "" {
			c.Elems = strings.Split(allowed, ",")
		}
	case "io.debezium.data.Bits":
		c.Type, s.enc = event.TypeBit, encBitsBytes
		if n, err := strconv.Atoi(dbzParam(t, params, "length")); err == nil && n > 0 && n <= 64 {
			c.Length = uint32(n)
			s.bits = n
		}
	case "org.apache.kafka.connect.data.Decimal":
		c.Type, s.enc = event.TypeDecimal, encDecimalBytes
		sc, err := strconv.Atoi(dbzParam(t, params, "scale"))
		if err != nil || sc < 0 || sc > 65 {
			return c, s, fmt.Errorf("Decimal schema scale %q", dbzParam(t, params, "scale"))
		}
		s.scale = sc
		c.Scale = uint8(min(sc, 30))
		if p, err := strconv.Atoi(dbzParam(t, params, "connect.decimal.precision")); err == nil && p > 0 && p <= 65 {
			c.Precision = uint8(p)
		}
	case "io.debezium.data.VariableScaleDecimal":
		c.Type, s.enc = event.TypeDecimal, encVarDecimal
	case "io.debezium.data.geometry.Geometry", "io.debezium.data.geometry.Point", "io.debezium.data.geometry.Geography":
		c.Type, s.enc = event.TypeGeometry, encGeometry
		c.Charset = "binary"
	case "io.debezium.data.TiDBVectorFloat32":
		c.Type, s.enc = event.TypeVector, encVectorText
	default:
		switch typ {
		case "int8":
			c.Type, s.enc = event.TypeTinyInt, encInt
		case "int16":
			c.Type, s.enc = event.TypeSmallInt, encInt
		case "int32":
			c.Type, s.enc = event.TypeInt, encInt
		case "int64":
			c.Type, s.enc = event.TypeBigInt, encInt
		case "float32", "float":
			c.Type, s.enc = event.TypeFloat, encFloat32
		case "float64", "double":
			c.Type, s.enc = event.TypeDouble, encFloat64
		case "boolean":
			c.Type, s.enc, c.Length = event.TypeBit, encBool, 1
		case "string":
			c.Type, s.enc = event.TypeVarchar, encString
		case "bytes":
			c.Type, s.enc, c.Charset = event.TypeBlob, encBytes, "binary"
		case "struct", "array", "map":
			c.Type, s.enc = event.TypeJSON, encJSONText
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
	s.typ, s.unsigned = c.Type, c.Unsigned
	if b := intBits(c.Type); b != 0 {
		s.bits = b
	} else if c.Type == event.TypeBit && c.Length > 0 {
		s.bits = int(c.Length)
	}
	s.binary = c.Charset == "binary"
	if s.elems == nil {
		s.elems = c.Elems
	}
	return c, s, nil
}

// refineBySourceType narrows the family with the source column type when
// the wire encoding can carry it.
func refineBySourceType(c *event.Column, s *colSpec, srcType, length, scale string) {
	src, _, err := parseMySQLType(strings.ToLower(srcType))
	if err != nil {
		return
	}
	e := s.enc
	switch {
	case e == encString && src.Type == event.TypeEnum:
		e = encEnumText
	case e == encString && src.Type == event.TypeSet:
		e = encSetText
	case e == encString && src.Type == event.TypeJSON:
		e = encJSONText
	case e == encString && src.Type == event.TypeDecimal:
		e = encDecimalText
	case e == encString && (src.Type == event.TypeDate || src.Type == event.TypeDateTime || src.Type == event.TypeTime):
		e = encText
	case (e == encFloat32 || e == encFloat64) && src.Type == event.TypeDecimal:
		// TiCDC's debezium writes DECIMAL as a double: keep the text.
		e = encDecimalText
	}
	if !encFits(e, src.Type) {
		return
	}
	s.enc = e
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
func encFits(e enc, t event.Type) bool {
	isInt := intBits(t) != 0
	switch e {
	case encInt:
		return isInt || t == event.TypeBit || t == event.TypeYear || t == event.TypeDecimal
	case encBool:
		return isInt || t == event.TypeBit
	case encFloat32, encFloat64:
		return t == event.TypeFloat || t == event.TypeDouble
	case encDecimalText, encDecimalBytes, encVarDecimal:
		return t == event.TypeDecimal || isInt || t == event.TypeFloat || t == event.TypeDouble
	case encString:
		switch t {
		case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeUnknown:
			return true
		}
	case encBytes:
		switch t {
		case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry:
			return true
		}
	case encBitsBytes:
		return t == event.TypeBit
	case encDateDays:
		return t == event.TypeDate
	case encTimeMillis, encTimeMicros, encTimeNanos:
		return t == event.TypeTime
	case encDateTimeMillis, encDateTimeMicros, encDateTimeNanos:
		return t == event.TypeDateTime || t == event.TypeTimestamp
	case encZoned:
		return t == event.TypeTimestamp
	case encYear:
		return t == event.TypeYear
	case encJSONText:
		return t == event.TypeJSON
	case encEnumText:
		return t == event.TypeEnum
	case encSetText:
		return t == event.TypeSet
	case encText:
		return t == event.TypeDate || t == event.TypeDateTime || t == event.TypeTime
	case encVectorText:
		return t == event.TypeVector
	case encGeometry:
		return t == event.TypeGeometry
	}
	return false
}
