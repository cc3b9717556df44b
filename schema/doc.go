// Package schema is the single place that decides how a source table
// becomes an ODS table in every sink. It is pure logic: no I/O.
//
//   - Routing (Config, Mapper.Captures, Mapper.TargetName): include/exclude
//     regexes over "db.table", a target-name template, Flink-CDC-style
//     routes with capture groups, many-to-one (merged) routes for sharded
//     tables, per-table overrides.
//   - ODS layout (Mapper.Target, Target): metadata columns _op, _seq,
//     _commit_ts, _pos, _raw (plus _src_db, _src_table on merged targets),
//     the source columns, the key, partitioning by commit time.
//   - Type mapping (TargetColumn): every MySQL/MariaDB/TiDB type to a Kind
//     rendered as a MaxCompute 2.0, Parquet and Hive/Athena type, lossless
//     by default, each lossy choice named (TargetColumn.Lossy). Each sink
//     has its own Mapper for its target System (MaxCompute's BIGINT and
//     DECIMAL limits differ from the file formats').
//   - Value conversion (Target.Row, Target.SinkRow, TargetColumn.Convert,
//     ParquetValue, MaxComputeValue, AppendText): sinks hold no mapping
//     logic. A value that does not fit its column is NULL there and kept
//     as text in the row's _raw column (counted: Mapper.RawCounts), or
//     stops the sink under on_value_error: stop (docs/types.md).
//   - Schema evolution (Mapper.Plan, Mapper.Reconcile, Plan): modes named as
//     in Flink CDC (lenient, evolve, ignore, exception), DDL steps, and
//     renderers for MaxCompute, Athena/Glue and the JSON schema file.
//
// A Mapper is safe for concurrent use. It remembers the current layout of
// every target (its "head") so rows of every source version, and of every
// shard of a merged route, land in the right columns; sinks make the
// layout current with Plan at each schema change and with Reconcile for
// tables they find when they start.
package schema
