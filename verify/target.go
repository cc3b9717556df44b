package verify

import (
	"strconv"
	"strings"

	"github.com/odsync/odsync/sink/readback"
)

// TargetReader reads the ODS tables of one sink back (readback.Reader).
type TargetReader = readback.Reader

// Layout is an ODS table as a target reader finds it.
type Layout = readback.Layout

// Mark is where a Scan ended.
type Mark = readback.Mark

// SinkProgress is how far a sink has written.
type SinkProgress = readback.Progress

// binlogPos is a parsed _pos or watermark position.
type binlogPos struct {
	file   string
	offset uint64
	gtid   string
}

// parsePos parses "file:offset[ gtid=...]".
func parsePos(s string) (binlogPos, bool) {
	var p binlogPos
	main, gtid, _ := strings.Cut(s, " gtid=")
	p.gtid = strings.TrimSpace(gtid)
	i := strings.LastIndexByte(main, ':')
	if i <= 0 {
		return p, false
	}
	off, err := strconv.ParseUint(main[i+1:], 10, 64)
	if err != nil {
		return p, false
	}
	p.file, p.offset = main[:i], off
	return p, true
}

// compareFiles orders binlog file names by their numeric suffix.
func compareFiles(a, b string) int {
	ai, bi := strings.LastIndexByte(a, '.'), strings.LastIndexByte(b, '.')
	if ai >= 0 && bi >= 0 && a[:ai] == b[:bi] {
		an, e1 := strconv.ParseUint(a[ai+1:], 10, 64)
		bn, e2 := strconv.ParseUint(b[bi+1:], 10, 64)
		if e1 == nil && e2 == nil {
			switch {
			case an < bn:
				return -1
			case an > bn:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(a, b)
}

// sameLog reports whether two positions are in the same binlog sequence
// ("binlog.000003" and "binlog.000010"), so that comparing them means
// something (a Kafka "topic/partition" or TiDB position never is).
func sameLog(aFile, bFile string) bool {
	ai, bi := strings.LastIndexByte(aFile, '.'), strings.LastIndexByte(bFile, '.')
	if ai <= 0 || bi <= 0 || aFile[:ai] != bFile[:bi] {
		return false
	}
	_, e1 := strconv.ParseUint(aFile[ai+1:], 10, 64)
	_, e2 := strconv.ParseUint(bFile[bi+1:], 10, 64)
	return e1 == nil && e2 == nil
}

// comparePos orders two binlog positions of one server.
func comparePos(a binlogPos, bFile string, bOffset uint64) int {
	if c := compareFiles(a.file, bFile); c != 0 {
		return c
	}
	switch {
	case a.offset < bOffset:
		return -1
	case a.offset > bOffset:
		return 1
	}
	return 0
}

// gtidCovers reports whether the transaction GTID of a row (MariaDB
// "domain-server-seq", MySQL "uuid:n") is at or after the latest
// transaction of a watermark GTID state, i.e. the row was written no
// earlier than the watermark's last transaction. ok is false when it
// cannot tell.
func gtidCovers(rowGTID, state, serverUUID string) (covers, ok bool) {
	if rowGTID == "" || state == "" {
		return false, false
	}
	if parts := strings.Split(rowGTID, "-"); len(parts) == 3 && !strings.Contains(rowGTID, ":") {
		// MariaDB: the state lists the last GTID per domain.
		rowSeq, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return false, false
		}
		domains := strings.Split(state, ",")
		if len(domains) != 1 {
			return false, false
		}
		sp := strings.Split(strings.TrimSpace(domains[0]), "-")
		if len(sp) != 3 || sp[0] != parts[0] {
			return false, false
		}
		seq, err := strconv.ParseUint(sp[2], 10, 64)
		if err != nil {
			return false, false
		}
		return rowSeq >= seq, true
	}
	// MySQL: compare on the server's own UUID, whose interval end is the
	// last transaction it committed.
	uuid, n, found := strings.Cut(rowGTID, ":")
	if !found || serverUUID == "" || !strings.EqualFold(uuid, serverUUID) {
		return false, false
	}
	rowN, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return false, false
	}
	for _, set := range strings.Split(state, ",") {
		u, ivs, found := strings.Cut(strings.TrimSpace(set), ":")
		if !found || !strings.EqualFold(u, serverUUID) {
			continue
		}
		var end uint64
		for _, iv := range strings.Split(ivs, ":") {
			_, hi, _ := strings.Cut(iv, "-")
			if hi == "" {
				hi = iv
			}
			if v, err := strconv.ParseUint(hi, 10, 64); err == nil && v > end {
				end = v
			}
		}
		return rowN >= end, true
	}
	return false, false
}
