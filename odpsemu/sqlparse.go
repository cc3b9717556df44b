package odpsemu

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the small SQL front end: a lexer and a recursive-descent
// parser for exactly the DDL the emulator executes (CREATE TABLE, ALTER TABLE
// ADD COLUMNS / ADD COLUMN / ADD PARTITION / DROP PARTITION, DROP TABLE, plus
// SET statements that are accepted and ignored). Everything else is reported
// as "not supported by the emulator".

type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // bare word: keyword or identifier
	tQuoted         // `back-quoted identifier`
	tString         // 'string' or "string" (unescaped value in text)
	tNumber         // 123, -1, 1.5
	tPunct          // one of ( ) , . ; < > : = *
)

type token struct {
	kind      tokKind
	text      string
	line, col int
}

// sqlError is a statement the emulator rejects. It renders in MaxCompute's
// "ODPS-NNNNNNN:[line,col] ..." shape, which is what real instances return
// as a failed task's result.
type sqlError struct {
	code      string // ODPS-NNNNNNN
	line, col int
	msg       string
}

func (e *sqlError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("%s:[%d,%d] %s", e.code, e.line, e.col, e.msg)
	}
	return fmt.Sprintf("%s:%s", e.code, e.msg)
}

const (
	codeParse    = "ODPS-0130161" // Parse exception
	codeSemantic = "ODPS-0130071" // Semantic analysis exception
	codeNotFound = "ODPS-0130131" // Table not found
	codePartExst = "ODPS-0130111" // Partition already exists
	codePartMiss = "ODPS-0130121" // Invalid partition / partition not found
)

func parseErr(line, col int, format string, args ...any) *sqlError {
	return &sqlError{code: codeParse, line: line, col: col, msg: "Parse exception - " + fmt.Sprintf(format, args...)}
}

func unsupportedErr(tok token, what string) *sqlError {
	return &sqlError{code: codeSemantic, line: tok.line, col: tok.col,
		msg: "Semantic analysis exception - " + what + " is not supported by the emulator" +
			" (supported: CREATE TABLE, ALTER TABLE ... ADD COLUMNS | ADD [IF NOT EXISTS] PARTITION | DROP [IF EXISTS] PARTITION, DROP TABLE, SET)"}
}

// lex splits sql into tokens. Comments (-- and /* */) are skipped.
func lex(sql string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	advance := func(n int) {
		for _, r := range sql[i : i+n] {
			if r == '\n' {
				line++
				col = 1
			} else {
				col++
			}
		}
		i += n
	}
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			advance(1)
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			advance(j)
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil, parseErr(line, col, "unterminated comment")
			}
			advance(j + 4)
		case c == '`':
			startLine, startCol := line, col
			var sb strings.Builder
			j := i + 1
			for {
				if j >= len(sql) {
					return nil, parseErr(startLine, startCol, "unterminated quoted identifier")
				}
				if sql[j] == '`' {
					if j+1 < len(sql) && sql[j+1] == '`' {
						sb.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(sql[j])
				j++
			}
			toks = append(toks, token{kind: tQuoted, text: sb.String(), line: startLine, col: startCol})
			advance(j + 1 - i)
		case c == '\'' || c == '"':
			startLine, startCol := line, col
			s, n, err := unquoteSQLString(sql[i:])
			if err != nil {
				return nil, parseErr(startLine, startCol, "%v", err)
			}
			toks = append(toks, token{kind: tString, text: s, line: startLine, col: startCol})
			advance(n)
		case c >= '0' && c <= '9' || (c == '-' || c == '+') && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9' && numberMayStart(toks):
			j := i + 1
			for j < len(sql) && (sql[j] >= '0' && sql[j] <= '9' || sql[j] == '.') {
				j++
			}
			// Trailing letters (e.g. 10L, 1e5) are kept in the token so the
			// statement parser can complain about them precisely.
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			toks = append(toks, token{kind: tNumber, text: sql[i:j], line: line, col: col})
			advance(j - i)
		case isIdentStart(sql[i:]):
			j := i
			for j < len(sql) {
				r, size := utf8.DecodeRuneInString(sql[j:])
				if !(r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
					break
				}
				j += size
			}
			toks = append(toks, token{kind: tIdent, text: sql[i:j], line: line, col: col})
			advance(j - i)
		case strings.IndexByte("(),.;<>:=*", c) >= 0:
			toks = append(toks, token{kind: tPunct, text: string(c), line: line, col: col})
			advance(1)
		default:
			r, _ := utf8.DecodeRuneInString(sql[i:])
			return nil, parseErr(line, col, "unexpected character %q", r)
		}
	}
	toks = append(toks, token{kind: tEOF, line: line, col: col})
	return toks, nil
}

// numberMayStart reports whether a sign may start a number literal here
// (after an operator-ish token, not after an identifier).
func numberMayStart(toks []token) bool {
	if len(toks) == 0 {
		return true
	}
	last := toks[len(toks)-1]
	return last.kind == tPunct || last.kind == tIdent && isKeyword(last.text, "LIFECYCLE", "INTO", "DEFAULT")
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isIdentStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r)
}

// unquoteSQLString reads a '...' or "..." literal at the start of s with
// MaxCompute/Hive backslash escapes, returning the value and the bytes consumed.
func unquoteSQLString(s string) (string, int, error) {
	q := s[0]
	var sb strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case '0':
				sb.WriteByte(0)
			default:
				sb.WriteByte(s[i])
			}
		case c == q:
			if i+1 < len(s) && s[i+1] == q { // doubled quote
				sb.WriteByte(q)
				i++
				continue
			}
			return sb.String(), i + 1, nil
		default:
			sb.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string literal")
}

func isKeyword(s string, kws ...string) bool {
	for _, k := range kws {
		if strings.EqualFold(s, k) {
			return true
		}
	}
	return false
}

// parser walks a token slice.
type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) peekN(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) at(k tokKind, text string) bool {
	t := p.peek()
	return t.kind == k && (text == "" || t.text == text)
}

func (p *parser) atKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptKeywords(kws ...string) bool {
	for i, kw := range kws {
		t := p.peekN(i)
		if t.kind != tIdent || !strings.EqualFold(t.text, kw) {
			return false
		}
	}
	p.pos += len(kws)
	return true
}

func (p *parser) expectKeyword(kw string) error {
	t := p.next()
	if t.kind != tIdent || !strings.EqualFold(t.text, kw) {
		return p.errAt(t, "expected %s, got %s", kw, describe(t))
	}
	return nil
}

func (p *parser) expect(k tokKind, text string) error {
	t := p.next()
	if t.kind != k || (text != "" && t.text != text) {
		want := text
		if want == "" {
			want = "token"
		}
		return p.errAt(t, "expected %q, got %s", want, describe(t))
	}
	return nil
}

func (p *parser) errAt(t token, format string, args ...any) *sqlError {
	return parseErr(t.line, t.col, format, args...)
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of statement"
	case tString:
		return strconv.Quote(t.text)
	default:
		return "'" + t.text + "'"
	}
}

func (p *parser) ident() (token, error) {
	t := p.next()
	if t.kind != tIdent && t.kind != tQuoted {
		return t, p.errAt(t, "expected an identifier, got %s", describe(t))
	}
	return t, nil
}

func (p *parser) stringLiteral() (string, error) {
	t := p.next()
	if t.kind != tString {
		return "", p.errAt(t, "expected a string literal, got %s", describe(t))
	}
	return t.text, nil
}

// qname is a possibly qualified table name.
type qname struct {
	project, schema, table string
	tok                    token
}

func (p *parser) qualifiedName() (qname, error) {
	first, err := p.ident()
	if err != nil {
		return qname{}, err
	}
	parts := []string{first.text}
	for p.at(tPunct, ".") {
		p.next()
		t, err := p.ident()
		if err != nil {
			return qname{}, err
		}
		parts = append(parts, t.text)
	}
	q := qname{tok: first}
	switch len(parts) {
	case 1:
		q.table = parts[0]
	case 2:
		q.project, q.table = parts[0], parts[1]
	case 3:
		q.project, q.schema, q.table = parts[0], parts[1], parts[2]
	default:
		return qname{}, p.errAt(first, "invalid table name %q", strings.Join(parts, "."))
	}
	return q, nil
}

// Statements.

type colDef struct {
	name    string
	typ     *dataType
	notNull bool
	comment string
	tok     token
}

type createTableStmt struct {
	name        qname
	ifNotExists bool
	cols        []colDef
	primaryKey  []string
	comment     string
	partCols    []colDef
	lifecycle   int
	clusterType string
	clusterCols []string
	sortCols    []sortCol
	buckets     int
	props       map[string]string
}

type sortCol struct {
	Name  string `json:"Name"`
	Order string `json:"Order"`
}

type addColumnsStmt struct {
	name        qname
	ifNotExists bool
	cols        []colDef
}

type partSpecKV struct {
	key, value string
	tok        token
}

type addPartitionStmt struct {
	name        qname
	ifNotExists bool
	specs       [][]partSpecKV
}

type dropPartitionStmt struct {
	name     qname
	ifExists bool
	specs    [][]partSpecKV
}

// changeColumnStmt is ALTER TABLE t CHANGE [COLUMN] old new TYPE: the
// emulator supports the in-place type widenings whose stored values read
// the same (a larger integer type, a DECIMAL with more precision and the
// same scale, VARCHAR/CHAR to STRING), not renames.
type changeColumnStmt struct {
	name qname
	old  string
	col  colDef
}

type dropTableStmt struct {
	name     qname
	ifExists bool
}

// parseScript parses a query text into executable statements. SET statements
// are dropped; an empty result means the script only held SETs.
func parseScript(sql string) ([]any, error) {
	stmts, _, err := parseScriptSettings(sql)
	return stmts, err
}

// parseScriptSettings is parseScript that also returns the script's SET
// statements as settings (name -> value).
func parseScriptSettings(sql string) ([]any, map[string]string, error) {
	toks, err := lex(sql)
	if err != nil {
		return nil, nil, err
	}
	settings := map[string]string{}
	var stmts []any
	start := 0
	for i, t := range toks {
		if !(t.kind == tPunct && t.text == ";") && t.kind != tEOF {
			continue
		}
		part := append(append([]token(nil), toks[start:i]...), token{kind: tEOF, line: t.line, col: t.col})
		start = i + 1
		if len(part) == 1 {
			continue
		}
		p := &parser{toks: part}
		if p.atKeyword("SET") {
			var name, value strings.Builder
			cur := &name
			for _, tk := range part[1 : len(part)-1] {
				if cur == &name && tk.kind == tPunct && tk.text == "=" {
					cur = &value
					continue
				}
				cur.WriteString(tk.text)
			}
			settings[strings.ToLower(name.String())] = strings.Trim(value.String(), "'\"")
			continue
		}
		st, err := p.statement()
		if err != nil {
			return nil, nil, err
		}
		if !p.at(tEOF, "") {
			return nil, nil, p.errAt(p.peek(), "unexpected %s", describe(p.peek()))
		}
		stmts = append(stmts, st)
	}
	return stmts, settings, nil
}

func (p *parser) statement() (any, error) {
	t := p.peek()
	switch {
	case p.atKeyword("CREATE"):
		p.next()
		if p.atKeyword("TABLE") {
			p.next()
			return p.createTable()
		}
		return nil, unsupportedErr(t, "CREATE "+strings.ToUpper(p.peek().text))
	case p.atKeyword("ALTER"):
		p.next()
		if err := p.expectKeyword("TABLE"); err != nil {
			return nil, unsupportedErr(t, "ALTER "+strings.ToUpper(p.toks[p.pos-1].text))
		}
		return p.alterTable(t)
	case p.atKeyword("DROP"):
		p.next()
		if !p.atKeyword("TABLE") {
			return nil, unsupportedErr(t, "DROP "+strings.ToUpper(p.peek().text))
		}
		p.next()
		st := &dropTableStmt{}
		if p.acceptKeywords("IF", "EXISTS") {
			st.ifExists = true
		}
		n, err := p.qualifiedName()
		if err != nil {
			return nil, err
		}
		st.name = n
		return st, nil
	case t.kind == tIdent:
		return nil, unsupportedErr(t, "statement "+strings.ToUpper(t.text))
	default:
		return nil, p.errAt(t, "unexpected %s at the start of a statement", describe(t))
	}
}

func (p *parser) createTable() (any, error) {
	st := &createTableStmt{lifecycle: -1}
	if p.acceptKeywords("IF", "NOT", "EXISTS") {
		st.ifNotExists = true
	}
	n, err := p.qualifiedName()
	if err != nil {
		return nil, err
	}
	st.name = n
	if p.atKeyword("LIKE") || p.atKeyword("AS") {
		return nil, unsupportedErr(p.peek(), "CREATE TABLE ... "+strings.ToUpper(p.peek().text))
	}
	if err := p.expect(tPunct, "("); err != nil {
		return nil, err
	}
	for {
		if p.atKeyword("PRIMARY") {
			p.next()
			if err := p.expectKeyword("KEY"); err != nil {
				return nil, err
			}
			names, err := p.nameList()
			if err != nil {
				return nil, err
			}
			st.primaryKey = names
		} else {
			c, err := p.columnDef(true)
			if err != nil {
				return nil, err
			}
			st.cols = append(st.cols, c)
		}
		if p.at(tPunct, ",") {
			p.next()
			continue
		}
		if err := p.expect(tPunct, ")"); err != nil {
			return nil, err
		}
		break
	}
	for !p.at(tEOF, "") {
		t := p.peek()
		switch {
		case p.atKeyword("COMMENT"):
			p.next()
			s, err := p.stringLiteral()
			if err != nil {
				return nil, err
			}
			st.comment = s
		case p.acceptKeywords("PARTITIONED", "BY"):
			if err := p.expect(tPunct, "("); err != nil {
				return nil, err
			}
			for {
				c, err := p.columnDef(false)
				if err != nil {
					return nil, err
				}
				st.partCols = append(st.partCols, c)
				if p.at(tPunct, ",") {
					p.next()
					continue
				}
				if err := p.expect(tPunct, ")"); err != nil {
					return nil, err
				}
				break
			}
		case p.acceptKeywords("CLUSTERED", "BY"):
			names, err := p.nameList()
			if err != nil {
				return nil, err
			}
			st.clusterType, st.clusterCols = "hash", names
		case p.acceptKeywords("RANGE", "CLUSTERED", "BY"):
			names, err := p.nameList()
			if err != nil {
				return nil, err
			}
			st.clusterType, st.clusterCols = "range", names
		case p.acceptKeywords("SORTED", "BY"):
			if err := p.expect(tPunct, "("); err != nil {
				return nil, err
			}
			for {
				nt, err := p.ident()
				if err != nil {
					return nil, err
				}
				order := "asc"
				if p.atKeyword("ASC") || p.atKeyword("DESC") {
					order = strings.ToLower(p.next().text)
				}
				st.sortCols = append(st.sortCols, sortCol{Name: nt.text, Order: order})
				if p.at(tPunct, ",") {
					p.next()
					continue
				}
				if err := p.expect(tPunct, ")"); err != nil {
					return nil, err
				}
				break
			}
		case p.atKeyword("INTO"):
			p.next()
			n, err := p.intLiteral()
			if err != nil {
				return nil, err
			}
			if err := p.expectKeyword("BUCKETS"); err != nil {
				return nil, err
			}
			st.buckets = n
		case p.atKeyword("TBLPROPERTIES"):
			p.next()
			if err := p.expect(tPunct, "("); err != nil {
				return nil, err
			}
			st.props = map[string]string{}
			for {
				k, err := p.stringLiteral()
				if err != nil {
					return nil, err
				}
				if err := p.expect(tPunct, "="); err != nil {
					return nil, err
				}
				v, err := p.stringLiteral()
				if err != nil {
					return nil, err
				}
				st.props[k] = v
				if p.at(tPunct, ",") {
					p.next()
					continue
				}
				if err := p.expect(tPunct, ")"); err != nil {
					return nil, err
				}
				break
			}
		case p.atKeyword("LIFECYCLE"):
			p.next()
			n, err := p.intLiteral()
			if err != nil {
				return nil, err
			}
			if n < 1 {
				return nil, p.errAt(t, "lifecycle must be a positive number of days, got %d", n)
			}
			st.lifecycle = n
		case p.atKeyword("AUTO"), p.atKeyword("STORED"), p.atKeyword("LOCATION"), p.atKeyword("AS"),
			p.atKeyword("ROW"), p.atKeyword("WITH"), p.atKeyword("USING"):
			return nil, unsupportedErr(t, "CREATE TABLE ... "+strings.ToUpper(t.text))
		default:
			return nil, p.errAt(t, "unexpected %s in CREATE TABLE", describe(t))
		}
	}
	return st, nil
}

// columnDef parses `name TYPE [NOT NULL] [DEFAULT literal] [COMMENT 'text']`.
func (p *parser) columnDef(allowConstraints bool) (colDef, error) {
	nt, err := p.ident()
	if err != nil {
		return colDef{}, err
	}
	typ, err := p.parseType()
	if err != nil {
		return colDef{}, err
	}
	c := colDef{name: nt.text, typ: typ, tok: nt}
	for {
		t := p.peek()
		switch {
		case allowConstraints && p.acceptKeywords("NOT", "NULL"):
			c.notNull = true
		case allowConstraints && p.atKeyword("NULL"):
			p.next()
		case p.atKeyword("COMMENT"):
			p.next()
			s, err := p.stringLiteral()
			if err != nil {
				return colDef{}, err
			}
			c.comment = s
		case allowConstraints && p.atKeyword("DEFAULT"):
			return colDef{}, unsupportedErr(t, "column DEFAULT value")
		default:
			return c, nil
		}
	}
}

func (p *parser) nameList() ([]string, error) {
	if err := p.expect(tPunct, "("); err != nil {
		return nil, err
	}
	var names []string
	for {
		t, err := p.ident()
		if err != nil {
			return nil, err
		}
		names = append(names, t.text)
		if p.at(tPunct, ",") {
			p.next()
			continue
		}
		if err := p.expect(tPunct, ")"); err != nil {
			return nil, err
		}
		return names, nil
	}
}

func (p *parser) alterTable(start token) (any, error) {
	n, err := p.qualifiedName()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case p.acceptKeywords("ADD", "COLUMNS"):
		st := &addColumnsStmt{name: n}
		if p.acceptKeywords("IF", "NOT", "EXISTS") {
			st.ifNotExists = true
		}
		if err := p.expect(tPunct, "("); err != nil {
			return nil, err
		}
		for {
			c, err := p.columnDef(false)
			if err != nil {
				return nil, err
			}
			st.cols = append(st.cols, c)
			if p.at(tPunct, ",") {
				p.next()
				continue
			}
			if err := p.expect(tPunct, ")"); err != nil {
				return nil, err
			}
			return st, nil
		}
	case p.acceptKeywords("ADD", "COLUMN"):
		st := &addColumnsStmt{name: n}
		if p.acceptKeywords("IF", "NOT", "EXISTS") {
			st.ifNotExists = true
		}
		c, err := p.columnDef(false)
		if err != nil {
			return nil, err
		}
		st.cols = []colDef{c}
		return st, nil
	case p.acceptKeywords("CHANGE", "COLUMN") || p.acceptKeywords("CHANGE"):
		old, err := p.ident()
		if err != nil {
			return nil, err
		}
		c, err := p.columnDef(false)
		if err != nil {
			return nil, err
		}
		return &changeColumnStmt{name: n, old: old.text, col: c}, nil
	case p.atKeyword("ADD"):
		p.next()
		st := &addPartitionStmt{name: n}
		if p.acceptKeywords("IF", "NOT", "EXISTS") {
			st.ifNotExists = true
		}
		if !p.atKeyword("PARTITION") {
			return nil, p.errAt(p.peek(), "expected PARTITION, COLUMNS or COLUMN after ADD, got %s", describe(p.peek()))
		}
		for p.atKeyword("PARTITION") {
			p.next()
			spec, err := p.partitionSpec()
			if err != nil {
				return nil, err
			}
			st.specs = append(st.specs, spec)
			if p.at(tPunct, ",") { // tolerated between partitions
				p.next()
			}
		}
		return st, nil
	case p.atKeyword("DROP") && (p.peekN(1).kind == tIdent && isKeyword(p.peekN(1).text, "PARTITION", "IF")):
		p.next()
		st := &dropPartitionStmt{name: n}
		if p.acceptKeywords("IF", "EXISTS") {
			st.ifExists = true
		}
		for {
			if err := p.expectKeyword("PARTITION"); err != nil {
				return nil, err
			}
			spec, err := p.partitionSpec()
			if err != nil {
				return nil, err
			}
			st.specs = append(st.specs, spec)
			if p.at(tPunct, ",") {
				p.next()
				continue
			}
			return st, nil
		}
	case t.kind == tIdent:
		// e.g. "addpartition" (the SDK's AddPartitions(false, ...) bug), SET LIFECYCLE, RENAME...
		return nil, unsupportedErr(start, "ALTER TABLE ... "+strings.ToUpper(t.text))
	default:
		return nil, p.errAt(t, "unexpected %s in ALTER TABLE", describe(t))
	}
}

// partitionSpec parses `(k='v', k2=3)`.
func (p *parser) partitionSpec() ([]partSpecKV, error) {
	if err := p.expect(tPunct, "("); err != nil {
		return nil, err
	}
	var spec []partSpecKV
	for {
		k, err := p.ident()
		if err != nil {
			return nil, err
		}
		if err := p.expect(tPunct, "="); err != nil {
			return nil, err
		}
		v := p.next()
		switch v.kind {
		case tString, tNumber, tIdent:
		default:
			return nil, p.errAt(v, "expected a partition value, got %s", describe(v))
		}
		spec = append(spec, partSpecKV{key: k.text, value: v.text, tok: k})
		if p.at(tPunct, ",") {
			p.next()
			continue
		}
		if err := p.expect(tPunct, ")"); err != nil {
			return nil, err
		}
		return spec, nil
	}
}
