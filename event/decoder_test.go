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

func TestAppendPad(t *testing.T) {
	for _, v := range []int{0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 99999, 123456, 999999, 1000000, 12345678, -1, -42} {
		for width := 1; width <= 6; width++ {
			want := strconv.Itoa(v)
			if v >= 0 {
				want = fmt.Sprintf("%0*d", width, v)
			} else {
				for len(want) < width {
					want = "0" + want // the historic form for negatives: zeros before the sign
				}
			}
			if got := string(appendPad([]byte("x"), v, width)); got != "x"+want {
				t.Errorf("appendPad(%d, %d) = %q, want %q", v, width, got, "x"+want)
			}
		}
	}
}
