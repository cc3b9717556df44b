package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/odsync/odsync/event"
)

// Existing describes an ODS table as a sink finds it (after a restart):
// its layout version and columns in table order, without the partition
// column.
type Existing struct {
	// Version is the layout version (1 unless evolve mode started new
	// table versions; the table is then named <base>_v<Version>).
	Version int
	Columns []ExistingColumn
}

// ExistingColumn is one column of an existing table. Type is a MaxCompute
// type ("DECIMAL(20,0)", "TIMESTAMP_NTZ"), a type spec ("decimal(20,0)",
// "timestamp_ntz") or a Hive type; VARCHAR(n) and CHAR(n) read as string.
type ExistingColumn struct {
	Name string
	Type string
}

// parseExistingType reads a column type as a sink reports it.
func parseExistingType(s string) (typeSpec, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if strings.HasPrefix(t, "varchar") || strings.HasPrefix(t, "char") {
		return typeSpec{kind: KindString}, nil
	}
	if t == "real" {
		return typeSpec{kind: KindFloat}, nil
	}
	return parseTypeSpec(t)
}

// Reconcile makes an existing ODS table the current layout of t's target
// and plans the steps that bring it up to t: columns added (or changed)
// while no process was watching. Sinks call it once per target when they
// start, with the table they find; from then on Target aligns to it.
func (m *Mapper) Reconcile(t *event.Table, ex Existing) (*Plan, error) {
	if t == nil {
		return nil, errors.New("schema: Reconcile of a nil table")
	}
	fresh, err := m.build(t)
	if err != nil {
		return nil, err
	}
	layout := *fresh
	layout.Version = max(ex.Version, 1)
	layout.Name = versionedName(fresh.BaseName, layout.Version)
	layout.Columns = nil
	layout.Key = nil
	var errs []error
	for _, ec := range ex.Columns {
		name := strings.ToLower(ec.Name)
		if name == fresh.PartitionColumn {
			continue
		}
		if k := metaKindOf(name); k != MetaNone {
			layout.Columns = append(layout.Columns, metaColumn(k))
			continue
		}
		spec, err := parseExistingType(ec.Type)
		if err != nil {
			errs = append(errs, fmt.Errorf("schema: target %s column %s: %w", layout.Name, ec.Name, err))
			continue
		}
		layout.Columns = append(layout.Columns, newColumn(name, spec))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.heads[fresh.BaseName]
	if h == nil {
		h = &head{merged: fresh.Merged, sources: map[event.TableID]bool{}}
		m.heads[fresh.BaseName] = h
	} else if err := h.admit(t.ID); err != nil {
		return nil, err
	}
	h.rev++
	h.layout = &layout
	p, next, err := evolve(&layout, fresh, t, m.c)
	if err != nil {
		return nil, err
	}
	aligned, err := align(next, fresh, t, m.c)
	if err != nil {
		return nil, fmt.Errorf("schema: internal error: reconciled layout does not fit: %w", err)
	}
	p.New = aligned
	h.rev++
	h.layout = aligned
	h.sources[t.ID] = true
	m.targets[t.Version] = cachedTarget{t: aligned, rev: h.rev}
	return p, nil
}

func metaKindOf(name string) MetaKind {
	for k := MetaOp; int(k) < len(metaNames); k++ {
		if metaNames[k] == name {
			return k
		}
	}
	return MetaNone
}

// schemaFile is the JSON schema file of a target (S3 and local sinks).
type schemaFile struct {
	Name          string        `json:"name"`
	BaseName      string        `json:"base_name"`
	Version       int           `json:"version"`
	Source        sourceJSON    `json:"source"`
	SourceVersion string        `json:"source_version"`
	Merged        bool          `json:"merged"`
	Partition     partitionJSON `json:"partition"`
	Evolution     Mode          `json:"evolution"`
	Key           []string      `json:"key"`
	Columns       []columnJSON  `json:"columns"`
}

type sourceJSON struct {
	DB    string `json:"db"`
	Table string `json:"table"`
}

type partitionJSON struct {
	Column      string `json:"column"`
	Granularity string `json:"granularity"`
	TimeZone    string `json:"time_zone"`
}

type columnJSON struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	MaxCompute string `json:"maxcompute"`
	Hive       string `json:"hive"`
	Parquet    string `json:"parquet"`
	Nullable   bool   `json:"nullable"`
	Meta       string `json:"meta,omitempty"`
	Source     string `json:"source,omitempty"`
	SourceType string `json:"source_type,omitempty"`
	Lossy      string `json:"lossy,omitempty"`
}

// SchemaJSON returns the content of the target's JSON schema file, which
// the S3 and local sinks store next to the data (one per layout version):
// names, types in every type system, key, partitioning and source.
// ParseSchemaJSON reads it back.
func (t *Target) SchemaJSON() []byte {
	f := schemaFile{Name: t.Name, BaseName: t.BaseName, Version: t.Version,
		Source: sourceJSON{DB: t.Source.DB, Table: t.Source.Table}, SourceVersion: fmt.Sprintf("%016x", t.SourceVersion),
		Merged: t.Merged, Partition: partitionJSON{Column: t.PartitionColumn, Granularity: t.Granularity, TimeZone: t.TimeZone},
		Evolution: t.Mode, Key: []string{}, Columns: []columnJSON{}}
	for _, k := range t.Key {
		f.Key = append(f.Key, t.Columns[k].Name)
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		cj := columnJSON{Name: c.Name, Type: c.TypeSpec(), MaxCompute: c.MaxCompute, Hive: c.Hive,
			Parquet: c.Parquet.String(), Nullable: c.Nullable, Meta: c.Meta.String(), Source: c.SourceName, Lossy: c.Lossy}
		if c.src != nil {
			cj.SourceType = rawOr(c.src)
		}
		f.Columns = append(f.Columns, cj)
	}
	// Marshal cannot fail: the file holds strings, bools and ints only.
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

// ParseSchemaJSON reads a schema file written by SchemaJSON back as the
// Existing table it describes (for Reconcile).
func ParseSchemaJSON(b []byte) (Existing, error) {
	var f schemaFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Existing{}, fmt.Errorf("schema: schema file: %w", err)
	}
	if f.Name == "" || len(f.Columns) == 0 {
		return Existing{}, errors.New("schema: schema file: no name or no columns")
	}
	ex := Existing{Version: f.Version}
	for _, c := range f.Columns {
		ex.Columns = append(ex.Columns, ExistingColumn{Name: c.Name, Type: c.Type})
	}
	return ex, nil
}

// ExistingTarget returns an existing ODS table as a layout to read its data
// with (package sink/odsfile's RowReader, a MaxCompute download): its
// columns in table order with the types the table has, metadata columns
// recognized by name. Source is -1 everywhere: the layout maps no source
// table (the reverse-sync sources map the columns by SourceName).
func ExistingTarget(name string, ex Existing) (*Target, error) {
	t := &Target{Name: name, BaseName: name, Version: max(ex.Version, 1)}
	var errs []error
	for _, ec := range ex.Columns {
		cn := strings.ToLower(ec.Name)
		if k := metaKindOf(cn); k != MetaNone {
			t.Columns = append(t.Columns, metaColumn(k))
			continue
		}
		spec, err := parseExistingType(ec.Type)
		if err != nil {
			errs = append(errs, fmt.Errorf("schema: table %s column %s: %w", name, ec.Name, err))
			continue
		}
		c := newColumn(ec.Name, spec)
		c.SourceName = ec.Name
		t.Columns = append(t.Columns, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}
