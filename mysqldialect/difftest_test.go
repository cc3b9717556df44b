package mysqldialect

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	tidb "github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	tmysql "github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions of DEFAULT, CHECK ...
	"github.com/pingcap/tidb/pkg/parser/types"
)

// TestDDLCorpus is a differential test of ParseDDL against the TiDB SQL
// parser over real-world DDL (testdata/corpus: the MySQL reference manual,
// gh-ost and pt-online-schema-change, Rails, Django, Laravel and Prisma
// migrations, MariaDB-only syntax). Each statement's expected output is our
// parser's summary (kind, tables, columns with their types, keys, renames,
// ALTER operations); unless the directive says otherwise, the summary built
// from TiDB's AST must be the same:
//
//	parse                  TiDB parses it and agrees
//	parse tidb=rejects     TiDB cannot parse it (MariaDB-only syntax)
//	parse tidb=differs     TiDB parses it differently; the comment above says why
//
// Rewrite the expected outputs with -rewrite after reviewing a change.
func TestDDLCorpus(t *testing.T) {
	p := tidb.New()
	datadriven.Walk(t, "testdata/corpus", func(t *testing.T, path string) {
		// Disagreements are reported after the file so that one does not
		// hide the next (datadriven stops at a failed case).
		var problems []string
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, problem := corpusCase(t, p, d)
			if problem != "" {
				problems = append(problems, problem)
			}
			return out
		})
		for _, pr := range problems {
			t.Error(pr)
		}
	})
}

func corpusCase(t *testing.T, p *tidb.Parser, d *datadriven.TestData) (string, string) {
	{
		if d.Cmd != "parse" {
			d.Fatalf(t, "unknown command %s", d.Cmd)
		}
		sql := strings.TrimSpace(d.Input)
		ours := summarize(ParseDDL("db", sql))
		mode := ""
		if d.HasArg("tidb") {
			d.ScanArgs(t, "tidb", &mode)
		}
		theirs, err := tidbSummary(p, sql)
		var problem string
		switch mode {
		case "":
			if err != nil {
				problem = fmt.Sprintf("%s: TiDB rejects\n%s\n(%v); mark it tidb=rejects if it is MariaDB-only", d.Pos, sql, err)
			} else if theirs != ours {
				problem = fmt.Sprintf("%s: our parser and TiDB's disagree on\n%s\nours:\n%s\ntidb:\n%s", d.Pos, sql, ours, theirs)
			}
		case "rejects":
			if err == nil {
				problem = fmt.Sprintf("%s: TiDB now parses\n%s\nas\n%s\n(drop tidb=rejects if it agrees)", d.Pos, sql, theirs)
			}
		case "differs":
			if err != nil {
				problem = fmt.Sprintf("%s: TiDB rejects\n%s\n(%v)", d.Pos, sql, err)
			} else if theirs == ours {
				problem = fmt.Sprintf("%s: TiDB now agrees on\n%s\n(drop tidb=differs)", d.Pos, sql)
			}
		default:
			d.Fatalf(t, "tidb=%s: want rejects or differs", mode)
		}
		return ours, problem
	}
}

// summarize renders what the capture uses of a statement, one fact a line.
func summarize(st DDL) string {
	var b strings.Builder
	kinds := map[DDLKind]string{DDLNone: "none", DDLCreateTable: "create", DDLCreateLike: "create-like",
		DDLAlterTable: "alter", DDLRename: "rename", DDLDrop: "drop", DDLTruncate: "truncate",
		DDLCreateIndex: "create-index", DDLDropIndex: "drop-index", DDLCreateDatabase: "create-database",
		DDLAlterDatabase: "alter-database", DDLDropDatabase: "drop-database", DDLUnparsed: "unparsed"}
	b.WriteString(kinds[st.Kind])
	switch st.Kind {
	case DDLRename:
		for _, r := range st.Renames {
			fmt.Fprintf(&b, " %s>%s", r[0], r[1])
		}
	case DDLCreateDatabase, DDLAlterDatabase, DDLDropDatabase:
		b.WriteString(" " + st.Database)
	default:
		for _, t := range st.Tables {
			b.WriteString(" " + t.String())
		}
	}
	switch st.Kind {
	case DDLCreateLike:
		b.WriteString(" like " + st.Like.String())
	case DDLCreateIndex:
		fmt.Fprintf(&b, "\nindex %s(%s)", st.Index, strings.Join(st.IndexCol, ","))
		if st.Unique {
			b.WriteString(" unique")
		}
	case DDLDropIndex:
		fmt.Fprintf(&b, "\nindex %s", st.Index)
	case DDLUnparsed:
		fmt.Fprintf(&b, "\nerror %v", st.Err)
	}
	if st.Create != nil {
		for _, c := range st.Create.Columns {
			b.WriteString("\ncolumn " + columnSummary(c))
		}
		if len(st.Create.Primary) > 0 {
			b.WriteString("\nprimary (" + strings.Join(st.Create.Primary, ",") + ")")
		}
		for _, u := range st.Create.Uniques {
			b.WriteString("\nunique (" + strings.Join(u.Columns, ",") + ")")
		}
		if st.Create.FromSelect {
			b.WriteString("\nselect")
		}
	}
	for _, s := range st.Specs {
		b.WriteString("\n" + specSummary(s))
	}
	return b.String()
}

func specSummary(s AlterSpec) string {
	switch s.Op {
	case AlterAddColumn:
		cols := s.Multi
		if len(cols) == 0 {
			cols = []ColumnDef{s.Col}
		}
		var parts []string
		for _, c := range cols {
			parts = append(parts, "add "+columnSummary(c)+position(s))
		}
		return strings.Join(parts, "\n")
	case AlterDropColumn:
		return "drop " + s.Name
	case AlterModifyColumn:
		return "modify " + columnSummary(s.Col) + position(s)
	case AlterChangeColumn:
		return "change " + s.Name + " " + columnSummary(s.Col) + position(s)
	case AlterRenameColumn:
		return "rename-column " + s.Name + " " + s.NewName
	case AlterRenameTable:
		return "rename-table " + s.NewTable.String()
	case AlterAddPrimary:
		return "add-primary (" + strings.Join(s.Columns, ",") + ")"
	case AlterDropPrimary:
		return "drop-primary"
	case AlterAddUnique:
		return "add-unique (" + strings.Join(s.Columns, ",") + ")"
	case AlterDropIndex:
		return "drop-index " + s.Name
	case AlterRenameIndex:
		return "rename-index " + s.Name + " " + s.NewName
	case AlterConvertCharset:
		return "convert " + s.Charset + " collate " + s.Collation
	case AlterDefaultCharset:
		return "charset " + s.Charset + " collate " + s.Collation
	case AlterAddJSONCheck:
		return "json-check " + s.Name
	}
	return "other"
}

func position(s AlterSpec) string {
	if s.First {
		return " first"
	}
	if s.After != "" {
		return " after " + s.After
	}
	return ""
}

// columnSummary renders a column: name, canonical type with the arguments
// as written, unsigned, explicit character set, NOT NULL.
func columnSummary(c ColumnDef) string {
	typ := c.Type
	cs := c.Charset
	if cs == "binary" {
		switch typ {
		case "char":
			typ = "binary"
		case "varchar":
			typ = "varbinary"
		case "text", "tinytext", "mediumtext", "longtext":
			typ = strings.TrimSuffix(typ, "text") + "blob"
		}
	}
	switch typ {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
	default:
		cs = "" // only text has a character set
	}
	var b strings.Builder
	b.WriteString(c.Name + " " + typ)
	if len(c.Elems) > 0 {
		b.WriteString("(" + quoteElems(c.Elems) + ")")
	} else if len(c.Args) > 0 {
		b.WriteString("(" + strings.Join(c.Args, ",") + ")")
	}
	if typ == "bit" && len(c.Args) == 0 {
		b.WriteString("(1)") // BIT is BIT(1) (the schema model applies it)
	}
	if c.Unsigned {
		b.WriteString(" unsigned")
	}
	if cs != "" {
		b.WriteString(" charset " + cs)
	}
	if !c.Nullable || c.Primary {
		b.WriteString(" not-null")
	}
	if c.Primary {
		b.WriteString(" primary")
	}
	if c.Unique {
		b.WriteString(" unique")
	}
	return b.String()
}

func quoteElems(es []string) string {
	q := make([]string, len(es))
	for i, e := range es {
		q[i] = "'" + strings.ReplaceAll(e, "'", "''") + "'"
	}
	return strings.Join(q, ",")
}

// tidbSummary parses sql with TiDB's parser and renders the same summary.
func tidbSummary(p *tidb.Parser, sql string) (string, error) {
	stmt, err := p.ParseOneStmt(sql, "", "")
	if err != nil {
		return "", err
	}
	name := func(t *ast.TableName) TableName {
		db := t.Schema.O
		if db == "" {
			db = "db"
		}
		return TableName{DB: db, Name: t.Name.O}
	}
	var st DDL
	switch s := stmt.(type) {
	case *ast.CreateTableStmt:
		st.Tables = []TableName{name(s.Table)}
		if s.ReferTable != nil {
			st.Kind, st.Like = DDLCreateLike, name(s.ReferTable)
			break
		}
		st.Kind = DDLCreateTable
		def := &TableDef{FromSelect: s.Select != nil && len(s.Cols) == 0}
		for _, c := range s.Cols {
			def.Columns = append(def.Columns, tidbColumn(c))
		}
		for _, k := range s.Constraints {
			switch k.Tp {
			case ast.ConstraintPrimaryKey:
				def.Primary = keyNames(k)
			case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
				def.Uniques = append(def.Uniques, UniqueKey{Name: k.Name, Columns: keyNames(k)})
			}
		}
		if s.Select != nil {
			def.FromSelect = true
		}
		st.Create = def
	case *ast.AlterTableStmt:
		st.Kind, st.Tables = DDLAlterTable, []TableName{name(s.Table)}
		for _, sp := range s.Specs {
			st.Specs = append(st.Specs, tidbSpecs(sp, name)...)
		}
	case *ast.RenameTableStmt:
		st.Kind = DDLRename
		for _, tt := range s.TableToTables {
			st.Tables = append(st.Tables, name(tt.OldTable))
			st.Renames = append(st.Renames, [2]TableName{name(tt.OldTable), name(tt.NewTable)})
		}
	case *ast.DropTableStmt:
		if s.IsView {
			st.Kind = DDLNone
			break
		}
		st.Kind = DDLDrop
		for _, t := range s.Tables {
			st.Tables = append(st.Tables, name(t))
		}
	case *ast.TruncateTableStmt:
		st.Kind, st.Tables = DDLTruncate, []TableName{name(s.Table)}
	case *ast.CreateIndexStmt:
		st.Kind, st.Tables, st.Index = DDLCreateIndex, []TableName{name(s.Table)}, s.IndexName
		st.Unique = s.KeyType == ast.IndexKeyTypeUnique
		for _, k := range s.IndexPartSpecifications {
			if k.Column != nil {
				st.IndexCol = append(st.IndexCol, k.Column.Name.O)
			}
		}
	case *ast.DropIndexStmt:
		st.Kind, st.Tables, st.Index = DDLDropIndex, []TableName{name(s.Table)}, s.IndexName
	case *ast.CreateDatabaseStmt:
		st.Kind, st.Database = DDLCreateDatabase, s.Name.O
	case *ast.AlterDatabaseStmt:
		st.Kind, st.Database = DDLAlterDatabase, s.Name.O
	case *ast.DropDatabaseStmt:
		st.Kind, st.Database = DDLDropDatabase, s.Name.O
	default:
		st.Kind = DDLNone
	}
	return summarize(st), nil
}

func keyNames(k *ast.Constraint) []string {
	var out []string
	for _, p := range k.Keys {
		if p.Column != nil {
			out = append(out, p.Column.Name.O)
		}
	}
	return out
}

func tidbSpecs(sp *ast.AlterTableSpec, name func(*ast.TableName) TableName) []AlterSpec {
	pos := func(s *AlterSpec) {
		if sp.Position == nil {
			return
		}
		switch sp.Position.Tp {
		case ast.ColumnPositionFirst:
			s.First = true
		case ast.ColumnPositionAfter:
			s.After = sp.Position.RelativeColumn.Name.O
		}
	}
	switch sp.Tp {
	case ast.AlterTableAddColumns:
		s := AlterSpec{Op: AlterAddColumn}
		for _, c := range sp.NewColumns {
			s.Multi = append(s.Multi, tidbColumn(c))
		}
		if len(s.Multi) == 1 {
			s.Col, s.Multi = s.Multi[0], nil
		}
		pos(&s)
		return []AlterSpec{s}
	case ast.AlterTableDropColumn:
		return []AlterSpec{{Op: AlterDropColumn, Name: sp.OldColumnName.Name.O}}
	case ast.AlterTableModifyColumn:
		s := AlterSpec{Op: AlterModifyColumn, Col: tidbColumn(sp.NewColumns[0])}
		pos(&s)
		return []AlterSpec{s}
	case ast.AlterTableChangeColumn:
		s := AlterSpec{Op: AlterChangeColumn, Name: sp.OldColumnName.Name.O, Col: tidbColumn(sp.NewColumns[0])}
		pos(&s)
		return []AlterSpec{s}
	case ast.AlterTableRenameColumn:
		return []AlterSpec{{Op: AlterRenameColumn, Name: sp.OldColumnName.Name.O, NewName: sp.NewColumnName.Name.O}}
	case ast.AlterTableRenameTable:
		return []AlterSpec{{Op: AlterRenameTable, NewTable: name(sp.NewTable)}}
	case ast.AlterTableDropPrimaryKey:
		return []AlterSpec{{Op: AlterDropPrimary}}
	case ast.AlterTableDropIndex:
		return []AlterSpec{{Op: AlterDropIndex, Name: sp.Name}}
	case ast.AlterTableRenameIndex:
		return []AlterSpec{{Op: AlterRenameIndex, Name: sp.FromKey.O, NewName: sp.ToKey.O}}
	case ast.AlterTableAddConstraint:
		switch sp.Constraint.Tp {
		case ast.ConstraintPrimaryKey:
			return []AlterSpec{{Op: AlterAddPrimary, Columns: keyNames(sp.Constraint)}}
		case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
			return []AlterSpec{{Op: AlterAddUnique, Name: sp.Constraint.Name, Columns: keyNames(sp.Constraint)}}
		}
	case ast.AlterTableOption:
		// CHARACTER SET and COLLATE of one spec are one operation.
		s := AlterSpec{Op: AlterOther}
		for _, o := range sp.Options {
			switch o.Tp {
			case ast.TableOptionCharset:
				s.Op, s.Charset = AlterDefaultCharset, strings.ToLower(o.StrValue)
				if o.UintValue == ast.TableOptionCharsetWithConvertTo {
					s.Op = AlterConvertCharset
				}
			case ast.TableOptionCollate:
				if s.Op == AlterOther {
					s.Op = AlterDefaultCharset
				}
				s.Collation = strings.ToLower(o.StrValue)
			}
		}
		if s.Op != AlterOther {
			return []AlterSpec{s}
		}
	}
	return nil // options, indexes, partitions...: not schema changes the capture tracks
}

// tidbColumn converts a TiDB column definition to ours: the canonical type
// name our parser gives, the arguments as written, explicit character set,
// nullability.
func tidbColumn(c *ast.ColumnDef) ColumnDef {
	tp := c.Tp
	out := ColumnDef{Name: c.Name.Name.O, Nullable: true}
	for _, o := range c.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			out.Nullable = false
		case ast.ColumnOptionNull:
			out.Nullable = true
		case ast.ColumnOptionPrimaryKey:
			out.Primary, out.Nullable = true, false
		case ast.ColumnOptionUniqKey:
			out.Unique = true
		}
	}
	out.Type, out.Args = tidbType(tp)
	out.Elems = tp.GetElems()
	out.Unsigned = tmysql.HasUnsignedFlag(tp.GetFlag())
	if cs := tp.GetCharset(); cs != "" && cs != "binary" {
		out.Charset = strings.ToLower(cs)
	} else if cs == "binary" {
		out.Charset = "binary"
	}
	return out
}

func tidbType(tp *types.FieldType) (string, []string) {
	flen, dec := tp.GetFlen(), tp.GetDecimal()
	args := func(ns ...int) []string {
		var out []string
		for _, n := range ns {
			if n == types.UnspecifiedLength {
				break
			}
			out = append(out, fmt.Sprint(n))
		}
		return out
	}
	binary := tp.GetCharset() == "binary"
	switch tp.GetType() {
	case tmysql.TypeTiny:
		return "tinyint", args(flen)
	case tmysql.TypeShort:
		return "smallint", args(flen)
	case tmysql.TypeInt24:
		return "mediumint", args(flen)
	case tmysql.TypeLong:
		return "int", args(flen)
	case tmysql.TypeLonglong:
		return "bigint", args(flen)
	case tmysql.TypeNewDecimal:
		return "decimal", args(flen, dec)
	case tmysql.TypeFloat:
		return "float", args(flen, dec)
	case tmysql.TypeDouble:
		return "double", args(flen, dec)
	case tmysql.TypeBit:
		return "bit", args(flen)
	case tmysql.TypeString:
		if binary {
			return "binary", args(flen)
		}
		return "char", args(flen)
	case tmysql.TypeVarchar, tmysql.TypeVarString:
		if binary {
			return "varbinary", args(flen)
		}
		return "varchar", args(flen)
	case tmysql.TypeTinyBlob:
		if binary {
			return "tinyblob", nil
		}
		return "tinytext", nil
	case tmysql.TypeBlob:
		if binary {
			return "blob", args(flen)
		}
		return "text", args(flen)
	case tmysql.TypeMediumBlob:
		if binary {
			return "mediumblob", nil
		}
		return "mediumtext", nil
	case tmysql.TypeLongBlob:
		if binary {
			return "longblob", nil
		}
		return "longtext", nil
	case tmysql.TypeEnum:
		return "enum", nil
	case tmysql.TypeSet:
		return "set", nil
	case tmysql.TypeDate:
		return "date", nil
	case tmysql.TypeDatetime:
		return "datetime", args(dec)
	case tmysql.TypeTimestamp:
		return "timestamp", args(dec)
	case tmysql.TypeDuration:
		return "time", args(dec)
	case tmysql.TypeYear:
		return "year", args(flen)
	case tmysql.TypeJSON:
		return "json", nil
	case tmysql.TypeGeometry:
		return "geometry", nil
	case tmysql.TypeTiDBVectorFloat32:
		return "vector", args(flen)
	}
	return fmt.Sprintf("type%d", tp.GetType()), nil
}
