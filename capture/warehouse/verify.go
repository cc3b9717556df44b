package warehouse

import (
	"context"
	"fmt"

	"github.com/odsync/odsync/event"
)

// VerifyTable is a captured warehouse table as `odsync verify` reads it in
// the reverse direction: the table its rows are emitted as (what the
// sinks write), and whether it is odsync's change log or a table of
// another tool (loaded once).
type VerifyTable struct {
	// Name is the table's name in the warehouse (the base name for
	// evolve mode's versions).
	Name string
	// Source is the table the rows are emitted as: its columns (source
	// names and MySQL types) and key.
	Source *event.Table
	// Static: a table of another tool, its current objects read once in
	// object and file order (no _seq).
	Static bool
	t      *table
}

// Describe names the warehouse, without secrets.
func (s *Source) Describe() string { return s.st.Describe() }

// Mode is the source's mode (ModeFull or ModeIncremental).
func (s *Source) Mode() string { return s.cfg.Mode }

// VerifyTables lists the tables the source reads (those the mapping
// captures), as the source itself finds them.
func (s *Source) VerifyTables(ctx context.Context) ([]VerifyTable, error) {
	ts, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VerifyTable, 0, len(ts))
	for _, t := range ts {
		out = append(out, VerifyTable{Name: t.base, Source: t.src, Static: !t.changeLog, t: t})
	}
	return out, nil
}

// Complete returns the _seq up to which the warehouse holds the change log
// completely (the S3 sink's complete_seq), as the source reads it.
func (s *Source) Complete(ctx context.Context, tables []VerifyTable) (uint64, error) {
	ts := make([]*table, 0, len(tables))
	for _, t := range tables {
		ts = append(ts, t.t)
	}
	return s.st.Complete(ctx, ts)
}

// VerifyChange is one decoded row of a warehouse table: its _op, _seq,
// commit time and source image (values as the MySQL capture produces them
// for the source types; _raw values restored).
type VerifyChange struct {
	Op     event.Op
	Seq    uint64
	Commit int64
	Row    []event.Value
}

// ScanChanges decodes the changes of a change-log table whose _seq is in
// (after, upto], object by object as the source reads them (versions
// merged, _raw restored), in no particular order, and calls fn with each;
// fn must not keep the row. A table of another tool is read in full when
// after is 0 (nothing otherwise): its rows are numbered 1, 2, ... in
// object and file order as their Seq, so the last row of a key wins as in
// the source's full load. Memory: one object's rows at a time.
func (s *Source) ScanChanges(ctx context.Context, vt VerifyTable, after, upto uint64, fn func(VerifyChange) error) error {
	t := vt.t
	if t == nil {
		return fmt.Errorf("warehouse: table %s: not listed by VerifyTables", vt.Name)
	}
	if !t.changeLog && after > 0 {
		return nil
	}
	units, err := s.st.Units(ctx, t)
	if err != nil {
		return err
	}
	var n uint64
	for _, u := range units {
		if t.changeLog && (u.last <= after || u.first > upto) {
			continue
		}
		i := 0
		err := s.st.Read(ctx, t, u, func(row []event.Value) error {
			i++
			if !t.changeLog && i == 1 && t.header {
				return nil
			}
			ch, err := t.decodeUnit(u, row, rowAt{obj: u.name, n: i})
			if err != nil {
				return err
			}
			if !t.changeLog {
				n++
				ch.seq = n
			} else if ch.seq <= after || ch.seq > upto {
				return nil
			}
			return fn(VerifyChange{Op: ch.op, Seq: ch.seq, Commit: ch.commit, Row: ch.row})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
