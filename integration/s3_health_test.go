package integration

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/integration/harness"
)

// TestS3FailuresAreVisible: uploads that fail (a bucket that does not
// exist; a wrong secret) make the sink not writable on /status, fail
// /readyz after ready_sink_failures, show in metrics, and the sink's lag
// counts what is not in the bucket, however much is spooled.
func TestS3FailuresAreVisible(t *testing.T) {
	srv := startS3(t)
	s3Env(t, srv)
	db0 := harness.MariaDB(t)
	db, err := db0.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS s3h", "CREATE DATABASE s3h", "CREATE TABLE s3h.t (id INT PRIMARY KEY, v VARCHAR(20))")
	for _, tc := range []struct{ name, edit, want string }{
		{"no such bucket", "bucket: ods\n", "bucket: nosuchbucket\n"},
		{"wrong secret", "secret_access_key: ${ODSYNC_TEST_S3_SECRET}", "secret_access_key: wrong-secret-value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			roll := "file_size: 1MiB\nmin_file_size: 1KiB\nflush_interval: 1s\nmax_age: 1s\ncheckpoint_interval: 200ms\nmax_backoff: 1s"
			cfg := s3RunConfig(t, dir, db0.Addr(), "s3h", s3SinkYAML(srv, "s3", "h", roll, ""))
			text := strings.Replace(readFile(t, cfg), tc.edit, tc.want, 1)
			harness.WriteFile(t, cfg, text+"admin:\n  addr: 127.0.0.1:0\n  ready_sink_failures: 1s\ntelemetry:\n  sample_interval: 250ms\n")
			p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
			defer p.Stop(30 * time.Second)
			base := waitAdmin(t, p)
			waitRunning(t, p)
			mustExec(t, db, "INSERT INTO s3h.t VALUES (1, 'a'), (2, 'b') ON DUPLICATE KEY UPDATE v = VALUES(v)")
			var doc admin.Document
			harness.Eventually(t, 60*time.Second, "/readyz to fail on the sink", func() (bool, string) {
				code, body := adminGet(t, base+"/readyz")
				return code == 503 && strings.Contains(body, "sink s3"), body
			})
			_, body := adminGet(t, base+"/status")
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, s := range doc.Sinks {
				if s.Name != "s3" {
					continue
				}
				found = true
				if s.Writable || s.ConsecutiveFailures == 0 || s.FailingSince == nil || s.LastError == "" || s.Retries == 0 {
					t.Errorf("sink status does not show the failure: %+v", s)
				}
				if s.Durable == nil || s.LagEvents == 0 || s.BufferedBytes == 0 {
					t.Errorf("sink lag ignores that nothing reached the bucket: %+v", s)
				}
				if strings.Contains(s.LastError, "wrong-secret-value") {
					t.Errorf("the secret is in the status: %s", s.LastError)
				}
			}
			if !found {
				t.Fatalf("no sink s3 in /status:\n%s", body)
			}
			_, metrics := adminGet(t, base+"/metrics")
			m := regexp.MustCompile(`odsync_sink_failures_consecutive(?:_[a-z]+)?\{[^}]*sink="s3"[^}]*\} ([0-9.e+]+)`).FindStringSubmatch(metrics)
			if m == nil {
				t.Fatalf("no odsync_sink_failures_consecutive for s3 in /metrics")
			}
			if v, _ := strconv.ParseFloat(m[1], 64); v < 1 {
				t.Errorf("odsync_sink_failures_consecutive = %s, want >= 1", m[1])
			}
			if !regexp.MustCompile(`odsync_sink_delivery_retries(?:_[a-z]+)*\{[^}]*sink="s3"`).MatchString(metrics) {
				t.Errorf("no odsync_sink_delivery_retries for s3 in /metrics")
			}
		})
	}
}
