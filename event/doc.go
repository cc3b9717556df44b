// Package event is odsync's shared vocabulary: the change events that flow from
// a capture, through the durable log (package offsets), to every sink.
//
// It depends on nothing but the standard library so that every other package
// can import it without cycles.
//
// The model:
//
//   - An Event is one row change (insert, update, delete, snapshot read) or one
//     DDL statement of one source table. It carries typed before/after row images
//     (Value never turns a number into a lossy string), the table schema in force
//     at its position, the source position, the source commit time, and a flag
//     that marks the last event of its source transaction.
//   - Seq is assigned by the log when the event is appended: dense and
//     increasing, it is the ODS dedupe and ordering key (_seq).
//   - A Table describes the columns of a source table at one point in its history.
//     Its ID is a content hash, so identical schemas share one ID and the log
//     stores each schema once.
package event
