package offsets

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/odsync/odsync/event"
)

// Key layout. See the package documentation for what each record holds.
// Every other prefix sorts after prefixEvent (see the package doc, "Key
// layout", for why).
const (
	prefixEvent   = "e/" // e/<seq BE8>      -> event.AppendEvent bytes
	prefixState   = "k/" // k/<ns> 0x00 <key> -> state value
	prefixPending = "p/" // p/<sink name>    -> pending batch ends (n × BE8)
	prefixCursor  = "r/" // r/<sink name>    -> acked seq (BE8)
	prefixTable   = "s/" // s/<version BE8>  -> event.AppendTable(t, true)
	prefixBytes   = "t/" // t/<seq BE8>      -> cumulative event bytes through seq (BE8)
	keyVersion    = "m/version"
	keyHead       = "m/head" // head BE8, cumulative bytes at head BE8, flag byte, checkpoint
	keyGC         = "m/gc"   // tail BE8, cumulative bytes below tail BE8
)

// formatVersion is the layout version stored under m/version.
const formatVersion = 1

const seqKeyLen = 2 + 8

// seqKey writes prefix+seq into buf and returns it.
func seqKey(buf *[seqKeyLen]byte, prefix string, seq uint64) []byte {
	copy(buf[:2], prefix)
	binary.BigEndian.PutUint64(buf[2:], seq)
	return buf[:]
}

// newSeqKey is seqKey into a fresh slice.
func newSeqKey(prefix string, seq uint64) []byte {
	var b [seqKeyLen]byte
	k := seqKey(&b, prefix, seq)
	return append([]byte(nil), k...)
}

// prefixEnd returns the smallest key greater than every key with prefix
// (prefixes here end in '/', which is not 0xff).
func prefixEnd(prefix string) []byte {
	b := []byte(prefix)
	b[len(b)-1]++
	return b
}

// keySeq decodes the seq of an e/ or t/ key.
func keySeq(k []byte) (uint64, bool) {
	if len(k) != seqKeyLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[2:]), true
}

func stateKey(ns, key string) []byte {
	b := make([]byte, 0, len(prefixState)+len(ns)+1+len(key))
	b = append(b, prefixState...)
	b = append(b, ns...)
	b = append(b, 0)
	return append(b, key...)
}

func validNS(ns string) error {
	if ns == "" {
		return fmt.Errorf("offsets: empty state namespace")
	}
	if strings.IndexByte(ns, 0) >= 0 {
		return fmt.Errorf("offsets: state namespace %q contains a NUL byte", ns)
	}
	return nil
}

// headRecord is the value of m/head.
type headRecord struct {
	head       uint64
	cum        int64 // cumulative event bytes through head
	checkpoint []byte
	hasCP      bool
}

func (r *headRecord) append(buf []byte) []byte {
	buf = binary.BigEndian.AppendUint64(buf, r.head)
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.cum))
	if r.hasCP {
		buf = append(buf, 1)
		buf = append(buf, r.checkpoint...)
	} else {
		buf = append(buf, 0)
	}
	return buf
}

func decodeHead(b []byte) (headRecord, error) {
	var r headRecord
	if len(b) < 17 || b[16] > 1 || (b[16] == 0 && len(b) != 17) {
		return r, fmt.Errorf("%w: head record of %d bytes", event.ErrCorrupt, len(b))
	}
	r.head = binary.BigEndian.Uint64(b)
	r.cum = int64(binary.BigEndian.Uint64(b[8:]))
	if b[16] == 1 {
		r.hasCP = true
		r.checkpoint = append([]byte{}, b[17:]...)
	}
	if r.cum < 0 {
		return r, fmt.Errorf("%w: head record byte count %d", event.ErrCorrupt, r.cum)
	}
	return r, nil
}

// gcRecord is the value of m/gc.
type gcRecord struct {
	tail uint64
	cum  int64 // cumulative event bytes through tail-1
}

func (r *gcRecord) append(buf []byte) []byte {
	buf = binary.BigEndian.AppendUint64(buf, r.tail)
	return binary.BigEndian.AppendUint64(buf, uint64(r.cum))
}

func decodeGC(b []byte) (gcRecord, error) {
	var r gcRecord
	if len(b) != 16 {
		return r, fmt.Errorf("%w: gc record of %d bytes", event.ErrCorrupt, len(b))
	}
	r.tail = binary.BigEndian.Uint64(b)
	r.cum = int64(binary.BigEndian.Uint64(b[8:]))
	if r.tail == 0 || r.cum < 0 {
		return r, fmt.Errorf("%w: gc record tail %d bytes %d", event.ErrCorrupt, r.tail, r.cum)
	}
	return r, nil
}

func decodeU64(what string, b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %s value of %d bytes", event.ErrCorrupt, what, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func encodeSeqs(seqs []uint64) []byte {
	b := make([]byte, 0, 8*len(seqs))
	for _, s := range seqs {
		b = binary.BigEndian.AppendUint64(b, s)
	}
	return b
}

func decodeSeqs(what string, b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("%w: %s value of %d bytes", event.ErrCorrupt, what, len(b))
	}
	s := make([]uint64, len(b)/8)
	for i := range s {
		s[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return s, nil
}
