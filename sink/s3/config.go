package s3

import (
	"github.com/odsync/odsync/bytesize"

	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
)

// Connection locates the ODS datasets and says how to reach the bucket:
// the keys the S3 sink and the s3 source (capture/warehouse) share.
type Connection struct {
	// Bucket and Prefix locate the ODS datasets: s3://Bucket/Prefix/<table>/...
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	// Region of the bucket. Default: the AWS chain's (AWS_REGION, profile),
	// or us-east-1 when Endpoint is set.
	Region string `yaml:"region"`
	// Endpoint is the URL of an S3-compatible store (MinIO, Ceph, OSS,
	// COS, versitygw...); empty for AWS S3.
	Endpoint string `yaml:"endpoint"`
	// PathStyle addresses buckets as endpoint/bucket instead of bucket.endpoint.
	PathStyle bool `yaml:"path_style"`
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials.
	// When AccessKeyID is empty the standard AWS chain is used: environment
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), shared
	// config and credentials files (Profile), web identity, ECS and EC2 roles.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	SessionToken    string `yaml:"session_token"`
	// Profile selects a shared config profile for the AWS chain.
	Profile string `yaml:"profile"`
	// TLS tunes HTTPS to the endpoint.
	TLS TLS `yaml:"tls"`
}

// Config configures the S3 sink (YAML under `sinks[].s3`). Secrets are best
// given as ${ENV_VAR} references or left to the standard AWS chain; they are
// never logged.
type Config struct {
	Connection `yaml:",inline"`

	// StorageClass of the data objects (STANDARD when empty). Query engines
	// read only classes with immediate access (not GLACIER/DEEP_ARCHIVE).
	StorageClass string `yaml:"storage_class"`
	// ServerSideEncryption is "", "AES256" (SSE-S3) or "aws:kms" (SSE-KMS,
	// with KMSKeyID or the bucket's default key).
	ServerSideEncryption string `yaml:"server_side_encryption"`
	KMSKeyID             string `yaml:"kms_key_id"`

	// Format is parquet (default), csv or jsonl.
	Format string `yaml:"format"`
	// Compression of Parquet column chunks: snappy (default), zstd or none.
	Compression string `yaml:"compression"`
	// RowGroupSize bounds a Parquet row group (uncompressed); it bounds the
	// memory one upload uses. Default 32MiB.
	RowGroupSize Size `yaml:"row_group_size"`
	// CSVHeader writes a header line into CSV files (default true; the
	// Athena DDL then skips it).
	CSVHeader *bool `yaml:"csv_header"`

	// File rolling, per ODS table and partition. Rows are encoded into the
	// partition's open file as they arrive and the file is uploaded as one
	// object when:
	//   - it reaches FileSize (default 64MiB of row data; Parquet
	//     files come out several times smaller), or
	//   - it is FlushInterval old (default 1m) and holds at least
	//     MinFileSize (default 4MiB): the floor against small files, or
	//   - it is MaxAge old (default 10m), whatever its size: the latency ceiling.
	// Age is measured on the source commit time of the rows (so that a
	// replay after a crash cuts files exactly where the first run did) and,
	// when no changes arrive, on the wall clock.
	FileSize      Size          `yaml:"file_size"`
	MinFileSize   Size          `yaml:"min_file_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	MaxAge        time.Duration `yaml:"max_age"`
	// IdleAfter is how long without any change counts as idle: open files
	// are then aged on the wall clock (default 5s).
	IdleAfter time.Duration `yaml:"idle_after"`
	// FlushOnClose uploads every open file when odsync stops (default
	// true); without it their rows stay in the log for the next start.
	FlushOnClose *bool `yaml:"flush_on_close"`

	// SpoolDir holds the scratch files being encoded and uploaded and the
	// sink's state.json (no row: the pipeline's log is the spool); it must
	// survive restarts (default: <state.dir>/s3-<sink name>, set by the
	// config loader).
	SpoolDir string `yaml:"spool_dir"`
	// MaxSpoolSize bounds the scratch files (row data taken in, not
	// uploaded); WriteAck waits (the log buffers) while uploads catch up.
	// Default 4GiB.
	MaxSpoolSize Size `yaml:"max_spool_size"`
	// Uploads is how many files are encoded and uploaded concurrently (default 2).
	Uploads int `yaml:"uploads"`
	// PartSize is the multipart part size; larger files use multipart
	// uploads. Default 16MiB, at least 5MiB.
	PartSize Size `yaml:"part_size"`
	// CheckpointInterval is how often the checkpoint object is rewritten
	// when it changed (default 10s).
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// MaxBackoff caps the wait between retries of a failed upload (default 30s).
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// TLS configures HTTPS.
type TLS struct {
	// CAFile is a PEM bundle of extra trusted CAs.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify disables certificate checks (testing only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Size is a byte count with units in YAML (64MiB, 4GiB, 512KB).
type Size = bytesize.Size

// ParseSize parses a size with units.
func ParseSize(s string) (Size, error) { return bytesize.Parse(s) }

// EnsureDefaults fills unset fields (SpoolDir excepted: it depends on the
// state directory).
func (c *Config) EnsureDefaults() {
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Region == "" && c.Endpoint != "" {
		c.Region = "us-east-1"
	}
	if c.Format == "" {
		c.Format = odsfile.FormatParquet
	}
	if c.Compression == "" {
		c.Compression = odsfile.CompressionSnappy
	}
	if c.RowGroupSize == 0 {
		c.RowGroupSize = odsfile.DefaultRowGroupBytes
	}
	if c.CSVHeader == nil {
		c.CSVHeader = boolPtr(true)
	}
	if c.FileSize == 0 {
		c.FileSize = 64 << 20
	}
	if c.MinFileSize == 0 {
		c.MinFileSize = 4 << 20
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Minute
	}
	if c.MaxAge == 0 {
		c.MaxAge = 10 * time.Minute
	}
	if c.IdleAfter == 0 {
		c.IdleAfter = 5 * time.Second
	}
	if c.FlushOnClose == nil {
		c.FlushOnClose = boolPtr(true)
	}
	if c.MaxSpoolSize == 0 {
		c.MaxSpoolSize = 4 << 30
	}
	if c.Uploads == 0 {
		c.Uploads = 2
	}
	if c.PartSize == 0 {
		c.PartSize = 16 << 20
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = 10 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Second
	}
}

func boolPtr(b bool) *bool { return &b }

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$`)

var storageClasses = []string{"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
	"INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "EXPRESS_ONEZONE"}

// Validate reports every problem at once; prefix names the config path
// (e.g. "sinks[1].s3").
func (c *Config) Validate(prefix string) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+"."+format, args...))
	}
	switch {
	case c.Bucket == "":
		add("bucket: required")
	case !bucketRe.MatchString(c.Bucket) || strings.Contains(c.Bucket, ".."):
		add("bucket: %q: use 3-63 lower-case letters, digits, '.' and '-'", c.Bucket)
	}
	if strings.Contains(c.Prefix, "//") {
		add("prefix: %q: empty path segment", c.Prefix)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("endpoint: %q: want http(s)://host[:port]", c.Endpoint)
		}
	}
	if c.AccessKeyID != "" && c.SecretAccessKey == "" {
		add("secret_access_key: required with access_key_id")
	}
	if c.AccessKeyID == "" && (c.SecretAccessKey != "" || c.SessionToken != "") {
		add("access_key_id: required with secret_access_key/session_token")
	}
	if c.StorageClass != "" && !contains(storageClasses, c.StorageClass) {
		add("storage_class: %q: want one of %s", c.StorageClass, strings.Join(storageClasses, ", "))
	}
	switch c.ServerSideEncryption {
	case "", "AES256":
		if c.KMSKeyID != "" {
			add("kms_key_id: needs server_side_encryption: aws:kms")
		}
	case "aws:kms":
	default:
		add("server_side_encryption: %q: want AES256 or aws:kms", c.ServerSideEncryption)
	}
	if err := odsfile.CheckFormat(c.Format); err != nil {
		add("format: %v", err)
	}
	switch c.Compression {
	case odsfile.CompressionSnappy, odsfile.CompressionZstd, odsfile.CompressionNone:
	default:
		add("compression: %q: want snappy, zstd or none", c.Compression)
	}
	if c.RowGroupSize < 64<<10 {
		add("row_group_size: %d: at least 64KiB", c.RowGroupSize)
	}
	if c.FileSize < 1<<10 {
		add("file_size: %d: at least 1KiB", c.FileSize)
	}
	if c.MinFileSize < 0 || c.MinFileSize > c.FileSize {
		add("min_file_size: %d: want 0..file_size (%d)", c.MinFileSize, c.FileSize)
	}
	if c.FlushInterval <= 0 {
		add("flush_interval: %s: must be positive", c.FlushInterval)
	}
	if c.MaxAge < c.FlushInterval {
		add("max_age: %s: must be at least flush_interval (%s)", c.MaxAge, c.FlushInterval)
	}
	if c.IdleAfter < 100*time.Millisecond {
		add("idle_after: %s: at least 100ms", c.IdleAfter)
	}
	if c.SpoolDir == "" {
		add("spool_dir: required")
	}
	if c.MaxSpoolSize < 2*c.FileSize {
		add("max_spool_size: %d: at least twice file_size (%d)", c.MaxSpoolSize, c.FileSize)
	}
	if c.Uploads < 1 || c.Uploads > 64 {
		add("uploads: %d: want 1..64", c.Uploads)
	}
	if c.PartSize < 5<<20 || c.PartSize > 5<<30 {
		add("part_size: %d: want 5MiB..5GiB", c.PartSize)
	}
	if c.CheckpointInterval <= 0 {
		add("checkpoint_interval: %s: must be positive", c.CheckpointInterval)
	}
	if c.MaxBackoff < 100*time.Millisecond {
		add("max_backoff: %s: at least 100ms", c.MaxBackoff)
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AthenaOptions returns the options of schema.Target.AthenaCreate for the
// tables this sink writes, in Glue/Athena database db.
func (c *Config) AthenaOptions(db string) schema.AthenaOptions {
	o := schema.AthenaOptions{Database: db, Bucket: c.Bucket, Prefix: c.Prefix, Format: schema.FormatParquet}
	if c.Format == odsfile.FormatCSV {
		o.Format = schema.FormatCSV
		o.CSVHeader = c.CSVHeader == nil || *c.CSVHeader
	}
	return o
}

// AthenaDDL returns the Athena/Glue CREATE EXTERNAL TABLE statement for a
// target written by a sink with this config (Parquet SerDe or OpenCSVSerde,
// partition projection on the partition column). JSON-lines tables have no
// generated DDL.
func (c *Config) AthenaDDL(t *schema.Target, db string) (string, error) {
	if c.Format == odsfile.FormatJSONL {
		return "", fmt.Errorf("s3 sink: no Athena DDL for format jsonl (use parquet or csv)")
	}
	return t.AthenaCreate(c.AthenaOptions(db)) + ";", nil
}
