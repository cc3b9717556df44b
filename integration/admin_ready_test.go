package integration

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/integration/harness"
)

// TestAdminReadyzFlipsWhenSourceGoesAway runs odsync against a private
// MariaDB of its own, waits for /readyz to say ready, stops the server and
// waits for /readyz to say not ready because of the source, while /healthz
// keeps answering; then odsync still stops gracefully with exit code 0.
func TestAdminReadyzFlipsWhenSourceGoesAway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, _, err := mariadb.Find(); err != nil {
		harness.Unavailable(t, "mariadbd (Debian package mariadb-server)", err)
	}
	srv, err := mariadb.Start(ctx, mariadb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Stop()
		}
	}()
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "CREATE DATABASE ready", "CREATE TABLE ready.t (id INT PRIMARY KEY, v VARCHAR(20))")

	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "ready", "")
	withAdmin(t, cfg, "")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	base := waitAdmin(t, p)
	waitRunning(t, p)

	harness.Eventually(t, 30*time.Second, "/readyz to be ready", func() (bool, string) {
		code, body := adminGet(t, base+"/readyz")
		return code == 200, body
	})
	mustExec(t, db, "INSERT INTO ready.t VALUES (1, 'a'), (2, 'b')")
	harness.Eventually(t, 30*time.Second, "the table in /status", func() (bool, string) {
		_, body := adminGet(t, base+"/status")
		var doc admin.Document
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			return false, err.Error()
		}
		for _, tb := range doc.Tables {
			if tb.Table == "ready.t" && tb.Captured["insert"] == 2 {
				return doc.Source.Connected && doc.Source.BytesBehind == 0, body
			}
		}
		return false, body
	})

	// The source goes away.
	srv.Stop()
	stopped = true
	var body string
	harness.Eventually(t, 30*time.Second, "/readyz to fail on the source", func() (bool, string) {
		var code int
		code, body = adminGet(t, base+"/readyz")
		return code == 503, body
	})
	var rd admin.Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatalf("/readyz body: %v\n%s", err, body)
	}
	failed := false
	for _, c := range rd.Checks {
		if c.Name == "source" && !c.OK && strings.Contains(c.Detail, "unreachable") {
			failed = true
		}
	}
	if !failed || rd.Ready {
		t.Errorf("/readyz does not blame the source: %s", body)
	}
	if code, b := adminGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz with the source gone = %d %s", code, b)
	}
	_, sb := adminGet(t, base+"/status")
	var doc admin.Document
	if err := json.Unmarshal([]byte(sb), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Source.Connected || doc.Source.Error == "" {
		t.Errorf("/status source = %+v", doc.Source)
	}
	if code, out := adminCmd(t, nil, "healthcheck", "--addr", strings.TrimPrefix(base, "http://"), "--ready"); code != 3 {
		t.Errorf("odsync healthcheck --ready with the source gone: exit %d, want 3\n%s", code, out)
	}
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM with the source gone: exit code %d, %v", code, err)
	}
}
