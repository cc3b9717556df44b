package schema

import (
	"time"

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
)

// Metadata column names.
const (
	ColOp          = "_op"
	ColSeq         = "_seq"
	ColCommitTs    = "_commit_ts"
	ColPos         = "_pos"
	ColSourceDB    = "_src_db"
	ColSourceTable = "_src_table"
)

var metaNames = [...]string{MetaOp: ColOp, MetaSeq: ColSeq, MetaCommitTs: ColCommitTs, MetaPos: ColPos,
	MetaSourceDB: ColSourceDB, MetaSourceTable: ColSourceTable}

var metaSpecs = [...]typeSpec{MetaOp: {kind: KindString}, MetaSeq: {kind: KindBigInt},
	MetaCommitTs: {kind: KindTimestamp}, MetaPos: {kind: KindString}, MetaSourceDB: {kind: KindString},
	MetaSourceTable: {kind: KindString}}

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
// Column order: the metadata columns _op, _seq, _commit_ts, _pos, then
// (merged routes only) _src_db, _src_table, then the source columns in
// source order. Schema evolution only ever appends columns, so a target
// that has evolved has its added columns at the end, and columns whose
// source column is gone stay in place with Source -1 (written as NULL).
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

	loc *time.Location
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
	// zero dates may become NULL) and false for the metadata columns.
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
	c.Nullable = false
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
// zero_dates: error, an out-of-range value under a narrowing override, a
// value of the wrong kind) is written as its source text, event.String,
// so nothing is lost but a typed writer will refuse it. Sinks that must
// refuse such rows with a precise error use CheckedRow.
func (t *Target) Row(e *event.Event, dst []event.Value) []event.Value {
	dst, _ = t.row(e, dst, false)
	return dst
}

// CheckedRow is Row that stops at the first value that cannot be converted
// and returns an error naming the table, column, position and cause.
func (t *Target) CheckedRow(e *event.Event, dst []event.Value) ([]event.Value, error) {
	return t.row(e, dst, true)
}

func (t *Target) row(e *event.Event, dst []event.Value, checked bool) ([]event.Value, error) {
	if cap(dst) < len(t.Columns) {
		dst = make([]event.Value, len(t.Columns))
	}
	dst = dst[:len(t.Columns)]
	img := e.Row()
	for i := range t.Columns {
		c := &t.Columns[i]
		switch c.Meta {
		case MetaOp:
			dst[i] = event.String(e.Op.Code())
		case MetaSeq:
			dst[i] = event.Uint(e.Seq)
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
		default:
			if c.Source < 0 || c.Source >= len(img) {
				dst[i] = event.Null
				continue
			}
			v, err := c.Convert(img[c.Source])
			if err != nil {
				if checked {
					return dst, &ConvertError{Table: e.Source, Target: t.Name, Column: c.Name, Pos: e.Pos, Seq: e.Seq, Err: err}
				}
				v = event.String(img[c.Source].Text())
			}
			dst[i] = v
		}
	}
	return dst, nil
}
