package odsfile

import (
	"testing"
	"time"
)

func TestCivil(t *testing.T) {
	for _, d := range []time.Time{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		us := CivilMicros(d.Year(), int(d.Month()), d.Day(), d.Hour(), d.Minute(), d.Second(), d.Nanosecond()/1000)
		if us != d.UnixMicro() {
			t.Errorf("CivilMicros(%s) = %d, want %d", d, us, d.UnixMicro())
		}
		v := civilFromMicros(us)
		y, mo, dd, h, mi, s, u := v.Civil()
		back := time.Date(y, time.Month(mo), dd, h, mi, s, u*1000, time.UTC)
		if !back.Equal(d) {
			t.Errorf("civilFromMicros(%d) = %s, want %s", us, back, d)
		}
	}
}
