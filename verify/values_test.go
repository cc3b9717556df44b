package verify

import (
	"testing"
	"time"

	"github.com/odsync/odsync/event"
)

func TestCivil(t *testing.T) {
	for _, d := range []time.Time{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		us := civilMicros(d.Year(), int(d.Month()), d.Day(), d.Hour(), d.Minute(), d.Second(), d.Nanosecond()/1000)
		if us != d.UnixMicro() {
			t.Errorf("civilMicros(%s) = %d, want %d", d, us, d.UnixMicro())
		}
		v := civilFromMicros(us)
		y, mo, dd, h, mi, s, u := v.Civil()
		back := time.Date(y, time.Month(mo), dd, h, mi, s, u*1000, time.UTC)
		if !back.Equal(d) {
			t.Errorf("civilFromMicros(%d) = %s, want %s", us, back, d)
		}
	}
}

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
