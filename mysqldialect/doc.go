// Package mysqldialect is what odsync knows of the MySQL/MariaDB SQL
// dialect, shared by the binlog capture (capture/mysql), the Kafka codecs
// (capture/kafka/...) and tools: a tolerant DDL parser (ParseDDL) for the
// statements that change table schemas, as they appear in binlog query
// events, TiCDC DDL messages and SHOW CREATE TABLE; and the character set
// decoders (CharsetDecoder) that turn a column's bytes into UTF-8 text.
//
// The parser understands the structure (columns, types, keys, renames,
// drops) and skips every clause it does not need (indexes, partitions,
// engine and table options, defaults, comments), so unusual options never
// stop it. It is checked against the TiDB SQL parser over a corpus of real
// DDL (difftest_test.go, docs/mysql-capture.md).
package mysqldialect
