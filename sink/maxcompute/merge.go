package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/odsync/odsync/schema"
)

// The ODS tables are change logs (the DTS/DataWorks "log" table). A base
// table holds the current rows: partition D of <table><base_suffix> is the
// state of every key as of the end of log partition D. It is built
//
//   - incrementally from base partition D-1 and log partition D, or
//   - in full from every log partition up to D (the first time, or when
//     D-1 is missing),
//
// by keeping, per key, the row with the highest _seq (duplicates of one
// change carry the same _seq and collapse) and dropping keys whose last
// change is a delete.

// MergeTable describes an ODS table for MergeSQL.
type MergeTable struct {
	// Name is the ODS (log) table.
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
}

// MergeOptions say what MergeSQL builds.
type MergeOptions struct {
	// Project and Schema qualify table names when set.
	Project, Schema string
	// BaseSuffix names the base table (default "_base").
	BaseSuffix string
	// Partition is the partition value to build, e.g. "20240302".
	Partition string
	// Previous is the base partition to start from; empty builds the
	// partition in full from every log partition up to Partition.
	Previous string
	// Lifecycle of a created base table in days (0: none).
	Lifecycle int
}

// ErrNoKey is returned for tables without a key: their rows cannot be
// merged to current state (configure mapping tables[].key).
var ErrNoKey = errors.New("the table has no key; set mapping tables[].key to build a base table")

// MergeSQL renders the statements that build one base table partition:
// CREATE TABLE IF NOT EXISTS for the base table, ADD COLUMNS IF NOT EXISTS
// for columns the log gained since, and the INSERT OVERWRITE of the
// partition. Identifiers are quoted; partition values are checked.
func MergeSQL(t MergeTable, o MergeOptions) (string, error) {
	if len(t.Key) == 0 {
		return "", fmt.Errorf("ODS table %s: %w", t.Name, ErrNoKey)
	}
	if len(t.Columns) == 0 || len(t.Columns) != len(t.Types) {
		return "", fmt.Errorf("ODS table %s: no columns", t.Name)
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
	if o.Previous != "" && o.Previous >= o.Partition {
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
	log, base := qual(t.Name), qual(t.Name+suffix)
	pc := schema.Quote(t.PartitionColumn)
	var cols, keys []string
	for _, c := range t.Columns {
		cols = append(cols, schema.Quote(c))
	}
	for _, k := range t.Key {
		keys = append(keys, schema.Quote(k))
	}
	colList := strings.Join(cols, ", ")

	var b strings.Builder
	mode := "in full from every log partition up to " + o.Partition
	if o.Previous != "" {
		mode = "from base partition " + o.Previous + " and log partition " + o.Partition
	}
	fmt.Fprintf(&b, "-- odsync: base table %s partition %s=%s: the current row of every key (%s) %s.\n",
		t.Name+suffix, t.PartitionColumn, o.Partition, strings.Join(t.Key, ", "), mode)
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
	for i, c := range cols {
		fmt.Fprintf(&b, "  %s %s", c, t.Types[i])
		if i < len(cols)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, ")\nCOMMENT %s\nPARTITIONED BY (%s STRING)", sqlQuote("odsync base table of "+t.Name+"; key "+strings.Join(t.Key, ",")), pc)
	if o.Lifecycle > 0 {
		fmt.Fprintf(&b, "\nLIFECYCLE %d", o.Lifecycle)
	}
	b.WriteString(";\n")
	var defs []string
	for i, c := range cols {
		defs = append(defs, c+" "+t.Types[i])
	}
	fmt.Fprintf(&b, "ALTER TABLE %s ADD COLUMNS IF NOT EXISTS (%s);\n", base, strings.Join(defs, ", "))
	fmt.Fprintf(&b, "INSERT OVERWRITE TABLE %s PARTITION (%s = %s)\n", base, pc, sqlQuote(o.Partition))
	fmt.Fprintf(&b, "SELECT %s\nFROM (\n", colList)
	fmt.Fprintf(&b, "  SELECT %s,\n    ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s DESC) AS `__odsync_rn`\n  FROM (\n",
		colList, strings.Join(keys, ", "), schema.Quote(schema.ColSeq))
	if o.Previous != "" {
		fmt.Fprintf(&b, "    SELECT %s FROM %s WHERE %s = %s\n    UNION ALL\n", colList, base, pc, sqlQuote(o.Previous))
		fmt.Fprintf(&b, "    SELECT %s FROM %s WHERE %s = %s\n", colList, log, pc, sqlQuote(o.Partition))
	} else {
		fmt.Fprintf(&b, "    SELECT %s FROM %s WHERE %s <= %s\n", colList, log, pc, sqlQuote(o.Partition))
	}
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
// ones, for MergeSQL. key, when set, overrides the key read from the
// table comment.
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
		out = append(out, mergeTableOf(info, key))
	}
	return out, nil
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

func (m *merger) mergeOne(ctx context.Context, table, part string) error {
	s := m.s
	info, ok, err := s.cat.table(ctx, table)
	if err != nil || !ok {
		return fmt.Errorf("loading %s: %v", table, err)
	}
	mt := mergeTableOf(info, nil)
	o := MergeOptions{Project: s.cfg.Project, Schema: s.cfg.Schema, BaseSuffix: s.cfg.Merge.BaseSuffix,
		Partition: part, Lifecycle: s.cfg.Merge.Lifecycle}
	last, _, err := s.store.Get(s.ns, "m/"+table)
	if err != nil {
		return err
	}
	if prev, err := PreviousPartition(part); err == nil && string(last) == prev {
		o.Previous = prev
	} else if string(last) >= part {
		return nil // merged already
	}
	sql, err := MergeSQL(mt, o)
	if err != nil {
		return err
	}
	for _, stmt := range splitStatements(sql) {
		if err := s.cat.exec(ctx, stmt); err != nil {
			return err
		}
	}
	s.lg.Info("maxcompute: merged base table partition", "table", table+s.cfg.Merge.BaseSuffix, "partition", part,
		"incremental", o.Previous != "")
	return s.store.Put(s.ns, "m/"+table, []byte(part))
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
