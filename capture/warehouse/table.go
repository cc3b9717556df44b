package warehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
	"github.com/odsync/odsync/sink/readback"
)

// table is one warehouse table being read back: the layout its data is
// decoded with, the source table its rows are emitted as, and where each
// source column and metadata column sits in the layout.
type table struct {
	// name is the table's name in the warehouse (the ODS table).
	name   string
	layout *schema.Target
	src    *event.Table
	// cols[i] is the layout index of source column i (-1: the files do
	// not have it, NULL).
	cols []int
	// Metadata column indexes in the layout (-1 when absent).
	op, seq, commit, raw int
	// changeLog: odsync's own table (_op, _seq): rows are changes.
	changeLog bool
	// format of a table written by another tool ("" for odsync's).
	format string
	// header: its CSV files start with a header line.
	header bool
	// settle is the settle window of a table of another tool in
	// incremental mode (extMark).
	settle time.Duration
	// base is the table's name without the _v<N> suffix of evolve mode's
	// versions: the checkpoint names a table by it, and tables load in
	// its order.
	base string
	// older are the table's earlier versions (evolve mode: <base>,
	// <base>_v2, ... before this one), oldest first; their rows are read
	// as this table's, converted to its columns (fromVersion).
	older []*version
}

// version is an earlier version of a table: how its rows are decoded and
// where each of the newest version's source columns is in its rows.
type version struct {
	t *table
	// from[i] is the index of the newest version's source column i in
	// this version's source row (-1: it has none, NULL); conv[i] says the
	// source types differ and the value goes through its text.
	from []int
	conv []bool
}

// schemaFile is the part of odsync's schema file (schema.Target.SchemaJSON)
// the source reads: the source table, its key and each column's source
// name and source type.
type schemaFile struct {
	Name     string `json:"name"`
	BaseName string `json:"base_name"`
	Version  int    `json:"version"`
	Source   struct {
		DB    string `json:"db"`
		Table string `json:"table"`
	} `json:"source"`
	Partition struct {
		Column string `json:"column"`
	} `json:"partition"`
	Key     []string `json:"key"`
	Columns []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Meta       string `json:"meta"`
		Source     string `json:"source"`
		SourceType string `json:"source_type"`
	} `json:"columns"`
}

// odsTable builds the table of an odsync ODS table from its schema file.
func odsTable(name string, b []byte) (*table, error) {
	var f schemaFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("table %s: schema file: %w", name, err)
	}
	return odsTableOf(name, f)
}

// odsTableOf builds the table of an odsync ODS table from what its schema
// file (or a MaxCompute table's comments) says.
func odsTableOf(name string, f schemaFile) (*table, error) {
	if f.Source.Table == "" || len(f.Columns) == 0 {
		return nil, fmt.Errorf("table %s: schema file: no source table or no columns", name)
	}
	ex := schema.Existing{Version: f.Version}
	src := &event.Table{ID: event.TableID{DB: f.Source.DB, Table: f.Source.Table}}
	var srcOf []string // layout column name of each source column
	var errs []error
	for _, c := range f.Columns {
		if c.Name == f.Partition.Column && c.Meta == "" && c.Source == "" {
			continue
		}
		ex.Columns = append(ex.Columns, schema.ExistingColumn{Name: c.Name, Type: c.Type})
		if c.Meta != "" || c.Source == "" {
			continue // metadata, or a column kept after its source column was dropped
		}
		st := c.SourceType
		if st == "" {
			errs = append(errs, fmt.Errorf("table %s column %s: the schema file has no source type (written by an older odsync)", name, c.Name))
			continue
		}
		col, err := sourceColumn(st)
		if err != nil {
			errs = append(errs, fmt.Errorf("table %s column %s: source type: %w", name, c.Name, err))
			continue
		}
		col.Name = c.Source
		col.Nullable = true
		src.Columns = append(src.Columns, col)
		srcOf = append(srcOf, c.Name)
	}
	for _, k := range f.Key {
		i := -1
		for j, n := range srcOf {
			if strings.EqualFold(n, k) {
				i = j
			}
		}
		if i < 0 {
			errs = append(errs, fmt.Errorf("table %s: key column %s is not a source column", name, k))
			continue
		}
		src.Key = append(src.Key, i)
		src.Columns[i].Nullable = false
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	layout, err := schema.ExistingTarget(name, ex)
	if err != nil {
		return nil, err
	}
	t := &table{name: name, layout: layout, src: src.Seal(), changeLog: true, base: f.BaseName}
	if t.base == "" {
		t.base = name
	}
	t.index(srcOf)
	if t.op < 0 || t.seq < 0 {
		return nil, fmt.Errorf("table %s: the schema file has no _op or _seq column", name)
	}
	return t, nil
}

// externalTable builds the table of a table written by another tool
// (Athena/Glue): its columns are given in the configuration with MySQL
// types; the files hold them as odsync's default mapping would (docs/types.md).
func externalTable(tc TableConfig) (*table, error) {
	src := &event.Table{ID: event.TableID{DB: tc.Database, Table: tc.Table}}
	ex := schema.Existing{Version: 1}
	m, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	for _, c := range tc.Columns {
		col, err := sourceColumn(c.Type)
		if err != nil {
			errs = append(errs, fmt.Errorf("table %s column %s: type: %w", tc.Name, c.Name, err))
			continue
		}
		col.Name = c.Name
		col.Nullable = true
		src.Columns = append(src.Columns, col)
		names = append(names, c.Name)
	}
	for _, k := range tc.Key {
		i := src.ColumnIndex(k)
		if i < 0 {
			errs = append(errs, fmt.Errorf("table %s: key column %s is not among its columns", tc.Name, k))
			continue
		}
		src.Key = append(src.Key, i)
		src.Columns[i].Nullable = false
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	src.Seal()
	// The column types the files hold: the default mapping of each source
	// column (a decimal(12,2) column is a Parquet DECIMAL(12,2), a
	// datetime a TIMESTAMP, ...).
	tg, err := m.Target(src)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", tc.Name, err)
	}
	for _, c := range tg.Columns {
		if c.Meta != schema.MetaNone {
			continue
		}
		ex.Columns = append(ex.Columns, schema.ExistingColumn{Name: c.SourceName, Type: c.TypeSpec()})
	}
	layout, err := schema.ExistingTarget(tc.Name, ex)
	if err != nil {
		return nil, err
	}
	t := &table{name: tc.Name, base: tc.Name, layout: layout, src: src, format: tc.Format, header: tc.Format == "csv" && tc.CSVHeader, settle: tc.Settle}
	t.index(names)
	return t, nil
}

// sourceColumn parses a MySQL column type into a source column.
func sourceColumn(typ string) (event.Column, error) {
	col, _, err := codec.ParseMySQLType(typ)
	if err == nil {
		return col, nil
	}
	// MariaDB's UUID, INET4 and INET6 (no Kafka producer writes them, so
	// the codecs refuse them): their text form.
	def, derr := mysqldialect.ParseColumnType(typ)
	if derr == nil {
		switch def.Type {
		case "uuid", "inet4", "inet6":
			return event.Column{Type: event.TypeChar, RawType: typ}, nil
		}
	}
	return col, err
}

// index finds the source and metadata columns in the layout.
func (t *table) index(srcOf []string) {
	find := func(name string) int {
		for i := range t.layout.Columns {
			if strings.EqualFold(t.layout.Columns[i].Name, name) {
				return i
			}
		}
		return -1
	}
	t.cols = make([]int, len(srcOf))
	for i, n := range srcOf {
		t.cols[i] = find(n)
	}
	t.op, t.seq, t.commit, t.raw = find(schema.ColOp), find(schema.ColSeq), find(schema.ColCommitTs), find(schema.ColRaw)
}

// change is one decoded row: its source image and, for change-log
// tables, its _op, _seq and _commit_ts.
type change struct {
	op     event.Op
	seq    uint64
	commit int64
	row    []event.Value
}

// rowAt names a row in errors: its object and row number (formatted only
// when an error needs it).
type rowAt struct {
	obj string
	n   int
}

func (a rowAt) String() string { return "object " + a.obj + " row " + strconv.Itoa(a.n) }

// decode converts a layout row to a change. at names the row in errors.
func (t *table) decode(row []event.Value, at rowAt) (change, error) {
	var ch change
	if t.changeLog {
		op := row[t.op].Str()
		switch op {
		case "I":
			ch.op = event.OpInsert
		case "U":
			ch.op = event.OpUpdate
		case "D":
			ch.op = event.OpDelete
		case "R":
			ch.op = event.OpRead
		default:
			return ch, fmt.Errorf("table %s %s: _op %q is not I, U, D or R", t.name, at, op)
		}
		v := row[t.seq]
		if v.Kind() != event.KindInt || v.Int() <= 0 {
			return ch, fmt.Errorf("table %s %s: _seq %s is not a positive integer", t.name, at, v)
		}
		ch.seq = uint64(v.Int())
		if t.commit >= 0 && row[t.commit].Kind() == event.KindTimestamp {
			ch.commit = row[t.commit].Micros()
		}
	} else {
		ch.op = event.OpRead
	}
	var raw map[string]json.RawMessage
	if t.raw >= 0 && !row[t.raw].IsNull() {
		if err := json.Unmarshal([]byte(row[t.raw].Str()), &raw); err != nil {
			return ch, fmt.Errorf("table %s %s: _raw: %w", t.name, at, err)
		}
	}
	ch.row = make([]event.Value, len(t.cols))
	for i, li := range t.cols {
		c := &t.src.Columns[i]
		if li < 0 {
			ch.row[i] = event.Null
			continue
		}
		v := row[li]
		if v.IsNull() && raw != nil {
			if r, ok := raw[t.layout.Columns[li].Name]; ok {
				var s string
				if err := json.Unmarshal(r, &s); err != nil {
					return ch, fmt.Errorf("table %s %s: _raw value of %s: %w", t.name, at, t.layout.Columns[li].Name, err)
				}
				out, err := fromText(c, s)
				if err != nil {
					return ch, fmt.Errorf("table %s %s column %s: _raw %q: %w", t.name, at, c.Name, s, err)
				}
				ch.row[i] = out
				continue
			}
		}
		out, err := fromODS(c, v)
		if err != nil {
			return ch, fmt.Errorf("table %s %s column %s: %w", t.name, at, c.Name, err)
		}
		ch.row[i] = out
	}
	return ch, nil
}

// fromODS converts a value as the ODS readers decode it (the target
// representation of docs/types.md) back to the value the MySQL capture
// produces for source column c: the inverse of the default mapping.
func fromODS(c *event.Column, v event.Value) (event.Value, error) {
	if v.IsNull() {
		return event.Null, nil
	}
	if v.Kind() == event.KindString && c.Type != event.TypeChar && c.Type != event.TypeVarchar &&
		c.Type != event.TypeText && c.Type != event.TypeEnum && c.Type != event.TypeSet && c.Type != event.TypeJSON {
		// A column kept as text (STRING by default: TIME, wide decimals;
		// or by an override): its text form.
		return fromText(c, v.Str())
	}
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		switch v.Kind() {
		case event.KindInt:
			if c.Unsigned {
				if v.Int() < 0 {
					return event.Null, fmt.Errorf("%d is negative for an unsigned column", v.Int())
				}
				return event.Uint(uint64(v.Int())), nil
			}
			return v, nil
		case event.KindDecimal:
			return fromText(c, v.Str())
		}
	case event.TypeDecimal:
		if v.Kind() == event.KindDecimal {
			return v, nil
		}
	case event.TypeFloat:
		switch v.Kind() {
		case event.KindFloat32:
			return v, nil
		case event.KindFloat64:
			return event.Float32(float32(v.Float())), nil
		}
	case event.TypeDouble:
		switch v.Kind() {
		case event.KindFloat64:
			return v, nil
		case event.KindFloat32:
			return event.Float64(v.Float()), nil
		}
	case event.TypeBit:
		switch v.Kind() {
		case event.KindInt:
			return event.Bits(uint64(v.Int())), nil
		case event.KindDecimal:
			return fromText(c, v.Str())
		case event.KindBytes:
			var u uint64
			for _, b := range []byte(v.Str()) {
				u = u<<8 | uint64(b)
			}
			return event.Bits(u), nil
		}
	case event.TypeYear:
		if v.Kind() == event.KindInt {
			return event.Year(int(v.Int())), nil
		}
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		switch v.Kind() {
		case event.KindString:
			return v, nil
		case event.KindBytes:
			return event.String(v.Str()), nil
		}
	case event.TypeEnum:
		if v.Kind() == event.KindString {
			return enumValue(c, v.Str()), nil
		}
	case event.TypeSet:
		if v.Kind() == event.KindString {
			return setValue(c, v.Str())
		}
	case event.TypeJSON:
		switch v.Kind() {
		case event.KindJSON, event.KindString:
			return event.JSON(v.Str()), nil
		}
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		if v.Kind() == event.KindBytes {
			return v, nil
		}
	case event.TypeDate:
		switch v.Kind() {
		case event.KindDate:
			return v, nil
		case event.KindDateTime:
			y, m, d, _, _, _, _ := v.Civil()
			return event.Date(y, m, d), nil
		}
	case event.TypeDateTime:
		switch v.Kind() {
		case event.KindDateTime:
			return v, nil
		case event.KindTimestamp:
			t := v.Time()
			return event.DateTime(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000), nil
		case event.KindDate:
			y, m, d, _, _, _, _ := v.Civil()
			return event.DateTime(y, m, d, 0, 0, 0, 0), nil
		}
	case event.TypeTimestamp:
		if v.Kind() == event.KindTimestamp {
			return v, nil
		}
	}
	return event.Null, fmt.Errorf("a %s value cannot be read back as %s", v.Kind(), c.Type)
}

// fromText parses the text form of a value (a STRING column, a _raw
// entry: docs/types.md) as source column c holds it.
func fromText(c *event.Column, s string) (event.Value, error) {
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		if c.Unsigned {
			u, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return event.Null, fmt.Errorf("not an unsigned integer: %w", err)
			}
			return event.Uint(u), nil
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return event.Null, fmt.Errorf("not an integer: %w", err)
		}
		return event.Int(i), nil
	case event.TypeBit:
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return event.Null, fmt.Errorf("not a BIT value: %w", err)
		}
		return event.Bits(u), nil
	case event.TypeYear:
		i, err := strconv.Atoi(s)
		if err != nil {
			return event.Null, fmt.Errorf("not a year: %w", err)
		}
		return event.Year(i), nil
	case event.TypeDecimal:
		if _, ok := new(big.Float).SetString(s); !ok {
			return event.Null, errors.New("not a decimal")
		}
		return event.Decimal(s), nil
	case event.TypeFloat:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return event.Null, err
		}
		return event.Float32(float32(f)), nil
	case event.TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return event.Null, err
		}
		return event.Float64(f), nil
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		return event.String(s), nil
	case event.TypeEnum:
		return enumValue(c, s), nil
	case event.TypeSet:
		return setValue(c, s)
	case event.TypeJSON:
		return event.JSON(s), nil
	case event.TypeTime:
		us, err := mysqldialect.ParseTime([]byte(s))
		if err != nil {
			return event.Null, err
		}
		return event.TimeMicros(us), nil
	case event.TypeDate, event.TypeDateTime, event.TypeTimestamp:
		if c.Type == event.TypeTimestamp && s == "0000-00-00 00:00:00" {
			return event.TimestampMicros(0), nil
		}
		y, mo, d, h, mi, sec, us, ok := odsfile.ParseCivil(s)
		if !ok {
			return event.Null, errors.New("not a date or date-time")
		}
		switch c.Type {
		case event.TypeDate:
			return event.Date(y, mo, d), nil
		case event.TypeDateTime:
			return event.DateTime(y, mo, d, h, mi, sec, us), nil
		}
		return event.TimestampMicros(odsfile.CivilMicros(y, mo, d, h, mi, sec, us)), nil
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		// Binary text is base64 (docs/types.md).
		v := odsfile.FromText(&schema.TargetColumn{Kind: schema.KindBinary}, s)
		if v.Kind() != event.KindBytes {
			return event.Null, errors.New("not base64")
		}
		return v, nil
	}
	return event.Null, fmt.Errorf("no text form for %s", c.Type)
}

// enumValue is the ENUM value of member text s (index 0: not a member).
func enumValue(c *event.Column, s string) event.Value {
	for i, e := range c.Elems {
		if strings.EqualFold(e, s) {
			return event.Enum(i+1, e)
		}
	}
	return event.Enum(0, s)
}

// setValue is the SET value of the comma-joined members s.
func setValue(c *event.Column, s string) (event.Value, error) {
	if s == "" {
		return event.Set(0, ""), nil
	}
	var mask uint64
	for _, m := range strings.Split(s, ",") {
		found := false
		for i, e := range c.Elems {
			if strings.EqualFold(e, m) && i < 64 {
				mask |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return event.Null, fmt.Errorf("%q is not a member of the SET", m)
		}
	}
	return event.Set(mask, s), nil
}

// keyOf renders the key of a source row for deduplication.
func (t *table) keyOf(row []event.Value) string { return string(t.appendKey(nil, row)) }

// appendKey appends keyOf's text.
func (t *table) appendKey(b []byte, row []event.Value) []byte {
	for i, k := range t.src.Key {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, row[k].Kind().String()...)
		b = append(b, ':')
		b = row[k].AppendText(b)
	}
	return b
}

// addVersion makes o (an earlier version of t) read as part of t: its
// source columns are matched to t's by name.
func (t *table) addVersion(o *table) {
	v := &version{t: o, from: make([]int, len(t.src.Columns)), conv: make([]bool, len(t.src.Columns))}
	for i := range t.src.Columns {
		c := &t.src.Columns[i]
		v.from[i] = -1
		for j := range o.src.Columns {
			oc := &o.src.Columns[j]
			if strings.EqualFold(oc.Name, c.Name) {
				v.from[i] = j
				v.conv[i] = !strings.EqualFold(oc.RawType, c.RawType)
			}
		}
	}
	t.older = append(t.older, v)
}

// versionOf is the version a unit belongs to (nil: the newest).
func (t *table) versionOf(u unit) *version {
	for _, v := range t.older {
		if v.t == u.ver {
			return v
		}
	}
	return nil
}

// decodeUnit converts a layout row of unit u to a change of t: a row of
// an earlier version is decoded with its layout and converted to t's
// source columns (a column whose source type changed is parsed from its
// text as the new type: a value the new type cannot hold is an error).
func (t *table) decodeUnit(u unit, row []event.Value, at rowAt) (change, error) {
	v := t.versionOf(u)
	if v == nil {
		return t.decode(row, at)
	}
	ch, err := v.t.decode(row, at)
	if err != nil {
		return ch, err
	}
	out := make([]event.Value, len(t.src.Columns))
	for i, j := range v.from {
		switch {
		case j < 0:
			out[i] = event.Null
		case !v.conv[i] || ch.row[j].IsNull():
			out[i] = ch.row[j]
		default:
			c := &t.src.Columns[i]
			val, err := fromText(c, ch.row[j].Text())
			if err != nil {
				return ch, fmt.Errorf("table %s (version %s) %s column %s: %s value %s as %s: %w",
					t.name, v.t.name, at, c.Name, v.t.src.Columns[j].RawType, ch.row[j], c.RawType, err)
			}
			out[i] = val
		}
	}
	ch.row = out
	return ch, nil
}

// mergeVersions folds evolve mode's table versions (<base>, <base>_v2,
// ...: one source table's change log continued in a new ODS table with a
// new layout) into one table each: the newest version, reading the older
// ones' rows too. Two other tables of one source table would write the
// same target table from two change logs: an error. The result is sorted
// by base name (the full load's order).
func mergeVersions(tables []*table) ([]*table, error) {
	bySrc := map[event.TableID][]*table{}
	var out []*table
	for _, t := range tables {
		if !t.changeLog {
			out = append(out, t)
			continue
		}
		if bySrc[t.src.ID] == nil {
			out = append(out, nil) // a place for the group
		}
		bySrc[t.src.ID] = append(bySrc[t.src.ID], t)
	}
	var errs []error
	i := 0
	for _, t := range tables {
		if !t.changeLog {
			continue
		}
		g := bySrc[t.src.ID]
		if g == nil {
			continue // placed already
		}
		delete(bySrc, t.src.ID)
		for out[i] != nil {
			i++
		}
		// The base: the shortest name; every other one must be a
		// version of it.
		sort.Slice(g, func(a, b int) bool {
			return len(g[a].name) < len(g[b].name) || len(g[a].name) == len(g[b].name) && g[a].name < g[b].name
		})
		base := g[0].name
		vers := make([]int, len(g))
		ok := true
		for j, v := range g {
			n, isVer := readback.VersionOf(v.name, base)
			if !isVer || (j > 0 && n == 1) {
				ok = false
			}
			vers[j] = n
		}
		if !ok {
			var names []string
			for _, v := range g {
				names = append(names, v.name)
			}
			errs = append(errs, fmt.Errorf("warehouse: tables %s all hold source table %s and are not versions of one table (<name>, <name>_v2, ...): they would write one target table from separate change logs; list the one to read in tables", strings.Join(names, ", "), t.src.ID))
			out[i] = g[0]
			continue
		}
		sort.Slice(g, func(a, b int) bool {
			na, _ := readback.VersionOf(g[a].name, base)
			nb, _ := readback.VersionOf(g[b].name, base)
			return na < nb
		})
		head := g[len(g)-1]
		head.base = base
		for _, o := range g[:len(g)-1] {
			head.addVersion(o)
		}
		out[i] = head
	}
	if len(errs) > 0 {
		return nil, &permanent{errors.Join(errs...)}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].base < out[b].base })
	return out, nil
}

// parts are the tables whose data a table reads: its older versions,
// then itself.
func (t *table) parts() []*table {
	out := make([]*table, 0, len(t.older)+1)
	for _, v := range t.older {
		out = append(out, v.t)
	}
	return append(out, t)
}
