// Package canal decodes canal-json Kafka messages: TiCDC's canal-json (with
// or without the TiDB extension `_tidb`; see docs/kafka.md for the degraded
// mode) and Alibaba Canal's flat messages.
package canal
