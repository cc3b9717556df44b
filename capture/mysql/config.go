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
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
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
	// Start says where to begin when the log holds no checkpoint: latest
	// (default), earliest, gtid:<set>, file:<binlog file>:<offset> or
	// time:<RFC 3339 time>; see ParseStart.
	Start string `yaml:"start"`
	// Snapshot is the initial snapshot mode: initial (default: copy the
	// captured tables, then stream), never, when_needed (copy when there is
	// no checkpoint or the checkpoint's binlog is gone), snapshot_only
	// (copy, then stop).
	Snapshot string `yaml:"snapshot"`
	// SnapshotParallelism is how many snapshot chunks are read at once (also
	// within one table). Default 2.
	SnapshotParallelism int `yaml:"snapshot_parallelism"`
	// SnapshotChunkRows bounds every snapshot chunk (rows per SELECT). Default 8192.
	SnapshotChunkRows int `yaml:"snapshot_chunk_rows"`
	// SnapshotDirtyKeys caps how many changed row keys are remembered per
	// table under snapshot (rows changed by the stream are dropped from
	// later chunks, so no row is delivered twice). Default 1000000.
	SnapshotDirtyKeys int `yaml:"snapshot_dirty_keys"`
	// SnapshotLockingReads reads MySQL chunks with LOCK IN SHARE MODE so a
	// chunk reflects every transaction logged before it (see
	// docs/mysql-capture.md). MariaDB uses consistent snapshots with their
	// exact binlog position instead.
	// Default true.
	SnapshotLockingReads *bool `yaml:"snapshot_locking_reads"`
	// ZeroDates is what zero dates (0000-00-00, zero month or day, the zero
	// TIMESTAMP) become: keep (default; Date/DateTime with zero parts, TIMESTAMP
	// as the instant 0), null, or error.
	ZeroDates string `yaml:"zero_dates"`
	// CaptureShadowTables also captures the shadow tables of online schema
	// change tools (gh-ost _t_gho/_t_ghc/_t_del, pt-osc _t_new/_t_old).
	// Default false: their DDL is still tracked, so the final rename gives
	// the real table its new schema.
	CaptureShadowTables bool `yaml:"capture_shadow_tables"`
	// MaxTxnEvents and MaxTxnBytes bound how much of one transaction is
	// held in memory: beyond them it is spilled to the log in chunks that
	// stay invisible until the commit. Defaults 4096 events, 4MiB: a
	// transaction within both is appended whole (and may share one synced
	// log append with others); a bigger one costs one extra log write per
	// chunk and never more than about this much memory.
	MaxTxnEvents int   `yaml:"max_txn_events"`
	MaxTxnBytes  int64 `yaml:"max_txn_bytes"`
	// HeartbeatPeriod is the binlog heartbeat the server sends when idle. Default 5s.
	HeartbeatPeriod time.Duration `yaml:"heartbeat_period"`
	// ConnectTimeout bounds connecting and each metadata query. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ProgressInterval is how often capture and snapshot progress is logged. Default 30s.
	ProgressInterval time.Duration `yaml:"progress_interval"`
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Flavor == "" {
		c.Flavor = "auto"
	}
	if c.Start == "" {
		c.Start = "latest"
	}
	if c.Snapshot == "" {
		c.Snapshot = SnapshotInitial
	}
	if c.SnapshotParallelism == 0 {
		c.SnapshotParallelism = 2
	}
	if c.SnapshotChunkRows == 0 {
		c.SnapshotChunkRows = 8192
	}
	if c.SnapshotDirtyKeys == 0 {
		c.SnapshotDirtyKeys = 1000000
	}
	if c.SnapshotLockingReads == nil {
		t := true
		c.SnapshotLockingReads = &t
	}
	if c.ZeroDates == "" {
		c.ZeroDates = ZeroDatesKeep
	}
	if c.ServerID == 0 {
		c.ServerID = DefaultServerID("")
	}
	if c.MaxTxnEvents == 0 {
		c.MaxTxnEvents = 4096
	}
	if c.MaxTxnBytes == 0 {
		c.MaxTxnBytes = 4 << 20
	}
	if c.HeartbeatPeriod == 0 {
		c.HeartbeatPeriod = 5 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 30 * time.Second
	}
	if c.User == "" {
		c.User = "root"
	}
}

// Snapshot modes (Config.Snapshot).
const (
	SnapshotInitial      = "initial"
	SnapshotNever        = "never"
	SnapshotWhenNeeded   = "when_needed"
	SnapshotSnapshotOnly = "snapshot_only"
)

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
	start, err := ParseStart(c.Start)
	if err != nil {
		errs = append(errs, fmt.Errorf("source.mysql.start: %v", err))
	}
	switch c.Snapshot {
	case SnapshotInitial, SnapshotWhenNeeded, SnapshotSnapshotOnly:
		if err == nil && start.Kind != StartLatest {
			errs = append(errs, fmt.Errorf("source.mysql.start: %s needs source.mysql.snapshot: never (a snapshot is consistent with the current position only)", c.Start))
		}
	case SnapshotNever:
	default:
		errs = append(errs, fmt.Errorf("source.mysql.snapshot: %q: want initial, never, when_needed or snapshot_only", c.Snapshot))
	}
	if c.SnapshotParallelism < 1 || c.SnapshotParallelism > 64 {
		errs = append(errs, fmt.Errorf("source.mysql.snapshot_parallelism: %d: want 1..64", c.SnapshotParallelism))
	}
	if c.SnapshotChunkRows < 1 || c.SnapshotChunkRows > 1<<20 {
		errs = append(errs, fmt.Errorf("source.mysql.snapshot_chunk_rows: %d: want 1..1048576", c.SnapshotChunkRows))
	}
	switch c.ZeroDates {
	case ZeroDatesKeep, ZeroDatesNull, ZeroDatesError:
	default:
		errs = append(errs, fmt.Errorf("source.mysql.zero_dates: %q: want keep, null or error", c.ZeroDates))
	}
	if c.MaxTxnEvents < 1 {
		errs = append(errs, fmt.Errorf("source.mysql.max_txn_events: %d: must be positive", c.MaxTxnEvents))
	}
	if c.MaxTxnBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("source.mysql.max_txn_bytes: %d: at least 1024", c.MaxTxnBytes))
	}
	if c.HeartbeatPeriod < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("source.mysql.heartbeat_period: %s: at least 100ms", c.HeartbeatPeriod))
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

// DefaultServerID returns the replica server_id odsync uses when none is
// configured: stable for one host and state directory, and different for
// two odsync instances on different hosts or state directories, so two
// sidecars on one server do not kick each other off (ERROR 4052/1236 "a
// slave with the same server_uuid/server_id"). It lies in
// [2^30, 2^31 - 2^16), far from the small ids servers are usually given,
// with room for the auxiliary connections (ServerID + offset).
func DefaultServerID(stateDir string) uint32 {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	h := fnv.New32a()
	h.Write([]byte(host))
	h.Write([]byte{0})
	h.Write([]byte(stateDir))
	return 1<<30 + h.Sum32()%(1<<30-1<<16)
}
