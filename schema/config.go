package schema

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is the `mapping:` section of odsync's configuration: which source
// tables are captured, what their ODS tables are called, how they are
// partitioned, how their types map and how schema changes are applied.
type Config struct {
	// Include lists regular expressions over "db.table" (full match, case
	// sensitive as the source spells the names). Empty means every table
	// except those of the system schemas (mysql, sys, information_schema,
	// performance_schema).
	Include []string `yaml:"include"`
	// Exclude lists regular expressions over "db.table"; a match is never captured.
	Exclude []string `yaml:"exclude"`
	// Target is the default target-name template: {db} and {table} are the
	// source names; the result is lower-cased. Default "ods_{db}_{table}".
	Target string `yaml:"target"`
	// Routes map sources to target names. The first route whose Source
	// matches wins; tables no route matches use Target.
	Routes []Route `yaml:"routes"`
	// Tables are per-table overrides. Every rule whose Source matches applies,
	// in order; a later rule's non-empty setting overrides an earlier one's.
	Tables []TableRule `yaml:"tables"`
	// Partition is the default partitioning.
	Partition PartitionConfig `yaml:"partition"`
	// Evolution is the default schema-evolution mode: lenient (default),
	// evolve, ignore or exception.
	Evolution Mode `yaml:"evolution"`
	// Types overrides the default mapping of a source type family for every
	// table. Keys are family names as event.Type spells them ("datetime",
	// "json", "set"...), optionally followed by " unsigned" ("bigint
	// unsigned"), or "tinyint(1)" / "bit(1)"; values are target type specs
	// (see docs/mapping.md: "string", "decimal(38,0)", "timestamp_ntz", "json"...).
	Types map[string]string `yaml:"types"`
	// ZeroDates says what happens to MySQL zero dates (0000-00-00, or a
	// zero month or day) in DATE, DATETIME and TIMESTAMP columns: raw
	// (default; the typed column is NULL and the text is kept in _raw),
	// null (lossy: the value becomes NULL), error (the sink stops), or
	// string (such columns are mapped to STRING and keep the text).
	ZeroDates string `yaml:"zero_dates"`
	// OnValueError says what happens to a source value that cannot be
	// converted to its column's target type (out of the target's range, a
	// fraction in an integer column...): raw (default; the typed column is
	// NULL and the value's text is kept in the row's _raw column, counted
	// and logged) or stop (the sink stops with an error naming table,
	// column, position and cause).
	OnValueError string `yaml:"on_value_error"`
	// SourceTimeZone is the IANA zone of the source's DATETIME values. It is
	// used only when a DATETIME column is mapped to an instant type
	// (MaxCompute DATETIME or TIMESTAMP). Default "UTC".
	SourceTimeZone string `yaml:"source_time_zone"`

	// System is the target system whose limits the mapping respects
	// (SystemFiles, the default, or SystemMaxCompute). odsync sets it for
	// each sink's mapper; it is not part of the YAML.
	System System `yaml:"-"`
	// Logger receives one WARN per target table and column the first time
	// one of its values is kept in _raw (nil: not logged). Not YAML.
	Logger *slog.Logger `yaml:"-"`
}

// System is a target system with its own type limits.
type System string

// Target systems.
const (
	// SystemFiles is the file formats (Parquet, CSV, JSONL) of the local
	// and S3 sinks, read by Athena/Glue/Hive/Spark.
	SystemFiles System = "files"
	// SystemMaxCompute is MaxCompute 2.0: BIGINT excludes -2^63, DECIMAL
	// scale is at most 18.
	SystemMaxCompute System = "maxcompute"
)

// MaxComputeMaxScale is the largest DECIMAL scale MaxCompute accepts.
const MaxComputeMaxScale = 18

// On-value-error policies (Config.OnValueError).
const (
	OnValueErrorRaw  = "raw"
	OnValueErrorStop = "stop"
)

// Route maps the tables its Source matches to one target-name template.
type Route struct {
	// Source is a regular expression over "db.table" (full match). Its
	// capture groups can be used in Target as $1, ${1} or ${name}.
	Source string `yaml:"source"`
	// Target is the target-name template: {db}, {table}, $1, ${1}, ${name}.
	Target string `yaml:"target"`
	// Merge allows several source tables to share the target (sharded
	// tables): the target then carries _src_db and _src_table columns, which
	// also join the key. Without Merge two sources mapping to one target is
	// an error.
	Merge bool `yaml:"merge"`
}

// TableRule overrides the mapping of the tables its Source matches.
type TableRule struct {
	// Source is a regular expression over "db.table" (full match).
	Source string `yaml:"source"`
	// Target overrides the target-name template for these tables (same
	// syntax as Route.Target, capture groups refer to this Source).
	Target string `yaml:"target"`
	// Key names the key columns for tables without a primary key (or
	// replaces the source key).
	Key []string `yaml:"key"`
	// ExcludeColumns names source columns that are not written (case-insensitive).
	ExcludeColumns []string `yaml:"exclude_columns"`
	// Columns overrides single columns by source column name (case-insensitive).
	Columns map[string]ColumnRule `yaml:"columns"`
	// Partition overrides the partition settings; empty fields inherit.
	Partition PartitionConfig `yaml:"partition"`
	// Evolution overrides the schema-evolution mode.
	Evolution Mode `yaml:"evolution"`
}

// ColumnRule overrides the mapping of one column.
type ColumnRule struct {
	// Type is a target type spec, e.g. "string" or "decimal(38,4)".
	Type string `yaml:"type"`
	// Name renames the target column.
	Name string `yaml:"name"`
}

// PartitionConfig says how ODS rows are partitioned by source commit time.
type PartitionConfig struct {
	// Column is the partition column name. Default "ds".
	Column string `yaml:"column"`
	// Granularity is "day" (default; yyyymmdd) or "hour" (yyyymmddhh).
	Granularity string `yaml:"granularity"`
	// TimeZone is the IANA zone the commit time is rendered in. Default "UTC".
	TimeZone string `yaml:"time_zone"`
}

// Mode is a schema-evolution mode, named as in Flink CDC.
type Mode string

// Schema-evolution modes.
const (
	// ModeLenient (default) never drops data: new columns are added,
	// compatible type changes widen the column, an incompatible change gets
	// a new column, dropped columns and tables are kept.
	ModeLenient Mode = "lenient"
	// ModeEvolve applies every change: added and dropped columns, type
	// changes; a change the target cannot alter in place starts a new
	// table version.
	ModeEvolve Mode = "evolve"
	// ModeIgnore keeps the target as it is: columns that are new in the
	// source are not written, dropped ones are written as NULL.
	ModeIgnore Mode = "ignore"
	// ModeException refuses any change that alters the target.
	ModeException Mode = "exception"
)

// Zero-date policies.
const (
	ZeroDatesRaw    = "raw"
	ZeroDatesNull   = "null"
	ZeroDatesError  = "error"
	ZeroDatesString = "string"
)

// Partition granularities.
const (
	GranularityDay  = "day"
	GranularityHour = "hour"
)

// Defaults.
const (
	DefaultTarget          = "ods_{db}_{table}"
	DefaultPartitionColumn = "ds"
)

// systemSchemas are never captured unless Include names them.
var systemSchemas = []string{"mysql", "sys", "information_schema", "performance_schema"}

// EnsureDefaults fills in the defaults of unset fields.
func (c *Config) EnsureDefaults() {
	if c.Target == "" {
		c.Target = DefaultTarget
	}
	if c.Partition.Column == "" {
		c.Partition.Column = DefaultPartitionColumn
	}
	if c.Partition.Granularity == "" {
		c.Partition.Granularity = GranularityDay
	}
	if c.Partition.TimeZone == "" {
		c.Partition.TimeZone = "UTC"
	}
	if c.Evolution == "" {
		c.Evolution = ModeLenient
	}
	if c.ZeroDates == "" {
		c.ZeroDates = ZeroDatesRaw
	}
	if c.OnValueError == "" {
		c.OnValueError = OnValueErrorRaw
	}
	if c.System == "" {
		c.System = SystemFiles
	}
	if c.SourceTimeZone == "" {
		c.SourceTimeZone = "UTC"
	}
}

// Validate reports every problem of the configuration at once. Call
// EnsureDefaults first; unset fields that have defaults are accepted.
func (c *Config) Validate() error {
	_, err := compile(c)
	return err
}

// compiled is a validated, ready-to-use Config.
type compiled struct {
	cfg        Config
	include    []*regexp.Regexp
	exclude    []*regexp.Regexp
	target     template
	routes     []compiledRoute
	tables     []compiledRule
	partition  partitionSpec
	evolution  Mode
	zeroDates  string
	sourceZone *time.Location
	types      map[string]typeSpec
}

type compiledRoute struct {
	src    *regexp.Regexp
	target template
	merge  bool
	index  int
}

type compiledRule struct {
	src       *regexp.Regexp
	rule      TableRule
	target    *template
	partition partitionSpec // fields zero when not overridden
	columns   map[string]columnRule
	index     int
}

type columnRule struct {
	name string
	typ  *typeSpec
}

type partitionSpec struct {
	column      string
	granularity string
	zone        *time.Location
	zoneName    string
}

// compile validates c (with defaults applied to a copy) and prepares it.
func compile(in *Config) (*compiled, error) {
	c := *in
	c.EnsureDefaults()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("mapping: "+format, args...))
	}
	out := &compiled{cfg: c, types: map[string]typeSpec{}}

	re := func(what, s string) *regexp.Regexp {
		if s == "" {
			add("%s: empty regular expression", what)
			return nil
		}
		if _, err := regexp.Compile(s); err != nil {
			add("%s: %v", what, err)
			return nil
		}
		r, err := regexp.Compile(`^(?:` + s + `)$`)
		if err != nil {
			add("%s: %q: %v", what, s, err)
			return nil
		}
		return r
	}
	for i, s := range c.Include {
		if r := re(fmt.Sprintf("include[%d]", i), s); r != nil {
			out.include = append(out.include, r)
		}
	}
	for i, s := range c.Exclude {
		if r := re(fmt.Sprintf("exclude[%d]", i), s); r != nil {
			out.exclude = append(out.exclude, r)
		}
	}
	if t, err := parseTemplate(c.Target, nil); err != nil {
		add("target: %v", err)
	} else {
		out.target = t
	}

	// Literal targets (no placeholders) seen so far, for collisions that
	// can be detected without knowing the source tables.
	literal := map[string]string{}
	noteLiteral := func(what string, t template, merge bool, src string) {
		name, ok := t.literal()
		if !ok {
			return
		}
		if prev, dup := literal[name]; dup && !merge {
			add("%s: target %q is also the target of %s; set merge: true on a route to merge tables into one target", what, name, prev)
			return
		}
		literal[name] = what
		if !merge && !isLiteralRegexp(src) {
			add("%s: target %q has no placeholder but source %q can match several tables; use {db}/{table}/capture groups or set merge: true", what, name, src)
		}
	}

	for i, r := range c.Routes {
		what := fmt.Sprintf("routes[%d]", i)
		src := re(what+".source", r.Source)
		if r.Target == "" {
			add("%s: target is empty", what)
			continue
		}
		t, err := parseTemplate(r.Target, src)
		if err != nil {
			add("%s.target: %v", what, err)
			continue
		}
		if src == nil {
			continue
		}
		out.routes = append(out.routes, compiledRoute{src: src, target: t, merge: r.Merge, index: i})
		noteLiteral(what, t, r.Merge, r.Source)
	}

	var perrs []error
	out.partition, perrs = compilePartition(c.Partition, false)
	for _, err := range perrs {
		add("partition: %v", err)
	}
	if !c.Evolution.valid() {
		add("evolution: unknown mode %q (want lenient, evolve, ignore or exception)", c.Evolution)
	}
	out.evolution = c.Evolution
	switch c.ZeroDates {
	case ZeroDatesRaw, ZeroDatesNull, ZeroDatesError, ZeroDatesString:
	default:
		add("zero_dates: unknown policy %q (want raw, null, error or string)", c.ZeroDates)
	}
	switch c.OnValueError {
	case OnValueErrorRaw, OnValueErrorStop:
	default:
		add("on_value_error: unknown policy %q (want raw or stop)", c.OnValueError)
	}
	switch c.System {
	case SystemFiles, SystemMaxCompute:
	default:
		errs = append(errs, fmt.Errorf("schema: unknown target system %q (want %s or %s)", c.System, SystemFiles, SystemMaxCompute))
	}
	out.zeroDates = c.ZeroDates
	if loc, err := time.LoadLocation(c.SourceTimeZone); err != nil {
		add("source_time_zone: %v", err)
	} else {
		out.sourceZone = loc
	}
	for _, k := range slices.Sorted(maps.Keys(c.Types)) {
		v := c.Types[k]
		if !validFamilyKey(k) {
			add("types: unknown source type %q (want a family name such as datetime, bigint unsigned, tinyint(1))", k)
			continue
		}
		spec, err := parseTypeSpec(v)
		if err != nil {
			add("types[%s]: %v", k, err)
			continue
		}
		if err := c.System.check(spec); err != nil {
			add("types[%s]: %v", k, err)
			continue
		}
		out.types[strings.ToLower(k)] = spec
	}

	for i, r := range c.Tables {
		what := fmt.Sprintf("tables[%d]", i)
		src := re(what+".source", r.Source)
		cr := compiledRule{src: src, rule: r, index: i, columns: map[string]columnRule{}}
		if r.Target != "" {
			t, err := parseTemplate(r.Target, src)
			if err != nil {
				add("%s.target: %v", what, err)
			} else {
				cr.target = &t
				if src != nil {
					noteLiteral(what, t, false, r.Source)
				}
			}
		}
		cr.partition, perrs = compilePartition(r.Partition, true)
		for _, err := range perrs {
			add("%s.partition: %v", what, err)
		}
		if r.Evolution != "" && !r.Evolution.valid() {
			add("%s.evolution: unknown mode %q (want lenient, evolve, ignore or exception)", what, r.Evolution)
		}
		for j, k := range r.Key {
			if k == "" {
				add("%s.key[%d]: empty column name", what, j)
			}
		}
		for j, k := range r.ExcludeColumns {
			if k == "" {
				add("%s.exclude_columns[%d]: empty column name", what, j)
			}
			for _, key := range r.Key {
				if strings.EqualFold(key, k) {
					add("%s: column %q is both a key column and excluded", what, k)
				}
			}
		}
		for _, col := range slices.Sorted(maps.Keys(r.Columns)) {
			rule := r.Columns[col]
			var c columnRule
			if rule.Name != "" {
				n := strings.ToLower(rule.Name)
				if err := checkColumnName(n); err != nil {
					add("%s.columns[%s].name: %v", what, col, err)
				} else if isMetaName(n) {
					add("%s.columns[%s].name: %q is a metadata column name", what, col, n)
				}
				c.name = n
			}
			if rule.Type != "" {
				spec, err := parseTypeSpec(rule.Type)
				if err == nil {
					err = out.cfg.System.check(spec)
				}
				if err != nil {
					add("%s.columns[%s].type: %v", what, col, err)
				} else {
					c.typ = &spec
				}
			}
			cr.columns[strings.ToLower(col)] = c
		}
		if src != nil {
			out.tables = append(out.tables, cr)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func compilePartition(p PartitionConfig, override bool) (partitionSpec, []error) {
	var errs []error
	s := partitionSpec{column: strings.ToLower(p.Column), granularity: p.Granularity, zoneName: p.TimeZone}
	if s.column != "" {
		if err := checkColumnName(s.column); err != nil {
			errs = append(errs, fmt.Errorf("column: %w", err))
		} else if isMetaName(s.column) {
			errs = append(errs, fmt.Errorf("column: %q is a metadata column name", s.column))
		}
	} else if !override {
		errs = append(errs, errors.New("column is empty"))
	}
	switch p.Granularity {
	case GranularityDay, GranularityHour:
	case "":
		if !override {
			errs = append(errs, errors.New("granularity is empty"))
		}
	default:
		errs = append(errs, fmt.Errorf("granularity: unknown %q (want day or hour)", p.Granularity))
	}
	if p.TimeZone != "" {
		loc, err := time.LoadLocation(p.TimeZone)
		if err != nil {
			errs = append(errs, fmt.Errorf("time_zone: %w", err))
		}
		s.zone = loc
	} else if !override {
		errs = append(errs, errors.New("time_zone is empty"))
	}
	return s, errs
}

// check reports whether the target system can hold type spec s.
func (s System) check(spec typeSpec) error {
	if s == SystemMaxCompute && spec.kind == KindDecimal && spec.scale > MaxComputeMaxScale {
		return fmt.Errorf("MaxCompute DECIMAL scale is at most %d, %s asks for %d; map the column to string (keeps every digit) or a decimal with a smaller scale (rounds)",
			MaxComputeMaxScale, spec, spec.scale)
	}
	return nil
}

func (m Mode) valid() bool {
	switch m {
	case ModeLenient, ModeEvolve, ModeIgnore, ModeException:
		return true
	}
	return false
}

// isLiteralRegexp reports whether a source regexp can match one string only.
func isLiteralRegexp(s string) bool {
	r, err := regexp.Compile(s)
	if err != nil {
		return false
	}
	_, complete := r.LiteralPrefix()
	return complete
}
