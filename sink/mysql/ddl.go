package mysql

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// target is a target table as the sink last reconciled it.
type target struct {
	db, name string
	// version is the source table version it was reconciled with.
	version uint64
	// cols holds the target's column names, lower-cased.
	cols map[string]bool
}

func (t *target) String() string { return t.db + "." + t.name }

// tcol is a column of an existing target table.
type tcol struct {
	name, typ  string
	nullable   bool
	hasDefault bool
}

// targetName is where a source table's rows go.
func (s *Sink) targetName(id event.TableID) (db, name string) {
	if s.cfg.Database != "" {
		return s.cfg.Database, id.Table
	}
	return id.DB, id.Table
}

func (s *Sink) needsSchema(e *event.Event) bool {
	t := s.tables[e.Source]
	return t == nil || t.version != e.Table.Version
}

func (s *Sink) mode(id event.TableID) schema.Mode {
	if s.mapper == nil {
		return schema.ModeLenient
	}
	return s.mapper.Evolution(id)
}

// describe returns the columns of a target table, nil when it does not exist.
func (s *Sink) describe(ctx context.Context, db, name string) ([]tcol, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "+
		"COALESCE(COLUMN_DEFAULT IS NOT NULL AND COLUMN_DEFAULT <> 'NULL', 0) FROM information_schema.COLUMNS "+
		"WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", db, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tcol
	for rows.Next() {
		var c tcol
		var nullable string
		var def int
		if err := rows.Scan(&c.name, &c.typ, &nullable, &def); err != nil {
			return nil, err
		}
		c.nullable, c.hasDefault = nullable == "YES", def != 0
		out = append(out, c)
	}
	return out, rows.Err()
}

// applySchema brings the target of e's table in line with e.Table (the
// schema after a DDL event, or the schema of a row event seen for the
// first time) under the table's evolution mode.
func (s *Sink) applySchema(ctx context.Context, e *event.Event) error {
	db, name := s.targetName(e.Source)
	mode := s.mode(e.Source)
	full := quoteID(db) + "." + quoteID(name)
	cur, err := s.describe(ctx, db, name)
	if err != nil {
		return err
	}
	exec := func(q string) error {
		s.lg.Info("applying schema change", "table", db+"."+name, "statement", q, "source_ddl", e.DDL)
		_, err := s.db.ExecContext(ctx, q)
		return err
	}
	if e.Op == event.OpDDL {
		if e.Table == nil { // the source table was dropped (or renamed away)
			delete(s.tables, e.Source)
			if to, ok := renamedTo(e.DDL, e.Source); ok {
				if mode != schema.ModeLenient && mode != schema.ModeEvolve || cur == nil {
					return nil
				}
				// Move the rows with the table.
				ndb, nname := s.targetName(to)
				if next, err := s.describe(ctx, ndb, nname); err != nil || next != nil {
					return err // the new name exists already: a replay
				}
				if err := exec("CREATE DATABASE IF NOT EXISTS " + quoteID(ndb)); err != nil {
					return err
				}
				return exec("RENAME TABLE " + full + " TO " + quoteID(ndb) + "." + quoteID(nname))
			}
			if mode == schema.ModeEvolve && cur != nil {
				return exec("DROP TABLE IF EXISTS " + full)
			}
			return nil
		}
		if mode == schema.ModeEvolve && cur != nil && truncateRE.MatchString(e.DDL) {
			if err := exec("TRUNCATE TABLE " + full); err != nil {
				return err
			}
		}
	}
	t := e.Table
	if cur == nil {
		if err := exec("CREATE DATABASE IF NOT EXISTS " + quoteID(db)); err != nil {
			return err
		}
		if err := exec(createTable(full, t)); err != nil {
			return err
		}
	} else {
		stmts, err := alterations(full, cur, t, mode, e)
		if err != nil {
			return err
		}
		for _, q := range stmts {
			if err := exec(q); err != nil {
				return err
			}
		}
	}
	if err := s.checkKey(ctx, db, name, t, mode, exec); err != nil {
		return err
	}
	if cur, err = s.describe(ctx, db, name); err != nil {
		return err
	}
	tg := &target{db: db, name: name, version: t.Version, cols: map[string]bool{}}
	for _, c := range cur {
		tg.cols[strings.ToLower(c.name)] = true
	}
	s.tables[e.Source] = tg
	return nil
}

var (
	truncateRE    = regexp.MustCompile(`(?is)^\s*(/\*.*?\*/\s*)*TRUNCATE\b`)
	renameRE      = regexp.MustCompile("(?i)\\bRENAME\\s+COLUMN\\s+(`(?:[^`]|``)+`|\\S+)\\s+TO\\s+(`(?:[^`]|``)+`|[^\\s,;]+)")
	changeRE      = regexp.MustCompile("(?i)\\bCHANGE\\s+(?:COLUMN\\s+)?(?:IF\\s+EXISTS\\s+)?(`(?:[^`]|``)+`|\\S+)\\s+(`(?:[^`]|``)+`|\\S+)")
	addRE         = regexp.MustCompile("(?i)\\bADD\\s+(?:COLUMN\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(`(?:[^`]|``)+`|\\S+)\\s+")
	needsLengthRE = regexp.MustCompile(`(?i)^\s*(var)?(char|binary)\s*$`)
	positionRE    = regexp.MustCompile(`(?i)\s+(FIRST|AFTER\s+\S+)\s*$`)
	// charsetTypeRE: the types that take CHARACTER SET (not UUID, INET...).
	charsetTypeRE = regexp.MustCompile(`^(char|varchar|tinytext|text|mediumtext|longtext|enum|set)\b`)
	displayRE     = regexp.MustCompile(`^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)`)
)

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}

var (
	renameTableRE = regexp.MustCompile("(?is)^\\s*RENAME\\s+TABLES?\\s+(.*)$")
	alterRenameRE = regexp.MustCompile("(?is)^\\s*ALTER\\s+(?:ONLINE\\s+|IGNORE\\s+)*TABLE\\s+(" + identRE + ")\\s.*?\\bRENAME\\s+(?:TO\\s+|AS\\s+)?(" + identRE + ")")
	pairRE        = regexp.MustCompile("(?is)(" + identRE + ")\\s+TO\\s+(" + identRE + ")")
)

// identRE is a possibly qualified, possibly quoted table name.
const identRE = "(?:`(?:[^`]|``)+`|[^\\s`.,;]+)(?:\\s*\\.\\s*(?:`(?:[^`]|``)+`|[^\\s`.,;]+))?"

// renamedTo returns the new name of table id in a RENAME TABLE or ALTER
// TABLE ... RENAME statement.
func renamedTo(ddl string, id event.TableID) (event.TableID, bool) {
	var pairs [][2]string
	if m := renameTableRE.FindStringSubmatch(ddl); m != nil {
		for _, p := range pairRE.FindAllStringSubmatch(m[1], -1) {
			pairs = append(pairs, [2]string{p[1], p[2]})
		}
	} else if m := alterRenameRE.FindStringSubmatch(ddl); m != nil {
		pairs = append(pairs, [2]string{m[1], m[2]})
	}
	split := func(s string) event.TableID {
		var parts []string
		for _, p := range regexp.MustCompile("`(?:[^`]|``)+`|[^\\s`.]+").FindAllString(s, -1) {
			parts = append(parts, unquote(p))
		}
		if len(parts) == 2 {
			return event.TableID{DB: parts[0], Table: parts[1]}
		}
		return event.TableID{DB: id.DB, Table: parts[0]}
	}
	for _, p := range pairs {
		if from := split(p[0]); strings.EqualFold(from.DB, id.DB) && strings.EqualFold(from.Table, id.Table) {
			return split(p[1]), true
		}
	}
	return event.TableID{}, false
}

// renames returns the column renames a DDL statement names (old -> new,
// lower-cased keys).
func renames(ddl string) map[string]string {
	out := map[string]string{}
	for _, re := range []*regexp.Regexp{renameRE, changeRE} {
		for _, m := range re.FindAllStringSubmatch(ddl, -1) {
			o, n := unquote(m[1]), unquote(m[2])
			if !strings.EqualFold(o, n) {
				out[strings.ToLower(o)] = n
			}
		}
	}
	return out
}

// addedDefinition returns the column definition an ALTER TABLE ... ADD
// gives col (so a DEFAULT backfills existing rows as it did in the
// source), "" when the statement does not say.
func addedDefinition(ddl, col string) string {
	for _, loc := range addRE.FindAllStringSubmatchIndex(ddl, -1) {
		if !strings.EqualFold(unquote(ddl[loc[2]:loc[3]]), col) {
			continue
		}
		rest := ddl[loc[1]:]
		end := len(rest)
		depth, quote := 0, byte(0)
	scan:
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			switch {
			case quote != 0:
				if c == '\\' {
					i++
				} else if c == quote {
					quote = 0
				}
			case c == '\'' || c == '"' || c == '`':
				quote = c
			case c == '(':
				depth++
			case c == ')':
				if depth == 0 {
					end = i
					break scan
				}
				depth--
			case (c == ',' || c == ';') && depth == 0:
				end = i
				break scan
			}
		}
		def := strings.TrimSpace(rest[:end])
		def = positionRE.ReplaceAllString(def, "")
		return def
	}
	return ""
}

// columnDef is a column's definition from the source schema.
func columnDef(c *event.Column, forceNull bool) string {
	typ := c.RawType
	if typ == "" || needsLengthRE.MatchString(typ) {
		// No type text, or one without the length MySQL requires (a
		// codec that sends "varchar"): spell it from the type family.
		typ = fallbackType(c)
	}
	switch c.Type {
	case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeEnum, event.TypeSet:
		lt := strings.ToLower(typ)
		if c.Charset != "" && c.Charset != "binary" && !strings.Contains(lt, "character set") && charsetTypeRE.MatchString(lt) {
			typ += " CHARACTER SET " + c.Charset
		}
	}
	if c.Nullable || forceNull {
		return quoteID(c.Name) + " " + typ + " NULL"
	}
	return quoteID(c.Name) + " " + typ + " NOT NULL"
}

// fallbackType spells a column type for sources that do not send its text.
func fallbackType(c *event.Column) string {
	u := ""
	if c.Unsigned {
		u = " unsigned"
	}
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		return c.Type.String() + u
	case event.TypeDecimal:
		if c.Precision == 0 {
			return "decimal(65,30)" + u
		}
		return fmt.Sprintf("decimal(%d,%d)%s", c.Precision, c.Scale, u)
	case event.TypeFloat, event.TypeDouble, event.TypeYear, event.TypeDate, event.TypeJSON, event.TypeGeometry:
		return c.Type.String()
	case event.TypeBit:
		return fmt.Sprintf("bit(%d)", max(c.Length, 1))
	case event.TypeChar, event.TypeBinary:
		return fmt.Sprintf("%s(%d)", c.Type, max(c.Length, 1))
	case event.TypeVarchar, event.TypeVarbinary:
		if c.Length == 0 {
			// Unknown length: room for any value (a key column is
			// given a length by keyList's prefix rule instead).
			if c.Type == event.TypeVarchar {
				return "longtext"
			}
			return "longblob"
		}
		return fmt.Sprintf("%s(%d)", c.Type, c.Length)
	case event.TypeText:
		return "longtext"
	case event.TypeBlob, event.TypeVector, event.TypeUnknown:
		return "longblob"
	case event.TypeEnum, event.TypeSet:
		q := make([]string, len(c.Elems))
		for i, e := range c.Elems {
			q[i] = string(appendString(nil, e))
		}
		return c.Type.String() + "(" + strings.Join(q, ",") + ")"
	case event.TypeDateTime, event.TypeTimestamp, event.TypeTime:
		if c.Scale > 0 {
			return fmt.Sprintf("%s(%d)", c.Type, c.Scale)
		}
		return c.Type.String()
	}
	return "longblob"
}

func createTable(full string, t *event.Table) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + full + " (")
	for i := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(columnDef(&t.Columns[i], false))
	}
	if len(t.Key) > 0 {
		b.WriteString(", PRIMARY KEY (" + keyList(t) + ")")
	}
	b.WriteString(") DEFAULT CHARSET=utf8mb4")
	return b.String()
}

func keyList(t *event.Table) string {
	names := make([]string, len(t.Key))
	for i, k := range t.Key {
		c := &t.Columns[k]
		names[i] = quoteID(c.Name)
		if typ := strings.ToLower(columnDef(c, false)); strings.Contains(typ, " longtext ") || strings.Contains(typ, " longblob ") {
			names[i] += "(255)" // a BLOB/TEXT key needs a prefix length
		}
	}
	return strings.Join(names, ", ")
}

func normType(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return displayRE.ReplaceAllString(s, "$1")
}

// alterations are the statements that bring an existing target (cur) in
// line with t under mode. Types are compared only at a DDL event: a table
// seen again after a restart keeps the types it has.
func alterations(full string, cur []tcol, t *event.Table, mode schema.Mode, e *event.Event) ([]string, error) {
	have := map[string]*tcol{}
	for i := range cur {
		have[strings.ToLower(cur[i].name)] = &cur[i]
	}
	want := map[string]*event.Column{}
	for i := range t.Columns {
		want[strings.ToLower(t.Columns[i].Name)] = &t.Columns[i]
	}
	ddl := e.Op == event.OpDDL
	var parts []alterPart
	var conflicts []string
	if ddl && (mode == schema.ModeLenient || mode == schema.ModeEvolve) {
		rn := renames(e.DDL)
		for _, o := range slices.Sorted(maps.Keys(rn)) {
			n := rn[o]
			nc, hasNew := want[strings.ToLower(n)]
			oc := have[o]
			if oc == nil || !hasNew || want[o] != nil || have[strings.ToLower(n)] != nil {
				continue
			}
			parts = append(parts, alterPart{sql: "CHANGE COLUMN " + quoteID(oc.name) + " " + columnDef(nc, false), defines: n})
			delete(have, o)
			have[strings.ToLower(n)] = &tcol{name: n, typ: nc.RawType, nullable: nc.Nullable}
		}
	}
	prev := ""
	for i := range t.Columns {
		c := &t.Columns[i]
		lc := strings.ToLower(c.Name)
		h := have[lc]
		switch {
		case h == nil:
			switch mode {
			case schema.ModeIgnore:
			case schema.ModeException:
				conflicts = append(conflicts, fmt.Sprintf("column %s is new in the source", c.Name))
			default:
				def := ""
				if ddl {
					if d := addedDefinition(e.DDL, c.Name); d != "" {
						def = quoteID(c.Name) + " " + d
					}
				}
				if def == "" {
					def = columnDef(c, true)
				}
				pos := " FIRST"
				if prev != "" {
					pos = " AFTER " + quoteID(prev)
				}
				parts = append(parts, alterPart{sql: "ADD COLUMN " + def + pos, defines: c.Name, after: prev})
			}
		case ddl && c.RawType != "" && normType(h.typ) != normType(c.RawType):
			switch mode {
			case schema.ModeIgnore:
			case schema.ModeException:
				conflicts = append(conflicts, fmt.Sprintf("column %s: source type %s, target %s", c.Name, c.RawType, h.typ))
			default:
				parts = append(parts, alterPart{sql: "MODIFY COLUMN " + columnDef(c, h.nullable)})
			}
		}
		prev = c.Name
		if h != nil {
			prev = h.name
		}
	}
	for i := range cur { // in the target's column order: the statements are deterministic
		lc := strings.ToLower(cur[i].name)
		h := have[lc]
		if h == nil || want[lc] != nil {
			continue // renamed above, or still wanted
		}
		switch mode {
		case schema.ModeEvolve:
			parts = append(parts, alterPart{sql: "DROP COLUMN " + quoteID(h.name)})
		case schema.ModeException:
			conflicts = append(conflicts, fmt.Sprintf("column %s is not in the source", h.name))
		case schema.ModeLenient:
			if !h.nullable && !h.hasDefault {
				// Kept for its data; rows written from now on leave it NULL.
				parts = append(parts, alterPart{sql: "MODIFY COLUMN " + quoteID(h.name) + " " + h.typ + " NULL"})
			}
		}
	}
	if len(conflicts) > 0 {
		slices.Sort(conflicts)
		return nil, &schemaError{fmt.Sprintf("target %s differs from source %s (evolution mode exception): %s",
			full, t.ID, strings.Join(conflicts, "; "))}
	}
	if len(parts) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(parts, func(a, b alterPart) int { return dropFirst(a.sql) - dropFirst(b.sql) })
	return alterStatements(full, parts), nil
}

// alterPart is one change of an ALTER TABLE: its SQL, the column it adds
// or renames to (defines), and the column it is placed after.
type alterPart struct {
	sql, defines, after string
}

// alterStatements joins parts into as few ALTER TABLE statements as
// possible, in order. A part placed AFTER a column an earlier part of the
// same statement defines starts a new statement: MySQL and MariaDB take
// that in one statement, TiDB's multi-schema change does not ("Unknown
// column").
func alterStatements(full string, parts []alterPart) []string {
	var out, cur []string
	defined := map[string]bool{}
	for _, p := range parts {
		if p.after != "" && defined[strings.ToLower(p.after)] {
			out = append(out, "ALTER TABLE "+full+" "+strings.Join(cur, ", "))
			cur, defined = nil, map[string]bool{}
		}
		cur = append(cur, p.sql)
		if p.defines != "" {
			defined[strings.ToLower(p.defines)] = true
		}
	}
	return append(out, "ALTER TABLE "+full+" "+strings.Join(cur, ", "))
}

func dropFirst(s string) int {
	if strings.HasPrefix(s, "DROP") {
		return 0
	}
	return 1
}

// checkKey makes sure the target has a unique key on exactly the source
// key's columns (REPLACE and DELETE address rows by it).
func (s *Sink) checkKey(ctx context.Context, db, name string, t *event.Table, mode schema.Mode, exec func(string) error) error {
	if len(t.Key) == 0 {
		return nil
	}
	want := make([]string, len(t.Key))
	for i, k := range t.Key {
		want[i] = strings.ToLower(t.Columns[k].Name)
	}
	slices.Sort(want)
	rows, err := s.db.QueryContext(ctx, "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "+
		"WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX", db, name)
	if err != nil {
		return err
	}
	idx := map[string][]string{}
	for rows.Next() {
		var in, cn string
		if err := rows.Scan(&in, &cn); err != nil {
			rows.Close()
			return err
		}
		idx[in] = append(idx[in], strings.ToLower(cn))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, cols := range idx {
		slices.Sort(cols)
		if slices.Equal(cols, want) {
			return nil
		}
	}
	full := quoteID(db) + "." + quoteID(name)
	if mode == schema.ModeLenient || mode == schema.ModeEvolve {
		q := "ALTER TABLE " + full + " ADD PRIMARY KEY (" + keyList(t) + ")"
		if _, ok := idx["PRIMARY"]; ok {
			q = "ALTER TABLE " + full + " DROP PRIMARY KEY, ADD PRIMARY KEY (" + keyList(t) + ")"
		}
		return exec(q)
	}
	return &schemaError{fmt.Sprintf("target %s has no unique key on (%s), the key of source %s", full, strings.Join(want, ", "), t.ID)}
}
