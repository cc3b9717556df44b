package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
	"github.com/odsync/odsync/sink/readback"
)

// Reader reads the ODS tables of an S3 sink: objects
// {prefix}/{table}/{partition}=.../{first}-{last}.{parquet|csv|jsonl}, the
// schema objects {prefix}/{table}/_schema/v*.json and the sink's
// {prefix}/_checkpoint.json (how far the bucket is complete).
type Reader struct {
	cl     *s3.Client
	bucket string
	prefix string
	tmpDir string
}

// NewReader returns a reader for the bucket and prefix of an S3 sink,
// through the sink's client (its credentials, endpoint, path style and TLS
// settings). Parquet objects are downloaded to tmpDir ("": the system's)
// to be read; other formats are streamed. It makes no request.
func NewReader(cl *s3.Client, bucket, prefix, tmpDir string) *Reader {
	return &Reader{cl: cl, bucket: bucket, prefix: strings.Trim(prefix, "/"), tmpDir: tmpDir}
}

// Describe names the target.
func (r *Reader) Describe() string { return "s3://" + path.Join(r.bucket, r.prefix) }

func (r *Reader) key(rel string) string {
	if r.prefix == "" {
		return rel
	}
	return r.prefix + "/" + rel
}

// list calls fn with every object under the relative prefix.
func (r *Reader) list(ctx context.Context, rel string, fn func(o types.Object) error) error {
	p := s3.NewListObjectsV2Paginator(r.cl, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(r.key(rel))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// tables lists the table "directories" directly under the prefix.
func (r *Reader) tables(ctx context.Context, base string) ([]string, error) {
	var out []string
	in := &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(r.key(base)), Delimiter: aws.String("/")}
	p := s3.NewListObjectsV2Paginator(r.cl, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), r.key("")), "/")
			out = append(out, name)
		}
	}
	return out, nil
}

func (r *Reader) get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := r.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// Layout finds the newest version of the table and reads its newest schema
// object (by modification time).
func (r *Reader) Layout(ctx context.Context, base string) (readback.Layout, error) {
	names, err := r.tables(ctx, base)
	if err != nil {
		return readback.Layout{}, fmt.Errorf("s3 reader: list %s: %w", r.Describe(), err)
	}
	name, ver := "", 0
	for _, n := range names {
		if v, ok := readback.VersionOf(n, base); ok && v > ver {
			name, ver = n, v
		}
	}
	if name == "" {
		return readback.Layout{}, nil
	}
	var newest types.Object
	err = r.list(ctx, name+"/_schema/", func(o types.Object) error {
		if !strings.HasSuffix(aws.ToString(o.Key), ".json") {
			return nil
		}
		if newest.Key == nil || aws.ToTime(o.LastModified).After(aws.ToTime(newest.LastModified)) ||
			aws.ToTime(o.LastModified).Equal(aws.ToTime(newest.LastModified)) && aws.ToString(o.Key) > aws.ToString(newest.Key) {
			newest = o
		}
		return nil
	})
	if err != nil {
		return readback.Layout{}, fmt.Errorf("s3 reader: list schemas of %s: %w", name, err)
	}
	if newest.Key == nil {
		return readback.Layout{Found: true, Name: name, Existing: schema.Existing{Version: ver}}, nil
	}
	body, err := r.get(ctx, aws.ToString(newest.Key))
	if err != nil {
		return readback.Layout{}, fmt.Errorf("s3 reader: %s: %w", aws.ToString(newest.Key), err)
	}
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	body.Close()
	if err != nil {
		return readback.Layout{}, fmt.Errorf("s3 reader: %s: %w", aws.ToString(newest.Key), err)
	}
	l, err := readback.LayoutFromSchemaJSON(b)
	if err != nil {
		return readback.Layout{}, fmt.Errorf("s3 reader: %s: %w", aws.ToString(newest.Key), err)
	}
	l.Name = name
	if l.Existing.Version < ver {
		l.Existing.Version = ver
	}
	return l, nil
}

// Scan decodes the table's data objects not read before (an object's name
// is its sequence range and its content never changes).
func (r *Reader) Scan(ctx context.Context, t *schema.Target, since readback.Mark, fn func([]event.Value) error) (readback.Mark, error) {
	next := readback.Mark{Time: time.Now(), Seen: since.Seen}
	if next.Seen == nil {
		next.Seen = map[string]struct{}{}
	}
	type obj struct {
		key   string
		first uint64
		ext   string
	}
	var objs []obj
	err := r.list(ctx, t.Name+"/", func(o types.Object) error {
		k := aws.ToString(o.Key)
		rel := strings.TrimPrefix(k, r.key(t.Name)+"/")
		if strings.HasPrefix(rel, "_") || !strings.Contains(rel, "=") {
			return nil
		}
		first, _, ext, ok := readback.ParseSeqRange(path.Base(rel))
		if !ok {
			return nil
		}
		switch ext {
		case odsfile.FormatJSONL, odsfile.FormatCSV, odsfile.FormatParquet:
		default:
			return nil
		}
		if _, ok := next.Seen[k]; ok {
			return nil
		}
		objs = append(objs, obj{k, first, ext})
		return nil
	})
	if err != nil {
		return since, fmt.Errorf("s3 reader: list %s: %w", t.Name, err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].first < objs[j].first })
	d := odsfile.NewRowReader(t)
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return since, err
		}
		if err := r.decode(ctx, d, o.key, o.ext, fn); err != nil {
			return since, fmt.Errorf("s3 reader: %s: %w", o.key, err)
		}
		next.Seen[o.key] = struct{}{}
	}
	return next, nil
}

func (r *Reader) decode(ctx context.Context, d *odsfile.RowReader, key, ext string, fn func([]event.Value) error) error {
	body, err := r.get(ctx, key)
	if err != nil {
		return err
	}
	defer body.Close()
	switch ext {
	case odsfile.FormatJSONL:
		return d.ReadJSONLines(body, fn)
	case odsfile.FormatCSV:
		return d.ReadCSV(body, fn)
	}
	// Parquet needs random access: spool the object to a temporary file.
	f, err := os.CreateTemp(r.tmpDir, "odsync-read-*.parquet")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, body)
	if err != nil {
		return err
	}
	return d.ReadParquet(f, n, fn)
}

// s3Checkpoint is the part of the S3 sink's _checkpoint.json used here.
type s3Checkpoint struct {
	CompleteSeq      uint64 `json:"complete_seq"`
	CompleteBeforeUS int64  `json:"complete_before_us"`
}

// Progress reads the sink's checkpoint object: every change committed
// before complete_before is in the bucket.
func (r *Reader) Progress(ctx context.Context, table string) (readback.Progress, error) {
	body, err := r.get(ctx, r.key("_checkpoint.json"))
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return readback.Progress{}, nil
		}
		return readback.Progress{}, fmt.Errorf("s3 reader: checkpoint: %w", err)
	}
	defer body.Close()
	var c s3Checkpoint
	if err := json.NewDecoder(io.LimitReader(body, 16<<20)).Decode(&c); err != nil {
		return readback.Progress{}, fmt.Errorf("s3 reader: checkpoint: %w", err)
	}
	return readback.Progress{Seq: c.CompleteSeq, CompleteBeforeMicros: c.CompleteBeforeUS, Durable: true}, nil
}
