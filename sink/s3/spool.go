package s3

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// The spool directory:
//
//	state.json                 the committed state (atomically replaced)
//	layouts/<table>-<lv>.json  target layouts referenced by spools and heads
//	spool/<firstSeq>.spool     rows of one table partition, appended
//	tmp/                       encoded files being uploaded (scratch)
//
// A spool file is a sequence of records: payload length and CRC-32C of the
// payload (4 bytes each, big endian), payload = event.AppendEvent of an
// event whose After is the target row. Only the first Size bytes recorded
// in state.json are valid; bytes past it come from a Write that did not
// commit and are cut off on recovery.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const stateVersion = 1

// state is what state.json holds.
type state struct {
	Version int `json:"version"`
	// Applied is the last log sequence the sink has taken in: every event
	// up to it is in a spool or uploaded.
	Applied uint64 `json:"applied"`
	// Clock is the largest commit time (µs) seen: the data clock that
	// ages spools.
	Clock  int64    `json:"clock"`
	Spools []*spool `json:"spools"`
	// Heads is, per target base name, the layout the last row or schema
	// change of the target was mapped to: the mapper is reconciled with it
	// at the next start (committed with Applied, so it is exactly the
	// layout in force at Applied).
	Heads map[string]headRef `json:"heads,omitempty"`
	// Publish lists the layout changes whose schema files and Athena DDL
	// are not yet in the bucket, in order.
	Publish []publication `json:"publish,omitempty"`
	// Unverified lists, per target base name, the first layout spooled
	// while the bucket could not be read to find the target's layout (a
	// new spool directory, S3 unreachable): it is checked against the
	// bucket before the target's first upload.
	Unverified map[string]headRef `json:"unverified,omitempty"`
}

// headRef names a target's current layout.
type headRef struct {
	Table  string `json:"table"`
	Layout uint64 `json:"layout"`
}

// publication is a layout change to publish in the bucket: the schema
// file of the new layout, its Athena DDL, and the current.* pointers.
type publication struct {
	Base   string `json:"base"`
	Table  string `json:"table"`
	Layout uint64 `json:"layout"`
	// Prev is the layout before (zero for a new target).
	PrevTable string `json:"prev_table,omitempty"`
	Prev      uint64 `json:"prev,omitempty"`
	// Schema and DDL are the schema file and the Athena DDL ("" for
	// jsonl), rendered from the live target when the head changed, so a
	// replay after a crash publishes the same bytes.
	Schema string `json:"schema"`
	DDL    string `json:"ddl,omitempty"`
}

// spool is the rows of one target partition awaiting upload.
type spool struct {
	Table  string `json:"table"`
	Part   string `json:"part"`
	Layout uint64 `json:"layout"`
	// FirstSeq names the spool file; FirstSeq..LastSeq name the object.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// Opened is the data clock when the spool was started (its age origin).
	Opened int64 `json:"opened"`
	// MinCommit is the smallest commit time of its rows (for the checkpoint).
	MinCommit int64 `json:"min_commit"`
	Rows      int64 `json:"rows"`
	// Size is the committed length of the spool file.
	Size   int64 `json:"size"`
	Sealed bool  `json:"sealed"`
}

// layout is a target column layout as stored in layouts/: the target (its
// exported fields, enough for the encoders) and the content of its schema
// file, rendered from the live target when the layout was first spooled.
type layout struct {
	Target *schema.Target `json:"target"`
	Schema string         `json:"schema"`
}

func layoutFile(dir, table string, lv uint64) string {
	return filepath.Join(dir, "layouts", table+"-"+hex16(lv)+".json")
}

func spoolFile(dir string, first uint64) string {
	return filepath.Join(dir, "spool", fmt.Sprintf("%020d.spool", first))
}

func hex16(v uint64) string {
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

// appendRecord appends the spool record of a target row: payload length
// (4 bytes, big endian), CRC-32C of the payload (4 bytes), payload.
func appendRecord(buf []byte, op event.Op, row []event.Value) []byte {
	ev := event.Event{Op: op, After: row}
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
	buf = event.AppendEvent(buf, &ev)
	p := buf[start+8:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(p)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(p, crcTable))
	return buf
}

// recordReader reads the records of a spool file.
type recordReader struct {
	r    *bufio.Reader
	left int64 // committed bytes not yet read
	off  int64
	buf  []byte
	path string
}

func newRecordReader(f io.Reader, size int64, path string) *recordReader {
	return &recordReader{r: bufio.NewReaderSize(f, 1<<20), left: size, path: path}
}

var errCorruptSpool = errors.New("s3 sink: corrupt spool")

// next returns the next row, or io.EOF after the committed size.
func (rr *recordReader) next() (event.Event, error) {
	if rr.left <= 0 {
		return event.Event{}, io.EOF
	}
	start := rr.off
	fail := func(what string) (event.Event, error) {
		return event.Event{}, fmt.Errorf("%w: %s at offset %d: %s", errCorruptSpool, rr.path, start, what)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(rr.r, hdr[:]); err != nil {
		return fail("record header: " + err.Error())
	}
	n := int64(binary.BigEndian.Uint32(hdr[:4]))
	if n+8 > rr.left {
		return fail("record runs past the committed size")
	}
	if cap(rr.buf) < int(n) {
		rr.buf = make([]byte, n)
	}
	p := rr.buf[:n]
	if _, err := io.ReadFull(rr.r, p); err != nil {
		return fail("record payload: " + err.Error())
	}
	if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return fail("checksum mismatch")
	}
	rr.left -= n + 8
	rr.off += n + 8
	e, err := event.DecodeEvent(p, func(uint64) (*event.Table, error) { return nil, errors.New("unexpected table reference") })
	if err != nil {
		return fail(err.Error())
	}
	return e, nil
}

// writeFileSync writes path atomically: temp file, fsync, rename, fsync dir.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
