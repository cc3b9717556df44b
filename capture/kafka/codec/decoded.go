package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/snappy"
	"github.com/pierrec/lz4/v4"

	"github.com/odsync/odsync/event"
)

// Kind says what a Decoded unit carries.
type Kind uint8

// Kinds of decoded units.
const (
	// KindRow: row changes (Events), or a claim-check reference.
	KindRow Kind = iota + 1
	// KindDDL: one OpDDL event.
	KindDDL
	// KindWatermark: a TiCDC progress marker (canal-json TIDB_WATERMARK,
	// open-protocol resolved event, TiCDC debezium "m"): every change with
	// CommitTs <= Watermark has been written to this partition before it.
	KindWatermark
	// KindSkip: a message that carries no change (Debezium tombstone,
	// heartbeat or transaction marker, Maxwell bootstrap start/complete).
	// Reason says which. The consumer still advances its offset past it.
	KindSkip
)

func (k Kind) String() string {
	switch k {
	case KindRow:
		return "row"
	case KindDDL:
		return "ddl"
	case KindWatermark:
		return "watermark"
	case KindSkip:
		return "skip"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Decoded is one unit of a decoded Kafka message. A message yields one
// Decoded, except an open-protocol batch, which yields one per event.
type Decoded struct {
	Kind Kind
	// Events are the changes: for KindRow one event per row (canal-json and
	// open-protocol one; Alibaba Canal may batch several), for KindDDL one
	// OpDDL event. Event.Pos is left empty: the consumer knows the topic,
	// partition and offset (see SetPosition). Event.Seq is assigned later by
	// the log.
	Events []event.Event
	// CommitTs is the TiDB TSO of the commit of Events; 0 when the message
	// does not carry it (plain canal-json, most generic formats).
	CommitTs uint64
	// Watermark is the resolved TSO of a KindWatermark unit.
	Watermark uint64
	// HandleKeyOnly: the row images hold only the handle-key columns
	// (TiCDC large-message handle-key-only, open-protocol "ohk"). The
	// consumer must read the full row from TiDB at CommitTs (before image at
	// CommitTs-1) or fail; the decoder never fetches.
	HandleKeyOnly bool
	// ClaimCheck is the claim-check location of a message too large for
	// Kafka: the full message is stored there. Events, when present, hold
	// only the handle-key columns. The decoder never fetches.
	ClaimCheck string
	// Reason explains a KindSkip unit.
	Reason string
}

// TSOToMicros converts a TiDB TSO to microseconds since the Unix epoch: the
// physical part (tso >> 18) is milliseconds.
func TSOToMicros(tso uint64) int64 { return int64(tso>>18) * 1000 }

// TSOFromMillis builds the smallest TSO of a physical millisecond: a lower
// bound for changes stamped with that time (e.g. canal-json `es`).
func TSOFromMillis(ms int64) uint64 {
	if ms <= 0 {
		return 0
	}
	return uint64(ms) << 18
}

// SetPosition sets Pos on every event of ds that has none: Kafka sources
// use File "topic/partition" and Offset the message offset. Events of
// odsync's own format keep the position of the capture that published them.
func SetPosition(ds []Decoded, pos event.Position) {
	for i := range ds {
		for j := range ds[i].Events {
			if ds[i].Events[j].Pos.File == "" {
				ds[i].Events[j].Pos = pos
			}
		}
	}
}

// ErrMalformed marks every decode failure (errors.Is(err, ErrMalformed)).
var ErrMalformed = errors.New("ticdc: malformed message")

// DecodeError says where a message failed to decode and why. The consumer
// adds the Kafka position.
type DecodeError struct {
	Protocol string
	// Table is "db.table" when known.
	Table string
	// Column is the column whose value failed, when the error is about one.
	Column string
	// Field locates the failure in the message: "data[0]", "_tidb.commitTs",
	// "event 3 key", ...
	Field string
	Err   error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString(e.Protocol)
	if e.Table != "" {
		b.WriteString(": table ")
		b.WriteString(e.Table)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	if e.Column != "" {
		b.WriteString(": column ")
		b.WriteString(e.Column)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes every DecodeError match ErrMalformed.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

func TableName(db, table string) string {
	if db == "" && table == "" {
		return ""
	}
	return db + "." + table
}

// Decompressor undoes the configured value compression. The output buffer
// is reused between calls: decoders copy what they keep.
type Decompressor struct {
	Codec string
	buf   []byte
	lz    *lz4.Reader
	rd    bytes.Reader
	out   bytes.Buffer
}

// maxDecompressed bounds a decompressed value (Kafka messages are far
// smaller; this protects memory from hostile input).
const maxDecompressed = 256 << 20

func (d *Decompressor) Decode(b []byte) ([]byte, error) {
	switch d.Codec {
	case CompressionSnappy:
		n, err := snappy.DecodedLen(b)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n > maxDecompressed {
			return nil, fmt.Errorf("snappy: decoded length %d exceeds %d", n, maxDecompressed)
		}
		out, err := snappy.Decode(d.buf[:cap(d.buf)], b)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		d.buf = out
		return out, nil
	case CompressionLZ4:
		if d.lz == nil {
			d.lz = lz4.NewReader(nil)
		}
		d.rd.Reset(b)
		d.lz.Reset(&d.rd)
		d.out.Reset()
		if _, err := d.out.ReadFrom(io.LimitReader(d.lz, maxDecompressed+1)); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if d.out.Len() > maxDecompressed {
			return nil, fmt.Errorf("lz4: decoded value exceeds %d bytes", maxDecompressed)
		}
		return d.out.Bytes(), nil
	}
	return b, nil
}

// tableCache maps a schema signature to the sealed table and the column
// decoders derived from it.
type TableEntry struct {
	Table *event.Table
	Specs []ColSpec
}

type TableCache struct {
	M   map[string]*TableEntry
	max int
}

func NewTableCache(max int) TableCache {
	return TableCache{M: make(map[string]*TableEntry), max: max}
}

func (c *TableCache) Get(key []byte) *TableEntry { return c.M[string(key)] }

func (c *TableCache) Put(key []byte, e *TableEntry) {
	if len(c.M) >= c.max {
		clear(c.M)
	}
	c.M[string(key)] = e
}

// AppendKeyPart appends a length-prefixed part to a cache key.
func AppendKeyPart(key []byte, part []byte) []byte {
	n := len(part)
	key = append(key, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(key, part...)
}

func AppendKeyString(key []byte, part string) []byte {
	n := len(part)
	key = append(key, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(key, part...)
}
