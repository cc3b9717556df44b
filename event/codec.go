package event

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt marks undecodable encoded events or tables.
var ErrCorrupt = errors.New("event: corrupt encoding")

func errCorrupt(what string) error { return fmt.Errorf("%w: %s", ErrCorrupt, what) }

const codecVersion = 1

// AppendEvent appends the binary encoding of e (without Seq, which is the
// log key) to buf. The table schema is referenced by its Version only; the
// caller stores tables separately (see AppendTable) and resolves them on decode.
func AppendEvent(buf []byte, e *Event) []byte {
	var flags byte
	if e.TxnEnd {
		flags |= 1
	}
	if e.Origin != 0 {
		flags |= 2
	}
	var ver uint64
	if e.Table != nil {
		ver = e.Table.Version
	}
	buf = append(buf, codecVersion, byte(e.Op), flags)
	buf = binary.BigEndian.AppendUint64(buf, ver)
	buf = appendString(buf, e.Source.DB)
	buf = appendString(buf, e.Source.Table)
	buf = binary.AppendVarint(buf, e.CommitTime)
	buf = appendString(buf, e.Pos.File)
	buf = binary.AppendUvarint(buf, e.Pos.Offset)
	buf = appendString(buf, e.Pos.GTID)
	buf = appendString(buf, e.DDL)
	buf = appendRow(buf, e.Before)
	buf = appendRow(buf, e.After)
	if e.Origin != 0 {
		buf = binary.AppendUvarint(buf, e.Origin)
	}
	return buf
}

// TableVersion returns the schema version referenced by an encoded event
// without decoding the rest (0 when none).
func TableVersion(b []byte) uint64 {
	if len(b) < 11 {
		return 0
	}
	return binary.BigEndian.Uint64(b[3:11])
}

// DecodeEvent decodes an encoding made by AppendEvent. lookup resolves a
// schema version to its table; it is not called for version 0. Decoded
// strings do not alias b: they share one copy of it, made once per event
// (which also keeps decoding to a few allocations per event).
func DecodeEvent(b []byte, lookup func(version uint64) (*Table, error)) (Event, error) {
	return decodeEvent(b, string(b), nil, lookup)
}

// decodeEvent decodes b, cutting strings from s (the same bytes) and rows
// from alloc (nil: make).
func decodeEvent(b []byte, s string, alloc func(n int) []Value, lookup func(version uint64) (*Table, error)) (Event, error) {
	var e Event
	d := decoder{b: b, s: s, alloc: alloc}
	if v := d.byte1(); v != codecVersion && d.err == nil {
		return e, errCorrupt(fmt.Sprintf("codec version %d", v))
	}
	e.Op = Op(d.byte1())
	flags := d.byte1()
	e.TxnEnd = flags&1 != 0
	ver := d.u64()
	e.Source.DB = d.str()
	e.Source.Table = d.str()
	e.CommitTime = d.varint()
	e.Pos.File = d.str()
	e.Pos.Offset = d.uvarint()
	e.Pos.GTID = d.str()
	e.DDL = d.str()
	e.Before = d.row(nil, true)
	e.After = d.row(e.Before[len(e.Before):cap(e.Before)], false)
	if flags&2 != 0 {
		e.Origin = d.uvarint()
	}
	if d.err != nil {
		return e, d.err
	}
	if len(d.b) != 0 {
		return e, errCorrupt("trailing bytes")
	}
	if ver != 0 {
		t, err := lookup(ver)
		if err != nil {
			return e, err
		}
		e.Table = t
	}
	return e, nil
}

func appendRow(buf []byte, row []Value) []byte {
	if row == nil {
		return append(buf, 0)
	}
	buf = binary.AppendUvarint(buf, uint64(len(row))+1)
	for _, v := range row {
		buf = append(buf, byte(v.kind))
		switch v.kind {
		case KindNull:
		case KindInt, KindYear, KindTimestamp, KindTime:
			buf = binary.AppendVarint(buf, int64(v.num))
		case KindUint, KindBits, KindDate, KindDateTime:
			buf = binary.AppendUvarint(buf, v.num)
		case KindFloat32:
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v.num))
		case KindFloat64:
			buf = binary.LittleEndian.AppendUint64(buf, v.num)
		case KindDecimal, KindString, KindBytes, KindJSON:
			buf = appendString(buf, v.str)
		case KindEnum, KindSet:
			buf = binary.AppendUvarint(buf, v.num)
			buf = appendString(buf, v.str)
		}
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

type decoder struct {
	b     []byte
	s     string // when set, the same bytes as the original b: strings are cut from it
	alloc func(n int) []Value
	err   error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errCorrupt(what)
	}
	d.b = nil
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail("short byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("short uint64")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("short string")
		return ""
	}
	var s string
	if d.s != "" {
		off := len(d.s) - len(d.b)
		s = d.s[off : off+int(n)]
	} else {
		s = string(d.b[:n])
	}
	d.b = d.b[n:]
	return s
}

// row decodes one row image into spare (when it has room) or a new slice.
// The first image is allocated with room for a second of the same length,
// so an update's two images share one allocation.
func (d *decoder) row(spare []Value, reserve bool) []Value {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	n--
	if n > uint64(len(d.b)) {
		d.fail("row length")
		return nil
	}
	var row []Value
	if uint64(cap(spare)) >= n {
		row = spare[:n:n]
	} else if d.alloc != nil {
		row = d.alloc(int(n))
	} else if reserve {
		row = make([]Value, n, 2*n)
	} else {
		row = make([]Value, n)
	}
	for i := range row {
		k := Kind(d.byte1())
		v := Value{kind: k}
		switch k {
		case KindNull:
		case KindInt, KindYear, KindTimestamp, KindTime:
			v.num = uint64(d.varint())
		case KindUint, KindBits, KindDate, KindDateTime:
			v.num = d.uvarint()
		case KindFloat32:
			if len(d.b) < 4 {
				d.fail("short float32")
				return nil
			}
			v.num = uint64(binary.LittleEndian.Uint32(d.b))
			d.b = d.b[4:]
		case KindFloat64:
			if len(d.b) < 8 {
				d.fail("short float64")
				return nil
			}
			v.num = binary.LittleEndian.Uint64(d.b)
			d.b = d.b[8:]
		case KindDecimal, KindString, KindBytes, KindJSON:
			v.str = d.str()
		case KindEnum, KindSet:
			v.num = d.uvarint()
			v.str = d.str()
		default:
			d.fail(fmt.Sprintf("value kind %d", k))
			return nil
		}
		if d.err != nil {
			return nil
		}
		row[i] = v
	}
	return row
}
