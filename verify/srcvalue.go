package verify

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink/odsfile"
)

// The source side of a comparison is read independently of the capture:
// the server renders each value as canonical text in SQL (CAST … AS CHAR,
// HEX, UNIX_TIMESTAMP …), chosen per column type, and verify parses that
// text into the value the capture is documented to emit for the type
// (docs/types.md). None of the capture's converters (snapshot or binlog
// decoding, character set decoders, JSON rendering) is used, so a decoding
// bug in the capture shows up as a difference instead of being repeated on
// both sides. Floating-point columns are the exception: they are read in
// the binary protocol (exact IEEE values decoded by the driver), because
// their text forms round.

// sourceSessionParams are the session variables of verify's source
// connection: UTC for TIMESTAMP text, no sql_mode rewriting, and results
// sent as the bytes the server produced (every text expression converts to
// utf8mb4 itself).
func sourceSessionParams() map[string]string {
	return map[string]string{"time_zone": "'+00:00'", "sql_mode": "''", "character_set_results": "binary"}
}

// srcCol says how one source column is selected and parsed.
type srcCol struct {
	col   *event.Column
	expr  string
	parse func(c *event.Column, text string) (event.Value, bool)
	// binary: the value is read as the driver decodes it (floats).
	binary bool
}

// sourceRows selects and parses a table's rows.
type sourceRows struct {
	cols []srcCol
}

// newSourceRows prepares the canonical-text select of t's columns for a
// server of the flavor ("mysql" or "mariadb").
func newSourceRows(t *event.Table, flavor string) *sourceRows {
	r := &sourceRows{cols: make([]srcCol, len(t.Columns))}
	for i := range t.Columns {
		r.cols[i] = sourceColumn(&t.Columns[i], flavor)
	}
	return r
}

func sourceColumn(c *event.Column, flavor string) srcCol {
	q := quoteID(c.Name)
	asChar := "CAST(" + q + " AS CHAR)"
	utf8 := "CAST(" + q + " AS CHAR CHARACTER SET utf8mb4)"
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt:
		return srcCol{col: c, expr: asChar, parse: parseIntText}
	case event.TypeYear:
		return srcCol{col: c, expr: "CAST(" + q + "+0 AS CHAR)", parse: parseYearText}
	case event.TypeDecimal:
		return srcCol{col: c, expr: asChar, parse: parseDecimalText}
	case event.TypeFloat, event.TypeDouble:
		return srcCol{col: c, expr: q, binary: true}
	case event.TypeBit:
		return srcCol{col: c, expr: "CAST(" + q + "+0 AS CHAR)", parse: parseBitText}
	case event.TypeEnum, event.TypeSet:
		return srcCol{col: c, expr: "CONCAT(CAST(" + q + "+0 AS CHAR), ':', " + utf8 + ")", parse: parseEnumSetText}
	case event.TypeChar, event.TypeVarchar, event.TypeText:
		if c.Charset == "binary" {
			return srcCol{col: c, expr: "HEX(" + q + ")", parse: parseHexText}
		}
		return srcCol{col: c, expr: utf8, parse: parseStringText}
	case event.TypeJSON:
		// MariaDB stores JSON as text: the exact text. MySQL renders its
		// binary JSON; the comparison normalises it (see canonCol.json).
		return srcCol{col: c, expr: utf8, parse: parseJSONText}
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		return srcCol{col: c, expr: "HEX(" + q + ")", parse: parseHexText}
	case event.TypeDate:
		return srcCol{col: c, expr: asChar, parse: parseDateText}
	case event.TypeDateTime:
		return srcCol{col: c, expr: asChar, parse: parseDateTimeText}
	case event.TypeTimestamp:
		// The instant, whatever the session's time zone.
		return srcCol{col: c, expr: "CAST(UNIX_TIMESTAMP(" + q + ") AS CHAR)", parse: parseUnixText}
	case event.TypeTime:
		return srcCol{col: c, expr: asChar, parse: parseTimeText}
	}
	// Unknown types: the server's bytes.
	return srcCol{col: c, expr: "HEX(" + q + ")", parse: parseHexText}
}

// SelectList is the select list of the table's columns, in order.
func (r *sourceRows) SelectList() string {
	var b strings.Builder
	for i := range r.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.cols[i].expr)
	}
	return b.String()
}

// Values parses one row of driver values into dst (reused when it has the
// capacity).
func (r *sourceRows) Values(dst []event.Value, row []any) ([]event.Value, error) {
	if len(row) != len(r.cols) {
		return nil, fmt.Errorf("%d values for %d columns", len(row), len(r.cols))
	}
	dst = dst[:0]
	for i := range r.cols {
		v, err := r.cols[i].value(row[i])
		if err != nil {
			return nil, err
		}
		dst = append(dst, v)
	}
	return dst, nil
}

func (s *srcCol) value(raw any) (event.Value, error) {
	if raw == nil {
		return event.Null, nil
	}
	c := s.col
	if s.binary {
		switch x := raw.(type) {
		case float32:
			if c.Type == event.TypeFloat {
				return event.Float32(x), nil
			}
			return event.Float64(float64(x)), nil
		case float64:
			if c.Type == event.TypeFloat {
				return event.Float32(float32(x)), nil
			}
			return event.Float64(x), nil
		}
		return event.Null, fmt.Errorf("column %s (%s): unexpected value %T", c.Name, c.RawType, raw)
	}
	var text string
	switch x := raw.(type) {
	case []byte:
		text = string(x)
	case string:
		text = x
	case int64:
		text = strconv.FormatInt(x, 10)
	case uint64:
		text = strconv.FormatUint(x, 10)
	default:
		return event.Null, fmt.Errorf("column %s (%s): unexpected value %T", c.Name, c.RawType, raw)
	}
	v, ok := s.parse(c, text)
	if !ok {
		return event.Null, fmt.Errorf("column %s (%s): cannot parse the server's text %q", c.Name, c.RawType, text)
	}
	return v, nil
}

func parseIntText(c *event.Column, s string) (event.Value, bool) {
	if c.Unsigned {
		u, err := strconv.ParseUint(s, 10, 64)
		return event.Uint(u), err == nil
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return event.Int(i), err == nil
}

func parseYearText(_ *event.Column, s string) (event.Value, bool) {
	n, err := strconv.Atoi(s)
	return event.Year(n), err == nil
}

func parseDecimalText(_ *event.Column, s string) (event.Value, bool) {
	if _, ok := odsfile.NormalizeDecimal(s, len(s)); !ok {
		return event.Null, false
	}
	return event.Decimal(s), true
}

func parseBitText(_ *event.Column, s string) (event.Value, bool) {
	u, err := strconv.ParseUint(s, 10, 64)
	return event.Bits(u), err == nil
}

// parseEnumSetText parses "<number>:<text>": the member index (ENUM) or
// bit mask (SET) and the server's text of the value.
func parseEnumSetText(c *event.Column, s string) (event.Value, bool) {
	n, text, ok := strings.Cut(s, ":")
	if !ok {
		return event.Null, false
	}
	u, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return event.Null, false
	}
	if c.Type == event.TypeEnum {
		return event.Enum(int(u), text), true
	}
	return event.Set(u, text), true
}

func parseStringText(_ *event.Column, s string) (event.Value, bool) { return event.String(s), true }

func parseJSONText(_ *event.Column, s string) (event.Value, bool) { return event.JSON(s), true }

func parseHexText(_ *event.Column, s string) (event.Value, bool) {
	b, err := hex.DecodeString(s)
	return event.Bytes(b), err == nil
}

func parseDateText(_ *event.Column, s string) (event.Value, bool) {
	if len(s) != 10 {
		return event.Null, false
	}
	y, mo, d, _, _, _, _, ok := odsfile.ParseCivil(s)
	return event.Date(y, mo, d), ok
}

func parseDateTimeText(_ *event.Column, s string) (event.Value, bool) {
	y, mo, d, h, mi, sec, us, ok := odsfile.ParseCivil(s)
	return event.DateTime(y, mo, d, h, mi, sec, us), ok
}

// parseUnixText parses UNIX_TIMESTAMP text ("1709294400" or
// "1709294400.123000") into an instant; 0 is the zero TIMESTAMP.
func parseUnixText(_ *event.Column, s string) (event.Value, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n < 0 || len(frac) > 6 || strings.Trim(frac, "0123456789") != "" {
		return event.Null, false
	}
	us := int64(0)
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		us = f
	}
	return event.TimestampMicros(n*1_000_000 + us), true
}

// parseTimeText parses TIME text "[-]HHH:MM:SS[.ffffff]" into signed
// microseconds.
func parseTimeText(_ *event.Column, s string) (event.Value, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	hms, frac, _ := strings.Cut(s, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 || len(frac) > 6 || strings.Trim(frac, "0123456789") != "" {
		return event.Null, false
	}
	var n [3]int64
	for i, p := range parts {
		x, err := strconv.ParseInt(p, 10, 64)
		if err != nil || x < 0 {
			return event.Null, false
		}
		n[i] = x
	}
	us := int64(0)
	if frac != "" {
		us, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	total := (n[0]*3600+n[1]*60+n[2])*1_000_000 + us
	if neg {
		total = -total
	}
	return event.TimeMicros(total), true
}
