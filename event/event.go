package event

import (
	"strconv"
	"unsafe"
)

// Op is what happened to a row, or DDL.
type Op uint8

// Operations. The letters are the ODS _op codes.
const (
	OpInsert Op = iota + 1 // "I"
	OpUpdate               // "U": Before and After
	OpDelete               // "D": Before
	OpRead                 // "R": a snapshot read of an existing row (After)
	OpDDL                  // "X": a schema change; DDL holds the statement
)

// Code returns the one-letter ODS _op code.
func (o Op) Code() string {
	switch o {
	case OpInsert:
		return "I"
	case OpUpdate:
		return "U"
	case OpDelete:
		return "D"
	case OpRead:
		return "R"
	case OpDDL:
		return "X"
	}
	return "?" + strconv.Itoa(int(o))
}

func (o Op) String() string {
	switch o {
	case OpInsert:
		return "insert"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	case OpRead:
		return "read"
	case OpDDL:
		return "ddl"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Position is where an event sits in its source.
//
// MySQL/MariaDB: File and Offset are the binlog file and the offset just
// after the event (where a reader resumes), GTID the GTID of the event's
// transaction. Kafka sources: File is "topic/partition" and Offset the
// message offset; GTID is empty.
type Position struct {
	File   string
	Offset uint64
	GTID   string
}

// String renders "file:offset" with " gtid=..." when set.
func (p Position) String() string {
	var tmp [96]byte
	return string(p.AppendText(tmp[:0]))
}

// AppendText appends String's text to b.
func (p Position) AppendText(b []byte) []byte {
	b = append(b, p.File...)
	b = append(b, ':')
	b = strconv.AppendUint(b, p.Offset, 10)
	if p.GTID != "" {
		b = append(b, " gtid="...)
		b = append(b, p.GTID...)
	}
	return b
}

// Event is one change of one source table.
type Event struct {
	// Seq is the dense, increasing log sequence, assigned by the log on append.
	Seq uint64
	Op  Op
	// Source is the source table. Always set, also for DDL.
	Source TableID
	// Table is the schema in force at this event's position; for DDL, the
	// schema after the statement (nil when the statement dropped the table).
	Table *Table
	// Before is the row image before the change (update, delete); After the
	// image after it (insert, update, read). Values align with Table.Columns.
	Before, After []Value
	// DDL is the statement of an OpDDL event.
	DDL string
	// CommitTime is the source commit time in microseconds since the Unix epoch (UTC).
	CommitTime int64
	// Pos is the source position of the event.
	Pos Position
	// TxnEnd marks the last event of its source transaction.
	TxnEnd bool
	// Origin is the event's Seq in the log of the odsync that published it
	// to Kafka in the odsync-native format (package sink/kafka), 0 for
	// every other source. Sinks write it as _seq when set, so the ODS of a
	// group of workers consuming one capture's topics carries the
	// capture's _seq: one dedupe and ordering key across workers.
	Origin uint64
}

// ODSSeq is the _seq an ODS row of e carries: Origin when set, else Seq.
func (e *Event) ODSSeq() uint64 {
	if e.Origin != 0 {
		return e.Origin
	}
	return e.Seq
}

// MemSize approximates the memory an event holds: the Event, its row
// images and their strings (a string shared by several events is counted
// by each). Bounds on buffered events (capture queues, source buffers)
// use it. It differs from ApproxSize on purpose: MemSize is the memory
// held (Go headers included, ~1.7x ApproxSize for small rows), ApproxSize
// the size of the output; a memory bound counted in ApproxSize undercounts.
func (e *Event) MemSize() int64 {
	const eventBytes, valueBytes = int(unsafe.Sizeof(Event{})), int(unsafe.Sizeof(Value{}))
	n := int64(eventBytes + len(e.DDL) + len(e.Pos.File) + len(e.Pos.GTID))
	for _, row := range [2][]Value{e.Before, e.After} {
		n += int64(valueBytes * len(row))
		for i := range row {
			n += int64(len(row[i].str))
		}
	}
	return n
}

// ApproxSize estimates the bytes an event takes, for byte budgets (batch
// limits, the capture queue, transaction spilling) and byte counters: a
// fixed overhead and the DDL text, plus a header and the payload of every
// value. It is odsync's one estimate of an event's output size; the
// memory an event holds is MemSize.
func (e *Event) ApproxSize() int64 {
	n := int64(64 + len(e.DDL))
	for _, row := range [2][]Value{e.Before, e.After} {
		for _, v := range row {
			n += 9 + int64(len(v.Str()))
		}
	}
	return n
}

// Row returns the image that describes the row's state after the event:
// After, or Before for deletes.
func (e *Event) Row() []Value {
	if e.Op == OpDelete {
		return e.Before
	}
	return e.After
}
