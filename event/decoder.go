package event

import "unsafe"

// Decoder decodes a run of events (a log read) with a few allocations per
// run instead of two per event: each event's bytes are copied into a shared
// byte chunk that its strings point into, and its row images are cut from a
// shared chunk of Values.
//
// Invariant: chunks are only ever appended to, never overwritten, so a
// string or row handed out earlier stays valid and immutable when later
// events move on to a new chunk. The cost is retention: one decoded event,
// or one of its strings, that is kept alive keeps its whole chunk (64KiB)
// alive, so a Decoder suits batches that are used and dropped together,
// and a string kept for long (a map key) should be cloned.
//
// The zero Decoder is ready to use. It is not safe for concurrent use.
type Decoder struct {
	bytes []byte
	vals  []Value
}

// Decoder chunk sizes: big enough that chunk allocations are rare, small
// enough that a retained event does not pin much memory.
const (
	chunkBytes  = 64 << 10
	chunkValues = 1024
)

// Decode is DecodeEvent with the strings and rows carved from d's chunks.
func (d *Decoder) Decode(b []byte, lookup func(version uint64) (*Table, error)) (Event, error) {
	if len(b) == 0 {
		return DecodeEvent(b, lookup)
	}
	if cap(d.bytes)-len(d.bytes) < len(b) {
		d.bytes = make([]byte, 0, max(chunkBytes, len(b)))
	}
	start := len(d.bytes)
	d.bytes = append(d.bytes, b...)
	own := d.bytes[start:len(d.bytes):len(d.bytes)]
	return decodeEvent(own, unsafe.String(&own[0], len(own)), d.values, lookup)
}

// values returns a fresh row of n Values from the chunk.
func (d *Decoder) values(n int) []Value {
	if cap(d.vals)-len(d.vals) < n {
		if n > chunkValues/4 {
			return make([]Value, n)
		}
		d.vals = make([]Value, 0, chunkValues)
	}
	start := len(d.vals)
	d.vals = d.vals[:start+n]
	return d.vals[start : start+n : start+n]
}
