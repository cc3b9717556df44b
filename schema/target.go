package schema

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/odsync/odsync/event"
)

// MetaKind says which metadata a target column holds.
type MetaKind uint8

// Metadata columns.
const (
	MetaNone        MetaKind = iota // a source column
	MetaOp                          // _op: event.Op.Code() (I, U, D, R)
	MetaSeq                         // _seq: the log sequence (dedupe and ordering key)
	MetaCommitTs                    // _commit_ts: the source commit time (UTC instant)
	MetaPos                         // _pos: the source position text
	MetaSourceDB                    // _src_db: the source database (merged routes)
	MetaSourceTable                 // _src_table: the source table (merged routes)
	MetaRaw                         // _raw: JSON of the row's values that did not fit their column (NULL when all fit)
)

// Metadata column names.
const (
	ColOp          = "_op"
	ColSeq         = "_seq"
	ColCommitTs    = "_commit_ts"
	ColPos         = "_pos"
	ColSourceDB    = "_src_db"
	ColSourceTable = "_src_table"
	ColRaw         = "_raw"
)

var metaNames = [...]string{MetaOp: ColOp, MetaSeq: ColSeq, MetaCommitTs: ColCommitTs, MetaPos: ColPos,
	MetaSourceDB: ColSourceDB, MetaSourceTable: ColSourceTable, MetaRaw: ColRaw}

var metaSpecs = [...]typeSpec{MetaOp: {kind: KindString}, MetaSeq: {kind: KindBigInt},
	MetaCommitTs: {kind: KindTimestamp}, MetaPos: {kind: KindString}, MetaSourceDB: {kind: KindString},
	MetaSourceTable: {kind: KindString}, MetaRaw: {kind: KindString}}

// String returns the column name of the metadata kind ("" for MetaNone).
func (k MetaKind) String() string {
	if k > MetaNone && int(k) < len(metaNames) {
		return metaNames[k]
	}
	return ""
}

func isMetaName(n string) bool {
	for _, m := range metaNames {
		if m != "" && m == n {
			return true
		}
	}
	return false
}

// Target is the ODS table a source table version maps to, with the column
// layout sinks write. Targets are immutable; share them freely.
//
// Column order: the metadata columns _op, _seq, _commit_ts, _pos, _raw,
// then (merged routes only) _src_db, _src_table, then the source columns
// in source order. Schema evolution only ever appends columns, so a target
// that has evolved has its added columns at the end (also _raw, on a table
// created before odsync had it: Reconcile and Plan add it in every mode),
// and columns whose source column is gone stay in place with Source -1
// (written as NULL).
// The partition column is not in Columns.
type Target struct {
	// Name is the ODS table name (lower case, MaxCompute-legal). From layout
	// version 2 on (evolve mode), it ends in "_v<Version>".
	Name string
	// BaseName is the name without the version suffix.
	BaseName string
	// Version is the layout version: 1, or more after evolve mode had to
	// start a new table for a change the target cannot alter in place.
	Version int
	// Source is the source table whose rows Row reads, SourceVersion the
	// event.Table.Version the Source indexes in Columns refer to.
	Source        event.TableID
	SourceVersion uint64
	// Merged is true when the target merges several source tables; it then
	// has _src_db and _src_table columns.
	Merged bool
	// Columns are the target columns (order documented above).
	Columns []TargetColumn
	// Key indexes Columns of the key columns, for dedupe and merge: the
	// source primary key (or the configured key), preceded by _src_db and
	// _src_table on merged targets. Empty when the table has no key.
	Key []int
	// PartitionColumn is the partition column ("ds"), Granularity "day"
	// (yyyymmdd) or "hour" (yyyymmddhh), TimeZone the zone of the partition
	// value.
	PartitionColumn string
	Granularity     string
	TimeZone        string
	// Mode is the schema-evolution mode of this table.
	Mode Mode

	loc   *time.Location
	stop  bool      // mapping.on_value_error: stop (SinkRow is CheckedRow)
	stats *rawStats // the mapper's _raw counts (nil: not counted)
}

// TargetColumn is one column of a Target.
type TargetColumn struct {
	Name string
	// Source indexes event.Table.Columns of Target.SourceVersion, or is -1
	// for a metadata column and for a column the source no longer has.
	Source int
	// SourceName is the source column name ("" for metadata columns).
	SourceName string
	// Meta is MetaNone for source columns.
	Meta MetaKind
	// Kind is the system-independent target type; Precision and Scale
	// qualify KindDecimal.
	Kind      Kind
	Precision int
	Scale     int
	// MaxCompute is the MaxCompute 2.0 type, e.g. "DECIMAL(20,0)".
	MaxCompute string
	// Parquet is the Parquet physical + logical type.
	Parquet ParquetType
	// Hive is the Hive/Athena DDL type for Parquet-backed tables.
	Hive string
	// Lossy is non-empty when the chosen mapping loses information: it says what.
	Lossy string
	// Nullable is true for every source column (an ODS table never refuses
	// a change: evolution adds nullable columns, removed columns read NULL,
	// values that do not fit are NULL with their text in _raw) and for
	// _raw, false for the other metadata columns.
	Nullable bool

	src *event.Column // the source column, for conversions (nil for metadata)
	cv  *converter
}

// spec returns the column's type spec.
func (c *TargetColumn) spec() typeSpec {
	return typeSpec{kind: c.Kind, precision: c.Precision, scale: c.Scale}
}

// TypeSpec returns the column's target type as a config type spec, e.g.
// "decimal(20,0)" or "timestamp_ntz".
func (c *TargetColumn) TypeSpec() string { return c.spec().String() }

func newColumn(name string, s typeSpec) TargetColumn {
	return TargetColumn{Name: name, Source: -1, Kind: s.kind, Precision: s.precision, Scale: s.scale,
		MaxCompute: s.maxCompute(), Parquet: s.parquet(), Hive: s.hive(), Nullable: true}
}

func metaColumn(k MetaKind) TargetColumn {
	c := newColumn(metaNames[k], metaSpecs[k])
	c.Meta = k
	c.Nullable = k == MetaRaw
	return c
}

// Partition returns the partition value for a commit time in microseconds
// since the epoch: "yyyymmdd" (day) or "yyyymmddhh" (hour) in the
// configured time zone.
func (t *Target) Partition(commitMicros int64) string {
	loc := t.loc
	if loc == nil {
		loc = time.UTC
	}
	tm := time.UnixMicro(commitMicros).In(loc)
	var buf [10]byte
	b := appendDigits(buf[:0], tm.Year(), 4)
	b = appendDigits(b, int(tm.Month()), 2)
	b = appendDigits(b, tm.Day(), 2)
	if t.Granularity == GranularityHour {
		b = appendDigits(b, tm.Hour(), 2)
	}
	return string(b)
}

func appendDigits(b []byte, v, width int) []byte {
	var tmp [8]byte
	i := len(tmp)
	for v > 0 || i == len(tmp) {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// ColumnIndex returns the index of the named target column or -1.
func (t *Target) ColumnIndex(name string) int {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return i
		}
	}
	return -1
}

// Row fills dst (reused when it has room) with the target row for e,
// aligned with Columns, and returns it: metadata values (_op event.String(code), _seq event.Uint(e.Seq),
// _commit_ts event.TimestampMicros, _pos event.String, _src_db/_src_table
// event.String) and the source values (After, or Before for deletes)
// converted to the column's Kind (see TargetColumn.Convert). Columns the
// row image lacks are NULL.
//
// Row never fails: a value that cannot be converted (a zero date under
// zero_dates: raw, a value outside the target's range, a fraction in an
// integer column, a value of the wrong kind) is NULL in its column and
// its lossless text (what a STRING column would hold) is in _raw, a JSON
// object keyed by target column name in column order, e.g.
// {"d":"0000-00-00","big":"-9223372036854775808"}; _raw is NULL when
// every value fit. Each such value is counted (Mapper.RawCounts) and the
// first of each target column logged. A value that cannot be converted
// under zero_dates: error is kept in _raw too: sinks that must refuse such
// rows use CheckedRow (or SinkRow).
func (t *Target) Row(e *event.Event, dst []event.Value) []event.Value {
	dst, _ = t.row(e, dst, false, false)
	return dst
}

// CheckedRow is Row that stops at the first value that cannot be converted
// and returns a *ConvertError naming the table, column, position and
// cause. Zero dates under zero_dates: raw still go to _raw (that policy
// is what the user chose for them).
func (t *Target) CheckedRow(e *event.Event, dst []event.Value) ([]event.Value, error) {
	return t.row(e, dst, true, true)
}

// SinkRow is the row a sink writes under mapping.on_value_error: Row
// (raw, the default) or CheckedRow (stop). A zero date under zero_dates:
// error is an error under both.
func (t *Target) SinkRow(e *event.Event, dst []event.Value) ([]event.Value, error) {
	return t.row(e, dst, t.stop, true)
}

// row builds the row; checked: a value that cannot be converted is an
// error (except a zero date under zero_dates: raw); zeroErr: a zero date
// under zero_dates: error is an error.
func (t *Target) row(e *event.Event, dst []event.Value, checked, zeroErr bool) ([]event.Value, error) {
	if cap(dst) < len(t.Columns) {
		dst = make([]event.Value, len(t.Columns))
	}
	dst = dst[:len(t.Columns)]
	img := e.Row()
	rawIdx := -1
	var raw []byte // the _raw JSON, built at the first value that does not fit
	for i := range t.Columns {
		c := &t.Columns[i]
		switch c.Meta {
		case MetaOp:
			dst[i] = event.String(e.Op.Code())
		case MetaSeq:
			dst[i] = event.Uint(e.ODSSeq())
		case MetaCommitTs:
			dst[i] = event.TimestampMicros(e.CommitTime)
		case MetaPos:
			// Rows of one binlog event share a position: when dst (a
			// reused row) already holds this text, keep it, saving a
			// string per row.
			var tmp [128]byte
			text := e.Pos.AppendText(tmp[:0])
			if old := dst[i]; old.Kind() != event.KindString || old.Str() != string(text) {
				dst[i] = event.String(string(text))
			}
		case MetaSourceDB:
			dst[i] = event.String(e.Source.DB)
		case MetaSourceTable:
			dst[i] = event.String(e.Source.Table)
		case MetaRaw:
			rawIdx = i
		default:
			if c.Source < 0 || c.Source >= len(img) {
				dst[i] = event.Null
				continue
			}
			v, err := c.Convert(img[c.Source])
			if err != nil {
				if checked && !errors.Is(err, ErrZeroDateRaw) || zeroErr && errors.Is(err, ErrZeroDate) {
					return dst, &ConvertError{Table: e.Source, Target: t.Name, Column: c.Name, Pos: e.Pos, Seq: e.Seq, Err: err}
				}
				if raw == nil {
					raw = append(make([]byte, 0, 64), '{')
				} else {
					raw = append(raw, ',')
				}
				raw = appendJSONString(raw, c.Name)
				raw = append(raw, ':')
				raw = appendJSONString(raw, c.conv().text(img[c.Source]))
				t.stats.note(e, t.Name, c.Name, err)
				v = event.Null
			}
			dst[i] = v
		}
	}
	if rawIdx >= 0 {
		if raw != nil {
			dst[rawIdx] = event.String(string(append(raw, '}')))
		} else {
			dst[rawIdx] = event.Null
		}
	}
	return dst, nil
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 bytes become
// U+FFFD (source text is UTF-8; binary values are rendered as base64).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, "\\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
