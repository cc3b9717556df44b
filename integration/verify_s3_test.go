package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/registry/builtin"
	"github.com/odsync/odsync/verify"
	"github.com/odsync/odsync/verify/mysqlsource"
)

// waitS3Complete waits until every spooled file of the S3 sink under
// prefix is uploaded (the checkpoint lists none pending) and objects of
// table exist.
func waitS3Complete(t *testing.T, srv *s3server.Server, prefix, table string) {
	t.Helper()
	harness.Eventually(t, 90*time.Second, "the S3 sink "+prefix+" to upload everything", func() (bool, string) {
		objs := s3Objects(t, srv, prefix)
		ck, ok := objs["_checkpoint.json"]
		if !ok {
			return false, "no checkpoint"
		}
		var c struct {
			CompleteSeq uint64            `json:"complete_seq"`
			Pending     []json.RawMessage `json:"pending"`
		}
		if err := json.Unmarshal(ck, &c); err != nil {
			return false, err.Error()
		}
		has := false
		for k := range objs {
			if strings.HasPrefix(k, table+"/ds=") {
				has = true
			}
		}
		return has && len(c.Pending) == 0, fmt.Sprintf("checkpoint %s, table objects %v", ck, has)
	})
}

// TestVerifyS3 verifies a MariaDB table against S3 sinks writing Parquet
// and CSV (read back from a real S3 server), before and after the source
// diverges.
func TestVerifyS3(t *testing.T) {
	s3 := startS3(t)
	s3Env(t, s3)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS vs3", "CREATE DATABASE vs3",
		`CREATE TABLE vs3.t (id BIGINT PRIMARY KEY, name VARCHAR(32), amount DECIMAL(30,4), u BIGINT UNSIGNED,
			f FLOAT, ts TIMESTAMP(6) NULL, dt DATETIME(3), day DATE, tm TIME(1), st SET('a','b'), bin BLOB, j JSON)`)
	var vals []string
	for i := 1; i <= 240; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'n,\"%d\"', %d.%04d, %d, %g, '2024-03-01 12:00:%02d.%06d', '2024-02-29 23:59:59.%03d', '2024-01-%02d', '%d:00:01.5', '%s', X'00%02X', '[%d, {\"a\": null}]')",
			i, i, i*1000003, i%10000, uint64(1)<<63+uint64(i), float32(i)/3, i%60, i*37, i%1000, 1+i%28, i%100,
			[]string{"", "a", "a,b"}[i%3], i%256, i))
	}
	// The rows exist before odsync starts: the initial snapshot copies them.
	mustExec(t, db, "INSERT INTO vs3.t VALUES "+strings.Join(vals, ", "))
	dir := t.TempDir()
	roll := "file_size: 8KiB\nmin_file_size: 1KiB\nflush_interval: 1s\nmax_age: 2s\ncheckpoint_interval: 200ms"
	cfgPath := s3RunConfig(t, dir, srv.Addr(), "vs3",
		s3SinkYAML(s3, "pq", "pq", "format: parquet\n"+roll, ""),
		s3SinkYAML(s3, "csv", "csv", "format: csv\n"+roll, ""))
	t.Log("S3 server up")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfgPath)
	waitRunning(t, p)
	t.Log("odsync running")
	mustExec(t, db, "UPDATE vs3.t SET name = NULL, f = 0.1 WHERE id % 9 = 0",
		"DELETE FROM vs3.t WHERE id % 37 = 0",
		"INSERT INTO vs3.t (id, name) VALUES (500, 'late')",
		"CREATE TABLE vs3.sentinel (id INT PRIMARY KEY)", "INSERT INTO vs3.sentinel VALUES (1)")
	waitS3Complete(t, s3, "pq", "ods_vs3_sentinel")
	waitS3Complete(t, s3, "csv", "ods_vs3_sentinel")
	t.Log("S3 sinks complete")

	cfg, err := config.Load(cfgPath, builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, err := verify.OpenSource(ctx, mysqlsource.Server(*cfg.Source.Settings.(*mysql.Config)), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var sinks []verify.Sink
	for _, s := range cfg.Sinks {
		r, err := s.Kind.VerifyReader(ctx, s.Settings, s.Name, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, verify.Sink{Name: s.Name, Reader: r})
	}
	run := func() *verify.Report {
		v, err := verify.New(src, cfg.Mapping, sinks, verify.Options{ChunkSize: 64, Settle: 3 * time.Second, Wait: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := v.Tables(ctx, []string{"vs3.t"})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := v.Run(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("verify: %.1fs", rep.Summary.Seconds)
		return rep
	}
	rep := run()
	if !rep.OK() || len(rep.Tables) != 2 {
		t.Fatalf("identical data through S3 (parquet, csv):\n%s", reportText(rep))
	}
	for _, tr := range rep.Tables {
		if tr.SourceRows != 235 || tr.TargetRows != 235 || tr.Chunks != 4 {
			t.Errorf("%s: %d source rows, %d target rows, %d chunks", tr.Sink, tr.SourceRows, tr.TargetRows, tr.Chunks)
		}
	}
	unlogged(t, db, "UPDATE vs3.t SET tm = '1:02:03' WHERE id = 100", "INSERT INTO vs3.t (id) VALUES (600)", "DELETE FROM vs3.t WHERE id = 201")
	rep = run()
	text := reportText(rep)
	ids := sourceIDs(t, db, "vs3.t")
	for _, tr := range rep.Tables {
		if tr.Status != verify.StatusMismatch || tr.Diffs.Changed != 1 || tr.Diffs.Missing != 1 || tr.Diffs.Extra != 1 {
			t.Errorf("%s: %s %+v\n%s", tr.Sink, tr.Status, tr.Diffs, text)
			continue
		}
		for _, w := range []struct {
			key, kind string
			id        int64
		}{{"id=100", verify.DiffChanged, 100}, {"id=600", verify.DiffMissing, 600}, {"id=201", verify.DiffExtra, 201}} {
			ch, ex := findExample(tr.ChunkList, w.key)
			if ex == nil || ex.Kind != w.kind || ch.Chunk != chunkOf(ids, w.id, 64) {
				t.Errorf("%s %s: %+v in %+v\n%s", tr.Sink, w.key, ex, ch, text)
			}
		}
	}
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Errorf("odsync stop: exit %d, %v", code, err)
	}
}
