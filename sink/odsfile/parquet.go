package odsfile

import (
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// Parquet compression codecs.
const (
	CompressionSnappy = "snappy"
	CompressionZstd   = "zstd"
	CompressionNone   = "none"
)

// ErrValue marks a row value an encoder cannot write (a value of the wrong
// kind for its column): retrying cannot help.
var ErrValue = errors.New("odsfile: value cannot be encoded")

// DefaultRowGroupBytes is the default uncompressed size of a Parquet row
// group: the writer's memory is bounded by about this much per open file.
const DefaultRowGroupBytes = 32 << 20

// Parquet writes a Parquet file: one typed column per target column, in
// target order, with the physical and logical types of
// schema.TargetColumn.Parquet and values from schema.TargetColumn.ParquetValue.
// Metadata columns are REQUIRED, source columns OPTIONAL. Output is
// deterministic: the same rows give the same bytes.
type Parquet struct {
	t        *schema.Target
	w        *parquet.Writer
	rows     []parquet.Row // rows not yet handed to the writer (reused)
	nrows    int
	pending  int64 // approximate bytes buffered in the current row group
	groupMax int64
	n        int64
}

// parquetBatch is how many rows are handed to the writer at once.
const parquetBatch = 256

// ParquetSchema returns the Parquet schema of a target (columns in target order).
func ParquetSchema(t *schema.Target) (*parquet.Schema, error) {
	g := &orderedGroup{}
	for i := range t.Columns {
		c := &t.Columns[i]
		n, err := parquetNode(&c.Parquet)
		if err != nil {
			return nil, fmt.Errorf("odsfile: target %s column %s: %w", t.Name, c.Name, err)
		}
		if c.Nullable {
			n = parquet.Optional(n)
		} else {
			n = parquet.Required(n)
		}
		g.fields = append(g.fields, &namedField{Node: n, name: c.Name})
	}
	return parquet.NewSchema(t.Name, g), nil
}

func parquetNode(p *schema.ParquetType) (parquet.Node, error) {
	switch p.Logical {
	case schema.LogicalList:
		if p.Element == nil {
			return nil, fmt.Errorf("LIST without an element type")
		}
		el, err := parquetNode(p.Element)
		if err != nil {
			return nil, err
		}
		return parquet.List(parquet.Optional(el)), nil
	case schema.LogicalInt:
		if !p.Signed {
			return parquet.Uint(p.BitWidth), nil
		}
		return parquet.Int(p.BitWidth), nil
	case schema.LogicalDecimal:
		var typ parquet.Type
		switch p.Physical {
		case schema.ParquetInt32:
			typ = parquet.Int32Type
		case schema.ParquetInt64:
			typ = parquet.Int64Type
		case schema.ParquetFixedLenByteArray:
			typ = parquet.FixedLenByteArrayType(p.Length)
		default:
			return nil, fmt.Errorf("DECIMAL on %s", p.Physical)
		}
		return parquet.Decimal(p.Scale, p.Precision, typ), nil
	case schema.LogicalString:
		return parquet.String(), nil
	case schema.LogicalJSON:
		return parquet.JSON(), nil
	case schema.LogicalDate:
		return parquet.Date(), nil
	case schema.LogicalTimestamp:
		unit := parquet.Microsecond
		switch p.Unit {
		case "MILLIS":
			unit = parquet.Millisecond
		case "MICROS":
		default:
			return nil, fmt.Errorf("TIMESTAMP unit %q", p.Unit)
		}
		return parquet.TimestampAdjusted(unit, p.AdjustedToUTC), nil
	case schema.LogicalNone:
		switch p.Physical {
		case schema.ParquetBoolean:
			return parquet.Leaf(parquet.BooleanType), nil
		case schema.ParquetInt32:
			return parquet.Leaf(parquet.Int32Type), nil
		case schema.ParquetInt64:
			return parquet.Leaf(parquet.Int64Type), nil
		case schema.ParquetFloat:
			return parquet.Leaf(parquet.FloatType), nil
		case schema.ParquetDouble:
			return parquet.Leaf(parquet.DoubleType), nil
		case schema.ParquetByteArray:
			return parquet.Leaf(parquet.ByteArrayType), nil
		case schema.ParquetFixedLenByteArray:
			return parquet.Leaf(parquet.FixedLenByteArrayType(p.Length)), nil
		}
	}
	return nil, fmt.Errorf("unsupported Parquet type %s", p)
}

// orderedGroup is a Parquet group whose fields keep the target column
// order (parquet.Group sorts them by name).
type orderedGroup struct {
	parquet.Group
	fields []parquet.Field
}

func (g *orderedGroup) Fields() []parquet.Field { return g.fields }
func (g *orderedGroup) String() string {
	s := "group {"
	for _, f := range g.fields {
		s += " " + f.Name()
	}
	return s + " }"
}

type namedField struct {
	parquet.Node
	name string
}

func (f *namedField) Name() string { return f.name }

// Value is used only by reflection-based writes, which odsync does not use.
func (f *namedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

// NewParquet returns a Parquet writer for target t. compression is snappy
// (default when empty), zstd or none; rowGroupBytes bounds the buffered row
// group (DefaultRowGroupBytes when <= 0). kv is added to the file's
// key-value metadata.
func NewParquet(w io.Writer, t *schema.Target, compression string, rowGroupBytes int64, kv map[string]string) (*Parquet, error) {
	sch, err := ParquetSchema(t)
	if err != nil {
		return nil, err
	}
	var codec compress.Codec
	switch compression {
	case "", CompressionSnappy:
		codec = &parquet.Snappy
	case CompressionZstd:
		codec = &parquet.Zstd
	case CompressionNone:
		codec = &parquet.Uncompressed
	default:
		return nil, fmt.Errorf("odsfile: parquet compression %q: want snappy, zstd or none", compression)
	}
	if rowGroupBytes <= 0 {
		rowGroupBytes = DefaultRowGroupBytes
	}
	opts := []parquet.WriterOption{sch, parquet.Compression(codec), &parquet.WriterConfig{CreatedBy: "odsync"},
		parquet.DataPageStatistics(true), parquet.PageBufferSize(1 << 20), parquet.WriteBufferSize(1 << 20)}
	for _, k := range sortedKeys(kv) {
		opts = append(opts, parquet.KeyValueMetadata(k, kv[k]))
	}
	pw := parquet.NewWriter(w, opts...)
	return &Parquet{t: t, w: pw, rows: make([]parquet.Row, parquetBatch), groupMax: rowGroupBytes}, nil
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// WriteRow writes one row aligned with the target columns.
func (p *Parquet) WriteRow(row []event.Value) error {
	r := p.rows[p.nrows][:0]
	var size int64
	for i := range p.t.Columns {
		c := &p.t.Columns[i]
		v := event.Null
		if i < len(row) {
			v = row[i]
		}
		pv, err := c.ParquetValue(v)
		if err != nil {
			return fmt.Errorf("%w: target %s row %d: %w", ErrValue, p.t.Name, p.n+1, err)
		}
		def := 0
		if c.Nullable {
			def = 1
		}
		if c.Parquet.Logical == schema.LogicalList {
			// optional/required LIST > repeated group list > optional element
			switch {
			case pv.Null:
				r = append(r, parquet.NullValue().Level(0, 0, i))
			case len(pv.List) == 0:
				r = append(r, parquet.NullValue().Level(0, def, i))
			default:
				for k, s := range pv.List {
					rep := 0
					if k > 0 {
						rep = 1
					}
					r = append(r, parquet.ByteArrayValue([]byte(s)).Level(rep, def+2, i))
					size += int64(len(s))
				}
			}
			continue
		}
		if pv.Null {
			r = append(r, parquet.NullValue().Level(0, 0, i))
			continue
		}
		var pval parquet.Value
		switch c.Parquet.Physical {
		case schema.ParquetBoolean:
			pval = parquet.BooleanValue(pv.Bool)
		case schema.ParquetInt32:
			pval = parquet.Int32Value(int32(pv.Int))
		case schema.ParquetInt64:
			pval = parquet.Int64Value(pv.Int)
		case schema.ParquetFloat:
			pval = parquet.FloatValue(float32(pv.Float))
		case schema.ParquetDouble:
			pval = parquet.DoubleValue(pv.Float)
		case schema.ParquetByteArray:
			pval = parquet.ByteArrayValue(pv.Bytes)
		case schema.ParquetFixedLenByteArray:
			pval = parquet.FixedLenByteArrayValue(pv.Bytes)
		default:
			return fmt.Errorf("odsfile: target %s column %s: unsupported Parquet type %s", p.t.Name, c.Name, c.Parquet)
		}
		size += 8 + int64(len(pv.Bytes))
		r = append(r, pval.Level(0, def, i))
	}
	p.rows[p.nrows] = r
	p.nrows++
	p.n++
	p.pending += size
	if p.nrows == len(p.rows) {
		if err := p.writeRows(); err != nil {
			return err
		}
	}
	if p.pending >= p.groupMax {
		p.pending = 0
		if err := p.writeRows(); err != nil {
			return err
		}
		if err := p.w.Flush(); err != nil {
			return fmt.Errorf("odsfile: target %s: parquet: %w", p.t.Name, err)
		}
	}
	return nil
}

// writeRows hands the buffered rows to the writer (which copies them).
func (p *Parquet) writeRows() error {
	if p.nrows == 0 {
		return nil
	}
	_, err := p.w.WriteRows(p.rows[:p.nrows])
	p.nrows = 0
	if err != nil {
		return fmt.Errorf("odsfile: target %s: parquet: %w", p.t.Name, err)
	}
	return nil
}

// Close flushes the last row group and writes the footer.
func (p *Parquet) Close() error {
	if err := p.writeRows(); err != nil {
		return err
	}
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("odsfile: target %s: parquet: %w", p.t.Name, err)
	}
	return nil
}

// Ext is the file extension.
func (p *Parquet) Ext() string { return "parquet" }

// SetMetadata sets a key-value pair of the footer metadata (before Close):
// for what is known only at the end of the file, such as its last row.
func (p *Parquet) SetMetadata(key, value string) { p.w.SetKeyValueMetadata(key, value) }
