package kafka

// fpSet is a set of row fingerprints (replay detection, highMark): open
// addressing over a power-of-two []uint64, at most 3/4 full. It holds a
// fingerprint in 8 bytes per slot (10–21 bytes each), where a Go map
// needs about twice that: a 3M-row transaction on one table keeps 3M
// fingerprints until its commitTs is passed. Fingerprint 0 is stored as 1
// (0 marks a free slot): one more 64-bit collision in 2^64.
type fpSet struct {
	slots []uint64
	n     int
}

// add inserts fp and reports whether it was new.
func (s *fpSet) add(fp uint64) bool {
	if fp == 0 {
		fp = 1
	}
	if (s.n+1)*4 > len(s.slots)*3 {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	// The fingerprint is an FNV hash: mix it before using its low bits.
	for i := (fp * 0x9e3779b97f4a7c15) >> 32 & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = fp
			s.n++
			return true
		case fp:
			return false
		}
	}
}

func (s *fpSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(16, 2*len(old)))
	s.n = 0
	for _, fp := range old {
		if fp != 0 {
			s.add(fp)
		}
	}
}

// reset empties the set, letting a large table go.
func (s *fpSet) reset() {
	if len(s.slots) > 1024 {
		s.slots = nil
	} else {
		clear(s.slots)
	}
	s.n = 0
}
