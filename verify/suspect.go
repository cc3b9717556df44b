package verify

import (
	"encoding/binary"
	"errors"
	"math"
)

// suspect is a key whose source and target rows differed when first
// compared. It is re-checked until the difference is cleared (the sink
// caught up, or the row kept changing and then matched), confirmed, or the
// re-check rounds run out.
type suspect struct {
	chunk int
	state byte // suspect states below
	// confirms counts consecutive evaluations that found a difference the
	// sink's lag cannot explain (target caught up past the snapshot, and
	// its row for the key no newer than the snapshot).
	confirms int
	// The source snapshot of the key: whether it existed, its hash and
	// canonical row, and the watermarks around the read. hasSnap is false
	// until the source was read for the key (extra candidates).
	hasSnap    bool
	srcPresent bool
	srcHash    uint64
	srcCanon   []byte
	before     Watermark
	after      Watermark
	keyText    string
	params     []any // the source key as statement parameters
	// reason says why the last evaluation did not confirm or clear it.
	reason string
}

const (
	suspectPending byte = iota
	suspectCleared
	suspectConfirmed
)

func (s *suspect) encode() []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(s.chunk))
	b = append(b, s.state, byte(s.confirms), boolByte(s.hasSnap), boolByte(s.srcPresent))
	b = binary.BigEndian.AppendUint64(b, s.srcHash)
	b = appendBytes(b, s.srcCanon)
	b = appendWatermark(b, s.before)
	b = appendWatermark(b, s.after)
	b = appendBytes(b, []byte(s.keyText))
	b = appendBytes(b, []byte(s.reason))
	b = binary.AppendUvarint(b, uint64(len(s.params)))
	for _, p := range s.params {
		switch v := p.(type) {
		case nil:
			b = append(b, 0)
		case int64:
			b = append(b, 1)
			b = binary.AppendVarint(b, v)
		case uint64:
			b = append(b, 2)
			b = binary.AppendUvarint(b, v)
		case float64:
			b = append(b, 3)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case string:
			b = append(b, 4)
			b = appendBytes(b, []byte(v))
		case []byte:
			b = append(b, 5)
			b = appendBytes(b, v)
		default:
			b = append(b, 0)
		}
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendWatermark(b []byte, w Watermark) []byte {
	b = appendBytes(b, []byte(w.File))
	b = binary.AppendUvarint(b, w.Offset)
	b = appendBytes(b, []byte(w.GTID))
	b = binary.AppendVarint(b, w.Micros)
	b = binary.AppendUvarint(b, w.Seq)
	return append(b, boolByte(w.Applied))
}

var errCorruptSuspect = errors.New("verify: corrupt suspect record")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorruptSuspect
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorruptSuspect
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte1() byte {
	if len(r.b) < 1 {
		r.err = errCorruptSuspect
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.err = errCorruptSuspect
		r.b = nil
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes() []byte {
	v, rest, ok := readBytes(r.b)
	if !ok {
		r.err = errCorruptSuspect
		r.b = nil
		return nil
	}
	r.b = rest
	return append([]byte(nil), v...)
}

func (r *reader) watermark() Watermark {
	var w Watermark
	w.File = string(r.bytes())
	w.Offset = r.uvarint()
	w.GTID = string(r.bytes())
	w.Micros = r.varint()
	w.Seq = r.uvarint()
	w.Applied = r.byte1() == 1
	return w
}

func decodeSuspect(b []byte) (*suspect, error) {
	r := &reader{b: b}
	s := &suspect{}
	s.chunk = int(r.uvarint())
	s.state = r.byte1()
	s.confirms = int(r.byte1())
	s.hasSnap = r.byte1() == 1
	s.srcPresent = r.byte1() == 1
	s.srcHash = r.u64()
	s.srcCanon = r.bytes()
	s.before = r.watermark()
	s.after = r.watermark()
	s.keyText = string(r.bytes())
	s.reason = string(r.bytes())
	n := r.uvarint()
	if n > uint64(len(b)) {
		return nil, errCorruptSuspect
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		switch r.byte1() {
		case 0:
			s.params = append(s.params, nil)
		case 1:
			s.params = append(s.params, r.varint())
		case 2:
			s.params = append(s.params, r.uvarint())
		case 3:
			s.params = append(s.params, math.Float64frombits(r.u64()))
		case 4:
			s.params = append(s.params, string(r.bytes()))
		case 5:
			s.params = append(s.params, r.bytes())
		default:
			return nil, errCorruptSuspect
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}
