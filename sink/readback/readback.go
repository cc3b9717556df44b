// Package readback is the contract of reading a sink's ODS tables back, as
// odsync verify does: each sink kind provides a Reader for its target
// (registered with its kind, see package registry), and verify compares
// what it reads with the source.
package readback

import (
	"context"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// Reader reads the ODS tables of one sink back.
type Reader interface {
	// Describe names the target for reports, without secrets.
	Describe() string
	// Layout returns the current layout of the ODS table with the given
	// base name (the newest version in evolve mode); Found is false when
	// the table does not exist.
	Layout(ctx context.Context, base string) (Layout, error)
	// Scan decodes the rows of the table written since mark (the zero Mark:
	// all of them) for layout t (values aligned with t.Columns) and calls
	// fn with each; fn must not keep the slice. It returns the mark to
	// pass to the next Scan. Rows may be delivered more than once: the
	// comparison keeps the highest _seq per key.
	Scan(ctx context.Context, t *schema.Target, since Mark, fn func(row []event.Value) error) (Mark, error)
	// Progress reports how far the sink has written (the table being
	// verified, or the whole sink), for deciding that it caught up with a
	// source position.
	Progress(ctx context.Context, table string) (Progress, error)
}

// Layout is an ODS table as a target reader finds it.
type Layout struct {
	Found bool
	// Name is the table's name (with _v<N> in evolve mode).
	Name string
	// Existing are the columns (metadata columns included, partition
	// column excluded) with their types, for schema.Mapper.Reconcile.
	Existing schema.Existing
	// Sources maps target column names to the source column the sink
	// recorded for them ("" for none: a column kept after its source
	// column was dropped). Nil when the target records no sources.
	Sources map[string]string
}

// Mark is where a Scan ended, to read only newer data next time. Only the
// Reader that returned a Mark interprets it.
type Mark struct {
	// Time is when the listing that produced the mark started.
	Time time.Time
	// Partition is the newest partition seen (MaxCompute).
	Partition string
	// Seen holds the object keys already read (S3: object names are
	// derived from their content's sequence range, so a name is read once).
	Seen map[string]struct{}
}

// Progress is how far a sink has written.
type Progress struct {
	// Seq and Pos are the _seq and _pos of the newest row found (0/"" when
	// unknown).
	Seq uint64
	Pos string
	// CompleteBeforeMicros: every change committed at the source before
	// this instant is in the target (0: unknown). The S3 sink's checkpoint
	// says so.
	CompleteBeforeMicros int64
	// Durable reports that the sink has durably written something (local:
	// a data file; S3: the bucket's _checkpoint.json, written after
	// uploads; MaxCompute: a committed partition). A sink without durable
	// progress never counts as settled: verify waits (--wait) for it.
	Durable bool
}
