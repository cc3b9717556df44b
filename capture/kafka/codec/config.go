package codec

import (
	"errors"
	"fmt"
	"time"
)

// Protocols a Config can select.
const (
	// ProtocolCanalJSON is TiCDC's canal-json, with or without the TiDB
	// extension (`_tidb`); see docs/kafka.md for the degraded mode.
	ProtocolCanalJSON = "canal-json"
	// ProtocolCanal is Alibaba Canal's flat message (canal-json as Canal
	// itself writes it to Kafka): member text for ENUM/SET, several rows per
	// message, partial `old`.
	ProtocolCanal = "canal"
	// ProtocolOpen is TiCDC's open protocol (binary key/value batches).
	ProtocolOpen = "open-protocol"
	// ProtocolDebezium is Debezium's JSON envelope (with or without schema),
	// from Debezium itself or TiCDC's debezium protocol.
	ProtocolDebezium = "debezium"
	// ProtocolMaxwell is Maxwell's JSON (also TiCDC's maxwell protocol).
	ProtocolMaxwell = "maxwell"
	// ProtocolOdsync is odsync's own JSON, written by odsync's Kafka sink.
	ProtocolOdsync = "odsync"
)

// Compression codecs of message values (TiCDC's
// large-message-handle-compression).
const (
	CompressionNone   = "none"
	CompressionSnappy = "snappy"
	CompressionLZ4    = "lz4"
)

// DefaultMaxCachedTables bounds the schema cache of one decoder.
const DefaultMaxCachedTables = 4096

// Config configures a decoder.
type Config struct {
	// Protocol selects the decoder built by New. The New* constructors of
	// the concrete decoders ignore it.
	Protocol string `yaml:"protocol"`
	// TimeZone is the IANA name of the time zone in which the producer
	// renders TIMESTAMP columns as naive text: TiCDC's server/changefeed
	// time zone (`--tz`, default the TiCDC host's local zone), Canal's
	// source server zone. TIMESTAMP text is read in this zone and becomes a
	// UTC instant. Default "UTC". Ignored when Location is set.
	TimeZone string `yaml:"time_zone"`
	// Location, when non-nil, is used instead of loading TimeZone.
	Location *time.Location `yaml:"-"`
	// Compression is the codec of message values: "none" (default),
	// "snappy" or "lz4", matching TiCDC's large-message-handle-compression.
	// For open-protocol it applies to each value inside the batch.
	Compression string `yaml:"compression"`
	// RequireTiDBExtension makes canal-json messages without `_tidb.commitTs`
	// an error instead of decoding them in the degraded mode.
	RequireTiDBExtension bool `yaml:"require_tidb_extension"`
	// MaxCachedTables bounds the number of cached table schemas; the cache
	// is emptied when it is full. Default DefaultMaxCachedTables.
	MaxCachedTables int `yaml:"max_cached_tables"`
}

// EnsureDefaults fills unset fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	if c.Compression == "" {
		c.Compression = CompressionNone
	}
	if c.MaxCachedTables == 0 {
		c.MaxCachedTables = DefaultMaxCachedTables
	}
}

// Validate reports every problem of the configuration at once. An empty
// Protocol is accepted (the New* constructors do not need it); New
// requires one.
func (c *Config) Validate() error {
	var errs []error
	switch c.Protocol {
	case "", ProtocolCanalJSON, ProtocolCanal, ProtocolOpen, ProtocolDebezium, ProtocolMaxwell, ProtocolOdsync:
	default:
		errs = append(errs, fmt.Errorf("ticdc: protocol %q is not one of %s, %s, %s, %s, %s, %s",
			c.Protocol, ProtocolCanalJSON, ProtocolCanal, ProtocolOpen, ProtocolDebezium, ProtocolMaxwell, ProtocolOdsync))
	}
	if c.Location == nil {
		if c.TimeZone == "" {
			errs = append(errs, errors.New("ticdc: time_zone is empty (EnsureDefaults sets UTC)"))
		} else if _, err := time.LoadLocation(c.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("ticdc: time_zone %q: %w", c.TimeZone, err))
		}
	}
	switch c.Compression {
	case CompressionNone, CompressionSnappy, CompressionLZ4:
	default:
		errs = append(errs, fmt.Errorf("ticdc: compression %q is not one of none, snappy, lz4", c.Compression))
	}
	if c.MaxCachedTables < 1 {
		errs = append(errs, fmt.Errorf("ticdc: max_cached_tables %d must be at least 1", c.MaxCachedTables))
	}
	if c.RequireTiDBExtension && c.Protocol != "" && c.Protocol != ProtocolCanalJSON {
		errs = append(errs, fmt.Errorf("ticdc: require_tidb_extension applies to %s only, not %s",
			ProtocolCanalJSON, c.Protocol))
	}
	return errors.Join(errs...)
}

// location returns the configured time zone.
func (c *Config) location() (*time.Location, error) {
	if c.Location != nil {
		return c.Location, nil
	}
	return time.LoadLocation(c.TimeZone)
}

// Prepare validates a copy of cfg with defaults filled in.
func Prepare(cfg Config) (Config, *time.Location, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	loc, err := cfg.location()
	if err != nil {
		return cfg, nil, err
	}
	return cfg, loc, nil
}
