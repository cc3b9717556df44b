package odsfile

import (
	"encoding/json"

	"github.com/odsync/odsync/schema"
)

// SchemaFile is the content of {target}/_schema/v{version}.json: what a
// reader needs to interpret the data files written under that schema.
type SchemaFile struct {
	Table           string         `json:"table"`
	Source          string         `json:"source"`
	SourceVersion   string         `json:"source_version"`
	LayoutVersion   int            `json:"layout_version"`
	PartitionColumn string         `json:"partition_column"`
	Granularity     string         `json:"granularity"`
	TimeZone        string         `json:"time_zone"`
	Key             []string       `json:"key,omitempty"`
	Columns         []SchemaColumn `json:"columns"`
}

// SchemaColumn describes one column of a schema file.
type SchemaColumn struct {
	Name       string `json:"name"`
	Source     string `json:"source,omitempty"`
	Type       string `json:"type"`
	MaxCompute string `json:"maxcompute"`
	Hive       string `json:"hive"`
	Nullable   bool   `json:"nullable"`
	Lossy      string `json:"lossy,omitempty"`
}

// SchemaJSON renders the schema file of a target.
func SchemaJSON(t *schema.Target) []byte {
	f := SchemaFile{Table: t.Name, Source: t.Source.String(), SourceVersion: hex16(t.SourceVersion),
		LayoutVersion: t.Version, PartitionColumn: t.PartitionColumn, Granularity: t.Granularity, TimeZone: t.TimeZone}
	for _, k := range t.Key {
		f.Key = append(f.Key, t.Columns[k].Name)
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		f.Columns = append(f.Columns, SchemaColumn{Name: c.Name, Source: c.SourceName, Type: c.TypeSpec(),
			MaxCompute: c.MaxCompute, Hive: c.Hive, Nullable: c.Nullable, Lossy: c.Lossy})
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}
