package integration

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// TestS3OutageResumes stops the S3 server for 30 s while changes keep
// coming: odsync keeps spooling, retries its uploads, and once the server
// is back every change lands exactly once; its memory stays bounded.
func TestS3OutageResumes(t *testing.T) {
	srv := startS3(t)
	s3Env(t, srv)
	db0 := harness.MariaDB(t)
	db, err := db0.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS s3o", "CREATE DATABASE s3o",
		"CREATE TABLE s3o.t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))")
	dir := t.TempDir()
	cfg := s3RunConfig(t, dir, db0.Addr(), "s3o", s3SinkYAML(srv, "lake", "ods", s3Rolling+"\nmax_backoff: 2s", ""))
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)
	pid := pidOf(t, cfg)
	if pid == 0 {
		t.Fatal("cannot find the odsync process")
	}

	ctx, stopLoad := context.WithCancel(context.Background())
	w := &writer{}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); w.run(ctx, db, "s3o.t", 5) }()

	sample := func(d time.Duration) (peak int64) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if p.Exited() {
				t.Fatalf("odsync exited:\n%s", readFile(t, logPath))
			}
			peak = max(peak, rssOf(pid))
		}
		return peak
	}
	before := sample(4 * time.Second)
	srv.Stop()
	t.Log("S3 server stopped")
	during := sample(30 * time.Second)
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Log("S3 server restarted")
	after := sample(3 * time.Second)
	stopLoad()
	<-loadDone
	if len(w.errs) > 0 {
		t.Fatalf("write load failed: %v", w.errs)
	}
	want := w.ops
	t.Logf("%d row changes; peak RSS before %d MiB, during the outage %d MiB, after %d MiB",
		len(want), before>>20, during>>20, after>>20)
	harness.Eventually(t, 90*time.Second, "every change in S3", func() (bool, string) {
		var cp s3sink.Checkpoint
		b := s3Objects(t, srv, "ods")["_checkpoint.json"]
		if err := json.Unmarshal(b, &cp); err != nil || len(cp.Pending) > 0 || cp.CompleteSeq < uint64(len(want)) {
			return false, string(b)
		}
		return true, ""
	})
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}
	checkExactlyOnce(t, readS3Rows(t, srv, "ods"), want)
	log := readFile(t, logPath)
	if !strings.Contains(log, "upload failed; retrying") {
		t.Errorf("no upload retry logged during the outage:\n%s", log)
	}
	if strings.Contains(log, "panic") {
		t.Fatalf("odsync panicked:\n%s", log)
	}
	// Memory is bounded by configuration (batch, row group, part size),
	// not by what piles up during the outage (that waits on disk).
	const limit = 256 << 20
	if during > limit || after > limit {
		t.Errorf("peak RSS %d MiB during / %d MiB after the outage exceeds %d MiB", during>>20, after>>20, limit>>20)
	}
	if during > before+96<<20 {
		t.Errorf("RSS grew from %d MiB to %d MiB during the outage", before>>20, during>>20)
	}
}
