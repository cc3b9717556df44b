package kafka

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/capture/kafka/codec"
)

// Source kinds (SourceConfig.Kind): the odsync source types this package serves.
const (
	// KindTiCDC reads a TiCDC changefeed's topics (source.type: ticdc).
	KindTiCDC = "ticdc"
	// KindKafka reads generic CDC JSON from other tools (source.type: kafka).
	KindKafka = "kafka"
)

// Orderings (SourceConfig.Ordering).
const (
	// OrderingAuto picks OrderingWatermark for odsync's own format and TiCDC canal-json,
	// open-protocol and debezium, OrderingOffset otherwise.
	OrderingAuto = "auto"
	// OrderingWatermark buffers rows until the minimum watermark over all
	// assigned partitions passes their commitTs and releases them in
	// commitTs order; rows re-sent below a watermark are dropped.
	OrderingWatermark = "watermark"
	// OrderingOffset releases every message as it is read, in offset order
	// per partition (the degraded mode for producers without watermarks).
	OrderingOffset = "offset"
)

// Bad-message policies (SourceConfig.OnError).
const (
	// OnErrorStop stops the source with an error naming topic, partition,
	// offset and cause.
	OnErrorStop = "stop"
	// OnErrorDeadLetter sends the message with the reason to the dead-letter
	// destination and continues.
	OnErrorDeadLetter = "dead_letter"
)

// SourceConfig configures a Kafka source: the TiCDC changefeed reader
// (source.type: ticdc, YAML under source.ticdc) or the generic CDC JSON
// reader (source.type: kafka, YAML under source.kafka). Field names are the
// YAML keys.
type SourceConfig struct {
	// Brokers are the bootstrap brokers (host:port).
	Brokers []string `yaml:"brokers"`
	// Topics are topic names to read.
	Topics []string `yaml:"topics"`
	// TopicRegex reads every topic whose whole name matches it (in addition
	// to Topics). The list is refreshed every TopicRefreshInterval.
	TopicRegex string `yaml:"topic_regex"`
	// GroupID is the Kafka consumer group: several odsync instances with
	// the same group split the partitions. Empty: this instance reads every
	// partition and commits nothing to Kafka.
	GroupID string `yaml:"group_id"`
	// ClientID names odsync to the brokers. Default "odsync".
	ClientID string `yaml:"client_id"`

	// Config is the decoder configuration (protocol, time_zone,
	// compression, require_tidb_extension, max_cached_tables).
	codec.Config `yaml:",inline"`

	// Ordering is auto (default), watermark or offset; see the constants.
	Ordering string `yaml:"ordering"`
	// Start says where partitions begin when neither the log's checkpoint
	// nor the consumer group has a position for them: earliest (default),
	// latest, checkpoint (refuse to start without a stored position),
	// time:<RFC 3339>, commit_ts:<TSO> or offsets:<topic>/<partition>=<offset>,...
	// See ParseStart.
	Start string `yaml:"start"`

	// MaxBufferBytes bounds (approximately) the rows held while they wait
	// for the watermark: beyond it the partitions whose watermark is ahead
	// stop fetching until the lagging ones catch up. Default 32MiB.
	MaxBufferBytes bytesize.Size `yaml:"max_buffer_bytes"`
	// MaxEmitEvents caps the events handed to the log in one call (whole
	// transactions; a larger transaction is handed over in chunks that
	// commit with its last one). Default 10000.
	MaxEmitEvents int `yaml:"max_emit_events"`
	// CheckpointInterval is how often progress without new rows (watermarks,
	// skipped messages) is stored. Default 1s.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// CommitInterval is how often the stored checkpoint's offsets are
	// committed to the consumer group. Default 5s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout tune the
	// consumer group. Defaults 30s, 3s, 30s.
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	RebalanceTimeout  time.Duration `yaml:"rebalance_timeout"`
	// FetchMaxBytes is the most bytes one fetch returns per partition
	// (the broker still returns at least one whole record batch). Default 1MiB.
	FetchMaxBytes bytesize.Size `yaml:"fetch_max_bytes"`
	// FetchMaxWait is how long a fetch waits for new messages. Default 500ms.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// DialTimeout bounds connecting to a broker. Default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TopicRefreshInterval is how often the topic list (TopicRegex) and the
	// partition counts are re-read. Default 1m.
	TopicRefreshInterval time.Duration `yaml:"topic_refresh_interval"`
	// StallWarning: a warning names the partitions holding the watermark
	// back when rows have waited this long. Default 1m.
	StallWarning time.Duration `yaml:"stall_warning"`

	// TLS and SASL configure the connection to the brokers.
	TLS  TLSConfig  `yaml:"tls"`
	SASL SASLConfig `yaml:"sasl"`

	// OnError is the bad-message policy: stop (default) or dead_letter.
	OnError string `yaml:"on_error"`
	// DeadLetter is where bad messages go with on_error: dead_letter.
	DeadLetter DeadLetterConfig `yaml:"dead_letter"`
	// TiDB re-reads rows of handle-key-only messages.
	TiDB TiDBConfig `yaml:"tidb"`
	// ClaimCheck reads the payloads of claim-check messages.
	ClaimCheck ClaimCheckConfig `yaml:"claim_check"`

	// Kind is KindTiCDC or KindKafka: set by the command from source.type.
	Kind string `yaml:"-"`
	// StartAfter drops every row and DDL with CommitTs <= StartAfter, on
	// every partition, whatever its stored position: they are already in
	// the log (the TiDB snapshot source sets it to its snapshot TSO).
	// Needs watermark ordering. 0: off.
	StartAfter uint64 `yaml:"-"`
	// SpillDir is where the watermark merger spills buffered rows past
	// 1.5 × MaxBufferBytes (a transaction bigger than the buffer): the
	// state directory's spill/ under odsync run; "" is the system's temporary
	// directory. The run files are unlinked as soon as they are created.
	SpillDir string `yaml:"-"`
	// Durable returns the checkpoint stored in the log (pass
	// (*offsets.Log).Checkpoint): consumer-group commits follow it. Nil:
	// commits follow the last emitted checkpoint.
	Durable func() []byte `yaml:"-"`
}

// TLSConfig enables TLS to the brokers.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the brokers (PEM); empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (PEM).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the broker certificates.
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASLConfig authenticates to the brokers.
type SASLConfig struct {
	// Mechanism is "" (none), plain, scram-sha-256 or scram-sha-512.
	Mechanism string `yaml:"mechanism"`
	User      string `yaml:"user"`
	// Password is best given as ${ENV_VAR}.
	Password string `yaml:"password"`
}

// DeadLetterConfig is the dead-letter destination of bad messages.
type DeadLetterConfig struct {
	// Topic receives each bad message (key and value unchanged) with
	// headers odsync-reason, odsync-topic, odsync-partition, odsync-offset.
	Topic string `yaml:"topic"`
	// Brokers of the dead-letter topic; default the source brokers.
	Brokers []string `yaml:"brokers"`
	// Table ("db.table") records each bad message as a row of a quarantine
	// table in the log (and so in every sink), exactly once.
	Table string `yaml:"table"`
}

// TiDBConfig is the TiDB server handle-key-only messages are completed from.
type TiDBConfig struct {
	// DSN is a go-sql-driver/mysql DSN (user:password@tcp(host:4000)/).
	// Best given as ${ENV_VAR}. Empty: handle-key-only messages are errors.
	DSN string `yaml:"dsn"`
	// SnapshotReads reads each row at its commit snapshot
	// (@@tidb_snapshot). Default true; false reads the current row (for
	// servers without tidb_snapshot; not exact).
	SnapshotReads *bool `yaml:"snapshot_reads"`
	// Timeout bounds each re-read. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// ClaimCheckConfig is the storage TiCDC's claim-check-storage-uri names.
type ClaimCheckConfig struct {
	// URI is s3://bucket/prefix or file:///dir: the object is the base name
	// of the message's claimCheckLocation under it. Empty: claim-check
	// messages are errors.
	URI string `yaml:"uri"`
	// Endpoint, Region, AccessKeyID, SecretAccessKey, SessionToken and
	// PathStyle configure the S3 client (empty: the AWS defaults).
	Endpoint        string `yaml:"endpoint"`
	Region          string `yaml:"region"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	SessionToken    string `yaml:"session_token"`
	PathStyle       bool   `yaml:"path_style"`
	// Timeout bounds each read. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// EnsureDefaults fills unset fields.
func (c *SourceConfig) EnsureDefaults() {
	if c.Kind == "" {
		c.Kind = KindTiCDC
	}
	if c.Protocol == "" && c.Kind == KindTiCDC {
		c.Protocol = codec.ProtocolCanalJSON
	}
	c.Config.EnsureDefaults()
	if c.ClientID == "" {
		c.ClientID = "odsync"
	}
	if c.Ordering == "" {
		c.Ordering = OrderingAuto
	}
	if c.Start == "" {
		c.Start = "earliest"
	}
	if c.MaxBufferBytes == 0 {
		c.MaxBufferBytes = 32 << 20
	}
	if c.MaxEmitEvents == 0 {
		c.MaxEmitEvents = 10000
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = 5 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 30 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 3 * time.Second
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = 30 * time.Second
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 1 << 20
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.TopicRefreshInterval == 0 {
		c.TopicRefreshInterval = time.Minute
	}
	if c.StallWarning == 0 {
		c.StallWarning = time.Minute
	}
	if c.OnError == "" {
		c.OnError = OnErrorStop
	}
	if c.TiDB.SnapshotReads == nil {
		t := true
		c.TiDB.SnapshotReads = &t
	}
	if c.TiDB.Timeout == 0 {
		c.TiDB.Timeout = 10 * time.Second
	}
	if c.ClaimCheck.Timeout == 0 {
		c.ClaimCheck.Timeout = 30 * time.Second
	}
}

// prefix is the YAML path of the configuration in error messages.
func (c *SourceConfig) prefix() string {
	if c.Kind == KindKafka {
		return "source.kafka"
	}
	return "source.ticdc"
}

// Validate reports every problem at once.
func (c *SourceConfig) Validate() error {
	p := c.prefix()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(p+"."+format, args...)) }
	if len(c.Brokers) == 0 {
		add("brokers: at least one broker (host:port) is required")
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			add("brokers: %q is not host:port", b)
		}
	}
	if len(c.Topics) == 0 && c.TopicRegex == "" {
		add("topics: name at least one topic, or set topic_regex")
	}
	for _, t := range c.Topics {
		if t == "" || strings.ContainsAny(t, " /,") {
			add("topics: %q is not a topic name", t)
		}
	}
	if c.TopicRegex != "" {
		if _, err := regexp.Compile(c.TopicRegex); err != nil {
			add("topic_regex: %v", err)
		}
	}
	switch c.Kind {
	case KindTiCDC:
		switch c.Protocol {
		case codec.ProtocolCanalJSON, codec.ProtocolOpen, codec.ProtocolDebezium, codec.ProtocolMaxwell:
		default:
			add("protocol: %q: TiCDC writes canal-json, open-protocol, debezium or maxwell (use source.type: kafka for %q)", c.Protocol, c.Protocol)
		}
	case KindKafka:
		switch c.Protocol {
		case codec.ProtocolDebezium, codec.ProtocolCanal, codec.ProtocolMaxwell, codec.ProtocolCanalJSON, codec.ProtocolOdsync:
		case "":
			add("protocol: required (debezium, canal, maxwell, canal-json or odsync)")
		default:
			add("protocol: %q: want debezium, canal, maxwell, canal-json or odsync", c.Protocol)
		}
	default:
		add("kind %q: want ticdc or kafka", c.Kind)
	}
	if err := c.Config.Validate(); err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("%s: %s", p, strings.TrimPrefix(e.Error(), "ticdc: ")))
		}
	}
	switch c.Ordering {
	case OrderingAuto, OrderingOffset:
	case OrderingWatermark:
		if c.Protocol == codec.ProtocolCanal || c.Protocol == codec.ProtocolMaxwell {
			add("ordering: watermark: %s messages carry no watermarks; use offset", c.Protocol)
		}
	default:
		add("ordering: %q: want auto, watermark or offset", c.Ordering)
	}
	if st, err := ParseStart(c.Start); err != nil {
		add("start: %v", err)
	} else if st.Kind == StartCommitTs && c.Kind != KindTiCDC {
		add("start: commit_ts needs a TiCDC source")
	}
	if c.MaxBufferBytes < 1<<20 {
		add("max_buffer_bytes: %d: at least 1MiB", c.MaxBufferBytes)
	}
	if c.MaxEmitEvents < 1 {
		add("max_emit_events: %d: must be positive", c.MaxEmitEvents)
	}
	for name, d := range map[string]time.Duration{"checkpoint_interval": c.CheckpointInterval, "commit_interval": c.CommitInterval,
		"session_timeout": c.SessionTimeout, "heartbeat_interval": c.HeartbeatInterval, "rebalance_timeout": c.RebalanceTimeout,
		"fetch_max_wait": c.FetchMaxWait, "dial_timeout": c.DialTimeout, "topic_refresh_interval": c.TopicRefreshInterval,
		"stall_warning": c.StallWarning} {
		if d < time.Millisecond {
			add("%s: %s: must be positive", name, d)
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		add("heartbeat_interval: %s must be below session_timeout %s", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.FetchMaxBytes < 1<<10 {
		add("fetch_max_bytes: %d: at least 1024", c.FetchMaxBytes)
	}
	switch c.SASL.Mechanism {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASL.User == "" {
			add("sasl.user: required with sasl.mechanism %s", c.SASL.Mechanism)
		}
	default:
		add("sasl.mechanism: %q: want plain, scram-sha-256 or scram-sha-512", c.SASL.Mechanism)
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "") {
		add("tls: ca_file/cert_file are set but tls.enabled is false")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls: cert_file and key_file go together")
	}
	switch c.OnError {
	case OnErrorStop:
	case OnErrorDeadLetter:
		if c.DeadLetter.Topic == "" && c.DeadLetter.Table == "" {
			add("dead_letter: on_error: dead_letter needs dead_letter.topic or dead_letter.table")
		}
	default:
		add("on_error: %q: want stop or dead_letter", c.OnError)
	}
	if c.DeadLetter.Topic != "" && strings.ContainsAny(c.DeadLetter.Topic, " /,") {
		add("dead_letter.topic: %q is not a topic name", c.DeadLetter.Topic)
	}
	if c.DeadLetter.Table != "" {
		if db, tbl, ok := strings.Cut(c.DeadLetter.Table, "."); !ok || db == "" || tbl == "" || strings.Contains(tbl, ".") {
			add("dead_letter.table: %q: want db.table", c.DeadLetter.Table)
		}
	}
	if c.ClaimCheck.URI != "" {
		if _, _, err := parseClaimCheckURI(c.ClaimCheck.URI); err != nil {
			add("claim_check.uri: %v", err)
		}
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// ordering resolves OrderingAuto.
func (c *SourceConfig) ordering() string {
	if c.Ordering != OrderingAuto {
		return c.Ordering
	}
	if c.Kind == KindTiCDC {
		switch c.Protocol {
		case codec.ProtocolCanalJSON, codec.ProtocolOpen, codec.ProtocolDebezium:
			return OrderingWatermark
		}
	}
	if c.Protocol == codec.ProtocolOdsync { // odsync's Kafka sink writes watermarks
		return OrderingWatermark
	}
	return OrderingOffset
}

// StartKind says where a partition without a stored position begins.
type StartKind uint8

// Start kinds.
const (
	StartEarliest   StartKind = iota // the oldest retained message
	StartLatest                      // the end of the partition
	StartCheckpoint                  // refuse: a stored position is required
	StartTime                        // the first message at or after a time
	StartCommitTs                    // the first change committed at or after a TiDB TSO
	StartOffsets                     // explicit offsets
)

// Start is a parsed start position.
type Start struct {
	Kind     StartKind
	Time     time.Time
	CommitTs uint64
	// Offsets maps "topic/partition" to an offset (StartOffsets); partitions
	// not listed start at the earliest offset.
	Offsets map[string]int64
}

func (s Start) String() string {
	switch s.Kind {
	case StartLatest:
		return "latest"
	case StartCheckpoint:
		return "checkpoint"
	case StartTime:
		return "time:" + s.Time.UTC().Format(time.RFC3339Nano)
	case StartCommitTs:
		return "commit_ts:" + strconv.FormatUint(s.CommitTs, 10)
	case StartOffsets:
		var parts []string
		for k, v := range s.Offsets {
			parts = append(parts, k+"="+strconv.FormatInt(v, 10))
		}
		slices.Sort(parts)
		return "offsets:" + strings.Join(parts, ",")
	}
	return "earliest"
}

// ParseStart parses a start position:
//
//	earliest                          the oldest retained message (default)
//	latest                            the end of each partition
//	checkpoint                        no default: a partition without a stored
//	                                  checkpoint or group offset is an error
//	time:<RFC 3339 time>              changes committed at or after the time
//	commit_ts:<TSO>                   changes committed at or after the TiDB TSO
//	offsets:<topic>/<p>=<offset>,...  explicit offsets (others: earliest)
func ParseStart(s string) (Start, error) {
	s = strings.TrimSpace(s)
	low := strings.ToLower(s)
	switch {
	case low == "" || low == "earliest":
		return Start{Kind: StartEarliest}, nil
	case low == "latest":
		return Start{Kind: StartLatest}, nil
	case low == "checkpoint":
		return Start{Kind: StartCheckpoint}, nil
	case strings.HasPrefix(low, "time:"):
		v := strings.TrimSpace(s[5:])
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, v); err == nil {
				return Start{Kind: StartTime, Time: t}, nil
			}
		}
		return Start{}, fmt.Errorf("time:%s: want an RFC 3339 time like 2026-01-02T15:04:05Z (without a zone: UTC)", v)
	case strings.HasPrefix(low, "commit_ts:"):
		v := strings.TrimSpace(s[len("commit_ts:"):])
		ts, err := strconv.ParseUint(v, 10, 64)
		if err != nil || ts == 0 {
			return Start{}, fmt.Errorf("commit_ts:%s: want a TiDB TSO (a positive integer like 449537283735945217)", v)
		}
		return Start{Kind: StartCommitTs, CommitTs: ts}, nil
	case strings.HasPrefix(low, "offsets:"):
		m := map[string]int64{}
		for _, part := range strings.Split(s[len("offsets:"):], ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, v, ok := strings.Cut(part, "=")
			off, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			i := strings.LastIndexByte(k, '/')
			if !ok || err != nil || off < 0 || i <= 0 {
				return Start{}, fmt.Errorf("offsets: %q: want <topic>/<partition>=<offset>", part)
			}
			if _, err := strconv.ParseUint(k[i+1:], 10, 31); err != nil {
				return Start{}, fmt.Errorf("offsets: %q: partition %q is not a number", part, k[i+1:])
			}
			m[strings.TrimSpace(k)] = off
		}
		if len(m) == 0 {
			return Start{}, errors.New("offsets: needs at least one <topic>/<partition>=<offset>")
		}
		return Start{Kind: StartOffsets, Offsets: m}, nil
	}
	return Start{}, fmt.Errorf("%q: want earliest, latest, checkpoint, time:<RFC 3339>, commit_ts:<TSO> or offsets:<topic>/<partition>=<offset>,...", s)
}
