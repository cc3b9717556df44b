package jsontape

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the kind of a tape node.
type Kind uint8

const (
	JNull Kind = iota + 1
	JFalse
	JTrue
	JNumber
	JString
	JObject
	JArray
	// JRaw is a validated flat object (scalar members only) kept as one
	// node: its members are not on the tape. Parse raw(i) to read them.
	JRaw
)

func (k Kind) String() string {
	switch k {
	case JNull:
		return "null"
	case JFalse, JTrue:
		return "boolean"
	case JNumber:
		return "number"
	case JString:
		return "string"
	case JObject:
		return "object"
	case JArray:
		return "array"
	case JRaw:
		return "object"
	}
	return "invalid"
}

// Node is one JSON value (or object key) on the tape.
type Node struct {
	// Start, end: for strings the content between the quotes, for numbers
	// the token, for objects and arrays the span including the brackets.
	Start, End int32
	// Next is the index of the first node after this node's subtree.
	Next int32
	Kind Kind
	// Esc: the string contains escape sequences.
	Esc bool
}

// Tape is a parsed JSON text: its source and its nodes in document order.
// A Tape is reused between documents; it is not safe for concurrent use.
type Tape struct {
	Src   []byte
	Nodes []Node
	stack []int32
}

// MaxJSONDepth bounds nesting. The parser is iterative, so this protects
// memory, not the goroutine stack.
const MaxJSONDepth = 1000

var errJSONEnd = errors.New("unexpected end of JSON input")

type jsonSyntaxError struct {
	off int
	msg string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

func synErr(off int, format string, args ...any) error {
	return &jsonSyntaxError{off: off, msg: fmt.Sprintf(format, args...)}
}

// reset prepares the tape for a new source.
func (t *Tape) reset(src []byte) {
	t.Src = src
	t.Nodes = t.Nodes[:0]
}

// ParseAll parses a sequence of JSON objects or arrays separated by
// optional whitespace (a Kafka value normally holds one), or one scalar. It returns the root node
// indexes, appended to roots.
func (t *Tape) ParseAll(src []byte, roots []int32) ([]int32, error) {
	if len(src) > math.MaxInt32-1 {
		return roots, fmt.Errorf("message of %d bytes is too large", len(src))
	}
	t.reset(src)
	pos := skipWS(src, 0)
	if pos == len(src) {
		return roots, errors.New("empty message")
	}
	for pos < len(src) {
		root := int32(len(t.Nodes))
		roots = append(roots, root)
		var err error
		pos, err = t.value(pos)
		if err != nil {
			return roots, err
		}
		pos = skipWS(src, pos)
		if pos < len(src) && t.Nodes[root].Kind != JObject && t.Nodes[root].Kind != JArray {
			// Only self-delimiting values may follow each other.
			return roots, synErr(pos, "trailing data after the JSON value")
		}
	}
	return roots, nil
}

// ParseOne parses exactly one JSON value (surrounding whitespace allowed)
// and returns its root node index.
func (t *Tape) ParseOne(src []byte) (int32, error) {
	if len(src) > math.MaxInt32-1 {
		return 0, fmt.Errorf("message of %d bytes is too large", len(src))
	}
	t.reset(src)
	pos := skipWS(src, 0)
	if pos == len(src) {
		return 0, errors.New("empty JSON document")
	}
	pos, err := t.value(pos)
	if err != nil {
		return 0, err
	}
	if pos = skipWS(src, pos); pos != len(src) {
		return 0, synErr(pos, "trailing data after the JSON value")
	}
	return 0, nil
}

// flatObject validates an object at b[pos] whose member values are all
// strings, numbers, booleans or null, without adding nodes. It returns the
// position after the object, or ok=false when the object is not flat (or
// not valid: the caller then parses it normally, which reports the error).
func flatObject(b []byte, pos int) (end int, ok bool) {
	if pos >= len(b) || b[pos] != '{' {
		return pos, false
	}
	pos = skipWS(b, pos+1)
	if pos < len(b) && b[pos] == '}' {
		return pos + 1, true
	}
	for {
		pos = skipWS(b, pos)
		if pos >= len(b) || b[pos] != '"' {
			return pos, false
		}
		e, _, err := scanString(b, pos)
		if err != nil {
			return pos, false
		}
		pos = skipWS(b, e+1)
		if pos >= len(b) || b[pos] != ':' {
			return pos, false
		}
		pos = skipWS(b, pos+1)
		if pos >= len(b) {
			return pos, false
		}
		switch c := b[pos]; {
		case c == '"':
			e, _, err := scanString(b, pos)
			if err != nil {
				return pos, false
			}
			pos = e + 1
		case c == 't' && bytes.HasPrefix(b[pos:], litTrue), c == 'n' && bytes.HasPrefix(b[pos:], litNull):
			pos += 4
		case c == 'f' && bytes.HasPrefix(b[pos:], litFalse):
			pos += 5
		default:
			e, ok := scanNumber(b, pos)
			if !ok {
				return pos, false
			}
			pos = e
		}
		if pos < len(b) && b[pos] <= ' ' {
			pos = skipWS(b, pos)
		}
		if pos >= len(b) {
			return pos, false
		}
		switch b[pos] {
		case ',':
			pos++
		case '}':
			return pos + 1, true
		default:
			return pos, false
		}
	}
}

// ParseObjects parses a sequence of JSON objects (one per canal-json
// message, normally one) like parseAll, except that top-level members
// named in flat whose value is a flat object become single jRaw nodes.
func (t *Tape) ParseObjects(src []byte, roots []int32, flat func(key []byte) bool) ([]int32, error) {
	if len(src) > math.MaxInt32-1 {
		return roots, fmt.Errorf("message of %d bytes is too large", len(src))
	}
	t.reset(src)
	pos := skipWS(src, 0)
	if pos == len(src) {
		return roots, errors.New("empty message")
	}
	for pos < len(src) {
		root := int32(len(t.Nodes))
		roots = append(roots, root)
		if src[pos] != '{' {
			// Not an object: parse it generically (the decoder reports it).
			var err error
			if pos, err = t.value(pos); err != nil {
				return roots, err
			}
			if pos = skipWS(src, pos); pos < len(src) && t.Nodes[root].Kind != JArray {
				return roots, synErr(pos, "trailing data after the JSON value")
			}
			continue
		}
		t.Nodes = append(t.Nodes, Node{Kind: JObject, Start: int32(pos)})
		pos = skipWS(src, pos+1)
		if pos < len(src) && src[pos] == '}' {
			pos++
		} else {
			for {
				var err error
				k := int32(len(t.Nodes))
				if t.Nodes, pos, err = scanKey(src, pos, t.Nodes); err != nil {
					return roots, err
				}
				pos = skipWS(src, pos)
				raw := false
				if pos < len(src) && src[pos] == '{' && !t.Nodes[k].Esc && flat(t.Raw(k)) {
					if end, ok := flatObject(src, pos); ok {
						i := int32(len(t.Nodes))
						t.Nodes = append(t.Nodes, Node{Kind: JRaw, Start: int32(pos), End: int32(end), Next: i + 1})
						pos = end
						raw = true
					}
				}
				if !raw {
					if pos, err = t.value(pos); err != nil {
						return roots, err
					}
				}
				pos = skipWS(src, pos)
				if pos >= len(src) {
					return roots, errJSONEnd
				}
				if src[pos] == ',' {
					pos++
					continue
				}
				if src[pos] == '}' {
					pos++
					break
				}
				return roots, synErr(pos, "expected ',' or '}' in object, found %q", src[pos])
			}
		}
		t.Nodes[root].End = int32(pos)
		t.Nodes[root].Next = int32(len(t.Nodes))
		pos = skipWS(src, pos)
	}
	return roots, nil
}

func skipWS(b []byte, pos int) int {
	for pos < len(b) {
		switch b[pos] {
		case ' ', '\t', '\n', '\r':
			pos++
		default:
			return pos
		}
	}
	return pos
}

// value parses one value at b[pos] and returns the position after it.
func (t *Tape) value(pos int) (int, error) {
	b := t.Src
	nodes := t.Nodes
	stack := t.stack[:0]
	inObj := false
	for {
		// Expecting a value.
		if pos < len(b) && b[pos] <= ' ' {
			pos = skipWS(b, pos)
		}
		if pos >= len(b) {
			return pos, errJSONEnd
		}
		idx := int32(len(nodes))
		complete := true
		switch c := b[pos]; c {
		case '"':
			end, esc, err := scanString(b, pos)
			if err != nil {
				return end, err
			}
			nodes = append(nodes, Node{Kind: JString, Start: int32(pos + 1), End: int32(end), Next: idx + 1, Esc: esc})
			pos = end + 1
		case '{', '[':
			kind := JObject
			closer := byte('}')
			if c == '[' {
				kind, closer = JArray, ']'
			}
			nodes = append(nodes, Node{Kind: kind, Start: int32(pos)})
			pos = skipWS(b, pos+1)
			if pos < len(b) && b[pos] == closer {
				pos++
				nodes[idx].End = int32(pos)
				nodes[idx].Next = idx + 1
				break
			}
			if len(stack) >= MaxJSONDepth {
				return pos, synErr(pos, "nesting deeper than %d", MaxJSONDepth)
			}
			stack = append(stack, idx)
			inObj = kind == JObject
			complete = false
			if kind == JObject {
				var err error
				if nodes, pos, err = scanKey(b, pos, nodes); err != nil {
					return pos, err
				}
				if pos < len(b) && b[pos] == '"' {
					// Fast path: a string member value.
					end, esc, err := scanString(b, pos)
					if err != nil {
						return end, err
					}
					i := int32(len(nodes))
					nodes = append(nodes, Node{Kind: JString, Start: int32(pos + 1), End: int32(end), Next: i + 1, Esc: esc})
					pos = end + 1
					complete = true
				}
			}
		case 't':
			if !bytes.HasPrefix(b[pos:], litTrue) {
				return pos, synErr(pos, "invalid literal")
			}
			nodes = append(nodes, Node{Kind: JTrue, Start: int32(pos), End: int32(pos + 4), Next: idx + 1})
			pos += 4
		case 'f':
			if !bytes.HasPrefix(b[pos:], litFalse) {
				return pos, synErr(pos, "invalid literal")
			}
			nodes = append(nodes, Node{Kind: JFalse, Start: int32(pos), End: int32(pos + 5), Next: idx + 1})
			pos += 5
		case 'n':
			if !bytes.HasPrefix(b[pos:], litNull) {
				return pos, synErr(pos, "invalid literal")
			}
			nodes = append(nodes, Node{Kind: JNull, Start: int32(pos), End: int32(pos + 4), Next: idx + 1})
			pos += 4
		default:
			end, ok := scanNumber(b, pos)
			if !ok {
				return pos, synErr(pos, "unexpected character %q", c)
			}
			nodes = append(nodes, Node{Kind: JNumber, Start: int32(pos), End: int32(end), Next: idx + 1})
			pos = end
		}
		if !complete {
			continue
		}
		// A value is complete: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				t.Nodes = nodes
				t.stack = stack[:0]
				return pos, nil
			}
			top := stack[len(stack)-1]
			if pos < len(b) && b[pos] <= ' ' {
				pos = skipWS(b, pos)
			}
			if pos >= len(b) {
				return pos, errJSONEnd
			}
			c := b[pos]
			if c == ',' {
				pos++
				if inObj {
					var err error
					if nodes, pos, err = scanKey(b, pos, nodes); err != nil {
						return pos, err
					}
					if pos < len(b) && b[pos] == '"' {
						// Fast path: a string member value.
						end, esc, err := scanString(b, pos)
						if err != nil {
							return end, err
						}
						i := int32(len(nodes))
						nodes = append(nodes, Node{Kind: JString, Start: int32(pos + 1), End: int32(end), Next: i + 1, Esc: esc})
						pos = end + 1
						continue
					}
				}
				break
			}
			if (c == '}' && inObj) || (c == ']' && !inObj) {
				pos++
				nodes[top].End = int32(pos)
				nodes[top].Next = int32(len(nodes))
				stack = stack[:len(stack)-1]
				if len(stack) > 0 {
					inObj = nodes[stack[len(stack)-1]].Kind == JObject
				}
				continue
			}
			if inObj {
				return pos, synErr(pos, "expected ',' or '}' in object, found %q", c)
			}
			return pos, synErr(pos, "expected ',' or ']' in array, found %q", c)
		}
	}
}

var (
	litTrue  = []byte("true")
	litFalse = []byte("false")
	litNull  = []byte("null")
)

// scanKey appends the object key at b[pos:] to nodes and returns the
// position after its colon.
func scanKey(b []byte, pos int, nodes []Node) ([]Node, int, error) {
	if pos < len(b) && b[pos] <= ' ' {
		pos = skipWS(b, pos)
	}
	if pos >= len(b) {
		return nodes, pos, errJSONEnd
	}
	if b[pos] != '"' {
		return nodes, pos, synErr(pos, "expected object key string, found %q", b[pos])
	}
	end, esc, err := scanString(b, pos)
	if err != nil {
		return nodes, end, err
	}
	idx := int32(len(nodes))
	nodes = append(nodes, Node{Kind: JString, Start: int32(pos + 1), End: int32(end), Next: idx + 1, Esc: esc})
	pos = end + 1
	if pos < len(b) && b[pos] == ':' {
		return nodes, pos + 1, nil
	}
	pos = skipWS(b, pos)
	if pos >= len(b) {
		return nodes, pos, errJSONEnd
	}
	if b[pos] != ':' {
		return nodes, pos, synErr(pos, "expected ':' after object key, found %q", b[pos])
	}
	return nodes, pos + 1, nil
}

// scanString scans the string whose opening quote is b[pos] and returns
// the index of its closing quote and whether it holds escapes.
func scanString(b []byte, pos int) (end int, esc bool, err error) {
	i := pos + 1
	for {
		// 8 bytes at a time: find the first quote, backslash or control byte.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			m := hasZeroByte(w^(lsb*'"')) | hasZeroByte(w^(lsb*'\\')) | hasLessByte(w, 0x20)
			if m != 0 {
				// The lowest flagged byte is exact (borrows only propagate up).
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
		}
		for i < len(b) {
			c := b[i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			i++
		}
	special:
		if i >= len(b) {
			return i, esc, synErr(pos, "unterminated string")
		}
		c := b[i]
		if c == '"' {
			return i, esc, nil
		}
		if c < 0x20 {
			return i, esc, synErr(i, "control character 0x%02x in string", c)
		}
		esc = true
		if i+1 >= len(b) {
			return i, esc, synErr(pos, "unterminated string")
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return i, esc, synErr(i, "short \\u escape")
			}
			for _, h := range b[i+2 : i+6] {
				if hexVal(h) < 0 {
					return i, esc, synErr(i, "invalid \\u escape")
				}
			}
			i += 6
		default:
			return i, esc, synErr(i, "invalid escape \\%c", b[i+1])
		}
	}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasZeroByte is non-zero when some byte of w is zero.
func hasZeroByte(w uint64) uint64 { return (w - lsb) &^ w & msb }

// hasLessByte is non-zero when some byte of w is below n (n <= 128).
func hasLessByte(w uint64, n uint64) uint64 { return (w - lsb*n) &^ w & msb }

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// scanNumber validates a JSON number at b[pos] and returns its end.
func scanNumber(b []byte, pos int) (int, bool) {
	i := pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	return i, true
}

// AppendUnescape appends the unescaped form of a validated JSON string body.
// Lone UTF-16 surrogates become U+FFFD, as encoding/json does.
func AppendUnescape(dst, s []byte) []byte {
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) < 2 {
			return dst
		}
		switch s[1] {
		case '"', '\\', '/':
			dst = append(dst, s[1])
			s = s[2:]
		case 'b':
			dst = append(dst, '\b')
			s = s[2:]
		case 'f':
			dst = append(dst, '\f')
			s = s[2:]
		case 'n':
			dst = append(dst, '\n')
			s = s[2:]
		case 'r':
			dst = append(dst, '\r')
			s = s[2:]
		case 't':
			dst = append(dst, '\t')
			s = s[2:]
		case 'u':
			r, ok := hex4(s[2:])
			if !ok {
				return dst
			}
			s = s[6:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2, _ = hex4(s[2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					s = s[6:]
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst
		}
	}
	return dst
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		v := hexVal(c)
		if v < 0 {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// ---- tape accessors ----

// Kind returns the kind of node i.
func (t *Tape) Kind(i int32) Kind { return t.Nodes[i].Kind }

// Raw returns the source bytes of a node (string content without quotes).
func (t *Tape) Raw(i int32) []byte {
	n := &t.Nodes[i]
	return t.Src[n.Start:n.End]
}

// Text returns a string node's content, unescaped into buf when needed. The
// result aliases either the source or buf.
func (t *Tape) Text(i int32, buf []byte) []byte {
	n := &t.Nodes[i]
	raw := t.Src[n.Start:n.End]
	if !n.Esc {
		return raw
	}
	return AppendUnescape(buf[:0], raw)
}

// Str returns a string node's content as a new string.
func (t *Tape) Str(i int32) string {
	n := &t.Nodes[i]
	raw := t.Src[n.Start:n.End]
	if !n.Esc {
		return string(raw)
	}
	return string(AppendUnescape(nil, raw))
}

// KeyIs reports whether string node i equals s.
func (t *Tape) KeyIs(i int32, s string) bool {
	n := &t.Nodes[i]
	raw := t.Src[n.Start:n.End]
	if !n.Esc {
		return string(raw) == s
	}
	var tmp [64]byte
	return string(AppendUnescape(tmp[:0], raw)) == s
}

// Field returns the value node of key in object obj, or -1.
func (t *Tape) Field(obj int32, key string) int32 {
	if t.Nodes[obj].Kind != JObject {
		return -1
	}
	end := t.Nodes[obj].Next
	for k := obj + 1; k < end; {
		v := k + 1
		if t.KeyIs(k, key) {
			return v
		}
		k = t.Nodes[v].Next
	}
	return -1
}

// Elems appends the element nodes of array node arr to dst.
func (t *Tape) Elems(arr int32, dst []int32) []int32 {
	end := t.Nodes[arr].Next
	for e := arr + 1; e < end; e = t.Nodes[e].Next {
		dst = append(dst, e)
	}
	return dst
}

// Count returns the number of elements (arrays) or members (objects).
func (t *Tape) Count(i int32) int {
	n := 0
	end := t.Nodes[i].Next
	switch t.Nodes[i].Kind {
	case JArray:
		for e := i + 1; e < end; e = t.Nodes[e].Next {
			n++
		}
	case JObject:
		for k := i + 1; k < end; k = t.Nodes[k+1].Next {
			n++
		}
	}
	return n
}

// IsNull reports whether node i is absent (-1) or JSON null.
func (t *Tape) IsNull(i int32) bool { return i < 0 || t.Nodes[i].Kind == JNull }

// UintNode parses a number node (or a string holding digits) as uint64.
func (t *Tape) UintNode(i int32) (uint64, error) {
	b, err := t.digits(i, "an unsigned integer")
	if err != nil {
		return 0, err
	}
	v, err := ParseUint(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", QuoteShort(b), err)
	}
	return v, nil
}

// IntNode parses a number node (or a string holding digits) as int64.
func (t *Tape) IntNode(i int32) (int64, error) {
	b, err := t.digits(i, "an integer")
	if err != nil {
		return 0, err
	}
	v, err := ParseInt(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", QuoteShort(b), err)
	}
	return v, nil
}

// digits returns the text of node i, a number or a string (which may hold
// digits).
func (t *Tape) digits(i int32, what string) ([]byte, error) {
	n := &t.Nodes[i]
	if n.Kind != JNumber && n.Kind != JString {
		return nil, fmt.Errorf("expected %s, found %s", what, n.Kind)
	}
	return t.Src[n.Start:n.End], nil
}

// BoolNode returns a boolean node's value.
func (t *Tape) BoolNode(i int32) (bool, error) {
	switch t.Nodes[i].Kind {
	case JTrue:
		return true, nil
	case JFalse:
		return false, nil
	}
	return false, fmt.Errorf("expected a boolean, found %s", t.Nodes[i].Kind)
}

// ---- integer parsing on bytes (no allocation on success) ----

// ErrSyntax and ErrRange are the errors of ParseUint and ParseInt.
var (
	ErrSyntax = errors.New("invalid syntax")
	ErrRange  = errors.New("value out of range")
)

// ParseUint parses a decimal unsigned integer from bytes without
// allocating.
func ParseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrSyntax
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, ErrSyntax
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, ErrRange
		}
		v = v*10 + d
	}
	return v, nil
}

// ParseInt parses a decimal signed integer from bytes without allocating.
func ParseInt(b []byte) (int64, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	u, err := ParseUint(b)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, ErrRange
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, ErrRange
	}
	return int64(u), nil
}

// QuoteShort renders b for error messages, cut to a readable length.
func QuoteShort(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// StringOrNull returns the text of a JSON string node, "" for null.
func StringOrNull(t *Tape, v int32) (string, error) {
	switch t.Kind(v) {
	case JNull:
		return "", nil
	case JString:
		return t.Str(v), nil
	}
	return "", fmt.Errorf("is a JSON %s, not a string", t.Kind(v))
}
