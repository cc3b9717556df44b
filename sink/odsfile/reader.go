package odsfile

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/jsontape"
	"github.com/odsync/odsync/schema"
)

// The readers read ODS files (this package's JSON lines, CSV and Parquet)
// back into target values, as odsync verify does: for each column of the target layout,
// the event.Value kind schema.Target.Row produces for the column's Kind
// (see schema.Kind). Values that do not parse as their column's kind are
// kept as text (event.String), as Row writes values it cannot convert.
// Columns a file lacks (older layouts) are NULL.

// RowReader decodes the rows of ODS files written for one target layout
// (the readers of the writers of this package).
type RowReader struct {
	t      *schema.Target
	byName map[string]int
	row    []event.Value

	tape     jsontape.Tape // JSON lines: the parsed line
	key, val []byte        // JSON lines: unescape buffers
}

// NewRowReader returns a reader of rows of layout t.
func NewRowReader(t *schema.Target) *RowReader {
	d := &RowReader{t: t, byName: make(map[string]int, len(t.Columns))}
	for i := range t.Columns {
		d.byName[t.Columns[i].Name] = i
	}
	return d
}

// Column returns the index of the layout's column name, or -1.
func (d *RowReader) Column(name string) int {
	if i, ok := d.byName[name]; ok {
		return i
	}
	return -1
}

// Row returns the reader's row buffer, every value NULL, for a decoder of
// another format (a MaxCompute download) to fill.
func (d *RowReader) Row() []event.Value {
	if cap(d.row) < len(d.t.Columns) {
		d.row = make([]event.Value, len(d.t.Columns))
	}
	d.row = d.row[:len(d.t.Columns)]
	for i := range d.row {
		d.row[i] = event.Null
	}
	return d.row
}

// FromText converts the text of a value (JSON string or number, CSV field)
// to the target value of column c.
func FromText(c *schema.TargetColumn, s string) event.Value {
	switch c.Kind {
	case schema.KindBoolean:
		switch strings.ToLower(s) {
		case "true", "1":
			return event.Int(1)
		case "false", "0":
			return event.Int(0)
		}
	case schema.KindTinyInt, schema.KindSmallInt, schema.KindInt, schema.KindBigInt:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return event.Int(i)
		}
	case schema.KindFloat:
		if f, err := strconv.ParseFloat(s, 32); err == nil {
			return event.Float32(float32(f))
		}
	case schema.KindDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return event.Float64(f)
		}
	case schema.KindDecimal:
		if _, ok := NormalizeDecimal(s, c.Scale); ok {
			return event.Decimal(s)
		}
	case schema.KindString, schema.KindStringArray:
		return event.String(s)
	case schema.KindJSON:
		return event.JSON(s)
	case schema.KindBinary:
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return event.Bytes(b)
		}
	case schema.KindDate:
		if y, mo, d, _, _, _, _, ok := ParseCivil(s); ok && len(s) == 10 && mo != 0 && d != 0 {
			return event.Date(y, mo, d)
		}
	case schema.KindDateTime, schema.KindTimestamp:
		if y, mo, d, h, mi, sec, us, ok := ParseCivil(s); ok && mo != 0 && d != 0 {
			return event.TimestampMicros(CivilMicros(y, mo, d, h, mi, sec, us))
		}
	case schema.KindTimestampNTZ:
		if y, mo, d, h, mi, sec, us, ok := ParseCivil(s); ok && mo != 0 && d != 0 {
			return event.DateTime(y, mo, d, h, mi, sec, us)
		}
	}
	return event.String(s)
}

// decodeJSONLines reads JSON-lines rows and calls fn with each, aligned
// with the target's columns. fn must not keep the slice.
func (d *RowReader) ReadJSONLines(r io.Reader, fn func([]event.Value) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	line := 0
	for {
		b, err := readLine(br)
		if len(b) > 0 {
			line++
			row := d.Row()
			if perr := d.parseJSONObject(b, row); perr != nil {
				return fmt.Errorf("line %d: %w", line, perr)
			}
			if ferr := fn(row); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line without its newline (any length).
func readLine(br *bufio.Reader) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), b...)
		for err == bufio.ErrBufferFull {
			b, err = br.ReadSlice('\n')
			buf = append(buf, b...)
		}
		b = buf
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, err
}

// parseJSONObject parses one flat JSON object of scalars (what odsfile's
// JSON-lines encoder writes) into row, with package jsontape: numbers keep
// their exact text (big integers, decimals, -0), strings are unescaped.
func (d *RowReader) parseJSONObject(b []byte, row []event.Value) error {
	t := &d.tape
	root, err := t.ParseOne(b)
	if err != nil {
		return err
	}
	if k := t.Kind(root); k != jsontape.JObject {
		return fmt.Errorf("a JSON %s, not an object", k)
	}
	for k, end := root+1, t.Nodes[root].Next; k < end; k = t.Nodes[k+1].Next {
		v := k + 1
		key := t.Text(k, d.key)
		if t.Nodes[k].Esc {
			d.key = key[:0] // keep the grown buffer (unescaped text never aliases the line)
		}
		switch kind := t.Kind(v); kind {
		case jsontape.JObject, jsontape.JArray:
			return fmt.Errorf("member %q is a JSON %s (only flat objects of scalars are ODS rows)", key, kind)
		}
		i, ok := d.byName[string(key)]
		if !ok {
			continue
		}
		switch t.Kind(v) {
		case jsontape.JNull:
			row[i] = event.Null
		case jsontape.JTrue, jsontape.JFalse:
			text := string(t.Raw(v))
			if d.t.Columns[i].Kind == schema.KindBoolean {
				row[i] = FromText(&d.t.Columns[i], text)
			} else {
				row[i] = event.String(text)
			}
		default: // string (unescaped) or number (its text)
			text := t.Text(v, d.val)
			if t.Nodes[v].Esc {
				d.val = text[:0]
			}
			row[i] = FromText(&d.t.Columns[i], string(text))
		}
	}
	return nil
}

// decodeCSV reads odsfile's CSV (every non-NULL value double-quoted with
// backslash escapes; an empty unquoted field is NULL). With a header line
// (recognised by its first field, "_op"), columns are matched by name;
// without, by position in the target layout.
func (d *RowReader) ReadCSV(r io.Reader, fn func([]event.Value) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var fields []csvField
	var mapping []int
	rec := 0
	for {
		var err error
		fields, err = readCSVRecord(br, fields[:0])
		if err == io.EOF && len(fields) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("record %d: %w", rec+1, err)
		}
		rec++
		if rec == 1 && len(fields) > 0 && fields[0].quoted && fields[0].text == schema.ColOp {
			mapping = make([]int, len(fields))
			for i, f := range fields {
				j, ok := d.byName[f.text]
				if !ok {
					j = -1
				}
				mapping[i] = j
			}
		} else {
			row := d.Row()
			for i, f := range fields {
				j := i
				if mapping != nil {
					if i >= len(mapping) {
						break
					}
					j = mapping[i]
				}
				if j < 0 || j >= len(row) {
					continue
				}
				if !f.quoted && f.text == "" {
					row[j] = event.Null
					continue
				}
				row[j] = FromText(&d.t.Columns[j], f.text)
			}
			if err := fn(row); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

type csvField struct {
	text   string
	quoted bool
}

// readCSVRecord reads one record; io.EOF with fields means the last record
// had no final newline.
func readCSVRecord(br *bufio.Reader, fields []csvField) ([]csvField, error) {
	var sb strings.Builder
	quoted, inQuotes, any := false, false, false
	flush := func() {
		fields = append(fields, csvField{text: sb.String(), quoted: quoted})
		sb.Reset()
		quoted = false
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			if err == io.EOF && any {
				if inQuotes {
					return fields, errors.New("unterminated quoted field")
				}
				flush()
			}
			return fields, err
		}
		any = true
		switch {
		case inQuotes && c == '\\':
			n, err := br.ReadByte()
			if err != nil {
				return fields, errors.New("bad escape at end of file")
			}
			if n != '"' && n != '\\' {
				sb.WriteByte('\\')
			}
			sb.WriteByte(n)
		case c == '"':
			if inQuotes {
				inQuotes = false
			} else {
				inQuotes, quoted = true, true
			}
		case inQuotes:
			sb.WriteByte(c)
		case c == ',':
			flush()
		case c == '\n':
			if s := sb.String(); strings.HasSuffix(s, "\r") {
				sb.Reset()
				sb.WriteString(strings.TrimSuffix(s, "\r"))
			}
			flush()
			return fields, nil
		default:
			sb.WriteByte(c)
		}
	}
}

// decodeParquet reads a Parquet file written by odsfile (one leaf column
// per field, in the target's column order; SET as a LIST of strings).
func (d *RowReader) ReadParquet(ra io.ReaderAt, size int64, fn func([]event.Value) error) error {
	f, err := parquet.OpenFile(ra, size)
	if err != nil {
		return err
	}
	fields := f.Schema().Fields()
	mapping := make([]int, len(fields))
	for i, fl := range fields {
		j, ok := d.byName[fl.Name()]
		if !ok {
			j = -1
		}
		mapping[i] = j
	}
	buf := make([]parquet.Row, 64)
	lists := make([][]string, len(fields))
	listNull := make([]bool, len(fields))
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, rerr := rows.ReadRows(buf)
			for _, pr := range buf[:n] {
				row := d.Row()
				for i := range lists {
					lists[i] = lists[i][:0]
					listNull[i] = false
				}
				var derr error
				pr.Range(func(ci int, vs []parquet.Value) bool {
					if ci >= len(mapping) || mapping[ci] < 0 {
						return true
					}
					j := mapping[ci]
					c := &d.t.Columns[j]
					if c.Kind == schema.KindStringArray || c.Parquet.Logical == schema.LogicalList {
						if len(vs) == 1 && vs[0].IsNull() {
							if vs[0].DefinitionLevel() == 0 {
								row[j] = event.Null
							} else {
								row[j] = event.String("")
							}
							return true
						}
						var parts []string
						for _, v := range vs {
							parts = append(parts, string(v.ByteArray()))
						}
						row[j] = event.String(strings.Join(parts, ","))
						return true
					}
					if len(vs) == 0 || vs[0].IsNull() {
						row[j] = event.Null
						return true
					}
					row[j], derr = parquetValue(c, vs[0])
					return derr == nil
				})
				if derr != nil {
					rows.Close()
					return derr
				}
				if err := fn(row); err != nil {
					rows.Close()
					return err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				rows.Close()
				return rerr
			}
		}
		rows.Close()
	}
	return nil
}

// parquetValue converts a non-NULL Parquet value of column c (written by
// schema.TargetColumn.ParquetValue) to its target value.
func parquetValue(c *schema.TargetColumn, v parquet.Value) (event.Value, error) {
	switch c.Kind {
	case schema.KindBoolean:
		if v.Kind() == parquet.Boolean {
			if v.Boolean() {
				return event.Int(1), nil
			}
			return event.Int(0), nil
		}
		return event.Int(v.Int64()), nil
	case schema.KindTinyInt, schema.KindSmallInt, schema.KindInt, schema.KindBigInt:
		if v.Kind() == parquet.Int32 {
			return event.Int(int64(v.Int32())), nil
		}
		return event.Int(v.Int64()), nil
	case schema.KindFloat:
		return event.Float32(v.Float()), nil
	case schema.KindDouble:
		if v.Kind() == parquet.Float {
			return event.Float64(float64(v.Float())), nil
		}
		return event.Float64(v.Double()), nil
	case schema.KindDecimal:
		var u *big.Int
		switch v.Kind() {
		case parquet.Int32:
			return event.Decimal(scaledInt(int64(v.Int32()), c.Scale)), nil
		case parquet.Int64:
			return event.Decimal(scaledInt(v.Int64(), c.Scale)), nil
		case parquet.FixedLenByteArray, parquet.ByteArray:
			b := v.ByteArray()
			if len(b) > 0 && len(b) <= 8 {
				// Fits an int64: sign-extend the big-endian bytes.
				i := int64(int8(b[0]))
				for _, x := range b[1:] {
					i = i<<8 | int64(x)
				}
				return event.Decimal(scaledInt(i, c.Scale)), nil
			}
			u = fromTwosComplement(b)
		default:
			return event.Null, fmt.Errorf("column %s: decimal stored as %s", c.Name, v.Kind())
		}
		return event.Decimal(scaledText(u, c.Scale)), nil
	case schema.KindString, schema.KindStringArray:
		return event.String(string(v.ByteArray())), nil
	case schema.KindJSON:
		return event.JSON(string(v.ByteArray())), nil
	case schema.KindBinary:
		return event.Bytes(v.ByteArray()), nil
	case schema.KindDate:
		days := int64(v.Int32())
		y, mo, d := event.CivilFromDays(days)
		return event.Date(y, mo, d), nil
	case schema.KindDateTime:
		if c.Parquet.Unit == "MILLIS" {
			return event.TimestampMicros(v.Int64() * 1000), nil
		}
		return event.TimestampMicros(v.Int64()), nil
	case schema.KindTimestamp:
		if c.Parquet.Unit == "MILLIS" {
			return event.TimestampMicros(v.Int64() * 1000), nil
		}
		return event.TimestampMicros(v.Int64()), nil
	case schema.KindTimestampNTZ:
		us := v.Int64()
		if c.Parquet.Unit == "MILLIS" {
			us *= 1000
		}
		return civilFromMicros(us), nil
	}
	return event.Null, fmt.Errorf("column %s: unsupported kind %s", c.Name, c.Kind)
}

// fromTwosComplement reads big-endian two's complement bytes.
func fromTwosComplement(b []byte) *big.Int {
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		m := new(big.Int).Lsh(big.NewInt(1), uint(8*len(b)))
		u.Sub(u, m)
	}
	return u
}

// scaledInt renders an unscaled decimal that fits an int64 with scale
// fraction digits (scaledText's text, without big.Int).
func scaledInt(i int64, scale int) string {
	if i == math.MinInt64 || scale > 38 {
		return scaledText(big.NewInt(i), scale)
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], i, 10)
	var buf [64]byte
	out := buf[:0]
	if neg {
		out = append(out, '-')
	}
	switch {
	case scale == 0:
		out = append(out, d...)
	case len(d) <= scale: // 0.00ddd
		out = append(out, '0', '.')
		for range scale - len(d) {
			out = append(out, '0')
		}
		out = append(out, d...)
	default:
		out = append(out, d[:len(d)-scale]...)
		out = append(out, '.')
		out = append(out, d[len(d)-scale:]...)
	}
	return string(out)
}

// scaledText renders an unscaled decimal with scale fraction digits.
func scaledText(u *big.Int, scale int) string {
	neg := u.Sign() < 0
	s := new(big.Int).Abs(u).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// civilFromMicros is the civil date-time of microseconds since the epoch
// read as UTC.
func civilFromMicros(us int64) event.Value {
	days := us / 86400e6
	rem := us % 86400e6
	if rem < 0 {
		rem += 86400e6
		days--
	}
	y, mo, d := event.CivilFromDays(days)
	secs := rem / 1e6
	return event.DateTime(y, mo, d, int(secs/3600), int(secs/60%60), int(secs%60), int(rem%1e6))
}
