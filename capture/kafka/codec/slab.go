package codec

import "github.com/odsync/odsync/event"

// Slab carves the units, events and row images of decoded messages from
// shared chunks: a few allocations per hundred rows instead of two or three
// per message. A decoder (one per partition) owns one.
//
// Chunks are only ever carved, never reused: what was handed out stays
// valid. A piece that is kept keeps its chunk alive; the pieces of one
// partition's messages are released in about the order they were decoded,
// so that is at most a chunk or so per partition beyond what is buffered.
// Every piece is capped (an append to it reallocates rather than running
// into its neighbour's).
//
// The zero Slab is ready to use. It is not safe for concurrent use.
type Slab struct {
	units []Decoded
	evs   []event.Event
	vals  []event.Value
}

// Slab chunk sizes, in elements (~8–16 KiB each); a request above a
// quarter of a chunk gets its own allocation.
const (
	slabUnits  = 128
	slabEvents = 64
	slabValues = 512
)

// Units returns n zeroed units.
func (s *Slab) Units(n int) []Decoded { return carve(&s.units, n, slabUnits) }

// Events returns n zeroed events.
func (s *Slab) Events(n int) []event.Event { return carve(&s.evs, n, slabEvents) }

// Values returns n zeroed values.
func (s *Slab) Values(n int) []event.Value { return carve(&s.vals, n, slabValues) }

func carve[T any](chunk *[]T, n, size int) []T {
	if n > size/4 {
		return make([]T, n)
	}
	c := *chunk
	if cap(c)-len(c) < n {
		c = make([]T, 0, size)
	}
	start := len(c)
	c = c[:start+n]
	*chunk = c
	return c[start : start+n : start+n]
}
