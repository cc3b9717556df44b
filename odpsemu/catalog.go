package odpsemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Data directory layout (one directory per project, lower-case name):
//
//	LOCK                                  held (flock) while a server runs
//	projects/<p>/catalog.json             tables, partitions, segment lists (atomic rewrite)
//	projects/<p>/data/<table id>/*.seg    stream segments (append-only, see segment.go)
//	projects/<p>/uploads/<id>/session.json, block-<n>.seg
//	projects/<p>/streams/<id>.json        stream sessions
//	projects/<p>/downloads/<id>.json      download sessions (row snapshots)
//
// Invariants:
//   - A segment is referenced by the catalog before any row is appended to
//     it, and a batch is appended (and fsynced) before the PUT is answered,
//     so an acknowledged row is always reachable after a restart.
//   - Committed upload blocks become segments by reference (the catalog
//     points into uploads/<id>/), in the same atomic catalog write that
//     records the upload as committed: a commit happens fully or not at all,
//     and a repeated commit is a no-op.
//   - Lock order: project.mu, then partition.mu.

var projectNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$`)

var sessionIDRE = regexp.MustCompile(`^[0-9a-z]{8,64}$`)

type project struct {
	name    string // as first used
	dir     string
	sync    bool
	mu      sync.RWMutex
	created time.Time
	nextSeq uint64
	tables  map[string]*table // by lower-case name

	sessMu    sync.Mutex
	streams   map[string]*streamSession
	uploads   map[string]*uploadSession
	downloads map[string]*downloadSession
}

type table struct {
	id          string
	name        string
	comment     string
	created     time.Time
	lastDDL     time.Time
	lifecycle   int
	cols        []column
	partKeys    []column
	versions    []int // versions[v] = number of columns in schema version v
	primaryKey  []string
	props       map[string]string
	clusterType string
	clusterCols []string
	sortCols    []sortCol
	buckets     int
	parts       []*partition // in creation order; one value-less partition if not partitioned
	committed   []string     // upload ids already committed (bounded)
}

type partition struct {
	id           uint64
	values       []string
	created      time.Time
	lastModified atomic.Int64 // unix nanos

	mu     sync.Mutex // guards segs' rows/size and appends to active
	segs   []*segment // changed only under project.mu write lock
	active *segment   // stream append target (last of segs) or nil
}

type segment struct {
	rel  string // path relative to the project directory
	rows int64  // guarded by partition.mu
	size int64
}

const maxCommittedKept = 10000

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return time.Now().UTC().Format("20060102150405") + hex.EncodeToString(b[:])
}

// JSON forms of the catalog.

type catalogJSON struct {
	Format  int         `json:"format"`
	Project string      `json:"project"`
	Created int64       `json:"created"`
	NextSeq uint64      `json:"next_seq"`
	Tables  []tableJSON `json:"tables"`
}

type columnJSON struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Comment string `json:"comment,omitempty"`
	NotNull bool   `json:"not_null,omitempty"`
}

type tableJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Comment     string            `json:"comment,omitempty"`
	Created     int64             `json:"created"`
	LastDDL     int64             `json:"last_ddl"`
	Lifecycle   int               `json:"lifecycle"`
	Columns     []columnJSON      `json:"columns"`
	PartKeys    []columnJSON      `json:"partition_keys,omitempty"`
	Versions    []int             `json:"schema_versions"`
	PrimaryKey  []string          `json:"primary_key,omitempty"`
	Props       map[string]string `json:"properties,omitempty"`
	ClusterType string            `json:"cluster_type,omitempty"`
	ClusterCols []string          `json:"cluster_cols,omitempty"`
	SortCols    []sortCol         `json:"sort_cols,omitempty"`
	Buckets     int               `json:"buckets,omitempty"`
	Partitions  []partitionJSON   `json:"partitions"`
	Committed   []string          `json:"committed_uploads,omitempty"`
}

type partitionJSON struct {
	ID           uint64   `json:"id"`
	Values       []string `json:"values,omitempty"`
	Created      int64    `json:"created"`
	LastModified int64    `json:"last_modified"`
	Segments     []string `json:"segments,omitempty"`
	Active       string   `json:"active,omitempty"`
}

func columnsToJSON(cols []column) []columnJSON {
	out := make([]columnJSON, len(cols))
	for i, c := range cols {
		out[i] = columnJSON{Name: c.name, Type: c.typ.String(), Comment: c.comment, NotNull: c.notNull}
	}
	return out
}

func columnsFromJSON(in []columnJSON) ([]column, error) {
	out := make([]column, len(in))
	for i, c := range in {
		t, err := parseTypeString(c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		out[i] = column{name: c.Name, typ: t, comment: c.Comment, notNull: c.NotNull}
	}
	return out, nil
}

func (p *project) catalogPath() string { return filepath.Join(p.dir, "catalog.json") }

// save rewrites the catalog. Caller holds p.mu for writing.
func (p *project) save() error {
	cj := catalogJSON{Format: 1, Project: p.name, Created: p.created.Unix(), NextSeq: p.nextSeq}
	names := make([]string, 0, len(p.tables))
	for k := range p.tables {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t := p.tables[k]
		tj := tableJSON{
			ID: t.id, Name: t.name, Comment: t.comment, Created: t.created.Unix(), LastDDL: t.lastDDL.Unix(),
			Lifecycle: t.lifecycle, Columns: columnsToJSON(t.cols), PartKeys: columnsToJSON(t.partKeys),
			Versions: t.versions, PrimaryKey: t.primaryKey, Props: t.props, ClusterType: t.clusterType,
			ClusterCols: t.clusterCols, SortCols: t.sortCols, Buckets: t.buckets, Committed: t.committed,
		}
		for _, pt := range t.parts {
			pj := partitionJSON{ID: pt.id, Values: pt.values, Created: pt.created.Unix(), LastModified: pt.lastModified.Load()}
			for _, s := range pt.segs {
				pj.Segments = append(pj.Segments, s.rel)
			}
			if pt.active != nil {
				pj.Active = pt.active.rel
			}
			tj.Partitions = append(tj.Partitions, pj)
		}
		cj.Tables = append(cj.Tables, tj)
	}
	b, err := json.MarshalIndent(cj, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p.catalogPath(), b, p.sync)
}

// loadProject opens (or creates) a project directory and verifies every
// segment, cutting torn tails left by a crash.
func loadProject(dir, name string, sync bool, warn func(msg string, args ...any)) (*project, error) {
	p := &project{
		name: name, dir: dir, sync: sync, tables: map[string]*table{},
		streams: map[string]*streamSession{}, uploads: map[string]*uploadSession{}, downloads: map[string]*downloadSession{},
	}
	b, err := os.ReadFile(p.catalogPath())
	if errors.Is(err, fs.ErrNotExist) {
		for _, sub := range []string{"data", "uploads", "streams", "downloads"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				return nil, err
			}
		}
		p.created = time.Now()
		if err := p.save(); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	var cj catalogJSON
	if err := json.Unmarshal(b, &cj); err != nil {
		return nil, fmt.Errorf("%s: %w", p.catalogPath(), err)
	}
	p.name, p.created, p.nextSeq = cj.Project, time.Unix(cj.Created, 0), cj.NextSeq
	for _, tj := range cj.Tables {
		t := &table{
			id: tj.ID, name: tj.Name, comment: tj.Comment, created: time.Unix(tj.Created, 0),
			lastDDL: time.Unix(tj.LastDDL, 0), lifecycle: tj.Lifecycle, versions: tj.Versions,
			primaryKey: tj.PrimaryKey, props: tj.Props, clusterType: tj.ClusterType,
			clusterCols: tj.ClusterCols, sortCols: tj.SortCols, buckets: tj.Buckets, committed: tj.Committed,
		}
		if t.cols, err = columnsFromJSON(tj.Columns); err != nil {
			return nil, fmt.Errorf("table %s: %w", tj.Name, err)
		}
		if t.partKeys, err = columnsFromJSON(tj.PartKeys); err != nil {
			return nil, fmt.Errorf("table %s: %w", tj.Name, err)
		}
		for _, pj := range tj.Partitions {
			pt := &partition{id: pj.ID, values: pj.Values, created: time.Unix(pj.Created, 0)}
			pt.lastModified.Store(pj.LastModified)
			for _, rel := range pj.Segments {
				path := filepath.Join(dir, rel)
				rows, valid, err := scanSegment(path)
				if err != nil {
					return nil, fmt.Errorf("table %s partition %s: segment %s: %w", t.name, t.partName(pt), rel, err)
				}
				st, err := os.Stat(path)
				if err != nil {
					return nil, err
				}
				if st.Size() != valid {
					warn("odpsemu: cutting a torn tail off a segment", "project", name, "table", t.name,
						"partition", t.partName(pt), "segment", rel, "size", st.Size(), "valid", valid)
					if err := os.Truncate(path, valid); err != nil {
						return nil, err
					}
				}
				if mt := st.ModTime().UnixNano(); mt > pt.lastModified.Load() {
					pt.lastModified.Store(mt)
				}
				s := &segment{rel: rel, rows: rows, size: valid}
				pt.segs = append(pt.segs, s)
				if rel == pj.Active {
					pt.active = s
				}
			}
			t.parts = append(t.parts, pt)
		}
		p.tables[strings.ToLower(t.name)] = t
	}
	return p, nil
}

// Table helpers. Callers hold project.mu.

func (p *project) table(name string) *table { return p.tables[strings.ToLower(name)] }

func (p *project) seq() uint64 {
	p.nextSeq++
	return p.nextSeq
}

func (t *table) partitioned() bool { return len(t.partKeys) > 0 }

func (t *table) latestVersion() int { return len(t.versions) - 1 }

// columnsAt returns the columns of schema version v.
func (t *table) columnsAt(v int) []column { return t.cols[:t.versions[v]] }

func (t *table) colIndex(name string) int {
	for i, c := range t.cols {
		if strings.EqualFold(c.name, name) {
			return i
		}
	}
	return -1
}

func (t *table) partName(pt *partition) string {
	parts := make([]string, len(pt.values))
	for i, v := range pt.values {
		parts[i] = t.partKeys[i].name + "=" + v
	}
	return strings.Join(parts, "/")
}

func (t *table) findPartition(values []string) *partition {
	for _, pt := range t.parts {
		if equalStrings(pt.values, values) {
			return pt
		}
	}
	return nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (t *table) addPartition(p *project, values []string) *partition {
	pt := &partition{id: p.seq(), values: values, created: time.Now()}
	pt.lastModified.Store(pt.created.UnixNano())
	t.parts = append(t.parts, pt)
	return pt
}

// partitionRows returns the rows and bytes stored in pt.
func (pt *partition) stats() (rows, size int64) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, s := range pt.segs {
		rows += s.rows
		size += s.size
	}
	return rows, size
}

func (t *table) stats() (rows, size int64, lastMod time.Time) {
	lastMod = t.lastDDL
	for _, pt := range t.parts {
		r, s := pt.stats()
		rows += r
		size += s
		if m := time.Unix(0, pt.lastModified.Load()); m.After(lastMod) {
			lastMod = m
		}
	}
	return rows, size, lastMod
}

// Partition specifications.

// parseKVSpec splits "k1=v1,k2=v2" or "k1=v1/k2=v2" (quotes optional).
func parseKVSpec(spec string) ([]partSpecKV, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	sep := ","
	if !strings.Contains(spec, ",") && strings.Contains(spec, "/") {
		sep = "/"
	}
	var out []partSpecKV
	for _, part := range strings.Split(spec, sep) {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `'"`)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid partition spec %q: expected key=value pairs separated by ',' or '/'", spec)
		}
		out = append(out, partSpecKV{key: k, value: v})
	}
	return out, nil
}

// resolveSpec maps key/value pairs onto the table's partition keys. With
// full set, every key must be given; otherwise a subset (filter) is allowed
// and missing keys come back as nil entries in present.
func (t *table) resolveSpec(kvs []partSpecKV, full bool) (values []string, present []bool, err error) {
	if !t.partitioned() {
		if len(kvs) > 0 {
			return nil, nil, fmt.Errorf("table %s is not partitioned, but a partition spec was given", t.name)
		}
		return nil, nil, nil
	}
	values = make([]string, len(t.partKeys))
	present = make([]bool, len(t.partKeys))
	for _, kv := range kvs {
		i := -1
		for j, k := range t.partKeys {
			if strings.EqualFold(k.name, kv.key) {
				i = j
			}
		}
		if i < 0 {
			return nil, nil, fmt.Errorf("table %s has no partition column %q", t.name, kv.key)
		}
		if present[i] {
			return nil, nil, fmt.Errorf("partition column %s given twice", t.partKeys[i].name)
		}
		if err := validatePartValue(t.partKeys[i], kv.value); err != nil {
			return nil, nil, err
		}
		values[i], present[i] = kv.value, true
	}
	if full {
		for i, ok := range present {
			if !ok {
				return nil, nil, fmt.Errorf("partition spec for table %s lacks partition column %s (all of %s are required)",
					t.name, t.partKeys[i].name, t.partKeyNames())
			}
		}
	}
	return values, present, nil
}

func (t *table) partKeyNames() string {
	names := make([]string, len(t.partKeys))
	for i, k := range t.partKeys {
		names[i] = k.name
	}
	return strings.Join(names, ",")
}

func validatePartValue(c column, v string) error {
	if v == "" {
		return fmt.Errorf("partition column %s: empty value", c.name)
	}
	if len(v) > 255 {
		return fmt.Errorf("partition column %s: value longer than 255 bytes", c.name)
	}
	if strings.ContainsAny(v, "/,='\"\\") || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 }) >= 0 {
		return fmt.Errorf("partition column %s: value %q contains a character MaxCompute partition values cannot hold", c.name, v)
	}
	switch c.typ.kind {
	case kTinyint, kSmallint, kInt, kBigint:
		n, err := strconv.ParseInt(v, 10, 64)
		lo, hi := intRange(c.typ.kind)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("partition column %s %s: value %q is not a valid %s", c.name, c.typ, v, c.typ)
		}
	case kVarchar, kChar:
		if len([]rune(v)) > c.typ.length {
			return fmt.Errorf("partition column %s %s: value %q is too long", c.name, c.typ, v)
		}
	}
	return nil
}

// newSegment creates an empty stream segment for pt. Caller holds p.mu for
// writing and saves the catalog afterwards.
func (p *project) newSegment(t *table, pt *partition) (*segment, error) {
	rel := filepath.Join("data", t.id, fmt.Sprintf("p%d-s%d.seg", pt.id, p.seq()))
	path := filepath.Join(p.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &segment{rel: rel}, nil
}

func (t *table) noteCommitted(id string) {
	t.committed = append(t.committed, id)
	if len(t.committed) > maxCommittedKept {
		t.committed = t.committed[len(t.committed)-maxCommittedKept:]
	}
}

func (t *table) isCommitted(id string) bool {
	for _, c := range t.committed {
		if c == id {
			return true
		}
	}
	return false
}
