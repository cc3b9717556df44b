// Package odsync decodes odsync's own Kafka format, the one odsync's Kafka
// sink writes (docs/kafka-sink.md).
package odsync
