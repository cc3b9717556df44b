//go:build odsync_testhooks

package mysql

import (
	"os"
	"strings"

	"github.com/odsync/odsync/event"
)

// EnvBreakColumn names a column (by name) whose snapshot values a test build
// (-tags odsync_testhooks) converts wrongly on purpose: a deliberate decoder
// bug that `odsync verify` must catch. Never honoured in a normal build.
const EnvBreakColumn = "ODSYNC_TEST_BREAK_COLUMN"

// testBreak damages a snapshot value of the column named by
// $ODSYNC_TEST_BREAK_COLUMN, the way a decoding bug would: off by one,
// one character more, one day later.
func testBreak(c *event.Column, v event.Value) event.Value {
	name := os.Getenv(EnvBreakColumn)
	if name == "" || !strings.EqualFold(name, c.Name) || v.IsNull() {
		return v
	}
	switch v.Kind() {
	case event.KindInt:
		return event.Int(v.Int() + 1)
	case event.KindUint:
		return event.Uint(v.Uint() + 1)
	case event.KindDecimal:
		s := v.Str()
		if strings.HasPrefix(s, "-") {
			return event.Decimal("-1" + s[1:])
		}
		return event.Decimal("1" + s)
	case event.KindString:
		return event.String(v.Str() + "?")
	case event.KindJSON:
		return event.JSON(v.Str() + " ")
	case event.KindBytes:
		return event.Bytes(append([]byte(v.Str()), 0))
	case event.KindDate:
		y, mo, d, _, _, _, _ := v.Civil()
		return event.Date(y, mo, d%28+1)
	case event.KindTimestamp:
		return event.TimestampMicros(v.Micros() + 1_000_000)
	}
	return v
}
