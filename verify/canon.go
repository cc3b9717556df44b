package verify

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/text/unicode/norm"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
)

// A canonical row is what both sides of a comparison reduce a row to: for
// every compared column, in order, the column's value as the target holds
// it, rendered as text by schema.TargetColumn.AppendText (the CSV text of
// the ODS file), with decimals normalised to the column's scale and JSON
// normalised (sorted keys, compact). Source rows get there through
// schema.Target.Row, the very conversion the sinks use; target rows through
// the decoders of each format. Two rows are equal when their canonical
// encodings are; the row hash is xxhash64 of the encoding.
//
// Encoding: per column, 0x00 for NULL, or 0x01, uvarint length, text, or
// for a value kept in _raw (D1) 0x02, uvarint length, its normalised raw
// text.

// canonCol is one compared column.
type canonCol struct {
	col  *schema.TargetColumn
	idx  int  // index in Target.Columns
	json bool // the source column is JSON: normalise the text
}

// appendCanon appends the canonical encoding of v for column c.
func appendCanon(buf []byte, c *canonCol, v event.Value, scratch *[]byte) []byte {
	if v.IsNull() {
		return append(buf, 0)
	}
	t := canonText((*scratch)[:0], c, v)
	*scratch = t
	buf = append(buf, 1)
	buf = binary.AppendUvarint(buf, uint64(len(t)))
	return append(buf, t...)
}

// appendCanonRaw appends the encoding of a value kept as raw text.
func appendCanonRaw(buf []byte, text string) []byte {
	text = normalizeRaw(text)
	buf = append(buf, 2)
	buf = binary.AppendUvarint(buf, uint64(len(text)))
	return append(buf, text...)
}

// normalizeRaw drops an all-zero fraction of a temporal text
// ("0000-00-00 00:00:00.000000" → "0000-00-00 00:00:00") and trailing
// zeros of a fraction, so that renderings with different fraction digits
// compare equal.
func normalizeRaw(s string) string {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return s
	}
	i := strings.LastIndexByte(s, '.')
	if i < 0 || i < len(s)-7 || strings.Trim(s[i+1:], "0123456789") != "" {
		return s
	}
	f := strings.TrimRight(s[i+1:], "0")
	if f == "" {
		return s[:i]
	}
	return s[:i+1] + f
}

// parseRawObject parses a _raw value: a JSON object of strings.
func parseRawObject(s string) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out, nil
}

// rawText renders a source value the way a string target column holds it.
func rawText(v event.Value) string {
	c := schema.TargetColumn{Kind: schema.KindString}
	return string(c.AppendText(nil, v))
}

// canonText renders a non-NULL target value of column c as canonical text.
func canonText(buf []byte, c *canonCol, v event.Value) []byte {
	switch {
	case c.col.Kind == schema.KindDecimal && v.Kind() == event.KindDecimal:
		if s, ok := odsfile.NormalizeDecimal(v.Str(), c.col.Scale); ok {
			return append(buf, s...)
		}
	case c.json && (v.Kind() == event.KindString || v.Kind() == event.KindJSON):
		if s, ok := normalizeJSON(v.Str()); ok {
			return append(buf, s...)
		}
	}
	return c.col.AppendText(buf, v)
}

// rowHash is the hash of a canonical encoding.
func rowHash(enc []byte) uint64 { return xxhash.Sum64(enc) }

// decodeCanon splits a canonical encoding into per-column texts; null[i]
// reports NULL. ok is false for a malformed encoding.
func decodeCanon(enc []byte, n int) (texts []string, null []bool, ok bool) {
	texts = make([]string, n)
	null = make([]bool, n)
	for i := 0; i < n; i++ {
		if len(enc) == 0 {
			return nil, nil, false
		}
		if enc[0] == 0 {
			null[i] = true
			enc = enc[1:]
			continue
		}
		if enc[0] != 1 && enc[0] != 2 {
			return nil, nil, false
		}
		l, k := binary.Uvarint(enc[1:])
		if k <= 0 || uint64(len(enc)-1-k) < l {
			return nil, nil, false
		}
		texts[i] = string(enc[1+k : 1+k+int(l)])
		enc = enc[1+k+int(l):]
	}
	return texts, null, len(enc) == 0
}

// normalizeJSON renders JSON text compactly with sorted object keys and
// numbers in a canonical form (integers as digits, others shortest
// float64), so that MySQL's rendering of binary JSON and the capture's
// rendering compare equal. ok is false when the text is not JSON.
func normalizeJSON(s string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	if dec.More() {
		return "", false
	}
	var b bytes.Buffer
	writeJSON(&b, v)
	return b.String(), true
}

func writeJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			b.WriteString(strconv.FormatInt(i, 10))
		} else if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			b.WriteString(strconv.FormatUint(u, 10))
		} else if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		} else {
			b.WriteString(string(x))
		}
	case string:
		enc, _ := json.Marshal(x)
		b.Write(enc)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			enc, _ := json.Marshal(k)
			b.Write(enc)
			b.WriteByte(':')
			writeJSON(b, x[k])
		}
		b.WriteByte('}')
	}
}

// Key encoding. The comparison stores target rows under an order-preserving
// encoding of their key values, so that a chunk of the source (a range of
// primary-key values in the source's order) is a range of the store. The
// encoding follows the source's order exactly for integer, decimal, float,
// date and time and binary keys; for text keys it approximates the
// collation (see weigher). Where it does not match the source's order, a
// key merely lands in another chunk: every difference is confirmed per key
// (by exact key lookup and by re-reading the source by key) before it is
// reported, so an imperfect order costs work, never a false result.

// weigher maps a text key value to the bytes it sorts by.
type weigher func(s string) string

// weigherFor returns the weigher approximating a MySQL collation.
func weigherFor(collation string) weigher {
	c := strings.ToLower(collation)
	noPad := strings.Contains(c, "nopad") || strings.Contains(c, "0900")
	switch {
	case c == "" || c == "binary":
		return nil
	case strings.HasSuffix(c, "_bin"):
		if noPad {
			return nil
		}
		return padSpace
	default:
		// Case- and accent-insensitive collations (general_ci, unicode_ci,
		// 0900_ai_ci...): compare base letters, upper-cased.
		if noPad {
			return foldText
		}
		return func(s string) string { return foldText(padSpace(s)) }
	}
}

// foldText drops combining marks (after canonical decomposition) and
// upper-cases: "é" and "E" weigh the same, as in MySQL's _ci collations.
func foldText(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func padSpace(s string) string { return strings.TrimRight(s, " ") }

// keyCol is one key column of a comparison.
type keyCol struct {
	idx    int // index in Target.Columns
	weight weigher
}

// appendKey appends the order-preserving encoding of the key values of row
// (aligned with Target.Columns).
func appendKey(buf []byte, cols []keyCol, row []event.Value) []byte {
	exact := false
	for i := range cols {
		v := row[cols[i].idx]
		buf = appendKeyValue(buf, v, cols[i].weight)
		if cols[i].weight != nil && isText(v) {
			exact = true
		}
	}
	if exact {
		// Weighted text keys: the exact bytes break ties, so distinct
		// values never share a store key.
		buf = append(buf, 0xff)
		for i := range cols {
			if v := row[cols[i].idx]; cols[i].weight != nil && isText(v) {
				buf = appendEscaped(buf, v.Str())
			}
		}
	}
	return buf
}

func isText(v event.Value) bool {
	switch v.Kind() {
	case event.KindString, event.KindJSON, event.KindEnum, event.KindSet:
		return true
	}
	return false
}

func appendKeyValue(buf []byte, v event.Value, w weigher) []byte {
	switch v.Kind() {
	case event.KindNull:
		return append(buf, 0x00)
	case event.KindInt, event.KindYear, event.KindTimestamp, event.KindTime:
		buf = append(buf, 0x10)
		return binary.BigEndian.AppendUint64(buf, uint64(v.Int())^(1<<63))
	case event.KindUint, event.KindBits:
		buf = append(buf, 0x11)
		return binary.BigEndian.AppendUint64(buf, v.Uint())
	case event.KindFloat32, event.KindFloat64:
		buf = append(buf, 0x12)
		b := math.Float64bits(v.Float())
		if b&(1<<63) != 0 {
			b = ^b
		} else {
			b |= 1 << 63
		}
		return binary.BigEndian.AppendUint64(buf, b)
	case event.KindDecimal:
		buf = append(buf, 0x13)
		return appendDecimalKey(buf, v.Str())
	case event.KindDate, event.KindDateTime:
		buf = append(buf, 0x14)
		y, mo, d, h, mi, s, us := v.Civil()
		buf = binary.BigEndian.AppendUint16(buf, uint16(y))
		buf = append(buf, byte(mo), byte(d), byte(h), byte(mi), byte(s))
		return append(buf, byte(us>>16), byte(us>>8), byte(us))
	case event.KindBytes:
		buf = append(buf, 0x15)
		return appendEscaped(buf, v.Str())
	default:
		buf = append(buf, 0x16)
		s := v.Str()
		if w != nil {
			s = w(s)
		}
		return appendEscaped(buf, s)
	}
}

// appendEscaped appends s so that the encodings of byte strings compare as
// the strings do and are self-delimiting: 0x00 becomes 0x00 0xff, the end
// is 0x00 0x01.
func appendEscaped(buf []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			break
		}
		buf = append(buf, s[:i]...)
		buf = append(buf, 0x00, 0xff)
		s = s[i+1:]
	}
	buf = append(buf, s...)
	return append(buf, 0x00, 0x01)
}

// appendDecimalKey encodes decimal text in numeric order: a sign byte
// (0x01 negative, 0x02 zero, 0x03 positive), then for non-zero values the
// number of integer digits and the significant digits with a terminator,
// all complemented for negative values.
func appendDecimalKey(buf []byte, s string) []byte {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	if ip == "" && fp == "" {
		return append(buf, 0x02)
	}
	// Scale: the position of the first significant digit relative to the
	// point (integer digits, or minus the leading fraction zeros).
	exp := len(ip)
	digits := ip + fp
	if ip == "" {
		lz := len(fp) - len(strings.TrimLeft(fp, "0"))
		exp = -lz
		digits = fp[lz:]
	}
	var body []byte
	body = binary.BigEndian.AppendUint16(body, uint16(int16(exp))^0x8000)
	body = append(body, digits...)
	body = append(body, 0x00)
	if !neg {
		buf = append(buf, 0x03)
		return append(buf, body...)
	}
	buf = append(buf, 0x01)
	for _, b := range body {
		buf = append(buf, ^b)
	}
	return buf
}

// keyText renders key values for reports: "id=5", "a=x,b=7".
func keyText(cols []keyCol, t *schema.Target, row []event.Value) string {
	var sb strings.Builder
	for i, k := range cols {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(t.Columns[k.idx].Name)
		sb.WriteByte('=')
		sb.WriteString(displayValue(row[k.idx]))
	}
	return sb.String()
}

// displayValue renders a value for a report: text as is when printable,
// bytes as hex.
func displayValue(v event.Value) string {
	switch v.Kind() {
	case event.KindNull:
		return "NULL"
	case event.KindBytes:
		return "0x" + hex.EncodeToString([]byte(v.Str()))
	}
	s := v.Text()
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}
