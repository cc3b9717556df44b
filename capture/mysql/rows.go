package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// Zero-date policies (Config.ZeroDates).
const (
	ZeroDatesKeep  = "keep"  // deliver zero dates as they are (Date/DateTime with zero parts, TIMESTAMP as instant 0)
	ZeroDatesNull  = "null"  // deliver NULL
	ZeroDatesError = "error" // refuse the row with an error naming table, column and position
)

// errZeroDate is returned for zero dates under ZeroDatesError.
var errZeroDate = errors.New("zero date (source.mysql.zero_dates: error)")

// colDec says how one binlog column becomes an event.Value. It is built
// from the column's binlog type and metadata (table-map event) and the
// column of the schema in force (names, signedness, character set, members).
type colDec struct {
	col  *event.Column
	tp   byte   // binlog type; for MYSQL_TYPE_STRING the real type from the metadata
	meta uint16 // binlog metadata
	// length is the maximum byte length of CHAR/BINARY (decides the 1- or
	// 2-byte length prefix) and the pad length of BINARY(n).
	length int
	// text is the decoder for text in a non-UTF-8 character set (nil: as is).
	text   mysqldialect.TextDecoder
	binary bool // bytes, not text
	json   bool // text holding JSON (MariaDB JSON is LONGTEXT)
	// jsonBinary: MySQL's binary JSON; its value comes from go-mysql.
	jsonBinary bool
	// fbt: MariaDB UUID/INET4/INET6, delivered as the server's text form.
	fbt fbtKind
}

// rowDecoder decodes the row images of one table's rows events.
type rowDecoder struct {
	table *event.Table
	cols  []colDec
	zero  string
	// jsonBinary is set when some column is MySQL binary JSON: such events
	// are also decoded by go-mysql, whose values those columns take.
	jsonBinary bool
}

// image decodes one row image from data, for the columns present in
// bitmap, into out (len(out) == number of columns). gm, when not nil, is
// go-mysql's decoding of the same image (for MySQL binary JSON). It
// returns the bytes consumed.
func (d *rowDecoder) image(data []byte, bitmap []byte, out []event.Value, gm []any) (int, error) {
	n := len(d.cols)
	present := 0
	for i := 0; i < n; i++ {
		if bitmap[i>>3]&(1<<(uint(i)&7)) != 0 {
			present++
		}
	}
	if present != n {
		for i := 0; i < n; i++ {
			if bitmap[i>>3]&(1<<(uint(i)&7)) == 0 {
				return 0, fmt.Errorf("column %s is missing from the row image: binlog_row_image is not FULL (set binlog_row_image=FULL)", d.cols[i].col.Name)
			}
		}
	}
	nullLen := (present + 7) / 8
	if len(data) < nullLen {
		return 0, errShort
	}
	nulls := data[:nullLen]
	pos := nullLen
	for i := range d.cols {
		if nulls[i>>3]&(1<<(uint(i)&7)) != 0 {
			out[i] = event.Null
			continue
		}
		c := &d.cols[i]
		if c.jsonBinary {
			m, err := jsonBinaryLen(data[pos:], c.meta)
			if err != nil {
				return 0, fmt.Errorf("column %s: %w", c.col.Name, err)
			}
			pos += m
			if gm == nil || i >= len(gm) {
				return 0, fmt.Errorf("column %s: binary JSON without its go-mysql decoding", c.col.Name)
			}
			v, err := goMySQLJSON(gm[i])
			if err != nil {
				return 0, fmt.Errorf("column %s: %w", c.col.Name, err)
			}
			out[i] = v
			continue
		}
		v, m, err := d.value(c, data[pos:])
		if err != nil {
			return 0, fmt.Errorf("column %s (%s): %w", c.col.Name, c.col.RawType, err)
		}
		out[i] = v
		pos += m
	}
	return pos, nil
}

var errShort = errors.New("row image is shorter than its columns (corrupt event)")

func goMySQLJSON(v any) (event.Value, error) {
	switch s := v.(type) {
	case nil:
		return event.Null, nil
	case string:
		if s == "" {
			return event.JSON("null"), nil
		}
		return event.JSON(mysqlJSONText(s)), nil
	case []byte:
		if len(s) == 0 {
			return event.JSON("null"), nil
		}
		return event.JSON(mysqlJSONText(string(s))), nil
	}
	return event.Null, fmt.Errorf("unexpected JSON value %T (partial JSON updates are not supported: set binlog_row_value_options='')", v)
}

// mysqlJSONText renders JSON text the way MySQL's SELECT does: ", " and
// ": " between tokens, exponents without '+' or leading zeros. go-mysql's
// binary JSON decoding (compact) and the snapshot's text (MySQL's) both go
// through it, so both give the same text for the same document.
func mysqlJSONText(s string) string {
	out := make([]byte, 0, len(s)+len(s)/8)
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			out = append(out, c)
			if c == '\\' && i+1 < len(s) {
				i++
				out = append(out, s[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
			out = append(out, c)
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			// whitespace is re-made below
		case c == ',' || c == ':':
			out = append(out, c, ' ')
		case c == 'e' || c == 'E':
			// An exponent (only numbers have e/E outside strings, besides
			// true/false/null).
			if len(out) > 0 && (out[len(out)-1] >= '0' && out[len(out)-1] <= '9' || out[len(out)-1] == '.') {
				out = append(out, 'e')
				j := i + 1
				if j < len(s) && (s[j] == '+' || s[j] == '-') {
					if s[j] == '-' {
						out = append(out, '-')
					}
					j++
				}
				for j < len(s)-1 && s[j] == '0' && s[j+1] >= '0' && s[j+1] <= '9' {
					j++
				}
				i = j - 1
				continue
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

func jsonBinaryLen(b []byte, meta uint16) (int, error) {
	if int(meta) > len(b) || meta == 0 || meta > 4 {
		return 0, errShort
	}
	n := int(fixedLE(b[:meta]))
	if int(meta)+n > len(b) {
		return 0, errShort
	}
	return int(meta) + n, nil
}

func fixedLE(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func need(b []byte, n int) error {
	if len(b) < n {
		return errShort
	}
	return nil
}

// value decodes one non-NULL value; see MySQL's log_event_print_value and
// Field::unpack for the formats.
func (d *rowDecoder) value(c *colDec, b []byte) (event.Value, int, error) {
	switch c.tp {
	case gomysql.MYSQL_TYPE_TINY:
		if err := need(b, 1); err != nil {
			return event.Null, 0, err
		}
		if c.col.Unsigned {
			return event.Uint(uint64(b[0])), 1, nil
		}
		return event.Int(int64(int8(b[0]))), 1, nil
	case gomysql.MYSQL_TYPE_SHORT:
		if err := need(b, 2); err != nil {
			return event.Null, 0, err
		}
		u := binary.LittleEndian.Uint16(b)
		if c.col.Unsigned {
			return event.Uint(uint64(u)), 2, nil
		}
		return event.Int(int64(int16(u))), 2, nil
	case gomysql.MYSQL_TYPE_INT24:
		if err := need(b, 3); err != nil {
			return event.Null, 0, err
		}
		u := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		if c.col.Unsigned {
			return event.Uint(uint64(u)), 3, nil
		}
		return event.Int(int64(int32(u<<8) >> 8)), 3, nil
	case gomysql.MYSQL_TYPE_LONG:
		if err := need(b, 4); err != nil {
			return event.Null, 0, err
		}
		u := binary.LittleEndian.Uint32(b)
		if c.col.Unsigned {
			return event.Uint(uint64(u)), 4, nil
		}
		return event.Int(int64(int32(u))), 4, nil
	case gomysql.MYSQL_TYPE_LONGLONG:
		if err := need(b, 8); err != nil {
			return event.Null, 0, err
		}
		u := binary.LittleEndian.Uint64(b)
		if c.col.Unsigned {
			return event.Uint(u), 8, nil
		}
		return event.Int(int64(u)), 8, nil
	case gomysql.MYSQL_TYPE_NEWDECIMAL:
		s, n, err := decodeDecimal(b, int(c.meta>>8), int(c.meta&0xff))
		if err != nil {
			return event.Null, 0, err
		}
		return event.Decimal(s), n, nil
	case gomysql.MYSQL_TYPE_FLOAT:
		if err := need(b, 4); err != nil {
			return event.Null, 0, err
		}
		return event.Float32(math.Float32frombits(binary.LittleEndian.Uint32(b))), 4, nil
	case gomysql.MYSQL_TYPE_DOUBLE:
		if err := need(b, 8); err != nil {
			return event.Null, 0, err
		}
		return event.Float64(math.Float64frombits(binary.LittleEndian.Uint64(b))), 8, nil
	case gomysql.MYSQL_TYPE_BIT:
		nbits := int(c.meta>>8)*8 + int(c.meta&0xff)
		n := (nbits + 7) / 8
		if err := need(b, n); err != nil {
			return event.Null, 0, err
		}
		var v uint64
		for _, x := range b[:n] {
			v = v<<8 | uint64(x)
		}
		return event.Bits(v), n, nil
	case gomysql.MYSQL_TYPE_YEAR:
		if err := need(b, 1); err != nil {
			return event.Null, 0, err
		}
		if b[0] == 0 {
			return event.Year(0), 1, nil
		}
		return event.Year(1900 + int(b[0])), 1, nil
	case gomysql.MYSQL_TYPE_DATE, gomysql.MYSQL_TYPE_NEWDATE:
		if err := need(b, 3); err != nil {
			return event.Null, 0, err
		}
		u := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		v, err := d.civil(c, int(u>>9), int(u>>5&15), int(u&31), 0, 0, 0, 0, true)
		return v, 3, err
	case gomysql.MYSQL_TYPE_DATETIME2:
		fn := fracBytes(c.meta)
		if err := need(b, 5+fn); err != nil {
			return event.Null, 0, err
		}
		ip := uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
		ip -= 0x8000000000
		ymd, hms := ip>>17, ip&(1<<17-1)
		ym := ymd >> 5
		us := fracMicros(b[5:5+fn], c.meta)
		v, err := d.civil(c, int(ym/13), int(ym%13), int(ymd&31), int(hms>>12), int(hms>>6&63), int(hms&63), us, false)
		return v, 5 + fn, err
	case gomysql.MYSQL_TYPE_DATETIME:
		if err := need(b, 8); err != nil {
			return event.Null, 0, err
		}
		u := binary.LittleEndian.Uint64(b)
		dpart, tpart := u/1000000, u%1000000
		v, err := d.civil(c, int(dpart/10000), int(dpart/100%100), int(dpart%100), int(tpart/10000), int(tpart/100%100), int(tpart%100), 0, false)
		return v, 8, err
	case gomysql.MYSQL_TYPE_TIMESTAMP2:
		fn := fracBytes(c.meta)
		if err := need(b, 4+fn); err != nil {
			return event.Null, 0, err
		}
		sec := int64(binary.BigEndian.Uint32(b))
		us := fracMicros(b[4:4+fn], c.meta)
		v, err := d.timestamp(sec*1e6 + int64(us))
		return v, 4 + fn, err
	case gomysql.MYSQL_TYPE_TIMESTAMP:
		if err := need(b, 4); err != nil {
			return event.Null, 0, err
		}
		v, err := d.timestamp(int64(binary.LittleEndian.Uint32(b)) * 1e6)
		return v, 4, err
	case gomysql.MYSQL_TYPE_TIME2:
		fn := fracBytes(c.meta)
		if err := need(b, 3+fn); err != nil {
			return event.Null, 0, err
		}
		return event.TimeMicros(decodeTime2(b, c.meta)), 3 + fn, nil
	case gomysql.MYSQL_TYPE_TIME:
		if err := need(b, 3); err != nil {
			return event.Null, 0, err
		}
		u := int32((uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16)<<8) >> 8
		neg := u < 0
		if neg {
			u = -u
		}
		us := (int64(u/10000)*3600 + int64(u/100%100)*60 + int64(u%100)) * 1e6
		if neg {
			us = -us
		}
		return event.TimeMicros(us), 3, nil
	case gomysql.MYSQL_TYPE_ENUM:
		size := int(c.meta & 0xff)
		if err := need(b, size); err != nil {
			return event.Null, 0, err
		}
		var idx int
		switch size {
		case 1:
			idx = int(b[0])
		case 2:
			idx = int(binary.LittleEndian.Uint16(b))
		default:
			return event.Null, 0, fmt.Errorf("ENUM with pack length %d", size)
		}
		return enumValue(c.col, idx), size, nil
	case gomysql.MYSQL_TYPE_SET:
		size := int(c.meta & 0xff)
		if size < 1 || size > 8 {
			return event.Null, 0, fmt.Errorf("SET with pack length %d", size)
		}
		if err := need(b, size); err != nil {
			return event.Null, 0, err
		}
		return setValue(c.col, fixedLE(b[:size])), size, nil
	case gomysql.MYSQL_TYPE_VARCHAR, gomysql.MYSQL_TYPE_VAR_STRING:
		var l, h int
		if c.meta < 256 {
			if err := need(b, 1); err != nil {
				return event.Null, 0, err
			}
			l, h = int(b[0]), 1
		} else {
			if err := need(b, 2); err != nil {
				return event.Null, 0, err
			}
			l, h = int(binary.LittleEndian.Uint16(b)), 2
		}
		if err := need(b, h+l); err != nil {
			return event.Null, 0, err
		}
		return c.bytesValue(b[h:h+l], false), h + l, nil
	case gomysql.MYSQL_TYPE_STRING:
		var l, h int
		if c.length < 256 {
			if err := need(b, 1); err != nil {
				return event.Null, 0, err
			}
			l, h = int(b[0]), 1
		} else {
			if err := need(b, 2); err != nil {
				return event.Null, 0, err
			}
			l, h = int(binary.LittleEndian.Uint16(b)), 2
		}
		if err := need(b, h+l); err != nil {
			return event.Null, 0, err
		}
		if c.fbt != fbtNone {
			s, ok := c.fbt.text(b[h : h+l])
			if !ok {
				return event.Null, 0, fmt.Errorf("%d bytes for a %d-byte %s", l, c.fbt.size(), c.col.RawType)
			}
			return event.String(s), h + l, nil
		}
		return c.bytesValue(b[h:h+l], true), h + l, nil
	case gomysql.MYSQL_TYPE_BLOB, gomysql.MYSQL_TYPE_GEOMETRY, gomysql.MYSQL_TYPE_VECTOR, gomysql.MYSQL_TYPE_JSON:
		lb := int(c.meta)
		if lb < 1 || lb > 4 {
			return event.Null, 0, fmt.Errorf("blob with %d length bytes", lb)
		}
		if err := need(b, lb); err != nil {
			return event.Null, 0, err
		}
		l := int(fixedLE(b[:lb]))
		if err := need(b, lb+l); err != nil {
			return event.Null, 0, err
		}
		return c.bytesValue(b[lb:lb+l], false), lb + l, nil
	}
	return event.Null, 0, fmt.Errorf("unsupported binlog column type %d", c.tp)
}

// bytesValue makes the value of a string-like column from its stored bytes.
func (c *colDec) bytesValue(b []byte, fixed bool) event.Value {
	if c.binary {
		if fixed && c.length > len(b) {
			// The binlog strips the zero padding of BINARY(n); SELECT returns it.
			p := make([]byte, c.length)
			copy(p, b)
			return event.Bytes(p)
		}
		return event.BytesString(mysqldialect.AliasString(b))
	}
	var s string
	if c.text != nil {
		s = c.text(b)
	} else {
		s = mysqldialect.AliasString(b)
	}
	if c.json {
		return event.JSON(s)
	}
	return event.String(s)
}

func enumValue(c *event.Column, idx int) event.Value {
	name := ""
	if idx >= 1 && idx <= len(c.Elems) {
		name = c.Elems[idx-1]
	}
	return event.Enum(idx, name)
}

func setValue(c *event.Column, mask uint64) event.Value {
	if mask == 0 {
		return event.Set(0, "")
	}
	n := 0
	for b := 0; b < len(c.Elems) && b < 64; b++ {
		if mask&(1<<b) != 0 {
			n += len(c.Elems[b]) + 1
		}
	}
	buf := make([]byte, 0, n)
	for b := 0; b < len(c.Elems) && b < 64; b++ {
		if mask&(1<<b) != 0 {
			if len(buf) > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, c.Elems[b]...)
		}
	}
	return event.Set(mask, string(buf))
}

// civil applies the zero-date policy to a DATE/DATETIME value.
func (d *rowDecoder) civil(c *colDec, y, mo, day, h, mi, s, us int, date bool) (event.Value, error) {
	if mo == 0 || day == 0 || y == 0 {
		switch d.zero {
		case ZeroDatesNull:
			return event.Null, nil
		case ZeroDatesError:
			return event.Null, errZeroDate
		}
	}
	if date {
		return event.Date(y, mo, day), nil
	}
	return event.DateTime(y, mo, day, h, mi, s, us), nil
}

// timestamp applies the zero-date policy to a TIMESTAMP value: the zero
// TIMESTAMP is stored as second 0.
func (d *rowDecoder) timestamp(us int64) (event.Value, error) {
	if us == 0 {
		switch d.zero {
		case ZeroDatesNull:
			return event.Null, nil
		case ZeroDatesError:
			return event.Null, errZeroDate
		}
	}
	return event.TimestampMicros(us), nil
}

func fracBytes(fsp uint16) int { return int(fsp+1) / 2 }

func fracMicros(b []byte, fsp uint16) int {
	switch len(b) {
	case 1:
		return int(b[0]) * 10000
	case 2:
		return int(binary.BigEndian.Uint16(b)) * 100
	case 3:
		return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	}
	return 0
}

// decodeTime2 decodes MySQL 5.6+ TIME(fsp) (my_time_packed_from_binary) into
// signed microseconds.
func decodeTime2(b []byte, fsp uint16) int64 {
	const intOfs = 0x800000
	var packed int64
	switch fsp {
	case 1, 2:
		ip := int64(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2])) - intOfs
		frac := int64(b[3])
		if ip < 0 && frac != 0 {
			ip++
			frac -= 0x100
		}
		packed = ip<<24 + frac*10000
	case 3, 4:
		ip := int64(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2])) - intOfs
		frac := int64(binary.BigEndian.Uint16(b[3:5]))
		if ip < 0 && frac != 0 {
			ip++
			frac -= 0x10000
		}
		packed = ip<<24 + frac*100
	case 5, 6:
		v := int64(b[0])<<40 | int64(b[1])<<32 | int64(b[2])<<24 | int64(b[3])<<16 | int64(b[4])<<8 | int64(b[5])
		packed = v - 0x800000000000
	default:
		ip := int64(uint32(b[0])<<16|uint32(b[1])<<8|uint32(b[2])) - intOfs
		packed = ip << 24
	}
	neg := packed < 0
	if neg {
		packed = -packed
	}
	hms := packed >> 24
	frac := packed & (1<<24 - 1)
	h := (hms >> 12) & (1<<10 - 1)
	m := (hms >> 6) & 63
	s := hms & 63
	us := (h*3600+m*60+s)*1e6 + frac
	if neg {
		us = -us
	}
	return us
}

var dig2bytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decimalSize is the stored size of DECIMAL(precision, scale).
func decimalSize(precision, scale int) int {
	intg := precision - scale
	return intg/9*4 + dig2bytes[intg%9] + scale/9*4 + dig2bytes[scale%9]
}

// decodeDecimal decodes MySQL's binary DECIMAL into the text MySQL prints
// for it: an optional '-', the integer digits without leading zeros ("0"
// when none), and exactly scale fractional digits. No float is involved.
func decodeDecimal(b []byte, precision, scale int) (string, int, error) {
	if precision < 1 || precision > 65 || scale > 30 || scale > precision {
		return "", 0, fmt.Errorf("DECIMAL(%d,%d) metadata out of range", precision, scale)
	}
	size := decimalSize(precision, scale)
	if len(b) < size {
		return "", 0, errShort
	}
	var stack [40]byte
	raw := stack[:size]
	if size > len(stack) {
		raw = make([]byte, size)
	}
	copy(raw, b[:size])
	neg := raw[0]&0x80 == 0
	raw[0] ^= 0x80
	if neg {
		for i := range raw {
			raw[i] ^= 0xff
		}
	}
	intg := precision - scale
	intg0, intg0x := intg/9, intg%9
	frac0, frac0x := scale/9, scale%9
	var digits [96]byte
	dl := 0
	p := 0
	readGroup := func(nbytes, ndigits int) {
		var v uint32
		for i := 0; i < nbytes; i++ {
			v = v<<8 | uint32(raw[p+i])
		}
		p += nbytes
		for i := ndigits - 1; i >= 0; i-- {
			digits[dl+i] = byte('0' + v%10)
			v /= 10
		}
		dl += ndigits
	}
	if intg0x > 0 {
		readGroup(dig2bytes[intg0x], intg0x)
	}
	for i := 0; i < intg0; i++ {
		readGroup(4, 9)
	}
	intDigits := dl
	for i := 0; i < frac0; i++ {
		readGroup(4, 9)
	}
	if frac0x > 0 {
		readGroup(dig2bytes[frac0x], frac0x)
	}
	out := make([]byte, 0, dl+3)
	if neg {
		out = append(out, '-')
	}
	start := 0
	for start < intDigits && digits[start] == '0' {
		start++
	}
	if start == intDigits {
		out = append(out, '0')
	} else {
		out = append(out, digits[start:intDigits]...)
	}
	if scale > 0 {
		out = append(out, '.')
		out = append(out, digits[intDigits:dl]...)
	}
	if neg && isZeroDecimal(out[1:]) {
		out = out[1:]
	}
	return string(out), size, nil
}

func isZeroDecimal(s []byte) bool {
	for _, c := range s {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// validDecimal checks decimal text (snapshot path).
func validDecimal(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	dot := false
	digits := 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
