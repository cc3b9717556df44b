package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/odsync/odsync/event"
)

// ErrPlanRequired is wrapped by Target errors for a source table version
// that does not fit the current layout of its target: the sink must call
// Plan (at the DDL that produced the version) and apply it first.
var ErrPlanRequired = errors.New("the target layout must be evolved first (Plan)")

// altName is the column lenient mode adds when a source column changes to
// a type its existing column cannot hold: "<name>__<type>", e.g.
// "price__string", "amount__decimal_20_4". Deterministic, so a restarted
// process finds it again.
func altName(name string, s typeSpec) string {
	suffix := s.kind.String()
	switch s.kind {
	case KindDecimal:
		suffix = fmt.Sprintf("decimal_%d_%d", s.precision, s.scale)
	case KindStringArray:
		suffix = "array_string"
	}
	n := name + "__" + suffix
	if len(n) > MaxNameLen {
		n = n[:MaxNameLen]
	}
	return n
}

// fits reports whether every value of source column sc, mapped as fresh,
// can be stored without loss in a column of type have.
func fits(sc *event.Column, fresh, have typeSpec, zeroDates, zone string) bool {
	if fresh == have {
		return true
	}
	if sc == nil {
		return false
	}
	lossy, err := checkConversion(sc, have, zeroDates, zone)
	return err == nil && lossy == ""
}

// match finds the layout column that holds fresh column fc: its own name,
// or the lenient alternative name, whichever fits. -1 when none exists;
// exists reports that a column of fc's name exists but cannot hold it.
func match(layout *Target, fc *TargetColumn, c *compiled) (idx int, exists bool) {
	if fc.Meta != MetaNone {
		return layout.ColumnIndex(fc.Name), false
	}
	fs := fc.spec()
	if i := layout.ColumnIndex(fc.Name); i >= 0 {
		if layout.Columns[i].Meta == MetaNone && fits(fc.src, fs, layout.Columns[i].spec(), c.zeroDates, c.cfg.SourceTimeZone) {
			return i, false
		}
		exists = true
	}
	if i := layout.ColumnIndex(altName(fc.Name, fs)); i >= 0 && layout.Columns[i].Meta == MetaNone &&
		fits(fc.src, fs, layout.Columns[i].spec(), c.zeroDates, c.cfg.SourceTimeZone) {
		return i, false
	}
	return -1, exists
}

// align maps the fresh layout of source table t onto the current layout.
func align(layout, fresh *Target, t *event.Table, c *compiled) (*Target, error) {
	out := *layout
	out.Columns = make([]TargetColumn, len(layout.Columns))
	copy(out.Columns, layout.Columns)
	for i := range out.Columns {
		if out.Columns[i].Meta == MetaNone {
			out.Columns[i].Source = -1
			out.Columns[i].SourceName = ""
			out.Columns[i].src = nil
			out.Columns[i].cv = nil
		}
	}
	out.Source, out.SourceVersion = fresh.Source, fresh.SourceVersion
	out.Mode, out.PartitionColumn, out.Granularity, out.TimeZone, out.loc =
		fresh.Mode, fresh.PartitionColumn, fresh.Granularity, fresh.TimeZone, fresh.loc
	out.stop, out.stats = fresh.stop, fresh.stats

	var problems []string
	pos := make([]int, len(fresh.Columns)) // fresh index -> layout index
	for i := range fresh.Columns {
		fc := &fresh.Columns[i]
		j, exists := match(layout, fc, c)
		pos[i] = j
		if j < 0 {
			if fresh.Mode == ModeIgnore && fc.Meta == MetaNone {
				continue // ignore mode: not written
			}
			switch {
			case fc.Meta != MetaNone:
				problems = append(problems, fmt.Sprintf("metadata column %s is missing", fc.Name))
			case exists:
				problems = append(problems, fmt.Sprintf("column %s: %s does not fit the target's %s",
					fc.SourceName, fc.spec(), layout.Columns[layout.ColumnIndex(fc.Name)].spec()))
			default:
				problems = append(problems, fmt.Sprintf("column %s is not in the target", fc.SourceName))
			}
			continue
		}
		if fc.Meta != MetaNone {
			continue
		}
		oc := &out.Columns[j]
		if oc.Source >= 0 {
			problems = append(problems, fmt.Sprintf("columns %s and %s both map to %s", oc.SourceName, fc.SourceName, oc.Name))
			continue
		}
		oc.Source, oc.SourceName, oc.src, oc.cv = fc.Source, fc.SourceName, fc.src, fc.cv
		if oc.spec() == fc.spec() {
			oc.Lossy = fc.Lossy
		} else {
			oc.Lossy = ""
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("schema: table %s (version %x) does not fit target %s: %s: %w",
			t.ID, t.Version, layout.Name, strings.Join(problems, "; "), ErrPlanRequired)
	}
	out.Key = nil
	for _, k := range fresh.Key {
		if pos[k] < 0 {
			out.Key = layout.Key
			break
		}
		out.Key = append(out.Key, pos[k])
	}
	return &out, nil
}
