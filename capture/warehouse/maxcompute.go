package warehouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/registry"
	mcsink "github.com/odsync/odsync/sink/maxcompute"
	"github.com/odsync/odsync/sink/readback"
)

// MaxComputeConfig configures the maxcompute source (YAML under
// source.maxcompute): odsync's ODS tables in a MaxCompute project, read
// through Tunnel download sessions.
type MaxComputeConfig struct {
	// Connection settings, as the MaxCompute sink's (docs/maxcompute.md).
	mcsink.Connection `yaml:",inline"`
	Read              ReadSettings `yaml:",inline"`
}

// EnsureDefaults fills unset settings; the MaxCompute source loads in full
// (mode full) unless told otherwise.
func (c *MaxComputeConfig) EnsureDefaults() {
	if c.Read.Mode == "" {
		c.Read.Mode = ModeFull
	}
	c.Read.EnsureDefaults()
}

// Validate reports every problem; path is the YAML path.
func (c *MaxComputeConfig) Validate(path string) error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, fmt.Errorf("%s.endpoint: required", path))
	}
	if c.Project == "" {
		errs = append(errs, fmt.Errorf("%s.project: required", path))
	}
	if c.Read.Mode == ModeIncremental {
		errs = append(errs, fmt.Errorf("%s.mode: incremental is not supported for MaxCompute yet (MaxCompute tables carry no _seq ranges to follow): use full", path))
	}
	errs = append(errs, c.Read.Validate(path))
	return errors.Join(errs...)
}

func (c *MaxComputeConfig) sinkConfig() mcsink.Config {
	return mcsink.Config{Connection: c.Connection}
}

// NewMaxCompute returns the maxcompute source; it makes no request.
func NewMaxCompute(c MaxComputeConfig, deps registry.SourceDeps) (*Source, error) {
	c.EnsureDefaults()
	if err := c.Validate("source.maxcompute"); err != nil {
		return nil, err
	}
	sc := c.sinkConfig()
	sc.EnsureDefaults()
	acct, err := mcsink.NewAccount(sc)
	if err != nil {
		return nil, fmt.Errorf("source.maxcompute: %w", err)
	}
	r, err := mcsink.NewReader(mcsink.ReaderConfig{Endpoint: sc.Endpoint, TunnelEndpoint: sc.TunnelEndpoint,
		Project: sc.Project, Schema: sc.Schema, Account: acct})
	if err != nil {
		return nil, fmt.Errorf("source.maxcompute: %w", err)
	}
	return newSource(&mcStore{r: r, cfg: c.Read, project: c.Project}, c.Read, deps.Capture, deps.Logger), nil
}

// mcStore reads odsync's ODS tables of a MaxCompute project.
type mcStore struct {
	r       *mcsink.Reader
	cfg     ReadSettings
	project string
}

func (s *mcStore) Describe() string { return s.r.Describe() }

// tableComment is the start of the comment the MaxCompute sink gives its
// tables.
const tableComment = "odsync ODS of "

// Tables builds the tables from their comments: the table's names the
// source table and the key, each source column's its source name and type.
func (s *mcStore) Tables(ctx context.Context) ([]*table, error) {
	infos, err := s.r.Tables("")
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range s.cfg.Tables {
		want[n] = true
	}
	var out []*table
	for _, ti := range infos {
		if len(want) > 0 && !want[ti.Name] && !isVersion(ti.Name, s.cfg.Tables) {
			continue
		}
		rest, ok := strings.CutPrefix(ti.Comment, tableComment)
		if !ok {
			if want[ti.Name] {
				return nil, &permanent{fmt.Errorf("warehouse: maxcompute table %s: its comment %q is not an odsync ODS table's", ti.Name, ti.Comment)}
			}
			continue
		}
		delete(want, ti.Name)
		var f schemaFile
		src, key, _ := strings.Cut(rest, "; key ")
		f.Source.DB, f.Source.Table, _ = strings.Cut(src, ".")
		if key != "" {
			f.Key = strings.Split(key, ",")
		}
		for _, c := range ti.Columns {
			col := struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Meta       string `json:"meta"`
				Source     string `json:"source"`
				SourceType string `json:"source_type"`
			}{Name: c.Name, Type: c.Type}
			if strings.HasPrefix(c.Name, "_") {
				col.Meta = c.Name
			} else if r, ok := strings.CutPrefix(c.Comment, "source "); ok {
				r, _, _ = strings.Cut(r, "; lossy: ")
				col.Source, col.SourceType, _ = strings.Cut(r, " ")
			}
			f.Columns = append(f.Columns, col)
		}
		t, err := odsTableOf(ti.Name, f)
		if err != nil {
			return nil, &permanent{fmt.Errorf("warehouse: maxcompute %w", err)}
		}
		out = append(out, t)
	}
	for n := range want {
		return nil, &permanent{fmt.Errorf("warehouse: maxcompute table %s not found in project %s", n, s.project)}
	}
	return mergeVersions(out)
}

// isVersion reports whether name is an evolve mode version (<t>_v<N>) of
// one of tables.
func isVersion(name string, tables []string) bool {
	for _, t := range tables {
		if _, ok := readback.VersionOf(name, t); ok {
			return true
		}
	}
	return false
}

// Complete: MaxCompute shows only committed data and records no
// sequence, so everything visible counts (full loads only).
func (s *mcStore) Complete(context.Context, []*table) (uint64, error) { return math.MaxInt64, nil }

func (s *mcStore) Units(_ context.Context, t *table) ([]unit, error) {
	var out []unit
	for _, p := range t.parts() {
		parts, err := s.r.Partitions(p.name)
		if err != nil {
			return nil, err
		}
		var ver *table
		if p != t {
			ver = p
		}
		for _, pt := range parts {
			out = append(out, unit{name: p.name + " partition " + pt, first: 0, last: math.MaxInt64, ref: pt, ver: ver})
		}
	}
	return out, nil
}

func (s *mcStore) Read(ctx context.Context, t *table, u unit, fn func([]event.Value) error) error {
	layout := t.layout
	if u.ver != nil {
		layout = u.ver.layout
	}
	return s.r.ReadPartition(ctx, layout, u.ref.(string), fn)
}
