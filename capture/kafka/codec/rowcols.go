package codec

import (
	"errors"
	"fmt"
	"github.com/odsync/odsync/jsontape"

	"github.com/odsync/odsync/event"
)

// Helpers shared by the JSON decoders to build tables and decode row
// objects against them.

// ClearedFlags returns (*buf)[:n] with every flag false, growing *buf when
// it is too small.
func ClearedFlags(buf *[]bool, n int) []bool {
	if cap(*buf) < n {
		*buf = make([]bool, n)
	}
	flags := (*buf)[:n]
	clear(flags)
	return flags
}

// ColumnIndex returns the index of the column called name in tb, or -1.
// Columns usually arrive in table order, so the column at hint is tried
// first.
func ColumnIndex(tb *event.Table, hint int, name []byte) int {
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

// KeepUnchanged fills the columns a partial before image lacks (not in
// present) from the after image: they did not change.
func KeepUnchanged(before, after []event.Value, present []bool) {
	for c := range before {
		if !present[c] {
			before[c] = after[c]
		}
	}
}

// AppendInferredColumns appends to tb the columns of the schema-less row
// object obj, typed by inf (from inferRow), and returns their decoders.
// fail reports a duplicate column.
func AppendInferredColumns(tb *event.Table, t *jsontape.Tape, obj int32, inf []Inferred,
	fail func(column string, err error) error) ([]ColSpec, error) {
	var specs []ColSpec
	end := t.Nodes[obj].Next
	i := 0
	for k := obj + 1; k < end; i++ {
		v := k + 1
		col, spec := inf[i].column()
		col.Name = t.Str(k)
		if tb.ColumnIndex(col.Name) >= 0 {
			return nil, fail(col.Name, errors.New("duplicate column"))
		}
		tb.Columns = append(tb.Columns, col)
		specs = append(specs, spec)
		k = t.Nodes[v].Next
	}
	return specs, nil
}

// SealEntry makes the columns named by keyNames (those present) the key of
// tb, not nullable, seals tb and returns its cache entry.
func SealEntry(tb *event.Table, specs []ColSpec, keyNames []string) *TableEntry {
	for _, k := range keyNames {
		if idx := tb.ColumnIndex(k); idx >= 0 {
			tb.Key = append(tb.Key, idx)
			tb.Columns[idx].Nullable = false
		}
	}
	tb.Seal()
	return &TableEntry{Table: tb, Specs: specs}
}

// ParseObject decompresses a message value and parses it into t; the value
// must be one JSON object, whose node it returns.
func ParseObject(dec *Decompressor, t *jsontape.Tape, value []byte) (int32, error) {
	src, err := dec.Decode(value)
	if err != nil {
		return 0, err
	}
	root, err := t.ParseOne(src)
	if err != nil {
		return 0, err
	}
	if t.Kind(root) != jsontape.JObject {
		return 0, fmt.Errorf("message is a JSON %s, not an object", t.Kind(root))
	}
	return root, nil
}
