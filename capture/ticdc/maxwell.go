package ticdc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/odsync/odsync/event"
)

// Maxwell decodes Maxwell's JSON messages (from Maxwell itself or TiCDC's
// maxwell protocol). Maxwell rows carry no column types: they are inferred
// from the JSON values. It is not safe for concurrent use.
type Maxwell struct {
	vc    valueCtx
	dec   decompressor
	tape  jtape
	ktape jtape
	cache tableCache
	ar    arena

	keyNames []string
	inf      []inferred
	present  []bool
	oldSeen  []bool
	unesc    []byte
	keyBuf   []byte
}

// NewMaxwell returns a Maxwell JSON decoder.
func NewMaxwell(cfg Config) (*Maxwell, error) {
	cfg.Protocol = ProtocolMaxwell
	cfg, loc, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &Maxwell{
		vc:    newValueCtx(loc, false),
		dec:   decompressor{codec: cfg.Compression},
		cache: newTableCache(cfg.MaxCachedTables),
	}, nil
}

func mxFail(table, field, column string, err error) error {
	return &DecodeError{Protocol: ProtocolMaxwell, Table: table, Field: field, Column: column, Err: err}
}

// Decode decodes one message. The key, when it is Maxwell's JSON key
// ({"database":..,"table":..,"pk.id":..}), names the key columns; when it
// is TiCDC's maxwell key ({"ts":<commitTs>,...,"t":1}) it gives CommitTs.
func (d *Maxwell) Decode(key, value []byte) ([]Decoded, error) {
	if len(value) == 0 {
		return nil, mxFail("", "value", "", errors.New("empty message"))
	}
	t := &d.tape
	root, err := parseObject(&d.dec, t, value)
	if err != nil {
		return nil, mxFail("", "value", "", err)
	}
	str := func(k string) (string, error) {
		n := t.field(root, k)
		if n < 0 {
			return "", nil
		}
		return stringOrNull(t, n)
	}
	db, err := str("database")
	if err != nil {
		return nil, mxFail("", "database", "", err)
	}
	tbl, err := str("table")
	if err != nil {
		return nil, mxFail("", "table", "", err)
	}
	name := tableName(db, tbl)
	typ, err := str("type")
	if err != nil || typ == "" {
		if err == nil {
			err = errors.New("missing")
		}
		return nil, mxFail(name, "type", "", err)
	}

	commitTs := d.parseKey(key)
	var commitTime int64
	if n := t.field(root, "ts_ms"); !t.isNull(n) {
		ms, err := t.intNode(n)
		if err != nil {
			return nil, mxFail(name, "ts_ms", "", err)
		}
		commitTime = ms * 1000
	} else if n := t.field(root, "ts"); !t.isNull(n) {
		ts, err := t.uintNode(n)
		if err != nil {
			return nil, mxFail(name, "ts", "", err)
		}
		// Maxwell writes seconds (rows) or milliseconds (DDL); TiCDC's
		// maxwell DDL writes the commit TSO.
		switch {
		case ts >= 1e16:
			if commitTs == 0 {
				commitTs = ts
			}
		case ts >= 1e11:
			commitTime = int64(ts) * 1000
		default:
			commitTime = int64(ts) * 1e6
		}
	}
	if commitTs != 0 {
		commitTime = TSOToMicros(commitTs)
	}
	txnEnd := false
	if n := t.field(root, "commit"); n >= 0 && t.kind(n) == jTrue {
		txnEnd = true
	}

	var op event.Op
	switch typ {
	case "insert":
		op = event.OpInsert
	case "bootstrap-insert":
		op = event.OpRead
	case "update":
		op = event.OpUpdate
	case "delete":
		op = event.OpDelete
	case "bootstrap-start", "bootstrap-complete", "heartbeat":
		return []Decoded{{Kind: KindSkip, Reason: "maxwell " + typ}}, nil
	default:
		if strings.HasPrefix(typ, "table-") || strings.HasPrefix(typ, "database-") || typ == "ddl" {
			q := t.field(root, "sql")
			if q < 0 || t.kind(q) != jString || t.nodes[q].start == t.nodes[q].end {
				return nil, mxFail(name, "sql", "", fmt.Errorf("%s message without a sql statement", typ))
			}
			ev := event.Event{Op: event.OpDDL, Source: event.TableID{DB: db, Table: tbl},
				DDL: t.string(q), CommitTime: commitTime, TxnEnd: true}
			return []Decoded{{Kind: KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
		}
		return nil, mxFail(name, "type", "", fmt.Errorf("unknown type %q", typ))
	}

	data, old := t.field(root, "data"), t.field(root, "old")
	for _, x := range [...]struct {
		n int32
		s string
	}{{data, "data"}, {old, "old"}} {
		if !t.isNull(x.n) && t.kind(x.n) != jObject {
			return nil, mxFail(name, x.s, "", fmt.Errorf("is a JSON %s, not an object", t.kind(x.n)))
		}
	}
	main, mainField := data, "data"
	if op == event.OpDelete && (t.isNull(data) || t.count(data) == 0) {
		// TiCDC's maxwell puts the deleted row in old.
		main, mainField = old, "old"
	}
	if t.isNull(main) || t.count(main) == 0 {
		return nil, mxFail(name, "data", "", fmt.Errorf("%s message without row data", typ))
	}
	if pk := t.field(root, "primary_key_columns"); pk >= 0 && t.kind(pk) == jArray {
		d.keyNames = d.keyNames[:0]
		for e := pk + 1; e < t.nodes[pk].next; e = t.nodes[e].next {
			if t.kind(e) == jString {
				d.keyNames = append(d.keyNames, t.string(e))
			}
		}
	}

	other := int32(-1)
	if op == event.OpUpdate && !t.isNull(old) {
		other = old
	}
	entry, err := d.schema(db, tbl, main, other)
	if err != nil {
		return nil, err
	}
	tb := entry.table
	n := len(tb.Columns)
	size := int(t.nodes[main].end - t.nodes[main].start)
	if op == event.OpUpdate && !t.isNull(old) {
		size += int(t.nodes[old].end - t.nodes[old].start)
	}
	d.ar.reserve(size)
	seen := clearedFlags(&d.present, n)
	vals := make([]event.Value, n)
	if err := d.row(main, entry, vals, seen, mainField); err != nil {
		return nil, err
	}
	ev := event.Event{Op: op, Source: tb.ID, Table: tb, CommitTime: commitTime, TxnEnd: txnEnd}
	switch op {
	case event.OpInsert, event.OpRead:
		ev.After = vals
	case event.OpDelete:
		ev.Before = vals
	case event.OpUpdate:
		ev.After = vals
		if !t.isNull(old) {
			before := make([]event.Value, n)
			present := clearedFlags(&d.oldSeen, n)
			if err := d.row(old, entry, before, present, "old"); err != nil {
				return nil, err
			}
			// Maxwell's old lists only the changed columns.
			keepUnchanged(before, vals, present)
			ev.Before = before
		}
	}
	return []Decoded{{Kind: KindRow, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
}

// parseKey reads key columns ("pk.<name>") from Maxwell's key, and the
// commit TSO from TiCDC's key. It returns the TSO (0 when none).
func (d *Maxwell) parseKey(key []byte) uint64 {
	d.keyNames = d.keyNames[:0]
	if len(key) == 0 {
		return 0
	}
	kt := &d.ktape
	root, err := kt.parseOne(key)
	if err != nil || kt.kind(root) != jObject {
		return 0
	}
	var ts uint64
	isTiCDC := kt.field(root, "t") >= 0 && kt.field(root, "scm") >= 0
	end := kt.nodes[root].next
	for k := root + 1; k < end; {
		v := k + 1
		switch name := kt.string(k); {
		case strings.HasPrefix(name, "pk."):
			d.keyNames = append(d.keyNames, name[3:])
		case name == "ts" && isTiCDC:
			ts, _ = kt.uintNode(v)
		}
		k = kt.nodes[v].next
	}
	return ts
}

func (d *Maxwell) schema(db, tbl string, main, other int32) (*tableEntry, error) {
	t := &d.tape
	key := append(d.keyBuf[:0], 'm')
	key = appendKeyString(key, db)
	key = appendKeyString(key, tbl)
	d.inf = inferRow(t, main, other, d.inf)
	key = appendInferredKey(key, t, main, d.inf)
	for _, k := range d.keyNames {
		key = appendKeyString(key, k)
	}
	d.keyBuf = key
	if e := d.cache.get(key); e != nil {
		return e, nil
	}
	tb := &event.Table{ID: event.TableID{DB: db, Table: tbl}}
	specs, err := appendInferredColumns(tb, t, main, d.inf, func(column string, err error) error {
		return mxFail(tableName(db, tbl), "data", column, err)
	})
	if err != nil {
		return nil, err
	}
	e := sealEntry(tb, specs, d.keyNames)
	d.cache.put(key, e)
	return e, nil
}

// row decodes a data/old object into vals.
func (d *Maxwell) row(obj int32, e *tableEntry, vals []event.Value, present []bool, field string) error {
	t := &d.tape
	tb := e.table
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
			return mxFail(tableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("column is not in the row (data)"))
		}
		if present[idx] {
			return mxFail(tableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("duplicate column"))
		}
		present[idx] = true
		val, err := genericValue(t, v, &e.specs[idx], &d.ar, &d.vc, &d.unesc)
		if err != nil {
			return mxFail(tableName(tb.ID.DB, tb.ID.Table), field, tb.Columns[idx].Name, err)
		}
		vals[idx] = val
		ci = idx + 1
		k = t.nodes[v].next
	}
	return nil
}
