package s3

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestReaderSchemaFileIsCurrent: layout files are named by a hash, and
// several written within one second share a modification time, so the
// reader takes current.json (the sink writes it after each layout file)
// and falls back to the newest v*.json only without it.
func TestReaderSchemaFileIsCurrent(t *testing.T) {
	srv, bucket := server(t)
	cl := srv.Client()
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if _, err := cl.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("p/" + key),
			Body: bytes.NewReader([]byte(body))}); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(cl, bucket, "p", t.TempDir())
	// Within one second: the newest layout's file sorts first by name.
	put("t/_schema/vffffffffffffffff.json", `{"layout":"old"}`)
	put("t/_schema/v0000000000000001.json", `{"layout":"new"}`)
	put("t/_schema/current.json", `{"layout":"new"}`)
	b, key, err := r.SchemaFile(ctx, "t")
	if err != nil || string(b) != `{"layout":"new"}` || key != "p/t/_schema/current.json" {
		t.Errorf("SchemaFile: %s from %s (%v), want the new layout from current.json", b, key, err)
	}
	// A bucket without current.json: the newest layout file.
	put("u/_schema/v0000000000000001.json", `{"layout":"only"}`)
	if b, _, err := r.SchemaFile(ctx, "u"); err != nil || string(b) != `{"layout":"only"}` {
		t.Errorf("SchemaFile without current.json: %s (%v)", b, err)
	}
	if b, _, err := r.SchemaFile(ctx, "none"); err != nil || b != nil {
		t.Errorf("SchemaFile of a table without schema files: %s (%v), want nil", b, err)
	}
}
