package warehouse

import (
	"context"
	"fmt"
	"sort"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink/odsfile"
	"github.com/odsync/odsync/sink/readback"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// s3Store reads tables under an S3 prefix through the S3 sink's reader.
type s3Store struct {
	r        *s3sink.Reader
	cfg      ReadSettings
	external []TableConfig
}

func (s *s3Store) Describe() string { return s.r.Describe() }

// Tables returns the configured tables (with their evolve mode versions),
// or every odsync table found; the versions of one table are merged into
// one (mergeVersions).
func (s *s3Store) Tables(ctx context.Context) ([]*table, error) {
	names := s.cfg.Tables
	if len(names) > 0 || len(s.external) == 0 {
		all, err := s.r.Tables(ctx)
		if err != nil {
			return nil, err
		}
		listed := map[string]bool{}
		for _, n := range names {
			listed[n] = true
		}
		for _, n := range all {
			if listed[n] {
				continue
			}
			if len(s.cfg.Tables) > 0 {
				// A version of a listed table: <name>_v<N>.
				ver := false
				for _, l := range s.cfg.Tables {
					if _, ok := readback.VersionOf(n, l); ok {
						ver = true
					}
				}
				if ver {
					names = append(names, n)
				}
				continue
			}
			if b, _, err := s.r.SchemaFile(ctx, n); err != nil {
				return nil, err
			} else if b != nil {
				names = append(names, n)
			}
		}
	}
	var out []*table
	for _, n := range names {
		b, key, err := s.r.SchemaFile(ctx, n)
		if err != nil {
			return nil, err
		}
		if b == nil {
			return nil, &permanent{fmt.Errorf("warehouse: table %s: no schema file under %s/%s/_schema/ (describe a table of another tool under external)", n, s.r.Describe(), n)}
		}
		t, err := odsTable(n, b)
		if err != nil {
			return nil, &permanent{fmt.Errorf("warehouse: %s: %w", key, err)}
		}
		out = append(out, t)
	}
	for _, e := range s.external {
		t, err := externalTable(e)
		if err != nil {
			return nil, &permanent{fmt.Errorf("warehouse: %w", err)}
		}
		out = append(out, t)
	}
	return mergeVersions(out)
}

// Complete reads the S3 sink's checkpoint (complete_seq); a bucket without
// one (a copy, a stopped writer) is complete up to its newest object.
func (s *s3Store) Complete(ctx context.Context, tables []*table) (uint64, error) {
	seq, ok, err := s.r.Complete(ctx)
	if err != nil || ok {
		return seq, err
	}
	var newest uint64
	for _, t := range tables {
		if !t.changeLog {
			continue
		}
		us, err := s.Units(ctx, t)
		if err != nil {
			return 0, err
		}
		for _, u := range us {
			newest = max(newest, u.last)
		}
	}
	return newest, nil
}

func (s *s3Store) Units(ctx context.Context, t *table) ([]unit, error) {
	var out []unit
	for _, p := range t.parts() {
		var objs []s3sink.Object
		var err error
		if p.changeLog {
			objs, err = s.r.Objects(ctx, p.name)
		} else {
			objs, err = s.r.Files(ctx, p.name, p.format)
		}
		if err != nil {
			return nil, err
		}
		var ver *table
		if p != t {
			ver = p
		}
		for _, o := range objs {
			out = append(out, unit{name: o.Key, first: o.First, last: o.Last, mod: o.Modified, ref: o, ver: ver})
		}
	}
	if len(t.older) > 0 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].first < out[j].first })
	}
	return out, nil
}

func (s *s3Store) Read(ctx context.Context, t *table, u unit, fn func([]event.Value) error) error {
	layout := t.layout
	if u.ver != nil {
		layout = u.ver.layout
	}
	return s.r.Read(ctx, odsfile.NewRowReader(layout), u.ref.(s3sink.Object), fn)
}
