// Package kafka captures changes from Kafka topics written by a TiCDC
// changefeed (canal-json with or without the TiDB extension, open-protocol)
// or by generic CDC producers (Debezium JSON, Alibaba Canal flat messages,
// Maxwell) and hands them to the pipeline as odsync events (package event).
//
// This package is the consumer: partition readers, the per-partition
// watermark ordering (watermark.go), offsets and the checkpoint
// (checkpoint.go, commit.go), dead letters, large-message handling
// (claim check, handle-key-only rows completed from TiDB) and the source
// configuration. Decoding is done by one package per format —
// capture/kafka/canal, capture/kafka/open, capture/kafka/debezium,
// capture/kafka/maxwell, capture/kafka/odsync — built by New from a codec.Config and consumed
// through the one-method Decoder interface declared here. The formats share
// capture/kafka/codec (the Decoded unit, the decoder configuration, the JSON
// tape and MySQL type and value parsing).
//
// docs/kafka.md documents the formats, the degraded mode of canal-json
// without the TiDB extension, the type rules and the known lossy spots.
package kafka
