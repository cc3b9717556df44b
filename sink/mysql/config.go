package mysql

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/bytesize"
)

// Config configures the MySQL/TiDB sink (YAML under `sinks[].mysql`).
type Config struct {
	// Addr is host:port of the target server (MySQL, MariaDB or TiDB).
	Addr string `yaml:"addr"`
	User string `yaml:"user"`
	// Password is best given as ${ENV_VAR}; PasswordFile names a file whose
	// first line is the password (it wins over Password).
	Password     string `yaml:"password"` //nolint:gosec // a config field, redacted in logs
	PasswordFile string `yaml:"password_file"`
	// Database, when set, receives every table (same table names); empty:
	// each table goes to the database of its source name.
	Database string `yaml:"database"`
	// CheckpointTable is "db.table" of the table holding the last applied
	// sequence number per sink, updated in each batch's transaction
	// (default odsync.sink_checkpoint).
	CheckpointTable string `yaml:"checkpoint_table"`
	// MaxOpenConns bounds the connection pool (default 4).
	MaxOpenConns int `yaml:"max_open_conns"`
	// RowsPerStatement bounds the rows of one multi-row REPLACE or DELETE
	// (default 500); StatementBytes bounds its size (default 4MiB; keep it
	// under the server's max_allowed_packet).
	RowsPerStatement int           `yaml:"rows_per_statement"`
	StatementBytes   bytesize.Size `yaml:"statement_bytes"`
	// ConnectTimeout bounds dialing (default 10s); ReadTimeout and
	// WriteTimeout bound one network read/write (default 5m).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	WriteTimeout   time.Duration `yaml:"write_timeout"`
	// TLS to the server.
	TLS TLS `yaml:"tls"`
}

// TLS enables TLS to the target server.
type TLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the server (PEM); empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (PEM).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server certificate.
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Defaults.
const (
	DefaultCheckpointTable  = "odsync.sink_checkpoint"
	DefaultMaxOpenConns     = 4
	DefaultRowsPerStatement = 500
	DefaultStatementBytes   = 4 << 20
)

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.CheckpointTable == "" {
		c.CheckpointTable = DefaultCheckpointTable
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = DefaultMaxOpenConns
	}
	if c.RowsPerStatement == 0 {
		c.RowsPerStatement = DefaultRowsPerStatement
	}
	if c.StatementBytes == 0 {
		c.StatementBytes = DefaultStatementBytes
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 5 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 5 * time.Minute
	}
}

// Validate reports every problem; prefix names the config path.
func (c *Config) Validate(prefix string) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(prefix+"."+format, args...)) }
	if c.Addr == "" {
		add("addr: required (host:port of the target MySQL/TiDB)")
	}
	if c.User == "" {
		add("user: required")
	}
	if db, tb, ok := strings.Cut(c.CheckpointTable, "."); !ok || db == "" || tb == "" || strings.Contains(tb, ".") {
		add("checkpoint_table: %q: want db.table", c.CheckpointTable)
	}
	if c.MaxOpenConns < 1 {
		add("max_open_conns: %d: at least 1", c.MaxOpenConns)
	}
	if c.RowsPerStatement < 1 {
		add("rows_per_statement: %d: at least 1", c.RowsPerStatement)
	}
	if c.StatementBytes < 64<<10 {
		add("statement_bytes: %d: at least 64KiB", c.StatementBytes)
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.InsecureSkipVerify) {
		add("tls: set enabled: true to use ca_file, cert_file or insecure_skip_verify")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls: cert_file and key_file go together")
	}
	return errors.Join(errs...)
}

// Secret returns the configured password (PasswordFile's first line wins).
func (c *Config) Secret() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}

func (t *TLS) config(host string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	name := t.ServerName
	if name == "" {
		name = host
	}
	tc := &tls.Config{ServerName: name, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// driverConfig is the connection configuration: UTC, utf8mb4, strict SQL
// mode without the zero-date checks (zero dates are values), no automatic
// AUTO_INCREMENT for 0, and foreign-key checks off (rows arrive in source
// commit order per batch, not per parent/child, and REPLACE must not
// cascade).
func (c *Config) driverConfig() (*mysqldriver.Config, error) {
	pw, err := c.Secret()
	if err != nil {
		return nil, err
	}
	dc := mysqldriver.NewConfig()
	dc.User, dc.Passwd, dc.Net, dc.Addr = c.User, pw, "tcp", c.Addr
	dc.Timeout, dc.ReadTimeout, dc.WriteTimeout = c.ConnectTimeout, c.ReadTimeout, c.WriteTimeout
	dc.Loc = time.UTC
	dc.Collation = "utf8mb4_general_ci" // utf8mb4 connection charset
	dc.ParseTime = false
	dc.MultiStatements = false
	dc.Params = map[string]string{
		"time_zone":          "'+00:00'",
		"sql_mode":           "'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
		"foreign_key_checks": "0",
	}
	host, _, _ := strings.Cut(c.Addr, ":")
	tc, err := c.TLS.config(host)
	if err != nil {
		return nil, err
	}
	dc.TLS = tc
	return dc, nil
}
