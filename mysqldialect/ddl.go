package mysqldialect

import (
	"fmt"
	"strconv"
	"strings"
)

// This file is a tolerant parser for the DDL statements that change table
// schemas, as they appear in binlog query events and in SHOW CREATE TABLE.
// It understands the structure (columns, types, keys, renames, drops) and
// skips every clause it does not need (indexes, partitions, engine and
// table options, defaults, comments), so unusual options never stop it.

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokQuoted // `identifier`
	tokString // 'string' or "string"
	tokNumber
	tokPunct
)

type token struct {
	kind tokKind
	text string // identifiers as written (unquoted); strings unescaped
}

func (t token) is(kw string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

func (t token) punct(p string) bool { return t.kind == tokPunct && t.text == p }

// lexSQL splits a statement into tokens. Version comments (/*!50100 ... */)
// are treated as their content, other comments are dropped.
func lexSQL(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '-' && i+2 <= len(s) && strings.HasPrefix(s[i:], "--") && (i+2 == len(s) || s[i+2] == ' ' || s[i+2] == '\t' || s[i+2] == '\n' || s[i+2] == '\r'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if i+2 < len(s) && (s[i+2] == '!' || s[i+2] == 'M' && i+3 < len(s) && s[i+3] == '!') {
				// Executable comment: skip the marker and version digits; its
				// closing */ is skipped below.
				i += 3
				if s[i-1] == 'M' {
					i++
				}
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				continue
			}
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment")
			}
			i += end + 4
		case c == '*' && i+1 < len(s) && s[i+1] == '/':
			i += 2 // end of an executable comment
		case c == '`':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated quoted identifier")
				}
				if s[j] == '`' {
					if j+1 < len(s) && s[j+1] == '`' {
						b.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			toks = append(toks, token{tokQuoted, b.String()})
			i = j + 1
		case c == '\'' || c == '"':
			str, n, err := lexString(s[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, str})
			i += n
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] == 'x' || s[j] == 'X' ||
				(s[j] >= 'a' && s[j] <= 'f') || (s[j] >= 'A' && s[j] <= 'F') || ((s[j] == '+' || s[j] == '-') && j > i && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			// An identifier may start with digits (e.g. 1abc).
			if j < len(s) && isIdentByte(s[j]) {
				for j < len(s) && isIdentByte(s[j]) {
					j++
				}
				toks = append(toks, token{tokIdent, s[i:j]})
			} else {
				toks = append(toks, token{tokNumber, s[i:j]})
			}
			i = j
		case isIdentByte(c):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			word := s[i:j]
			// Charset introducers and hex/bit literals: _utf8mb4'x', X'ab', b'01', N'x'.
			if j < len(s) && s[j] == '\'' && (word[0] == '_' || strings.EqualFold(word, "x") || strings.EqualFold(word, "b") || strings.EqualFold(word, "n")) {
				str, n, err := lexString(s[j:])
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{tokString, str})
				i = j + n
				continue
			}
			toks = append(toks, token{tokIdent, word})
			i = j
		default:
			// Multi-character operators are not needed structurally; keep
			// single characters.
			toks = append(toks, token{tokPunct, string(c)})
			i++
		}
	}
	return toks, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// lexString reads a quoted string starting at s[0]; it returns the
// unescaped text and the bytes consumed.
func lexString(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	j := 1
	for {
		if j >= len(s) {
			return "", 0, fmt.Errorf("unterminated string")
		}
		c := s[j]
		if c == '\\' && j+1 < len(s) {
			switch n := s[j+1]; n {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'Z':
				b.WriteByte(26)
			case 'b':
				b.WriteByte('\b')
			default:
				b.WriteByte(n)
			}
			j += 2
			continue
		}
		if c == q {
			if j+1 < len(s) && s[j+1] == q {
				b.WriteByte(q)
				j += 2
				continue
			}
			return b.String(), j + 1, nil
		}
		b.WriteByte(c)
		j++
	}
}

// TableName is a possibly qualified table name.
type TableName struct {
	DB, Name string
}

func (t TableName) String() string { return t.DB + "." + t.Name }

// DDLKind classifies statements.
type DDLKind uint8

const (
	DDLNone DDLKind = iota // not a schema change (DML, GRANT, SET, ...)
	DDLCreateTable
	DDLCreateLike
	DDLAlterTable
	DDLRename
	DDLDrop
	DDLTruncate
	DDLCreateIndex // CREATE [UNIQUE] INDEX name ON t (cols)
	DDLDropIndex   // DROP INDEX name ON t
	DDLCreateDatabase
	DDLAlterDatabase
	DDLDropDatabase
	DDLUnparsed // a schema change of Tables that could not be parsed
)

// ddlStmt is a parsed statement.
type DDL struct {
	Kind DDLKind
	// Tables are the tables the statement changes (for renames: the sources).
	Tables []TableName
	// Create is the new table's definition (ddlCreateTable).
	Create *TableDef
	// Like is the source table of CREATE TABLE ... LIKE.
	Like TableName
	// Specs are the ALTER TABLE operations.
	Specs []AlterSpec
	// Renames pairs old → new names, in order.
	Renames [][2]TableName
	// Index is the key of CREATE/DROP INDEX.
	Index    string
	Unique   bool
	IndexCol []string
	// Database and Charset for database statements.
	Database    string
	Charset     string
	Collation   string
	IfExists    bool
	IfNotExists bool
	Temporary   bool
	// Err explains why a ddlUnparsed statement could not be parsed.
	Err error
}

// TableDef is a parsed CREATE TABLE body.
type TableDef struct {
	Columns   []ColumnDef
	Primary   []string
	Uniques   []UniqueKey
	Checks    []string // columns with a json_valid(col) check
	Charset   string
	Collation string
	// FromSelect: CREATE TABLE ... [AS] SELECT. The select's columns are
	// added to the listed ones, so Columns may be incomplete.
	FromSelect bool
}

type UniqueKey struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

// colDef is a parsed column definition.
type ColumnDef struct {
	Name       string
	Type       string   // lower-case base type name ("varchar", "decimal", "json"...)
	Args       []string // type arguments: lengths, precision, scale
	Elems      []string // ENUM/SET members
	Unsigned   bool
	Nullable   bool
	Primary    bool
	Unique     bool
	Charset    string // explicit CHARACTER SET
	Collation  string // explicit COLLATE
	BinaryAttr bool   // CHAR(n) BINARY: the binary collation of the charset
	JSONCheck  bool   // CHECK (json_valid(col))
	Generated  bool
	Invisible  bool
}

// AlterOp is one ALTER TABLE operation.
type AlterOp uint8

const (
	AlterOther AlterOp = iota
	AlterAddColumn
	AlterDropColumn
	AlterModifyColumn
	AlterChangeColumn
	AlterRenameColumn
	AlterRenameTable
	AlterAddPrimary
	AlterDropPrimary
	AlterAddUnique
	AlterDropIndex
	AlterRenameIndex
	AlterConvertCharset
	AlterDefaultCharset
	AlterAddJSONCheck
)

type AlterSpec struct {
	Op        AlterOp
	Col       ColumnDef
	Name      string // column or index operated on
	NewName   string
	NewTable  TableName
	First     bool
	After     string
	Columns   []string // key columns
	IfExists  bool
	Charset   string
	Collation string
	// Multi holds the columns of ADD (a ..., b ...).
	Multi []ColumnDef
}

// parser walks tokens.
type parser struct {
	toks []token
	i    int
	db   string // default database for unqualified names
}

func (p *parser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{}
}

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return token{}
}

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *parser) eof() bool { return p.i >= len(p.toks) || p.peek().punct(";") }

// accept consumes the keywords if they all follow.
func (p *parser) accept(kws ...string) bool {
	for k, kw := range kws {
		if !p.peekAt(k).is(kw) {
			return false
		}
	}
	p.i += len(kws)
	return true
}

func (p *parser) acceptPunct(s string) bool {
	if p.peek().punct(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectPunct(s string) error {
	if !p.acceptPunct(s) {
		return p.errorf("expected %q", s)
	}
	return nil
}

func (p *parser) errorf(format string, args ...any) error {
	near := ""
	for k := p.i; k < len(p.toks) && k < p.i+4; k++ {
		near += " " + p.toks[k].text
	}
	return fmt.Errorf(format+" near%q", append(args, near)...)
}

// ident reads an identifier (bare or quoted). Reserved words are accepted
// where an identifier is expected.
func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind == tokIdent || t.kind == tokQuoted || t.kind == tokString && p.i > 0 {
		p.i++
		return t.text, nil
	}
	return "", p.errorf("expected a name")
}

func (p *parser) tableName() (TableName, error) {
	a, err := p.ident()
	if err != nil {
		return TableName{}, err
	}
	if p.peek().punct(".") {
		p.i++
		b, err := p.ident()
		if err != nil {
			return TableName{}, err
		}
		return TableName{DB: a, Name: b}, nil
	}
	return TableName{DB: p.db, Name: a}, nil
}

// skipParens skips a balanced (...) group starting at the current "(".
func (p *parser) skipParens() error {
	if !p.acceptPunct("(") {
		return p.errorf("expected (")
	}
	depth := 1
	for depth > 0 {
		if p.i >= len(p.toks) {
			return p.errorf("unbalanced parentheses")
		}
		t := p.next()
		if t.punct("(") {
			depth++
		} else if t.punct(")") {
			depth--
		}
	}
	return nil
}

// skipToItemEnd skips to the next "," or ")" at depth 0 (not consumed).
func (p *parser) skipToItemEnd() {
	depth := 0
	for p.i < len(p.toks) {
		t := p.peek()
		if depth == 0 && (t.punct(",") || t.punct(")") || t.punct(";")) {
			return
		}
		if t.punct("(") {
			depth++
		} else if t.punct(")") {
			depth--
		}
		p.i++
	}
}

// ParseDDL parses one statement. db is the default database of the
// session that ran it. Statements that are not schema changes return
// Kind ddlNone; schema changes that cannot be parsed return ddlUnparsed
// with the affected tables when they can be found.
func ParseDDL(db, sql string) DDL {
	toks, err := lexSQL(sql)
	if err != nil {
		return DDL{Kind: DDLUnparsed, Err: err}
	}
	p := &parser{toks: toks, db: db}
	st, err := p.statement()
	if err != nil {
		st.Kind = DDLUnparsed
		st.Err = err
	}
	return st
}

func (p *parser) statement() (DDL, error) {
	var st DDL
	switch {
	case p.accept("CREATE"):
		p.accept("OR", "REPLACE")
		if p.accept("TEMPORARY") {
			st.Temporary = true
		}
		switch {
		case p.accept("TABLE"):
			ct, err := p.createTable()
			ct.Temporary = st.Temporary
			return ct, err
		case p.accept("DATABASE"), p.accept("SCHEMA"):
			st.Kind = DDLCreateDatabase
			st.IfNotExists = p.accept("IF", "NOT", "EXISTS")
			name, err := p.ident()
			if err != nil {
				return st, err
			}
			st.Database = name
			st.Charset, st.Collation = p.databaseOptions()
			return st, nil
		}
		// CREATE [ONLINE|OFFLINE] [UNIQUE|FULLTEXT|SPATIAL] INDEX name ON t (cols)
		p.accept("ONLINE")
		p.accept("OFFLINE")
		unique := p.accept("UNIQUE")
		p.accept("FULLTEXT")
		p.accept("SPATIAL")
		if p.accept("INDEX") {
			st.Kind = DDLCreateIndex
			st.Unique = unique
			p.accept("IF", "NOT", "EXISTS")
			name, err := p.ident()
			if err != nil {
				return st, err
			}
			st.Index = name
			if p.accept("USING") {
				p.next()
			}
			if !p.accept("ON") {
				return st, p.errorf("expected ON")
			}
			t, err := p.tableName()
			if err != nil {
				return st, err
			}
			st.Tables = []TableName{t}
			st.IndexCol, err = p.keyColumns()
			return st, err
		}
		return DDL{}, nil // CREATE VIEW/USER/FUNCTION/...: no table schema change
	case p.accept("ALTER"):
		p.accept("ONLINE")
		p.accept("OFFLINE")
		p.accept("IGNORE")
		switch {
		case p.accept("TABLE"):
			return p.alterTable()
		case p.accept("DATABASE"), p.accept("SCHEMA"):
			st.Kind = DDLAlterDatabase
			if !p.peek().is("DEFAULT") && !p.peek().is("CHARACTER") && !p.peek().is("CHARSET") && !p.peek().is("COLLATE") {
				name, err := p.ident()
				if err != nil {
					return st, err
				}
				st.Database = name
			} else {
				st.Database = p.db
			}
			st.Charset, st.Collation = p.databaseOptions()
			return st, nil
		}
		return DDL{}, nil
	case p.accept("RENAME"):
		if !p.accept("TABLE") && !p.accept("TABLES") {
			return DDL{}, nil // RENAME USER
		}
		st.Kind = DDLRename
		for {
			p.accept("IF", "EXISTS")
			from, err := p.tableName()
			if err != nil {
				return st, err
			}
			p.accept("WAIT")
			p.accept("NOWAIT")
			if !p.accept("TO") {
				return st, p.errorf("expected TO")
			}
			to, err := p.tableName()
			if err != nil {
				return st, err
			}
			st.Renames = append(st.Renames, [2]TableName{from, to})
			st.Tables = append(st.Tables, from)
			if !p.acceptPunct(",") {
				break
			}
		}
		return st, nil
	case p.accept("DROP"):
		if p.accept("TEMPORARY") {
			st.Temporary = true
		}
		switch {
		case p.accept("TABLE"), p.accept("TABLES"):
			st.Kind = DDLDrop
			st.IfExists = p.accept("IF", "EXISTS")
			for {
				t, err := p.tableName()
				if err != nil {
					return st, err
				}
				st.Tables = append(st.Tables, t)
				if !p.acceptPunct(",") {
					break
				}
			}
			return st, nil
		case p.accept("DATABASE"), p.accept("SCHEMA"):
			st.Kind = DDLDropDatabase
			st.IfExists = p.accept("IF", "EXISTS")
			name, err := p.ident()
			if err != nil {
				return st, err
			}
			st.Database = name
			return st, nil
		case p.accept("INDEX"):
			st.Kind = DDLDropIndex
			p.accept("IF", "EXISTS")
			name, err := p.ident()
			if err != nil {
				return st, err
			}
			st.Index = name
			if !p.accept("ON") {
				return st, p.errorf("expected ON")
			}
			t, err := p.tableName()
			if err != nil {
				return st, err
			}
			st.Tables = []TableName{t}
			return st, nil
		}
		return DDL{}, nil
	case p.accept("TRUNCATE"):
		p.accept("TABLE")
		st.Kind = DDLTruncate
		t, err := p.tableName()
		if err != nil {
			return st, err
		}
		st.Tables = []TableName{t}
		return st, nil
	}
	return DDL{}, nil
}

// databaseOptions reads [DEFAULT] CHARACTER SET [=] x [DEFAULT] COLLATE [=] y ...
func (p *parser) databaseOptions() (charset, collation string) {
	for !p.eof() {
		p.accept("DEFAULT")
		switch {
		case p.accept("CHARACTER", "SET"), p.accept("CHARSET"):
			p.acceptPunct("=")
			t := p.next()
			charset = strings.ToLower(t.text)
		case p.accept("COLLATE"):
			p.acceptPunct("=")
			t := p.next()
			collation = strings.ToLower(t.text)
		default:
			p.next()
		}
	}
	return
}

func (p *parser) createTable() (DDL, error) {
	st := DDL{Kind: DDLCreateTable}
	st.IfNotExists = p.accept("IF", "NOT", "EXISTS")
	t, err := p.tableName()
	if err != nil {
		return st, err
	}
	st.Tables = []TableName{t}
	if p.accept("LIKE") {
		st.Kind = DDLCreateLike
		st.Like, err = p.tableName()
		return st, err
	}
	if p.peek().punct("(") && p.peekAt(1).is("LIKE") {
		p.i += 2
		st.Kind = DDLCreateLike
		st.Like, err = p.tableName()
		return st, err
	}
	def := &TableDef{}
	st.Create = def
	if p.peek().punct("(") && !p.peekAt(1).is("SELECT") && !p.peekAt(1).punct("(") {
		p.next()
		for {
			if err := p.createItem(def); err != nil {
				return st, err
			}
			if p.acceptPunct(",") {
				continue
			}
			if err := p.expectPunct(")"); err != nil {
				return st, err
			}
			break
		}
	} else {
		def.FromSelect = true
	}
	// Table options, partitioning, and an optional AS SELECT.
	for !p.eof() {
		p.accept("DEFAULT")
		switch {
		case p.accept("CHARACTER", "SET"), p.accept("CHARSET"):
			p.acceptPunct("=")
			def.Charset = strings.ToLower(p.next().text)
		case p.accept("COLLATE"):
			p.acceptPunct("=")
			def.Collation = strings.ToLower(p.next().text)
		case p.accept("WITH", "SYSTEM", "VERSIONING"), p.accept("WITHOUT", "SYSTEM", "VERSIONING"):
			// MariaDB system-versioned table: a table option.
		case p.peek().is("SELECT") || p.peek().is("AS") || p.peek().is("WITH") ||
			(p.peek().is("IGNORE") || p.peek().is("REPLACE")) && (p.peekAt(1).is("SELECT") || p.peekAt(1).is("AS")):
			// The select's columns are added to the listed ones.
			def.FromSelect = true
			return st, nil
		case p.peek().punct("("):
			if err := p.skipParens(); err != nil {
				return st, err
			}
		default:
			p.next()
		}
	}
	return st, nil
}

// createItem parses one element of a CREATE TABLE body.
func (p *parser) createItem(def *TableDef) error {
	if p.accept("CONSTRAINT") {
		if !p.peek().is("PRIMARY") && !p.peek().is("UNIQUE") && !p.peek().is("CHECK") && !p.peek().is("FOREIGN") {
			if _, err := p.ident(); err != nil {
				return err
			}
		}
	}
	switch {
	case p.accept("PRIMARY", "KEY"):
		p.skipIndexType()
		cols, err := p.keyColumns()
		if err != nil {
			return err
		}
		def.Primary = cols
		p.skipToItemEnd()
		return nil
	case p.peek().is("UNIQUE"):
		p.next()
		if !p.accept("KEY") {
			p.accept("INDEX")
		}
		name := ""
		if !p.peek().punct("(") && !p.peek().is("USING") {
			n, err := p.ident()
			if err != nil {
				return err
			}
			name = n
		}
		p.skipIndexType()
		cols, err := p.keyColumns()
		if err != nil {
			return err
		}
		if name == "" && len(cols) > 0 {
			name = cols[0]
		}
		def.Uniques = append(def.Uniques, UniqueKey{Name: name, Columns: cols})
		p.skipToItemEnd()
		return nil
	case p.peek().is("CHECK"):
		p.next()
		if col, ok := p.jsonValidCheck(); ok {
			def.Checks = append(def.Checks, col)
		}
		p.skipToItemEnd()
		return nil
	case p.peek().is("KEY") || p.peek().is("INDEX") || p.peek().is("FULLTEXT") || p.peek().is("SPATIAL") ||
		p.peek().is("FOREIGN") || p.peek().is("PERIOD") || p.peek().is("VECTOR"):
		// Check it is not a column named "key" etc.: a column has a type next.
		if !(p.peekAt(1).kind == tokIdent && isTypeName(p.peekAt(1).text)) {
			p.skipToItemEnd()
			return nil
		}
	}
	c, err := p.columnDef()
	if err != nil {
		return err
	}
	def.Columns = append(def.Columns, c)
	return nil
}

func (p *parser) skipIndexType() {
	if p.accept("USING") {
		p.next()
	}
}

// keyColumns reads (a, b(10) DESC, ...); expression parts are skipped.
func (p *parser) keyColumns() ([]string, error) {
	if err := p.expectPunct("("); err != nil {
		return nil, err
	}
	var cols []string
	for {
		if p.peek().punct("(") {
			if err := p.skipParens(); err != nil { // functional key part
				return nil, err
			}
		} else {
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			cols = append(cols, name)
			if p.peek().punct("(") {
				if err := p.skipParens(); err != nil {
					return nil, err
				}
			}
		}
		p.skipToItemEnd()
		if p.acceptPunct(",") {
			continue
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		return cols, nil
	}
}

// jsonValidCheck parses the (expr) of a CHECK and reports json_valid(col).
func (p *parser) jsonValidCheck() (string, bool) {
	start := p.i
	if p.peek().punct("(") && p.peekAt(1).is("json_valid") && p.peekAt(2).punct("(") &&
		(p.peekAt(3).kind == tokIdent || p.peekAt(3).kind == tokQuoted) && p.peekAt(4).punct(")") && p.peekAt(5).punct(")") {
		col := p.peekAt(3).text
		p.i += 6
		return col, true
	}
	p.i = start
	if p.peek().punct("(") {
		_ = p.skipParens()
	}
	return "", false
}

const typeNames = ` tinyint smallint mediumint int integer bigint int1 int2 int3 int4 int8 middleint serial bool boolean
	decimal dec numeric fixed number float float4 float8 double real bit char character nchar national varchar varchar2 nvarchar
	varcharacter binary varbinary tinytext text mediumtext longtext long tinyblob blob mediumblob longblob enum set date datetime
	timestamp time year json geometry point linestring polygon multipoint multilinestring multipolygon geometrycollection
	geomcollection vector uuid inet4 inet6 raw clob `

func isTypeName(s string) bool {
	for _, n := range strings.Fields(typeNames) {
		if strings.EqualFold(n, s) {
			return true
		}
	}
	return false
}

// columnDef parses: name type [attributes...] up to the next "," or ")".
func (p *parser) columnDef() (ColumnDef, error) {
	name, err := p.ident()
	if err != nil {
		return ColumnDef{}, err
	}
	c := ColumnDef{Name: name, Nullable: true}
	if err := p.columnType(&c); err != nil {
		return c, err
	}
	depth := 0
	for p.i < len(p.toks) {
		t := p.peek()
		if depth == 0 && (t.punct(",") || t.punct(")") || t.punct(";")) {
			break
		}
		// FIRST/AFTER end an ALTER column definition.
		if depth == 0 && (t.is("FIRST") || t.is("AFTER")) {
			break
		}
		switch {
		case t.punct("("):
			depth++
			p.i++
		case t.punct(")"):
			depth--
			p.i++
		case depth > 0:
			p.i++
		case p.accept("NOT", "NULL"):
			c.Nullable = false
		case t.is("NULL"):
			p.i++
			c.Nullable = true
		case p.accept("PRIMARY", "KEY"):
			c.Primary = true
			c.Nullable = false
		case t.is("UNIQUE"):
			p.i++
			p.accept("KEY")
			c.Unique = true
		case t.is("KEY"):
			p.i++
			c.Primary = true // a bare KEY in a column definition is PRIMARY KEY
			c.Nullable = false
		case p.accept("CHARACTER", "SET"), p.accept("CHARSET"):
			c.Charset = strings.ToLower(p.next().text)
		case t.is("COLLATE"):
			p.i++
			c.Collation = strings.ToLower(p.next().text)
		case t.is("DEFAULT"), t.is("COMMENT"), t.is("ON"), t.is("COLUMN_FORMAT"), t.is("STORAGE"), t.is("SRID"), t.is("REFERENCES"):
			p.i++
			p.skipExprTerm()
		case t.is("CHECK"):
			p.i++
			if col, ok := p.jsonValidCheck(); ok && strings.EqualFold(col, c.Name) {
				c.JSONCheck = true
			}
		case t.is("GENERATED"), t.is("AS"):
			c.Generated = true
			p.i++
		case t.is("INVISIBLE"):
			c.Invisible = true
			p.i++
		default:
			p.i++
		}
	}
	return c, nil
}

// skipExprTerm skips one term of a DEFAULT/COMMENT/ON UPDATE value.
func (p *parser) skipExprTerm() {
	t := p.peek()
	switch {
	case t.punct("("):
		_ = p.skipParens()
	case t.punct("-") || t.punct("+"):
		p.i++
		p.skipExprTerm()
	case t.is("UPDATE"): // ON UPDATE expr
		p.i++
		p.skipExprTerm()
	default:
		p.i++
		if p.peek().punct("(") { // function call: CURRENT_TIMESTAMP(6), nextval(s)
			_ = p.skipParens()
		}
	}
}

// columnType parses a type with its arguments and type attributes.
func (p *parser) columnType(c *ColumnDef) error {
	t := p.next()
	if t.kind != tokIdent {
		return p.errorf("expected a column type")
	}
	name := strings.ToLower(t.text)
	switch name {
	case "national":
		name = strings.ToLower(p.next().text) // NATIONAL CHAR / CHARACTER / VARCHAR
		if name == "character" {
			name = "char"
		}
		if name == "char" && p.accept("VARYING") {
			name = "varchar"
		}
		c.Charset = "utf8mb3"
	case "nchar":
		c.Charset = "utf8mb3"
		name = "char"
		if p.accept("VARYING") {
			name = "varchar"
		} else if p.accept("VARCHAR") {
			name = "varchar"
		}
	case "nvarchar":
		c.Charset = "utf8mb3"
		name = "varchar"
	case "character", "char":
		name = "char"
		if p.accept("VARYING") {
			name = "varchar"
		}
	case "varcharacter", "varchar2":
		name = "varchar"
	case "double":
		p.accept("PRECISION")
	case "long":
		switch {
		case p.accept("VARBINARY"):
			name = "mediumblob"
		case p.accept("VARCHAR"), p.accept("VARCHARACTER"):
			name = "mediumtext"
		default:
			name = "mediumtext"
		}
	case "integer", "int4":
		name = "int"
	case "int1":
		name = "tinyint"
	case "int2":
		name = "smallint"
	case "int3", "middleint":
		name = "mediumint"
	case "int8":
		name = "bigint"
	case "dec", "numeric", "fixed", "number":
		name = "decimal"
	case "float4":
		name = "float"
	case "float8", "real":
		name = "double"
	case "bool", "boolean":
		name = "tinyint"
		c.Args = []string{"1"}
	case "serial":
		name = "bigint"
		c.Unsigned = true
		c.Nullable = false
		c.Unique = true
	case "geomcollection":
		name = "geometrycollection"
	case "clob":
		name = "longtext"
	case "raw":
		name = "varbinary"
	}
	c.Type = name
	if p.peek().punct("(") {
		p.next()
		for !p.peek().punct(")") {
			if p.i >= len(p.toks) {
				return p.errorf("unterminated type arguments")
			}
			a := p.next()
			switch a.kind {
			case tokString:
				c.Elems = append(c.Elems, a.text)
			case tokNumber, tokIdent:
				c.Args = append(c.Args, a.text)
			}
			p.acceptPunct(",")
		}
		p.next()
	}
	if name == "float" && len(c.Args) == 1 {
		// FLOAT(p): a FLOAT for p <= 24, a DOUBLE for 25..53; p sets no
		// display width.
		if n, err := strconv.Atoi(c.Args[0]); err == nil && n > 24 {
			c.Type = "double"
		}
		c.Args = nil
	}
	// Type attributes.
	for {
		switch {
		case p.accept("UNSIGNED"):
			c.Unsigned = true
		case p.accept("SIGNED"):
		case p.accept("ZEROFILL"):
			c.Unsigned = true
		case p.accept("BINARY"):
			c.BinaryAttr = true
		case p.accept("ASCII"):
			c.Charset = "latin1"
		case p.accept("UNICODE"):
			c.Charset = "ucs2"
		case p.accept("BYTE"):
			c.Charset = "binary"
		case p.accept("CHARACTER", "SET"), p.accept("CHARSET"):
			c.Charset = strings.ToLower(p.next().text)
		case p.peek().is("COLLATE"):
			p.next()
			c.Collation = strings.ToLower(p.next().text)
		default:
			return nil
		}
	}
}

func (p *parser) alterTable() (DDL, error) {
	st := DDL{Kind: DDLAlterTable}
	p.accept("IF", "EXISTS")
	t, err := p.tableName()
	if err != nil {
		return st, err
	}
	st.Tables = []TableName{t}
	// MariaDB's lock wait: ALTER TABLE t WAIT n | NOWAIT <specs>.
	if p.accept("WAIT") {
		p.next()
	} else {
		p.accept("NOWAIT")
	}
	for !p.eof() {
		spec, err := p.alterSpec()
		if err != nil {
			return st, err
		}
		if spec.Op != AlterOther {
			st.Specs = append(st.Specs, spec)
		}
		// Skip the rest of this specification.
		for !p.eof() && !p.peek().punct(",") {
			if p.peek().punct("(") {
				if err := p.skipParens(); err != nil {
					return st, err
				}
				continue
			}
			if p.peek().is("PARTITION") || p.peek().is("REMOVE") {
				// Partition clauses run to the end of the statement.
				for !p.eof() {
					p.next()
				}
				break
			}
			p.next()
		}
		p.acceptPunct(",")
	}
	return st, nil
}

func (p *parser) alterSpec() (AlterSpec, error) {
	var s AlterSpec
	position := func() error {
		if p.accept("FIRST") {
			s.First = true
		} else if p.accept("AFTER") {
			a, err := p.ident()
			if err != nil {
				return err
			}
			s.After = a
		}
		return nil
	}
	switch {
	case p.accept("ADD"):
		if p.accept("CONSTRAINT") {
			if !p.peek().is("PRIMARY") && !p.peek().is("UNIQUE") && !p.peek().is("CHECK") && !p.peek().is("FOREIGN") {
				if _, err := p.ident(); err != nil {
					return s, err
				}
			}
		}
		switch {
		case p.accept("PRIMARY", "KEY"):
			p.skipIndexType()
			cols, err := p.keyColumns()
			s.Op, s.Columns = AlterAddPrimary, cols
			return s, err
		case p.accept("UNIQUE"):
			if !p.accept("KEY") {
				p.accept("INDEX")
			}
			p.accept("IF", "NOT", "EXISTS")
			name := ""
			if !p.peek().punct("(") && !p.peek().is("USING") {
				n, err := p.ident()
				if err != nil {
					return s, err
				}
				name = n
			}
			p.skipIndexType()
			cols, err := p.keyColumns()
			if name == "" && len(cols) > 0 {
				name = cols[0]
			}
			s.Op, s.Name, s.Columns = AlterAddUnique, name, cols
			return s, err
		case p.accept("CHECK"):
			if col, ok := p.jsonValidCheck(); ok {
				s.Op, s.Name = AlterAddJSONCheck, col
			}
			return s, nil
		case p.peek().is("INDEX") || p.peek().is("KEY") || p.peek().is("FULLTEXT") || p.peek().is("SPATIAL") ||
			p.peek().is("FOREIGN") || p.peek().is("PARTITION") || p.peek().is("PERIOD") || p.peek().is("SYSTEM"):
			if !(p.peekAt(1).kind == tokIdent && isTypeName(p.peekAt(1).text)) {
				return s, nil
			}
		}
		p.accept("COLUMN")
		s.IfExists = p.accept("IF", "NOT", "EXISTS")
		s.Op = AlterAddColumn
		if p.acceptPunct("(") {
			// ADD (a INT, b INT): several columns, appended in order.
			var cols []ColumnDef
			for {
				c, err := p.columnDef()
				if err != nil {
					return s, err
				}
				cols = append(cols, c)
				if p.acceptPunct(",") {
					continue
				}
				if err := p.expectPunct(")"); err != nil {
					return s, err
				}
				break
			}
			s.Col = cols[0]
			s.Columns = nil
			for _, c := range cols[1:] {
				s.Columns = append(s.Columns, c.Name)
			}
			s.Multi = cols
			return s, nil
		}
		c, err := p.columnDef()
		if err != nil {
			return s, err
		}
		s.Col = c
		return s, position()
	case p.accept("DROP"):
		switch {
		case p.accept("PRIMARY", "KEY"):
			s.Op = AlterDropPrimary
			return s, nil
		case p.accept("INDEX"), p.accept("KEY"):
			s.IfExists = p.accept("IF", "EXISTS")
			name, err := p.ident()
			s.Op, s.Name = AlterDropIndex, name
			return s, err
		case p.peek().is("FOREIGN") || p.peek().is("CHECK") || p.peek().is("CONSTRAINT") || p.peek().is("PARTITION") ||
			p.peek().is("PERIOD") || p.peek().is("SYSTEM"):
			// DROP CONSTRAINT name may drop a unique key: treated as DROP INDEX.
			if p.accept("CONSTRAINT") {
				p.accept("IF", "EXISTS")
				name, err := p.ident()
				s.Op, s.Name, s.IfExists = AlterDropIndex, name, true
				return s, err
			}
			return s, nil
		}
		p.accept("COLUMN")
		s.IfExists = p.accept("IF", "EXISTS")
		name, err := p.ident()
		s.Op, s.Name = AlterDropColumn, name
		return s, err
	case p.accept("MODIFY"):
		p.accept("COLUMN")
		s.IfExists = p.accept("IF", "EXISTS")
		c, err := p.columnDef()
		if err != nil {
			return s, err
		}
		s.Op, s.Col, s.Name = AlterModifyColumn, c, c.Name
		return s, position()
	case p.accept("CHANGE"):
		p.accept("COLUMN")
		s.IfExists = p.accept("IF", "EXISTS")
		old, err := p.ident()
		if err != nil {
			return s, err
		}
		c, err := p.columnDef()
		if err != nil {
			return s, err
		}
		s.Op, s.Name, s.Col = AlterChangeColumn, old, c
		return s, position()
	case p.accept("RENAME"):
		switch {
		case p.accept("COLUMN"):
			p.accept("IF", "EXISTS")
			old, err := p.ident()
			if err != nil {
				return s, err
			}
			if !p.accept("TO") {
				return s, p.errorf("expected TO")
			}
			n, err := p.ident()
			s.Op, s.Name, s.NewName = AlterRenameColumn, old, n
			return s, err
		case p.accept("INDEX"), p.accept("KEY"):
			old, err := p.ident()
			if err != nil {
				return s, err
			}
			if !p.accept("TO") {
				return s, p.errorf("expected TO")
			}
			n, err := p.ident()
			s.Op, s.Name, s.NewName = AlterRenameIndex, old, n
			return s, err
		}
		if !p.accept("TO") {
			p.accept("AS")
		}
		t, err := p.tableName()
		s.Op, s.NewTable = AlterRenameTable, t
		return s, err
	case p.accept("CONVERT", "TO"):
		if !p.accept("CHARACTER", "SET") {
			p.accept("CHARSET")
		}
		s.Op = AlterConvertCharset
		s.Charset = strings.ToLower(p.next().text)
		if p.accept("COLLATE") {
			s.Collation = strings.ToLower(p.next().text)
		}
		return s, nil
	case p.peek().is("DEFAULT") || p.peek().is("CHARACTER") || p.peek().is("CHARSET") || p.peek().is("COLLATE"):
		p.accept("DEFAULT")
		switch {
		case p.accept("CHARACTER", "SET"), p.accept("CHARSET"):
			p.acceptPunct("=")
			s.Op = AlterDefaultCharset
			s.Charset = strings.ToLower(p.next().text)
			if p.accept("COLLATE") {
				p.acceptPunct("=")
				s.Collation = strings.ToLower(p.next().text)
			}
		case p.accept("COLLATE"):
			p.acceptPunct("=")
			s.Op = AlterDefaultCharset
			s.Collation = strings.ToLower(p.next().text)
		}
		return s, nil
	}
	return s, nil
}
