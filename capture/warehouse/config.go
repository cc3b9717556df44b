// Package warehouse reads ODS tables back out of a warehouse — the S3
// layout odsync's S3 sink writes, and tables of other tools (Athena/Glue)
// described in the configuration — as a source: reverse sync, e.g. into
// MySQL/TiDB through the mysql sink (docs/reverse-sync.md).
//
// A full load emits each table's current state: for odsync's change-log
// tables the last row per key by _seq, deleted keys left out. Incremental
// mode then follows the change log: rows with a _seq above the checkpoint,
// up to what the warehouse holds completely (the S3 sink's
// _checkpoint.json, the MaxCompute sink's progress marks), in _seq order, each as the insert, update or delete
// its _op says. Tables of other tools have no change log: incremental
// mode reads their objects not read yet (extMark) as inserts. The checkpoint is stored in the log with the events it
// covers, so a restart (also after kill -9) continues where the log ends.
package warehouse

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/odsync/odsync/bytesize"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// Modes.
const (
	// ModeFull loads the tables' current state once.
	ModeFull = "full"
	// ModeIncremental loads the current state, then follows the change
	// log of odsync's tables and the new objects of other tools' tables.
	ModeIncremental = "incremental"
)

// S3Config configures the s3 source (YAML under source.s3).
type S3Config struct {
	// Bucket, Prefix (s3://Bucket/Prefix/<table>/...) and the connection
	// settings, as the S3 sink's (docs/s3.md).
	s3sink.Connection `yaml:",inline"`
	// External are tables written by other tools, described here.
	External []TableConfig `yaml:"external"`
	Read     ReadSettings  `yaml:",inline"`
}

// ReadSettings are the settings of every warehouse source.
type ReadSettings struct {
	// Mode is incremental (default) or full.
	Mode string `yaml:"mode"`
	// Tables lists the ODS tables under the prefix to read (their names);
	// empty: every odsync table found (a directory with _schema/).
	Tables []string `yaml:"tables"`
	// PollInterval is how often incremental mode looks for new data
	// (default 10s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// BatchRows is how many rows are emitted (and checkpointed) at once
	// (default 5000).
	BatchRows int `yaml:"batch_rows"`
	// WindowObjects bounds the objects read in one step of incremental
	// mode (their rows are sorted by _seq in memory; default 64).
	WindowObjects int `yaml:"window_objects"`
	// TmpDir holds Parquet objects while they are read (default: the
	// system's).
	TmpDir string `yaml:"tmp_dir"`
	// LoadMemoryBytes bounds the memory of a table's state during the full
	// load (the last row per key); past it the state continues in a
	// temporary Pebble store under SpillDir (default 256 MiB).
	LoadMemoryBytes bytesize.Size `yaml:"load_memory_bytes"`
	// SpillDir holds that store (default: warehouse-spill in state.dir;
	// without a state dir, a new directory under TmpDir). It is this
	// job's own: its content is removed when a load starts spilling.
	SpillDir string `yaml:"spill_dir"`
}

// TableConfig describes a table another tool wrote (an Athena/Glue
// table): files under {prefix}/{name}/ (Hive partition directories
// included), columns in the configuration.
type TableConfig struct {
	// Name is the table's directory under the prefix.
	Name string `yaml:"name"`
	// Format is parquet (default) or csv.
	Format string `yaml:"format"`
	// Database and Table name the table the rows are emitted as (what the
	// sinks write to; default: Table is Name).
	Database string `yaml:"database"`
	Table    string `yaml:"table"`
	// Columns in file order, each with its MySQL type (the target table's
	// column type); the files hold each as odsync's default mapping does
	// (docs/types.md).
	Columns []ColumnConfig `yaml:"columns"`
	// Key lists the key columns (the target table's primary key).
	Key []string `yaml:"key"`
	// CSVHeader: each CSV file starts with a header line (skipped).
	CSVHeader bool `yaml:"csv_header"`
	// Settle is how far before the newest object read (by S3
	// LastModified) an object may still appear in a listing; incremental
	// mode keeps the keys of objects read within it (extMark; default
	// 5m).
	Settle time.Duration `yaml:"settle"`
}

// ColumnConfig is one column of an external table.
type ColumnConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// EnsureDefaults fills unset settings.
func (c *S3Config) EnsureDefaults() {
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Region == "" && c.Endpoint != "" {
		c.Region = "us-east-1"
	}
	c.Read.EnsureDefaults()
	for i := range c.External {
		e := &c.External[i]
		if e.Format == "" {
			e.Format = "parquet"
		}
		if e.Table == "" {
			e.Table = e.Name
		}
		if e.Settle == 0 {
			e.Settle = 5 * time.Minute
		}
	}
}

// EnsureDefaults fills unset settings.
func (r *ReadSettings) EnsureDefaults() {
	if r.Mode == "" {
		r.Mode = ModeIncremental
	}
	if r.PollInterval == 0 {
		r.PollInterval = 10 * time.Second
	}
	if r.BatchRows == 0 {
		r.BatchRows = 5000
	}
	if r.WindowObjects == 0 {
		r.WindowObjects = 64
	}
	if r.LoadMemoryBytes == 0 {
		r.LoadMemoryBytes = 256 << 20
	}
}

// Validate reports every problem; path is the YAML path ("source.s3").
func (c *S3Config) Validate(path string) error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, fmt.Errorf("%s.bucket: required", path))
	}
	errs = append(errs, c.Read.Validate(path))
	seen := map[string]bool{}
	for _, t := range c.Read.Tables {
		seen[t] = true
	}
	for i, e := range c.External {
		p := fmt.Sprintf("%s.external[%d]", path, i)
		if e.Name == "" || strings.Contains(e.Name, "/") {
			errs = append(errs, fmt.Errorf("%s.name: %q: a table name without /", p, e.Name))
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is listed twice", p, e.Name))
		}
		seen[e.Name] = true
		switch e.Format {
		case "parquet", "csv":
		default:
			errs = append(errs, fmt.Errorf("%s.format: %q: must be parquet or csv", p, e.Format))
		}
		if e.Settle < 0 {
			errs = append(errs, fmt.Errorf("%s.settle: must be positive", p))
		}
		if len(e.Columns) == 0 {
			errs = append(errs, fmt.Errorf("%s.columns: required (name and MySQL type of each column)", p))
		}
		for j, col := range e.Columns {
			if col.Name == "" || col.Type == "" {
				errs = append(errs, fmt.Errorf("%s.columns[%d]: name and type are required", p, j))
			}
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem of the read settings.
func (r *ReadSettings) Validate(path string) error {
	var errs []error
	switch r.Mode {
	case ModeFull, ModeIncremental:
	default:
		errs = append(errs, fmt.Errorf("%s.mode: %q: must be full or incremental", path, r.Mode))
	}
	if r.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("%s.poll_interval: must be positive", path))
	}
	if r.BatchRows < 1 {
		errs = append(errs, fmt.Errorf("%s.batch_rows: must be positive", path))
	}
	if r.WindowObjects < 1 {
		errs = append(errs, fmt.Errorf("%s.window_objects: must be positive", path))
	}
	if r.LoadMemoryBytes < 1 {
		errs = append(errs, fmt.Errorf("%s.load_memory_bytes: must be positive", path))
	}
	seen := map[string]bool{}
	for _, t := range r.Tables {
		if t == "" || strings.Contains(t, "/") {
			errs = append(errs, fmt.Errorf("%s.tables: %q: a table name without /", path, t))
		}
		seen[t] = true
	}
	return errors.Join(errs...)
}

// sinkConfig is the connection part as the S3 sink's settings (its client).
func (c *S3Config) sinkConfig() s3sink.Config {
	return s3sink.Config{Connection: c.Connection}
}
