// Package snapprogress tracks the progress of a source's snapshot (the
// MySQL capture's and the TiDB snapshot's) per table, for metrics and the
// status page (telemetry.SnapshotProbe). Reading it never waits on the
// snapshot's own state.
package snapprogress

import (
	"sync"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/telemetry"
)

// Table is the snapshot progress of one table.
type Table struct {
	Table event.TableID
	// RowsRead so far; RowsEstimated is the server's estimate when the
	// table was planned (0: unknown, e.g. after a restart mid-snapshot).
	RowsRead, RowsEstimated int64
	// Chunks read so far.
	Chunks int64
	// Started and Done say where the table is.
	Started, Done bool
}

// Tracker records the tables of a snapshot. The zero value is ready; it is
// safe for concurrent use.
type Tracker struct {
	mu     sync.Mutex
	order  []event.TableID
	tables map[event.TableID]*Table
}

func (p *Tracker) entry(id event.TableID) *Table {
	if p.tables == nil {
		p.tables = map[event.TableID]*Table{}
	}
	t := p.tables[id]
	if t == nil {
		t = &Table{Table: id}
		p.tables[id] = t
		p.order = append(p.order, id)
	}
	return t
}

// Plan records a table of a snapshot (again, for a re-snapshot) with its
// estimated rows.
func (p *Tracker) Plan(id event.TableID, estimate uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.entry(id)
	*t = Table{Table: id, RowsEstimated: int64(estimate)}
}

// Start marks a table's copy started.
func (p *Tracker) Start(id event.TableID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entry(id).Started = true
}

// Read adds a chunk of n rows; done marks the table's copy finished.
func (p *Tracker) Read(id event.TableID, n uint64, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.entry(id)
	t.Started = true
	t.RowsRead += int64(n)
	t.Chunks++
	if done {
		t.Done = true
	}
}

// Finish marks a planned table's copy finished.
func (p *Tracker) Finish(id event.TableID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tables[id]; t != nil {
		t.Done = true
	}
}

// List returns every planned table, in planning order.
func (p *Tracker) List() []Table {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Table, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, *p.tables[id])
	}
	return out
}

// Telemetry converts tables' progress for the status page
// (telemetry.SnapshotProbe).
func Telemetry(ts []Table) []telemetry.TableProgress {
	out := make([]telemetry.TableProgress, 0, len(ts))
	for _, t := range ts {
		out = append(out, telemetry.TableProgress{Table: t.Table, RowsRead: t.RowsRead, RowsTotal: t.RowsEstimated,
			ChunksDone: t.Chunks, Done: t.Done})
	}
	return out
}
