package maxcompute

import (
	"github.com/odsync/odsync/bytesize"

	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Connection says where the project is and how to sign in: the keys the
// MaxCompute sink and the maxcompute source (capture/warehouse) share.
type Connection struct {
	// Endpoint is the MaxCompute service endpoint, e.g.
	// http://service.cn-hangzhou.maxcompute.aliyun.com/api (or the VPC
	// endpoint http://service.cn-hangzhou-vpc.maxcompute.aliyun-inc.com/api).
	Endpoint string `yaml:"endpoint"`
	// TunnelEndpoint is the Tunnel endpoint used for all data traffic, e.g.
	// http://dt.cn-hangzhou-vpc.maxcompute.aliyun-inc.com on a private
	// network. Empty: discovered from the service endpoint (GET
	// /projects/{p}/tunnel), which may return a public address that the
	// private network cannot reach.
	TunnelEndpoint string `yaml:"tunnel_endpoint"`
	// Project is the MaxCompute project the ODS tables live in.
	Project string `yaml:"project"`
	// Schema is the schema of the 3-tier model (project.schema.table);
	// empty for projects without schemas.
	Schema string `yaml:"schema"`

	// AccessID and AccessKey are the AccessKey pair. When AccessID is empty
	// the environment is used: ALIBABA_CLOUD_ACCESS_KEY_ID,
	// ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN.
	AccessID  string `yaml:"access_id"`
	AccessKey string `yaml:"access_key"`
	// AccessKeyFile holds the AccessKey secret (first line; surrounding
	// white space is ignored), as an alternative to AccessKey.
	AccessKeyFile string `yaml:"access_key_file"`
	// STSToken is the security token of temporary (STS) credentials.
	STSToken string `yaml:"sts_token"`
	// Region, when set, signs requests with the v4 signature (e.g. cn-hangzhou).
	Region string `yaml:"region"`
}

// Config configures the MaxCompute sink (YAML under `sinks[].maxcompute`).
// Secrets are best given as ${ENV_VAR} references, access_key_file, or left
// to the ALIBABA_CLOUD_* environment variables; they are never logged (the
// String and LogValue methods redact them).
type Config struct {
	Connection `yaml:",inline"`

	// QuotaName is the Tunnel quota (exclusive resource group) to use;
	// empty for the shared quota.
	QuotaName string `yaml:"quota_name"`

	// Lifecycle is the table lifecycle in days given to created ODS tables
	// (0: none).
	Lifecycle int `yaml:"lifecycle"`
	// SQLHints are extra settings sent with every DDL statement. The sink
	// always sets odps.sql.type.system.odps2=true (the ODS layout uses
	// MaxCompute 2.0 types) and, with a schema, odps.namespace.schema=true.
	SQLHints map[string]string `yaml:"sql_hints"`

	// Compression of Tunnel request bodies: deflate (default: what the
	// official Java and Go SDKs send), or opt-in snappy (x-snappy-framed,
	// deprecated in the Java SDK), zstd (sent by no official SDK on stream
	// uploads: unproven against the real service) or none.
	Compression string `yaml:"compression"`

	// Streaming upload (change data). Rows are encoded into record packs,
	// one open pack per table partition; a pack is flushed when it reaches
	// FlushSize, when it is FlushAge old, or as soon as no other batch is
	// still being encoded (so a lone batch never waits).
	FlushSize Size          `yaml:"flush_size"` // default 4MiB
	FlushAge  time.Duration `yaml:"flush_age"`  // default 1s
	// Slots is how many packs of one table partition are uploaded
	// concurrently (one HTTP connection each, round-robin over the stream
	// session's slots). Default 4.
	Slots int `yaml:"slots"`
	// MaxAttempts is how often a failed pack upload or block write is
	// tried (with backoff) before the batch fails and the pipeline retries
	// it. Default 6.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxBackoff caps the wait between attempts (default 10s).
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// ThrottleMaxBackoff caps the wait between attempts the service
	// throttled (429, 503, Retry-After); those are retried for as long as
	// it takes and do not count against MaxAttempts (default 1m).
	ThrottleMaxBackoff time.Duration `yaml:"throttle_max_backoff"`
	// SchemaWait is how long a new session may keep showing a table's old
	// columns after ALTER TABLE before the batch fails (default 5m, as the
	// Java SDK waits).
	SchemaWait time.Duration `yaml:"schema_wait"`
	// Timeout bounds one Tunnel request (default 5m).
	Timeout time.Duration `yaml:"timeout"`

	// Batch upload (snapshot rows, see acker.go and bulk.go). The snapshot
	// rows of a table partition share one upload session across pipeline
	// batches and fill blocks of BlockSize encoded bytes that span batches
	// (cut early when the snapshot pauses, before change rows or DDL of the
	// table, at Flush and Close); a batch is acknowledged once its rows are
	// in written and recorded blocks. BlockWriters partitions write blocks
	// at once (one block at a time per partition), and at most BlockWriters
	// cut blocks wait in memory.
	BlockSize    Size `yaml:"block_size"`    // default 64MiB
	BlockWriters int  `yaml:"block_writers"` // default 4
	// SessionTTL is how old a recorded, uncommitted upload session may be
	// to be reattached after a restart (MaxCompute expires them after 24h).
	// Default 20h.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// A session is committed when its blocks hold CommitBytes of encoded
	// rows (default 512MiB; 1 commits every block as soon as it is
	// written, before its batches are acknowledged) or number CommitBlocks (default 2000,
	// at most 19000 of the 20000 ids), when it is CommitAge old (default
	// 30m, at most half of session_ttl), when no snapshot row reached it for
	// CommitIdle (default 3s: the table's snapshot ended), before change
	// rows or a schema change of its table, and at Close. Snapshot rows
	// become visible at the commit; odsync's lag, /readyz and `odsync
	// verify --status` count them as delivered only then.
	CommitBytes  Size          `yaml:"commit_bytes"`
	CommitBlocks int           `yaml:"commit_blocks"`
	CommitAge    time.Duration `yaml:"commit_age"`
	CommitIdle   time.Duration `yaml:"commit_idle"`

	// ProgressTable is the table of progress marks in the project
	// (default odsync_progress, see progress.go): every ProgressInterval
	// (default 10s) in which more changes became visible, one row saying
	// up to which _seq every change is committed and which table
	// partitions hold newer ones. The maxcompute source follows it in
	// incremental mode.
	ProgressTable    string        `yaml:"progress_table"`
	ProgressInterval time.Duration `yaml:"progress_interval"`

	// Merge configures the base tables of current rows built from the ODS
	// change logs (odsync maxcompute merge-sql).
	Merge MergeConfig `yaml:"merge"`
}

// MergeConfig configures base tables: per ODS table T a table T+BaseSuffix,
// partitioned like T, whose partition D holds the current row of every key
// as of the end of log partition D.
type MergeConfig struct {
	// BaseSuffix names the base table: <ods table><suffix>. Default "_base".
	BaseSuffix string `yaml:"base_suffix"`
	// Schedule runs the merge of every ODS table this sink writes once each
	// partition has closed (its end plus Delay passed, and the sink has
	// written changes committed after it or is idle). Off by default; the
	// emulator cannot run these statements.
	Schedule bool `yaml:"schedule"`
	// Delay waits for late changes after a partition closed (default 30m).
	Delay time.Duration `yaml:"delay"`
	// Lifecycle is the lifecycle in days of created base tables (0: none).
	Lifecycle int `yaml:"lifecycle"`
}

// Size is a byte count with units in YAML (64MiB, 4GiB, 512KB).
type Size = bytesize.Size

// ParseSize parses a size with units.
func ParseSize(s string) (Size, error) { return bytesize.Parse(s) }

// Compression names.
const (
	CompressionSnappy  = "snappy"
	CompressionZstd    = "zstd"
	CompressionDeflate = "deflate"
	CompressionNone    = "none"
)

// Environment variables read when AccessID is empty.
const (
	EnvAccessID  = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKey = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSTSToken  = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// maxBlockSize keeps a block well below the Tunnel's 100GB writer limit and
// memory reasonable.
const maxBlockSize = 1 << 30

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Compression == "" {
		c.Compression = CompressionDeflate
	}
	if c.FlushSize == 0 {
		c.FlushSize = 4 << 20
	}
	if c.FlushAge == 0 {
		c.FlushAge = time.Second
	}
	if c.Slots == 0 {
		c.Slots = 4
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 6
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.ThrottleMaxBackoff == 0 {
		c.ThrottleMaxBackoff = time.Minute
	}
	if c.SchemaWait == 0 {
		c.SchemaWait = 5 * time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.BlockSize == 0 {
		c.BlockSize = 64 << 20
	}
	if c.BlockWriters == 0 {
		c.BlockWriters = 4
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 20 * time.Hour
	}
	if c.CommitBytes == 0 {
		c.CommitBytes = 512 << 20
	}
	if c.CommitBlocks == 0 {
		c.CommitBlocks = 2000
	}
	if c.CommitAge == 0 {
		c.CommitAge = min(30*time.Minute, c.SessionTTL/2)
	}
	if c.CommitIdle == 0 {
		c.CommitIdle = 3 * time.Second
	}
	if c.ProgressTable == "" {
		c.ProgressTable = DefaultProgressTable
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 10 * time.Second
	}
	if c.Merge.BaseSuffix == "" {
		c.Merge.BaseSuffix = "_base"
	}
	if c.Merge.Delay == 0 {
		c.Merge.Delay = 30 * time.Minute
	}
}

var (
	projectRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,127}$`)
	suffixRe  = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
)

// Validate reports every problem at once; prefix names the config path
// (e.g. "sinks[1].maxcompute"). Call EnsureDefaults first.
func (c *Config) Validate(prefix string) error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+"."+format, args...))
	}
	checkURL := func(field, v string, required bool) {
		if v == "" {
			if required {
				add("%s: required", field)
			}
			return
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s: %q: want http(s)://host[:port][/path]", field, v)
		}
	}
	checkURL("endpoint", c.Endpoint, true)
	checkURL("tunnel_endpoint", c.TunnelEndpoint, false)
	switch {
	case c.Project == "":
		add("project: required")
	case !projectRe.MatchString(c.Project):
		add("project: %q: letters, digits and '_', starting with a letter", c.Project)
	}
	if c.Schema != "" && !projectRe.MatchString(c.Schema) {
		add("schema: %q: letters, digits and '_', starting with a letter", c.Schema)
	}
	id, _, _, err := c.credentials(false)
	switch {
	case err != nil:
		add("%v", err)
	case id == "":
		add("access_id: required (or set %s and %s)", EnvAccessID, EnvAccessKey)
	}
	if c.AccessKey != "" && c.AccessKeyFile != "" {
		add("access_key_file: set access_key or access_key_file, not both")
	}
	switch c.Compression {
	case CompressionSnappy, CompressionZstd, CompressionDeflate, CompressionNone:
	default:
		add("compression: %q: want snappy, zstd, deflate or none", c.Compression)
	}
	if c.FlushSize < 1<<10 || c.FlushSize > 256<<20 {
		add("flush_size: %d: want 1KiB..256MiB", c.FlushSize)
	}
	if c.FlushAge < time.Millisecond {
		add("flush_age: %s: at least 1ms", c.FlushAge)
	}
	if c.Slots < 1 || c.Slots > 64 {
		add("slots: %d: want 1..64", c.Slots)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		add("max_attempts: %d: want 1..100", c.MaxAttempts)
	}
	if c.ThrottleMaxBackoff < 10*time.Millisecond {
		add("throttle_max_backoff: %s: at least 10ms", c.ThrottleMaxBackoff)
	}
	if c.SchemaWait < 0 {
		add("schema_wait: %s: must not be negative", c.SchemaWait)
	}
	if c.MaxBackoff < 10*time.Millisecond {
		add("max_backoff: %s: at least 10ms", c.MaxBackoff)
	}
	if c.Timeout < time.Second {
		add("timeout: %s: at least 1s", c.Timeout)
	}
	if c.BlockSize < 1<<10 || c.BlockSize > maxBlockSize {
		add("block_size: %d: want 1KiB..1GiB", c.BlockSize)
	}
	if c.BlockWriters < 1 || c.BlockWriters > 64 {
		add("block_writers: %d: want 1..64", c.BlockWriters)
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 24*time.Hour {
		add("session_ttl: %s: want 1m..24h (sessions expire after 24h)", c.SessionTTL)
	}
	if c.CommitBytes < 1 {
		add("commit_bytes: %d: want > 0", c.CommitBytes)
	}
	if c.CommitBlocks < 1 || c.CommitBlocks > maxBlocks-1000 {
		add("commit_blocks: %d: want 1..%d", c.CommitBlocks, maxBlocks-1000)
	}
	if c.CommitAge <= 0 || c.CommitAge >= 24*time.Hour {
		add("commit_age: %s: want more than 0 and less than 24h (sessions expire; half of session_ttl at most is used)", c.CommitAge)
	}
	if c.ProgressInterval <= 0 {
		add("progress_interval: %s: want > 0", c.ProgressInterval)
	}
	if !projectRe.MatchString(c.ProgressTable) {
		add("progress_table: %q: want a table name (letters, digits, _)", c.ProgressTable)
	}
	if c.CommitIdle <= 0 {
		add("commit_idle: %s: want > 0", c.CommitIdle)
	}
	if c.Lifecycle < 0 {
		add("lifecycle: %d: must not be negative", c.Lifecycle)
	}
	if !suffixRe.MatchString(c.Merge.BaseSuffix) {
		add("merge.base_suffix: %q: lower-case letters, digits and '_'", c.Merge.BaseSuffix)
	}
	if c.Merge.Delay < 0 {
		add("merge.delay: %s: must not be negative", c.Merge.Delay)
	}
	if c.Merge.Lifecycle < 0 {
		add("merge.lifecycle: %d: must not be negative", c.Merge.Lifecycle)
	}
	for k := range c.SQLHints {
		if k == "" || strings.ContainsAny(k, " ;=") {
			add("sql_hints: %q: not a setting name", k)
		}
	}
	return errors.Join(errs...)
}

// credentials resolves the AccessKey pair and STS token from the config,
// the key file (when readFile) and the environment.
func (c *Config) credentials(readFile bool) (id, key, token string, err error) {
	id, key, token = c.AccessID, c.AccessKey, c.STSToken
	if id == "" {
		id = os.Getenv(EnvAccessID)
		if key == "" && c.AccessKeyFile == "" {
			key = os.Getenv(EnvAccessKey)
		}
		if token == "" {
			token = os.Getenv(EnvSTSToken)
		}
	}
	if c.AccessKeyFile != "" {
		if !readFile {
			return id, "", token, nil
		}
		b, err := os.ReadFile(c.AccessKeyFile)
		if err != nil {
			return id, "", token, fmt.Errorf("access_key_file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		key = strings.TrimSpace(line)
		if key == "" {
			return id, "", token, fmt.Errorf("access_key_file: %s is empty", c.AccessKeyFile)
		}
		return id, key, token, nil
	}
	if id != "" && key == "" {
		return id, "", token, errors.New("access_key: required with access_id (or access_key_file, or " + EnvAccessKey + ")")
	}
	return id, key, token, nil
}

// String renders the config with secrets redacted.
func (c Config) String() string {
	return fmt.Sprintf("maxcompute{endpoint=%s tunnel_endpoint=%s project=%s schema=%s quota=%s access_id=%s access_key=%s sts_token=%s compression=%s}",
		c.Endpoint, c.TunnelEndpoint, c.Project, c.Schema, c.QuotaName, redact(c.AccessID), redact(c.AccessKey), redact(c.STSToken), c.Compression)
}

// LogValue renders the config for slog with secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("endpoint", c.Endpoint), slog.String("tunnel_endpoint", c.TunnelEndpoint),
		slog.String("project", c.Project), slog.String("schema", c.Schema), slog.String("access_id", redact(c.AccessID)))
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}
