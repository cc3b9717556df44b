// Package config reads odsync's YAML configuration file: strict decoding
// (unknown keys are errors), ${ENV} expansion inside values, defaults, and
// validation that reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/tidb"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	kafkasink "github.com/odsync/odsync/sink/kafka"
	"github.com/odsync/odsync/sink/local"
	mcsink "github.com/odsync/odsync/sink/maxcompute"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
	s3sink "github.com/odsync/odsync/sink/s3"
	"github.com/odsync/odsync/telemetry"
	"github.com/odsync/odsync/verify"
)

// Config is the whole file.
type Config struct {
	// State is where odsync keeps its durable log and positions.
	State State `yaml:"state"`
	// Source is the one capture of this deployment.
	Source Source `yaml:"source"`
	// Mapping decides which tables are captured and how each becomes an ODS table.
	Mapping schema.Config `yaml:"mapping"`
	// Sinks receive every captured change, each from its own cursor.
	Sinks []Sink `yaml:"sinks"`
	// Log configures odsync's own logging.
	Log Log `yaml:"log"`
	// Shutdown bounds the graceful stop: capture stops, sinks drain what the
	// log holds for at most this long. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MemoryLimit is the Go runtime's soft memory limit
	// (runtime/debug.SetMemoryLimit, like GOMEMLIMIT, which it overrides):
	// past it the garbage collector runs more often instead of letting the
	// heap grow to twice what is live. 0 (default) leaves Go's default
	// (GOMEMLIMIT, else no limit).
	MemoryLimit ByteSize `yaml:"memory_limit"`
	// Admin is the HTTP server of /healthz, /readyz, /status, /metrics and the status page.
	Admin admin.Config `yaml:"admin"`
	// Telemetry configures lag sampling, history and OTLP export.
	Telemetry telemetry.Config `yaml:"telemetry"`
	// Verify runs `odsync verify` on a schedule inside `odsync run`
	// (docs/verify.md); off unless verify.interval is set.
	Verify verify.ScheduleConfig `yaml:"verify"`
}

// State configures the Pebble state directory.
type State struct {
	Dir string `yaml:"dir"`
	// MaxLogBytes caps the log; capture pauses (backpressure) while sinks
	// catch up. Default 4GiB.
	MaxLogBytes ByteSize `yaml:"max_log_bytes"`
	// Retention keeps changes in the log for this long after every sink has
	// written them, so `odsync replay` can rewind within it. It yields to
	// max_log_bytes: past 3/4 of it, only what sinks still need is kept.
	// Default 24h; 0s keeps nothing.
	Retention *time.Duration `yaml:"retention"`
	// MemTableSize is the log's Pebble memtable size; up to two are held
	// in memory. Default 32MiB. Smaller saves memory; with retention 0,
	// entries that sinks pass while still in the memtable never reach disk
	// files, so a smaller memtable writes (and compacts) more of them.
	MemTableSize ByteSize `yaml:"memtable_size"`
}

// Source selects and configures the capture.
type Source struct {
	// Type is "mysql" (MySQL, MariaDB, TiDB), "ticdc" (a TiCDC changefeed in
	// Kafka) or "kafka" (Debezium, Canal or Maxwell JSON in Kafka).
	Type  string              `yaml:"type"`
	MySQL *mysql.Config       `yaml:"mysql"`
	TiCDC *kafka.SourceConfig `yaml:"ticdc"`
	Kafka *kafka.SourceConfig `yaml:"kafka"`
	// TiDB is the snapshot side of source.type tidb (its changefeed is
	// read with the source.ticdc settings).
	TiDB *tidb.Config `yaml:"tidb"`
}

// Kafka returns the configuration of a ticdc or kafka source (nil for mysql).
func (s *Source) KafkaConfig() *kafka.SourceConfig {
	switch s.Type {
	case "ticdc", "tidb":
		return s.TiCDC
	case "kafka":
		return s.Kafka
	}
	return nil
}

// Sink is one named destination.
type Sink struct {
	Name       string               `yaml:"name"`
	Type       string               `yaml:"type"` // "local", "s3", "maxcompute", "kafka" or "mysql"
	Local      *local.Config        `yaml:"local"`
	S3         *s3sink.Config       `yaml:"s3"`
	MaxCompute *mcsink.Config       `yaml:"maxcompute"`
	Kafka      *kafkasink.Config    `yaml:"kafka"`
	MySQL      *mysqlsink.Config    `yaml:"mysql"`
	Batch      pipeline.BatchPolicy `yaml:"batch"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// ByteSize is a size in bytes; YAML accepts 1048576, "64MiB", "4GiB", "512KB".
type ByteSize = bytesize.Size

// ParseByteSize parses "123", "64MiB", "4GB", "512K".
func ParseByteSize(s string) (ByteSize, error) { return bytesize.Parse(s) }

// EnsureDefaults fills unset fields everywhere.
func (c *Config) EnsureDefaults() {
	if c.State.Dir == "" {
		c.State.Dir = "./odsync-state"
	}
	if c.State.MemTableSize == 0 {
		c.State.MemTableSize = 32 << 20
	}
	if c.State.MaxLogBytes == 0 {
		c.State.MaxLogBytes = 4 << 30
	}
	if c.State.Retention == nil {
		d := 24 * time.Hour
		c.State.Retention = &d
	}
	if c.Source.Type == "" && c.Source.MySQL != nil {
		c.Source.Type = "mysql"
	}
	if c.Source.MySQL != nil {
		if c.Source.MySQL.ServerID == 0 {
			c.Source.MySQL.ServerID = mysql.DefaultServerID(c.State.Dir)
		}
		c.Source.MySQL.EnsureDefaults()
	}
	if c.Source.Type == "" && c.Source.TiDB != nil {
		c.Source.Type = "tidb"
	}
	if c.Source.Type == "" && c.Source.TiCDC != nil {
		c.Source.Type = "ticdc"
	}
	if c.Source.TiDB != nil {
		c.Source.TiDB.EnsureDefaults()
		if c.Source.TiCDC != nil && c.Source.TiCDC.TiDB.DSN == "" {
			// Handle-key-only messages are re-read from the same server.
			c.Source.TiCDC.TiDB.DSN = c.Source.TiDB.DSN
		}
	}
	if c.Source.Type == "" && c.Source.Kafka != nil {
		c.Source.Type = "kafka"
	}
	if c.Source.TiCDC != nil {
		c.Source.TiCDC.Kind = kafka.KindTiCDC // before EnsureDefaults: it picks the default protocol
		c.Source.TiCDC.EnsureDefaults()
	}
	if c.Source.Kafka != nil {
		c.Source.Kafka.Kind = kafka.KindKafka
		c.Source.Kafka.EnsureDefaults()
	}
	c.Mapping.EnsureDefaults()
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if s.Type == "" && s.Local != nil {
			s.Type = "local"
		}
		if s.Type == "" && s.S3 != nil {
			s.Type = "s3"
		}
		if s.Type == "" && s.MaxCompute != nil {
			s.Type = "maxcompute"
		}
		if s.Type == "" && s.Kafka != nil {
			s.Type = "kafka"
		}
		if s.Type == "" && s.MySQL != nil {
			s.Type = "mysql"
		}
		if s.Kafka != nil {
			s.Kafka.EnsureDefaults()
		}
		if s.MaxCompute != nil {
			s.MaxCompute.EnsureDefaults()
		}
		if s.MySQL != nil {
			s.MySQL.EnsureDefaults()
		}
		if s.Name == "" {
			s.Name = s.Type
		}
		if s.Local != nil {
			s.Local.EnsureDefaults()
		}
		if s.S3 != nil {
			if s.S3.SpoolDir == "" {
				s.S3.SpoolDir = filepath.Join(c.State.Dir, "s3-"+s.Name)
			}
			s.S3.EnsureDefaults()
		}
		s.Batch.EnsureDefaults()
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	c.Admin.EnsureDefaults()
	c.Telemetry.EnsureDefaults()
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 32<<20 {
		add(fmt.Errorf("memory_limit: %d: at least 32MiB (or 0: no limit)", c.MemoryLimit))
	}
	switch c.Source.Type {
	case "mysql":
		if c.Source.MySQL == nil {
			add(errors.New("source.mysql: required when source.type is mysql"))
		} else {
			add(c.Source.MySQL.Validate())
		}
	case "ticdc":
		if c.Source.TiCDC == nil {
			add(errors.New("source.ticdc: required when source.type is ticdc"))
		} else {
			add(c.Source.TiCDC.Validate())
		}
	case "kafka":
		if c.Source.Kafka == nil {
			add(errors.New("source.kafka: required when source.type is kafka"))
		} else {
			add(c.Source.Kafka.Validate())
		}
	case "tidb":
		if c.Source.TiDB == nil {
			add(errors.New("source.tidb: required when source.type is tidb (the snapshot's dsn)"))
		} else {
			add(c.Source.TiDB.Validate())
		}
		if c.Source.TiCDC == nil {
			add(errors.New("source.ticdc: required when source.type is tidb (the changefeed's topics)"))
		} else {
			add(c.Source.TiCDC.Validate())
			add(tidb.CheckChangefeed(c.Source.TiCDC))
		}
	case "":
		add(errors.New("source.type: required (mysql, ticdc, kafka or tidb)"))
	default:
		add(fmt.Errorf("source.type: %q: want mysql, ticdc, kafka or tidb", c.Source.Type))
	}
	if n := btoi(c.Source.MySQL != nil) + btoi(c.Source.TiCDC != nil && c.Source.Type != "tidb") + btoi(c.Source.Kafka != nil) + btoi(c.Source.TiDB != nil); n > 1 {
		add(errors.New("source: set only one of mysql, ticdc, kafka and tidb (one capture per deployment; tidb reads its changefeed with source.ticdc)"))
	}
	mappingErr := c.Mapping.Validate()
	add(prefixed("mapping", mappingErr))
	if mappingErr == nil && slices.ContainsFunc(c.Sinks, func(s Sink) bool { return s.Type == "maxcompute" }) {
		// MaxCompute sinks map with MaxCompute's type limits (e.g. DECIMAL scale <= 18).
		mc := c.Mapping
		mc.System = schema.SystemMaxCompute
		if err := mc.Validate(); err != nil {
			add(prefixed("mapping", err))
		}
	}
	if len(c.Sinks) == 0 {
		add(errors.New("sinks: at least one sink is required"))
	}
	names := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		p := fmt.Sprintf("sinks[%d]", i)
		if names[s.Name] {
			add(fmt.Errorf("%s.name: %q used twice", p, s.Name))
		}
		names[s.Name] = true
		if !validName.MatchString(s.Name) {
			add(fmt.Errorf("%s.name: %q: use letters, digits, '-' and '_'", p, s.Name))
		}
		switch s.Type {
		case "local":
			if s.Local == nil {
				add(fmt.Errorf("%s.local: required when type is local", p))
			} else {
				add(s.Local.Validate(p + ".local"))
			}
		case "s3":
			if s.S3 == nil {
				add(fmt.Errorf("%s.s3: required when type is s3", p))
			} else {
				add(s.S3.Validate(p + ".s3"))
			}
		case "maxcompute":
			if s.MaxCompute == nil {
				add(fmt.Errorf("%s.maxcompute: required when type is maxcompute", p))
			} else {
				add(s.MaxCompute.Validate(p + ".maxcompute"))
			}
		case "kafka":
			if s.Kafka == nil {
				add(fmt.Errorf("%s.kafka: required when type is kafka", p))
			} else {
				add(s.Kafka.Validate(p + ".kafka"))
			}
			if s.Batch.InFlight > 1 {
				add(fmt.Errorf("%s.batch.in_flight: %d: a kafka sink writes one batch at a time (per-partition order)", p, s.Batch.InFlight))
			}
		case "mysql":
			if s.MySQL == nil {
				add(fmt.Errorf("%s.mysql: required when type is mysql", p))
			} else {
				add(s.MySQL.Validate(p + ".mysql"))
			}
			if s.Batch.InFlight > 1 {
				// The checkpoint row orders batches: one at a time.
				add(fmt.Errorf("%s.batch.in_flight: %d: a mysql sink applies batches in order; want 1", p, s.Batch.InFlight))
			}
		case "":
			add(fmt.Errorf("%s.type: required (local, s3, maxcompute, kafka or mysql)", p))
		default:
			add(fmt.Errorf("%s.type: %q: want local, s3, maxcompute, kafka or mysql", p, s.Type))
		}
		add(s.Batch.Validate(p + ".batch"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Errorf("log.level: %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add(fmt.Errorf("log.format: %q: want text or json", c.Log.Format))
	}
	add(c.Admin.Validate("admin"))
	add(c.Telemetry.Validate("telemetry"))
	add(c.Verify.Validate("verify"))
	if c.Verify.Enabled() && c.Source.Type != "mysql" {
		add(fmt.Errorf("verify.interval: scheduled verification reads a MySQL-protocol source (source.type mysql); use odsync verify --source-addr for others"))
	}
	if c.State.Retention != nil && *c.State.Retention < 0 {
		add(fmt.Errorf("state.retention: %s: must not be negative", *c.State.Retention))
	}
	if c.State.MemTableSize < 4<<20 || c.State.MemTableSize > 1<<30 {
		add(fmt.Errorf("state.memtable_size: %d: want 4MiB..1GiB", c.State.MemTableSize))
	}
	if c.State.MaxLogBytes < 1<<20 {
		add(fmt.Errorf("state.max_log_bytes: %d: at least 1MiB", c.State.MaxLogBytes))
	}
	return errors.Join(errs...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func prefixed(p string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range unjoin(err) {
		msg := e.Error()
		if !strings.HasPrefix(msg, p+".") && !strings.HasPrefix(msg, p+":") {
			msg = p + ": " + msg
		}
		out = append(out, errors.New(msg))
	}
	return errors.Join(out...)
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

// Load reads, expands, decodes, defaults and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return c, nil
}

// Parse decodes a config from YAML text; lookup resolves ${VAR} references.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	var errs []error
	expandNode(&root, lookup, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, errEOF(err)) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, err
		}
		// Report the typos and type errors with their key paths, and the
		// value errors of everything that did decode, in one pass.
		paths := keyPaths(&root)
		for _, e := range te.Errors {
			errs = append(errs, errors.New(explainYAMLError(e, paths)))
		}
		var lenient Config
		_ = yaml.Unmarshal(expanded, &lenient)
		lenient.EnsureDefaults()
		if verr := lenient.Validate(); verr != nil {
			errs = append(errs, unjoin(verr)...)
		}
		return nil, errors.Join(errs...)
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// yamlKey is one mapping key of the YAML text: where it is, its path
// ("sinks[0].local.format") and its value's text when a scalar.
type yamlKey struct {
	line       int
	key, value string
	path       string
}

// keyPaths lists every mapping key of the YAML text.
func keyPaths(root *yaml.Node) []yamlKey {
	var out []yamlKey
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				e := yamlKey{line: k.Line, key: k.Value, path: p}
				if v.Kind == yaml.ScalarNode {
					e.value = v.Value
				}
				out = append(out, e)
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(root, "")
	return out
}

// findKey returns the path of the key on line whose name (or, with
// byValue, whose scalar value) is text; "" when none.
func findKey(keys []yamlKey, line int, text string, byValue bool) string {
	for _, k := range keys {
		if k.line == line && (!byValue && k.key == text || byValue && k.value == text) {
			return k.path
		}
	}
	return ""
}

var (
	yamlLineRe    = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknownRe = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	yamlTypeRe    = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// explainYAMLError rewrites a yaml.v3 decoding error ("line 3: field
// retenton not found in type config.State") with the key path and words a
// user knows ("line 3: state.retenton: unknown key").
func explainYAMLError(msg string, keys []yamlKey) string {
	m := yamlLineRe.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, rest := m[1], m[2]
	n, _ := strconv.Atoi(line)
	if u := yamlUnknownRe.FindStringSubmatch(rest); u != nil {
		path := findKey(keys, n, u[1], false)
		if path == "" {
			path = u[1]
		}
		return fmt.Sprintf("line %s: %s: unknown key (check its spelling and indentation; docs/configuration.md lists every key)", line, path)
	}
	if t := yamlTypeRe.FindStringSubmatch(rest); t != nil {
		path := findKey(keys, n, t[2], true)
		want := t[3]
		switch {
		case strings.HasPrefix(want, "int"), strings.HasPrefix(want, "uint"):
			want = "a whole number"
		case want == "bool":
			want = "true or false"
		case want == "time.Duration":
			want = "a duration such as 30s or 5m"
		case strings.HasPrefix(want, "[]"):
			want = "a list"
		case strings.HasPrefix(want, "map["), strings.Contains(want, "."):
			want = "a mapping of keys"
		}
		if path == "" {
			return fmt.Sprintf("line %s: %q is not %s", line, t[2], want)
		}
		return fmt.Sprintf("line %s: %s: %q is not %s", line, path, t[2], want)
	}
	return msg
}

func errEOF(err error) error {
	if err != nil && err.Error() == "EOF" {
		return err
	}
	return errors.New("not eof")
}

var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandNode replaces ${VAR} and ${VAR:-default} in scalar values (not keys).
// Expansion happens after YAML parsing, so a secret with YAML syntax in it
// cannot change the document's structure.
func expandNode(n *yaml.Node, lookup func(string) (string, bool), errs *[]error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = envRe.ReplaceAllStringFunc(n.Value, func(m string) string {
			sm := envRe.FindStringSubmatch(m)
			if v, ok := lookup(sm[1]); ok {
				return v
			}
			if sm[2] != "" {
				return sm[3]
			}
			*errs = append(*errs, fmt.Errorf("line %d: environment variable %s is not set", n.Line, sm[1]))
			return ""
		})
		// Let the value resolve again (a port from ${PORT} is an int); the
		// encoder quotes it when plain style would change its meaning.
		n.Tag = ""
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			expandNode(n.Content[i], lookup, errs)
		}
	default:
		for _, c := range n.Content {
			expandNode(c, lookup, errs)
		}
	}
}
