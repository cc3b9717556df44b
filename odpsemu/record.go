package odpsemu

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file implements the tunnel record stream format: a
// schema-driven, validating decoder, an encoder for download responses, and a
// text renderer used by tests and error messages.
//
// The decoder never builds value trees. For every field it reports the span
// of the value's wire bytes and appends the bytes the record CRC covers to a
// scratch buffer, so a download can re-number fields (columns= order) and
// recompute CRCs without re-encoding values.

const (
	fieldEndRecord    = 33553408 // 2^25-1024
	fieldMetaCount    = 33554430 // 2^25-2
	fieldMetaChecksum = 33554431 // 2^25-1

	maxFieldBytes = 8 << 20 // MaxFieldSize reported to the SDK

	minDateDays = -719162 // 0001-01-01
	maxDateDays = 2932896 // 9999-12-31
	minUnixSec  = -62135596800
	maxUnixSec  = 253402300799
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// column is a table column as the record codec needs it.
type column struct {
	name    string
	typ     *dataType
	comment string
	notNull bool
}

// fieldSpan locates one non-NULL field of the current record.
type fieldSpan struct {
	col        int // 0-based column index
	start, end int // value wire bytes (after the key) in the decoded buffer
	crcStart   int // CRC bytes of the value in decoder.scratch (after the 4 index bytes)
	crcEnd     int
}

// decodeError describes a malformed stream precisely.
type decodeError struct {
	record int64 // 0-based record number, -1 for the trailer
	column string
	offset int
	msg    string
}

func (e *decodeError) Error() string {
	var sb strings.Builder
	if e.record >= 0 {
		fmt.Fprintf(&sb, "record %d", e.record)
		if e.column != "" {
			fmt.Fprintf(&sb, ", column %s", e.column)
		}
	} else {
		sb.WriteString("stream trailer")
	}
	fmt.Fprintf(&sb, " (byte offset %d): %s", e.offset, e.msg)
	return sb.String()
}

// decoder validates record streams against a column list. It is reusable
// but not safe for concurrent use.
type decoder struct {
	cols    []column
	scratch []byte
	fields  []fieldSpan
	seen    []int64 // record number + 1 that last set each column
	render  *strings.Builder

	skipNotNull bool // stored records: columns added later are NULL
	le          [4]byte

	// state of the current decode call
	buf    []byte
	record int64
	col    int
}

func newDecoder(cols []column) *decoder {
	return &decoder{cols: cols, seen: make([]int64, len(cols))}
}

// decode validates buf as one complete stream and calls fn for each record
// with its raw bytes (fields through the record CRC) and its fields. The
// slices passed to fn are only valid during the call. It returns the number
// of records.
func (d *decoder) decode(buf []byte, fn func(raw []byte, fields []fieldSpan) error) (int64, error) {
	d.buf, d.record, d.col = buf, 0, -1
	for i := range d.seen {
		d.seen[i] = 0
	}
	var crcOfCrcs uint32
	pos := 0
	for {
		if pos >= len(buf) {
			d.col = -1
			return 0, d.errf(pos, "stream ends without the record count and checksum trailer")
		}
		key, n := binary.Uvarint(buf[pos:])
		if n > 0 && key>>3 == fieldMetaCount {
			return d.trailer(pos+n, crcOfCrcs)
		}
		next, crc, err := d.readRecord(pos)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(buf[pos:next], d.fields); err != nil {
				return 0, err
			}
		}
		binary.LittleEndian.PutUint32(d.le[:], crc)
		crcOfCrcs = crc32.Update(crcOfCrcs, castagnoli, d.le[:])
		d.record++
		pos = next
	}
}

// trailer checks the record count and stream checksum that follow the
// META_COUNT key at pos.
func (d *decoder) trailer(pos int, crcOfCrcs uint32) (int64, error) {
	count := d.record
	d.record, d.col = -1, -1
	v, n := binary.Uvarint(d.buf[pos:])
	if n <= 0 {
		return 0, d.errf(pos, "invalid record count varint")
	}
	pos += n
	if got := decodeZigZag(v); got != count {
		return 0, d.errf(pos, "record count mismatch: trailer says %d, stream holds %d", got, count)
	}
	key, n := binary.Uvarint(d.buf[pos:])
	if n <= 0 || key>>3 != fieldMetaChecksum {
		return 0, d.errf(pos, "checksum key expected after the record count")
	}
	pos += n
	v, n = binary.Uvarint(d.buf[pos:])
	if n <= 0 || v > math.MaxUint32 {
		return 0, d.errf(pos, "invalid stream checksum varint")
	}
	pos += n
	if uint32(v) != crcOfCrcs {
		return 0, d.errf(pos, "stream checksum mismatch: trailer says %#08x, records give %#08x", v, crcOfCrcs)
	}
	if pos != len(d.buf) {
		return 0, d.errf(pos, "%d unexpected bytes after the trailer", len(d.buf)-pos)
	}
	return count, nil
}

// decodeRecord decodes one stored record (fields through its CRC). Fields
// are left in d.fields and CRC bytes in d.scratch; NOT NULL is not checked.
func (d *decoder) decodeRecord(rec []byte) error {
	d.buf, d.col = rec, -1
	d.record++
	notNull := d.skipNotNull
	d.skipNotNull = true
	next, _, err := d.readRecord(0)
	d.skipNotNull = notNull
	if err != nil {
		return err
	}
	if next != len(rec) {
		return d.errf(next, "%d stray bytes after the record", len(rec)-next)
	}
	return nil
}

// readRecord reads fields from pos through END_RECORD and its CRC.
func (d *decoder) readRecord(pos int) (int, uint32, error) {
	d.scratch = d.scratch[:0]
	d.fields = d.fields[:0]
	for {
		if pos >= len(d.buf) {
			d.col = -1
			return 0, 0, d.errf(pos, "stream ends inside a record")
		}
		keyPos := pos
		key, n := binary.Uvarint(d.buf[pos:])
		if n <= 0 {
			return 0, 0, d.errf(pos, "invalid field key varint")
		}
		pos += n
		field, wt := key>>3, key&7
		switch field {
		case fieldEndRecord:
			d.col = -1
			if wt != 0 {
				return 0, 0, d.errf(keyPos, "END_RECORD key has wire type %d, want 0", wt)
			}
			v, n := binary.Uvarint(d.buf[pos:])
			if n <= 0 || v > math.MaxUint32 {
				return 0, 0, d.errf(pos, "invalid record CRC varint")
			}
			pos += n
			crc := crc32.Checksum(d.scratch, castagnoli)
			if uint32(v) != crc {
				return 0, 0, d.errf(pos, "record CRC mismatch: stream says %#08x, content gives %#08x", v, crc)
			}
			if !d.skipNotNull {
				for i, c := range d.cols {
					if c.notNull && d.seen[i] != d.record+1 {
						d.col = i
						return 0, 0, d.errf(pos, "NULL in a NOT NULL column")
					}
				}
			}
			return pos, crc, nil
		case fieldMetaCount, fieldMetaChecksum:
			d.col = -1
			return 0, 0, d.errf(keyPos, "stream trailer inside an unterminated record")
		default:
			if field < 1 || field > uint64(len(d.cols)) {
				return 0, 0, d.errf(keyPos, "field number %d outside the schema's %d columns", field, len(d.cols))
			}
			col := int(field - 1)
			d.col = col
			if d.seen[col] == d.record+1 {
				return 0, 0, d.errf(keyPos, "column appears twice in one record")
			}
			d.seen[col] = d.record + 1
			t := d.cols[col].typ
			if wt != t.wireType() {
				return 0, 0, d.errf(keyPos, "wire type %d does not match column type %s (want %d)", wt, t, t.wireType())
			}
			d.scratch = binary.LittleEndian.AppendUint32(d.scratch, uint32(field))
			crcStart := len(d.scratch)
			end, err := d.value(pos, t)
			if err != nil {
				return 0, 0, err
			}
			d.fields = append(d.fields, fieldSpan{col: col, start: pos, end: end, crcStart: crcStart, crcEnd: len(d.scratch)})
			pos = end
		}
	}
}

func (d *decoder) errf(offset int, format string, args ...any) error {
	e := &decodeError{record: d.record, offset: offset, msg: fmt.Sprintf(format, args...)}
	if d.col >= 0 && d.col < len(d.cols) {
		e.column = fmt.Sprintf("%d (%s %s)", d.col+1, d.cols[d.col].name, d.cols[d.col].typ)
	}
	return e
}

func decodeZigZag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

func encodeZigZag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func (d *decoder) uvarint(pos int) (uint64, int, error) {
	if pos >= len(d.buf) {
		return 0, 0, d.errf(pos, "value truncated")
	}
	v, n := binary.Uvarint(d.buf[pos:])
	if n <= 0 {
		return 0, 0, d.errf(pos, "invalid varint")
	}
	return v, pos + n, nil
}

func (d *decoder) scratchInt64(v int64) {
	d.scratch = binary.LittleEndian.AppendUint64(d.scratch, uint64(v))
}

// value validates one value of type t at pos (no key) and returns the
// position after it. CRC bytes go to d.scratch; a rendering to d.render if set.
func (d *decoder) value(pos int, t *dataType) (int, error) {
	switch t.kind {
	case kBigint, kInt, kSmallint, kTinyint:
		u, next, err := d.uvarint(pos)
		if err != nil {
			return 0, err
		}
		v := decodeZigZag(u)
		lo, hi := intRange(t.kind)
		if v < lo || v > hi {
			return 0, d.errf(pos, "value %d out of range for %s (%d..%d)", v, t, lo, hi)
		}
		d.scratchInt64(v)
		if d.render != nil {
			d.render.WriteString(strconv.FormatInt(v, 10))
		}
		return next, nil
	case kBoolean:
		u, next, err := d.uvarint(pos)
		if err != nil {
			return 0, err
		}
		if u > 1 {
			return 0, d.errf(pos, "BOOLEAN value %d is not 0 or 1", u)
		}
		d.scratch = append(d.scratch, byte(u))
		if d.render != nil {
			d.render.WriteString(strconv.FormatBool(u == 1))
		}
		return next, nil
	case kDouble:
		if pos+8 > len(d.buf) {
			return 0, d.errf(pos, "DOUBLE truncated")
		}
		d.scratch = append(d.scratch, d.buf[pos:pos+8]...)
		if d.render != nil {
			f := math.Float64frombits(binary.LittleEndian.Uint64(d.buf[pos:]))
			d.render.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
		return pos + 8, nil
	case kFloat:
		if pos+4 > len(d.buf) {
			return 0, d.errf(pos, "FLOAT truncated")
		}
		d.scratch = append(d.scratch, d.buf[pos:pos+4]...)
		if d.render != nil {
			f := math.Float32frombits(binary.LittleEndian.Uint32(d.buf[pos:]))
			d.render.WriteString(strconv.FormatFloat(float64(f), 'g', -1, 32))
		}
		return pos + 4, nil
	case kString, kVarchar, kChar, kBinary, kDecimal, kJSON:
		n, start, err := d.uvarint(pos)
		if err != nil {
			return 0, err
		}
		if n > maxFieldBytes {
			return 0, d.errf(pos, "value of %d bytes exceeds the %d byte field limit", n, maxFieldBytes)
		}
		end := start + int(n)
		if end > len(d.buf) || end < start {
			return 0, d.errf(pos, "value length %d runs past the end of the stream", n)
		}
		b := d.buf[start:end]
		if err := d.checkBytes(pos, t, b); err != nil {
			return 0, err
		}
		d.scratch = append(d.scratch, b...)
		if d.render != nil {
			switch t.kind {
			case kBinary:
				d.render.WriteString("0x" + hex.EncodeToString(b))
			case kDecimal:
				d.render.Write(b)
			default:
				d.render.WriteString(strconv.Quote(string(b)))
			}
		}
		return end, nil
	case kDate:
		u, next, err := d.uvarint(pos)
		if err != nil {
			return 0, err
		}
		v := decodeZigZag(u)
		if v < minDateDays || v > maxDateDays {
			return 0, d.errf(pos, "DATE %d days since 1970-01-01 is outside 0001-01-01..9999-12-31", v)
		}
		d.scratchInt64(v)
		if d.render != nil {
			d.render.WriteString(time.Unix(v*86400, 0).UTC().Format("2006-01-02"))
		}
		return next, nil
	case kDatetime:
		u, next, err := d.uvarint(pos)
		if err != nil {
			return 0, err
		}
		v := decodeZigZag(u)
		if v < minUnixSec*1000 || v > maxUnixSec*1000+999 {
			return 0, d.errf(pos, "DATETIME %d ms since the epoch is outside years 1..9999", v)
		}
		d.scratchInt64(v)
		if d.render != nil {
			d.render.WriteString(time.UnixMilli(v).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		return next, nil
	case kTimestamp, kTimestampNtz:
		u, next, err := d.uvarint(pos)
		if err != nil {
			return 0, err
		}
		sec := decodeZigZag(u)
		u, next, err = d.uvarint(next)
		if err != nil {
			return 0, err
		}
		nanos := int32(decodeZigZag(u & math.MaxUint32))
		if sec < minUnixSec || sec > maxUnixSec {
			return 0, d.errf(pos, "%s seconds %d outside years 1..9999", t, sec)
		}
		if nanos < 0 || nanos > 999999999 {
			return 0, d.errf(pos, "%s nanoseconds %d outside 0..999999999", t, nanos)
		}
		d.scratchInt64(sec)
		d.scratch = binary.LittleEndian.AppendUint32(d.scratch, uint32(nanos))
		if d.render != nil {
			d.render.WriteString(time.Unix(sec, int64(nanos)).UTC().Format(time.RFC3339Nano))
		}
		return next, nil
	case kArray:
		return d.arrayCounted(pos, t.elem)
	case kMap:
		if d.render != nil {
			d.render.WriteString("map")
		}
		next, err := d.arrayCounted(pos, t.key)
		if err != nil {
			return 0, err
		}
		keys, _, _ := d.uvarint(pos)
		vals, _, err := d.uvarint(next)
		if err != nil {
			return 0, err
		}
		if keys != vals {
			return 0, d.errf(next, "MAP has %d keys but %d values", keys, vals)
		}
		if d.render != nil {
			d.render.WriteString("->")
		}
		return d.arrayCounted(next, t.val)
	case kStruct:
		if d.render != nil {
			d.render.WriteByte('{')
		}
		for i, f := range t.fields {
			if d.render != nil {
				if i > 0 {
					d.render.WriteString(", ")
				}
				d.render.WriteString(f.name + ": ")
			}
			var err error
			if pos, err = d.nullable(pos, f.typ); err != nil {
				return 0, err
			}
		}
		if d.render != nil {
			d.render.WriteByte('}')
		}
		return pos, nil
	}
	return 0, d.errf(pos, "unsupported column type %s", t)
}

// arrayCounted reads varint count, then count × (null flag, value).
func (d *decoder) arrayCounted(pos int, elem *dataType) (int, error) {
	count, next, err := d.uvarint(pos)
	if err != nil {
		return 0, err
	}
	if count > math.MaxUint32 || count > uint64(len(d.buf)-next) {
		return 0, d.errf(pos, "element count %d exceeds the remaining stream", count)
	}
	if d.render != nil {
		d.render.WriteByte('[')
	}
	for i := uint64(0); i < count; i++ {
		if d.render != nil && i > 0 {
			d.render.WriteString(", ")
		}
		if next, err = d.nullable(next, elem); err != nil {
			return 0, err
		}
	}
	if d.render != nil {
		d.render.WriteByte(']')
	}
	return next, nil
}

// nullable reads a null flag (1 = NULL) and, if not NULL, a value.
func (d *decoder) nullable(pos int, t *dataType) (int, error) {
	flag, next, err := d.uvarint(pos)
	if err != nil {
		return 0, err
	}
	switch flag {
	case 1:
		if d.render != nil {
			d.render.WriteString("NULL")
		}
		return next, nil
	case 0:
		return d.value(next, t)
	default:
		return 0, d.errf(pos, "null flag %d is not 0 or 1", flag)
	}
}

func intRange(k kind) (int64, int64) {
	switch k {
	case kTinyint:
		return math.MinInt8, math.MaxInt8
	case kSmallint:
		return math.MinInt16, math.MaxInt16
	case kInt:
		return math.MinInt32, math.MaxInt32
	default:
		// MaxCompute's BIGINT excludes -2^63.
		return math.MinInt64 + 1, math.MaxInt64
	}
}

func (d *decoder) checkBytes(pos int, t *dataType, b []byte) error {
	switch t.kind {
	case kVarchar, kChar:
		if !utf8.Valid(b) {
			return d.errf(pos, "%s value is not valid UTF-8", t)
		}
		if n := utf8.RuneCount(b); n > t.length {
			return d.errf(pos, "%s value has %d characters", t, n)
		}
	case kJSON:
		if !json.Valid(b) {
			return d.errf(pos, "JSON value %.40q is not valid JSON", b)
		}
	case kDecimal:
		if err := checkDecimal(b, t.precision, t.scale); err != nil {
			return d.errf(pos, "%v", err)
		}
	}
	return nil
}

// checkDecimal accepts plain decimal text ([+-]digits[.digits]) that fits
// DECIMAL(p,s) without rounding. Real MaxCompute rounds extra fraction
// digits; the emulator refuses them so a sink's formatting bug is visible.
// It also catches the SDK's data.NewDecimalFromValue bug, which sends the
// literal text "__ParseFromValue__".
func checkDecimal(b []byte, p, scale int) error {
	body := b
	if len(body) > 0 && (body[0] == '-' || body[0] == '+') {
		body = body[1:]
	}
	intPart, frac := body, []byte(nil)
	if i := bytes.IndexByte(body, '.'); i >= 0 {
		intPart, frac = body[:i], body[i+1:]
	}
	if len(intPart) == 0 && len(frac) == 0 {
		return fmt.Errorf("DECIMAL(%d,%d) value %q is not a decimal number", p, scale, b)
	}
	for _, part := range [2][]byte{intPart, frac} {
		for _, c := range part {
			if c < '0' || c > '9' {
				return fmt.Errorf("DECIMAL(%d,%d) value %q is not a decimal number", p, scale, b)
			}
		}
	}
	intDigits := len(bytes.TrimLeft(intPart, "0"))
	if intDigits > p-scale {
		return fmt.Errorf("DECIMAL(%d,%d) value %q has %d integer digits, at most %d fit", p, scale, b, intDigits, p-scale)
	}
	if fd := len(bytes.TrimRight(frac, "0")); fd > scale {
		return fmt.Errorf("DECIMAL(%d,%d) value %q has %d fraction digits, at most %d fit (the emulator does not round)", p, scale, b, fd, scale)
	}
	return nil
}

// renderRecord decodes raw (one record, as passed to decode's callback) and
// renders it as "name=value ..." text; NULL columns are omitted.
func renderStream(cols []column, buf []byte) ([]string, error) {
	d := newDecoder(cols)
	var out []string
	var sb strings.Builder
	_, err := d.decode(buf, func(raw []byte, fields []fieldSpan) error {
		// Re-decode each field value with rendering switched on.
		sb.Reset()
		r := newDecoder(cols)
		r.buf = buf
		r.render = &sb
		for i, f := range fields {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(cols[f.col].name + "=")
			if _, err := r.value(f.start, cols[f.col].typ); err != nil {
				return err
			}
		}
		out = append(out, sb.String())
		return nil
	})
	return out, err
}

// streamEncoder writes a record stream (download responses).
type streamEncoder struct {
	buf       []byte
	crcBuf    []byte
	crcOfCrcs uint32
	count     int64
}

// addRecord appends one record made of the given source fields, numbering
// output field j (0-based) as j+1. src[j] < 0 means NULL. body and scratch
// are the buffers the fields' spans point into.
func (e *streamEncoder) addRecord(cols []column, outCols []int, fieldAt []int, fields []fieldSpan, body, scratch []byte) {
	e.crcBuf = e.crcBuf[:0]
	for j, c := range outCols {
		fi := fieldAt[c]
		if fi < 0 {
			continue
		}
		f := fields[fi]
		e.buf = binary.AppendUvarint(e.buf, uint64(j+1)<<3|cols[c].typ.wireType())
		e.buf = append(e.buf, body[f.start:f.end]...)
		e.crcBuf = binary.LittleEndian.AppendUint32(e.crcBuf, uint32(j+1))
		e.crcBuf = append(e.crcBuf, scratch[f.crcStart:f.crcEnd]...)
	}
	crc := crc32.Checksum(e.crcBuf, castagnoli)
	e.buf = binary.AppendUvarint(e.buf, fieldEndRecord<<3)
	e.buf = binary.AppendUvarint(e.buf, uint64(crc))
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], crc)
	e.crcOfCrcs = crc32.Update(e.crcOfCrcs, castagnoli, le[:])
	e.count++
}

// finish appends the trailer.
func (e *streamEncoder) finish() {
	e.buf = binary.AppendUvarint(e.buf, fieldMetaCount<<3)
	e.buf = binary.AppendUvarint(e.buf, encodeZigZag(e.count))
	e.buf = binary.AppendUvarint(e.buf, fieldMetaChecksum<<3)
	e.buf = binary.AppendUvarint(e.buf, uint64(e.crcOfCrcs))
}
