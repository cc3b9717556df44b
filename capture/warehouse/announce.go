package warehouse

import (
	"github.com/odsync/odsync/event"
)

// schemaMarks tells the sinks when a table's schema changes. The source
// emits every row as its table's newest schema (the newest version's
// source columns and types, read again at every incremental step), so a
// schema change shows only as rows with another event.Table. A sink keyed
// on DDL events (the MySQL sink changes column types only at one: a row
// of an older schema replayed after a restart must not narrow a column)
// would never see it. So before the first row of a table in this process,
// and before the first row after its schema changed, the source emits a
// DDL event carrying the schema. The schema only moves forward, and sinks
// reconcile a DDL event with what the target has, so the announcement at
// each start is harmless.
type schemaMarks map[event.TableID]uint64

// announceDDL is the text of the DDL events the source emits: no
// statement, a comment saying where the schema comes from.
const announceDDL = "/* odsync warehouse source: the table's schema from the warehouse */"

// announce returns events with a DDL event before each row whose table
// schema m has not announced yet; it does not change m (commit does, once
// the events are in the log).
func (m schemaMarks) announce(events []event.Event) []event.Event {
	var out []event.Event
	seen := map[event.TableID]uint64{}
	for i := range events {
		e := &events[i]
		v, ok := seen[e.Source]
		if !ok {
			v = m[e.Source]
		}
		if e.Table != nil && e.Op != event.OpDDL && v != e.Table.Version {
			if out == nil {
				out = append(make([]event.Event, 0, len(events)+1), events[:i]...)
			}
			out = append(out, event.Event{Op: event.OpDDL, Source: e.Source, Table: e.Table, DDL: announceDDL,
				CommitTime: e.CommitTime, Pos: e.Pos, TxnEnd: true})
			seen[e.Source] = e.Table.Version
		}
		if out != nil {
			out = append(out, *e)
		}
	}
	if out == nil {
		return events
	}
	return out
}

// of returns the schemas of events, to commit once they are in the log
// (read before emit: the events belong to the log after it).
func (m schemaMarks) of(events []event.Event) schemaMarks {
	out := schemaMarks{}
	for i := range events {
		if e := &events[i]; e.Table != nil {
			out[e.Source] = e.Table.Version
		}
	}
	return out
}

// commit records schemas (of events in the log now) as announced.
func (m schemaMarks) commit(schemas schemaMarks) {
	for id, v := range schemas {
		m[id] = v
	}
}
