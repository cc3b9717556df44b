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
	b, key, err := r.SchemaFile(ctx, name)
	if err != nil {
		return readback.Layout{}, err
	}
	if b == nil {
		return readback.Layout{Found: true, Name: name, Existing: schema.Existing{Version: ver}}, nil
	}
	l, err := readback.LayoutFromSchemaJSON(b)
	if err != nil {
		return readback.Layout{}, fmt.Errorf("s3 reader: %s: %w", key, err)
	}
	l.Name = name
	if l.Existing.Version < ver {
		l.Existing.Version = ver
	}
	return l, nil
}

// Tables lists the table "directories" under the prefix (names relative
// to it), odsync's and others.
func (r *Reader) Tables(ctx context.Context) ([]string, error) {
	names, err := r.tables(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("s3 reader: list %s: %w", r.Describe(), err)
	}
	return names, nil
}

// SchemaFile returns the content and key of the table's current schema
// object: _schema/current.json, the sink's copy of its current layout's
// schema file, written after it; else (a bucket from an older odsync) the
// newest v*.json by modification time. nil when it has none. The layout
// files are named by a hash, and several written within a second (a DDL
// script) have one modification time: their names cannot tell the newest.
func (r *Reader) SchemaFile(ctx context.Context, table string) ([]byte, string, error) {
	var newest, current types.Object
	err := r.list(ctx, table+"/_schema/", func(o types.Object) error {
		if !strings.HasSuffix(aws.ToString(o.Key), ".json") {
			return nil
		}
		if path.Base(aws.ToString(o.Key)) == currentSchema {
			current = o
			return nil
		}
		if newest.Key == nil || aws.ToTime(o.LastModified).After(aws.ToTime(newest.LastModified)) ||
			aws.ToTime(o.LastModified).Equal(aws.ToTime(newest.LastModified)) && aws.ToString(o.Key) > aws.ToString(newest.Key) {
			newest = o
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("s3 reader: list schemas of %s: %w", table, err)
	}
	if current.Key != nil {
		newest = current
	}
	if newest.Key == nil {
		return nil, "", nil
	}
	key := aws.ToString(newest.Key)
	body, err := r.get(ctx, key)
	if err != nil {
		return nil, key, fmt.Errorf("s3 reader: %s: %w", key, err)
	}
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	body.Close()
	if err != nil {
		return nil, key, fmt.Errorf("s3 reader: %s: %w", key, err)
	}
	return b, key, nil
}

// Object is one data object of an ODS table.
type Object struct {
	// Key is the object's key in the bucket.
	Key string
	// First and Last are the _seq range its name gives (odsync's objects;
	// 0 for others).
	First, Last uint64
	// Format is the file format (parquet, csv, jsonl).
	Format string
	// Size in bytes and modification time.
	Size     int64
	Modified time.Time
}

// Objects lists the data objects of an odsync ODS table,
// {table}/{partition}=.../{first}-{last}.{ext}, sorted by First.
func (r *Reader) Objects(ctx context.Context, table string) ([]Object, error) {
	var objs []Object
	err := r.list(ctx, table+"/", func(o types.Object) error {
		k := aws.ToString(o.Key)
		rel := strings.TrimPrefix(k, r.key(table)+"/")
		if strings.HasPrefix(rel, "_") || !strings.Contains(rel, "=") {
			return nil
		}
		first, last, ext, ok := readback.ParseSeqRange(path.Base(rel))
		if !ok {
			return nil
		}
		switch ext {
		case odsfile.FormatJSONL, odsfile.FormatCSV, odsfile.FormatParquet:
		default:
			return nil
		}
		objs = append(objs, Object{Key: k, First: first, Last: last, Format: ext, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("s3 reader: list %s: %w", table, err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].First < objs[j].First })
	return objs, nil
}

// Files lists the data objects of a table written by another tool (an
// Athena/Glue table): every object under {table}/ whose name ends in
// .format, outside "_" and "." entries, sorted by key.
func (r *Reader) Files(ctx context.Context, table, format string) ([]Object, error) {
	var objs []Object
	err := r.list(ctx, table+"/", func(o types.Object) error {
		k := aws.ToString(o.Key)
		rel := strings.TrimPrefix(k, r.key(table)+"/")
		for _, part := range strings.Split(rel, "/") {
			if strings.HasPrefix(part, "_") || strings.HasPrefix(part, ".") {
				return nil
			}
		}
		if !strings.HasSuffix(rel, "."+format) {
			return nil
		}
		objs = append(objs, Object{Key: k, Format: format, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("s3 reader: list %s: %w", table, err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Read decodes one data object for layout t.
func (r *Reader) Read(ctx context.Context, d *odsfile.RowReader, o Object, fn func([]event.Value) error) error {
	if err := r.decode(ctx, d, o.Key, o.Format, fn); err != nil {
		return fmt.Errorf("s3 reader: %s: %w", o.Key, err)
	}
	return nil
}

// Scan decodes the table's data objects not read before (an object's name
// is its sequence range and its content never changes).
func (r *Reader) Scan(ctx context.Context, t *schema.Target, since readback.Mark, fn func([]event.Value) error) (readback.Mark, error) {
	next := readback.Mark{Time: time.Now(), Seen: since.Seen}
	if next.Seen == nil {
		next.Seen = map[string]struct{}{}
	}
	all, err := r.Objects(ctx, t.Name)
	if err != nil {
		return since, err
	}
	var objs []Object
	for _, o := range all {
		if _, ok := next.Seen[o.Key]; !ok {
			objs = append(objs, o)
		}
	}
	d := odsfile.NewRowReader(t)
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return since, err
		}
		if err := r.Read(ctx, d, o, fn); err != nil {
			return since, err
		}
		next.Seen[o.Key] = struct{}{}
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

// Complete returns the sink's complete_seq: every row with a _seq up to
// it is in the bucket (ok false: the bucket has no checkpoint object).
func (r *Reader) Complete(ctx context.Context) (seq uint64, ok bool, err error) {
	p, err := r.Progress(ctx, "")
	return p.Seq, p.Durable, err
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
