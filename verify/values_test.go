package verify

import (
	"testing"
	"time"

	"github.com/odsync/odsync/event"
)

func TestSQLParam(t *testing.T) {
	u := &event.Column{Name: "id", Type: event.TypeBigInt, Unsigned: true}
	if p, _ := sqlParam(u, event.Decimal("18446744073709551615")); p != uint64(18446744073709551615) {
		t.Errorf("decimal key of BIGINT UNSIGNED = %#v, want uint64", p)
	}
	if p, _ := sqlParam(u, event.Uint(7)); p != uint64(7) {
		t.Errorf("uint = %#v", p)
	}
	i := &event.Column{Name: "id", Type: event.TypeInt}
	if p, _ := sqlParam(i, event.Int(-3)); p != int64(-3) {
		t.Errorf("int = %#v", p)
	}
	ts := &event.Column{Name: "ts", Type: event.TypeTimestamp}
	if p, _ := sqlParam(ts, event.TimestampMicros(time.Date(2024, 3, 1, 12, 0, 0, 500000000, time.UTC).UnixMicro())); p != "2024-03-01 12:00:00.500000" {
		t.Errorf("timestamp = %#v", p)
	}
	if p, _ := sqlParam(ts, event.TimestampMicros(0)); p != "0000-00-00 00:00:00" {
		t.Errorf("zero timestamp = %#v", p)
	}
	b := &event.Column{Name: "b", Type: event.TypeVarbinary}
	if p, _ := sqlParam(b, event.Bytes([]byte{0, 1})); string(p.([]byte)) != "\x00\x01" {
		t.Errorf("bytes = %#v", p)
	}
}
