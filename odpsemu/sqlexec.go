package odpsemu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// execSQL runs a SQL task's query in project p. The returned error text is
// what the instance reports as its failed task result.
func (s *Server) execSQL(p *project, query string, settings map[string]string) error {
	stmts, set, err := parseScriptSettings(query)
	if err != nil {
		return err
	}
	ns := settings[namespaceSetting]
	if v, ok := set[namespaceSetting]; ok {
		ns = v
	}
	if s.cfg.SchemaModel && !strings.EqualFold(ns, "false") {
		// The schema model reads a two-part name as schema.table.
		for _, st := range stmts {
			if n := stmtName(st); n != nil && n.project != "" && n.schema == "" {
				n.schema, n.project = n.project, ""
			}
		}
	}
	if len(stmts) == 0 {
		return nil // only SET statements
	}
	if len(stmts) > 1 {
		return &sqlError{code: codeSemantic, msg: "Semantic analysis exception - the emulator runs one statement per SQL task (plus SET statements)"}
	}
	switch st := stmts[0].(type) {
	case *createTableStmt:
		return s.execCreateTable(p, st)
	case *addColumnsStmt:
		return s.withTable(p, st.name, func(tp *project, t *table) error { return s.execAddColumns(tp, t, st) })
	case *changeColumnStmt:
		return s.withTable(p, st.name, func(tp *project, t *table) error { return s.execChangeColumn(tp, t, st) })
	case *addPartitionStmt:
		return s.withTable(p, st.name, func(tp *project, t *table) error { return s.execAddPartitions(tp, t, st) })
	case *dropPartitionStmt:
		return s.withTable(p, st.name, func(tp *project, t *table) error { return s.execDropPartitions(tp, t, st) })
	case *dropTableStmt:
		return s.execDropTable(p, st)
	}
	return &sqlError{code: codeSemantic, msg: "Semantic analysis exception - statement is not supported by the emulator"}
}

// targetProject resolves the project a (possibly qualified) name refers to.
func (s *Server) targetProject(p *project, n qname) (*project, error) {
	if n.schema != "" && !strings.EqualFold(n.schema, "default") {
		return nil, &sqlError{code: codeSemantic, line: n.tok.line, col: n.tok.col,
			msg: fmt.Sprintf("Semantic analysis exception - schema %q: the emulator only supports the default schema", n.schema)}
	}
	if n.project == "" || strings.EqualFold(n.project, p.name) {
		return p, nil
	}
	tp, e := s.project(n.project)
	if e != nil {
		return nil, &sqlError{code: codeSemantic, line: n.tok.line, col: n.tok.col, msg: "Semantic analysis exception - " + e.msg}
	}
	return tp, nil
}

func (s *Server) withTable(p *project, n qname, fn func(*project, *table) error) error {
	tp, err := s.targetProject(p, n)
	if err != nil {
		return err
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	t := tp.table(n.table)
	if t == nil {
		return &sqlError{code: codeNotFound, line: n.tok.line, col: n.tok.col,
			msg: fmt.Sprintf("Table not found - table %s.%s cannot be resolved", tp.name, n.table)}
	}
	return fn(tp, t)
}

func semErr(tok token, format string, args ...any) *sqlError {
	return &sqlError{code: codeSemantic, line: tok.line, col: tok.col, msg: "Semantic analysis exception - " + fmt.Sprintf(format, args...)}
}

func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

func (s *Server) execCreateTable(p *project, st *createTableStmt) error {
	tp, err := s.targetProject(p, st.name)
	if err != nil {
		return err
	}
	if !validName(st.name.table) {
		return semErr(st.name.tok, "invalid table name %q: use letters, digits and '_', starting with a letter or '_', at most 128", st.name.table)
	}
	if len(st.cols) == 0 {
		return semErr(st.name.tok, "table %s has no columns", st.name.table)
	}
	seen := map[string]bool{}
	var cols, partKeys []column
	for _, c := range st.cols {
		if !validName(c.name) {
			return semErr(c.tok, "invalid column name %q", c.name)
		}
		if seen[strings.ToLower(c.name)] {
			return semErr(c.tok, "duplicate column %q", c.name)
		}
		seen[strings.ToLower(c.name)] = true
		cols = append(cols, column{name: c.name, typ: c.typ, comment: c.comment, notNull: c.notNull})
	}
	for _, c := range st.partCols {
		if !validName(c.name) {
			return semErr(c.tok, "invalid partition column name %q", c.name)
		}
		if seen[strings.ToLower(c.name)] {
			return semErr(c.tok, "duplicate column %q", c.name)
		}
		seen[strings.ToLower(c.name)] = true
		if !c.typ.partitionKeyType() {
			return semErr(c.tok, "partition column %s has type %s; partition columns must be STRING, VARCHAR, CHAR, TINYINT, SMALLINT, INT or BIGINT", c.name, c.typ)
		}
		partKeys = append(partKeys, column{name: c.name, typ: c.typ, comment: c.comment})
	}
	colByName := func(n string) int {
		for i, c := range cols {
			if strings.EqualFold(c.name, n) {
				return i
			}
		}
		return -1
	}
	var pk []string
	for _, k := range st.primaryKey {
		i := colByName(k)
		if i < 0 {
			return semErr(st.name.tok, "primary key column %q is not a column of the table", k)
		}
		cols[i].notNull = true
		pk = append(pk, cols[i].name)
	}
	for _, k := range st.clusterCols {
		if colByName(k) < 0 {
			return semErr(st.name.tok, "cluster column %q is not a column of the table", k)
		}
	}
	for _, k := range st.sortCols {
		if colByName(k.Name) < 0 {
			return semErr(st.name.tok, "sort column %q is not a column of the table", k.Name)
		}
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.table(st.name.table) != nil {
		if st.ifNotExists {
			return nil
		}
		return semErr(st.name.tok, "Table or view already exists - %s.%s", tp.name, st.name.table)
	}
	now := time.Now()
	t := &table{
		id: newID(), name: st.name.table, comment: st.comment, created: now, lastDDL: now,
		lifecycle: st.lifecycle, cols: cols, partKeys: partKeys, versions: []int{len(cols)},
		primaryKey: pk, props: st.props, clusterType: st.clusterType, clusterCols: st.clusterCols,
		sortCols: st.sortCols, buckets: st.buckets,
	}
	if !t.partitioned() {
		t.addPartition(tp, nil)
	}
	tp.tables[strings.ToLower(t.name)] = t
	if err := tp.save(); err != nil {
		delete(tp.tables, strings.ToLower(t.name))
		return fmt.Errorf("ODPS-0010000:System internal error - saving the catalog: %w", err)
	}
	return nil
}

func (s *Server) execAddColumns(p *project, t *table, st *addColumnsStmt) error {
	var added []column
	for _, c := range st.cols {
		if !validName(c.name) {
			return semErr(c.tok, "invalid column name %q", c.name)
		}
		exists := t.colIndex(c.name) >= 0
		for _, k := range t.partKeys {
			if strings.EqualFold(k.name, c.name) {
				exists = true
			}
		}
		for _, a := range added {
			if strings.EqualFold(a.name, c.name) {
				return semErr(c.tok, "duplicate column %q", c.name)
			}
		}
		if exists {
			if st.ifNotExists {
				continue
			}
			return semErr(c.tok, "column %q already exists in table %s.%s", c.name, p.name, t.name)
		}
		added = append(added, column{name: c.name, typ: c.typ, comment: c.comment})
	}
	if len(added) == 0 {
		return nil
	}
	// Copy so slices handed out for older schema versions stay untouched.
	return newSchemaVersion(p, t, append(append([]column(nil), t.cols...), added...))
}

// newSchemaVersion makes cols (a fresh slice) the table's columns as a new
// schema version and saves the catalog, undoing the change if that fails.
func newSchemaVersion(p *project, t *table, cols []column) error {
	oldCols, oldVersions, oldDDL := t.cols, t.versions, t.lastDDL
	t.cols = cols
	t.versions = append(append([]int(nil), t.versions...), len(t.cols))
	t.lastDDL = time.Now()
	if err := p.save(); err != nil {
		t.cols, t.versions, t.lastDDL = oldCols, oldVersions, oldDDL
		return fmt.Errorf("ODPS-0010000:System internal error - saving the catalog: %w", err)
	}
	return nil
}

func (s *Server) specValues(t *table, spec []partSpecKV) ([]string, error) {
	if !t.partitioned() {
		return nil, &sqlError{code: codePartMiss, line: spec[0].tok.line, col: spec[0].tok.col,
			msg: fmt.Sprintf("Invalid partition value - table %s is not partitioned", t.name)}
	}
	values, _, err := t.resolveSpec(spec, true)
	if err != nil {
		return nil, &sqlError{code: codePartMiss, line: spec[0].tok.line, col: spec[0].tok.col, msg: "Invalid partition value - " + err.Error()}
	}
	return values, nil
}

func (s *Server) execAddPartitions(p *project, t *table, st *addPartitionStmt) error {
	var toAdd [][]string
	for _, spec := range st.specs {
		values, err := s.specValues(t, spec)
		if err != nil {
			return err
		}
		dup := false
		for _, v := range toAdd {
			dup = dup || equalStrings(v, values)
		}
		if t.findPartition(values) != nil || dup {
			if st.ifNotExists {
				continue
			}
			return &sqlError{code: codePartExst, line: spec[0].tok.line, col: spec[0].tok.col,
				msg: fmt.Sprintf("Partition already exists - partition %s of table %s.%s", specString(t, values), p.name, t.name)}
		}
		toAdd = append(toAdd, values)
	}
	if len(toAdd) == 0 {
		return nil
	}
	n := len(t.parts)
	for _, v := range toAdd {
		t.addPartition(p, v)
	}
	if err := p.save(); err != nil {
		t.parts = t.parts[:n]
		return fmt.Errorf("ODPS-0010000:System internal error - saving the catalog: %w", err)
	}
	return nil
}

func specString(t *table, values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = t.partKeys[i].name + "='" + v + "'"
	}
	return strings.Join(parts, ",")
}

func (s *Server) execDropPartitions(p *project, t *table, st *dropPartitionStmt) error {
	drop := map[*partition]bool{}
	for _, spec := range st.specs {
		values, err := s.specValues(t, spec)
		if err != nil {
			return err
		}
		pt := t.findPartition(values)
		if pt == nil {
			if st.ifExists {
				continue
			}
			return &sqlError{code: codePartMiss, line: spec[0].tok.line, col: spec[0].tok.col,
				msg: fmt.Sprintf("Partition not found - partition %s of table %s.%s", specString(t, values), p.name, t.name)}
		}
		drop[pt] = true
	}
	if len(drop) == 0 {
		return nil
	}
	old := t.parts
	var kept []*partition
	for _, pt := range t.parts {
		if !drop[pt] {
			kept = append(kept, pt)
		}
	}
	t.parts = kept
	if err := p.save(); err != nil {
		t.parts = old
		return fmt.Errorf("ODPS-0010000:System internal error - saving the catalog: %w", err)
	}
	for pt := range drop {
		for _, sg := range pt.segs {
			s.removeSegment(p, sg.rel)
		}
	}
	return nil
}

func (s *Server) execDropTable(p *project, st *dropTableStmt) error {
	tp, err := s.targetProject(p, st.name)
	if err != nil {
		return err
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	key := strings.ToLower(st.name.table)
	t := tp.tables[key]
	if t == nil {
		if st.ifExists {
			return nil
		}
		return &sqlError{code: codeNotFound, line: st.name.tok.line, col: st.name.tok.col,
			msg: fmt.Sprintf("Table not found - table %s.%s cannot be resolved", tp.name, st.name.table)}
	}
	delete(tp.tables, key)
	if err := tp.save(); err != nil {
		tp.tables[key] = t
		return fmt.Errorf("ODPS-0010000:System internal error - saving the catalog: %w", err)
	}
	for _, pt := range t.parts {
		for _, sg := range pt.segs {
			s.removeSegment(tp, sg.rel)
		}
	}
	_ = os.RemoveAll(filepath.Join(tp.dir, "data", t.id))
	return nil
}

// removeSegment deletes a segment file that the catalog no longer references.
func (s *Server) removeSegment(p *project, rel string) {
	if err := os.Remove(filepath.Join(p.dir, rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("odpsemu: cannot remove an unreferenced segment", "project", p.name, "segment", rel, "err", err)
	}
}

// execChangeColumn widens a column's type in place (a new schema version).
func (s *Server) execChangeColumn(p *project, t *table, st *changeColumnStmt) error {
	i := t.colIndex(st.old)
	if i < 0 {
		return semErr(st.col.tok, "column %q does not exist in table %s.%s", st.old, p.name, t.name)
	}
	if !strings.EqualFold(st.old, st.col.name) {
		return &sqlError{code: codeSemantic, msg: "Semantic analysis exception - the emulator does not rename columns with CHANGE COLUMN"}
	}
	from, to := t.cols[i].typ, st.col.typ
	if !widens(from, to) {
		return semErr(st.col.tok, "cannot change column %q from %s to %s", st.old, from, to)
	}
	if from.String() == to.String() {
		return nil
	}
	cols := append([]column(nil), t.cols...)
	cols[i].typ = to
	return newSchemaVersion(p, t, cols)
}

// widens reports whether values stored as from read the same as to.
func widens(from, to *dataType) bool {
	rank := map[kind]int{kTinyint: 1, kSmallint: 2, kInt: 3, kBigint: 4}
	switch {
	case rank[from.kind] > 0 && rank[to.kind] >= rank[from.kind]:
		return true
	case from.kind == kDecimal && to.kind == kDecimal:
		return to.scale == from.scale && to.precision >= from.precision
	case (from.kind == kVarchar || from.kind == kChar) && to.kind == kString:
		return true
	}
	return from.String() == to.String()
}

// namespaceSetting says how a two-part name a.b reads: project.table
// ("false") or, with the schema model, schema.table.
const namespaceSetting = "odps.namespace.schema"

// stmtName returns the table name a statement refers to.
func stmtName(st any) *qname {
	switch st := st.(type) {
	case *createTableStmt:
		return &st.name
	case *addColumnsStmt:
		return &st.name
	case *addPartitionStmt:
		return &st.name
	case *dropPartitionStmt:
		return &st.name
	case *dropTableStmt:
		return &st.name
	case *changeColumnStmt:
		return &st.name
	}
	return nil
}
