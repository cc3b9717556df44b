package s3server

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/harness/buildcache"
)

// The server binary comes from the test cache at its pinned path (CI
// caches that directory), and a started server stores and returns objects.
func TestStartPutGet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := Binary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := buildcache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "versitygw-"+Version, "versitygw"); bin != want {
		t.Fatalf("binary at %s, want %s", bin, want)
	}
	srv, err := Start(ctx, Options{Buckets: []string{"bucket-one"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %s is not loopback", srv.Endpoint)
	}
	c := srv.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket-one"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket-one"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, err := io.ReadAll(out.Body); err != nil || string(b) != "v" {
		t.Fatalf("got %q, %v", b, err)
	}
}
