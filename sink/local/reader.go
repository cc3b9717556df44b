package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
	"github.com/odsync/odsync/sink/readback"
)

// markSlack is how far before a listing's start a file's modification
// time may lie and still count as new at the next Scan: a file can be
// written before a listing and renamed into place after it.
const markSlack = 30 * time.Second

// Reader reads the ODS tables of a local sink back (readback.Reader): {Dir}/{table}/
// {partition}=.../{first}-{last}.{jsonl|csv|parquet} and the schema files
// {Dir}/{table}/_schema/v*.json.
type Reader struct {
	Dir string
}

// NewReader returns a reader of the local sink rooted at dir.
func NewReader(dir string) *Reader { return &Reader{Dir: dir} }

// Describe names the target.
func (r *Reader) Describe() string { return "local " + r.Dir }

// Layout finds the newest version of the table and reads its newest schema
// file (by modification time); without one, the header of its newest data
// file gives the names.
func (r *Reader) Layout(ctx context.Context, base string) (readback.Layout, error) {
	entries, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return readback.Layout{}, nil
	}
	if err != nil {
		return readback.Layout{}, fmt.Errorf("local: %w", err)
	}
	name, ver := "", 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if v, ok := readback.VersionOf(e.Name(), base); ok && v > ver {
			name, ver = e.Name(), v
		}
	}
	if name == "" {
		return readback.Layout{}, nil
	}
	dir := filepath.Join(r.Dir, name)
	schemas, _ := filepath.Glob(filepath.Join(dir, "_schema", "*.json"))
	var newest string
	var newestT time.Time
	for _, s := range schemas {
		st, err := os.Stat(s)
		if err != nil {
			continue
		}
		if newest == "" || st.ModTime().After(newestT) || st.ModTime().Equal(newestT) && s > newest {
			newest, newestT = s, st.ModTime()
		}
	}
	if newest != "" {
		b, err := os.ReadFile(newest)
		if err != nil {
			return readback.Layout{}, fmt.Errorf("local: %w", err)
		}
		l, err := readback.LayoutFromSchemaJSON(b)
		if err != nil {
			return readback.Layout{}, fmt.Errorf("local: %s: %w", newest, err)
		}
		l.Name = name
		if l.Existing.Version < ver {
			l.Existing.Version = ver
		}
		return l, nil
	}
	// No schema file: the table exists but its types are unknown; the
	// caller then assumes the mapping's types.
	return readback.Layout{Found: true, Name: name, Existing: schema.Existing{Version: ver}}, nil
}

// localFile is one data file.
type localFile struct {
	path        string
	part        string
	first, last uint64
	ext         string
	mod         time.Time
}

// files lists the data files of a table (sorted by first sequence) whose
// modification time is not before since (zero: all).
func (r *Reader) files(table string, since time.Time) ([]localFile, error) {
	dir := filepath.Join(r.Dir, table)
	parts, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []localFile
	for _, p := range parts {
		if !p.IsDir() || !strings.Contains(p.Name(), "=") {
			continue
		}
		es, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, e := range es {
			first, last, ext, ok := readback.ParseSeqRange(e.Name())
			if !ok || e.IsDir() {
				continue
			}
			switch ext {
			case odsfile.FormatJSONL, odsfile.FormatCSV, odsfile.FormatParquet:
			default:
				continue // .tmp files and others
			}
			info, err := e.Info()
			if err != nil {
				continue // renamed or removed meanwhile
			}
			if !since.IsZero() && info.ModTime().Before(since.Add(-markSlack)) {
				continue
			}
			out = append(out, localFile{path: filepath.Join(dir, p.Name(), e.Name()), part: p.Name(),
				first: first, last: last, ext: ext, mod: info.ModTime()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first < out[j].first })
	return out, nil
}

// Scan decodes the table's data files modified since the mark.
func (r *Reader) Scan(ctx context.Context, t *schema.Target, since readback.Mark, fn func([]event.Value) error) (readback.Mark, error) {
	next := readback.Mark{Time: time.Now()}
	files, err := r.files(t.Name, since.Time)
	if err != nil {
		return since, fmt.Errorf("local: list %s: %w", t.Name, err)
	}
	d := odsfile.NewRowReader(t)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return since, err
		}
		if err := decodeLocalFile(d, f, fn); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return since, fmt.Errorf("local: %s: %w", f.path, err)
		}
	}
	return next, nil
}

func decodeLocalFile(d *odsfile.RowReader, f localFile, fn func([]event.Value) error) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer fh.Close()
	switch f.ext {
	case odsfile.FormatJSONL:
		return d.ReadJSONLines(fh, fn)
	case odsfile.FormatCSV:
		return d.ReadCSV(fh, fn)
	default:
		st, err := fh.Stat()
		if err != nil {
			return err
		}
		return d.ReadParquet(fh, st.Size(), fn)
	}
}

// Progress finds the newest data file of the sink (the highest last
// sequence, looking at each table's newest partition) and reads the _seq
// and _pos of its last row.
func (r *Reader) Progress(ctx context.Context, table string) (readback.Progress, error) {
	tables, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return readback.Progress{}, nil
	}
	if err != nil {
		return readback.Progress{}, err
	}
	var best localFile
	for _, tb := range tables {
		if !tb.IsDir() {
			continue
		}
		parts, err := os.ReadDir(filepath.Join(r.Dir, tb.Name()))
		if err != nil {
			continue
		}
		newest := ""
		for _, p := range parts {
			if p.IsDir() && strings.Contains(p.Name(), "=") && p.Name() > newest {
				newest = p.Name()
			}
		}
		if newest == "" {
			continue
		}
		es, err := os.ReadDir(filepath.Join(r.Dir, tb.Name(), newest))
		if err != nil {
			continue
		}
		for _, e := range es {
			first, last, ext, ok := readback.ParseSeqRange(e.Name())
			if !ok {
				continue
			}
			switch ext {
			case odsfile.FormatJSONL, odsfile.FormatCSV, odsfile.FormatParquet:
			default:
				continue
			}
			if last > best.last {
				best = localFile{path: filepath.Join(r.Dir, tb.Name(), newest, e.Name()), first: first, last: last, ext: ext}
			}
		}
	}
	if best.path == "" {
		return readback.Progress{}, nil
	}
	// Decode with a minimal layout: the metadata columns only.
	p, err := lastRowMeta(best)
	if err != nil {
		return readback.Progress{Seq: best.last, Durable: true}, nil
	}
	p.Durable = true
	return p, nil
}

func lastRowMeta(f localFile) (readback.Progress, error) {
	d := odsfile.NewRowReader(readback.MetaLayout())
	var p readback.Progress
	err := decodeLocalFile(d, f, func(row []event.Value) error {
		if seq, ok := readback.SeqValue(row[1]); ok && seq >= p.Seq {
			p.Seq = seq
			p.Pos = row[3].Str()
		}
		return nil
	})
	return p, err
}
