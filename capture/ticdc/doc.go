// Package ticdc decodes the Kafka messages of a TiCDC changefeed (canal-json
// with or without the TiDB extension, open-protocol) and of generic CDC
// producers (Debezium JSON, Alibaba Canal flat messages, Maxwell) into
// odsync's event vocabulary (package event).
//
// This file set is the decode side only: a decoder turns one Kafka message
// (key and value) into Decoded units — row changes, DDL, TiCDC watermarks
// (resolved timestamps) or explicit skips — with typed before/after images
// and the table schema the message describes. The Kafka consumer, the
// per-partition watermark ordering and offset handling build on it.
//
// Decoders are concrete types (CanalJSON, OpenProtocol, Debezium, Maxwell)
// built from a Config; New picks one by Config.Protocol. A decoder keeps a
// bounded schema cache and reusable scratch buffers, so it is not safe for
// concurrent use: use one per partition reader. Decoded values never alias
// the input buffers.
//
// Every failure is a *DecodeError that names the protocol, table, message
// field and column, and matches ErrMalformed. No input panics (fuzzed).
//
// docs/kafka.md documents the formats, the degraded mode of canal-json
// without the TiDB extension, the type rules and the known lossy spots.
package ticdc
