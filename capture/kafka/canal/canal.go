package canal

import (
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"
	"strings"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// CanalJSON decodes canal-json messages: TiCDC's flavor (NewCanalJSON),
// with or without the TiDB extension, and Alibaba Canal's flat message
// (NewCanalFlat). It is not safe for concurrent use.
type CanalJSON struct {
	proto      string
	flat       bool // Alibaba Canal flavor: ENUM/SET as member text
	requireExt bool
	vc         codec.ValueCtx
	dec        codec.Decompressor
	tape       jsontape.Tape
	aux        jsontape.Tape // type maps kept raw on tape
	roots      []int32
	Cache      codec.TableCache

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
	ar       codec.Arena
	slab     codec.Slab
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
func NewCanalJSON(cfg codec.Config) (*CanalJSON, error) {
	cfg.Protocol = codec.ProtocolCanalJSON
	return newCanal(cfg, false)
}

// NewCanalFlat returns a decoder for Alibaba Canal's flat messages
// (canal-json written by Canal itself).
func NewCanalFlat(cfg codec.Config) (*CanalJSON, error) {
	cfg.Protocol = codec.ProtocolCanal
	return newCanal(cfg, true)
}

func newCanal(cfg codec.Config, flat bool) (*CanalJSON, error) {
	cfg, loc, err := codec.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &CanalJSON{
		proto:      cfg.Protocol,
		flat:       flat,
		requireExt: cfg.RequireTiDBExtension,
		vc:         codec.NewValueCtx(loc, !flat),
		dec:        codec.Decompressor{Codec: cfg.Compression},
		Cache:      codec.NewTableCache(cfg.MaxCachedTables),
	}, nil
}

func (d *CanalJSON) fail(db, table, field, column string, err error) error {
	return &codec.DecodeError{Protocol: d.proto, Table: codec.TableName(db, table), Field: field, Column: column, Err: err}
}

// failf is fail with the table names taken from the message.
func (d *CanalJSON) failf(f canalFields, field, column string, err error) error {
	db, tbl, _ := d.names2(f)
	return d.fail(db, tbl, field, column, err)
}

// Decode decodes one Kafka message value (the key is not used by
// canal-json). A value normally holds one JSON message; several
// concatenated messages yield one Decoded each.
func (d *CanalJSON) Decode(_, value []byte) ([]codec.Decoded, error) {
	if len(value) == 0 {
		return nil, d.fail("", "", "value", "", errors.New("empty message"))
	}
	src, err := d.dec.Decode(value)
	if err != nil {
		return nil, d.fail("", "", "value", "", err)
	}
	d.roots, err = d.tape.ParseObjects(src, d.roots[:0], canalFlatField)
	if err != nil {
		return nil, d.fail("", "", "value", "", err)
	}
	out := d.slab.Units(len(d.roots))
	for i, root := range d.roots {
		dd, err := d.decodeRoot(root)
		if err != nil {
			return nil, err
		}
		out[i] = dd
	}
	return out, nil
}

// canalFlatField names the type maps: they are kept as one raw node and
// read only when the schema is not cached.
func canalFlatField(key []byte) bool {
	return string(key) == "mysqlType" || string(key) == "sqlType"
}

func (d *CanalJSON) decodeRoot(root int32) (codec.Decoded, error) {
	t := &d.tape
	if t.Kind(root) != jsontape.JObject {
		return codec.Decoded{}, d.fail("", "", "value", "", fmt.Errorf("message is a JSON %s, not an object", t.Kind(root)))
	}
	f := canalFields{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
	end := t.Nodes[root].Next
	for k := root + 1; k < end; {
		v := k + 1
		key := t.Raw(k)
		if t.Nodes[k].Esc {
			key = t.Text(k, d.unesc[:0])
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
		k = t.Nodes[v].Next
	}

	// TiDB extension.
	var commitTs, watermark uint64
	var onlyHandleKey, hasExt bool
	var claimCheck string
	if !t.IsNull(f.tidb) {
		if t.Kind(f.tidb) != jsontape.JObject {
			return codec.Decoded{}, d.failf(f, "_tidb", "", fmt.Errorf("is a JSON %s, not an object", t.Kind(f.tidb)))
		}
		hasExt = true
		var err error
		end := t.Nodes[f.tidb].Next
		for k := f.tidb + 1; k < end; {
			v := k + 1
			switch {
			case t.KeyIs(k, "commitTs"):
				if commitTs, err = t.UintNode(v); err != nil {
					return codec.Decoded{}, d.failf(f, "_tidb.commitTs", "", err)
				}
			case t.KeyIs(k, "watermarkTs"):
				if watermark, err = t.UintNode(v); err != nil {
					return codec.Decoded{}, d.failf(f, "_tidb.watermarkTs", "", err)
				}
			case t.KeyIs(k, "onlyHandleKey"):
				if t.Kind(v) != jsontape.JNull {
					if onlyHandleKey, err = t.BoolNode(v); err != nil {
						return codec.Decoded{}, d.failf(f, "_tidb.onlyHandleKey", "", err)
					}
				}
			case t.KeyIs(k, "claimCheckLocation"):
				if t.Kind(v) == jsontape.JString {
					claimCheck = t.Str(v)
				} else if t.Kind(v) != jsontape.JNull {
					return codec.Decoded{}, d.failf(f, "_tidb.claimCheckLocation", "", fmt.Errorf("is a JSON %s, not a string", t.Kind(v)))
				}
			}
			k = t.Nodes[v].Next
		}
	}

	isDDL := false
	if !t.IsNull(f.isDdl) {
		var err error
		if isDDL, err = t.BoolNode(f.isDdl); err != nil {
			return codec.Decoded{}, d.failf(f, "isDdl", "", err)
		}
	}
	var typ []byte
	if !t.IsNull(f.typ) {
		if t.Kind(f.typ) != jsontape.JString {
			return codec.Decoded{}, d.failf(f, "type", "", fmt.Errorf("is a JSON %s, not a string", t.Kind(f.typ)))
		}
		typ = t.Text(f.typ, nil)
	}
	var es int64
	if !t.IsNull(f.es) {
		var err error
		if es, err = t.IntNode(f.es); err != nil {
			return codec.Decoded{}, d.failf(f, "es", "", err)
		}
	}
	commitTime := es * 1000
	if commitTs != 0 {
		commitTime = codec.TSOToMicros(commitTs)
	}

	switch {
	case isDDL:
		db, tbl, err := d.names2(f)
		if err != nil {
			return codec.Decoded{}, err
		}
		if t.IsNull(f.sql) || t.Kind(f.sql) != jsontape.JString || t.Nodes[f.sql].Start == t.Nodes[f.sql].End {
			return codec.Decoded{}, d.fail(db, tbl, "sql", "", errors.New("DDL message without a sql statement"))
		}
		if d.requireExt && commitTs == 0 {
			return codec.Decoded{}, d.fail(db, tbl, "_tidb.commitTs", "", errors.New("missing (require_tidb_extension is set)"))
		}
		ev := event.Event{
			Op:         event.OpDDL,
			Source:     event.TableID{DB: db, Table: tbl},
			DDL:        t.Str(f.sql),
			CommitTime: commitTime,
			TxnEnd:     true,
		}
		return codec.Decoded{Kind: codec.KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}, nil
	case string(typ) == "TIDB_WATERMARK":
		if watermark == 0 {
			return codec.Decoded{}, d.fail("", "", "_tidb.watermarkTs", "", errors.New("TIDB_WATERMARK message without watermarkTs"))
		}
		return codec.Decoded{Kind: codec.KindWatermark, Watermark: watermark}, nil
	case t.IsNull(f.data) && t.IsNull(f.old) && claimCheck != "":
		// Claim-check reference without the handle-key row (older TiCDC).
		return codec.Decoded{Kind: codec.KindRow, CommitTs: commitTs, ClaimCheck: claimCheck}, nil
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
		return codec.Decoded{}, d.fail(db, tbl, "type", "", fmt.Errorf("unsupported event type %s", jsontape.QuoteShort(typ)))
	}
	if d.requireExt && !hasExt || d.requireExt && commitTs == 0 {
		db, tbl, _ := d.names2(f)
		return codec.Decoded{}, d.fail(db, tbl, "_tidb.commitTs", "", errors.New("missing (require_tidb_extension is set)"))
	}
	evs, err := d.rowEvents(f, op, commitTime)
	if err != nil {
		return codec.Decoded{}, err
	}
	return codec.Decoded{Kind: codec.KindRow, Events: evs, CommitTs: commitTs, HandleKeyOnly: onlyHandleKey, ClaimCheck: claimCheck}, nil
}

// names2 returns the database and table names as new strings.
func (d *CanalJSON) names2(f canalFields) (string, string, error) {
	t := &d.tape
	var db, tbl string
	if !t.IsNull(f.database) {
		if t.Kind(f.database) != jsontape.JString {
			return "", "", d.fail("", "", "database", "", fmt.Errorf("is a JSON %s, not a string", t.Kind(f.database)))
		}
		db = t.Str(f.database)
	}
	if !t.IsNull(f.table) {
		if t.Kind(f.table) != jsontape.JString {
			return "", "", d.fail(db, "", "table", "", fmt.Errorf("is a JSON %s, not a string", t.Kind(f.table)))
		}
		tbl = t.Str(f.table)
	}
	return db, tbl, nil
}

// rowEvents decodes the rows of a DML message.
func (d *CanalJSON) rowEvents(f canalFields, op event.Op, commitTime int64) ([]event.Event, error) {
	t := &d.tape
	if (!t.IsNull(f.database) && t.Kind(f.database) != jsontape.JString) || (!t.IsNull(f.table) && t.Kind(f.table) != jsontape.JString) {
		_, _, err := d.names2(f)
		return nil, err
	}

	// Rows: data (after image; the deleted row for DELETE), old (before image of UPDATE).
	d.rows = d.rows[:0]
	d.olds = d.olds[:0]
	if !t.IsNull(f.data) {
		if t.Kind(f.data) != jsontape.JArray {
			return nil, d.failf(f, "data", "", fmt.Errorf("is a JSON %s, not an array", t.Kind(f.data)))
		}
		d.rows = t.Elems(f.data, d.rows)
	}
	if !t.IsNull(f.old) {
		if t.Kind(f.old) != jsontape.JArray {
			return nil, d.failf(f, "old", "", fmt.Errorf("is a JSON %s, not an array", t.Kind(f.old)))
		}
		d.olds = t.Elems(f.old, d.olds)
	}
	rows := d.rows
	if op == event.OpDelete && len(rows) == 0 {
		// Some producers put the deleted row in old.
		rows = d.olds
	}
	if len(rows) == 0 {
		return nil, d.failf(f, "data", "", fmt.Errorf("%s message without row data", op))
	}
	for i, r := range rows {
		if t.Kind(r) != jsontape.JObject {
			return nil, d.failf(f, fmt.Sprintf("data[%d]", i), "", fmt.Errorf("is a JSON %s, not an object", t.Kind(r)))
		}
	}
	if op == event.OpUpdate && len(d.olds) > len(rows) {
		return nil, d.failf(f, "old", "", fmt.Errorf("%d old rows for %d data rows", len(d.olds), len(rows)))
	}
	for i, r := range d.olds {
		if t.Kind(r) != jsontape.JObject && t.Kind(r) != jsontape.JNull {
			return nil, d.failf(f, fmt.Sprintf("old[%d]", i), "", fmt.Errorf("is a JSON %s, not an object", t.Kind(r)))
		}
	}

	entry, err := d.schema(f, rows[0])
	if err != nil {
		return nil, err
	}
	tbl := entry.Table
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
	d.ar.Reserve(size)

	evs := d.slab.Events(len(rows))
	for i, r := range rows {
		hasOld := op == event.OpUpdate && i < len(d.olds) && t.Kind(d.olds[i]) == jsontape.JObject
		var vals, before []event.Value
		if hasOld {
			// One allocation for both images.
			both := d.slab.Values(2 * n)
			vals, before = both[:n:n], both[n:]
		} else {
			vals = d.slab.Values(n)
		}
		field := "data"
		if op == event.OpDelete && len(d.rows) == 0 {
			field = "old"
		}
		seen := codec.ClearedFlags(&d.present, n)
		var valNodes []int32
		if hasOld {
			if cap(d.valNodes) < n {
				d.valNodes = make([]int32, n)
			}
			valNodes = d.valNodes[:n]
		}
		if err := d.decodeRow(r, entry, vals, seen, field, i, valNodes, nil); err != nil {
			return nil, err
		}
		for c := range seen {
			if !seen[c] {
				return nil, d.fail(tbl.ID.DB, tbl.ID.Table, fmt.Sprintf("%s[%d]", field, i), tbl.Columns[c].Name,
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
				present := codec.ClearedFlags(&d.oldSeen, n)
				if err := d.decodeRow(d.olds[i], entry, before, present, "old", i, valNodes, vals); err != nil {
					return nil, err
				}
				// Columns missing from a partial `old` did not change.
				codec.KeepUnchanged(before, vals, present)
				ev.Before = before
			}
		}
		evs[i] = ev
	}
	return evs, nil
}

// stringBytes sums the raw lengths of the row's values that keep strings.
func (d *CanalJSON) stringBytes(row int32, e *codec.TableEntry) int {
	t := &d.tape
	if t.Kind(row) != jsontape.JObject {
		return 0
	}
	size := 0
	end := t.Nodes[row].Next
	ci := 0
	for k := row + 1; k < end; {
		v := k + 1
		nd := &t.Nodes[v]
		if nd.Kind == jsontape.JString {
			if ci < len(e.Specs) && !e.Specs[ci].Materializes() {
				// skip: number-like text
			} else {
				size += int(nd.End - nd.Start)
			}
		}
		ci++
		k = t.Nodes[v].Next
	}
	return size
}

// decodeRow decodes one row object into vals (aligned with the table
// columns) and marks the columns found in present.
//
// For data rows valNodes (when not nil) receives each column's value node.
// For old rows, ref holds the data row's values: a value written exactly as
// in data is taken from ref without decoding it again.
func (d *CanalJSON) decodeRow(row int32, e *codec.TableEntry, vals []event.Value, present []bool, field string, ri int,
	valNodes []int32, ref []event.Value) error {
	t := &d.tape
	tbl := e.Table
	end := t.Nodes[row].Next
	ci := 0
	for k := row + 1; k < end; {
		v := k + 1
		name := t.Raw(k)
		if t.Nodes[k].Esc {
			name = t.Text(k, d.unesc[:0])
		}
		idx := codec.ColumnIndex(tbl, ci, name)
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
			if dn := valNodes[idx]; dn >= 0 && t.Nodes[dn].Kind == t.Nodes[v].Kind && string(t.Raw(dn)) == string(t.Raw(v)) {
				vals[idx] = ref[idx]
				k = t.Nodes[v].Next
				continue
			}
		} else if valNodes != nil {
			valNodes[idx] = v
		}
		val, err := d.value(v, &e.Specs[idx])
		if err != nil {
			return d.fail(tbl.ID.DB, tbl.ID.Table, fmt.Sprintf("%s[%d]", field, ri), tbl.Columns[idx].Name, err)
		}
		vals[idx] = val
		k = t.Nodes[v].Next
	}
	return nil
}

// value converts one canal-json value node.
func (d *CanalJSON) value(v int32, spec *codec.ColSpec) (event.Value, error) {
	t := &d.tape
	nd := &t.Nodes[v]
	switch nd.Kind {
	case jsontape.JNull:
		return event.Null, nil
	case jsontape.JString:
		raw := t.Src[nd.Start:nd.End]
		if nd.Esc {
			d.unesc = jsontape.AppendUnescape(d.unesc[:0], raw)
			raw = d.unesc
		}
		return codec.DecodeText(spec, raw, &d.ar, &d.vc)
	case jsontape.JNumber:
		// Canal writes strings; tolerate producers that write numbers.
		return codec.DecodeText(spec, t.Src[nd.Start:nd.End], &d.ar, &d.vc)
	case jsontape.JTrue, jsontape.JFalse:
		if spec.Typ == event.TypeBit || codec.IntBits(spec.Typ) != 0 {
			if nd.Kind == jsontape.JTrue {
				return codec.DecodeText(spec, []byte("1"), &d.ar, &d.vc)
			}
			return codec.DecodeText(spec, []byte("0"), &d.ar, &d.vc)
		}
	}
	return event.Null, fmt.Errorf("value is a JSON %s, not a string", nd.Kind)
}

// schema returns the cached table for the message, building it on a miss.
// Columns follow the order of the first row's keys, which is the table's
// column order (TiCDC writes data in column order; mysqlType is a map and
// may come in any order).
func (d *CanalJSON) schema(f canalFields, row0 int32) (*codec.TableEntry, error) {
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
			fast = codec.AppendKeyPart(fast, nil)
		} else {
			fast = codec.AppendKeyPart(fast, t.Raw(n))
		}
	}
	end := t.Nodes[row0].Next
	for k := row0 + 1; k < end; k = t.Nodes[k+1].Next {
		fast = codec.AppendKeyPart(fast, t.Raw(k))
	}
	if f.mysqlType >= 0 {
		fast = codec.AppendKeyPart(fast, t.Raw(f.mysqlType))
	}
	d.fastBuf = fast
	if e := d.Cache.Get(fast); e != nil {
		return e, nil
	}

	d.cols = d.cols[:0]
	d.names = d.names[:0]
	for k := row0 + 1; k < end; {
		v := k + 1
		name := t.Raw(k)
		if t.Nodes[k].Esc {
			start := len(d.names)
			d.names = jsontape.AppendUnescape(d.names, name)
			name = d.names[start:]
		}
		d.cols = append(d.cols, canalCol{name: name})
		k = t.Nodes[v].Next
	}
	if !t.IsNull(f.mysqlType) {
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
	if needSQL && !t.IsNull(f.sqlType) {
		if err := d.matchTypes(f, f.sqlType, true); err != nil {
			return nil, err
		}
	}

	// Canonical key: flavor, names, key columns, and every column's type in
	// column order.
	key := append(d.keyBuf[:0], 'C', flavor)
	for _, n := range [3]int32{f.database, f.table, f.pkNames} {
		if n < 0 {
			key = codec.AppendKeyPart(key, nil)
		} else {
			key = codec.AppendKeyPart(key, t.Raw(n))
		}
	}
	for i := range d.cols {
		c := &d.cols[i]
		key = codec.AppendKeyPart(key, c.name)
		key = codec.AppendKeyPart(key, c.typ)
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
	e := d.Cache.Get(key)
	if e == nil {
		var err error
		if e, err = d.buildTable(f); err != nil {
			return nil, err
		}
		d.Cache.Put(key, e)
	}
	if !needSQL {
		d.Cache.Put(d.fastBuf, e)
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
	switch t.Kind(node) {
	case jsontape.JRaw:
		// Kept raw by the parser: read its members now.
		var err error
		if obj, err = d.aux.ParseOne(t.Raw(node)); err != nil {
			return d.failf(f, field, "", err)
		}
		t = &d.aux
	case jsontape.JObject:
	default:
		return d.failf(f, field, "", fmt.Errorf("is a JSON %s, not an object", t.Kind(node)))
	}
	end := t.Nodes[obj].Next
	pos := 0
	for k := obj + 1; k < end; {
		v := k + 1
		name := t.Raw(k)
		if t.Nodes[k].Esc {
			name = t.Text(k, d.unesc[:0])
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
		k = t.Nodes[v].Next
		if idx < 0 {
			// A type for a column the row does not carry (e.g. handle-key-only
			// rows with a full type map): not needed.
			continue
		}
		pos = idx + 1
		c := &d.cols[idx]
		if sql {
			if t.Kind(v) == jsontape.JNull {
				continue
			}
			code, err := t.IntNode(v)
			if err != nil {
				return d.failf(f, field, string(name), err)
			}
			c.sqlType, c.hasSQL = code, true
			continue
		}
		if t.Kind(v) != jsontape.JString {
			return d.failf(f, field, string(name), fmt.Errorf("is a JSON %s, not a string", t.Kind(v)))
		}
		if t.Nodes[v].Esc {
			start := len(d.names)
			d.names = jsontape.AppendUnescape(d.names, t.Raw(v))
			c.typ = d.names[start:]
		} else {
			c.typ = t.Raw(v)
		}
		if c.typ == nil {
			c.typ = []byte{}
		}
	}
	return nil
}

// buildTable derives the table schema and column decoders from the
// collected columns.
func (d *CanalJSON) buildTable(f canalFields) (*codec.TableEntry, error) {
	t := &d.tape
	db, tblName, err := d.names2(f)
	if err != nil {
		return nil, err
	}
	tbl := &event.Table{ID: event.TableID{DB: db, Table: tblName}, Columns: make([]event.Column, len(d.cols))}
	specs := make([]codec.ColSpec, len(d.cols))
	for i := range d.cols {
		c := &d.cols[i]
		name := string(c.name)
		var col event.Column
		var spec codec.ColSpec
		switch {
		case c.typ != nil:
			col, spec, err = codec.ParseMySQLType(string(c.typ))
			if err != nil {
				return nil, d.fail(db, tblName, "mysqlType", name, err)
			}
			if !d.flat {
				codec.IndexOnly(&col, &spec)
			}
			if c.hasSQL && isBinarySQLType(c.sqlType) && !spec.Binary {
				switch col.Type {
				case event.TypeChar:
					col.Type = event.TypeBinary
				case event.TypeVarchar:
					col.Type = event.TypeVarbinary
				case event.TypeText:
					col.Type = event.TypeBlob
				}
				if col.Type != spec.Typ {
					spec.Typ, spec.Binary, col.Charset = col.Type, true, "binary"
				}
			}
		case c.hasSQL:
			var ok bool
			col, spec, ok = codec.JavaSQLType(c.sqlType)
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
	if !t.IsNull(f.pkNames) {
		if t.Kind(f.pkNames) != jsontape.JArray {
			return nil, d.fail(db, tblName, "pkNames", "", fmt.Errorf("is a JSON %s, not an array", t.Kind(f.pkNames)))
		}
		var pks []int32
		pks = t.Elems(f.pkNames, pks)
		for _, p := range pks {
			if t.Kind(p) != jsontape.JString {
				return nil, d.fail(db, tblName, "pkNames", "", fmt.Errorf("element is a JSON %s, not a string", t.Kind(p)))
			}
			if idx := tbl.ColumnIndex(t.Str(p)); idx >= 0 {
				tbl.Key = append(tbl.Key, idx)
				tbl.Columns[idx].Nullable = false
			}
		}
	}
	tbl.Seal()
	return &codec.TableEntry{Table: tbl, Specs: specs}, nil
}
