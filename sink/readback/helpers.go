package readback

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// schemaFileJSON is the part of the sinks' JSON schema file that readers
// use (see schema.Target.SchemaJSON).
type schemaFileJSON struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Columns []struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Source string `json:"source"`
		Meta   string `json:"meta"`
	} `json:"columns"`
}

// LayoutFromSchemaJSON reads a schema file (schema.Target.SchemaJSON) into
// a Layout.
func LayoutFromSchemaJSON(b []byte) (Layout, error) {
	var f schemaFileJSON
	if err := json.Unmarshal(b, &f); err != nil {
		return Layout{}, fmt.Errorf("schema file: %w", err)
	}
	if f.Name == "" || len(f.Columns) == 0 {
		return Layout{}, fmt.Errorf("schema file: no name or no columns")
	}
	l := Layout{Found: true, Name: f.Name, Existing: schema.Existing{Version: f.Version}, Sources: map[string]string{}}
	for _, c := range f.Columns {
		l.Existing.Columns = append(l.Existing.Columns, schema.ExistingColumn{Name: c.Name, Type: c.Type})
		if c.Meta == "" {
			l.Sources[c.Name] = c.Source
		}
	}
	return l, nil
}

// VersionOf returns N of a table name "<base>_v<N>" (1 for base itself).
func VersionOf(name, base string) (int, bool) {
	if name == base {
		return 1, true
	}
	rest, ok := strings.CutPrefix(name, base+"_v")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 {
		return 0, false
	}
	return n, true
}

// ParseSeqRange parses the "<first>-<last>.<ext>" names of ODS data files.
func ParseSeqRange(name string) (first, last uint64, ext string, ok bool) {
	dot := strings.IndexByte(name, '.')
	if dot < 0 {
		return 0, 0, "", false
	}
	ext = name[dot+1:]
	a, b, found := strings.Cut(name[:dot], "-")
	if !found {
		return 0, 0, "", false
	}
	var err1, err2 error
	first, err1 = strconv.ParseUint(a, 10, 64)
	last, err2 = strconv.ParseUint(b, 10, 64)
	return first, last, ext, err1 == nil && err2 == nil
}

// SeqValue reads a _seq value as the readers decode it.
func SeqValue(v event.Value) (uint64, bool) {
	switch v.Kind() {
	case event.KindInt:
		return uint64(v.Int()), v.Int() >= 0
	case event.KindUint:
		return v.Uint(), true
	}
	return 0, false
}

// MetaLayout is a layout of the metadata columns only (_op, _seq,
// _commit_ts, _pos), for reading them from any ODS file.
func MetaLayout() *schema.Target {
	return &schema.Target{Name: "meta", Columns: []schema.TargetColumn{
		{Name: schema.ColOp, Source: -1, Meta: schema.MetaOp, Kind: schema.KindString},
		{Name: schema.ColSeq, Source: -1, Meta: schema.MetaSeq, Kind: schema.KindBigInt},
		{Name: schema.ColCommitTs, Source: -1, Meta: schema.MetaCommitTs, Kind: schema.KindTimestamp},
		{Name: schema.ColPos, Source: -1, Meta: schema.MetaPos, Kind: schema.KindString},
	}}
}
