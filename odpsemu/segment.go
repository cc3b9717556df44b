package odpsemu

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// Segment files hold a partition's rows. A segment is a sequence of batches;
// one batch is one accepted request (a stream PUT or a batch-upload block),
// so a torn write never leaves half a request behind:
//
//	batch   := uvarint(len(payload)) uvarint(records) payload crc32c(payload) as uint32 LE
//	payload := ( uvarint(len(record)) record )*
//
// record is the record exactly as the client sent it (fields, END_RECORD key,
// record CRC), numbered by table column position. Columns only ever get
// appended (ADD COLUMNS), so older records stay valid: missing trailing
// columns read as NULL.

// batchBuilder accumulates one batch.
type batchBuilder struct {
	payload []byte
	records int64
}

func (b *batchBuilder) add(record []byte) {
	b.payload = binary.AppendUvarint(b.payload, uint64(len(record)))
	b.payload = append(b.payload, record...)
	b.records++
}

func (b *batchBuilder) bytes() []byte {
	out := make([]byte, 0, len(b.payload)+24)
	out = binary.AppendUvarint(out, uint64(len(b.payload)))
	out = binary.AppendUvarint(out, uint64(b.records))
	out = append(out, b.payload...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(b.payload, castagnoli))
	return out
}

// errTornBatch marks an incomplete or corrupt batch.
var errTornBatch = errors.New("torn or corrupt batch")

// readBatchHeader reads a batch header from r.
func readBatchHeader(r *bufio.Reader) (payloadLen, records uint64, hdrLen int, err error) {
	pl, err := binary.ReadUvarint(r)
	if err != nil {
		if err == io.EOF {
			return 0, 0, 0, io.EOF
		}
		return 0, 0, 0, errTornBatch
	}
	rc, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, 0, 0, errTornBatch
	}
	var tmp [binary.MaxVarintLen64]byte
	hdrLen = binary.PutUvarint(tmp[:], pl) + binary.PutUvarint(tmp[:], rc)
	return pl, rc, hdrLen, nil
}

// scanSegment verifies every batch of a segment file and returns the number
// of records and the length of the valid prefix.
func scanSegment(path string) (records, validLen int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size := st.Size()
	r := bufio.NewReaderSize(f, 256<<10)
	var payload []byte
	for {
		pl, rc, hdrLen, err := readBatchHeader(r)
		if err == io.EOF {
			return records, validLen, nil
		}
		if err != nil || pl > uint64(size-validLen) {
			return records, validLen, nil // torn header or a length past the end
		}
		if uint64(cap(payload)) < pl {
			payload = make([]byte, pl)
		}
		payload = payload[:pl]
		var crcb [4]byte
		if _, err := io.ReadFull(r, payload); err != nil {
			return records, validLen, nil
		}
		if _, err := io.ReadFull(r, crcb[:]); err != nil {
			return records, validLen, nil
		}
		if binary.LittleEndian.Uint32(crcb[:]) != crc32.Checksum(payload, castagnoli) {
			return records, validLen, nil
		}
		if n, ok := countPayloadRecords(payload); !ok || n != int64(rc) {
			return records, validLen, nil
		}
		records += int64(rc)
		validLen += int64(hdrLen) + int64(pl) + 4
	}
}

func countPayloadRecords(p []byte) (int64, bool) {
	var n int64
	for len(p) > 0 {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return 0, false
		}
		p = p[k+int(l):]
		n++
	}
	return n, true
}

// readSegmentRecords calls fn for records [skip, skip+limit) of a segment
// file (limit < 0 means all). Batches before skip are not read.
func readSegmentRecords(path string, skip, limit int64, fn func(record []byte) error) error {
	if limit == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	var payload []byte
	for {
		pl, rc, _, err := readBatchHeader(r)
		if err == io.EOF {
			if limit > 0 {
				return fmt.Errorf("segment %s: %d records missing", path, limit)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", path, err)
		}
		if pl > uint64(st.Size()) {
			return fmt.Errorf("segment %s: %w", path, errTornBatch)
		}
		if skip >= int64(rc) {
			skip -= int64(rc)
			if _, err := r.Discard(int(pl) + 4); err != nil {
				return fmt.Errorf("segment %s: %w", path, errTornBatch)
			}
			continue
		}
		if uint64(cap(payload)) < pl {
			payload = make([]byte, pl)
		}
		payload = payload[:pl]
		var crcb [4]byte
		if _, err := io.ReadFull(r, payload); err != nil {
			return fmt.Errorf("segment %s: %w", path, errTornBatch)
		}
		if _, err := io.ReadFull(r, crcb[:]); err != nil {
			return fmt.Errorf("segment %s: %w", path, errTornBatch)
		}
		if binary.LittleEndian.Uint32(crcb[:]) != crc32.Checksum(payload, castagnoli) {
			return fmt.Errorf("segment %s: %w", path, errTornBatch)
		}
		p := payload
		for len(p) > 0 {
			l, k := binary.Uvarint(p)
			if k <= 0 || uint64(len(p)-k) < l {
				return fmt.Errorf("segment %s: %w", path, errTornBatch)
			}
			rec := p[k : k+int(l)]
			p = p[k+int(l):]
			if skip > 0 {
				skip--
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
			if limit > 0 {
				limit--
				if limit == 0 {
					return nil
				}
			}
		}
	}
}

// appendFile appends data to path and optionally fsyncs. On a failed write
// the file is truncated back so it never holds a partial batch.
func appendFile(path string, data []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Truncate(off)
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			_ = f.Truncate(off)
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writeFileAtomic writes data to path via a temporary file and rename.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(tmp)
			return err
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if sync {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}
