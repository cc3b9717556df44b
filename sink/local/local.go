// Package local is the embedded default sink: ODS files in a local
// directory, in the same layout as the S3 sink (see package odsfile).
//
// Every file is written to a temporary name, synced, and renamed into
// place, so a crash never leaves a partial file under a final name; a replay
// overwrites a file with identical bytes.
package local

import (
	"context"
	"errors"
	"fmt"
	"github.com/odsync/odsync/event"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/sink/odsfile"
)

// Config configures the local sink (YAML under `sinks[].local`).
type Config struct {
	// Dir is the root directory of the ODS datasets.
	Dir string `yaml:"dir"`
	// Format is the file format: "jsonl" (default), "csv" or "parquet";
	// the encoders are those of the S3 sink (package odsfile).
	Format string `yaml:"format"`
	// Compression of Parquet files: snappy (default), zstd or none.
	Compression string `yaml:"compression"`
	// CSVHeader writes a header line into CSV files (default true).
	CSVHeader *bool `yaml:"csv_header"`
	// NoSync skips fsync of data files (faster, for demos and benchmarks;
	// a machine crash can then lose files the cursor already passed).
	NoSync bool `yaml:"no_sync"`
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Format == "" {
		c.Format = odsfile.FormatJSONL
	}
	if c.Compression == "" {
		c.Compression = odsfile.CompressionSnappy
	}
	if c.CSVHeader == nil {
		t := true
		c.CSVHeader = &t
	}
}

// Validate reports every problem.
func (c *Config) Validate(prefix string) error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, fmt.Errorf("%s.dir: required", prefix))
	}
	if err := odsfile.CheckFormat(c.Format); err != nil {
		errs = append(errs, fmt.Errorf("%s.format: %w", prefix, err))
	}
	switch c.Compression {
	case odsfile.CompressionSnappy, odsfile.CompressionZstd, odsfile.CompressionNone:
	default:
		errs = append(errs, fmt.Errorf("%s.compression: %q: want snappy, zstd or none", prefix, c.Compression))
	}
	return errors.Join(errs...)
}

// Sink writes ODS files into a directory.
//
// Layouts survive restarts: every layout change writes the table's
// _schema/current.json, and the first event of a target after a start
// reconciles the mapper with it (schema.Mapper.Reconcile), so columns a
// dropped or renamed source column left behind stay where they are and
// CSV files keep one column order per layout.
type Sink struct {
	cfg    Config
	mapper *schema.Mapper

	reconciled map[string]bool   // ODS base names reconciled this run
	current    map[string]uint64 // the layout current.json holds, by ODS table
}

// New returns a sink for a validated config.
func New(cfg Config, mapper *schema.Mapper) (*Sink, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("local"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("local sink: %w", err)
	}
	return &Sink{cfg: cfg, mapper: mapper, reconciled: map[string]bool{}, current: map[string]uint64{}}, nil
}

// Write writes one file per target partition of the batch.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	for i := range b.Events {
		if err := s.reconcile(&b.Events[i]); err != nil {
			return err
		}
	}
	groups, ddl, err := odsfile.Split(b, s.mapper)
	if err != nil {
		return fmt.Errorf("%w: %v", sink.ErrPermanent, err)
	}
	for _, d := range ddl {
		if d.Target == nil {
			continue
		}
		if err := s.writeSchema(d.Target); err != nil {
			return err
		}
	}
	dirs := map[string]bool{}
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.writeSchema(g.Target); err != nil {
			return err
		}
		path := filepath.Join(s.cfg.Dir, filepath.FromSlash(g.Name(odsfile.Ext(s.cfg.Format))))
		if err := s.writeFile(path, func(f *os.File) error {
			w, err := odsfile.NewEncoder(s.cfg.Format, f, g.Target, odsfile.EncoderOptions{
				Compression: s.cfg.Compression, CSVHeader: *s.cfg.CSVHeader,
				Metadata: map[string]string{"odsync.table": g.Target.Name}})
			if err != nil {
				return err
			}
			if err := g.EachRow(w.WriteRow); err != nil {
				return err
			}
			return w.Close()
		}); err != nil {
			var ce *schema.ConvertError
			if errors.Is(err, odsfile.ErrValue) || errors.As(err, &ce) {
				err = fmt.Errorf("%w: %w", sink.ErrPermanent, err)
			}
			return fmt.Errorf("local sink: table %s seq %d..%d: %w", g.Target.Source, g.First, g.Last, err)
		}
		dirs[filepath.Dir(path)] = true
	}
	if !s.cfg.NoSync {
		for d := range dirs {
			if err := syncDir(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeSchema writes the target's schema file once per layout (named by
// odsfile.LayoutVersion, as the S3 sink does: a layout that changes for
// the same source version, e.g. _raw added by an upgrade or a changed
// mapping, gets a file of its own).
func (s *Sink) writeSchema(t *schema.Target) error {
	lv := odsfile.LayoutVersion(t)
	if s.current[t.Name] == lv {
		return nil
	}
	path := filepath.Join(s.cfg.Dir, filepath.FromSlash(odsfile.SchemaName(t.Name, lv)))
	data := t.SchemaJSON()
	write := func(path string) error {
		return s.writeFile(path, func(f *os.File) error {
			_, err := f.Write(data)
			return err
		})
	}
	if _, err := os.Stat(path); err != nil {
		if err := write(path); err != nil {
			return err
		}
	}
	if err := write(filepath.Join(filepath.Dir(path), currentSchema)); err != nil {
		return err
	}
	s.current[t.Name] = lv
	return nil
}

// currentSchema is the copy of the current layout's schema file.
const currentSchema = "current.json"

// reconcile makes the layout a target's files already have the mapper's
// current one, once per target and run.
func (s *Sink) reconcile(e *event.Event) error {
	if e.Table == nil {
		return nil
	}
	base, err := s.mapper.TargetName(e.Table.ID)
	if err != nil || s.reconciled[base] {
		return nil // an unrouted table fails in Split with its own error
	}
	s.reconciled[base] = true
	path, body, err := s.existingLayout(base)
	if err != nil || body == nil {
		return err
	}
	ex, err := schema.ParseSchemaJSON(body)
	if err != nil {
		return fmt.Errorf("%w: local sink: %s: %v", sink.ErrPermanent, path, err)
	}
	if _, err := s.mapper.Reconcile(e.Table, ex); err != nil {
		return fmt.Errorf("%w: local sink: table %s at %s (seq %d): reconciling with the layout in %s: %w",
			sink.ErrPermanent, e.Source, e.Pos, e.Seq, path, err)
	}
	return nil
}

// existingLayout reads the schema file of the newest table version of
// base (base, base_v2, ...): its current.json, else (files written before
// current.json) its newest v*.json. body is nil when there is none.
func (s *Sink) existingLayout(base string) (path string, body []byte, err error) {
	dirs, _ := filepath.Glob(filepath.Join(s.cfg.Dir, base+"_v*", "_schema"))
	best, bestV := filepath.Join(s.cfg.Dir, base, "_schema"), 1
	for _, d := range dirs {
		name := filepath.Base(filepath.Dir(d))
		if v, err := strconv.Atoi(strings.TrimPrefix(name, base+"_v")); err == nil && v > bestV {
			best, bestV = d, v
		}
	}
	path = filepath.Join(best, currentSchema)
	body, err = os.ReadFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return path, body, err
	}
	ents, err := os.ReadDir(best)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	var newest os.FileInfo
	for _, de := range ents {
		if !strings.HasPrefix(de.Name(), "v") || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		if fi, err := de.Info(); err == nil && (newest == nil || fi.ModTime().After(newest.ModTime())) {
			newest = fi
		}
	}
	if newest == nil {
		return "", nil, nil
	}
	path = filepath.Join(best, newest.Name())
	body, err = os.ReadFile(path)
	return path, body, err
}

func (s *Sink) writeFile(path string, fill func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil && !s.cfg.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close releases nothing; files are complete after each Write.
func (s *Sink) Close(ctx context.Context) error { return nil }
