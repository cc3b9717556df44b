package codec

import (
	"testing"

	"github.com/odsync/odsync/event"
)

func TestSlabPiecesAreZeroedAndCapped(t *testing.T) {
	var s Slab
	var prev []event.Value
	for i := range 300 {
		v := s.Values(10)
		if len(v) != 10 || cap(v) != 10 {
			t.Fatalf("piece %d: len %d cap %d", i, len(v), cap(v))
		}
		for j := range v {
			if v[j] != (event.Value{}) {
				t.Fatalf("piece %d value %d not zero", i, j)
			}
			v[j] = event.Int(int64(i))
		}
		// An append to a piece must not run into the next one.
		_ = append(v, event.Int(-1))
		if prev != nil && prev[9].Int() != int64(i-1) {
			t.Fatalf("piece %d changed", i-1)
		}
		prev = v
	}
	big := s.Values(slabValues)
	if len(big) != slabValues {
		t.Fatalf("big piece len %d", len(big))
	}
	e := s.Events(3)
	u := s.Units(2)
	if len(e) != 3 || cap(e) != 3 || len(u) != 2 || cap(u) != 2 {
		t.Fatalf("events %d/%d units %d/%d", len(e), cap(e), len(u), cap(u))
	}
}

func TestArenaKeepsEarlierMessagesStrings(t *testing.T) {
	var a Arena
	var strs []string
	for i := range 2000 {
		a.Reserve(20)
		s := a.Str([]byte("message-" + string(rune('a'+i%26)) + "-xxxxxxx"))
		// Past the reservation: the arena grows, earlier strings stay.
		s2 := a.Str([]byte("0123456789abcdefghijklmnop"))
		strs = append(strs, s, s2)
	}
	for i := range 2000 {
		if want := "message-" + string(rune('a'+i%26)) + "-xxxxxxx"; strs[2*i] != want || strs[2*i+1] != "0123456789abcdefghijklmnop" {
			t.Fatalf("string %d is %q, %q", i, strs[2*i], strs[2*i+1])
		}
	}
	a.Reserve(arenaChunk) // bigger than a chunk's quarter: its own array
	if cap(a.Buf) != arenaChunk || len(a.Buf) != 0 {
		t.Fatalf("big reservation: len %d cap %d", len(a.Buf), cap(a.Buf))
	}
}
