package ticdc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/odsync/odsync/event"
)

// CanalJSON decodes canal-json messages: TiCDC's flavor (NewCanalJSON),
// with or without the TiDB extension, and Alibaba Canal's flat message
// (NewCanalFlat). It is not safe for concurrent use.
type CanalJSON struct {
	proto      string
	flat       bool // Alibaba Canal flavor: ENUM/SET as member text
	requireExt bool
	vc         valueCtx
	dec        decompressor
	tape       jtape
	aux        jtape // type maps kept raw on tape
	roots      []int32
	cache      tableCache

	// Per-message scratch, reused.
	cols     []canalCol
	rows     []int32
	olds     []int32
	present  []bool  // scratch: columns seen in a data row
	oldSeen  []bool  // scratch: columns present in a partial old row
	valNodes []int32 // scratch: value node of each column in a data row
	names    []byte  // unescaped names with escapes (append-only per message)
	unesc    []byte  // unescaped value scratch
	keyBuf   []byte
	fastBuf  []byte
	ar       arena
}

type canalCol struct {
	name    []byte
	typ     []byte // mysqlType text, nil when missing
	sqlType int64
	hasSQL  bool
}

// canalFields are the node indexes of a message's top-level fields (-1: absent).
type canalFields struct {
	database, table, pkNames, isDdl, typ, es, sql, sqlType, mysqlType, data, old, tidb int32
}

// NewCanalJSON returns a decoder for TiCDC's canal-json protocol.
func NewCanalJSON(cfg Config) (*CanalJSON, error) {
	cfg.Protocol = ProtocolCanalJSON
	return newCanal(cfg, false)
}

// NewCanalFlat returns a decoder for Alibaba Canal's flat messages
// (canal-json written by Canal itself).
func NewCanalFlat(cfg Config) (*CanalJSON, error) {
	cfg.Protocol = ProtocolCanal
	return newCanal(cfg, true)
}

func newCanal(cfg Config, flat bool) (*CanalJSON, error) {
	cfg, loc, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &CanalJSON{
		proto:      cfg.Protocol,
		flat:       flat,
		requireExt: cfg.RequireTiDBExtension,
		vc:         newValueCtx(loc, !flat),
		dec:        decompressor{codec: cfg.Compression},
		cache:      newTableCache(cfg.MaxCachedTables),
	}, nil
}

func (d *CanalJSON) fail(db, table, field, column string, err error) error {
	return &DecodeError{Protocol: d.proto, Table: tableName(db, table), Field: field, Column: column, Err: err}
}

// failf is fail with the table names taken from the message.
func (d *CanalJSON) failf(f canalFields, field, column string, err error) error {
	db, tbl, _ := d.names2(f)
	return d.fail(db, tbl, field, column, err)
}

// Decode decodes one Kafka message value (the key is not used by
// canal-json). A value normally holds one JSON message; several
// concatenated messages yield one Decoded each.
func (d *CanalJSON) Decode(_, value []byte) ([]Decoded, error) {
	if len(value) == 0 {
		return nil, d.fail("", "", "value", "", errors.New("empty message"))
	}
	src, err := d.dec.decode(value)
	if err != nil {
		return nil, d.fail("", "", "value", "", err)
	}
	d.roots, err = d.tape.parseObjects(src, d.roots[:0], canalFlatField)
	if err != nil {
		return nil, d.fail("", "", "value", "", err)
	}
	if len(d.roots) == 1 {
		dd, box, err := d.decodeRoot(d.roots[0])
		if err != nil {
			return nil, err
		}
		if box != nil {
			box.d[0] = dd
			return box.d[:], nil
		}
		return []Decoded{dd}, nil
	}
	out := make([]Decoded, 0, len(d.roots))
	for _, root := range d.roots {
		dd, _, err := d.decodeRoot(root)
		if err != nil {
			return nil, err
		}
		out = append(out, dd)
	}
	return out, nil
}

// canalFlatField names the type maps: they are kept as one raw node and
// read only when the schema is not cached.
func canalFlatField(key []byte) bool {
	return string(key) == "mysqlType" || string(key) == "sqlType"
}

// rowBox holds the result of a one-row message in one allocation.
type rowBox struct {
	d [1]Decoded
	e [1]event.Event
}

func (d *CanalJSON) decodeRoot(root int32) (Decoded, *rowBox, error) {
	t := &d.tape
	if t.kind(root) != jObject {
		return Decoded{}, nil, d.fail("", "", "value", "", fmt.Errorf("message is a JSON %s, not an object", t.kind(root)))
	}
	f := canalFields{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
	end := t.nodes[root].next
	for k := root + 1; k < end; {
		v := k + 1
		key := t.raw(k)
		if t.nodes[k].esc {
			key = t.text(k, d.unesc[:0])
		}
		switch string(key) {
		case "database":
			f.database = v
		case "table":
			f.table = v
		case "pkNames":
			f.pkNames = v
		case "isDdl":
			f.isDdl = v
		case "type":
			f.typ = v
		case "es":
			f.es = v
		case "sql":
			f.sql = v
		case "sqlType":
			f.sqlType = v
		case "mysqlType":
			f.mysqlType = v
		case "data":
			f.data = v
		case "old":
			f.old = v
		case "_tidb":
			f.tidb = v
		}
		k = t.nodes[v].next
	}

	// TiDB extension.
	var commitTs, watermark uint64
	var onlyHandleKey, hasExt bool
	var claimCheck string
	if !t.isNull(f.tidb) {
		if t.kind(f.tidb) != jObject {
			return Decoded{}, nil, d.failf(f, "_tidb", "", fmt.Errorf("is a JSON %s, not an object", t.kind(f.tidb)))
		}
		hasExt = true
		var err error
		end := t.nodes[f.tidb].next
		for k := f.tidb + 1; k < end; {
			v := k + 1
			switch {
			case t.keyIs(k, "commitTs"):
				if commitTs, err = t.uintNode(v); err != nil {
					return Decoded{}, nil, d.failf(f, "_tidb.commitTs", "", err)
				}
			case t.keyIs(k, "watermarkTs"):
				if watermark, err = t.uintNode(v); err != nil {
					return Decoded{}, nil, d.failf(f, "_tidb.watermarkTs", "", err)
				}
			case t.keyIs(k, "onlyHandleKey"):
				if t.kind(v) != jNull {
					if onlyHandleKey, err = t.boolNode(v); err != nil {
						return Decoded{}, nil, d.failf(f, "_tidb.onlyHandleKey", "", err)
					}
				}
			case t.keyIs(k, "claimCheckLocation"):
				if t.kind(v) == jString {
					claimCheck = t.string(v)
				} else if t.kind(v) != jNull {
					return Decoded{}, nil, d.failf(f, "_tidb.claimCheckLocation", "", fmt.Errorf("is a JSON %s, not a string", t.kind(v)))
				}
			}
			k = t.nodes[v].next
		}
	}

	isDDL := false
	if !t.isNull(f.isDdl) {
		var err error
		if isDDL, err = t.boolNode(f.isDdl); err != nil {
			return Decoded{}, nil, d.failf(f, "isDdl", "", err)
		}
	}
	var typ []byte
	if !t.isNull(f.typ) {
		if t.kind(f.typ) != jString {
			return Decoded{}, nil, d.failf(f, "type", "", fmt.Errorf("is a JSON %s, not a string", t.kind(f.typ)))
		}
		typ = t.text(f.typ, nil)
	}
	var es int64
	if !t.isNull(f.es) {
		var err error
		if es, err = t.intNode(f.es); err != nil {
			return Decoded{}, nil, d.failf(f, "es", "", err)
		}
	}
	commitTime := es * 1000
	if commitTs != 0 {
		commitTime = TSOToMicros(commitTs)
	}

	switch {
	case isDDL:
		db, tbl, err := d.names2(f)
		if err != nil {
			return Decoded{}, nil, err
		}
		if t.isNull(f.sql) || t.kind(f.sql) != jString || t.nodes[f.sql].start == t.nodes[f.sql].end {
			return Decoded{}, nil, d.fail(db, tbl, "sql", "", errors.New("DDL message without a sql statement"))
		}
		if d.requireExt && commitTs == 0 {
			return Decoded{}, nil, d.fail(db, tbl, "_tidb.commitTs", "", errors.New("missing (require_tidb_extension is set)"))
		}
		ev := event.Event{
			Op:         event.OpDDL,
			Source:     event.TableID{DB: db, Table: tbl},
			DDL:        t.string(f.sql),
			CommitTime: commitTime,
			TxnEnd:     true,
		}
		return Decoded{Kind: KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}, nil, nil
	case string(typ) == "TIDB_WATERMARK":
		if watermark == 0 {
			return Decoded{}, nil, d.fail("", "", "_tidb.watermarkTs", "", errors.New("TIDB_WATERMARK message without watermarkTs"))
		}
		return Decoded{Kind: KindWatermark, Watermark: watermark}, nil, nil
	case t.isNull(f.data) && t.isNull(f.old) && claimCheck != "":
		// Claim-check reference without the handle-key row (older TiCDC).
		return Decoded{Kind: KindRow, CommitTs: commitTs, ClaimCheck: claimCheck}, nil, nil
	}

	var op event.Op
	switch string(typ) {
	case "INSERT":
		op = event.OpInsert
	case "UPDATE":
		op = event.OpUpdate
	case "DELETE":
		op = event.OpDelete
	default:
		db, tbl, _ := d.names2(f)
		return Decoded{}, nil, d.fail(db, tbl, "type", "", fmt.Errorf("unsupported event type %s", quoteShort(typ)))
	}
	if d.requireExt && !hasExt || d.requireExt && commitTs == 0 {
		db, tbl, _ := d.names2(f)
		return Decoded{}, nil, d.fail(db, tbl, "_tidb.commitTs", "", errors.New("missing (require_tidb_extension is set)"))
	}
	evs, box, err := d.rowEvents(f, op, commitTime)
	if err != nil {
		return Decoded{}, nil, err
	}
	return Decoded{Kind: KindRow, Events: evs, CommitTs: commitTs, HandleKeyOnly: onlyHandleKey, ClaimCheck: claimCheck}, box, nil
}

// names2 returns the database and table names as new strings.
func (d *CanalJSON) names2(f canalFields) (string, string, error) {
	t := &d.tape
	var db, tbl string
	if !t.isNull(f.database) {
		if t.kind(f.database) != jString {
			return "", "", d.fail("", "", "database", "", fmt.Errorf("is a JSON %s, not a string", t.kind(f.database)))
		}
		db = t.string(f.database)
	}
	if !t.isNull(f.table) {
		if t.kind(f.table) != jString {
			return "", "", d.fail(db, "", "table", "", fmt.Errorf("is a JSON %s, not a string", t.kind(f.table)))
		}
		tbl = t.string(f.table)
	}
	return db, tbl, nil
}

// rowEvents decodes the rows of a DML message.
func (d *CanalJSON) rowEvents(f canalFields, op event.Op, commitTime int64) ([]event.Event, *rowBox, error) {
	t := &d.tape
	if (!t.isNull(f.database) && t.kind(f.database) != jString) || (!t.isNull(f.table) && t.kind(f.table) != jString) {
		_, _, err := d.names2(f)
		return nil, nil, err
	}

	// Rows: data (after image; the deleted row for DELETE), old (before image of UPDATE).
	d.rows = d.rows[:0]
	d.olds = d.olds[:0]
	if !t.isNull(f.data) {
		if t.kind(f.data) != jArray {
			return nil, nil, d.failf(f, "data", "", fmt.Errorf("is a JSON %s, not an array", t.kind(f.data)))
		}
		d.rows = t.elems(f.data, d.rows)
	}
	if !t.isNull(f.old) {
		if t.kind(f.old) != jArray {
			return nil, nil, d.failf(f, "old", "", fmt.Errorf("is a JSON %s, not an array", t.kind(f.old)))
		}
		d.olds = t.elems(f.old, d.olds)
	}
	rows := d.rows
	if op == event.OpDelete && len(rows) == 0 {
		// Some producers put the deleted row in old.
		rows = d.olds
	}
	if len(rows) == 0 {
		return nil, nil, d.failf(f, "data", "", fmt.Errorf("%s message without row data", op))
	}
	for i, r := range rows {
		if t.kind(r) != jObject {
			return nil, nil, d.failf(f, fmt.Sprintf("data[%d]", i), "", fmt.Errorf("is a JSON %s, not an object", t.kind(r)))
		}
	}
	if op == event.OpUpdate && len(d.olds) > len(rows) {
		return nil, nil, d.failf(f, "old", "", fmt.Errorf("%d old rows for %d data rows", len(d.olds), len(rows)))
	}
	for i, r := range d.olds {
		if t.kind(r) != jObject && t.kind(r) != jNull {
			return nil, nil, d.failf(f, fmt.Sprintf("old[%d]", i), "", fmt.Errorf("is a JSON %s, not an object", t.kind(r)))
		}
	}

	entry, err := d.schema(f, rows[0])
	if err != nil {
		return nil, nil, err
	}
	tbl := entry.table
	n := len(tbl.Columns)

	// One arena for all strings of the message.
	size := 0
	for _, r := range rows {
		size += d.stringBytes(r, entry)
	}
	if op == event.OpUpdate {
		for _, r := range d.olds {
			size += d.stringBytes(r, entry)
		}
	}
	d.ar.reserve(size)

	var box *rowBox
	var evs []event.Event
	if len(rows) == 1 {
		box = new(rowBox)
		evs = box.e[:]
	} else {
		evs = make([]event.Event, len(rows))
	}
	for i, r := range rows {
		hasOld := op == event.OpUpdate && i < len(d.olds) && t.kind(d.olds[i]) == jObject
		var vals, before []event.Value
		if hasOld {
			// One allocation for both images.
			both := make([]event.Value, 2*n)
			vals, before = both[:n:n], both[n:]
		} else {
			vals = make([]event.Value, n)
		}
		field := "data"
		if op == event.OpDelete && len(d.rows) == 0 {
			field = "old"
		}
		seen := clearedFlags(&d.present, n)
		var valNodes []int32
		if hasOld {
			if cap(d.valNodes) < n {
				d.valNodes = make([]int32, n)
			}
			valNodes = d.valNodes[:n]
		}
		if err := d.decodeRow(r, entry, vals, seen, field, i, valNodes, nil); err != nil {
			return nil, nil, err
		}
		for c := range seen {
			if !seen[c] {
				return nil, nil, d.fail(tbl.ID.DB, tbl.ID.Table, fmt.Sprintf("%s[%d]", field, i), tbl.Columns[c].Name,
					errors.New("column missing from the row (the first row has it)"))
			}
		}
		ev := event.Event{Op: op, Source: tbl.ID, Table: tbl, CommitTime: commitTime}
		switch op {
		case event.OpInsert:
			ev.After = vals
		case event.OpDelete:
			ev.Before = vals
		case event.OpUpdate:
			ev.After = vals
			if hasOld {
				present := clearedFlags(&d.oldSeen, n)
				if err := d.decodeRow(d.olds[i], entry, before, present, "old", i, valNodes, vals); err != nil {
					return nil, nil, err
				}
				// Columns missing from a partial `old` did not change.
				keepUnchanged(before, vals, present)
				ev.Before = before
			}
		}
		evs[i] = ev
	}
	return evs, box, nil
}

// stringBytes sums the raw lengths of the row's values that keep strings.
func (d *CanalJSON) stringBytes(row int32, e *tableEntry) int {
	t := &d.tape
	if t.kind(row) != jObject {
		return 0
	}
	size := 0
	end := t.nodes[row].next
	ci := 0
	for k := row + 1; k < end; {
		v := k + 1
		nd := &t.nodes[v]
		if nd.kind == jString {
			if ci < len(e.specs) && !e.specs[ci].materializes() {
				// skip: number-like text
			} else {
				size += int(nd.end - nd.start)
			}
		}
		ci++
		k = t.nodes[v].next
	}
	return size
}

// decodeRow decodes one row object into vals (aligned with the table
// columns) and marks the columns found in present.
//
// For data rows valNodes (when not nil) receives each column's value node.
// For old rows, ref holds the data row's values: a value written exactly as
// in data is taken from ref without decoding it again.
func (d *CanalJSON) decodeRow(row int32, e *tableEntry, vals []event.Value, present []bool, field string, ri int,
	valNodes []int32, ref []event.Value) error {
	t := &d.tape
	tbl := e.table
	end := t.nodes[row].next
	ci := 0
	for k := row + 1; k < end; {
		v := k + 1
		name := t.raw(k)
		if t.nodes[k].esc {
			name = t.text(k, d.unesc[:0])
		}
		idx := columnIndex(tbl, ci, name)
		if idx < 0 {
			return d.fail(tbl.ID.DB, tbl.ID.Table, fmt.Sprintf("%s[%d]", field, ri), string(name),
				errors.New("column is not in the row's schema (data)"))
		}
		if present[idx] {
			return d.fail(tbl.ID.DB, tbl.ID.Table, fmt.Sprintf("%s[%d]", field, ri), string(name), errors.New("duplicate column"))
		}
		present[idx] = true
		ci = idx + 1
		if ref != nil {
			if dn := valNodes[idx]; dn >= 0 && t.nodes[dn].kind == t.nodes[v].kind && string(t.raw(dn)) == string(t.raw(v)) {
				vals[idx] = ref[idx]
				k = t.nodes[v].next
				continue
			}
		} else if valNodes != nil {
			valNodes[idx] = v
		}
		val, err := d.value(v, &e.specs[idx])
		if err != nil {
			return d.fail(tbl.ID.DB, tbl.ID.Table, fmt.Sprintf("%s[%d]", field, ri), tbl.Columns[idx].Name, err)
		}
		vals[idx] = val
		k = t.nodes[v].next
	}
	return nil
}

// value converts one canal-json value node.
func (d *CanalJSON) value(v int32, spec *colSpec) (event.Value, error) {
	t := &d.tape
	nd := &t.nodes[v]
	switch nd.kind {
	case jNull:
		return event.Null, nil
	case jString:
		raw := t.src[nd.start:nd.end]
		if nd.esc {
			d.unesc = appendUnescape(d.unesc[:0], raw)
			raw = d.unesc
		}
		return decodeText(spec, raw, &d.ar, &d.vc)
	case jNumber:
		// Canal writes strings; tolerate producers that write numbers.
		return decodeText(spec, t.src[nd.start:nd.end], &d.ar, &d.vc)
	case jTrue, jFalse:
		if spec.typ == event.TypeBit || intBits(spec.typ) != 0 {
			if nd.kind == jTrue {
				return decodeText(spec, []byte("1"), &d.ar, &d.vc)
			}
			return decodeText(spec, []byte("0"), &d.ar, &d.vc)
		}
	}
	return event.Null, fmt.Errorf("value is a JSON %s, not a string", nd.kind)
}

// schema returns the cached table for the message, building it on a miss.
// Columns follow the order of the first row's keys, which is the table's
// column order (TiCDC writes data in column order; mysqlType is a map and
// may come in any order).
func (d *CanalJSON) schema(f canalFields, row0 int32) (*tableEntry, error) {
	t := &d.tape
	flavor := byte('t')
	if d.flat {
		flavor = 'c'
	}
	// Fast path: the message's exact bytes for the names, the column order
	// and the mysqlType map. TiCDC writes mysqlType from a Go map, so its
	// order varies, but only over a few rotations: each variant gets its own
	// key, all pointing at one entry.
	fast := append(d.fastBuf[:0], 'F', flavor)
	for _, n := range [3]int32{f.database, f.table, f.pkNames} {
		if n < 0 {
			fast = appendKeyPart(fast, nil)
		} else {
			fast = appendKeyPart(fast, t.raw(n))
		}
	}
	end := t.nodes[row0].next
	for k := row0 + 1; k < end; k = t.nodes[k+1].next {
		fast = appendKeyPart(fast, t.raw(k))
	}
	if f.mysqlType >= 0 {
		fast = appendKeyPart(fast, t.raw(f.mysqlType))
	}
	d.fastBuf = fast
	if e := d.cache.get(fast); e != nil {
		return e, nil
	}

	d.cols = d.cols[:0]
	d.names = d.names[:0]
	for k := row0 + 1; k < end; {
		v := k + 1
		name := t.raw(k)
		if t.nodes[k].esc {
			start := len(d.names)
			d.names = appendUnescape(d.names, name)
			name = d.names[start:]
		}
		d.cols = append(d.cols, canalCol{name: name})
		k = t.nodes[v].next
	}
	if !t.isNull(f.mysqlType) {
		if err := d.matchTypes(f, f.mysqlType, false); err != nil {
			return nil, err
		}
	}
	// sqlType only matters where mysqlType is missing or ambiguous (TiDB's
	// var_string does not say whether it is binary); integer codes vary
	// with the values, so it is not read otherwise.
	needSQL := false
	for i := range d.cols {
		if c := &d.cols[i]; c.typ == nil || isVarString(c.typ) {
			needSQL = true
			break
		}
	}
	if needSQL && !t.isNull(f.sqlType) {
		if err := d.matchTypes(f, f.sqlType, true); err != nil {
			return nil, err
		}
	}

	// Canonical key: flavor, names, key columns, and every column's type in
	// column order.
	key := append(d.keyBuf[:0], 'C', flavor)
	for _, n := range [3]int32{f.database, f.table, f.pkNames} {
		if n < 0 {
			key = appendKeyPart(key, nil)
		} else {
			key = appendKeyPart(key, t.raw(n))
		}
	}
	for i := range d.cols {
		c := &d.cols[i]
		key = appendKeyPart(key, c.name)
		key = appendKeyPart(key, c.typ)
		switch {
		case c.typ == nil && c.hasSQL:
			key = append(key, 2, byte(c.sqlType>>8), byte(c.sqlType))
		case c.hasSQL && isBinarySQLType(c.sqlType):
			key = append(key, 1)
		default:
			key = append(key, 0)
		}
	}
	d.keyBuf = key
	e := d.cache.get(key)
	if e == nil {
		var err error
		if e, err = d.buildTable(f); err != nil {
			return nil, err
		}
		d.cache.put(key, e)
	}
	if !needSQL {
		d.cache.put(d.fastBuf, e)
	}
	return e, nil
}

// isVarString reports whether a mysqlType names TiDB's var_string.
func isVarString(typ []byte) bool {
	const vs = "var_string"
	return len(typ) >= len(vs) && strings.EqualFold(string(typ[:len(vs)]), vs)
}

func isBinarySQLType(code int64) bool {
	switch code {
	case 2004, -2, -3, -4:
		return true
	}
	return false
}

// matchTypes attaches mysqlType (or sqlType) entries to the collected columns.
func (d *CanalJSON) matchTypes(f canalFields, node int32, sql bool) error {
	field := "mysqlType"
	if sql {
		field = "sqlType"
	}
	t, obj := &d.tape, node
	switch t.kind(node) {
	case jRaw:
		// Kept raw by the parser: read its members now.
		var err error
		if obj, err = d.aux.parseOne(t.raw(node)); err != nil {
			return d.failf(f, field, "", err)
		}
		t = &d.aux
	case jObject:
	default:
		return d.failf(f, field, "", fmt.Errorf("is a JSON %s, not an object", t.kind(node)))
	}
	end := t.nodes[obj].next
	pos := 0
	for k := obj + 1; k < end; {
		v := k + 1
		name := t.raw(k)
		if t.nodes[k].esc {
			name = t.text(k, d.unesc[:0])
		}
		idx := -1
		if pos < len(d.cols) && string(d.cols[pos].name) == string(name) {
			idx = pos
		} else {
			for j := range d.cols {
				if string(d.cols[j].name) == string(name) {
					idx = j
					break
				}
			}
		}
		k = t.nodes[v].next
		if idx < 0 {
			// A type for a column the row does not carry (e.g. handle-key-only
			// rows with a full type map): not needed.
			continue
		}
		pos = idx + 1
		c := &d.cols[idx]
		if sql {
			if t.kind(v) == jNull {
				continue
			}
			code, err := t.intNode(v)
			if err != nil {
				return d.failf(f, field, string(name), err)
			}
			c.sqlType, c.hasSQL = code, true
			continue
		}
		if t.kind(v) != jString {
			return d.failf(f, field, string(name), fmt.Errorf("is a JSON %s, not a string", t.kind(v)))
		}
		if t.nodes[v].esc {
			start := len(d.names)
			d.names = appendUnescape(d.names, t.raw(v))
			c.typ = d.names[start:]
		} else {
			c.typ = t.raw(v)
		}
		if c.typ == nil {
			c.typ = []byte{}
		}
	}
	return nil
}

// buildTable derives the table schema and column decoders from the
// collected columns.
func (d *CanalJSON) buildTable(f canalFields) (*tableEntry, error) {
	t := &d.tape
	db, tblName, err := d.names2(f)
	if err != nil {
		return nil, err
	}
	tbl := &event.Table{ID: event.TableID{DB: db, Table: tblName}, Columns: make([]event.Column, len(d.cols))}
	specs := make([]colSpec, len(d.cols))
	for i := range d.cols {
		c := &d.cols[i]
		name := string(c.name)
		var col event.Column
		var spec colSpec
		switch {
		case c.typ != nil:
			col, spec, err = parseMySQLType(string(c.typ))
			if err != nil {
				return nil, d.fail(db, tblName, "mysqlType", name, err)
			}
			if !d.flat {
				indexOnly(&col, &spec)
			}
			if c.hasSQL && isBinarySQLType(c.sqlType) && !spec.binary {
				switch col.Type {
				case event.TypeChar:
					col.Type = event.TypeBinary
				case event.TypeVarchar:
					col.Type = event.TypeVarbinary
				case event.TypeText:
					col.Type = event.TypeBlob
				}
				if col.Type != spec.typ {
					spec.typ, spec.binary, col.Charset = col.Type, true, "binary"
				}
			}
		case c.hasSQL:
			var ok bool
			col, spec, ok = javaSQLType(c.sqlType)
			if !ok {
				return nil, d.fail(db, tblName, "sqlType", name, fmt.Errorf("unknown sqlType %d and no mysqlType", c.sqlType))
			}
		default:
			return nil, d.fail(db, tblName, "mysqlType", name, errors.New("column has neither mysqlType nor sqlType"))
		}
		col.Name = name
		col.Nullable = true
		if tbl.ColumnIndex(name) >= 0 {
			return nil, d.fail(db, tblName, "data[0]", name, errors.New("duplicate column"))
		}
		tbl.Columns[i] = col
		specs[i] = spec
	}
	if !t.isNull(f.pkNames) {
		if t.kind(f.pkNames) != jArray {
			return nil, d.fail(db, tblName, "pkNames", "", fmt.Errorf("is a JSON %s, not an array", t.kind(f.pkNames)))
		}
		var pks []int32
		pks = t.elems(f.pkNames, pks)
		for _, p := range pks {
			if t.kind(p) != jString {
				return nil, d.fail(db, tblName, "pkNames", "", fmt.Errorf("element is a JSON %s, not a string", t.kind(p)))
			}
			if idx := tbl.ColumnIndex(t.string(p)); idx >= 0 {
				tbl.Key = append(tbl.Key, idx)
				tbl.Columns[idx].Nullable = false
			}
		}
	}
	tbl.Seal()
	return &tableEntry{table: tbl, specs: specs}, nil
}
