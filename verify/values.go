package verify

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
)

// sqlParam turns a key value (a source value, or a target value read back
// from an ODS file) into a statement parameter for source column c, so
// that `c = ?` and `c > ?` compare as the column's type does: integers as
// integers (never as text, which MySQL would compare as DOUBLE), decimals
// as exact text, temporal values as text in the session time zone (UTC),
// binary values as bytes.
func sqlParam(c *event.Column, v event.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	switch c.Type {
	case event.TypeTinyInt, event.TypeSmallInt, event.TypeMediumInt, event.TypeInt, event.TypeBigInt, event.TypeYear:
		switch v.Kind() {
		case event.KindInt, event.KindYear:
			return v.Int(), nil
		case event.KindUint, event.KindBits:
			return v.Uint(), nil
		case event.KindDecimal, event.KindString:
			s := strings.TrimSuffix(v.Str(), ".0")
			if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
				s = s[:i]
			}
			if strings.HasPrefix(s, "-") {
				if i, err := strconv.ParseInt(s, 10, 64); err == nil {
					return i, nil
				}
			} else if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
	case event.TypeBit:
		switch v.Kind() {
		case event.KindInt:
			return uint64(v.Int()), nil
		case event.KindUint, event.KindBits:
			return v.Uint(), nil
		case event.KindDecimal:
			if u, err := strconv.ParseUint(v.Str(), 10, 64); err == nil {
				return u, nil
			}
		case event.KindBytes:
			var u uint64
			for _, b := range []byte(v.Str()) {
				u = u<<8 | uint64(b)
			}
			return u, nil
		}
	case event.TypeFloat, event.TypeDouble:
		switch v.Kind() {
		case event.KindFloat32, event.KindFloat64:
			return v.Float(), nil
		}
	case event.TypeBinary, event.TypeVarbinary, event.TypeBlob, event.TypeGeometry, event.TypeVector:
		return []byte(v.Str()), nil
	case event.TypeEnum:
		if v.Kind() == event.KindEnum || v.Kind() == event.KindString {
			return v.Str(), nil
		}
		if v.Kind() == event.KindInt {
			return v.Int(), nil
		}
	case event.TypeDate, event.TypeDateTime, event.TypeTimestamp:
		switch v.Kind() {
		case event.KindDate:
			y, mo, d, _, _, _, _ := v.Civil()
			return fmt.Sprintf("%04d-%02d-%02d", y, mo, d), nil
		case event.KindDateTime:
			y, mo, d, h, mi, s, us := v.Civil()
			return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", y, mo, d, h, mi, s, us), nil
		case event.KindTimestamp:
			if v.Micros() == 0 && c.Type == event.TypeTimestamp {
				// The zero TIMESTAMP (the capture's instant 0; a real
				// TIMESTAMP starts at 1970-01-01 00:00:01).
				return "0000-00-00 00:00:00", nil
			}
			t := v.Time()
			return t.Format("2006-01-02 15:04:05.000000"), nil
		}
	}
	switch v.Kind() {
	case event.KindBytes:
		return []byte(v.Str()), nil
	case event.KindInt, event.KindYear:
		return v.Int(), nil
	case event.KindUint, event.KindBits:
		return v.Uint(), nil
	case event.KindFloat32, event.KindFloat64:
		return v.Float(), nil
	}
	return v.Text(), nil
}
