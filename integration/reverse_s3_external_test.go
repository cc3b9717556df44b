package integration

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
)

// TestReverseS3ExternalToMySQL follows tables of other tools into
// MariaDB through the odsync binary: after the full load, new objects in
// an existing Hive partition and new partitions arrive, the job is killed
// (-9) while it reads them and restarted; the keyed table ends with every
// key's newest row, the keyless one with every row exactly once.
func TestReverseS3ExternalToMySQL(t *testing.T) {
	srv := startS3(t)
	env := []string{"ODSYNC_TEST_S3_KEY=" + srv.AccessKey, "ODSYNC_TEST_S3_SECRET=" + srv.SecretKey, "AWS_EC2_METADATA_DISABLED=true"}
	tg, err := schema.ExistingTarget("dim", schema.Existing{Version: 1, Columns: []schema.ExistingColumn{{Name: "id", Type: "int"}, {Name: "name", Type: "string"}}})
	if err != nil {
		t.Fatal(err)
	}
	parquet := func(key string, from, to int, name string) {
		t.Helper()
		var buf bytes.Buffer
		w, err := odsfile.NewParquet(&buf, tg, "snappy", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for id := from; id <= to; id++ {
			if err := w.WriteRow([]event.Value{event.Int(int64(id)), event.String(fmt.Sprintf("%s%d", name, id))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		kitS3Put(t, srv, "ext/dim/"+key, buf.Bytes())
	}
	csv := func(key string, from, to int) {
		t.Helper()
		var b strings.Builder
		for id := from; id <= to; id++ {
			fmt.Fprintf(&b, "\"%d\",\"e%d\"\n", id, id)
		}
		kitS3Put(t, srv, "ext/events/"+key, []byte(b.String()))
	}
	parquet("dt=2024-05-01/part-0000.parquet", 1, 30, "a")
	csv("dt=2024-05-01/a.csv", 1, 20)

	mk := kitMySQLSink(t)
	db := "rv_ext"
	rv := &kitRun{t: t, sink: &kitSink{target: mk.target, env: env}, dir: t.TempDir()}
	rv.cfg = filepath.Join(rv.dir, "reverse.yaml")
	rv.log = filepath.Join(rv.dir, "reverse.log")
	harness.WriteFile(t, rv.cfg, fmt.Sprintf(`state:
  dir: %s
admin:
  addr: 127.0.0.1:0
source:
  type: s3
  s3:
    bucket: ods
    prefix: ext
    endpoint: %s
    path_style: true
    access_key_id: ${ODSYNC_TEST_S3_KEY}
    secret_access_key: ${ODSYNC_TEST_S3_SECRET}
    poll_interval: 200ms
    batch_rows: 7
    window_objects: 2
    external:
      - name: dim
        database: %[3]s
        columns: [{name: id, type: int}, {name: name, type: varchar(64)}]
        key: [id]
      - name: events
        format: csv
        database: %[3]s
        columns: [{name: id, type: int}, {name: name, type: varchar(64)}]
sinks:
%s`, filepath.Join(rv.dir, "state"), srv.Endpoint, db, mk.entry))
	start := func() {
		t.Helper()
		rv.p = harness.StartBinary(t, harness.Binary(t), env, rv.log, "run", "-c", rv.cfg)
	}
	// state is what the target holds: per table the row count, distinct
	// ids and (dim) the names' digest.
	state := func() string {
		var dim, ev string
		if err := mk.target.QueryRow(fmt.Sprintf("SELECT CONCAT(COUNT(*), ' ', COUNT(DISTINCT id), ' ', COALESCE(SUM(CRC32(name)), 0)) FROM %s.dim", db)).Scan(&dim); err != nil {
			return err.Error()
		}
		if err := mk.target.QueryRow(fmt.Sprintf("SELECT CONCAT(COUNT(*), ' ', COUNT(DISTINCT id)) FROM %s.events", db)).Scan(&ev); err != nil {
			return err.Error()
		}
		return "dim " + dim + "; events " + ev
	}
	want := func(dim map[int]string, events int) string {
		var sum uint64
		for _, n := range dim {
			sum += uint64(crc32.ChecksumIEEE([]byte(n)))
		}
		return fmt.Sprintf("dim %d %d %d; events %d %d", len(dim), len(dim), sum, events, events)
	}
	wait := func(w string, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			got := state()
			if got == w {
				return
			}
			if rv.exited() {
				t.Fatalf("odsync exited; target %s, want %s\n%s", got, w, rv.logTail())
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s: target %s, want %s\n%s", limit, got, w, rv.logTail())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	dim := map[int]string{}
	for id := 1; id <= 30; id++ {
		dim[id] = fmt.Sprintf("a%d", id)
	}
	start()
	wait(want(dim, 20), 120*time.Second)

	// New objects: in the existing partition (updating keys 21..30), in
	// new partitions; kill -9 while the job reads them.
	parquet("dt=2024-05-01/part-0001.parquet", 21, 60, "b")
	for p := 2; p <= 6; p++ {
		parquet(fmt.Sprintf("dt=2024-05-0%d/part-0000.parquet", p), p*100, p*100+40, "c")
		csv(fmt.Sprintf("dt=2024-05-0%d/a.csv", p), p*100, p*100+30)
	}
	csv("dt=2024-05-01/b.csv", 21, 50)
	for id := 21; id <= 60; id++ {
		dim[id] = fmt.Sprintf("b%d", id)
	}
	for p := 2; p <= 6; p++ {
		for id := p * 100; id <= p*100+40; id++ {
			dim[id] = fmt.Sprintf("c%d", id)
		}
	}
	events := 20 + 30 + 5*31
	// killAtChange kills the job as soon as the target changed.
	killAtChange := func() string {
		t.Helper()
		before := state()
		deadline := time.Now().Add(60 * time.Second)
		for state() == before && time.Now().Before(deadline) && !rv.exited() {
			time.Sleep(20 * time.Millisecond)
		}
		rv.p.Kill()
		return state()
	}
	mid1 := killAtChange()
	start()
	mid2 := killAtChange()
	start()
	wait(want(dim, events), 120*time.Second)
	rv.stop()
	t.Logf("target at the kills: %s | %s; at the end: %s", mid1, mid2, want(dim, events))
}
