package mysql

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Checkpoint is the source position after the last complete transaction,
// with the progress of a running snapshot. It is stored, encoded as JSON,
// in the log atomically with every appended transaction, so snapshot
// progress is exactly-once with the events it covers.
type Checkpoint struct {
	Flavor string `json:"flavor"`
	// File and Pos are where the next transaction starts.
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	// GTIDSet is the set of transactions fully read (empty when GTID is off).
	GTIDSet string `json:"gtid_set,omitempty"`
	// Time is the commit time (Unix seconds) of the last transaction.
	Time uint32 `json:"time,omitempty"`
	// Snapshot is the progress of a running snapshot; nil when none runs.
	Snapshot *SnapshotState `json:"snapshot,omitempty"`
	// Tables is the generation of the stored list of captured tables
	// (state namespace mysql.snapshot); tables captured now but not in it
	// are new to the deployment and are snapshotted.
	Tables uint64 `json:"tables,omitempty"`
	// SnapshotOnlyDone marks a finished snapshot_only run.
	SnapshotOnlyDone bool `json:"snapshot_only_done,omitempty"`
	// RequestsDone lists the on-demand snapshot requests already taken up.
	RequestsDone []string `json:"requests_done,omitempty"`

	// skipTo: start reading at File:4 and skip transactions that end at or
	// before File:skipTo (to learn the GTID state at an explicit position).
	skipTo uint32
}

// SnapshotState is the progress of a snapshot.
type SnapshotState struct {
	// List is the generation of the stored table list being copied.
	List uint64 `json:"list"`
	// Next is the index in the list of the next table to start.
	Next int `json:"next"`
	// Active are the started, unfinished tables with their resume keys.
	Active []TableProgress `json:"active,omitempty"`
	// Rows counts the rows copied so far; Total the estimate of all rows.
	Rows  uint64 `json:"rows"`
	Total uint64 `json:"total,omitempty"`
	// Only: snapshot_only — stop when done.
	Only bool `json:"only,omitempty"`
	// Started is when the snapshot began (Unix seconds).
	Started int64 `json:"started,omitempty"`
}

// TableProgress is one table being copied.
type TableProgress struct {
	Table string `json:"table"`
	// After is the key after which copying resumes (nil: from the start),
	// in the typed text form of keyText.
	After []string `json:"after,omitempty"`
	Rows  uint64   `json:"rows"`
	// Since is the position (hpos.number) where the table's copy
	// started; with the key inventory, keys last delivered before it that
	// the copy does not deliver again are deleted when the copy ends.
	Since uint64 `json:"since,omitempty"`
}

// Encode returns the stored form.
func (c Checkpoint) Encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

// DecodeCheckpoint parses a stored checkpoint.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("mysql: checkpoint %q is not a MySQL checkpoint: %w", b, err)
	}
	if c.File == "" && c.GTIDSet == "" {
		return c, fmt.Errorf("mysql: checkpoint %q has neither file:pos nor GTID set", b)
	}
	return c, nil
}

func (c Checkpoint) String() string {
	s := fmt.Sprintf("%s:%d", c.File, c.Pos)
	if c.GTIDSet != "" {
		s += " gtid=" + c.GTIDSet
	}
	return s
}

func (c *Checkpoint) pos() hpos { return posOf(c.File, c.Pos) }

// clone copies the checkpoint with its snapshot state.
func (c Checkpoint) clone() Checkpoint {
	if c.Snapshot != nil {
		s := *c.Snapshot
		s.Active = append([]TableProgress(nil), s.Active...)
		for i := range s.Active {
			s.Active[i].After = append([]string(nil), s.Active[i].After...)
		}
		c.Snapshot = &s
	}
	c.RequestsDone = append([]string(nil), c.RequestsDone...)
	return c
}

// StartKind says where a source without checkpoint starts.
type StartKind uint8

// Start kinds.
const (
	StartLatest   StartKind = iota // the server's current position
	StartEarliest                  // the oldest binlog the server still has
	StartGTID                      // an explicit GTID set (transactions already read)
	StartFilePos                   // an explicit binlog file and offset (a transaction boundary)
	StartTime                      // the first transaction at or after a time
)

// Start is a parsed start position.
type Start struct {
	Kind StartKind
	GTID string
	File string
	Pos  uint32
	Time time.Time
}

func (s Start) String() string {
	switch s.Kind {
	case StartEarliest:
		return "earliest"
	case StartGTID:
		return "gtid:" + s.GTID
	case StartFilePos:
		return fmt.Sprintf("file:%s:%d", s.File, s.Pos)
	case StartTime:
		return "time:" + s.Time.UTC().Format(time.RFC3339Nano)
	}
	return "latest"
}

// ParseStart parses a start position:
//
//	latest                         the current end of the binlog (default)
//	earliest                       the oldest binlog on the server
//	gtid:<set>                     after the transactions of a GTID set: MySQL
//	                               "uuid:1-100,uuid2:1-5", MariaDB "0-1-100,1-2-5"
//	file:<binlog file>:<offset>    a binlog file and a transaction boundary in it
//	time:<RFC 3339 time>           the first transaction at or after the time
//
// The prefixes may be left out when the form is unambiguous
// ("mysql-bin.000003:4", "2026-01-02T15:04:05Z", "0-1-100").
func ParseStart(s string) (Start, error) {
	s = strings.TrimSpace(s)
	low := strings.ToLower(s)
	switch {
	case low == "" || low == "latest":
		return Start{Kind: StartLatest}, nil
	case low == "earliest":
		return Start{Kind: StartEarliest}, nil
	case strings.HasPrefix(low, "gtid:"):
		g := strings.TrimSpace(s[5:])
		if g == "" {
			return Start{}, errors.New("gtid: needs a GTID set")
		}
		return Start{Kind: StartGTID, GTID: g}, nil
	case strings.HasPrefix(low, "file:"):
		return parseFilePos(s[5:])
	case strings.HasPrefix(low, "time:"):
		return parseStartTime(s[5:])
	}
	if st, err := parseStartTime(s); err == nil {
		return st, nil
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && isBinlogName(s[:i]) {
		if st, err := parseFilePos(s); err == nil {
			return st, nil
		}
	}
	if looksLikeGTID(s) {
		return Start{Kind: StartGTID, GTID: s}, nil
	}
	return Start{}, fmt.Errorf("start %q: want latest, earliest, gtid:<set>, file:<binlog file>:<offset> or time:<RFC 3339 time>", s)
}

func parseFilePos(s string) (Start, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return Start{}, fmt.Errorf("file:%s: want file:<binlog file>:<offset>", s)
	}
	pos, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil || pos < 4 {
		return Start{}, fmt.Errorf("file:%s: offset %q is not a binlog offset (>= 4)", s, s[i+1:])
	}
	return Start{Kind: StartFilePos, File: s[:i], Pos: uint32(pos)}, nil
}

func parseStartTime(s string) (Start, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return Start{Kind: StartTime, Time: t}, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 1e9 {
		return Start{Kind: StartTime, Time: time.Unix(n, 0)}, nil
	}
	return Start{}, fmt.Errorf("time:%s: want an RFC 3339 time like 2026-01-02T15:04:05Z (times without a zone are UTC)", s)
}

func looksLikeGTID(s string) bool {
	// MariaDB: d-s-n[,d-s-n]; MySQL: uuid:interval[:interval][,uuid:...]
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if f := strings.Split(part, "-"); len(f) == 3 {
			ok := true
			for _, x := range f {
				if _, err := strconv.ParseUint(x, 10, 64); err != nil {
					ok = false
				}
			}
			if ok {
				continue
			}
		}
		if i := strings.IndexByte(part, ':'); i == 36 {
			continue
		}
		return false
	}
	return s != ""
}

// isBinlogName reports whether s looks like a binlog file name (base.000123).
func isBinlogName(s string) bool {
	j := strings.LastIndexByte(s, '.')
	if j <= 0 || j == len(s)-1 {
		return false
	}
	_, err := strconv.ParseUint(s[j+1:], 10, 64)
	return err == nil
}
