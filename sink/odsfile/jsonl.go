package odsfile

import (
	"bufio"
	"encoding/base64"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// RowWriter encodes rows of one target into a file.
type RowWriter interface {
	// WriteRow encodes one row; it must not retain row, which the caller
	// reuses (values, being immutable, may be kept).
	WriteRow(row []event.Value) error
	// Close flushes; it does not close the underlying writer.
	Close() error
}

// JSONLines writes one JSON object per line, keys in target column order.
// Integers (also unsigned 64-bit) and decimals are JSON numbers written
// exactly; floats the shortest round-trip form; bytes base64; dates, times
// and timestamps the canonical text of event.Value; NULL is null.
type JSONLines struct {
	w    *bufio.Writer
	t    *schema.Target
	keys [][]byte
	buf  []byte
	// maxLine is the longest line written so far.
	maxLine int
}

// NewJSONLines returns a JSON-lines writer for target t.
func NewJSONLines(w io.Writer, t *schema.Target) *JSONLines {
	j := &JSONLines{w: bufio.NewWriterSize(w, 256<<10), t: t}
	for i, c := range t.Columns {
		var k []byte
		if i > 0 {
			k = append(k, ',')
		}
		k = appendJSONString(k, c.Name)
		k = append(k, ':')
		j.keys = append(j.keys, k)
	}
	return j
}

// Ext is the file extension.
func (j *JSONLines) Ext() string { return "jsonl" }

// WriteRow writes one row aligned with the target columns.
func (j *JSONLines) WriteRow(row []event.Value) error {
	// Encode straight into the writer's free space when the longest line
	// so far fits there (bufio's documented AvailableBuffer use), else
	// into j.buf.
	b := j.w.AvailableBuffer()
	scratch := cap(b) < j.maxLine
	if scratch {
		b = j.buf[:0]
	}
	b = append(b, '{')
	for i, v := range row {
		if i >= len(j.keys) {
			break
		}
		b = append(b, j.keys[i]...)
		b = AppendJSONValue(b, v)
	}
	b = append(b, '}', '\n')
	j.maxLine = max(j.maxLine, len(b))
	if scratch {
		j.buf = b
	}
	_, err := j.w.Write(b)
	return err
}

// Close flushes buffered output.
func (j *JSONLines) Close() error { return j.w.Flush() }

// AppendJSONValue appends v as a JSON value.
func AppendJSONValue(b []byte, v event.Value) []byte {
	switch v.Kind() {
	case event.KindNull:
		return append(b, "null"...)
	case event.KindInt, event.KindYear:
		return strconv.AppendInt(b, v.Int(), 10)
	case event.KindUint, event.KindBits:
		return strconv.AppendUint(b, v.Uint(), 10)
	case event.KindFloat32, event.KindFloat64, event.KindDecimal:
		return v.AppendText(b)
	case event.KindBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.Str()))
		return append(b, '"')
	case event.KindDate, event.KindDateTime, event.KindTimestamp, event.KindTime:
		// Digits and "-: .TZ" only: nothing to escape.
		b = append(b, '"')
		b = v.AppendText(b)
		return append(b, '"')
	case event.KindString, event.KindJSON, event.KindEnum, event.KindSet:
		return appendJSONString(b, v.Str())
	default:
		var tmp [64]byte
		return appendJSONString(b, string(v.AppendText(tmp[:0])))
	}
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string; invalid UTF-8 bytes become
// U+FFFD (callers with arbitrary bytes check utf8.ValidString first).
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }

// SWAR constants: every byte 0x01, every byte 0x80.
const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// anyZero reports (in the high bits) whether any byte of x is zero.
func anyZero(x uint64) uint64 { return (x - lows) &^ x & highs }

// plainWord reports whether none of the 8 bytes of w needs escaping or
// UTF-8 checking: no control byte, '"', '\\' or non-ASCII byte.
func plainWord(w uint64) bool {
	below := (w - lows*0x20) &^ w & highs // some byte < 0x20
	return below|anyZero(w^(lows*'"'))|anyZero(w^(lows*'\\'))|w&highs == 0
}

// load64 reads s[i:i+8] little-endian.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip plain ASCII eight bytes at a time.
		for i+8 <= len(s) && plainWord(load64(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
