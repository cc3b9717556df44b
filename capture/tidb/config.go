// Package tidb is the TiDB source (source.type: tidb): a consistent full
// load of every captured table at one TSO, read over TiDB's SQL port, then
// the changes of a TiCDC changefeed from that TSO on, read from Kafka by
// the ticdc consumer (source.ticdc). Rows the changefeed committed at or
// before the TSO are dropped as already in the snapshot, so the ODS ends
// equal to TiDB with neither a gap nor a double.
//
// See docs/tidb.md.
package tidb

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/kafka/codec"
	cmysql "github.com/odsync/odsync/capture/mysql"
)

// Config is source.tidb.
type Config struct {
	// DSN is a go-sql-driver/mysql DSN of a TiDB SQL port
	// (user:password@tcp(host:4000)/). Best given as ${ENV_VAR}. It is also
	// the server handle-key-only messages are re-read from (the default of
	// source.kafka.tidb.dsn) and the server odsync verify compares with.
	DSN string `yaml:"dsn"`
	// ChunkRows is the most rows one snapshot chunk reads (one query, one
	// append to the log with the checkpoint). Default 10000.
	ChunkRows int `yaml:"chunk_rows"`
	// Parallel is how many tables are read at once. Default 4.
	Parallel int `yaml:"parallel"`
	// Timeout bounds connecting and each chunk query. Default 5m.
	Timeout time.Duration `yaml:"timeout"`
	// ProgressInterval is how often snapshot progress is logged. Default 30s.
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.ChunkRows == 0 {
		c.ChunkRows = 10000
	}
	if c.Parallel == 0 {
		c.Parallel = 4
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 30 * time.Second
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, errors.New("source.tidb.dsn: required (user:password@tcp(host:4000)/)"))
	} else if _, err := mysql.ParseDSN(c.DSN); err != nil {
		errs = append(errs, fmt.Errorf("source.tidb.dsn: %w", err))
	}
	if c.ChunkRows < 1 {
		errs = append(errs, fmt.Errorf("source.tidb.chunk_rows: %d is not positive", c.ChunkRows))
	}
	if c.Parallel < 1 || c.Parallel > 64 {
		errs = append(errs, fmt.Errorf("source.tidb.parallel: %d is not within 1..64", c.Parallel))
	}
	if c.Timeout < 0 || c.ProgressInterval < 0 {
		errs = append(errs, errors.New("source.tidb: timeout and progress_interval must not be negative"))
	}
	return errors.Join(errs...)
}

// CheckChangefeed checks that the changefeed's consumer settings can do the
// switch-over: dropping the rows committed at or before the TSO needs each
// row's commitTs and watermark ordering.
func CheckChangefeed(k *kafka.SourceConfig) error {
	switch k.Protocol {
	case codec.ProtocolCanalJSON, codec.ProtocolOpen, codec.ProtocolDebezium:
	default:
		return fmt.Errorf("source.kafka.protocol: %q cannot be used with source.type tidb: the switch-over needs TiCDC's commitTs (canal-json with enable-tidb-extension=true, open-protocol or debezium)", k.Protocol)
	}
	if k.Ordering == kafka.OrderingOffset {
		return errors.New("source.kafka.ordering: offset cannot be used with source.type tidb: the switch-over needs watermark ordering (canal-json with enable-tidb-extension=true)")
	}
	return nil
}

// SQLSource is the TiDB server as a MySQL-protocol source configuration
// (address, user, password of the DSN), for odsync verify.
func (c *Config) SQLSource() (cmysql.Config, error) {
	mc, err := mysql.ParseDSN(c.DSN)
	if err != nil {
		return cmysql.Config{}, fmt.Errorf("source.tidb.dsn: %w", err)
	}
	if mc.Net != "tcp" {
		return cmysql.Config{}, fmt.Errorf("source.tidb.dsn: network %q: odsync verify needs tcp(host:port)", mc.Net)
	}
	out := cmysql.Config{Addr: mc.Addr, User: mc.User, Password: mc.Passwd}
	out.EnsureDefaults()
	return out, nil
}
