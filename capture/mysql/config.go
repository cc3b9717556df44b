// Package mysql captures row changes from a MySQL or MariaDB binary log.
//
// A Source streams the binlog with go-mysql's BinlogSyncer, decodes every row
// into typed event values, assembles transactions and hands each complete
// transaction, with the checkpoint just after it, to the caller. It resumes
// only at transaction boundaries: from a GTID set when the server has GTIDs
// (MariaDB always; MySQL with gtid_mode=ON), else from a binlog file:pos.
package mysql

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Config configures a MySQL/MariaDB source. Field names are the YAML keys
// under `source.mysql`.
type Config struct {
	// Addr is host:port of the server.
	Addr string `yaml:"addr"`
	User string `yaml:"user"`
	// Password is best given as ${ENV_VAR} in the YAML file.
	Password string `yaml:"password"`
	// ServerID identifies odsync as a replica; unique among the server's replicas.
	ServerID uint32 `yaml:"server_id"`
	// Flavor is "auto" (default), "mysql" or "mariadb".
	Flavor string `yaml:"flavor"`
	// Start says where to begin when the log holds no checkpoint:
	// "latest" (default: the server's current position).
	Start string `yaml:"start"`
	// MaxTxnEvents is how many rows of one transaction are buffered before the
	// transaction is spilled to the log in chunks (bounded memory). Default 10000.
	MaxTxnEvents int `yaml:"max_txn_events"`
	// HeartbeatPeriod is the binlog heartbeat the server sends when idle. Default 5s.
	HeartbeatPeriod time.Duration `yaml:"heartbeat_period"`
	// ConnectTimeout bounds connecting and each metadata query. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Flavor == "" {
		c.Flavor = "auto"
	}
	if c.Start == "" {
		c.Start = "latest"
	}
	if c.ServerID == 0 {
		c.ServerID = 5701
	}
	if c.MaxTxnEvents == 0 {
		c.MaxTxnEvents = 10000
	}
	if c.HeartbeatPeriod == 0 {
		c.HeartbeatPeriod = 5 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.User == "" {
		c.User = "root"
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("source.mysql.addr: required (host:port)"))
	} else if _, _, err := c.hostPort(); err != nil {
		errs = append(errs, fmt.Errorf("source.mysql.addr: %q: %v", c.Addr, err))
	}
	switch c.Flavor {
	case "auto", "mysql", "mariadb":
	default:
		errs = append(errs, fmt.Errorf("source.mysql.flavor: %q: want auto, mysql or mariadb", c.Flavor))
	}
	switch c.Start {
	case "latest":
	default:
		errs = append(errs, fmt.Errorf("source.mysql.start: %q: want latest", c.Start))
	}
	if c.MaxTxnEvents < 1 {
		errs = append(errs, fmt.Errorf("source.mysql.max_txn_events: %d: must be positive", c.MaxTxnEvents))
	}
	return errors.Join(errs...)
}

func (c *Config) hostPort() (string, uint16, error) {
	h, p, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return h, uint16(port), nil
}
