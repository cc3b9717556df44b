package mysql

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// tableSchema is one version of a table's schema as the schema history
// keeps it (JSON in the state store). It is built from CREATE TABLE
// (binlog DDL or SHOW CREATE TABLE) and changed by later DDL; the
// event.Table the events carry is derived from it.
type tableSchema struct {
	DB        string                   `json:"db"`
	Name      string                   `json:"name"`
	Charset   string                   `json:"charset,omitempty"`
	Collation string                   `json:"collation,omitempty"`
	Columns   []colSchema              `json:"columns"`
	Primary   []string                 `json:"primary,omitempty"`
	Uniques   []mysqldialect.UniqueKey `json:"uniques,omitempty"`
	// Source says where this version came from (ddl, show-create, table-map).
	Source string `json:"source,omitempty"`
}

type colSchema struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Args      []string `json:"args,omitempty"`
	Elems     []string `json:"elems,omitempty"`
	Unsigned  bool     `json:"unsigned,omitempty"`
	Nullable  bool     `json:"nullable,omitempty"`
	Charset   string   `json:"charset,omitempty"`
	Collation string   `json:"collation,omitempty"`
}

func (t *tableSchema) id() event.TableID { return event.TableID{DB: t.DB, Table: t.Name} }

func (t *tableSchema) clone() *tableSchema {
	c := *t
	c.Columns = slices.Clone(t.Columns)
	c.Primary = slices.Clone(t.Primary)
	c.Uniques = slices.Clone(t.Uniques)
	for i := range c.Uniques {
		c.Uniques[i].Columns = slices.Clone(c.Uniques[i].Columns)
	}
	return &c
}

func (t *tableSchema) column(name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// textType reports whether a type holds text in a character set.
func textType(tp string) bool {
	switch tp {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		return true
	}
	return false
}

func charsetOfCollation(coll string) string {
	if coll == "" {
		return ""
	}
	if coll == "binary" {
		return "binary"
	}
	if i := strings.IndexByte(coll, '_'); i > 0 {
		return coll[:i]
	}
	return coll
}

// resolveColumn turns a parsed column definition into a history column,
// resolving its character set against the table default.
func resolveColumn(c mysqldialect.ColumnDef, tableCharset string) colSchema {
	cs := colSchema{Name: c.Name, Type: c.Type, Args: c.Args, Elems: c.Elems, Unsigned: c.Unsigned, Nullable: c.Nullable && !c.Primary}
	cs.Charset = c.Charset
	if cs.Charset == "" {
		cs.Charset = charsetOfCollation(c.Collation)
	}
	cs.Collation = c.Collation
	if c.JSONCheck && (cs.Type == "longtext" || cs.Type == "text" || cs.Type == "mediumtext") {
		cs.Type = "json" // MariaDB's JSON: LONGTEXT with a json_valid check
	}
	switch cs.Type {
	case "json":
		cs.Charset, cs.Collation = "utf8mb4", ""
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		cs.Charset, cs.Collation = "binary", ""
	default:
		if !textType(cs.Type) {
			cs.Charset, cs.Collation = "", ""
			break
		}
		if cs.Charset == "" {
			cs.Charset = tableCharset
		}
		if cs.Charset == "binary" {
			// CHAR(n) CHARACTER SET binary is BINARY(n), and so on.
			switch cs.Type {
			case "char":
				cs.Type = "binary"
			case "varchar":
				cs.Type = "varbinary"
			case "tinytext":
				cs.Type = "tinyblob"
			case "text":
				cs.Type = "blob"
			case "mediumtext":
				cs.Type = "mediumblob"
			case "longtext":
				cs.Type = "longblob"
			}
			cs.Collation = ""
		} else if c.BinaryAttr && cs.Collation == "" {
			cs.Collation = cs.Charset + "_bin"
		}
	}
	if cs.Type == "text" && len(cs.Args) == 1 {
		// TEXT(n) picks the smallest TEXT type that holds n characters.
		cs.Type, cs.Args = sizedText("text", cs.Args[0], cs.Charset), nil
	}
	if cs.Type == "blob" && len(cs.Args) == 1 {
		cs.Type, cs.Args = sizedText("blob", cs.Args[0], "binary"), nil
	}
	return cs
}

func sizedText(kind, arg, charset string) string {
	n, _ := strconv.ParseUint(arg, 10, 64)
	n *= uint64(maxBytesPerChar(charset))
	prefix := "long"
	switch {
	case n < 256:
		prefix = "tiny"
	case n < 65536:
		prefix = ""
	case n < 1<<24:
		prefix = "medium"
	}
	return prefix + kind
}

func maxBytesPerChar(cs string) int {
	switch cs {
	case "utf8mb4", "utf16", "utf16le", "utf32", "gb18030":
		return 4
	case "utf8", "utf8mb3", "ujis", "eucjpms":
		return 3
	case "gbk", "gb2312", "big5", "sjis", "cp932", "euckr", "ucs2":
		return 2
	}
	return 1
}

// newTableSchema builds a schema from a CREATE TABLE body.
func newTableSchema(name mysqldialect.TableName, def *mysqldialect.TableDef, dbCharset string) (*tableSchema, error) {
	t := &tableSchema{DB: name.DB, Name: name.Name, Charset: def.Charset, Collation: def.Collation}
	if t.Charset == "" {
		t.Charset = charsetOfCollation(def.Collation)
	}
	if t.Charset == "" {
		t.Charset = dbCharset
	}
	if t.Charset == "" {
		t.Charset = "utf8mb4"
	}
	checks := map[string]bool{}
	for _, c := range def.Checks {
		checks[strings.ToLower(c)] = true
	}
	for _, c := range def.Columns {
		if checks[strings.ToLower(c.Name)] {
			c.JSONCheck = true
		}
		if t.column(c.Name) >= 0 {
			return nil, fmt.Errorf("column %s defined twice", c.Name)
		}
		t.Columns = append(t.Columns, resolveColumn(c, t.Charset))
		if c.Primary {
			t.Primary = []string{c.Name}
		}
		if c.Unique {
			t.Uniques = append(t.Uniques, mysqldialect.UniqueKey{Name: c.Name, Columns: []string{c.Name}})
		}
	}
	if len(def.Primary) > 0 {
		t.Primary = def.Primary
	}
	t.Uniques = append(t.Uniques, def.Uniques...)
	if err := t.checkKeys(); err != nil {
		return nil, err
	}
	for _, k := range t.Primary {
		t.Columns[t.column(k)].Nullable = false
	}
	if len(t.Columns) == 0 && !def.FromSelect {
		return nil, fmt.Errorf("no columns")
	}
	return t, nil
}

func (t *tableSchema) checkKeys() error {
	for _, k := range t.Primary {
		if t.column(k) < 0 {
			return fmt.Errorf("primary key column %s does not exist", k)
		}
	}
	for _, u := range t.Uniques {
		for _, k := range u.Columns {
			if t.column(k) < 0 {
				return fmt.Errorf("unique key %s column %s does not exist", u.Name, k)
			}
		}
	}
	return nil
}

// alter applies ALTER TABLE operations and returns the new schema. The
// receiver is not modified.
func (t *tableSchema) alter(specs []mysqldialect.AlterSpec) (*tableSchema, error) {
	n := t.clone()
	for _, s := range specs {
		if err := n.apply(s); err != nil {
			return nil, err
		}
	}
	if err := n.checkKeys(); err != nil {
		return nil, err
	}
	return n, nil
}

func (t *tableSchema) place(c colSchema, first bool, after string) error {
	switch {
	case first:
		t.Columns = slices.Insert(t.Columns, 0, c)
	case after != "":
		i := t.column(after)
		if i < 0 {
			return fmt.Errorf("AFTER %s: no such column", after)
		}
		t.Columns = slices.Insert(t.Columns, i+1, c)
	default:
		t.Columns = append(t.Columns, c)
	}
	return nil
}

func (t *tableSchema) renameKeyColumn(old, new string) {
	for i, k := range t.Primary {
		if strings.EqualFold(k, old) {
			t.Primary[i] = new
		}
	}
	for _, u := range t.Uniques {
		for i, k := range u.Columns {
			if strings.EqualFold(k, old) {
				u.Columns[i] = new
			}
		}
	}
}

func (t *tableSchema) dropKeyColumn(name string) {
	t.Primary = slices.DeleteFunc(t.Primary, func(k string) bool { return strings.EqualFold(k, name) })
	out := t.Uniques[:0]
	for _, u := range t.Uniques {
		u.Columns = slices.DeleteFunc(u.Columns, func(k string) bool { return strings.EqualFold(k, name) })
		if len(u.Columns) > 0 {
			out = append(out, u)
		}
	}
	t.Uniques = out
}

func (t *tableSchema) apply(s mysqldialect.AlterSpec) error {
	switch s.Op {
	case mysqldialect.AlterAddColumn:
		cols := s.Multi
		if cols == nil {
			cols = []mysqldialect.ColumnDef{s.Col}
		}
		for k, c := range cols {
			if t.column(c.Name) >= 0 {
				if s.IfExists {
					continue
				}
				return fmt.Errorf("ADD COLUMN %s: the column exists", c.Name)
			}
			first, after := s.First, s.After
			if k > 0 {
				first, after = false, ""
			}
			if err := t.place(resolveColumn(c, t.Charset), first, after); err != nil {
				return err
			}
			if c.Primary {
				t.Primary = []string{c.Name}
			}
			if c.Unique {
				t.Uniques = append(t.Uniques, mysqldialect.UniqueKey{Name: c.Name, Columns: []string{c.Name}})
			}
		}
	case mysqldialect.AlterDropColumn:
		i := t.column(s.Name)
		if i < 0 {
			if s.IfExists {
				return nil
			}
			return fmt.Errorf("DROP COLUMN %s: no such column", s.Name)
		}
		t.Columns = slices.Delete(t.Columns, i, i+1)
		t.dropKeyColumn(s.Name)
	case mysqldialect.AlterModifyColumn, mysqldialect.AlterChangeColumn:
		i := t.column(s.Name)
		if i < 0 {
			if s.IfExists {
				return nil
			}
			return fmt.Errorf("%s: no such column", s.Name)
		}
		if s.Op == mysqldialect.AlterChangeColumn && !strings.EqualFold(s.Name, s.Col.Name) && t.column(s.Col.Name) >= 0 {
			return fmt.Errorf("CHANGE %s %s: the column exists", s.Name, s.Col.Name)
		}
		c := resolveColumn(s.Col, t.Charset)
		if s.First || s.After != "" {
			t.Columns = slices.Delete(t.Columns, i, i+1)
			if err := t.place(c, s.First, s.After); err != nil {
				return err
			}
		} else {
			t.Columns[i] = c
		}
		t.renameKeyColumn(s.Name, s.Col.Name)
		if s.Col.Primary {
			t.Primary = []string{s.Col.Name}
		}
		if s.Col.Unique {
			t.Uniques = append(t.Uniques, mysqldialect.UniqueKey{Name: s.Col.Name, Columns: []string{s.Col.Name}})
		}
	case mysqldialect.AlterRenameColumn:
		i := t.column(s.Name)
		if i < 0 {
			return fmt.Errorf("RENAME COLUMN %s: no such column", s.Name)
		}
		if j := t.column(s.NewName); j >= 0 && j != i {
			return fmt.Errorf("RENAME COLUMN %s TO %s: the column exists", s.Name, s.NewName)
		}
		t.Columns[i].Name = s.NewName
		t.renameKeyColumn(s.Name, s.NewName)
	case mysqldialect.AlterAddPrimary:
		t.Primary = slices.Clone(s.Columns)
		for _, k := range t.Primary {
			if i := t.column(k); i >= 0 {
				t.Columns[i].Nullable = false
			}
		}
	case mysqldialect.AlterDropPrimary:
		t.Primary = nil
	case mysqldialect.AlterAddUnique:
		t.Uniques = append(t.Uniques, mysqldialect.UniqueKey{Name: s.Name, Columns: slices.Clone(s.Columns)})
	case mysqldialect.AlterDropIndex:
		if strings.EqualFold(s.Name, "PRIMARY") {
			t.Primary = nil
			return nil
		}
		t.Uniques = slices.DeleteFunc(t.Uniques, func(u mysqldialect.UniqueKey) bool { return strings.EqualFold(u.Name, s.Name) })
	case mysqldialect.AlterRenameIndex:
		for i := range t.Uniques {
			if strings.EqualFold(t.Uniques[i].Name, s.Name) {
				t.Uniques[i].Name = s.NewName
			}
		}
	case mysqldialect.AlterConvertCharset:
		cs := s.Charset
		if cs == "default" {
			cs = t.Charset
		}
		for i := range t.Columns {
			c := &t.Columns[i]
			if textType(c.Type) && c.Charset != "binary" {
				c.Charset, c.Collation = cs, s.Collation
			}
		}
		t.Charset, t.Collation = cs, s.Collation
	case mysqldialect.AlterDefaultCharset:
		if s.Charset != "" {
			t.Charset = s.Charset
		} else if cs := charsetOfCollation(s.Collation); cs != "" {
			t.Charset = cs
		}
		t.Collation = s.Collation
	case mysqldialect.AlterAddJSONCheck:
		if i := t.column(s.Name); i >= 0 {
			switch t.Columns[i].Type {
			case "longtext", "mediumtext", "text":
				t.Columns[i].Type, t.Columns[i].Charset, t.Columns[i].Collation = "json", "utf8mb4", ""
			}
		}
	}
	return nil
}

// key returns the column indexes of the primary key, or else of the first
// unique key whose columns are all NOT NULL; nil when there is neither.
func (t *tableSchema) key() []int {
	idx := func(cols []string) []int {
		var out []int
		for _, k := range cols {
			i := t.column(k)
			if i < 0 {
				return nil
			}
			out = append(out, i)
		}
		return out
	}
	if len(t.Primary) > 0 {
		return idx(t.Primary)
	}
	for _, u := range t.Uniques {
		ok := len(u.Columns) > 0
		for _, k := range u.Columns {
			if i := t.column(k); i < 0 || t.Columns[i].Nullable {
				ok = false
			}
		}
		if ok {
			return idx(u.Columns)
		}
	}
	return nil
}

func argInt(args []string, i, def int) int {
	if i < len(args) {
		if n, err := strconv.Atoi(args[i]); err == nil {
			return n
		}
	}
	return def
}

// eventColumn derives the event.Column of a history column.
func (c *colSchema) eventColumn() event.Column {
	ec := event.Column{Name: c.Name, Nullable: c.Nullable, Elems: c.Elems}
	tp, ok := mysqldialect.EventType(c.Type)
	if !ok {
		tp = event.TypeUnknown
	}
	ec.Type = tp
	switch tp {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt, event.TypeDecimal,
		event.TypeFloat, event.TypeDouble:
		ec.Unsigned = c.Unsigned
	}
	switch tp {
	case event.TypeDecimal:
		ec.Precision, ec.Scale = uint8(argInt(c.Args, 0, 10)), uint8(argInt(c.Args, 1, 0))
	case event.TypeBit:
		ec.Length = uint32(argInt(c.Args, 0, 1))
	case event.TypeChar, event.TypeBinary:
		ec.Length = uint32(argInt(c.Args, 0, 1))
	case event.TypeVarchar, event.TypeVarbinary:
		ec.Length = uint32(argInt(c.Args, 0, 0))
	case event.TypeText, event.TypeBlob:
		ec.Length = mysqldialect.TextLength(c.Type)
	case event.TypeDateTime, event.TypeTimestamp, event.TypeTime:
		ec.Scale = uint8(argInt(c.Args, 0, 0))
	}
	if k := fbtOf(c.Type); k != fbtNone {
		ec.Length, ec.Charset = k.textLength(), "ascii"
	} else if textType(c.Type) || tp == event.TypeJSON {
		ec.Charset = c.Charset
	} else if tp == event.TypeBinary || tp == event.TypeVarbinary || tp == event.TypeBlob {
		ec.Charset = "binary"
	}
	ec.RawType = c.rawType()
	return ec
}

// rawType renders the column type as SHOW CREATE TABLE spells it (lower case).
func (c *colSchema) rawType() string {
	var b strings.Builder
	b.WriteString(c.Type)
	if len(c.Elems) > 0 {
		b.WriteByte('(')
		for i, e := range c.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(e, "'", "''"))
			b.WriteByte('\'')
		}
		b.WriteByte(')')
	} else if len(c.Args) > 0 {
		b.WriteByte('(')
		b.WriteString(strings.Join(c.Args, ","))
		b.WriteByte(')')
	}
	if c.Unsigned {
		b.WriteString(" unsigned")
	}
	return b.String()
}

// eventTable derives the sealed event.Table.
func (t *tableSchema) eventTable() *event.Table {
	et := &event.Table{ID: t.id(), Columns: make([]event.Column, len(t.Columns)), Key: t.key()}
	for i := range t.Columns {
		et.Columns[i] = t.Columns[i].eventColumn()
	}
	return et.Seal()
}
