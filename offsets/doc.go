// Package offsets is odsync's durable, append-only event log: the buffer
// between capture and the sinks, on Pebble.
//
// The capture appends each source transaction (or batch) together with the
// source checkpoint that follows it, in one synced Pebble batch: the log and
// the source position can never disagree. Every sink reads from its own
// cursor, acknowledges what it durably wrote, and GC deletes what every sink
// has acknowledged.
//
// # Key layout
//
// Sequence numbers and versions are 8-byte big-endian, so keys sort by them.
//
//	e/<seq>            event.AppendEvent bytes of the event with that seq
//	k/<ns> 0x00 <key>  state of other components (Get, Put, Scan, Append's KV)
//	m/gc               tail BE8 | cumulative bytes below tail BE8
//	m/head             head BE8 | cumulative bytes at head BE8 | 1 flag byte | checkpoint
//	m/version          format version (1)
//	p/<sink>           the sink's pending batch ends, n × BE8
//	r/<sink>           the sink's cursor: last contiguous acked seq
//	s/<version>        event.AppendTable(t, true) of each table schema referenced by an event
//	t/<seq>            cumulative event bytes through seq, at the last seq of every Append
//
// e/ sorts below every other prefix on purpose. Event keys only grow, so a
// memtable flush holds a key range above all older events; the few other
// keys written all the time (m/head, t/, r/) sort above it. A flushed file
// then overlaps older files only in the small metadata range, never in
// their event ranges, and Pebble compacts little (measured: a metadata
// prefix below e/ rewrote 60% more bytes). GC's range deletions start at
// the tail, not at e/, for the same reason.
//
// The "bytes" of an entry are the length of its e/ value. cum(s) is the sum
// of the bytes of entries 1..s.
//
// # Invariants
//
//  1. Seqs are dense and start at 1: there is an e/ entry for every seq in
//     [Tail, next) and none outside it, where next is the next seq Append
//     assigns. Head is the last committed seq; Tail-1 <= Head < next.
//  2. m/head is written only in the batch of a checkpointed Append, together
//     with every entry it commits, and that batch is synced before Append
//     returns. So whatever Head and Checkpoint report is durable, and the
//     checkpoint always describes exactly the events through Head.
//  3. Entries in (Head, next) are partial (checkpoint == nil): Read, Wait,
//     SeekTime and Ack never see them, and Open deletes them. Partial
//     batches are committed without Sync (unless they carry state): the
//     synced batch that commits them comes later in the WAL, and Pebble
//     recovers a prefix of the WAL, so when that commit is durable they are
//     too.
//  4. A table schema is written under s/<version> in the batch of the first
//     event that references it (or an earlier one) and is never deleted, so
//     every event's schema version resolves. Versions known to be stored are
//     cached in memory; Append does not rewrite them, readers decode each
//     version once.
//  5. Tail-1 <= every cursor <= Head. A cursor moves forward only over a
//     contiguous acked prefix; acked ranges above it are kept in memory only
//     (after a crash the sink rewrites them, idempotently). Cursor writes
//     are not synced; GC deletes only through the lowest persisted cursor
//     value, and GC's synced batch, being later in the WAL, makes those
//     cursor writes durable first.
//  6. Retained bytes = cum(Head) - cum(Tail-1), both stored in meta records
//     (m/head, m/gc); Open computes them without scanning entries. GC finds
//     cum(cursor) from the nearest t/ record at or below it plus at most one
//     Append's entries. Backpressure compares retained bytes with MaxBytes;
//     partial entries are not counted (a transaction bigger than MaxBytes
//     must still be able to commit), so the log can exceed MaxBytes by the
//     last Append.
//  7. Readers see a consistent range without locks on the data: Read and
//     SeekTime read Head, then open their Pebble iterator, then read Tail;
//     GC publishes the new Tail before it deletes. So every seq in
//     [Tail, Head] read this way is present in the iterator's view.
//  8. Pebble cannot continue after a failed WAL write or sync (it would
//     exit the process; here its Fatalf is captured). The first write error
//     puts the Log into a failed state: the call returns the error wrapped
//     with context, every later write returns it too, reads keep working,
//     and the process must Close and reopen. A batch whose commit failed may
//     or may not be durable; after reopen, Head and Checkpoint say which,
//     consistently (invariant 2). An unsynced write (an Ack) whose WAL flush
//     failed in the background is found by the next write, where Pebble
//     panics; that panic is recovered into the same failed state, and Close
//     then cannot close Pebble (its commit lock may be held): the process
//     should exit. Pebble also treats a WAL failure during a memtable
//     rotation as fatal and exits the process; a restart recovers as after
//     a crash.
//
// # What is synced
//
//	checkpointed Append (events, tables, m/head, t/, state)   Sync: the source position moves on
//	partial Append without state                              NoSync: see invariant 3
//	Put, Append state                                         Sync: callers rely on it
//	Register, SetCursor, DropCursor, SetPending               Sync: rare; pending is a write-ahead intent
//	Ack (r/<sink>)                                            NoSync: replay is idempotent; GC and Close sync
//	GC (DeleteRange e/ t/, m/gc)                              Sync
//	Open's deletion of partial entries                        Sync
//
// # Concurrency
//
// Append is meant to be called by one goroutine (calls are serialized by a
// mutex, and an Append blocked by backpressure holds it). Read, Wait, SeekTime, the cursor and pending calls, GC, the state
// calls, Stats and Close are safe from any number of goroutines,
// concurrently with Append. Log.mu guards the in-memory state (head, tail,
// byte counts, checkpoint, cursors, pending, table cache, the commit and GC
// notification channels); it is never held across Pebble I/O. Log.wmu
// serializes cursor, pending and GC writes. Log.closeMu is held shared by
// every call that uses Pebble and exclusively by Close. Lock order:
// app.Mutex, then wmu, then mu.
//
// Wait blocks on a channel that every commit closes and replaces; a blocked
// Append waits on one that every GC closes and replaces; no polling.
package offsets
