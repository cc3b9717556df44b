package mysql

import (
	"context"
	"sync"

	"github.com/odsync/odsync/event"
)

// SnapshotTable is the snapshot progress of one table, as SnapshotProgress
// reports it for metrics and the status page.
type SnapshotTable struct {
	Table event.TableID
	// RowsRead so far; RowsEstimated is the server's estimate when the
	// table was planned (0: unknown, e.g. after a restart mid-snapshot).
	RowsRead, RowsEstimated int64
	// Chunks read so far.
	Chunks int64
	// Started and Done say where the table is.
	Started, Done bool
}

// snapProgress tracks SnapshotProgress apart from the copy's own state, so
// reading it never waits on the snapshotter.
type snapProgress struct {
	mu     sync.Mutex
	order  []event.TableID
	tables map[event.TableID]*SnapshotTable
}

func (p *snapProgress) entry(id event.TableID) *SnapshotTable {
	if p.tables == nil {
		p.tables = map[event.TableID]*SnapshotTable{}
	}
	t := p.tables[id]
	if t == nil {
		t = &SnapshotTable{Table: id}
		p.tables[id] = t
		p.order = append(p.order, id)
	}
	return t
}

// plan records a table of a snapshot (again, for a re-snapshot) with its
// estimated rows.
func (p *snapProgress) plan(id event.TableID, estimate uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.entry(id)
	*t = SnapshotTable{Table: id, RowsEstimated: int64(estimate)}
}

func (p *snapProgress) start(id event.TableID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entry(id).Started = true
}

// read adds a chunk of n rows; done marks the table's copy finished.
func (p *snapProgress) read(id event.TableID, n uint64, done bool) {
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

func (p *snapProgress) finish(id event.TableID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tables[id]; t != nil {
		t.Done = true
	}
}

func (p *snapProgress) list() []SnapshotTable {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]SnapshotTable, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, *p.tables[id])
	}
	return out
}

// SnapshotProgress reports every table this run planned to snapshot: rows
// read, the estimate, chunks, started and done. Safe for concurrent use.
func (s *Source) SnapshotProgress(context.Context) ([]SnapshotTable, error) {
	return s.snapProg.list(), nil
}
