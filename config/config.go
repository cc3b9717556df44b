// Package config reads odsync's YAML configuration file: strict decoding
// (unknown keys are errors), ${ENV} expansion inside values, defaults, and
// validation that reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
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

	// kinds are the source and sink kinds the file may use.
	kinds *registry.Registry
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
	// in memory. Default 32MiB (offsets.DefaultMemTableSize). Smaller saves memory; with retention 0,
	// entries that sinks pass while still in the memtable never reach disk
	// files, so a smaller memtable writes (and compacts) more of them.
	MemTableSize ByteSize `yaml:"memtable_size"`
}

// Source selects and configures the capture.
type Source struct {
	// Type is a registered source kind: "mysql" (MySQL, MariaDB, TiDB),
	// "ticdc" (a TiCDC changefeed in Kafka) or "kafka" (Debezium, Canal or
	// Maxwell JSON in Kafka). Default: the kind whose settings are given.
	Type string `yaml:"type"`
	// Settings are the kind's settings, decoded from the key named after
	// it (source.mysql: a *mysql.Config); nil when absent.
	Settings any `yaml:"-"`
	// Kind is the registered kind of Type; nil when unknown.
	Kind *registry.Source `yaml:"-"`

	sections []section
	errs     []string // decoding errors, reported by Parse
}

// Sink is one named destination.
type Sink struct {
	Name string `yaml:"name"`
	// Type is a registered sink kind: "local", "s3" or "maxcompute".
	// Default: the kind whose settings are given.
	Type string `yaml:"type"`
	// Settings are the kind's settings, decoded from the key named after
	// it (sinks[].s3: a *s3.Config); nil when absent.
	Settings any `yaml:"-"`
	// Kind is the registered kind of Type; nil when unknown.
	Kind  *registry.Sink       `yaml:"-"`
	Batch pipeline.BatchPolicy `yaml:"batch"`

	sections []section
	errs     []string // decoding errors, reported by Parse
}

// section is a key of a source or sink holding a kind's settings, as
// written; Parse decodes it with the registry.
type section struct{ key, value *yaml.Node }

// UnmarshalYAML keeps the kind sections for Parse to decode. Errors are
// kept for Parse too: a list item whose UnmarshalYAML fails is dropped by
// the decoder, which would shift the indexes of the later ones.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	for _, p := range pairs(n, "config.Source", &s.errs) {
		switch p.key.Value {
		case "type":
			decodeStrict(p.value, &s.Type, &s.errs)
		default:
			s.sections = append(s.sections, p)
		}
	}
	return nil
}

// UnmarshalYAML decodes name, type and batch, and keeps the kind sections
// for Parse to decode.
func (s *Sink) UnmarshalYAML(n *yaml.Node) error {
	for _, p := range pairs(n, "config.Sink", &s.errs) {
		switch p.key.Value {
		case "name":
			decodeStrict(p.value, &s.Name, &s.errs)
		case "type":
			decodeStrict(p.value, &s.Type, &s.errs)
		case "batch":
			decodeStrict(p.value, &s.Batch, &s.errs)
		default:
			s.sections = append(s.sections, p)
		}
	}
	return nil
}

// resolve decodes the kind sections of the source and the sinks with the
// registry, infers unset types, and returns the decoding errors (unknown
// keys and kinds, wrong value types) as yaml.v3 words them.
func (c *Config) resolve(reg *registry.Registry) []string {
	c.kinds = reg
	src := &c.Source
	errs := src.errs
	var given []*registry.Source
	for _, p := range src.sections {
		k := reg.Source(p.key.Value)
		if k == nil {
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type config.Source", p.key.Line, p.key.Value))
			continue
		}
		given = append(given, k)
	}
	// The kind: source.type, else the one given whose keys cover every
	// section given (tidb with ticdc), else the first one given (more than
	// one is reported by Validate).
	if src.Type != "" {
		src.Kind = reg.Source(src.Type)
	} else if len(given) > 0 {
		src.Kind = given[0]
		for _, k := range given {
			if covers(k, given) {
				src.Kind = k
				break
			}
		}
		src.Type = src.Kind.Name
	}
	composite := src.Kind != nil && len(src.Kind.Sections) > 0
	var own []*yaml.Node // the sections a composite kind decodes, as a mapping
	for _, p := range src.sections {
		k := reg.Source(p.key.Value)
		if k == nil {
			continue
		}
		if composite && src.Kind.Reads(k.Name) {
			own = append(own, p.key, p.value)
			continue
		}
		settings := k.NewConfig()
		decodeStrict(p.value, settings, &errs)
		if k == src.Kind {
			src.Settings = settings
		}
	}
	if len(own) > 0 {
		settings := src.Kind.NewConfig()
		decodeStrict(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: own[0].Line, Column: own[0].Column, Content: own}, settings, &errs)
		src.Settings = settings
	}
	if c.sourceExtra() {
		src.Settings = nil // reported by Validate
	}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		errs = append(errs, s.errs...)
		for _, p := range s.sections {
			k := reg.Sink(p.key.Value)
			if k == nil {
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type config.Sink", p.key.Line, p.key.Value))
				continue
			}
			settings := k.NewConfig()
			decodeStrict(p.value, settings, &errs)
			if s.Type == k.Name || s.Type == "" && s.Kind == nil {
				s.Settings, s.Kind = settings, k
			}
		}
		if s.Type == "" && s.Kind != nil {
			s.Type = s.Kind.Name
		}
		if s.Kind == nil {
			s.Kind = reg.Sink(s.Type)
		}
	}
	return errs
}

// covers reports whether the kind k reads every section given.
func covers(k *registry.Source, given []*registry.Source) bool {
	for _, g := range given {
		if !k.Reads(g.Name) {
			return false
		}
	}
	return true
}

// sourceExtra reports whether the source has kind sections its kind does
// not read (more than one capture).
func (c *Config) sourceExtra() bool {
	k := c.Source.Kind
	n := 0
	for _, p := range c.Source.sections {
		if c.kinds.Source(p.key.Value) == nil {
			continue
		}
		n++
		if k != nil && !k.Reads(p.key.Value) {
			return true
		}
	}
	return k == nil && n > 1
}

// sourceSections counts the kind sections of the source.
func (c *Config) sourceSections() int {
	n := 0
	for _, p := range c.Source.sections {
		if c.kinds.Source(p.key.Value) != nil {
			n++
		}
	}
	return n
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
		c.State.MemTableSize = 32 << 20 // offsets.DefaultMemTableSize
	}
	if c.State.MaxLogBytes == 0 {
		c.State.MaxLogBytes = 4 << 30
	}
	if c.State.Retention == nil {
		d := 24 * time.Hour
		c.State.Retention = &d
	}
	if src := &c.Source; src.Kind != nil && src.Settings != nil {
		src.Kind.Defaults(src.Settings, registry.Env{StateDir: c.State.Dir})
	}
	c.Mapping.EnsureDefaults()
	for i := range c.Sinks {
		s := &c.Sinks[i]
		if s.Name == "" {
			s.Name = s.Type
		}
		if s.Kind != nil && s.Settings != nil {
			s.Kind.Defaults(s.Settings, registry.Env{StateDir: c.State.Dir, Name: s.Name})
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
	if c.kinds == nil {
		return errors.New("config: no registry of source and sink kinds (use Parse or Load)")
	}
	reg := c.kinds
	switch src := &c.Source; {
	case src.Type == "" && c.sourceSections() == 0:
		add(fmt.Errorf("source.type: required (%s)", reg.SourceNames()))
	case src.Kind == nil:
		add(fmt.Errorf("source.type: %q: want %s", src.Type, reg.SourceNames()))
	case c.sourceExtra():
		var names, notes []string
		for _, k := range reg.Sources() {
			names = append(names, k.Name)
			for _, o := range k.Sections {
				notes = append(notes, fmt.Sprintf("; %s reads source.%s too", k.Name, o))
			}
		}
		add(fmt.Errorf("source: set only one of %s (one capture per deployment%s)", andList(names), strings.Join(notes, "")))
	case src.Settings == nil:
		add(fmt.Errorf("source.%s: required when source.type is %s", src.Type, src.Type))
	default:
		add(src.Kind.Validate(src.Settings, "source."+src.Type))
	}
	mappingErr := c.Mapping.Validate()
	add(prefixed("mapping", mappingErr))
	if mappingErr == nil {
		// Sinks of other target systems map with those systems' type
		// limits (e.g. MaxCompute: DECIMAL scale <= 18).
		checked := map[schema.System]bool{c.Mapping.System: true, schema.SystemFiles: c.Mapping.System == ""}
		for _, s := range c.Sinks {
			if s.Kind == nil || checked[s.Kind.System] {
				continue
			}
			checked[s.Kind.System] = true
			m := c.Mapping
			m.System = s.Kind.System
			if err := m.Validate(); err != nil {
				add(prefixed("mapping", err))
			}
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
		switch {
		case s.Type == "":
			add(fmt.Errorf("%s.type: required (%s)", p, reg.SinkNames()))
		case s.Kind == nil:
			add(fmt.Errorf("%s.type: %q: want %s", p, s.Type, reg.SinkNames()))
		case s.Settings == nil:
			add(fmt.Errorf("%s.%s: required when type is %s", p, s.Type, s.Type))
		default:
			add(s.Kind.Validate(s.Settings, p+"."+s.Type))
			add(s.Kind.ValidateBatch(s.Settings, s.Batch, p))
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
	if c.Verify.Enabled() && c.Source.Type != "mysql" { // verify reads a MySQL-protocol source
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

// andList joins names as "a, b and c".
func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
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

// Load reads, expands, decodes, defaults and validates a config file; reg
// lists the source and sink kinds it may use.
func Load(path string, reg *registry.Registry) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, os.LookupEnv, reg)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return c, nil
}

// Parse decodes a config from YAML text; lookup resolves ${VAR} references;
// reg lists the source and sink kinds it may use.
func Parse(data []byte, lookup func(string) (string, bool), reg *registry.Registry) (*Config, error) {
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
	var decodeErrs []string
	if err := dec.Decode(&c); err != nil && !errors.Is(err, errEOF(err)) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, err
		}
		decodeErrs = te.Errors
	}
	decodeErrs = append(decodeErrs, c.resolve(reg)...)
	if len(decodeErrs) > 0 {
		// Report the typos and type errors with their key paths, and the
		// value errors of everything that did decode, in one pass.
		paths := keyPaths(&root)
		for _, e := range decodeErrs {
			errs = append(errs, errors.New(explainYAMLError(e, paths)))
		}
		var lenient Config
		_ = yaml.Unmarshal(expanded, &lenient)
		lenient.resolve(reg)
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

// pairs returns the key/value pairs of a mapping node; anything else is a
// type error of the type named want.
func pairs(n *yaml.Node, want string, errs *[]string) []section {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		*errs = append(*errs, fmt.Sprintf("line %d: cannot unmarshal %s `%s` into %s", n.Line, n.ShortTag(), n.Value, want))
		return nil
	}
	var out []section
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, section{n.Content[i], n.Content[i+1]})
	}
	return out
}

// decodeStrict decodes n into v (a pointer) and reports unknown keys, as a
// decoder with KnownFields does (Node.Decode does not).
func decodeStrict(n *yaml.Node, v any, errs *[]string) {
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			*errs = append(*errs, te.Errors...)
		} else if msg := err.Error(); strings.HasPrefix(msg, "line ") {
			*errs = append(*errs, msg)
		} else {
			*errs = append(*errs, fmt.Sprintf("line %d: %s", n.Line, msg))
		}
	}
	unknownFields(n, reflect.TypeOf(v), errs)
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
)

// unknownFields reports the keys of n that the type t has no field for,
// worded as yaml.v3 does ("line 3: field x not found in type pkg.T").
func unknownFields(n *yaml.Node, t reflect.Type, errs *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(unmarshalerType) || pt.Implements(textUnmarshalerType) {
		return
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields, open := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			switch {
			case ok:
				unknownFields(v, ft, errs)
			case !open && k.Value != "<<":
				*errs = append(*errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t))
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			unknownFields(c, t.Elem(), errs)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			unknownFields(n.Content[i], t.Elem(), errs)
		}
	}
}

// yamlFields maps the YAML keys of a struct type to their field types;
// open is true when an inline map takes any other key.
func yamlFields(t reflect.Type) (fields map[string]reflect.Type, open bool) {
	fields = map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" || strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Map {
				open = true
				continue
			}
			sub, subOpen := yamlFields(ft)
			for k, v := range sub {
				fields[k] = v
			}
			open = open || subOpen
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields, open
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
