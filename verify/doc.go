// Package verify checks the ODS tables of odsync's sinks against the source
// tables they are captured from (`odsync verify`).
//
// For one source table and one sink it compares the source table with the
// latest state rebuilt from the ODS change log (per key the row with the
// highest _seq; deleted keys are gone):
//
//   - columns: names and count of the source as the mapping maps it, against
//     the target's current layout (schema.Mapper.Reconcile decides what is
//     missing, extra, retired or of a type that cannot hold the source's);
//   - rows: chunk by chunk in key order, an order-independent checksum
//     (count and sum of xxhash64 of each row's canonical encoding), and per
//     key where the checksums differ.
//
// Design:
//
//  1. Canonical rows (canon.go). Source rows are read as the server's
//     canonical text per column type (srcvalue.go, never the capture's
//     converters), parsed, and converted with
//     schema.Target.Row, the conversion the sinks use; target rows are
//     decoded from the ODS formats (decode.go, maxcompute.go) into the same
//     target values. Both are rendered per column with
//     schema.TargetColumn.AppendText (decimals normalised to the column's
//     scale; MySQL's binary JSON with sorted keys, MariaDB's JSON text
//     exactly) and hashed. A typed NULL whose text is in the row's _raw
//     column (DESIGN D1) compares as that text.
//  2. The target state (store.go) is a temporary Pebble database keyed by an
//     order-preserving encoding of the key, merged "highest _seq wins", so
//     readers can deliver files in any order and more than once. Memory is
//     the Pebble budget; the rest spills to disk.
//  3. The source (source.go) is read by keyset pagination with prepared
//     statements (binary protocol: exact floats), session time zone UTC, a
//     row rate limit, and the binlog position read around every chunk.
//  4. Each chunk's sorted rows are merged with the store's range of the
//     chunk (compare.go). Differences become suspects, stored on disk.
//  5. Suspects are re-checked in rounds: a fresh source read by key, a
//     bounded wait until the sink has caught up with that read's position
//     (odsync's /status, the sink's own progress, or settling), a re-read of
//     what the sink wrote meanwhile, and a per-key evaluation. A difference
//     whose target row is no newer than the source read is a confirmation;
//     two in a row report it. Target rows newer than the read mean the key is
//     changing and it is read again. So differences caused by replication lag
//     or a busy source are never reported; keys that never settle are
//     reported as unsettled.
//
// Key order: the encoding follows MySQL's order exactly for numeric,
// temporal and binary keys, and approximates text collations (case and
// accent folding, PAD SPACE). A key that lands in another chunk than the
// source's order puts it in is found by exact lookup or by re-reading the
// source by key; an imperfect order costs work, never a wrong result.
package verify
