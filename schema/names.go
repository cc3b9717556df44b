package schema

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxNameLen is the longest legal table or column name.
const MaxNameLen = 128

// template is a parsed target-name template.
type template struct {
	text  string
	parts []tmplPart
}

type tmplPart struct {
	lit   string
	kind  byte // 0 literal, 'd' db, 't' table, 'g' capture group
	group int
}

// parseTemplate parses {db}, {table}, $N, ${N} and ${name}; src (nil for the
// default template) resolves capture groups.
func parseTemplate(s string, src *regexp.Regexp) (template, error) {
	t := template{text: s}
	if s == "" {
		return t, fmt.Errorf("empty template")
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tmplPart{lit: lit.String()})
			lit.Reset()
		}
	}
	group := func(ref string) error {
		if src == nil {
			return fmt.Errorf("%q: capture group $%s needs a source regular expression", s, ref)
		}
		n, err := strconv.Atoi(ref)
		if err != nil {
			n = src.SubexpIndex(ref)
			if n < 0 {
				return fmt.Errorf("%q: no capture group named %q in the source", s, ref)
			}
		} else if n > src.NumSubexp() {
			return fmt.Errorf("%q: capture group $%d but the source has %d", s, n, src.NumSubexp())
		}
		flush()
		t.parts = append(t.parts, tmplPart{kind: 'g', group: n})
		return nil
	}
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return t, fmt.Errorf("%q: unclosed {", s)
			}
			switch name := s[i+1 : i+end]; name {
			case "db":
				flush()
				t.parts = append(t.parts, tmplPart{kind: 'd'})
			case "table":
				flush()
				t.parts = append(t.parts, tmplPart{kind: 't'})
			default:
				return t, fmt.Errorf("%q: unknown placeholder {%s} (want {db} or {table})", s, name)
			}
			i += end + 1
		case '$':
			switch {
			case i+1 < len(s) && s[i+1] == '$':
				lit.WriteByte('$')
				i += 2
			case i+1 < len(s) && s[i+1] == '{':
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return t, fmt.Errorf("%q: unclosed ${", s)
				}
				if err := group(s[i+2 : i+end]); err != nil {
					return t, err
				}
				i += end + 1
			case i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
				j := i + 1
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				if err := group(s[i+1 : j]); err != nil {
					return t, err
				}
				i = j
			default:
				return t, fmt.Errorf("%q: $ at offset %d must be followed by a group number or {name} (write $$ for a literal $)", s, i)
			}
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return t, nil
}

// literal returns the template's text when it has no placeholder.
func (t template) literal() (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.kind != 0 {
			return "", false
		}
		b.WriteString(p.lit)
	}
	return strings.ToLower(b.String()), true
}

// expand renders the template for a source table; match holds the submatch
// indexes of the source regexp over "db.table" (nil for the default template).
func (t template) expand(id tableKey, full string, match []int) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case 0:
			b.WriteString(p.lit)
		case 'd':
			b.WriteString(id.db)
		case 't':
			b.WriteString(id.table)
		case 'g':
			if 2*p.group+1 < len(match) && match[2*p.group] >= 0 {
				b.WriteString(full[match[2*p.group]:match[2*p.group+1]])
			}
		}
	}
	return strings.ToLower(b.String())
}

type tableKey struct{ db, table string }

// checkTableName reports why name is not a legal MaxCompute table name.
func checkTableName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%q is longer than %d characters", name, MaxNameLen)
	}
	if c := name[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%q does not start with a letter", name)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("%q has %q at offset %d (only letters, digits and underscores are legal)", name, name[i], i)
		}
	}
	return nil
}

// checkColumnName reports why name is not a legal column name: lower-case
// letters, digits, underscores, starting with a letter or underscore.
func checkColumnName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%q is longer than %d characters", name, MaxNameLen)
	}
	if c := name[0]; (c < 'a' || c > 'z') && c != '_' {
		return fmt.Errorf("%q does not start with a letter or underscore", name)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("%q has %q at offset %d (only letters, digits and underscores are legal)", name, name[i], i)
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

// Quote quotes an identifier with backticks (a backtick inside is doubled).
func Quote(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}
