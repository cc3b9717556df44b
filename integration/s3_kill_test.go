package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// s3Rolling makes files roll often during a short test: by size (16KiB of
// row data) and by age on the commit clock.
const s3Rolling = `format: parquet
file_size: 16KiB
min_file_size: 4KiB
flush_interval: 2s
max_age: 4s
checkpoint_interval: 200ms`

// TestS3Kill9LoopMatchesCleanRun runs two odsync processes on the same
// binlog into two prefixes: one is never interrupted, the other is killed
// with SIGKILL 12 times under load. Afterwards both prefixes must hold the
// same objects with the same bytes, and every change exactly once.
func TestS3Kill9LoopMatchesCleanRun(t *testing.T) {
	srv := startS3(t)
	s3Env(t, srv)
	db0 := harness.MariaDB(t)
	db, err := db0.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS s3k", "CREATE DATABASE s3k",
		"CREATE TABLE s3k.t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))")

	cleanDir, killDir := t.TempDir(), t.TempDir()
	// No wall-clock (idle) cuts: every cut is decided on the data, and the
	// last files are cut by the graceful stop once both took in everything.
	roll := s3Rolling + "\nidle_after: 1h"
	cleanCfg := s3RunConfig(t, cleanDir, db0.Addr(), "s3k", s3SinkYAML(srv, "lake", "clean", roll, "max_rows: 500\n      max_age: 300ms"))
	killCfg := s3RunConfig(t, killDir, db0.Addr(), "s3k", s3SinkYAML(srv, "lake", "killed", roll, "max_rows: 200\n      max_age: 50ms"))
	cleanLog, killLog := filepath.Join(cleanDir, "odsync.log"), filepath.Join(killDir, "odsync.log")

	// Both start (and take their start position) before the load begins.
	clean := harness.Start(t, cleanLog, "run", "-c", cleanCfg)
	p := harness.Start(t, killLog, "run", "-c", killCfg)
	waitRunning(t, clean)
	waitRunning(t, p)
	time.Sleep(300 * time.Millisecond)

	ctx, stopLoad := context.WithCancel(context.Background())
	w := &writer{}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); w.run(ctx, db, "s3k.t", 21) }()

	rng := rand.New(rand.NewPCG(31, 32))
	const kills = 12
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		if p.Exited() {
			t.Fatalf("odsync exited by itself before kill %d:\n%s", i, readFile(t, killLog))
		}
		p.Kill()
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		p = harness.Start(t, killLog, "run", "-c", killCfg)
	}
	time.Sleep(time.Second)
	stopLoad()
	<-loadDone
	if len(w.errs) > 0 {
		t.Fatalf("write load failed: %v", w.errs)
	}
	want := w.ops
	t.Logf("%d kills, %d row changes", kills, len(want))

	// Wait until both took in every change (uploaded or spooled), then
	// stop both gracefully: the stop cuts and uploads the last files.
	for _, prefix := range []string{"clean", "killed"} {
		harness.Eventually(t, 90*time.Second, prefix+" to take in every change", func() (bool, string) {
			var cp s3sink.Checkpoint
			b := s3Objects(t, srv, prefix)["_checkpoint.json"]
			if err := json.Unmarshal(b, &cp); err != nil {
				return false, string(b)
			}
			n := cp.CompleteSeq
			for _, p := range cp.Pending {
				n += uint64(p.Rows)
			}
			return n >= uint64(len(want)), string(b)
		})
	}
	for _, proc := range []*harness.Process{clean, p} {
		if code, err := proc.Stop(60 * time.Second); err != nil || code != 0 {
			t.Fatalf("SIGTERM: exit code %d, %v\n%s\n%s", code, err, readFile(t, cleanLog), readFile(t, killLog))
		}
	}
	for _, lg := range []string{cleanLog, killLog} {
		if s := readFile(t, lg); strings.Contains(s, "panic") {
			t.Fatalf("odsync panicked:\n%s", s)
		}
	}

	a, b := s3Objects(t, srv, "clean"), s3Objects(t, srv, "killed")
	var ka, kb []string
	for k := range a {
		if k != "_checkpoint.json" {
			ka = append(ka, k)
		}
	}
	for k := range b {
		if k != "_checkpoint.json" {
			kb = append(kb, k)
		}
	}
	sort.Strings(ka)
	sort.Strings(kb)
	data := 0
	for _, k := range ka {
		if isDataKey(k) {
			data++
		}
	}
	t.Logf("%d objects (%d data files) in each prefix", len(ka), data)
	if data < 5 {
		t.Errorf("only %d data files: rolling did not happen", data)
	}
	if strings.Join(ka, "\n") != strings.Join(kb, "\n") {
		t.Fatalf("object sets differ:\nclean:\n%s\nkilled:\n%s", strings.Join(ka, "\n"), strings.Join(kb, "\n"))
	}
	for _, k := range ka {
		// The Athena DDL (_schema/*.sql) names its prefix in LOCATION.
		if !bytes.Equal(a[k], bytes.ReplaceAll(b[k], []byte("/killed/"), []byte("/clean/"))) {
			t.Errorf("%s: contents differ (%d vs %d bytes)", k, len(a[k]), len(b[k]))
		}
	}
	checkExactlyOnce(t, readS3Rows(t, srv, "killed"), want)
	checkExactlyOnce(t, readS3Rows(t, srv, "clean"), want)
	// Files are named after the _seq range they hold.
	for _, r := range readS3Rows(t, srv, "killed") {
		var first, last uint64
		base := r.File[strings.LastIndex(r.File, "/")+1:]
		if _, err := fmt.Sscanf(base, "%d-%d.parquet", &first, &last); err != nil || r.Seq() < first || r.Seq() > last {
			t.Fatalf("row _seq %d in %s", r.Seq(), r.File)
		}
	}
	_ = os.Remove
}
