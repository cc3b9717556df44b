package ticdc

import (
	"errors"
	"fmt"

	"github.com/odsync/odsync/event"
)

// Helpers shared by the JSON decoders to build tables and decode row
// objects against them.

// clearedFlags returns (*buf)[:n] with every flag false, growing *buf when
// it is too small.
func clearedFlags(buf *[]bool, n int) []bool {
	if cap(*buf) < n {
		*buf = make([]bool, n)
	}
	flags := (*buf)[:n]
	clear(flags)
	return flags
}

// columnIndex returns the index of the column called name in tb, or -1.
// Columns usually arrive in table order, so the column at hint is tried
// first.
func columnIndex(tb *event.Table, hint int, name []byte) int {
	if hint < len(tb.Columns) && tb.Columns[hint].Name == string(name) {
		return hint
	}
	for j := range tb.Columns {
		if tb.Columns[j].Name == string(name) {
			return j
		}
	}
	return -1
}

// keepUnchanged fills the columns a partial before image lacks (not in
// present) from the after image: they did not change.
func keepUnchanged(before, after []event.Value, present []bool) {
	for c := range before {
		if !present[c] {
			before[c] = after[c]
		}
	}
}

// appendInferredColumns appends to tb the columns of the schema-less row
// object obj, typed by inf (from inferRow), and returns their decoders.
// fail reports a duplicate column.
func appendInferredColumns(tb *event.Table, t *jtape, obj int32, inf []inferred,
	fail func(column string, err error) error) ([]colSpec, error) {
	var specs []colSpec
	end := t.nodes[obj].next
	i := 0
	for k := obj + 1; k < end; i++ {
		v := k + 1
		col, spec := inf[i].column()
		col.Name = t.string(k)
		if tb.ColumnIndex(col.Name) >= 0 {
			return nil, fail(col.Name, errors.New("duplicate column"))
		}
		tb.Columns = append(tb.Columns, col)
		specs = append(specs, spec)
		k = t.nodes[v].next
	}
	return specs, nil
}

// sealEntry makes the columns named by keyNames (those present) the key of
// tb, not nullable, seals tb and returns its cache entry.
func sealEntry(tb *event.Table, specs []colSpec, keyNames []string) *tableEntry {
	for _, k := range keyNames {
		if idx := tb.ColumnIndex(k); idx >= 0 {
			tb.Key = append(tb.Key, idx)
			tb.Columns[idx].Nullable = false
		}
	}
	tb.Seal()
	return &tableEntry{table: tb, specs: specs}
}

// parseObject decompresses a message value and parses it into t; the value
// must be one JSON object, whose node it returns.
func parseObject(dec *decompressor, t *jtape, value []byte) (int32, error) {
	src, err := dec.decode(value)
	if err != nil {
		return 0, err
	}
	root, err := t.parseOne(src)
	if err != nil {
		return 0, err
	}
	if t.kind(root) != jObject {
		return 0, fmt.Errorf("message is a JSON %s, not an object", t.kind(root))
	}
	return root, nil
}
