package mysql

import (
	"strconv"
)

// MariaDB's fixed-binary types UUID, INET4 and INET6 (plugin types since
// 10.7/10.10). SELECT returns their text form; the binlog carries their
// 16 or 4 bytes in a MYSQL_TYPE_STRING column with the binary character
// set, trailing zero bytes stripped (like BINARY(n)). The capture delivers
// the text form from both paths (event.TypeChar, RawType "uuid", "inet4",
// "inet6"), formatting the binlog bytes exactly as the server prints them.
//
// UUID: the binlog carries the in-memory representation, which is the byte
// order of the text form (the server swaps the segments of v1..v5 UUIDs in
// the record, for index order, but unswaps them when it packs a row into
// the binlog: plugin/type_uuid/sql_type_uuid.h UUID::pack). INET4 and INET6
// are stored in network order.

// fbtKind is one of the fixed-binary types ("" for none).
type fbtKind uint8

const (
	fbtNone fbtKind = iota
	fbtUUID
	fbtInet4
	fbtInet6
)

// fbtOf returns the kind of a schema-history type name.
func fbtOf(typ string) fbtKind {
	switch typ {
	case "uuid":
		return fbtUUID
	case "inet4":
		return fbtInet4
	case "inet6":
		return fbtInet6
	}
	return fbtNone
}

// size is the stored size in bytes.
func (k fbtKind) size() int {
	switch k {
	case fbtUUID, fbtInet6:
		return 16
	case fbtInet4:
		return 4
	}
	return 0
}

// textLength is the longest text form in characters.
func (k fbtKind) textLength() uint32 {
	switch k {
	case fbtUUID:
		return 36 // 123e4567-e89b-12d3-a456-426655440000
	case fbtInet4:
		return 15 // 255.255.255.255
	case fbtInet6:
		return 39 // ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
	}
	return 0
}

// text formats the (possibly zero-stripped) binlog bytes as the server's
// text form. ok is false when there are more bytes than the type holds.
func (k fbtKind) text(b []byte) (string, bool) {
	n := k.size()
	if len(b) > n {
		return "", false
	}
	var buf [16]byte
	copy(buf[:], b) // the binlog strips trailing zero bytes
	v := buf[:n]
	switch k {
	case fbtUUID:
		return formatUUID(v), true
	case fbtInet4:
		return string(appendInet4(nil, v)), true
	case fbtInet6:
		return formatInet6(v), true
	}
	return "", false
}

const hexDigits = "0123456789abcdef"

// formatUUID is my_uuid2str with hyphens: lower case, 8-4-4-4-12.
func formatUUID(b []byte) string {
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexDigits[x>>4], hexDigits[x&15])
	}
	return string(out)
}

func appendInet4(out []byte, b []byte) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			out = append(out, '.')
		}
		out = strconv.AppendUint(out, uint64(b[i]), 10)
	}
	return out
}

// formatInet6 is MariaDB's Inet6::to_string: lower-case hex words without
// leading zeros, the first longest run of zero words (even a single one)
// as "::", and IPv4-compatible (::a.b.c.d) and IPv4-mapped
// (::ffff:a.b.c.d) addresses with a dotted IPv4 tail.
func formatInet6(b []byte) string {
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	gapPos, gapLen := -1, -1
	runPos, runLen := -1, -1
	for i := range w {
		if w[i] != 0 {
			if runPos >= 0 {
				if runLen > gapLen {
					gapPos, gapLen = runPos, runLen
				}
				runPos, runLen = -1, -1
			}
			continue
		}
		if runPos >= 0 {
			runLen++
		} else {
			runPos, runLen = i, 1
		}
	}
	if runPos >= 0 && runLen > gapLen {
		gapPos, gapLen = runPos, runLen
	}
	out := make([]byte, 0, 39)
	for i := 0; i < 8; i++ {
		switch {
		case i == gapPos:
			if i == 0 {
				out = append(out, ':')
			}
			out = append(out, ':')
			i += gapLen - 1
		case i == 6 && gapPos == 0 && (gapLen == 6 || gapLen == 5 && w[5] == 0xffff):
			return string(appendInet4(out, b[12:16]))
		default:
			out = strconv.AppendUint(out, uint64(w[i]), 16)
			if i != 7 {
				out = append(out, ':')
			}
		}
	}
	return string(out)
}
