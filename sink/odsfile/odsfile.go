// Package odsfile is the ODS file layout and the row encoders shared by the
// file sinks (the local directory sink, and the S3 sink, which is the same
// layout in a bucket).
//
// Layout:
//
//	{target}/{partcol}={value}/{firstSeq}-{lastSeq}.{ext}
//	{target}/_schema/v{layout}.json   (layout: LayoutVersion, a hash of the column layout)
//
// Sequence numbers are zero-padded to 20 digits so names sort in log order.
// A file holds the rows of one target and partition from one sink batch;
// firstSeq and lastSeq are the lowest and highest _seq in it. Because the
// pipeline re-cuts batches at the same boundaries after a crash and encoders
// are deterministic, a replay rewrites each file with identical bytes.
package odsfile

import (
	"fmt"
	"sort"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// Name returns the object path of a data file, relative to the sink root.
func Name(target, partCol, part string, first, last uint64, ext string) string {
	return fmt.Sprintf("%s/%s=%s/%020d-%020d.%s", target, partCol, part, first, last, ext)
}

// SchemaName returns the object path of a target's schema file for a
// layout version (LayoutVersion).
func SchemaName(target string, version uint64) string {
	return fmt.Sprintf("%s/_schema/v%016x.json", target, version)
}

// Group is the rows of one target partition within a batch.
type Group struct {
	Target      *schema.Target
	Part        string
	First, Last uint64
	// Events are the group's row events, in order.
	Events []*event.Event
}

// EachRow calls fn with the target row of each event in order (see
// schema.Target.SinkRow: values that do not fit are NULL with their text
// in _raw, or, under mapping.on_value_error: stop, a *schema.ConvertError),
// stopping at its first error. Rows are converted one at a time into one
// reused slice, valid only during the call, so a group costs no memory per
// row beyond its events.
func (g *Group) EachRow(fn func(row []event.Value) error) error {
	var row []event.Value
	for _, e := range g.Events {
		var err error
		if row, err = g.Target.SinkRow(e, row); err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

// Name returns the group's data file path for extension ext.
func (g *Group) Name(ext string) string {
	return Name(g.Target.Name, g.Target.PartitionColumn, g.Part, g.First, g.Last, ext)
}

// Split groups the row events of a batch by target and partition, in order
// of each group's first sequence. DDL events are returned separately, with
// the target their new schema maps to (nil when the table was dropped).
func Split(b *sink.Batch, m *schema.Mapper) (groups []*Group, ddl []DDL, err error) {
	// One group per target schema too: a schema change inside a batch starts
	// new files, so every file has one column layout.
	type key struct {
		target *schema.Target
		part   string
	}
	idx := map[key]*Group{}
	// Consecutive events of one table version and commit second (nearly
	// all of a batch) go to the same group: skip resolving them again.
	var lastTable *event.Table
	var lastSec int64
	var last *Group
	for i := range b.Events {
		e := &b.Events[i]
		if e.Op == event.OpDDL {
			last = nil // the mapping may change from here
			d := DDL{Event: e}
			if e.Table != nil {
				if d.Target, d.Plan, err = m.Resolve(e.Table); err != nil {
					return nil, nil, fmt.Errorf("table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
				}
			}
			ddl = append(ddl, d)
			continue
		}
		if e.Table == nil {
			return nil, nil, fmt.Errorf("table %s at %s (seq %d): row event without a schema", e.Source, e.Pos, e.Seq)
		}
		if last != nil && e.Table == lastTable && floorDiv(e.CommitTime, 1e6) == lastSec {
			last.Last = e.Seq
			last.Events = append(last.Events, e)
			continue
		}
		t, _, err := m.Resolve(e.Table)
		if err != nil {
			return nil, nil, fmt.Errorf("table %s at %s (seq %d): %w", e.Source, e.Pos, e.Seq, err)
		}
		k := key{t, t.Partition(e.CommitTime)}
		g := idx[k]
		if g == nil {
			g = &Group{Target: t, Part: k.part, First: e.Seq}
			idx[k] = g
			groups = append(groups, g)
		}
		g.Last = e.Seq
		g.Events = append(g.Events, e)
		lastTable, lastSec, last = e.Table, floorDiv(e.CommitTime, 1e6), g
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].First < groups[j].First })
	return groups, ddl, nil
}

// floorDiv is a/b rounded down (partitions are whole seconds, also before 1970).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// DDL is a schema change in a batch.
type DDL struct {
	Event  *event.Event
	Target *schema.Target
	// Plan is the target change the DDL requires, when it requires one.
	Plan *schema.Plan
}
