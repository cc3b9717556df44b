package schema

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/odsync/odsync/event"
)

// Mapper decides, for every source table, whether it is captured and which
// ODS table it becomes. It is safe for concurrent use.
//
// Besides the pure mapping it tracks, per target, the current ODS layout
// (the "head"): the columns the ODS table has now, after the schema changes
// applied through Plan (or adopted with Adopt after a restart). Target
// aligns every source table version to its head, so rows of older and newer
// versions (and of every shard of a merged route) land in the right columns.
type Mapper struct {
	c *compiled

	stats *rawStats

	mu      sync.Mutex
	routes  map[event.TableID]*resolution
	heads   map[string]*head        // by target base name
	targets map[uint64]cachedTarget // by event.Table.Version
}

type cachedTarget struct {
	t   *Target
	rev int
}

// head is the current layout of one ODS table.
type head struct {
	layout  *Target
	rev     int
	merged  bool
	sources map[event.TableID]bool
}

// resolution is the routing decision for one source table.
type resolution struct {
	base      string // target base name
	merged    bool
	err       error
	partition partitionSpec
	mode      Mode
	key       []string
	excluded  []string
	columns   map[string]columnRule
	routeDesc string // what decided the name, for errors
}

// New returns a Mapper for cfg (defaults applied to a copy).
func New(cfg Config) (*Mapper, error) {
	c, err := compile(&cfg)
	if err != nil {
		return nil, err
	}
	return &Mapper{c: c, stats: newRawStats(c.cfg.Logger), routes: map[event.TableID]*resolution{}, heads: map[string]*head{},
		targets: map[uint64]cachedTarget{}}, nil
}

// System returns the target system the mapper maps for (Config.System).
func (m *Mapper) System() System { return m.c.cfg.System }

// Captures reports whether the source table is captured: it matches an
// include pattern (or, when there is none, is not in a system schema) and no
// exclude pattern.
func (m *Mapper) Captures(t event.TableID) bool {
	full := t.String()
	if len(m.c.include) == 0 {
		if slices.Contains(systemSchemas, strings.ToLower(t.DB)) {
			return false
		}
	} else if !matchAny(m.c.include, full) {
		return false
	}
	return !matchAny(m.c.exclude, full)
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, r := range res {
		if r.MatchString(s) {
			return true
		}
	}
	return false
}

// TargetName returns the ODS table base name of a source table.
func (m *Mapper) TargetName(t event.TableID) (string, error) {
	r := m.resolve(t)
	return r.base, r.err
}

// Evolution returns the schema-evolution mode of a source table (the
// mapping's evolution, or its table rule's). Sinks that keep their own
// target tables (the MySQL sink) apply source DDL by it.
func (m *Mapper) Evolution(t event.TableID) Mode { return m.resolve(t).mode }

// resolve routes a source table (cached).
func (m *Mapper) resolve(id event.TableID) *resolution {
	m.mu.Lock()
	r, ok := m.routes[id]
	m.mu.Unlock()
	if ok {
		return r
	}
	r = m.route(id)
	m.mu.Lock()
	m.routes[id] = r
	m.mu.Unlock()
	return r
}

func (m *Mapper) route(id event.TableID) *resolution {
	full := id.String()
	key := tableKey{db: id.DB, table: id.Table}
	r := &resolution{partition: m.c.partition, mode: m.c.evolution, columns: map[string]columnRule{}}
	name := ""
	r.routeDesc = fmt.Sprintf("target template %q", m.c.target.text)
	matched := false
	for _, rt := range m.c.routes {
		if match := rt.src.FindStringSubmatchIndex(full); match != nil {
			name = rt.target.expand(key, full, match)
			r.merged = rt.merge
			r.routeDesc = fmt.Sprintf("routes[%d] (%q -> %q)", rt.index, rt.src.String(), rt.target.text)
			matched = true
			break
		}
	}
	if !matched {
		name = m.c.target.expand(key, full, nil)
	}
	for _, tr := range m.c.tables {
		match := tr.src.FindStringSubmatchIndex(full)
		if match == nil {
			continue
		}
		if tr.target != nil {
			name = tr.target.expand(key, full, match)
			r.routeDesc = fmt.Sprintf("tables[%d].target %q", tr.index, tr.target.text)
		}
		if tr.partition.column != "" {
			r.partition.column = tr.partition.column
		}
		if tr.partition.granularity != "" {
			r.partition.granularity = tr.partition.granularity
		}
		if tr.partition.zone != nil {
			r.partition.zone = tr.partition.zone
			r.partition.zoneName = tr.partition.zoneName
		}
		if tr.rule.Evolution != "" {
			r.mode = tr.rule.Evolution
		}
		if len(tr.rule.Key) > 0 {
			r.key = tr.rule.Key
		}
		r.excluded = append(r.excluded, tr.rule.ExcludeColumns...)
		for k, v := range tr.columns {
			prev := r.columns[k]
			if v.name != "" {
				prev.name = v.name
			}
			if v.typ != nil {
				prev.typ = v.typ
			}
			r.columns[k] = prev
		}
	}
	r.base = name
	if err := checkTableName(name); err != nil {
		r.err = fmt.Errorf("schema: table %s: target name from %s: %w; add a route or table rule with a legal target, or exclude the table", id, r.routeDesc, err)
	}
	return r
}

// Target returns the ODS target of a source table version, aligned to the
// target's current layout. It is cached per t.Version (and layout revision).
// Errors name the table and column: an illegal target name, an unsupported
// or unmappable column type, a name collision with another source table, or
// a version that does not fit the current layout (call Plan first).
func (m *Mapper) Target(t *event.Table) (*Target, error) {
	if t == nil {
		return nil, errors.New("schema: Target of a nil table")
	}
	m.mu.Lock()
	if ct, ok := m.targets[t.Version]; ok && t.Version != 0 {
		if h := m.heads[ct.t.BaseName]; h != nil && h.rev == ct.rev {
			m.mu.Unlock()
			return ct.t, nil
		}
	}
	m.mu.Unlock()

	fresh, err := m.build(t)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.heads[fresh.BaseName]
	if h == nil {
		h = &head{layout: fresh, merged: fresh.Merged, sources: map[event.TableID]bool{t.ID: true}}
		m.heads[fresh.BaseName] = h
		m.targets[t.Version] = cachedTarget{t: fresh, rev: h.rev}
		return fresh, nil
	}
	if err := h.admit(t.ID); err != nil {
		return nil, err
	}
	aligned, err := align(h.layout, fresh, t, m.c)
	if err != nil {
		if h.merged && !h.sources[t.ID] {
			return nil, fmt.Errorf("schema: tables %s and %s both route to %s but their schemas are incompatible: %w",
				firstSource(h), t.ID, fresh.BaseName, err)
		}
		return nil, err
	}
	h.sources[t.ID] = true
	m.targets[t.Version] = cachedTarget{t: aligned, rev: h.rev}
	return aligned, nil
}

// admit checks that another source table may write the head's target.
func (h *head) admit(id event.TableID) error {
	if h.merged || h.sources[id] {
		return nil
	}
	return fmt.Errorf("schema: tables %s and %s both map to target %s; give one of them another target or set merge: true on a route that matches both",
		firstSource(h), id, h.layout.BaseName)
}

func firstSource(h *head) event.TableID {
	var ids []event.TableID
	for id := range h.sources {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b event.TableID) int { return strings.Compare(a.String(), b.String()) })
	if len(ids) == 0 {
		return event.TableID{}
	}
	return ids[0]
}

// build maps a source table version on its own (its "fresh" layout).
func (m *Mapper) build(t *event.Table) (*Target, error) {
	r := m.resolve(t.ID)
	if r.err != nil {
		return nil, r.err
	}
	zone := r.partition.zone
	if zone == nil {
		zone = time.UTC
	}
	tg := &Target{Name: r.base, BaseName: r.base, Version: 1, Source: t.ID, SourceVersion: t.Version,
		Merged: r.merged, PartitionColumn: r.partition.column, Granularity: r.partition.granularity,
		TimeZone: r.partition.zoneName, Mode: r.mode, loc: zone,
		stop: m.c.cfg.OnValueError == OnValueErrorStop, stats: m.stats}
	for k := MetaOp; k <= MetaPos; k++ {
		tg.Columns = append(tg.Columns, metaColumn(k))
	}
	tg.Columns = append(tg.Columns, metaColumn(MetaRaw))
	if r.merged {
		tg.Columns = append(tg.Columns, metaColumn(MetaSourceDB), metaColumn(MetaSourceTable))
	}
	var errs []error
	fail := func(col string, err error) {
		errs = append(errs, fmt.Errorf("schema: table %s column %s: %w", t.ID, col, err))
	}
	seen := map[string]string{}
	bySource := map[int]int{}
	for i := range t.Columns {
		sc := &t.Columns[i]
		if slices.ContainsFunc(r.excluded, func(x string) bool { return strings.EqualFold(x, sc.Name) }) {
			continue
		}
		rule := r.columns[strings.ToLower(sc.Name)]
		col, err := m.mapColumn(sc, rule)
		if err != nil {
			fail(sc.Name, err)
			continue
		}
		if isMetaName(col.Name) {
			fail(sc.Name, fmt.Errorf("target name %q is a metadata column; rename it with a column rule (tables[].columns.%s.name)", col.Name, sc.Name))
			continue
		}
		if col.Name == tg.PartitionColumn {
			fail(sc.Name, fmt.Errorf("target name %q is the partition column; rename it or choose another partition column", col.Name))
			continue
		}
		if prev, dup := seen[col.Name]; dup {
			fail(sc.Name, fmt.Errorf("target name %q is also the target of column %s", col.Name, prev))
			continue
		}
		seen[col.Name] = sc.Name
		col.Source = i
		bySource[i] = len(tg.Columns)
		tg.Columns = append(tg.Columns, col)
	}
	// Key.
	var key []int
	if len(r.key) > 0 {
		for _, k := range r.key {
			i := t.ColumnIndex(k)
			if i < 0 {
				fail(k, errors.New("configured key column does not exist"))
				continue
			}
			j, ok := bySource[i]
			if !ok {
				fail(k, errors.New("configured key column is excluded or unmapped"))
				continue
			}
			key = append(key, j)
		}
	} else {
		for _, i := range t.Key {
			j, ok := bySource[i]
			if !ok {
				name := fmt.Sprintf("#%d", i)
				if i >= 0 && i < len(t.Columns) {
					name = t.Columns[i].Name
				}
				fail(name, errors.New("primary key column is excluded or unmapped; configure a key (tables[].key) without it"))
				continue
			}
			key = append(key, j)
		}
	}
	if len(key) > 0 && r.merged {
		key = append([]int{tg.ColumnIndex(ColSourceDB), tg.ColumnIndex(ColSourceTable)}, key...)
	}
	tg.Key = key
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return tg, nil
}

// mapColumn chooses the target name and type of a source column.
func (m *Mapper) mapColumn(sc *event.Column, rule columnRule) (TargetColumn, error) {
	name := rule.name
	if name == "" {
		name = strings.ToLower(sc.Name)
		if err := checkColumnName(name); err != nil {
			return TargetColumn{}, fmt.Errorf("cannot map the name: %w; rename it with a column rule (tables[].columns.%s.name)", err, sc.Name)
		}
	}
	var spec typeSpec
	var err error
	switch {
	case rule.typ != nil:
		spec = *rule.typ
	default:
		found := false
		for _, k := range familyKeys(sc) {
			if s, ok := m.c.types[k]; ok {
				spec, found = s, true
				break
			}
		}
		if !found {
			if spec, err = defaultSpec(sc, m.c.zeroDates, m.c.cfg.System); err != nil {
				return TargetColumn{}, err
			}
		}
	}
	if err := m.c.cfg.System.check(spec); err != nil {
		return TargetColumn{}, err // defaults never fail it; overrides are checked by compile
	}
	lossy, err := checkConversion(sc, spec, m.c.zeroDates, m.c.cfg.SourceTimeZone)
	if err != nil {
		return TargetColumn{}, err
	}
	col := newColumn(name, spec)
	col.SourceName = sc.Name
	col.Lossy = lossy
	srcCopy := *sc
	col.src = &srcCopy
	col.cv = &converter{srcType: sc.Type, bitWidth: bitWidth(sc), zeroDates: m.c.zeroDates, srcZone: m.c.sourceZone}
	if m.c.cfg.System == SystemMaxCompute {
		col.cv.minBigInt = math.MinInt64 + 1 // MaxCompute's BIGINT excludes -2^63
	}
	return col, nil
}

// Resolve returns the target of t like Target. When t does not fit the
// target's current layout yet (a schema change no one has planned, e.g. the
// first row after a DDL, or after a restart), it plans the change first and
// returns that plan too; sinks that manage target DDL apply its steps before
// writing rows, file sinks just write under the plan's target.
func (m *Mapper) Resolve(t *event.Table) (*Target, *Plan, error) {
	tg, err := m.Target(t)
	if err == nil {
		return tg, nil, nil
	}
	if !errors.Is(err, ErrPlanRequired) {
		return nil, nil, err
	}
	p, err := m.Plan(nil, t)
	if err != nil {
		return nil, nil, err
	}
	if p.New == nil {
		return nil, p, fmt.Errorf("schema: table %s: the plan for version %016x has no target", t.ID, t.Version)
	}
	return p.New, p, nil
}
