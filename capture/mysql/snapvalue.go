package mysql

import (
	"database/sql/driver"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/mysqldialect"
)

// snapCol says how one snapshot column is selected and converted. The
// snapshot reads with the binary protocol (exact floats),
// character_set_results=binary (text in the column's own character set,
// converted by the same decoder as the binlog's) and time_zone=+00:00
// (TIMESTAMP as UTC); ENUM, SET and BIT are selected as numbers (col+0),
// like the binlog stores them. So both paths give identical values.
type snapCol struct {
	col  *event.Column
	text mysqldialect.TextDecoder
	// mysqlJSON: a MySQL JSON column (binary JSON in the binlog), whose text
	// is normalized like the binlog's.
	mysqlJSON bool
}

func (c *snapCol) selectExpr() string {
	q := quoteName(c.col.Name)
	switch c.col.Type {
	case event.TypeEnum, event.TypeSet, event.TypeBit:
		return q + "+0"
	}
	return q
}

func newSnapCols(t *event.Table, flavor string) ([]snapCol, error) {
	out := make([]snapCol, len(t.Columns))
	for i := range t.Columns {
		c := &t.Columns[i]
		out[i].col = c
		out[i].mysqlJSON = c.Type == event.TypeJSON && flavor == "mysql"
		switch c.Type {
		case event.TypeChar, event.TypeVarchar, event.TypeText, event.TypeEnum, event.TypeSet:
			dec, ok := mysqldialect.CharsetDecoder(c.Charset)
			if !ok {
				return nil, fmt.Errorf("column %s: character set %s is not supported", c.Name, c.Charset)
			}
			out[i].text = dec
		}
	}
	return out, nil
}

// snapValue converts one driver value. b-values alias the driver's buffer:
// everything kept is copied.
func snapValue(c *snapCol, v driver.Value, zero string) (event.Value, error) {
	if v == nil {
		return event.Null, nil
	}
	col := c.col
	bad := func() (event.Value, error) {
		return event.Null, fmt.Errorf("column %s (%s): unexpected snapshot value %T %v", col.Name, col.RawType, v, v)
	}
	switch col.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		switch x := v.(type) {
		case int64:
			if col.Unsigned {
				return event.Uint(uint64(x)), nil
			}
			return event.Int(x), nil
		case uint64:
			return event.Uint(x), nil
		case []byte:
			if col.Unsigned {
				u, err := strconv.ParseUint(string(x), 10, 64)
				if err != nil {
					return bad()
				}
				return event.Uint(u), nil
			}
			i, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return bad()
			}
			return event.Int(i), nil
		}
	case event.TypeYear:
		if x, ok := v.(int64); ok {
			return event.Year(int(x)), nil
		}
		if x, ok := v.([]byte); ok {
			n, err := strconv.Atoi(string(x))
			if err == nil {
				return event.Year(n), nil
			}
		}
	case event.TypeDecimal:
		if x, ok := v.([]byte); ok && validDecimal(string(x)) {
			s := string(x)
			if strings.HasPrefix(s, "-") && isZeroDecimal([]byte(s[1:])) {
				s = s[1:]
			}
			return event.Decimal(s), nil
		}
	case event.TypeFloat:
		switch x := v.(type) {
		case float32:
			return event.Float32(x), nil
		case float64:
			return event.Float32(float32(x)), nil
		}
	case event.TypeDouble:
		switch x := v.(type) {
		case float64:
			return event.Float64(x), nil
		case float32:
			return event.Float64(float64(x)), nil
		}
	case event.TypeBit, event.TypeSet:
		var u uint64
		switch x := v.(type) {
		case int64:
			u = uint64(x)
		case uint64:
			u = x
		case []byte:
			n, err := strconv.ParseUint(string(x), 10, 64)
			if err != nil {
				return bad()
			}
			u = n
		default:
			return bad()
		}
		if col.Type == event.TypeBit {
			return event.Bits(u), nil
		}
		return setValue(col, u), nil
	case event.TypeEnum:
		switch x := v.(type) {
		case int64:
			return enumValue(col, int(x)), nil
		case uint64:
			return enumValue(col, int(x)), nil
		case []byte:
			n, err := strconv.Atoi(string(x))
			if err == nil {
				return enumValue(col, n), nil
			}
		}
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		if x, ok := v.([]byte); ok {
			if c.text != nil {
				return event.String(c.text(x)), nil
			}
			return event.String(string(x)), nil
		}
	case event.TypeJSON:
		if x, ok := v.([]byte); ok {
			if len(x) == 0 {
				return event.JSON("null"), nil
			}
			if c.mysqlJSON {
				return event.JSON(mysqlJSONText(string(x))), nil
			}
			return event.JSON(string(x)), nil
		}
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector, event.TypeUnknown:
		if x, ok := v.([]byte); ok {
			return event.Bytes(x), nil
		}
	case event.TypeDate, event.TypeDateTime:
		if x, ok := v.([]byte); ok {
			if c, ok := civilText(col, x); ok {
				y, mo, d, h, mi, s, us := c.Y, c.Mo, c.D, c.H, c.Mi, c.S, c.Us
				if y == 0 || mo == 0 || d == 0 {
					switch zero {
					case ZeroDatesNull:
						return event.Null, nil
					case ZeroDatesError:
						return event.Null, fmt.Errorf("column %s: %w", col.Name, errZeroDate)
					}
				}
				if col.Type == event.TypeDate {
					return event.Date(y, mo, d), nil
				}
				return event.DateTime(y, mo, d, h, mi, s, us), nil
			}
		}
	case event.TypeTimestamp:
		if x, ok := v.([]byte); ok {
			if c, ok := civilText(col, x); ok {
				y, mo, d, h, mi, s, us := c.Y, c.Mo, c.D, c.H, c.Mi, c.S, c.Us
				var micros int64
				if y != 0 || mo != 0 || d != 0 {
					micros = time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC).UnixMicro()
				}
				if micros == 0 {
					switch zero {
					case ZeroDatesNull:
						return event.Null, nil
					case ZeroDatesError:
						return event.Null, fmt.Errorf("column %s: %w", col.Name, errZeroDate)
					}
				}
				return event.TimestampMicros(micros), nil
			}
		}
	case event.TypeTime:
		if x, ok := v.([]byte); ok {
			if us, err := mysqldialect.ParseTime(x); err == nil {
				return event.TimeMicros(us), nil
			}
		}
	}
	return bad()
}

// civilText parses the server's text of a DATE, DATETIME or TIMESTAMP.
func civilText(col *event.Column, b []byte) (mysqldialect.Civil, bool) {
	if col.Type == event.TypeDate {
		y, m, d, err := mysqldialect.ParseDate(b)
		return mysqldialect.Civil{Y: y, Mo: m, D: d}, err == nil
	}
	c, err := mysqldialect.ParseDateTime(b)
	return c, err == nil
}

// keyText renders a key value for the checkpoint (typed, exact).
func keyText(v event.Value) string {
	switch v.Kind() {
	case event.KindNull:
		return "n:"
	case event.KindInt:
		return "i:" + strconv.FormatInt(v.Int(), 10)
	case event.KindUint:
		return "u:" + strconv.FormatUint(v.Uint(), 10)
	case event.KindYear:
		return "y:" + strconv.FormatInt(v.Int(), 10)
	case event.KindBits:
		return "B:" + strconv.FormatUint(v.Uint(), 10)
	case event.KindEnum:
		return "e:" + strconv.FormatInt(v.Int(), 10) + ":" + v.Str()
	case event.KindSet:
		return "S:" + strconv.FormatUint(v.Uint(), 10) + ":" + v.Str()
	case event.KindDecimal:
		return "d:" + v.Str()
	case event.KindFloat32:
		return "f:" + strconv.FormatUint(uint64(math.Float32bits(v.Float32())), 16)
	case event.KindFloat64:
		return "F:" + strconv.FormatUint(math.Float64bits(v.Float()), 16)
	case event.KindString:
		return "s:" + v.Str()
	case event.KindBytes:
		return "b:" + base64.StdEncoding.EncodeToString([]byte(v.Str()))
	case event.KindJSON:
		return "j:" + v.Str()
	case event.KindDate, event.KindDateTime:
		y, mo, d, h, mi, s, us := v.Civil()
		k := "D:"
		if v.Kind() == event.KindDateTime {
			k = "T:"
		}
		return k + strings.Join([]string{strconv.Itoa(y), strconv.Itoa(mo), strconv.Itoa(d), strconv.Itoa(h), strconv.Itoa(mi), strconv.Itoa(s), strconv.Itoa(us)}, ",")
	case event.KindTimestamp:
		return "ts:" + strconv.FormatInt(v.Micros(), 10)
	case event.KindTime:
		return "t:" + strconv.FormatInt(v.Micros(), 10)
	}
	return "?:" + v.Text()
}

// parseKeyText is the inverse of keyText.
func parseKeyText(s string) (event.Value, error) {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return event.Null, fmt.Errorf("key %q: no kind", s)
	}
	k, r := s[:i], s[i+1:]
	bad := func() (event.Value, error) { return event.Null, fmt.Errorf("key %q: bad value", s) }
	switch k {
	case "n":
		return event.Null, nil
	case "i":
		n, err := strconv.ParseInt(r, 10, 64)
		if err != nil {
			return bad()
		}
		return event.Int(n), nil
	case "u", "B":
		n, err := strconv.ParseUint(r, 10, 64)
		if err != nil {
			return bad()
		}
		if k == "B" {
			return event.Bits(n), nil
		}
		return event.Uint(n), nil
	case "y":
		n, err := strconv.Atoi(r)
		if err != nil {
			return bad()
		}
		return event.Year(n), nil
	case "e", "S":
		j := strings.IndexByte(r, ':')
		if j < 0 {
			return bad()
		}
		n, err := strconv.ParseUint(r[:j], 10, 64)
		if err != nil {
			return bad()
		}
		if k == "e" {
			return event.Enum(int(n), r[j+1:]), nil
		}
		return event.Set(n, r[j+1:]), nil
	case "d":
		return event.Decimal(r), nil
	case "f":
		n, err := strconv.ParseUint(r, 16, 32)
		if err != nil {
			return bad()
		}
		return event.Float32(math.Float32frombits(uint32(n))), nil
	case "F":
		n, err := strconv.ParseUint(r, 16, 64)
		if err != nil {
			return bad()
		}
		return event.Float64(math.Float64frombits(n)), nil
	case "s":
		return event.String(r), nil
	case "b":
		b, err := base64.StdEncoding.DecodeString(r)
		if err != nil {
			return bad()
		}
		return event.Bytes(b), nil
	case "j":
		return event.JSON(r), nil
	case "D", "T":
		f := strings.Split(r, ",")
		if len(f) != 7 {
			return bad()
		}
		var n [7]int
		for j := range f {
			x, err := strconv.Atoi(f[j])
			if err != nil {
				return bad()
			}
			n[j] = x
		}
		if k == "D" {
			return event.Date(n[0], n[1], n[2]), nil
		}
		return event.DateTime(n[0], n[1], n[2], n[3], n[4], n[5], n[6]), nil
	case "ts", "t":
		n, err := strconv.ParseInt(r, 10, 64)
		if err != nil {
			return bad()
		}
		if k == "ts" {
			return event.TimestampMicros(n), nil
		}
		return event.TimeMicros(n), nil
	}
	return bad()
}

// keyParam turns a key value into a statement parameter and the SQL
// placeholder that compares it with the column the way the index orders it.
func keyParam(c *event.Column, v event.Value) (any, string) {
	switch v.Kind() {
	case event.KindInt, event.KindYear:
		return v.Int(), "?"
	case event.KindUint, event.KindBits:
		return v.Uint(), "?"
	case event.KindEnum:
		return v.Int(), "?" // ENUM orders by member index
	case event.KindSet:
		return v.Uint(), "?"
	case event.KindDecimal:
		return v.Str(), fmt.Sprintf("CAST(? AS DECIMAL(%d,%d))", max(c.Precision, 1), c.Scale)
	case event.KindFloat32, event.KindFloat64:
		return v.Float(), "?"
	case event.KindString:
		return v.Str(), "?"
	case event.KindBytes:
		return []byte(v.Str()), "?"
	case event.KindDate:
		y, mo, d, _, _, _, _ := v.Civil()
		return fmt.Sprintf("%04d-%02d-%02d", y, mo, d), "?"
	case event.KindDateTime:
		y, mo, d, h, mi, s, us := v.Civil()
		return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", y, mo, d, h, mi, s, us), "?"
	case event.KindTimestamp:
		if v.Micros() == 0 {
			return "0000-00-00 00:00:00", "?"
		}
		return v.Time().Format("2006-01-02 15:04:05.000000"), "?"
	case event.KindTime:
		return v.Text(), "?"
	}
	return v.Text(), "?"
}

// keyString is a map key identifying a row by its key column values,
// exact for every kind.
func keyString(row []event.Value, key []int) string {
	var b []byte
	for _, i := range key {
		if i >= len(row) {
			continue
		}
		v := row[i]
		b = append(b, byte(v.Kind()))
		switch v.Kind() {
		case event.KindDecimal, event.KindString, event.KindBytes, event.KindJSON:
		default:
			b = binary.LittleEndian.AppendUint64(b, numOf(v))
		}
		b = binary.AppendUvarint(b, uint64(len(v.Str())))
		b = append(b, v.Str()...)
	}
	return string(b)
}

func numOf(v event.Value) uint64 {
	switch v.Kind() {
	case event.KindInt, event.KindYear, event.KindEnum:
		return uint64(v.Int())
	case event.KindUint, event.KindBits, event.KindSet:
		return v.Uint()
	case event.KindFloat32:
		return uint64(math.Float32bits(v.Float32()))
	case event.KindFloat64:
		return math.Float64bits(v.Float())
	case event.KindTimestamp, event.KindTime:
		return uint64(v.Micros())
	case event.KindDate, event.KindDateTime:
		y, mo, d, h, mi, s, us := v.Civil()
		return uint64(((((y*13+mo)*32+d)*24+h)*60+mi)*60+s)<<20 | uint64(us)
	}
	return 0
}

// SnapshotSessionParams returns the session variables the snapshot reads
// with: time_zone +00:00 (TIMESTAMP as UTC), an empty sql_mode and
// character_set_results=binary (text in the column's own character set).
// SnapshotRows expects a connection opened with them.
func SnapshotSessionParams() map[string]string {
	return map[string]string{"time_zone": "'+00:00'", "sql_mode": "''", "character_set_results": "binary"}
}

// SnapshotRows converts the rows of a table selected the way the snapshot
// selects them (SelectList, binary protocol, SnapshotSessionParams) into
// the values the capture emits for them, with the snapshot's own
// conversion: `odsync verify` reads the source with it, so that it cannot
// drift from the capture.
type SnapshotRows struct {
	cols []snapCol
	zero string
}

// NewSnapshotRows prepares the conversion of t's columns for a server of
// the flavor ("mysql" or "mariadb") under the zero-date policy (ZeroDates*;
// "" keeps zero dates).
func NewSnapshotRows(t *event.Table, flavor, zeroDates string) (*SnapshotRows, error) {
	cols, err := newSnapCols(t, flavor)
	if err != nil {
		return nil, fmt.Errorf("mysql: table %s: %w", t.ID, err)
	}
	if zeroDates == "" {
		zeroDates = ZeroDatesKeep
	}
	return &SnapshotRows{cols: cols, zero: zeroDates}, nil
}

// SelectList is the select list of the table's columns, in order, with
// identifiers quoted (ENUM, SET and BIT as numbers: col+0).
func (r *SnapshotRows) SelectList() string {
	var b strings.Builder
	for i := range r.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.cols[i].selectExpr())
	}
	return b.String()
}

// Values converts one row of driver values (one per column, in order)
// into dst (reused when it has the capacity). Byte values are copied.
func (r *SnapshotRows) Values(dst []event.Value, row []any) ([]event.Value, error) {
	if len(row) != len(r.cols) {
		return nil, fmt.Errorf("mysql: %d values for %d columns", len(row), len(r.cols))
	}
	dst = dst[:0]
	for i := range r.cols {
		v, err := snapValue(&r.cols[i], row[i], r.zero)
		if err != nil {
			return nil, err
		}
		dst = append(dst, v)
	}
	return dst, nil
}
