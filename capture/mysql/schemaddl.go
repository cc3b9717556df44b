package mysql

import (
	"context"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// applyDDL records what a statement does to the schema history and returns
// the DDL events for the captured tables it changes.
func (st *stream) applyDDL(ctx context.Context, h *replication.EventHeader, schema, query string) (out []event.Event, rerr error) {
	p := hpos{st.seq, h.LogPos}
	stmt := mysqldialect.ParseDDL(schema, query)
	if stmt.Kind == mysqldialect.DDLNone || stmt.Temporary {
		return nil, nil
	}
	for _, t := range stmt.Tables {
		if systemSchema(t.DB) {
			return nil, nil
		}
	}
	pos := st.position(h)
	mk := func(id event.TableID, v *version) event.Event {
		ev := event.Event{Op: event.OpDDL, Source: id, DDL: query, CommitTime: st.txnTime, Pos: pos}
		if v != nil && v.schema != nil {
			ev.Table = v.table
		}
		return ev
	}
	// renamedIn lists the captured names a rename gave an existing table:
	// their rows are copied like a newly included table's (the binlog has
	// none of them under that name).
	var renamedIn []event.TableID
	defer func() {
		if len(renamedIn) > 0 && st.snap != nil && st.src.cfg.Snapshot != SnapshotNever {
			if err := st.snap.copyRenamed(st, renamedIn); err != nil && rerr == nil {
				out, rerr = nil, err
			}
		}
	}()
	// changed records a table's new state and emits its DDL event when captured.
	changed := func(id event.TableID, s *tableSchema, unknown bool) error {
		if unknown && st.captures(id) {
			// The statement could not be followed: take the server's current
			// schema (the next table map checks it fits).
			if live, err := st.srv.loadSchema(ctx, id); err == nil {
				s, unknown = live, false
			}
		}
		// A version recorded at this very position in an earlier run is
		// authoritative (it may have come from a table map); keep it.
		v, err := st.hist.exact(id, p)
		if err != nil {
			return err
		}
		if v == nil {
			if v, err = st.hist.put(id, p, s, unknown); err != nil {
				return err
			}
		}
		if st.captures(id) {
			out = append(out, mk(id, v))
		}
		if st.snap != nil {
			st.snap.schemaChanged(id, v)
		}
		return nil
	}
	current := func(t mysqldialect.TableName) (*tableSchema, error) {
		id := event.TableID{DB: t.DB, Table: t.Name}
		v, _, err := st.hist.at(id, hpos{p.seq, p.off - 1})
		if err != nil || v == nil || v.unknown {
			return nil, err
		}
		return v.schema, nil
	}
	idOf := func(t mysqldialect.TableName) event.TableID { return event.TableID{DB: t.DB, Table: t.Name} }
	warn := func(what string, err error) {
		st.log.Warn("DDL not followed by the schema history; the next table map of the table decides its schema",
			"position", pos.String(), "statement", truncate(query, 300), "problem", what, "err", err)
	}
	switch stmt.Kind {
	case mysqldialect.DDLUnparsed:
		warn("cannot parse the statement", stmt.Err)
		for _, t := range stmt.Tables {
			if err := changed(idOf(t), nil, true); err != nil {
				return nil, err
			}
		}
		if len(stmt.Tables) == 0 && looksLikeTableDDL(query) {
			st.log.Warn("a schema change statement could not be parsed and names no table odsync could find", "position", pos.String(), "statement", truncate(query, 300))
		}
	case mysqldialect.DDLCreateTable:
		t := stmt.Tables[0]
		if stmt.IfNotExists {
			if cur, _ := current(t); cur != nil {
				return out, nil
			}
		}
		if stmt.Create.FromSelect {
			// CREATE TABLE ... SELECT: the select adds columns the
			// statement does not list; the schema is read from the table.
			return out, changed(idOf(t), nil, true)
		}
		s, err := newTableSchema(t, stmt.Create, st.dbCharset[t.DB])
		if err != nil {
			warn("CREATE TABLE", err)
			return out, changed(idOf(t), nil, true)
		}
		s.Source = "ddl"
		return out, changed(idOf(t), s, false)
	case mysqldialect.DDLCreateLike:
		t := stmt.Tables[0]
		base, err := current(stmt.Like)
		if err != nil {
			return nil, err
		}
		if base == nil {
			return out, changed(idOf(t), nil, true)
		}
		return out, changed(idOf(t), base, false)
	case mysqldialect.DDLAlterTable, mysqldialect.DDLCreateIndex, mysqldialect.DDLDropIndex:
		t := stmt.Tables[0]
		specs := stmt.Specs
		switch stmt.Kind {
		case mysqldialect.DDLCreateIndex:
			if !stmt.Unique {
				return out, nil
			}
			specs = []mysqldialect.AlterSpec{{Op: mysqldialect.AlterAddUnique, Name: stmt.Index, Columns: stmt.IndexCol}}
		case mysqldialect.DDLDropIndex:
			specs = []mysqldialect.AlterSpec{{Op: mysqldialect.AlterDropIndex, Name: stmt.Index}}
		}
		base, err := current(t)
		if err != nil {
			return nil, err
		}
		target := t
		var rest []mysqldialect.AlterSpec
		for _, sp := range specs {
			if sp.Op == mysqldialect.AlterRenameTable {
				target = sp.NewTable
				if target.DB == "" {
					target.DB = t.DB
				}
				continue
			}
			rest = append(rest, sp)
		}
		if target != t && st.captures(idOf(target)) {
			renamedIn = append(renamedIn, idOf(target))
		}
		if base == nil {
			if st.captures(idOf(t)) || (target == t && st.captures(idOf(target))) {
				warn("ALTER TABLE of a table without schema history", nil)
			}
			if target != t {
				if err := changed(idOf(t), nil, false); err != nil {
					return nil, err
				}
			}
			return out, changed(idOf(target), nil, true)
		}
		s, err := base.alter(rest)
		if err != nil {
			warn("ALTER TABLE", err)
			if target != t {
				if err := changed(idOf(t), nil, false); err != nil {
					return nil, err
				}
			}
			return out, changed(idOf(target), nil, true)
		}
		s.Source = "ddl"
		if target != t {
			if err := changed(idOf(t), nil, false); err != nil {
				return nil, err
			}
		}
		return out, changed(idOf(target), s, false)
	case mysqldialect.DDLRename:
		// Renames apply in order (RENAME TABLE a TO tmp, b TO a, tmp TO b);
		// only the final state of each name is recorded.
		state := map[event.TableID]*tableSchema{}
		known := map[event.TableID]bool{}
		unknown := map[event.TableID]bool{} // renamed into, from a table without history
		var order []event.TableID
		get := func(t mysqldialect.TableName) (*tableSchema, error) {
			id := idOf(t)
			if known[id] {
				return state[id], nil
			}
			s, err := current(t)
			if err != nil {
				return nil, err
			}
			known[id], state[id] = true, s
			order = append(order, id)
			return s, nil
		}
		for _, r := range stmt.Renames {
			s, err := get(r[0])
			if err != nil {
				return nil, err
			}
			if _, err := get(r[1]); err != nil {
				return nil, err
			}
			state[idOf(r[0])] = nil
			state[idOf(r[1])] = s
			// A table being renamed exists: without a schema it is one
			// the history does not know (never captured, e.g. from another
			// schema); the server's current schema stands in for it.
			unknown[idOf(r[0])] = false
			unknown[idOf(r[1])] = s == nil
		}
		for _, id := range order {
			s := state[id]
			if err := changed(id, s, unknown[id]); err != nil {
				return nil, err
			}
			if (s != nil || unknown[id]) && st.captures(id) {
				renamedIn = append(renamedIn, id)
			}
		}
		// Names that were absent and stay absent need no event.
		kept := out[:0]
		for _, ev := range out {
			if ev.Table != nil || st.existedBefore(ev.Source, p) {
				kept = append(kept, ev)
			}
		}
		return kept, nil
	case mysqldialect.DDLDrop:
		for _, t := range stmt.Tables {
			if err := changed(idOf(t), nil, false); err != nil {
				return nil, err
			}
		}
	case mysqldialect.DDLTruncate:
		t := stmt.Tables[0]
		if id := idOf(t); st.captures(id) {
			v, _, err := st.hist.at(id, p)
			if err != nil {
				return nil, err
			}
			out = append(out, mk(id, v))
		}
	case mysqldialect.DDLCreateDatabase, mysqldialect.DDLAlterDatabase:
		if stmt.Charset != "" {
			st.dbCharset[stmt.Database] = stmt.Charset
		} else if cs := charsetOfCollation(stmt.Collation); cs != "" {
			st.dbCharset[stmt.Database] = cs
		}
	case mysqldialect.DDLDropDatabase:
		ids, err := st.hist.tablesOf(stmt.Database)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if v, _, _ := st.hist.at(id, p); v != nil && v.schema != nil {
				if err := changed(id, nil, false); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// existedBefore reports whether the history had the table just before p.
func (st *stream) existedBefore(id event.TableID, p hpos) bool {
	v, early, _ := st.hist.at(id, hpos{p.seq, p.off - 1})
	return v != nil && !early && (v.schema != nil || v.unknown)
}

func looksLikeTableDDL(q string) bool {
	u := strings.ToUpper(q)
	return strings.Contains(u, "TABLE")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
