package odsfile

import (
	"fmt"
	"hash/fnv"
	"io"
	"strconv"

	"github.com/odsync/odsync/schema"
)

// File formats.
const (
	FormatParquet = "parquet"
	FormatCSV     = "csv"
	FormatJSONL   = "jsonl"
)

// Formats lists the supported file formats.
var Formats = []string{FormatParquet, FormatCSV, FormatJSONL}

// CheckFormat reports an unknown format name.
func CheckFormat(format string) error {
	switch format {
	case FormatParquet, FormatCSV, FormatJSONL:
		return nil
	}
	return fmt.Errorf("%q: want parquet, csv or jsonl", format)
}

// Ext returns the file extension of a format ("" for an unknown one).
func Ext(format string) string {
	switch format {
	case FormatParquet:
		return "parquet"
	case FormatCSV:
		return "csv"
	case FormatJSONL:
		return "jsonl"
	}
	return ""
}

// EncoderOptions tune the encoders.
type EncoderOptions struct {
	// Compression of Parquet column chunks: snappy (default), zstd or none.
	Compression string
	// RowGroupBytes bounds a Parquet row group (DefaultRowGroupBytes when 0).
	RowGroupBytes int64
	// CSVHeader writes a header line with the column names.
	CSVHeader bool
	// Metadata is stored in the Parquet footer's key-value metadata.
	Metadata map[string]string
}

// NewEncoder returns the row writer of a format for target t writing to w.
// Every format writes the same rows: the target columns in target order,
// values as schema's converters render them for the format.
func NewEncoder(format string, w io.Writer, t *schema.Target, o EncoderOptions) (RowWriter, error) {
	switch format {
	case FormatParquet:
		return NewParquet(w, t, o.Compression, o.RowGroupBytes, o.Metadata)
	case FormatCSV:
		return NewCSV(w, t, o.CSVHeader), nil
	case FormatJSONL:
		return NewJSONLines(w, t), nil
	}
	return nil, fmt.Errorf("odsfile: format %w", CheckFormat(format))
}

// LayoutVersion identifies the column layout of a target: its name,
// partitioning and, per column, name, type, Parquet and Hive types,
// nullability and metadata kind. Rows of one layout version can share a
// file; schema files are named after it (SchemaName).
func LayoutVersion(t *schema.Target) uint64 {
	h := fnv.New64a()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(t.Name)
	w(t.PartitionColumn)
	w(t.Granularity)
	w(t.TimeZone)
	for i := range t.Columns {
		c := &t.Columns[i]
		w(c.Name)
		w(c.TypeSpec())
		w(c.Parquet.String())
		w(c.Hive)
		w(strconv.FormatBool(c.Nullable))
		w(c.Meta.String())
	}
	v := h.Sum64()
	if v == 0 {
		v = 1
	}
	return v
}
