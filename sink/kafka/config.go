package kafka

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/odsync/odsync/bytesize"
	kcapture "github.com/odsync/odsync/capture/kafka"
)

// Formats a Config can select.
const (
	// FormatOdsync is odsync's own JSON: every event with its _seq,
	// _commit_ts, _pos, the full table schema and its version, values typed
	// exactly; watermarks on every partition. odsync's Kafka source reads it
	// (protocol: odsync) exactly once per worker log.
	FormatOdsync = "odsync"
	// FormatCanalJSON is TiCDC's canal-json with the TiDB extension fields
	// (`_tidb.commitTs`), content-compatible type names.
	FormatCanalJSON = "canal-json"
	// FormatDebezium is the Debezium JSON envelope with its schema.
	FormatDebezium = "debezium"
)

// Config configures the Kafka sink (YAML under `sinks[].kafka`).
type Config struct {
	// Brokers are the bootstrap brokers (host:port).
	Brokers []string `yaml:"brokers"`
	// Topic is the topic name, or a template with {db} and {table}: one
	// topic per source table (e.g. "odsync.{db}.{table}"). Characters
	// Kafka does not allow in names become '_'.
	Topic string `yaml:"topic"`
	// Format is odsync (default), canal-json or debezium.
	Format string `yaml:"format"`
	// CreateTopics creates missing topics with Partitions partitions and
	// ReplicationFactor replicas. Default true.
	CreateTopics      *bool `yaml:"create_topics"`
	Partitions        int   `yaml:"partitions"`
	ReplicationFactor int   `yaml:"replication_factor"`
	// Compression of record batches: none (default), gzip, snappy, lz4, zstd.
	Compression string `yaml:"compression"`
	// MaxMessageBytes is the largest record batch the sink sends (keep it
	// at or below the topic's max.message.bytes); a message that does not
	// fit alone stops the sink with an error naming the table and seq.
	// Default 1MiB (Kafka's default max.message.bytes).
	MaxMessageBytes bytesize.Size `yaml:"max_message_bytes"`
	// WatermarkInterval is how often the odsync format's watermark (the
	// highest _seq durable in Kafka) is written to every partition of
	// every topic of the sink. Default 200ms.
	WatermarkInterval time.Duration `yaml:"watermark_interval"`
	// TopicRefreshInterval is how often the sink lists the topics its
	// template matches (to write watermarks to idle ones). Default 1m.
	TopicRefreshInterval time.Duration `yaml:"topic_refresh_interval"`
	// ProduceTimeout bounds one Write: records not acknowledged by then
	// fail it (the pipeline retries the batch). Default 30s.
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// ClientID names odsync to the brokers. Default "odsync".
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds connecting to a broker. Default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLS and SASL as for the Kafka source (source.kafka.tls / .sasl).
	TLS  kcapture.TLSConfig  `yaml:"tls"`
	SASL kcapture.SASLConfig `yaml:"sasl"`
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Format == "" {
		c.Format = FormatOdsync
	}
	if c.CreateTopics == nil {
		t := true
		c.CreateTopics = &t
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.WatermarkInterval == 0 {
		c.WatermarkInterval = 200 * time.Millisecond
	}
	if c.TopicRefreshInterval == 0 {
		c.TopicRefreshInterval = time.Minute
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = 30 * time.Second
	}
	if c.ClientID == "" {
		c.ClientID = "odsync"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
}

// Validate reports every problem.
func (c *Config) Validate(prefix string) error {
	var errs []error
	add := func(f string, a ...any) { errs = append(errs, fmt.Errorf(prefix+"."+f, a...)) }
	if len(c.Brokers) == 0 {
		add("brokers: required")
	}
	if c.Topic == "" {
		add("topic: required (a name, or a template with {db} and {table})")
	} else if t := strings.NewReplacer("{db}", "d", "{table}", "t").Replace(c.Topic); strings.ContainsAny(t, "{}") {
		add("topic: %q: the only placeholders are {db} and {table}", c.Topic)
	} else if !validTopic.MatchString(t) || len(t) > 249 {
		add("topic: %q: Kafka topic names use letters, digits, '.', '_' and '-' (at most 249)", c.Topic)
	}
	switch c.Format {
	case FormatOdsync, FormatCanalJSON, FormatDebezium:
	default:
		add("format: %q: want odsync, canal-json or debezium", c.Format)
	}
	if c.Partitions < 1 {
		add("partitions: %d: must be positive", c.Partitions)
	}
	if c.ReplicationFactor < -1 || c.ReplicationFactor == 0 {
		add("replication_factor: %d: want -1 (the broker default) or a positive count", c.ReplicationFactor)
	}
	switch c.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		add("compression: %q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if c.MaxMessageBytes < 1024 {
		add("max_message_bytes: %d: at least 1KiB", c.MaxMessageBytes)
	}
	for name, d := range map[string]time.Duration{"watermark_interval": c.WatermarkInterval,
		"topic_refresh_interval": c.TopicRefreshInterval, "produce_timeout": c.ProduceTimeout, "dial_timeout": c.DialTimeout} {
		if d <= 0 {
			add("%s: %s: must be positive", name, d)
		}
	}
	if _, err := c.TLS.ClientTLS(); err != nil {
		add("tls: %v", err)
	}
	if _, err := saslMechanism(c.SASL); err != nil {
		add("sasl: %v", err)
	}
	return errors.Join(errs...)
}

var validTopic = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// PerTable reports whether the topic is a per-table template.
func (c *Config) PerTable() bool {
	return strings.Contains(c.Topic, "{db}") || strings.Contains(c.Topic, "{table}")
}

// topicFor returns the topic of a source table.
func (c *Config) topicFor(db, table string) string {
	if !c.PerTable() {
		return c.Topic
	}
	return strings.NewReplacer("{db}", topicPart(db), "{table}", topicPart(table)).Replace(c.Topic)
}

// topicPart makes a name part legal in a topic name.
func topicPart(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// topicPattern matches every topic the template can produce.
func (c *Config) topicPattern() *regexp.Regexp {
	parts := strings.NewReplacer("{db}", "\x00", "{table}", "\x00").Replace(c.Topic)
	var re strings.Builder
	re.WriteString("^")
	for i, p := range strings.Split(parts, "\x00") {
		if i > 0 {
			re.WriteString("[A-Za-z0-9._-]+")
		}
		re.WriteString(regexp.QuoteMeta(p))
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}
