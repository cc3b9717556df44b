package odsfile

import (
	"bufio"
	"io"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// CSV writes comma-separated rows that Athena/Glue's OpenCSVSerde reads
// with the DDL of schema.Target.AthenaCreate (separatorChar ',',
// quoteChar '"', escapeChar '\\', every column a string):
//
//   - every non-NULL value is quoted; inside it '\' is written '\\' and '"'
//     is written '\"' (OpenCSVSerde drops a backslash that escapes nothing);
//   - NULL is an empty unquoted field, an empty string is "" (OpenCSVSerde
//     reads both as the empty string; RFC 4180 readers tell them apart);
//   - values are the text of schema.TargetColumn.AppendText (timestamps as
//     YYYY-MM-DD HH:MM:SS[.ffffff] UTC, binary as base64, booleans true/false);
//   - rows end in '\n'. Line breaks inside values are kept inside the quotes
//     (RFC 4180); OpenCSVSerde, which splits lines first, cannot read them,
//     so tables with multi-line text are best written as Parquet.
//
// With header, the first line holds the column names.
type CSV struct {
	w      *bufio.Writer
	t      *schema.Target
	buf    []byte
	tmp    []byte
	header bool
}

// NewCSV returns a CSV writer for target t.
func NewCSV(w io.Writer, t *schema.Target, header bool) *CSV {
	return &CSV{w: bufio.NewWriterSize(w, 256<<10), t: t, header: header}
}

// Ext is the file extension.
func (c *CSV) Ext() string { return "csv" }

// WriteRow writes one row aligned with the target columns.
func (c *CSV) WriteRow(row []event.Value) error {
	b := c.buf[:0]
	if c.header {
		c.header = false
		for i := range c.t.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCSVQuoted(b, c.t.Columns[i].Name)
		}
		b = append(b, '\n')
	}
	for i := range c.t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		if i >= len(row) || row[i].IsNull() {
			continue
		}
		c.tmp = c.t.Columns[i].AppendText(c.tmp[:0], row[i])
		b = appendCSVQuoted(b, string(c.tmp))
	}
	b = append(b, '\n')
	c.buf = b
	_, err := c.w.Write(b)
	return err
}

// Close writes the header of an empty file and flushes.
func (c *CSV) Close() error {
	if c.header {
		c.header = false
		b := c.buf[:0]
		for i := range c.t.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCSVQuoted(b, c.t.Columns[i].Name)
		}
		b = append(b, '\n')
		if _, err := c.w.Write(b); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

func appendCSVQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', s[i])
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
