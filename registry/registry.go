// Package registry is the one list of source and sink kinds odsync knows.
// Each kind (source "mysql", sink "s3", ...) is described from its own
// package by a value of this package — its configuration type, defaults,
// validation, constructor, check, secrets, verify reader and DDL preview —
// and a Registry is built explicitly from those values (package
// registry/builtin lists odsync's own). Nothing registers itself: there is
// no global state and no init().
//
// The configuration of a kind sits in the YAML under the key named after
// the kind (sinks[].s3, source.mysql); package config decodes it into the
// value NewConfig returns, strictly, and hands it to the kind's functions.
// See docs/extending.md.
package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/readback"
	"github.com/odsync/odsync/telemetry"
)

// Env is what a kind's defaults may depend on besides its own settings.
type Env struct {
	// StateDir is state.dir (already defaulted).
	StateDir string
	// Name is the sink's name (sinks[].name; "" for the source).
	Name string
}

// SinkDeps are the runtime dependencies odsync run hands a sink's
// constructor.
type SinkDeps struct {
	// Mapper maps captured tables to this sink's ODS tables (its own: it
	// remembers this sink's layouts, with the limits of the sink's System).
	Mapper *schema.Mapper
	// Log is the durable log; sinks that keep state beside their cursor
	// (MaxCompute upload sessions) store it there.
	Log *offsets.Log
	// Logger is the sink's logger (with its name).
	Logger *slog.Logger
	// Name is the sink's name (sinks[].name).
	Name string
}

// SourceDeps are the runtime dependencies odsync run hands a source's
// constructor.
type SourceDeps struct {
	// Capture says which tables are captured.
	Capture func(event.TableID) bool
	// Log is the durable log: schema history, snapshot bookkeeping and the
	// stored checkpoint live there.
	Log *offsets.Log
	// Logger is the capture's logger.
	Logger *slog.Logger
	// Progress receives a snapshot progress bar (a terminal) or is nil.
	Progress io.Writer
	// RequestDir is polled for on-demand snapshot requests (odsync
	// snapshot); "" for none.
	RequestDir string
}

// CheckReport is what a passed sink check found: OK is printed after "ok"
// (e.g. "s3://bucket/prefix writable"), Notes below it. Fix, set on a
// failed check, says how to fix it.
type CheckReport struct {
	OK    string
	Notes []string
	Fix   string
}

// PlanOptions are the flags of odsync schema plan a DDL preview may use.
type PlanOptions struct {
	// Database is the Athena/Glue database of CREATE EXTERNAL TABLE.
	Database string
	// Table is the source table the ODS table maps (sinks that create
	// tables of their own from it: mysql).
	Table *event.Table
}

// SourceTelemetry is what a running source reports besides its events.
type SourceTelemetry struct {
	// Name names the lag probe on the status page ("mysql", "kafka").
	Name string
	// Probe measures the lag; nil for none.
	Probe telemetry.SourceProbe
	// Snapshot reports snapshot progress; nil for none.
	Snapshot telemetry.SnapshotProbe
	// Counters reports the capture's own counters; nil for none.
	Counters func() map[string]int64
	// Close releases the probe; nil for nothing.
	Close func() error
}

// Sink describes a sink kind. Build it with NewSink.
type Sink struct {
	// Name is the kind's type (sinks[].type) and the key of its settings.
	Name string
	// System is the target system whose type limits the mapping obeys.
	System schema.System

	newConfig    func() any
	defaults     func(cfg any, env Env)
	validate     func(cfg any, path string) error
	build        func(cfg any, deps SinkDeps) (pipeline.Sink, error)
	check        func(ctx context.Context, cfg any) (CheckReport, error)
	secrets      func(cfg any) []string
	verifyReader func(ctx context.Context, cfg any, name, tmpDir string) (readback.Reader, error)
	plan         func(cfg any, t *schema.Target, o PlanOptions) string
	batch        func(cfg any, b pipeline.BatchPolicy, path string) error
}

// SinkFuncs are the functions of a sink kind whose settings are a C.
// New and Validate are required.
type SinkFuncs[C any] struct {
	// System is the target system of the mapping (default
	// schema.SystemFiles).
	System schema.System
	// Defaults fills unset settings (before Validate).
	Defaults func(c *C, env Env)
	// Validate reports every problem; path is the YAML path of the
	// settings ("sinks[0].s3") for the messages.
	Validate func(c *C, path string) error
	// New constructs the sink. It must not start goroutines or do I/O
	// that outlives it: the pipeline calls Write and Close.
	New func(c *C, deps SinkDeps) (pipeline.Sink, error)
	// Check tests that the target is reachable and writable (odsync
	// check); nil when there is nothing to test.
	Check func(ctx context.Context, c *C) (CheckReport, error)
	// Secrets lists the settings' secrets, for log redaction.
	Secrets func(c *C) []string
	// VerifyReader reads the sink's ODS tables back (odsync verify); nil
	// when the sink cannot be verified. name is the sink's name
	// (sinks[].name), tmpDir is for temporary files.
	VerifyReader func(ctx context.Context, c *C, name, tmpDir string) (readback.Reader, error)
	// Plan renders what the sink would create for the ODS table t (odsync
	// schema plan), printed after "-- sink NAME ": a parenthesized title,
	// then the DDL or a description ("(S3, Athena/Glue):\nCREATE ...").
	// A table the sink cannot render is described in the text. nil: the
	// sink creates no tables (nothing is printed for it).
	Plan func(c *C, t *schema.Target, o PlanOptions) string
	// ValidateBatch reports batch settings the sink cannot honour (a sink
	// that writes in order takes one batch in flight); path is the YAML
	// path of the sink ("sinks[0]"). nil: any valid batch policy.
	ValidateBatch func(c *C, b pipeline.BatchPolicy, path string) error
}

// NewSink describes the sink kind name with settings of type C.
func NewSink[C any](name string, f SinkFuncs[C]) Sink {
	k := Sink{Name: name, System: f.System}
	if k.System == "" {
		k.System = schema.SystemFiles
	}
	k.newConfig = func() any { return new(C) }
	k.defaults = func(cfg any, env Env) {
		if f.Defaults != nil {
			f.Defaults(cfg.(*C), env)
		}
	}
	k.validate = func(cfg any, path string) error { return f.Validate(cfg.(*C), path) }
	k.build = func(cfg any, deps SinkDeps) (pipeline.Sink, error) { return f.New(cfg.(*C), deps) }
	if f.Check != nil {
		k.check = func(ctx context.Context, cfg any) (CheckReport, error) { return f.Check(ctx, cfg.(*C)) }
	}
	k.secrets = func(cfg any) []string {
		if f.Secrets == nil {
			return nil
		}
		return f.Secrets(cfg.(*C))
	}
	if f.VerifyReader != nil {
		k.verifyReader = func(ctx context.Context, cfg any, name, tmp string) (readback.Reader, error) {
			return f.VerifyReader(ctx, cfg.(*C), name, tmp)
		}
	}
	if f.Plan != nil {
		k.plan = func(cfg any, t *schema.Target, o PlanOptions) string { return f.Plan(cfg.(*C), t, o) }
	}
	k.batch = func(cfg any, b pipeline.BatchPolicy, path string) error {
		if f.ValidateBatch == nil {
			return nil
		}
		return f.ValidateBatch(cfg.(*C), b, path)
	}
	return k
}

// NewConfig returns a pointer to new, empty settings of the kind.
func (k *Sink) NewConfig() any { return k.newConfig() }

// Defaults fills unset settings.
func (k *Sink) Defaults(cfg any, env Env) { k.defaults(cfg, env) }

// Validate reports every problem of the settings.
func (k *Sink) Validate(cfg any, path string) error { return k.validate(cfg, path) }

// ValidateBatch reports batch settings (sinks[].batch) the sink cannot
// honour; path is the YAML path of the sink.
func (k *Sink) ValidateBatch(cfg any, b pipeline.BatchPolicy, path string) error {
	return k.batch(cfg, b, path)
}

// New constructs the sink.
func (k *Sink) New(cfg any, deps SinkDeps) (pipeline.Sink, error) { return k.build(cfg, deps) }

// HasCheck reports whether the kind has a check.
func (k *Sink) HasCheck() bool { return k.check != nil }

// Check tests the target.
func (k *Sink) Check(ctx context.Context, cfg any) (CheckReport, error) {
	if k.check == nil {
		return CheckReport{OK: "nothing to check"}, nil
	}
	return k.check(ctx, cfg)
}

// Secrets lists the settings' secrets.
func (k *Sink) Secrets(cfg any) []string { return k.secrets(cfg) }

// VerifyReader returns the reader of the sink's ODS tables.
func (k *Sink) VerifyReader(ctx context.Context, cfg any, name, tmpDir string) (readback.Reader, error) {
	if k.verifyReader == nil {
		return nil, fmt.Errorf("type %q cannot be verified", k.Name)
	}
	return k.verifyReader(ctx, cfg, name, tmpDir)
}

// HasPlan reports whether the kind has a DDL preview.
func (k *Sink) HasPlan() bool { return k.plan != nil }

// Plan renders the DDL preview of one ODS table ("" for a kind without
// one).
func (k *Sink) Plan(cfg any, t *schema.Target, o PlanOptions) string {
	if k.plan == nil {
		return ""
	}
	return k.plan(cfg, t, o)
}

// Source describes a source kind. Build it with NewSource.
type Source struct {
	// Name is the kind's type (source.type) and the key of its settings.
	Name string
	// Sections are other keys of source the kind reads besides Name (tidb
	// reads its changefeed's settings from source.ticdc). For such a kind
	// the settings are decoded from the source mapping itself: C has a
	// field for the key Name and one for each of Sections.
	Sections []string

	newConfig func() any
	defaults  func(cfg any, env Env)
	validate  func(cfg any, path string) error
	build     func(cfg any, deps SourceDeps) (pipeline.Source, error)
	check     func(ctx context.Context, cfg any, env CheckEnv, out io.Writer) bool
	secrets   func(cfg any) []string
	telemetry func(cfg any, src pipeline.Source, log *offsets.Log) (SourceTelemetry, error)
	resolve   func(ctx context.Context, cfg any, spec string) ([]byte, string, error)
	describe  func(cp []byte, log *offsets.Log) (Checkpoint, bool)
}

// SourceFuncs are the functions of a source kind whose settings are a C.
// New and Validate are required.
type SourceFuncs[C any] struct {
	// Sections are other keys of source the settings take (see
	// Source.Sections); nil for a kind whose settings are its own key.
	Sections []string
	// Defaults fills unset settings (before Validate).
	Defaults func(c *C, env Env)
	// Validate reports every problem; path is the YAML path of the
	// settings ("source.mysql").
	Validate func(c *C, path string) error
	// New constructs the source. It must not start goroutines: the
	// pipeline calls Run.
	New func(c *C, deps SourceDeps) (pipeline.Source, error)
	// Check tests the source (odsync check), printing one line per
	// finding to out, each starting with "source"; it returns false when
	// a check failed.
	Check func(ctx context.Context, c *C, env CheckEnv, out io.Writer) bool
	// Secrets lists the settings' secrets, for log redaction.
	Secrets func(c *C) []string
	// Telemetry returns the lag probe and counters of a source New built
	// (no I/O until they are used); nil for none.
	Telemetry func(c *C, src pipeline.Source, log *offsets.Log) (SourceTelemetry, error)
	// ResolveStart turns a start position (odsync replay --source-start:
	// "latest", "time:RFC3339", ...) into a checkpoint of the kind and its
	// description; nil when the kind cannot.
	ResolveStart func(ctx context.Context, c *C, spec string) (checkpoint []byte, desc string, err error)
	// DescribeCheckpoint reads a checkpoint of the kind (odsync offsets);
	// ok is false when cp is not one. log is the durable log the
	// checkpoint was read from (state kept beside it), or nil.
	DescribeCheckpoint func(cp []byte, log *offsets.Log) (Checkpoint, bool)
}

// CheckEnv is what a source check may read besides its settings.
type CheckEnv struct {
	// OpenLog opens the durable log (state.dir) to read what an earlier
	// run stored; an error matching fs.ErrNotExist when there is no state
	// yet. The caller closes the log.
	OpenLog func() (*offsets.Log, error)
}

// Checkpoint describes a source checkpoint for people.
type Checkpoint struct {
	// Position is the position alone ("binlog.000003:1234").
	Position string
	// Summary says more on one line ("mariadb binlog.000003:1234 at TIME").
	Summary string
	// Lines are details printed below the summary.
	Lines []string
}

// NewSource describes the source kind name with settings of type C.
func NewSource[C any](name string, f SourceFuncs[C]) Source {
	k := Source{Name: name, Sections: f.Sections}
	k.newConfig = func() any { return new(C) }
	k.defaults = func(cfg any, env Env) {
		if f.Defaults != nil {
			f.Defaults(cfg.(*C), env)
		}
	}
	k.validate = func(cfg any, path string) error { return f.Validate(cfg.(*C), path) }
	k.build = func(cfg any, deps SourceDeps) (pipeline.Source, error) { return f.New(cfg.(*C), deps) }
	k.check = func(ctx context.Context, cfg any, env CheckEnv, out io.Writer) bool {
		if f.Check == nil {
			return true
		}
		return f.Check(ctx, cfg.(*C), env, out)
	}
	k.secrets = func(cfg any) []string {
		if f.Secrets == nil {
			return nil
		}
		return f.Secrets(cfg.(*C))
	}
	k.telemetry = func(cfg any, src pipeline.Source, log *offsets.Log) (SourceTelemetry, error) {
		if f.Telemetry == nil {
			return SourceTelemetry{}, nil
		}
		return f.Telemetry(cfg.(*C), src, log)
	}
	k.resolve = func(ctx context.Context, cfg any, spec string) ([]byte, string, error) {
		if f.ResolveStart == nil {
			return nil, "", fmt.Errorf("source type %s cannot move its checkpoint to a start position", name)
		}
		return f.ResolveStart(ctx, cfg.(*C), spec)
	}
	k.describe = func(cp []byte, log *offsets.Log) (Checkpoint, bool) {
		if f.DescribeCheckpoint == nil {
			return Checkpoint{}, false
		}
		return f.DescribeCheckpoint(cp, log)
	}
	return k
}

// NewConfig returns a pointer to new, empty settings of the kind.
func (k *Source) NewConfig() any { return k.newConfig() }

// Defaults fills unset settings.
func (k *Source) Defaults(cfg any, env Env) { k.defaults(cfg, env) }

// Validate reports every problem of the settings.
func (k *Source) Validate(cfg any, path string) error { return k.validate(cfg, path) }

// New constructs the source.
func (k *Source) New(cfg any, deps SourceDeps) (pipeline.Source, error) { return k.build(cfg, deps) }

// Reads reports whether the kind's settings take the source key name (its
// own or one of Sections).
func (k *Source) Reads(name string) bool {
	if name == k.Name {
		return true
	}
	for _, s := range k.Sections {
		if s == name {
			return true
		}
	}
	return false
}

// Check tests the source, printing its findings; false when one failed.
func (k *Source) Check(ctx context.Context, cfg any, env CheckEnv, out io.Writer) bool {
	return k.check(ctx, cfg, env, out)
}

// Secrets lists the settings' secrets.
func (k *Source) Secrets(cfg any) []string { return k.secrets(cfg) }

// Telemetry returns the probes of a running source.
func (k *Source) Telemetry(cfg any, src pipeline.Source, log *offsets.Log) (SourceTelemetry, error) {
	return k.telemetry(cfg, src, log)
}

// ResolveStart turns a start position into a checkpoint of the kind.
func (k *Source) ResolveStart(ctx context.Context, cfg any, spec string) ([]byte, string, error) {
	return k.resolve(ctx, cfg, spec)
}

// DescribeCheckpoint reads a checkpoint of the kind; log may be nil.
func (k *Source) DescribeCheckpoint(cp []byte, log *offsets.Log) (Checkpoint, bool) {
	return k.describe(cp, log)
}

// Registry is a set of source and sink kinds, in the order given.
type Registry struct {
	sources []Source
	sinks   []Sink
}

// New returns a registry of the kinds; a name given twice panics (a
// programming error in the list).
func New(sources []Source, sinks []Sink) *Registry {
	r := &Registry{}
	seen := map[string]bool{}
	for _, k := range sources {
		if seen["source "+k.Name] || k.Name == "" {
			panic("registry: source kind " + k.Name + " listed twice or unnamed")
		}
		seen["source "+k.Name] = true
		r.sources = append(r.sources, k)
	}
	for _, k := range sinks {
		if seen["sink "+k.Name] || k.Name == "" {
			panic("registry: sink kind " + k.Name + " listed twice or unnamed")
		}
		seen["sink "+k.Name] = true
		r.sinks = append(r.sinks, k)
	}
	return r
}

// Sink returns the sink kind name, or nil.
func (r *Registry) Sink(name string) *Sink {
	for i := range r.sinks {
		if r.sinks[i].Name == name {
			return &r.sinks[i]
		}
	}
	return nil
}

// Source returns the source kind name, or nil.
func (r *Registry) Source(name string) *Source {
	for i := range r.sources {
		if r.sources[i].Name == name {
			return &r.sources[i]
		}
	}
	return nil
}

// Sinks returns the sink kinds.
func (r *Registry) Sinks() []Sink { return r.sinks }

// Sources returns the source kinds.
func (r *Registry) Sources() []Source { return r.sources }

// SinkNames lists the sink kinds for messages: "local, s3, maxcompute, kafka or mysql".
func (r *Registry) SinkNames() string {
	var names []string
	for _, k := range r.sinks {
		names = append(names, k.Name)
	}
	return orList(names)
}

// SourceNames lists the source kinds for messages: "mysql, ticdc, kafka, tidb, s3 or maxcompute".
func (r *Registry) SourceNames() string {
	var names []string
	for _, k := range r.sources {
		names = append(names, k.Name)
	}
	return orList(names)
}

func orList(names []string) string {
	switch len(names) {
	case 0:
		return "(none)"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
