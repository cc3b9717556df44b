package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/odsync/odsync/event"
)

// StepKind is one kind of target DDL step.
type StepKind string

// Plan steps.
const (
	// StepCreateTable creates Step.Table (a new target, or a new table
	// version in evolve mode).
	StepCreateTable StepKind = "create_table"
	// StepAddColumns appends Step.Columns (all nullable) to Step.Table.
	StepAddColumns StepKind = "add_columns"
	// StepWidenColumn changes the type of Step.From to Step.Column's (a
	// widening every target accepts in place: a larger integer, FLOAT to
	// DOUBLE, more DECIMAL precision with the same scale).
	StepWidenColumn StepKind = "widen_column"
	// StepDropColumns drops Step.Columns (evolve mode only).
	StepDropColumns StepKind = "drop_columns"
	// StepDropTable drops Step.Table (evolve mode only, when the source
	// table was dropped).
	StepDropTable StepKind = "drop_table"
)

// Step is one target DDL step.
type Step struct {
	Kind StepKind
	// Table is the target the step applies to (for StepCreateTable the
	// whole new table).
	Table *Target
	// Columns are the added or dropped columns.
	Columns []TargetColumn
	// Column (new type) and From (old type) of StepWidenColumn.
	Column, From TargetColumn
	// Reason says which source change caused the step.
	Reason string
}

// Plan is what a schema change of one source table does to its target:
// DDL steps for the sinks to apply, in order, and notes on changes that
// need no DDL. After applying the steps, sinks write rows with New.
type Plan struct {
	Source event.TableID
	Mode   Mode
	// Old is the target layout before the change (nil when the target is
	// created), New the layout after it, aligned to the new source version
	// (nil when the source table was dropped).
	Old, New *Target
	Steps    []Step
	// Notes describe changes that need no DDL, e.g. a column dropped in the
	// source that the target keeps (lenient), a new column not written
	// (ignore), or a type narrowed in the source that the target still holds.
	Notes []string
}

// Empty reports whether the plan has no DDL step.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

// Plan computes what the change of a source table from old to new does to
// its ODS target, under the table's evolution mode, and makes the new
// layout the target's current one (later Target calls align to it).
//
// old is nil for a table seen for the first time (the plan then creates
// the target, or evolves it if the target already exists); new is nil when
// the source table was dropped. Calling Plan again for the same change
// yields an empty plan. In exception mode any change that alters the
// target is an error naming the table and column.
func (m *Mapper) Plan(old, new *event.Table) (*Plan, error) {
	switch {
	case old == nil && new == nil:
		return nil, errors.New("schema: Plan of two nil tables")
	case new == nil:
		return m.planDrop(old)
	}
	fresh, err := m.build(new)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.heads[fresh.BaseName]
	if h == nil && old != nil {
		// The target was created from old (by an earlier process, or by a
		// Target call this process did not see): start from old's layout.
		if prev, err := m.build(old); err == nil && prev.BaseName == fresh.BaseName {
			h = &head{layout: prev, merged: prev.Merged, sources: map[event.TableID]bool{old.ID: true}}
			m.heads[fresh.BaseName] = h
		}
	}
	if h == nil {
		h = &head{layout: fresh, merged: fresh.Merged, sources: map[event.TableID]bool{new.ID: true}}
		m.heads[fresh.BaseName] = h
		m.targets[new.Version] = cachedTarget{t: fresh, rev: h.rev}
		return &Plan{Source: new.ID, Mode: fresh.Mode, New: fresh,
			Steps: []Step{{Kind: StepCreateTable, Table: fresh, Reason: "new target for " + new.ID.String()}}}, nil
	}
	if err := h.admit(new.ID); err != nil {
		return nil, err
	}
	if h.merged && !h.sources[new.ID] {
		// Another shard of a merged route: it may add columns or widen
		// types, but a type the target cannot hold is an incompatible schema.
		if err := compatibleShard(h, fresh, new, m.c); err != nil {
			return nil, err
		}
	}
	p, layout, err := evolve(h.layout, fresh, new, m.c)
	if err != nil {
		return nil, err
	}
	aligned, err := align(layout, fresh, new, m.c)
	if err != nil {
		return nil, fmt.Errorf("schema: internal error: evolved layout does not fit: %w", err)
	}
	p.New = aligned
	if !p.Empty() {
		h.rev++
		h.layout = aligned
	}
	h.sources[new.ID] = true
	m.targets[new.Version] = cachedTarget{t: aligned, rev: h.rev}
	return p, nil
}

func (m *Mapper) planDrop(old *event.Table) (*Plan, error) {
	prev, err := m.build(old)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := prev
	if h := m.heads[prev.BaseName]; h != nil {
		cur = h.layout
	}
	p := &Plan{Source: old.ID, Mode: prev.Mode, Old: cur}
	switch {
	case prev.Mode == ModeEvolve && !cur.Merged:
		p.Steps = append(p.Steps, Step{Kind: StepDropTable, Table: cur, Reason: "source table " + old.ID.String() + " dropped"})
		delete(m.heads, prev.BaseName)
	case prev.Mode == ModeException:
		return nil, fmt.Errorf("schema: table %s dropped (target %s, evolution: exception)", old.ID, cur.Name)
	default:
		p.Notes = append(p.Notes, fmt.Sprintf("source table %s dropped; target %s kept", old.ID, cur.Name))
	}
	return p, nil
}

// widenable reports whether a column of type from can be altered in place
// to type to on every target.
func widenable(from, to typeSpec) bool {
	rank := func(k Kind) int {
		switch k {
		case KindTinyInt:
			return 1
		case KindSmallInt:
			return 2
		case KindInt:
			return 3
		case KindBigInt:
			return 4
		}
		return 0
	}
	switch {
	case rank(from.kind) > 0 && rank(to.kind) > rank(from.kind):
		return true
	case from.kind == KindFloat && to.kind == KindDouble:
		return true
	case from.kind == KindDecimal && to.kind == KindDecimal:
		return to.scale == from.scale && to.precision > from.precision
	}
	return false
}

// evolve computes the steps from layout to the fresh mapping of t.
func evolve(layout, fresh *Target, t *event.Table, c *compiled) (*Plan, *Target, error) {
	mode := fresh.Mode
	p := &Plan{Source: t.ID, Mode: mode, Old: layout}
	next := *layout
	next.Columns = append([]TargetColumn(nil), layout.Columns...)
	var added []TargetColumn
	var widen []Step // after the drops: Athena's REPLACE COLUMNS lists the old types
	var addReasons []string
	var refuse []string
	newVersion := ""
	matched := map[int]bool{}
	for i := range fresh.Columns {
		fc := &fresh.Columns[i]
		j, exists := match(layout, fc, c)
		if j >= 0 {
			matched[j] = true
			if oc := &layout.Columns[j]; fc.Meta == MetaNone && oc.spec() != fc.spec() {
				p.Notes = append(p.Notes, fmt.Sprintf("column %s is now %s; target column %s keeps %s, which holds it",
					fc.SourceName, fc.spec(), oc.Name, oc.spec()))
			}
			continue
		}
		what := ""
		if exists {
			k := layout.ColumnIndex(fc.Name)
			oc := &layout.Columns[k]
			matched[k] = true
			what = fmt.Sprintf("column %s changed from %s to %s", fc.SourceName, oc.spec(), fc.spec())
			if (mode == ModeLenient || mode == ModeEvolve) && widenable(oc.spec(), fc.spec()) {
				nc := next.Columns[k]
				s := fc.spec()
				nc.Kind, nc.Precision, nc.Scale = s.kind, s.precision, s.scale
				nc.MaxCompute, nc.Parquet, nc.Hive, nc.Lossy = s.maxCompute(), s.parquet(), s.hive(), fc.Lossy
				next.Columns[k] = nc
				widen = append(widen, Step{Kind: StepWidenColumn, Table: layout, Column: nc, From: *oc, Reason: what})
				continue
			}
		} else if fc.Meta == MetaRaw {
			// A table created before odsync had _raw: every mode adds it
			// (it changes no source column; rows need it).
			added = append(added, *fc)
			addReasons = append(addReasons, "metadata column _raw is new (values that do not fit their column)")
			continue
		} else if fc.Meta != MetaNone {
			what = fmt.Sprintf("metadata column %s is new", fc.Name)
		} else {
			what = fmt.Sprintf("column %s is new", fc.SourceName)
		}
		switch mode {
		case ModeException:
			refuse = append(refuse, what)
		case ModeIgnore:
			p.Notes = append(p.Notes, what+"; not written (evolution: ignore)")
		case ModeEvolve:
			if exists {
				newVersion = what
				continue
			}
			added = append(added, *fc)
			addReasons = append(addReasons, what)
		case ModeLenient:
			nc := *fc
			if exists {
				nc.Name = altName(fc.Name, fc.spec())
				if next.ColumnIndex(nc.Name) >= 0 || addedHas(added, nc.Name) {
					return nil, nil, fmt.Errorf("schema: table %s: %s, but target %s already has a column %s that cannot hold it",
						t.ID, what, layout.Name, nc.Name)
				}
				what += "; new column " + nc.Name
			}
			added = append(added, nc)
			addReasons = append(addReasons, what)
		}
	}
	var dropped []TargetColumn
	for j := range layout.Columns {
		oc := &layout.Columns[j]
		if matched[j] || oc.Meta != MetaNone {
			continue
		}
		if oc.Source < 0 {
			continue // already had no source column
		}
		what := fmt.Sprintf("column %s dropped", oc.SourceName)
		if t.ColumnIndex(oc.SourceName) >= 0 {
			// the source column still exists and maps to another target
			// column (e.g. back to its original type after a lenient change)
			p.Notes = append(p.Notes, fmt.Sprintf("column %s maps to another target column again; %s kept, written as NULL",
				oc.SourceName, oc.Name))
			continue
		}
		switch mode {
		case ModeException:
			refuse = append(refuse, what)
		case ModeEvolve:
			dropped = append(dropped, *oc)
		default:
			p.Notes = append(p.Notes, fmt.Sprintf("%s; target column %s kept, written as NULL", what, oc.Name))
		}
	}
	if len(refuse) > 0 {
		return nil, nil, fmt.Errorf("schema: table %s: change refused by evolution: exception (target %s): %s",
			t.ID, layout.Name, strings.Join(refuse, "; "))
	}
	if newVersion != "" {
		nv := *fresh
		nv.Version = layout.Version + 1
		nv.Name = versionedName(fresh.BaseName, nv.Version)
		if err := checkTableName(nv.Name); err != nil {
			return nil, nil, fmt.Errorf("schema: table %s: new table version: %w", t.ID, err)
		}
		p.Steps = []Step{{Kind: StepCreateTable, Table: &nv,
			Reason: newVersion + ": the target cannot alter it in place, new table version " + nv.Name}}
		p.Notes = nil
		return p, &nv, nil
	}
	if len(dropped) > 0 {
		keep := next.Columns[:0]
		for _, col := range next.Columns {
			if !addedHas(dropped, col.Name) {
				keep = append(keep, col)
			}
		}
		next.Columns = keep
		var names []string
		for _, d := range dropped {
			names = append(names, d.SourceName)
		}
		p.Steps = append(p.Steps, Step{Kind: StepDropColumns, Table: layout, Columns: dropped,
			Reason: "columns dropped in the source: " + strings.Join(names, ", ")})
	}
	p.Steps = append(p.Steps, widen...)
	if len(added) > 0 {
		for i := range added {
			added[i].Nullable = true
		}
		next.Columns = append(next.Columns, added...)
		p.Steps = append(p.Steps, Step{Kind: StepAddColumns, Table: layout, Columns: added,
			Reason: strings.Join(addReasons, "; ")})
	}
	return p, &next, nil
}

func addedHas(cols []TargetColumn, name string) bool {
	for i := range cols {
		if cols[i].Name == name {
			return true
		}
	}
	return false
}

func versionedName(base string, v int) string {
	if v <= 1 {
		return base
	}
	return fmt.Sprintf("%s_v%d", base, v)
}

// compatibleShard checks a new source of a merged target: every column the
// target already has must hold the shard's values or widen to them.
func compatibleShard(h *head, fresh *Target, t *event.Table, c *compiled) error {
	var problems []string
	for i := range fresh.Columns {
		fc := &fresh.Columns[i]
		j, exists := match(h.layout, fc, c)
		if j >= 0 || !exists {
			continue
		}
		oc := &h.layout.Columns[h.layout.ColumnIndex(fc.Name)]
		if !widenable(oc.spec(), fc.spec()) {
			problems = append(problems, fmt.Sprintf("column %s is %s in %s but %s in the target", fc.SourceName, fc.spec(), t.ID, oc.spec()))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("schema: tables %s and %s both route to %s but their schemas are incompatible: %s",
			firstSource(h), t.ID, h.layout.BaseName, strings.Join(problems, "; "))
	}
	return nil
}
