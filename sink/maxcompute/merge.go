package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/odsync/odsync/schema"
)

// The ODS tables are change logs (the DTS/DataWorks "log" table). A base
// table holds the current rows: partition D of <table><base_suffix> is the
// state of every key as of the end of log partition D, plus the late rows
// described below. It is built
//
//   - incrementally from the newest existing base partition P before D
//     (usually D-1) and the log partitions after P up to D — so a
//     partition without changes still gets a base partition (a copy of
//     P), and a missing D-1 does not force a rebuild from the whole log;
//   - in full from every log partition up to D (the first time, or with
//     --full),
//
// by keeping, per key, the row with the highest _seq (duplicates of one
// change carry the same _seq and collapse) and dropping keys whose last
// change is a delete.
//
// Late rows: an incremental build also reads the rows of log partitions
// up to P whose _seq is above the highest _seq in base partition P. _seq
// is the odsync log's dense, increasing sequence, so a row a lagging
// source delivered after base P was built (it landed in its commit time's
// partition, at or before P) has a higher _seq than every row base P saw,
// and reaches the next base. Rows at or below that mark are already in P
// (or superseded there), so re-reading them changes nothing.
//
// The mark is lowered by lateMargin: the changes of a batch are uploaded
// in several packs at once, so when a base is built while a batch is being
// written, rows a little below its highest _seq may become visible after
// it. Reading rows again is harmless (idempotent), missing them is not.
//
// Columns are matched by name, never by position: the base table keeps
// its own column order; a log column it lacks is added (ADD COLUMNS), a
// base column a log lacks is NULL for that log's rows, a log column of a
// narrower type is cast up, a base column of a narrower type is widened
// in place (CHANGE COLUMN) when MaxCompute allows it, and otherwise the
// log's values go to a new base column <col>__<type> (the name lenient
// evolution uses), so no value is cast down. Earlier versions of a log
// (t for t_v2, evolution mode evolve) feed the same base table.

// LogTable is one version of an ODS (log) table.
type LogTable struct {
	Name string
	// Columns and Types are its data columns in table order (metadata
	// columns included) and their MaxCompute types.
	Columns []string
	Types   []string
}

// lateMargin is how far below base partition P's highest _seq an
// incremental build re-reads the log partitions up to P: fifty pipeline
// batches of the default 20,000 rows.
const lateMargin = 1_000_000

// MergeTable describes an ODS table for MergeSQL.
type MergeTable struct {
	// Name is the ODS (log) table: the newest version.
	Name string
	// Columns and Types are its data columns in table order (metadata
	// columns included) and their MaxCompute types.
	Columns []string
	Types   []string
	// Key lists the key columns (the source primary key; _src_db,
	// _src_table first for merged routes).
	Key []string
	// PartitionColumn is the partition column ("ds").
	PartitionColumn string
	// Earlier lists the earlier versions of the log, oldest first (t and
	// t_v2 for t_v3): their rows feed the same base table.
	Earlier []LogTable
	// BaseName is the name the base table is named after (plus the base
	// suffix): the first version's name, so the base continues across
	// _vN versions. Default: Name.
	BaseName string
	// BaseColumns and BaseTypes are the existing base table's columns in
	// table order; nil when it does not exist (or is not known).
	BaseColumns []string
	BaseTypes   []string
	// BasePartitions lists the base table's existing partition values.
	BasePartitions []string
}

// MergeOptions say what MergeSQL builds.
type MergeOptions struct {
	// Project and Schema qualify table names when set.
	Project, Schema string
	// BaseSuffix names the base table (default "_base").
	BaseSuffix string
	// Partition is the partition value to build, e.g. "20240302".
	Partition string
	// Previous is the existing base partition to start from (see
	// PreviousBase); empty builds the partition in full from every log
	// partition up to Partition.
	Previous string
	// Lifecycle of a created base table in days (0: none).
	Lifecycle int
}

// ErrNoKey is returned for tables without a key: their rows cannot be
// merged to current state (configure mapping tables[].key).
var ErrNoKey = errors.New("the table has no key; set mapping tables[].key to build a base table")

// PreviousBase returns the newest of parts (base partition values) before
// part with part's granularity, or "" when there is none.
func PreviousBase(parts []string, part string) string {
	best := ""
	for _, p := range parts {
		if len(p) == len(part) && partitionValueRe(p) && p < part && p > best {
			best = p
		}
	}
	return best
}

// baseColumn is a column of the base table as the merge leaves it.
type baseColumn struct {
	name, typ string
	existed   bool // in the existing base table
	widenFrom string
}

// mergePlan matches the logs' columns to the base table's by name.
type mergePlan struct {
	cols []baseColumn
	// src[i] maps a base column to the column of log i that feeds it.
	src []map[string]string
	// types[i] maps a column of log i to its type.
	types []map[string]string
}

func planMerge(t MergeTable) (*mergePlan, error) {
	p := &mergePlan{}
	idx := map[string]int{}
	add := func(c baseColumn) {
		idx[c.name] = len(p.cols)
		p.cols = append(p.cols, c)
	}
	for i, c := range t.BaseColumns {
		add(baseColumn{name: c, typ: normType(t.BaseTypes[i]), existed: true})
	}
	logs := append(append([]LogTable(nil), t.Earlier...), LogTable{Name: t.Name, Columns: t.Columns, Types: t.Types})
	for _, lt := range logs {
		src, types := map[string]string{}, map[string]string{}
		for j, c := range lt.Columns {
			typ := normType(lt.Types[j])
			types[c] = typ
			k, ok := idx[c]
			if !ok {
				add(baseColumn{name: c, typ: typ})
				src[c] = c
				continue
			}
			bc := &p.cols[k]
			switch {
			case typ == bc.typ || castsLosslessly(typ, bc.typ):
				src[c] = c
			case widensInPlace(bc.typ, typ):
				if bc.existed && bc.widenFrom == "" {
					bc.widenFrom = bc.typ
				}
				bc.typ = typ
				src[c] = c
			default:
				if c == schema.ColOp || c == schema.ColSeq || slices.Contains(t.Key, c) {
					return nil, fmt.Errorf("ODS table %s: key column %s is %s, the base table's is %s (no lossless cast)", lt.Name, c, typ, bc.typ)
				}
				alt := altColumn(c, typ)
				if a, ok := idx[alt]; ok && !castsLosslessly(typ, p.cols[a].typ) {
					return nil, fmt.Errorf("ODS table %s column %s %s: base column %s is %s", lt.Name, c, typ, alt, p.cols[a].typ)
				} else if !ok {
					add(baseColumn{name: alt, typ: typ})
				}
				src[alt] = c
			}
		}
		p.src = append(p.src, src)
		p.types = append(p.types, types)
	}
	return p, nil
}

// selectList renders the columns of log i (-1: the base table) as the base
// columns, by name.
func (p *mergePlan) selectList(i int) string {
	var out []string
	for _, bc := range p.cols {
		q := schema.Quote(bc.name)
		if i < 0 {
			out = append(out, q)
			continue
		}
		c, ok := p.src[i][bc.name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("CAST(NULL AS %s) AS %s", bc.typ, q))
		case p.types[i][c] != bc.typ:
			out = append(out, fmt.Sprintf("CAST(%s AS %s) AS %s", schema.Quote(c), bc.typ, q))
		case c != bc.name:
			out = append(out, fmt.Sprintf("%s AS %s", schema.Quote(c), q))
		default:
			out = append(out, q)
		}
	}
	return strings.Join(out, ", ")
}

func normType(t string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(t), " ", ""))
}

// intDigits are the decimal digits the integer types need.
var intDigits = map[string]int{"TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19}

func decimalOf(t string) (p, s int, ok bool) {
	if t == "DECIMAL" {
		return 10, 0, true
	}
	if _, err := fmt.Sscanf(t, "DECIMAL(%d,%d)", &p, &s); err != nil {
		return 0, 0, false
	}
	return p, s, true
}

// castsLosslessly reports whether every value of type from reads the same
// cast to type to.
func castsLosslessly(from, to string) bool {
	if from == to {
		return true
	}
	if df, dt := intDigits[from], intDigits[to]; df > 0 && dt > 0 {
		return dt >= df
	}
	if from == "FLOAT" && to == "DOUBLE" {
		return true
	}
	pt, st, okt := decimalOf(to)
	if df := intDigits[from]; df > 0 && okt {
		return pt-st >= df
	}
	if pf, sf, okf := decimalOf(from); okf && okt {
		return st >= sf && pt-st >= pf-sf
	}
	if to == "STRING" {
		return strings.HasPrefix(from, "VARCHAR(") || strings.HasPrefix(from, "CHAR(")
	}
	var nf, nt int
	if _, err := fmt.Sscanf(from, "VARCHAR(%d)", &nf); err == nil {
		if _, err := fmt.Sscanf(to, "VARCHAR(%d)", &nt); err == nil {
			return nt >= nf
		}
	}
	return false
}

// widensInPlace reports whether MaxCompute alters a column of type from
// to type to in place (ALTER TABLE ... CHANGE COLUMN), keeping its data:
// larger integers, DECIMAL of the same scale and a larger precision,
// VARCHAR/CHAR to STRING.
func widensInPlace(from, to string) bool {
	if df, dt := intDigits[from], intDigits[to]; df > 0 && dt > 0 {
		return dt > df
	}
	pf, sf, okf := decimalOf(from)
	pt, st, okt := decimalOf(to)
	if okf && okt {
		return sf == st && pt > pf
	}
	return to == "STRING" && (strings.HasPrefix(from, "VARCHAR(") || strings.HasPrefix(from, "CHAR("))
}

// altColumn names the base column that holds a log column's values of a
// type the base column cannot hold: "<name>__<type>", as lenient
// evolution names them ("amount__decimal_20_4", "price__string").
func altColumn(name, typ string) string {
	suffix := strings.ToLower(typ)
	if p, s, ok := decimalOf(typ); ok {
		suffix = fmt.Sprintf("decimal_%d_%d", p, s)
	}
	suffix = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, suffix)
	n := name + "__" + strings.Trim(suffix, "_")
	if len(n) > schema.MaxNameLen {
		n = n[:schema.MaxNameLen]
	}
	return n
}

// MergeSQL renders the statements that build one base table partition:
// CREATE TABLE IF NOT EXISTS for the base table, ADD COLUMNS IF NOT EXISTS
// for columns the logs have and the base lacks, CHANGE COLUMN for base
// columns to widen, and the INSERT OVERWRITE of the partition, which
// names every column. Identifiers are quoted; partition values are
// checked.
func MergeSQL(t MergeTable, o MergeOptions) (string, error) {
	if len(t.Key) == 0 {
		return "", fmt.Errorf("ODS table %s: %w", t.Name, ErrNoKey)
	}
	if len(t.Columns) == 0 || len(t.Columns) != len(t.Types) || len(t.BaseColumns) != len(t.BaseTypes) {
		return "", fmt.Errorf("ODS table %s: no columns", t.Name)
	}
	for _, e := range t.Earlier {
		if len(e.Columns) == 0 || len(e.Columns) != len(e.Types) {
			return "", fmt.Errorf("ODS table %s: no columns", e.Name)
		}
	}
	if t.PartitionColumn == "" {
		return "", fmt.Errorf("ODS table %s: no partition column", t.Name)
	}
	for _, v := range []string{o.Partition, o.Previous} {
		if v != "" && !partitionValueRe(v) {
			return "", fmt.Errorf("partition value %q: want yyyymmdd or yyyymmddhh", v)
		}
	}
	if o.Partition == "" {
		return "", errors.New("no partition to build")
	}
	if o.Previous != "" && (o.Previous >= o.Partition || len(o.Previous) != len(o.Partition)) {
		return "", fmt.Errorf("previous partition %s is not before %s", o.Previous, o.Partition)
	}
	suffix := o.BaseSuffix
	if suffix == "" {
		suffix = "_base"
	}
	has := map[string]bool{}
	for _, c := range t.Columns {
		has[c] = true
	}
	for _, k := range append([]string{schema.ColOp, schema.ColSeq}, t.Key...) {
		if !has[k] {
			return "", fmt.Errorf("ODS table %s has no column %s", t.Name, k)
		}
	}
	qual := func(name string) string {
		var parts []string
		if o.Project != "" {
			parts = append(parts, schema.Quote(o.Project))
		}
		if o.Schema != "" {
			parts = append(parts, schema.Quote(o.Schema))
		}
		return strings.Join(append(parts, schema.Quote(name)), ".")
	}
	baseName := t.BaseName
	if baseName == "" {
		baseName = t.Name
	}
	base := qual(baseName + suffix)
	pc := schema.Quote(t.PartitionColumn)
	seq := schema.Quote(schema.ColSeq)
	p, err := planMerge(t)
	if err != nil {
		return "", err
	}
	var cols, keys, logNames []string
	for _, c := range p.cols {
		cols = append(cols, schema.Quote(c.name))
	}
	for _, k := range t.Key {
		keys = append(keys, schema.Quote(k))
	}
	for _, e := range t.Earlier {
		logNames = append(logNames, e.Name)
	}
	logNames = append(logNames, t.Name)
	colList := strings.Join(cols, ", ")

	var b strings.Builder
	mode := "in full from every log partition up to " + o.Partition
	if o.Previous != "" {
		mode = fmt.Sprintf("from base partition %s, the log partitions after it up to %s, and the late rows of earlier log partitions (_seq above base partition %s's highest minus %d)",
			o.Previous, o.Partition, o.Previous, lateMargin)
	}
	fmt.Fprintf(&b, "-- odsync: base table %s partition %s=%s: the current row of every key (%s) of %s %s.\n",
		baseName+suffix, t.PartitionColumn, o.Partition, strings.Join(t.Key, ", "), strings.Join(logNames, " + "), mode)
	settings := SQLSettings(o.Schema)
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "SET %s=%s;\n", k, settings[k])
	}
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", base)
	for i, c := range p.cols {
		fmt.Fprintf(&b, "  %s %s", cols[i], c.typ)
		if i < len(cols)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, ")\nCOMMENT %s\nPARTITIONED BY (%s STRING)", sqlQuote("odsync base table of "+baseName+"; key "+strings.Join(t.Key, ",")), pc)
	if o.Lifecycle > 0 {
		fmt.Fprintf(&b, "\nLIFECYCLE %d", o.Lifecycle)
	}
	b.WriteString(";\n")
	var defs []string
	for i, c := range p.cols {
		if !c.existed {
			defs = append(defs, cols[i]+" "+c.typ)
		}
	}
	if len(defs) > 0 {
		fmt.Fprintf(&b, "ALTER TABLE %s ADD COLUMNS IF NOT EXISTS (%s);\n", base, strings.Join(defs, ", "))
	}
	for i, c := range p.cols {
		if c.widenFrom != "" {
			fmt.Fprintf(&b, "ALTER TABLE %s CHANGE COLUMN %s %s %s;\n", base, cols[i], cols[i], c.typ)
		}
	}
	fmt.Fprintf(&b, "INSERT OVERWRITE TABLE %s PARTITION (%s = %s) (%s)\n", base, pc, sqlQuote(o.Partition), colList)
	fmt.Fprintf(&b, "SELECT %s\nFROM (\n", colList)
	fmt.Fprintf(&b, "  SELECT %s,\n    ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s DESC) AS `__odsync_rn`\n  FROM (\n",
		colList, strings.Join(keys, ", "), seq)
	var branches []string
	logs := append(append([]LogTable(nil), t.Earlier...), LogTable{Name: t.Name})
	if o.Previous != "" {
		branches = append(branches, fmt.Sprintf("    SELECT %s FROM %s WHERE %s = %s\n", p.selectList(-1), base, pc, sqlQuote(o.Previous)))
		for i, lt := range logs {
			branches = append(branches, fmt.Sprintf("    SELECT %s FROM %s WHERE %s > %s AND %s <= %s\n",
				p.selectList(i), qual(lt.Name), pc, sqlQuote(o.Previous), pc, sqlQuote(o.Partition)))
		}
		hwm := fmt.Sprintf("(SELECT COALESCE(MAX(%s), 0) - %d FROM %s WHERE %s = %s)", seq, lateMargin, base, pc, sqlQuote(o.Previous))
		for i, lt := range logs {
			branches = append(branches, fmt.Sprintf("    SELECT %s FROM %s WHERE %s <= %s AND %s > %s\n",
				p.selectList(i), qual(lt.Name), pc, sqlQuote(o.Previous), seq, hwm))
		}
	} else {
		for i, lt := range logs {
			branches = append(branches, fmt.Sprintf("    SELECT %s FROM %s WHERE %s <= %s\n", p.selectList(i), qual(lt.Name), pc, sqlQuote(o.Partition)))
		}
	}
	b.WriteString(strings.Join(branches, "    UNION ALL\n"))
	fmt.Fprintf(&b, "  ) `__odsync_changes`\n) `__odsync_latest`\nWHERE `__odsync_rn` = 1 AND %s <> 'D';\n", schema.Quote(schema.ColOp))
	return b.String(), nil
}

func partitionValueRe(v string) bool {
	if len(v) != 8 && len(v) != 10 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

func sqlQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

// PreviousPartition returns the partition value before v (a day or an
// hour earlier, by the value's length).
func PreviousPartition(v string) (string, error) {
	switch len(v) {
	case 8:
		t, err := time.Parse("20060102", v)
		if err != nil {
			return "", fmt.Errorf("partition value %q: %w", v, err)
		}
		return t.AddDate(0, 0, -1).Format("20060102"), nil
	case 10:
		t, err := time.Parse("2006010215", v)
		if err != nil {
			return "", fmt.Errorf("partition value %q: %w", v, err)
		}
		return t.Add(-time.Hour).Format("2006010215"), nil
	}
	return "", fmt.Errorf("partition value %q: want yyyymmdd or yyyymmddhh", v)
}

// NextPartition returns the partition value after v (a day or an hour
// later, by the value's length).
func NextPartition(v string) (string, error) {
	switch len(v) {
	case 8:
		t, err := time.Parse("20060102", v)
		if err != nil {
			return "", fmt.Errorf("partition value %q: %w", v, err)
		}
		return t.AddDate(0, 0, 1).Format("20060102"), nil
	case 10:
		t, err := time.Parse("2006010215", v)
		if err != nil {
			return "", fmt.Errorf("partition value %q: %w", v, err)
		}
		return t.Add(time.Hour).Format("2006010215"), nil
	}
	return "", fmt.Errorf("partition value %q: want yyyymmdd or yyyymmddhh", v)
}

// partitionEnd returns when partition v (in zone loc) ends.
func partitionEnd(v string, loc *time.Location) (time.Time, error) {
	switch len(v) {
	case 8:
		t, err := time.ParseInLocation("20060102", v, loc)
		if err != nil {
			return time.Time{}, err
		}
		return t.AddDate(0, 0, 1), nil
	case 10:
		t, err := time.ParseInLocation("2006010215", v, loc)
		if err != nil {
			return time.Time{}, err
		}
		return t.Add(time.Hour), nil
	}
	return time.Time{}, fmt.Errorf("partition value %q: want yyyymmdd or yyyymmddhh", v)
}

// keyFromComment reads the key odsync writes into ODS table comments
// ("odsync ODS of db.t; key a,b").
func keyFromComment(c string) []string {
	i := strings.LastIndex(c, "; key ")
	if i < 0 {
		return nil
	}
	rest := c[i+len("; key "):]
	if j := strings.Index(rest, ";"); j >= 0 {
		rest = rest[:j]
	}
	var out []string
	for _, k := range strings.Split(rest, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// ODSTables describes the ODS tables odsync created in the configured
// project (their comments start with "odsync ODS"), or only the named
// ones, for MergeSQL, with their base tables (columns and partitions).
// The versions of one table (t, t_v2, ...) are one MergeTable: the newest
// version with the others in Earlier. key, when set, overrides the key
// read from the table comment.
func ODSTables(ctx context.Context, cfg Config, names []string, key []string) ([]MergeTable, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("maxcompute"); err != nil {
		return nil, err
	}
	acct, err := newAccount(&cfg)
	if err != nil {
		return nil, err
	}
	cat := newCatalog(&cfg, acct)
	explicit := len(names) > 0
	if !explicit {
		if names, err = cat.tables(ctx, ""); err != nil {
			return nil, err
		}
	}
	sort.Strings(names)
	var out []MergeTable
	seen := map[string]bool{}
	for _, n := range names {
		if !explicit && strings.HasSuffix(n, cfg.Merge.BaseSuffix) {
			continue
		}
		info, ok, err := cat.table(ctx, n)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("table %s does not exist in project %s", n, cfg.Project)
		}
		if !explicit && !strings.HasPrefix(info.comment, "odsync ODS") {
			continue
		}
		mt, _, err := loadMergeTable(ctx, cat, n, cfg.Merge.BaseSuffix, key)
		if err != nil {
			return nil, err
		}
		if seen[mt.BaseName] {
			continue
		}
		seen[mt.BaseName] = true
		out = append(out, mt)
	}
	return out, nil
}

var versionRe = regexp.MustCompile(`^(.+)_v([0-9]+)$`)

// loadMergeTable loads ODS table name, its other versions (t, t_v2, ...:
// the newest becomes the MergeTable, the others Earlier) and its base
// table; ok is false when name does not exist.
func loadMergeTable(ctx context.Context, cat *catalog, name, suffix string, key []string) (MergeTable, bool, error) {
	info, ok, err := cat.table(ctx, name)
	if err != nil || !ok {
		return MergeTable{}, ok, err
	}
	root, rootInfo := name, info
	if m := versionRe.FindStringSubmatch(name); m != nil {
		ri, ok, err := cat.table(ctx, m[1])
		if err != nil {
			return MergeTable{}, false, err
		}
		if ok && strings.HasPrefix(ri.comment, "odsync ODS") {
			root, rootInfo = m[1], ri
		}
	}
	versions := []*tableInfo{rootInfo}
	for v := 2; ; v++ {
		next, ok, err := cat.table(ctx, fmt.Sprintf("%s_v%d", root, v))
		if err != nil {
			return MergeTable{}, false, err
		}
		if !ok {
			break
		}
		versions = append(versions, next)
	}
	mt := mergeTableOf(versions[len(versions)-1], key)
	mt.BaseName = root
	for _, e := range versions[:len(versions)-1] {
		lt := LogTable{Name: e.name}
		for _, c := range e.cols {
			lt.Columns = append(lt.Columns, c.name)
			lt.Types = append(lt.Types, c.typ)
		}
		mt.Earlier = append(mt.Earlier, lt)
	}
	bi, ok, err := cat.table(ctx, root+suffix)
	if err != nil {
		return MergeTable{}, false, err
	}
	if ok {
		mt.BaseColumns, mt.BaseTypes = []string{}, []string{}
		for _, c := range bi.cols {
			mt.BaseColumns = append(mt.BaseColumns, c.name)
			mt.BaseTypes = append(mt.BaseTypes, c.typ)
		}
		if mt.BasePartitions, err = cat.partitions(ctx, root+suffix); err != nil {
			return MergeTable{}, false, err
		}
	}
	return mt, true, nil
}

func mergeTableOf(info *tableInfo, key []string) MergeTable {
	mt := MergeTable{Name: info.name, Key: key}
	if len(mt.Key) == 0 {
		mt.Key = keyFromComment(info.comment)
	}
	for _, c := range info.cols {
		mt.Columns = append(mt.Columns, c.name)
		mt.Types = append(mt.Types, c.typ)
	}
	if len(info.partKeys) > 0 {
		mt.PartitionColumn = info.partKeys[0]
	}
	return mt
}

// merger runs the merge of every table the sink writes on a schedule
// (merge.schedule): a partition is merged once it closed (its end plus
// merge.delay passed) and the sink has written changes committed after its
// end, or has been idle for merge.delay.
type merger struct {
	s *Sink

	mu        sync.Mutex
	watermark int64 // highest commit time (µs) of a successful Write
	lastWrite time.Time
	parts     map[string]*mergeTarget // by ODS table
}

type mergeTarget struct {
	loc   *time.Location
	parts map[string]bool // partitions written, not merged yet
}

func newMerger(s *Sink) *merger {
	return &merger{s: s, parts: map[string]*mergeTarget{}, lastWrite: time.Now()}
}

// observe notes a successful Write.
func (m *merger) observe(maxCommit int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastWrite = time.Now()
	m.watermark = max(m.watermark, maxCommit)
}

// noteParts records the partitions a Write touched (scheduling only).
func (m *merger) noteParts(t *schema.Target, part string) {
	if !m.s.cfg.Merge.Schedule {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mt := m.parts[t.Name]
	if mt == nil {
		loc, err := time.LoadLocation(t.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		mt = &mergeTarget{loc: loc, parts: map[string]bool{}}
		m.parts[t.Name] = mt
	}
	mt.parts[part] = true
}

// due reports whether partition part (in loc) can be merged at now.
func due(part string, loc *time.Location, now time.Time, delay time.Duration, watermark int64, lastWrite time.Time) bool {
	end, err := partitionEnd(part, loc)
	if err != nil || now.Before(end.Add(delay)) {
		return false
	}
	return watermark >= end.UnixMicro() || now.Sub(lastWrite) >= delay
}

func (m *merger) run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.tick(ctx, now)
		}
	}
}

// tick merges every due partition, oldest first.
func (m *merger) tick(ctx context.Context, now time.Time) {
	type job struct{ table, part string }
	var jobs []job
	m.mu.Lock()
	for table, mt := range m.parts {
		for p := range mt.parts {
			if due(p, mt.loc, now, m.s.cfg.Merge.Delay, m.watermark, m.lastWrite) {
				jobs = append(jobs, job{table, p})
			}
		}
	}
	m.mu.Unlock()
	sort.Slice(jobs, func(i, j int) bool {
		if jobs[i].part != jobs[j].part {
			return jobs[i].part < jobs[j].part
		}
		return jobs[i].table < jobs[j].table
	})
	for _, j := range jobs {
		if ctx.Err() != nil {
			return
		}
		if err := m.mergeOne(ctx, j.table, j.part); err != nil {
			m.s.lg.Error("maxcompute: scheduled merge failed", "table", j.table, "partition", j.part, "err", err)
			continue
		}
		m.mu.Lock()
		delete(m.parts[j.table].parts, j.part)
		m.mu.Unlock()
	}
}

// maxGapFill bounds the base partitions a scheduled merge fills in
// between the newest existing one and the partition due (a month of hours).
const maxGapFill = 744

// fillPartitions lists the base partitions to build, in order, to reach
// part from base partition prev: every one after prev up to part (at most
// maxGapFill before part), or part alone when there is no prev.
func fillPartitions(prev, part string) ([]string, error) {
	if prev == "" {
		return []string{part}, nil
	}
	var todo []string
	for p := prev; ; {
		var err error
		if p, err = NextPartition(p); err != nil {
			return nil, err
		}
		if p >= part || len(todo) == maxGapFill {
			break
		}
		todo = append(todo, p)
	}
	return append(todo, part), nil
}

// mergeOne builds base partition part of table, and first every missing
// base partition between the newest existing one and part (each a copy of
// the previous plus its log partition), so partitions without changes get
// a base partition too.
func (m *merger) mergeOne(ctx context.Context, table, part string) error {
	s := m.s
	mt, ok, err := loadMergeTable(ctx, s.cat, table, s.cfg.Merge.BaseSuffix, nil)
	if err != nil || !ok {
		return fmt.Errorf("loading %s: %v", table, err)
	}
	stateKey := "m/" + mt.BaseName
	last, _, err := s.store.Get(s.ns, stateKey)
	if err != nil {
		return err
	}
	if string(last) >= part && len(last) == len(part) {
		return nil // merged already
	}
	prev := PreviousBase(mt.BasePartitions, part)
	todo, err := fillPartitions(prev, part)
	if err != nil {
		return err
	}
	for _, p := range todo {
		o := MergeOptions{Project: s.cfg.Project, Schema: s.cfg.Schema, BaseSuffix: s.cfg.Merge.BaseSuffix,
			Partition: p, Previous: prev, Lifecycle: s.cfg.Merge.Lifecycle}
		sql, err := MergeSQL(mt, o)
		if err != nil {
			return err
		}
		for _, stmt := range splitStatements(sql) {
			if err := s.cat.exec(ctx, stmt); err != nil {
				return fmt.Errorf("base table %s partition %s: %w", mt.BaseName+s.cfg.Merge.BaseSuffix, p, err)
			}
		}
		s.lg.Info("maxcompute: merged base table partition", "table", mt.BaseName+s.cfg.Merge.BaseSuffix, "partition", p,
			"from", prev)
		if err := s.store.Put(s.ns, stateKey, []byte(p)); err != nil {
			return err
		}
		prev = p
		// The base now has the merged columns: the next partition's DDL
		// has nothing left to add or widen.
		plan, err := planMerge(mt)
		if err != nil {
			return err
		}
		mt.BaseColumns, mt.BaseTypes = nil, nil
		for _, c := range plan.cols {
			mt.BaseColumns = append(mt.BaseColumns, c.name)
			mt.BaseTypes = append(mt.BaseTypes, c.typ)
		}
	}
	return nil
}

// splitStatements splits MergeSQL output into statements (without the SET
// lines and comment lines), one SQL instance each.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(line, "--") || strings.HasPrefix(line, "SET ") {
			continue // SET lines: the catalog sends the same settings with every task
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(line, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
