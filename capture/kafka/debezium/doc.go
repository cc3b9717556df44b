// Package debezium decodes Debezium's JSON envelope (with or without
// schema), as written by Debezium itself or by TiCDC's debezium protocol.
package debezium
