package warehouse

import (
	"context"
	"fmt"
	"sort"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink/odsfile"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// s3Store reads tables under an S3 prefix through the S3 sink's reader.
type s3Store struct {
	r        *s3sink.Reader
	cfg      ReadSettings
	external []TableConfig
}

func (s *s3Store) Describe() string { return s.r.Describe() }

// Tables returns the configured tables, or every odsync table found.
func (s *s3Store) Tables(ctx context.Context) ([]*table, error) {
	names := s.cfg.Tables
	if len(names) == 0 && len(s.external) == 0 {
		all, err := s.r.Tables(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range all {
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
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
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
	var objs []s3sink.Object
	var err error
	if t.changeLog {
		objs, err = s.r.Objects(ctx, t.name)
	} else {
		objs, err = s.r.Files(ctx, t.name, t.format)
	}
	if err != nil {
		return nil, err
	}
	out := make([]unit, len(objs))
	for i, o := range objs {
		out[i] = unit{name: o.Key, first: o.First, last: o.Last, ref: o}
	}
	return out, nil
}

func (s *s3Store) Read(ctx context.Context, t *table, u unit, fn func([]event.Value) error) error {
	return s.r.Read(ctx, odsfile.NewRowReader(t.layout), u.ref.(s3sink.Object), fn)
}
