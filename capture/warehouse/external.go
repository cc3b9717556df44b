package warehouse

import (
	"context"
	"sort"
	"time"

	"github.com/odsync/odsync/event"
)

// extMark says which objects of a table of another tool are in the log,
// in bounded space: a watermark on the objects' modification time (S3
// LastModified, the store's clock) with a settle window, plus the keys
// of the objects read within the window.
//
// The rule: an object is read when it was modified at or before
// Mark−settle, or its key is in Seen with its modification time. An
// object rewritten later (a new modification time) is read again; an
// object deleted is not followed (its rows stay in the target); an
// object that appears in a listing with a modification time at or before
// Mark−settle (uploaded more than settle before the newest object read,
// e.g. a multipart upload started long before it completed, or a copy
// keeping an old time) is never read. Mark only moves forward, to the
// newest object read but never so far that an object listed and not yet
// read would count as read; Seen keeps only objects modified after
// Mark−settle, so the mark holds at most the objects of one settle
// window plus one step's (window_objects).
type extMark struct {
	Mark time.Time            `json:"mark"`
	Seen map[string]time.Time `json:"seen,omitempty"`
	// Obj is the object being read (modified at ObjMod), of which Rows
	// rows are in the log.
	Obj    string    `json:"obj,omitempty"`
	ObjMod time.Time `json:"obj_mod,omitzero"`
	Rows   uint64    `json:"rows,omitempty"`
}

// read tells whether unit u is in the log.
func (m *extMark) read(u unit, settle time.Duration) bool {
	if !u.mod.After(m.Mark.Add(-settle)) {
		return true
	}
	t, ok := m.Seen[u.name]
	return ok && t.Equal(u.mod)
}

// pending returns the units not in the log, by key, the object being
// read first; skip is how many of its rows are in the log.
func (m *extMark) pending(units []unit, settle time.Duration) (out []unit, skip uint64) {
	var cur []unit
	for _, u := range units {
		if m.Obj != "" && u.name == m.Obj && u.mod.Equal(m.ObjMod) {
			cur = append(cur, u)
			continue
		}
		if !m.read(u, settle) {
			out = append(out, u)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	if len(cur) > 0 {
		out = append(cur[:1], out...)
		skip = m.Rows
	}
	return out, skip
}

// done records unit u as read (in Seen; Mark moves in advance).
func (m *extMark) done(u unit) {
	if m.Seen == nil {
		m.Seen = map[string]time.Time{}
	}
	m.Seen[u.name] = u.mod
	m.Obj, m.ObjMod, m.Rows = "", time.Time{}, 0
}

// advance moves Mark after the units read were recorded (done): to the
// newest object in Seen (read, and not covered by Mark yet), but below
// every unread one's time + settle so that those still count as unread;
// then drops the keys Mark covers.
func (m *extMark) advance(unread []unit, settle time.Duration) {
	next := m.Mark
	for _, t := range m.Seen {
		if t.After(next) {
			next = t
		}
	}
	for _, u := range unread {
		if lim := u.mod.Add(settle - time.Nanosecond); lim.Before(next) {
			next = lim
		}
	}
	if next.After(m.Mark) {
		m.Mark = next
	}
	for k, t := range m.Seen {
		if !t.After(m.Mark.Add(-settle)) {
			delete(m.Seen, k)
		}
	}
}

// stepExternal reads the objects of the tables of other tools not in
// the log yet (new objects, new partitions, rewritten objects), at most
// window_objects per table and step, by key, emitting their rows as
// inserts; moved is false when there were none.
func (s *Source) stepExternal(ctx context.Context, cp *Checkpoint, emit func(context.Context, []event.Event, []byte) error) (moved bool, err error) {
	tables, err := s.tables(ctx)
	if err != nil {
		return false, err
	}
	for _, t := range tables {
		if t.changeLog {
			continue
		}
		units, err := s.st.Units(ctx, t)
		s.setConnected(err)
		if err != nil {
			return false, err
		}
		if cp.Ext == nil {
			cp.Ext = map[string]*extMark{}
		}
		m := cp.Ext[t.base]
		if m == nil {
			// Not loaded with a mark (added to external after the
			// full load): every object is new.
			m = &extMark{}
			cp.Ext[t.base] = m
		}
		todo, skip := m.pending(units, t.settle)
		if len(todo) == 0 {
			continue
		}
		moved = true
		n := min(len(todo), s.cfg.WindowObjects)
		read, unread := todo[:n], todo[n:]
		batch := make([]event.Event, 0, s.cfg.BatchRows)
		flush := func() error {
			c := Checkpoint{Upto: cp.Upto, Loaded: true, Ext: cp.Ext}
			if err := emit(ctx, batch, c.encode()); err != nil {
				return err
			}
			batch = make([]event.Event, 0, s.cfg.BatchRows) // emit may keep the slice
			return nil
		}
		for k, u := range read {
			m.Obj, m.ObjMod, m.Rows = u.name, u.mod, 0
			if k == 0 {
				m.Rows = skip
			}
			var i, rows uint64
			err := s.st.Read(ctx, t, u, func(row []event.Value) error {
				i++
				if i == 1 && t.header {
					return nil
				}
				rows++
				if rows <= skip && k == 0 {
					return nil
				}
				ch, err := t.decodeUnit(u, row, rowAt{u.name, int(i)})
				if err != nil {
					return &permanent{err}
				}
				ch.op = event.OpInsert
				batch = append(batch, t.event(ch))
				m.Rows = rows
				if len(batch) >= s.cfg.BatchRows {
					return flush()
				}
				return nil
			})
			if err != nil {
				return false, err
			}
			m.done(u)
		}
		m.advance(unread, t.settle)
		if err := flush(); err != nil {
			return false, err
		}
		s.log.Info("warehouse source: new objects of a table of another tool read", "table", t.name, "objects", len(read), "left", len(unread))
	}
	return moved, nil
}
