package integration

import (
	"net"
	"strings"
	"testing"

	"github.com/odsync/odsync/integration/harness"
)

// TestS3CheckExplains: odsync check names the failing S3 sink and says in
// plain words what to fix, for the usual causes.
func TestS3CheckExplains(t *testing.T) {
	srv := startS3(t)
	s3Env(t, srv)
	db0 := harness.MariaDB(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	for _, tc := range []struct{ name, from, to, want string }{
		{"no such bucket", "bucket: ods\n", "bucket: nosuchbucket\n", "does not exist"},
		{"wrong secret", "secret_access_key: ${ODSYNC_TEST_S3_SECRET}", "secret_access_key: wrong-secret", "secret"},
		{"nothing listening", "endpoint: " + srv.Endpoint, "endpoint: " + closed, "nothing listens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := s3RunConfig(t, dir, db0.Addr(), "x", s3SinkYAML(srv, "lake", "p", "max_backoff: 1s", ""))
			harness.WriteFile(t, cfg, strings.Replace(readFile(t, cfg), tc.from, tc.to, 1))
			code, out := runOdsync(t, "check", "-c", cfg)
			if code == 0 || !strings.Contains(out, "sink lake: FAILED") || !strings.Contains(out, "fix:") || !strings.Contains(out, tc.want) {
				t.Fatalf("check: exit %d, want the sink named with a fix mentioning %q:\n%s", code, tc.want, out)
			}
			if strings.Contains(out, "wrong-secret") {
				t.Fatalf("the secret is printed:\n%s", out)
			}
		})
	}
}
