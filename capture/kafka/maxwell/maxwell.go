package maxwell

import (
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"
	"strings"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// Maxwell decodes Maxwell's JSON messages (from Maxwell itself or TiCDC's
// maxwell protocol). Maxwell rows carry no column types: they are inferred
// from the JSON values. It is not safe for concurrent use.
type Maxwell struct {
	vc    codec.ValueCtx
	dec   codec.Decompressor
	tape  jsontape.Tape
	ktape jsontape.Tape
	cache codec.TableCache
	ar    codec.Arena

	keyNames []string
	inf      []codec.Inferred
	present  []bool
	oldSeen  []bool
	unesc    []byte
	keyBuf   []byte
}

// NewMaxwell returns a Maxwell JSON decoder.
func NewMaxwell(cfg codec.Config) (*Maxwell, error) {
	cfg.Protocol = codec.ProtocolMaxwell
	cfg, loc, err := codec.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return &Maxwell{
		vc:    codec.NewValueCtx(loc, false),
		dec:   codec.Decompressor{Codec: cfg.Compression},
		cache: codec.NewTableCache(cfg.MaxCachedTables),
	}, nil
}

func mxFail(table, field, column string, err error) error {
	return &codec.DecodeError{Protocol: codec.ProtocolMaxwell, Table: table, Field: field, Column: column, Err: err}
}

// Decode decodes one message. The key, when it is Maxwell's JSON key
// ({"database":..,"table":..,"pk.id":..}), names the key columns; when it
// is TiCDC's maxwell key ({"ts":<commitTs>,...,"t":1}) it gives CommitTs.
func (d *Maxwell) Decode(key, value []byte) ([]codec.Decoded, error) {
	if len(value) == 0 {
		return nil, mxFail("", "value", "", errors.New("empty message"))
	}
	t := &d.tape
	root, err := codec.ParseObject(&d.dec, t, value)
	if err != nil {
		return nil, mxFail("", "value", "", err)
	}
	str := func(k string) (string, error) {
		n := t.Field(root, k)
		if n < 0 {
			return "", nil
		}
		return jsontape.StringOrNull(t, n)
	}
	db, err := str("database")
	if err != nil {
		return nil, mxFail("", "database", "", err)
	}
	tbl, err := str("table")
	if err != nil {
		return nil, mxFail("", "table", "", err)
	}
	name := codec.TableName(db, tbl)
	typ, err := str("type")
	if err != nil || typ == "" {
		if err == nil {
			err = errors.New("missing")
		}
		return nil, mxFail(name, "type", "", err)
	}

	commitTs := d.parseKey(key)
	var commitTime int64
	if n := t.Field(root, "ts_ms"); !t.IsNull(n) {
		ms, err := t.IntNode(n)
		if err != nil {
			return nil, mxFail(name, "ts_ms", "", err)
		}
		commitTime = ms * 1000
	} else if n := t.Field(root, "ts"); !t.IsNull(n) {
		ts, err := t.UintNode(n)
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
		commitTime = codec.TSOToMicros(commitTs)
	}
	txnEnd := false
	if n := t.Field(root, "commit"); n >= 0 && t.Kind(n) == jsontape.JTrue {
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
		return []codec.Decoded{{Kind: codec.KindSkip, Reason: "maxwell " + typ}}, nil
	default:
		if strings.HasPrefix(typ, "table-") || strings.HasPrefix(typ, "database-") || typ == "ddl" {
			q := t.Field(root, "sql")
			if q < 0 || t.Kind(q) != jsontape.JString || t.Nodes[q].Start == t.Nodes[q].End {
				return nil, mxFail(name, "sql", "", fmt.Errorf("%s message without a sql statement", typ))
			}
			ev := event.Event{Op: event.OpDDL, Source: event.TableID{DB: db, Table: tbl},
				DDL: t.Str(q), CommitTime: commitTime, TxnEnd: true}
			return []codec.Decoded{{Kind: codec.KindDDL, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
		}
		return nil, mxFail(name, "type", "", fmt.Errorf("unknown type %q", typ))
	}

	data, old := t.Field(root, "data"), t.Field(root, "old")
	for _, x := range [...]struct {
		n int32
		s string
	}{{data, "data"}, {old, "old"}} {
		if !t.IsNull(x.n) && t.Kind(x.n) != jsontape.JObject {
			return nil, mxFail(name, x.s, "", fmt.Errorf("is a JSON %s, not an object", t.Kind(x.n)))
		}
	}
	main, mainField := data, "data"
	if op == event.OpDelete && (t.IsNull(data) || t.Count(data) == 0) {
		// TiCDC's maxwell puts the deleted row in old.
		main, mainField = old, "old"
	}
	if t.IsNull(main) || t.Count(main) == 0 {
		return nil, mxFail(name, "data", "", fmt.Errorf("%s message without row data", typ))
	}
	if pk := t.Field(root, "primary_key_columns"); pk >= 0 && t.Kind(pk) == jsontape.JArray {
		d.keyNames = d.keyNames[:0]
		for e := pk + 1; e < t.Nodes[pk].Next; e = t.Nodes[e].Next {
			if t.Kind(e) == jsontape.JString {
				d.keyNames = append(d.keyNames, t.Str(e))
			}
		}
	}

	other := int32(-1)
	if op == event.OpUpdate && !t.IsNull(old) {
		other = old
	}
	entry, err := d.schema(db, tbl, main, other)
	if err != nil {
		return nil, err
	}
	tb := entry.Table
	n := len(tb.Columns)
	size := int(t.Nodes[main].End - t.Nodes[main].Start)
	if op == event.OpUpdate && !t.IsNull(old) {
		size += int(t.Nodes[old].End - t.Nodes[old].Start)
	}
	d.ar.Reserve(size)
	seen := codec.ClearedFlags(&d.present, n)
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
		if !t.IsNull(old) {
			before := make([]event.Value, n)
			present := codec.ClearedFlags(&d.oldSeen, n)
			if err := d.row(old, entry, before, present, "old"); err != nil {
				return nil, err
			}
			// Maxwell's old lists only the changed columns.
			codec.KeepUnchanged(before, vals, present)
			ev.Before = before
		}
	}
	return []codec.Decoded{{Kind: codec.KindRow, Events: []event.Event{ev}, CommitTs: commitTs}}, nil
}

// parseKey reads key columns ("pk.<name>") from Maxwell's key, and the
// commit TSO from TiCDC's key. It returns the TSO (0 when none).
func (d *Maxwell) parseKey(key []byte) uint64 {
	d.keyNames = d.keyNames[:0]
	if len(key) == 0 {
		return 0
	}
	kt := &d.ktape
	root, err := kt.ParseOne(key)
	if err != nil || kt.Kind(root) != jsontape.JObject {
		return 0
	}
	var ts uint64
	isTiCDC := kt.Field(root, "t") >= 0 && kt.Field(root, "scm") >= 0
	end := kt.Nodes[root].Next
	for k := root + 1; k < end; {
		v := k + 1
		switch name := kt.Str(k); {
		case strings.HasPrefix(name, "pk."):
			d.keyNames = append(d.keyNames, name[3:])
		case name == "ts" && isTiCDC:
			ts, _ = kt.UintNode(v)
		}
		k = kt.Nodes[v].Next
	}
	return ts
}

func (d *Maxwell) schema(db, tbl string, main, other int32) (*codec.TableEntry, error) {
	t := &d.tape
	key := append(d.keyBuf[:0], 'm')
	key = codec.AppendKeyString(key, db)
	key = codec.AppendKeyString(key, tbl)
	d.inf = codec.InferRow(t, main, other, d.inf)
	key = codec.AppendInferredKey(key, t, main, d.inf)
	for _, k := range d.keyNames {
		key = codec.AppendKeyString(key, k)
	}
	d.keyBuf = key
	if e := d.cache.Get(key); e != nil {
		return e, nil
	}
	tb := &event.Table{ID: event.TableID{DB: db, Table: tbl}}
	specs, err := codec.AppendInferredColumns(tb, t, main, d.inf, func(column string, err error) error {
		return mxFail(codec.TableName(db, tbl), "data", column, err)
	})
	if err != nil {
		return nil, err
	}
	e := codec.SealEntry(tb, specs, d.keyNames)
	d.cache.Put(key, e)
	return e, nil
}

// row decodes a data/old object into vals.
func (d *Maxwell) row(obj int32, e *codec.TableEntry, vals []event.Value, present []bool, field string) error {
	t := &d.tape
	tb := e.Table
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
			return mxFail(codec.TableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("column is not in the row (data)"))
		}
		if present[idx] {
			return mxFail(codec.TableName(tb.ID.DB, tb.ID.Table), field, string(cname), errors.New("duplicate column"))
		}
		present[idx] = true
		val, err := codec.GenericValue(t, v, &e.Specs[idx], &d.ar, &d.vc, &d.unesc)
		if err != nil {
			return mxFail(codec.TableName(tb.ID.DB, tb.ID.Table), field, tb.Columns[idx].Name, err)
		}
		vals[idx] = val
		ci = idx + 1
		k = t.Nodes[v].Next
	}
	return nil
}
