package kafka

import (
	"testing"

	"github.com/odsync/odsync/event"
)

func TestRecycledSlicesAreReusedAndDropped(t *testing.T) {
	s := &Source{free: make(chan []event.Event, 4)}
	for range 6 {
		s.Recycle(make([]event.Event, 3, 2048))
	}
	s.Recycle(nil) // nothing to keep
	if len(s.free) != 4 {
		t.Fatalf("%d slices kept, want 4", len(s.free))
	}
	m := &merger{cfg: mergerConfig{free: s.free}}
	out := m.outSlice(1500)
	if len(out) != 0 || cap(out) != 2048 {
		t.Fatalf("outSlice: len %d cap %d, want a recycled slice", len(out), cap(out))
	}
	// Too small for the emit: a new one, rounded up for later reuse.
	if out := m.outSlice(3000); cap(out) != 3072 {
		t.Fatalf("outSlice(3000): cap %d", cap(out))
	}
	s.dropFree()
	if len(s.free) != 0 {
		t.Fatalf("%d slices left after dropFree", len(s.free))
	}
	if out := (&merger{}).outSlice(10); cap(out) != 10 {
		t.Fatalf("without recycling: cap %d, want 10", cap(out))
	}
}
