// Package codec is what the Kafka format decoders share: the Decoded unit a
// decoder turns one Kafka message (key and value) into — row changes, DDL,
// TiCDC watermarks (resolved timestamps) or explicit skips, with typed
// before/after images and the table schema the message describes — the
// decoder Config, the DecodeError every failure is (it names the protocol,
// table, message field and column and matches ErrMalformed), value
// decompression, the bounded schema cache, and MySQL
// column-type and text-value parsing.
//
// Decoders keep a bounded schema cache and reusable scratch buffers, so they
// are not safe for concurrent use: use one per partition reader. Decoded
// values never alias the input buffers. No input panics (fuzzed in
// capture/kafka).
package codec
