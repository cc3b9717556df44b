// Package jsontape is odsync's one JSON parser for data: a small, strict
// parser that records a document as a flat "tape" of nodes (one per value,
// object key included) instead of building maps. Strings and numbers are not
// copied: nodes point into the source bytes, and a number node keeps its
// exact text, so big integers, decimals and -0 reach the caller unchanged
// (no float64 round trip). A document is parsed once, then the caller walks
// the tape. The tape and its stack are reused between documents, so a
// steady-state parse allocates nothing.
//
// The Kafka format decoders (capture/kafka/...) parse messages with it, and
// the JSON-lines reader of sink/odsfile parses ODS rows with it. Small
// configuration and state documents use encoding/json instead: they are
// decoded into structs, rarely, and need none of this.
package jsontape
