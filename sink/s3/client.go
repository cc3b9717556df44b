package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// store puts objects into the bucket.
type store struct {
	cl     *s3.Client
	bucket string
	cfg    *Config
}

// newStore builds the S3 client (NewClient). It makes no request.
func newStore(ctx context.Context, cfg *Config) (*store, error) {
	cl, err := NewClient(ctx, *cfg)
	if err != nil {
		return nil, err
	}
	return &store{cl: cl, bucket: cfg.Bucket, cfg: cfg}, nil
}

// NewClient builds the S3 client of a sink configuration: static keys or
// the AWS chain (Profile), Region (call EnsureDefaults first for the
// us-east-1 default of custom endpoints), custom Endpoint and path style,
// TLS options; checksums only where required, 3 attempts per request.
// `odsync verify` reads the bucket with it. It makes no request.
func NewClient(ctx context.Context, cfg Config) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.TLS.CAFile != "" || cfg.TLS.InsecureSkipVerify {
		tc := &tls.Config{InsecureSkipVerify: cfg.TLS.InsecureSkipVerify} //nolint:gosec // opt-in for testing
		if cfg.TLS.CAFile != "" {
			pem, err := os.ReadFile(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("s3 sink: tls.ca_file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("s3 sink: tls.ca_file %s: no PEM certificates", cfg.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.TLSClientConfig = tc })
		opts = append(opts, awsconfig.WithHTTPClient(hc))
	}
	// Other S3-compatible stores often lack the newer default checksums;
	// payloads are still signed (SHA-256) or protected by TLS.
	opts = append(opts, awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		awsconfig.WithRetryMaxAttempts(3))
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 sink: AWS configuration: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("s3 sink: no region: set region in the config or AWS_REGION")
	}
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	}), nil
}

func (st *store) putInput(key, contentType string) *s3.PutObjectInput {
	in := &s3.PutObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key), ContentType: aws.String(contentType)}
	st.objectOptions(&in.StorageClass, &in.ServerSideEncryption, &in.SSEKMSKeyId)
	return in
}

func (st *store) objectOptions(sc *types.StorageClass, sse *types.ServerSideEncryption, kms **string) {
	if st.cfg.StorageClass != "" {
		*sc = types.StorageClass(st.cfg.StorageClass)
	}
	if st.cfg.ServerSideEncryption != "" {
		*sse = types.ServerSideEncryption(st.cfg.ServerSideEncryption)
	}
	if st.cfg.KMSKeyID != "" {
		*kms = aws.String(st.cfg.KMSKeyID)
	}
}

// putBytes uploads a small object.
func (st *store) putBytes(ctx context.Context, key string, data []byte, contentType string) error {
	in := st.putInput(key, contentType)
	in.Body = bytes.NewReader(data)
	in.ContentLength = aws.Int64(int64(len(data)))
	if _, err := st.cl.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", st.bucket, key, err)
	}
	return nil
}

// putFile uploads size bytes of f: one PutObject up to the part size,
// a multipart upload beyond. Bodies are seekable sections of the file, so
// memory does not grow with the object.
func (st *store) putFile(ctx context.Context, key string, f *os.File, size int64, contentType string) error {
	if size <= int64(st.cfg.PartSize) {
		in := st.putInput(key, contentType)
		in.Body = io.NewSectionReader(f, 0, size)
		in.ContentLength = aws.Int64(size)
		if _, err := st.cl.PutObject(ctx, in); err != nil {
			return fmt.Errorf("put s3://%s/%s: %w", st.bucket, key, err)
		}
		return nil
	}
	st.abortStale(ctx, key)
	cin := &s3.CreateMultipartUploadInput{Bucket: aws.String(st.bucket), Key: aws.String(key), ContentType: aws.String(contentType)}
	st.objectOptions(&cin.StorageClass, &cin.ServerSideEncryption, &cin.SSEKMSKeyId)
	cr, err := st.cl.CreateMultipartUpload(ctx, cin)
	if err != nil {
		return fmt.Errorf("multipart upload s3://%s/%s: create: %w", st.bucket, key, err)
	}
	abort := func() {
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = st.cl.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(st.bucket),
			Key: aws.String(key), UploadId: cr.UploadId})
	}
	var parts []types.CompletedPart
	part := int64(st.cfg.PartSize)
	for off, n := int64(0), int32(1); off < size; off, n = off+part, n+1 {
		l := min(part, size-off)
		out, err := st.cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(st.bucket), Key: aws.String(key),
			UploadId: cr.UploadId, PartNumber: aws.Int32(n), Body: io.NewSectionReader(f, off, l), ContentLength: aws.Int64(l)})
		if err != nil {
			abort()
			return fmt.Errorf("multipart upload s3://%s/%s: part %d: %w", st.bucket, key, n, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = st.cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(st.bucket),
		Key: aws.String(key), UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		abort()
		return fmt.Errorf("multipart upload s3://%s/%s: complete: %w", st.bucket, key, err)
	}
	return nil
}

// abortStale aborts unfinished multipart uploads of key (left by a crash),
// best effort.
func (st *store) abortStale(ctx context.Context, key string) {
	out, err := st.cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(st.bucket), Prefix: aws.String(key)})
	if err != nil {
		return
	}
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			_, _ = st.cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(st.bucket),
				Key: u.Key, UploadId: u.UploadId})
		}
	}
}

// Check verifies that the bucket is reachable and writable: it puts and
// deletes a probe object under the prefix.
func Check(ctx context.Context, cfg Config) error {
	cfg.EnsureDefaults()
	st, err := newStore(ctx, &cfg)
	if err != nil {
		return err
	}
	if _, err := st.cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		return fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	key := objectKey(cfg.Prefix, fmt.Sprintf("_odsync_check_%d", time.Now().UnixNano()))
	if err := st.putBytes(ctx, key, []byte("odsync check\n"), "text/plain"); err != nil {
		return err
	}
	if _, err := st.cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", cfg.Bucket, key, err)
	}
	return nil
}

// objectKey joins the prefix and a relative name.
func objectKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

// exists reports whether an object exists.
func (st *store) exists(ctx context.Context, key string) (bool, error) {
	_, err := st.cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("head s3://%s/%s: %w", st.bucket, key, err)
}

// getBytes reads a small object; nil without error when it does not exist.
func (st *store) getBytes(ctx context.Context, key string) ([]byte, error) {
	out, err := st.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", st.bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", st.bucket, key, err)
	}
	return b, nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re *awshttp.ResponseError
	return errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound)
}

// list calls fn for every object under prefix (and, with a delimiter, for
// every common prefix, as a key ending in the delimiter).
func (st *store) list(ctx context.Context, prefix, delimiter string, fn func(key string, modified time.Time)) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket), Prefix: aws.String(prefix)}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	p := s3.NewListObjectsV2Paginator(st.cl, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", st.bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			fn(aws.ToString(cp.Prefix), time.Time{})
		}
		for _, o := range page.Contents {
			fn(aws.ToString(o.Key), aws.ToTime(o.LastModified))
		}
	}
	return nil
}

// currentLayout finds the schema file of the current layout of target base
// under prefix: the highest table version ({base}, {base}_v2, ...), its
// _schema/current.json, else its newest _schema/v*.json (by modification
// time, then name). body is nil when the target has none.
func (st *store) currentLayout(ctx context.Context, prefix, base string) (key string, body []byte, err error) {
	root := objectKey(prefix, "") // "" or "prefix/"
	name, ver := "", 0
	err = st.list(ctx, root+base, "/", func(k string, _ time.Time) {
		n := strings.TrimSuffix(strings.TrimPrefix(k, root), "/")
		if !strings.HasSuffix(k, "/") {
			return
		}
		v := 0
		switch {
		case n == base:
			v = 1
		case strings.HasPrefix(n, base+"_v"):
			if x, err := strconv.Atoi(n[len(base)+2:]); err == nil && x >= 2 {
				v = x
			}
		}
		if v > ver {
			name, ver = n, v
		}
	})
	if err != nil || name == "" {
		return "", nil, err
	}
	key = root + name + "/_schema/current.json"
	if body, err = st.getBytes(ctx, key); err != nil || body != nil {
		return key, body, err
	}
	var newest string
	var newestT time.Time
	err = st.list(ctx, root+name+"/_schema/v", "", func(k string, mod time.Time) {
		if !strings.HasSuffix(k, ".json") {
			return
		}
		if newest == "" || mod.After(newestT) || mod.Equal(newestT) && k > newest {
			newest, newestT = k, mod
		}
	})
	if err != nil || newest == "" {
		return "", nil, err
	}
	body, err = st.getBytes(ctx, newest)
	return newest, body, err
}
