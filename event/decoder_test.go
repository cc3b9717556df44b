package event

import (
	"fmt"
	"strconv"
	"testing"
)

// A Decoder must give the same events as DecodeEvent, and events decoded
// earlier must not change while later ones fill (and outgrow) its chunks,
// nor when the source bytes are overwritten.
func TestDecoderSharesChunksSafely(t *testing.T) {
	tbl := testTable()
	lookup := func(uint64) (*Table, error) { return tbl, nil }
	var dec Decoder
	var encoded [][]byte
	var got []Event
	buf := make([]byte, 0, 1<<10)
	for i := 0; i < 5000; i++ {
		pad := ""
		if i%97 == 0 {
			pad = string(make([]byte, 70<<10)) // bigger than a chunk
		}
		row := []Value{Uint(uint64(i)), Decimal(strconv.Itoa(i) + ".5"), Enum(1, "new"+pad)}
		in := Event{Op: OpUpdate, Source: tbl.ID, Table: tbl, Before: row, After: row,
			Pos: Position{File: "binlog.000001", Offset: uint64(i), GTID: fmt.Sprintf("0-1-%d", i)}}
		buf = AppendEvent(buf[:0], &in) // the same buffer every time, as a Pebble iterator would
		encoded = append(encoded, append([]byte(nil), buf...))
		e, err := dec.Decode(buf, lookup)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	for i, e := range got {
		want, err := DecodeEvent(encoded[i], lookup)
		if err != nil {
			t.Fatal(err)
		}
		if e.Pos != want.Pos || len(e.Before) != 3 || len(e.After) != 3 {
			t.Fatalf("event %d: %+v, want %+v", i, e, want)
		}
		for k := range want.Before {
			if !e.Before[k].Equal(want.Before[k]) || !e.After[k].Equal(want.After[k]) {
				t.Fatalf("event %d value %d: %v/%v, want %v", i, k, e.Before[k], e.After[k], want.Before[k])
			}
		}
		// Rows handed out are independent: appending to one must not
		// overwrite the next.
		_ = append(e.Before, Null)
		if !e.After[0].Equal(want.After[0]) {
			t.Fatalf("event %d: appending to Before changed After", i)
		}
	}
	if _, err := dec.Decode(encoded[0][:5], lookup); err == nil {
		t.Fatal("decoding a truncated event succeeded")
	}
}

// The two-digit fast paths of dates and clocks must print what the
// general padded form prints.
func TestAppendDateClockFastPath(t *testing.T) {
	for _, y := range []int{0, 1, 9, 10, 99, 100, 999, 1000, 2024, 9999, 10000, -1} {
		for _, m := range []int{0, 1, 9, 10, 12, 99, 100} {
			for _, d := range []int{0, 1, 31, 99} {
				want := string(appendPad(nil, y, 4)) + "-" + string(appendPad(nil, m, 2)) + "-" + string(appendPad(nil, d, 2))
				if got := string(appendDate(nil, y, m, d)); got != want {
					t.Fatalf("appendDate(%d, %d, %d) = %q, want %q", y, m, d, got, want)
				}
			}
		}
	}
	for _, h := range []int{0, 9, 23, 99, 838, -1} {
		for _, us := range []int{0, 1, 10, 999, 1000, 123456, 999999, 1000000, -5} {
			want := string(appendPad(nil, h, 2)) + ":07:59"
			if us != 0 {
				want += "." + string(appendPad(nil, us, 6))
			}
			if got := string(appendClock(nil, h, 7, 59, us)); got != want {
				t.Fatalf("appendClock(%d, 7, 59, %d) = %q, want %q", h, us, got, want)
			}
		}
	}
	if got := fmt.Sprint(DateTime(2026, 1, 2, 3, 4, 5, 60).Text()); got != "2026-01-02 03:04:05.000060" {
		t.Fatalf("DateTime text %q", got)
	}
}
