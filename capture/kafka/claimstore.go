package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxClaimBytes bounds a claim-check object.
const maxClaimBytes = 1 << 30

// claimName returns the object name of a claim-check location: TiCDC
// writes claimCheckLocation as <claim-check-storage-uri>/<name>; the
// consumer reads <name> under its own configured URI.
func claimName(location string) (string, error) {
	loc := location
	if u, err := url.Parse(location); err == nil && u.Path != "" {
		loc = u.Path
	}
	name := path.Base(strings.TrimRight(loc, "/"))
	if name == "" || name == "." || name == "/" || name == ".." {
		return "", fmt.Errorf("location %q names no object", location)
	}
	return name, nil
}

func newClaimStore(cfg *ClaimCheckConfig) (claimStore, error) {
	scheme, rest, err := parseClaimCheckURI(cfg.URI)
	if err != nil {
		return nil, err
	}
	if scheme == "file" {
		return &fileClaims{dir: rest}, nil
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	opts = append(opts, awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		awsconfig.WithRetryMaxAttempts(5))
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if ac.Region == "" {
		ac.Region = "us-east-1"
	}
	cl := s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &s3Claims{cl: cl, bucket: bucket, prefix: prefix, timeout: cfg.Timeout}, nil
}

// s3Claims reads claim-check objects from S3.
type s3Claims struct {
	cl      *s3.Client
	bucket  string
	prefix  string
	timeout time.Duration
}

func (c *s3Claims) read(ctx context.Context, location string) ([]byte, error) {
	name, err := claimName(location)
	if err != nil {
		return nil, err
	}
	key := name
	if c.prefix != "" {
		key = c.prefix + "/" + name
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := c.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", c.bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxClaimBytes+1))
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", c.bucket, key, err)
	}
	if len(b) > maxClaimBytes {
		return nil, fmt.Errorf("s3://%s/%s is larger than %d bytes", c.bucket, key, maxClaimBytes)
	}
	return b, nil
}

func (c *s3Claims) close() error { return nil }

// fileClaims reads claim-check objects from a local directory.
type fileClaims struct{ dir string }

func (c *fileClaims) read(_ context.Context, location string) ([]byte, error) {
	name, err := claimName(location)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(c.dir, name)
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxClaimBytes {
		return nil, errors.New(p + " is too large")
	}
	return os.ReadFile(p)
}

func (c *fileClaims) close() error { return nil }
