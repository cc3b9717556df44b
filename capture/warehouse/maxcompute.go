package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
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
	// ProgressTable is the table of progress marks the MaxCompute sink
	// writes (its progress_table; default odsync_progress): incremental
	// mode follows it.
	ProgressTable string       `yaml:"progress_table"`
	Read          ReadSettings `yaml:",inline"`
}

// EnsureDefaults fills unset settings (mode incremental, as the s3
// source's).
func (c *MaxComputeConfig) EnsureDefaults() {
	if c.ProgressTable == "" {
		c.ProgressTable = mcsink.DefaultProgressTable
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
	if c.ProgressTable == "" || strings.ContainsAny(c.ProgressTable, "`. /") {
		errs = append(errs, fmt.Errorf("%s.progress_table: %q: want a table name", path, c.ProgressTable))
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
	src := newSource(&mcStore{r: r, cfg: c.Read, project: c.Project, progress: c.ProgressTable, marks: map[string]*markPart{}}, c.Read, deps.Capture, deps.Logger)
	src.st.(*mcStore).log = src.log
	return src, nil
}

// mcStore reads odsync's ODS tables of a MaxCompute project.
type mcStore struct {
	r        *mcsink.Reader
	cfg      ReadSettings
	project  string
	progress string
	log      *slog.Logger
	// marks caches the progress table's partitions read (by row count: a
	// partition that grew is read again).
	marks map[string]*markPart
}

// markPart is a partition of the progress table as read so far.
type markPart struct {
	marks []mcsink.Mark
	rows  int
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

// Complete: in full mode every visible row counts (MaxCompute shows only
// committed data); in incremental mode the newest progress mark's
// complete_seq (the sink's promise: every change up to it is committed).
func (s *mcStore) Complete(ctx context.Context, _ []*table) (uint64, error) {
	if s.cfg.Mode == ModeFull {
		return math.MaxInt64, nil
	}
	parts, found, err := s.r.MarkPartitions(s.progress)
	if err != nil {
		return 0, err
	}
	for i := len(parts) - 1; i >= 0; i-- {
		marks, err := s.readMarks(ctx, parts[i])
		if err != nil {
			return 0, err
		}
		var c uint64
		for _, m := range marks {
			c = max(c, m.CompleteSeq)
		}
		if c > 0 {
			return c, nil
		}
	}
	if !found {
		return 0, fmt.Errorf("warehouse: maxcompute project %s has no progress table %s yet: the MaxCompute sink (this odsync version) writes it once changes are committed; or set mode: full", s.project, s.progress)
	}
	return 0, fmt.Errorf("warehouse: maxcompute progress table %s holds no mark yet: the MaxCompute sink writes one every progress_interval once changes are committed", s.progress)
}

// readMarks returns the marks of a partition of the progress table, read
// again when it grew since it was last read.
func (s *mcStore) readMarks(ctx context.Context, part string) ([]mcsink.Mark, error) {
	mp := s.marks[part]
	if mp == nil {
		mp = &markPart{}
		s.marks[part] = mp
	}
	known := mp.rows
	if mp.marks == nil {
		known = -1
	}
	got, n, err := s.r.Marks(ctx, s.progress, part, known)
	if err != nil {
		return nil, err
	}
	if n != known {
		mp.marks, mp.rows = got, n
		if mp.marks == nil {
			mp.marks = []mcsink.Mark{}
		}
	}
	return mp.marks, nil
}

// Changed returns, per table, the partitions that may hold changes with a
// _seq in (after, complete] (follower): the union of the entries of the
// progress marks back to one whose floor is at most after (every
// partition holding a change above its floor is listed in it or in a
// later mark). Without such a mark (the table's partitions expired, or
// the changes predate the marks) every partition is read.
func (s *mcStore) Changed(ctx context.Context, tables []*table, after, complete uint64) (map[*table][]unit, error) {
	parts, _, err := s.r.MarkPartitions(s.progress)
	if err != nil {
		return nil, err
	}
	type rng struct{ first, last uint64 }
	spans := map[string]map[string]rng{} // ODS table → partition → range
	covered := false
	oldest := ""
	for i := len(parts) - 1; i >= 0 && !covered; i-- {
		marks, err := s.readMarks(ctx, parts[i])
		if err != nil {
			return nil, err
		}
		oldest = parts[i]
		for _, m := range marks {
			if m.FloorSeq <= after {
				covered = true
			}
			for _, p := range m.Partitions {
				if p.LastSeq <= after || p.FirstSeq > complete {
					continue
				}
				if spans[p.Table] == nil {
					spans[p.Table] = map[string]rng{}
				}
				r, ok := spans[p.Table][p.Partition]
				if !ok {
					r = rng{p.FirstSeq, p.LastSeq}
				}
				spans[p.Table][p.Partition] = rng{min(r.first, p.FirstSeq), max(r.last, p.LastSeq)}
			}
		}
	}
	for p := range s.marks {
		if p < oldest {
			delete(s.marks, p) // older than any checkpoint to come needs
		}
	}
	if !covered {
		s.log.Warn("incremental step: no progress mark reaches back to the checkpoint (marks expired, or the changes predate them): reading every partition of every table",
			"after", after, "complete", complete, "progress_table", s.progress)
	}
	out := map[*table][]unit{}
	for _, t := range tables {
		if !t.changeLog {
			continue
		}
		if !covered {
			us, err := s.Units(ctx, t)
			if err != nil {
				return nil, err
			}
			out[t] = us
			continue
		}
		for _, p := range t.parts() {
			var ver *table
			if p != t {
				ver = p
			}
			for spec, r := range spans[p.name] {
				out[t] = append(out[t], unit{name: p.name + " partition " + spec, first: r.first, last: r.last, ref: spec, ver: ver})
			}
		}
		sort.Slice(out[t], func(i, j int) bool { return out[t][i].first < out[t][j].first })
	}
	return out, nil
}

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
