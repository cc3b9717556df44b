package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
)

// kitTiDBDrivers are the sinks the TiDB source runs the kit against.
var kitTiDBDrivers = []string{"local_jsonl", "s3_parquet", "maxcompute"}

// TestKitTiDB is the TiDB source in the conformance kit: per sink, a
// snapshot of TiDB's types at their edges and of clustered, non-clustered,
// composite-key and _tidb_rowid tables, with odsync killed (SIGKILL) during
// it; every row of the big tables lands exactly once (by _seq), and
// `odsync verify` (its own reader of TiDB and of the sink) MATCHes, then
// MISMATCHes once a value changed in TiDB behind the changefeed's back.
func TestKitTiDB(t *testing.T) {
	srv := harness.TiDB(t)
	for _, d := range kitDrivers {
		if !strings.Contains(" "+strings.Join(kitTiDBDrivers, " ")+" ", " "+d.name+" ") {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			name := "kx_" + d.name
			_, c := tidbConn(t, srv)
			tidbExec(t, c, "DROP DATABASE IF EXISTS "+name, "CREATE DATABASE "+name, "USE "+name)
			tidbExec(t, c, tidbTypesDDL...)
			tidbFill(t, c, 20)
			const rows = 1200
			tidbExec(t, c, "CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR(40))")
			var vals []string
			for i := 1; i <= rows; i++ {
				vals = append(vals, fmt.Sprintf("(%d, 'row %d')", i, i))
			}
			tidbExec(t, c, "INSERT INTO big VALUES "+strings.Join(vals, ","))
			cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 1}})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			r := &kitRun{t: t, sink: d.open(t), name: name, dir: t.TempDir()}
			r.cfg = filepath.Join(r.dir, "odsync.yaml")
			r.log = filepath.Join(r.dir, "odsync.log")
			harness.WriteFile(t, r.cfg, fmt.Sprintf(`state:
  dir: %s
source:
  type: tidb
  tidb:
    dsn: %s
    chunk_rows: 25
    parallel: 2
  ticdc:
    brokers: [%s]
    topics: [cdc]
    fetch_max_wait: 100ms
mapping:
  include: ["%s\\..*"]
sinks:
%s`, filepath.Join(r.dir, "state"), srv.DSN(""), strings.Join(cl.Addrs, ", "), name, r.sink.entry))
			env := append([]string{"TZ=" + kitTZ}, r.sink.env...)
			r.p = harness.StartBinary(t, harness.Binary(t), env, r.log, "run", "-c", r.cfg)
			time.Sleep(1500 * time.Millisecond)
			r.p.Kill()
			r.p = harness.StartBinary(t, harness.Binary(t), env, r.log, "run", "-c", r.cfg)
			harness.Eventually(t, 3*time.Minute, "the snapshot", func() (bool, string) {
				if r.p.Exited() {
					t.Fatalf("odsync exited:\n%s", kitLogTail(r.log))
				}
				return strings.Contains(readFile(t, r.log), "TiDB snapshot done"), "not yet"
			})
			got := r.waitSeqs(r.table("big"), rows, 2*time.Minute)
			r.stop()
			bySeq := map[string]string{}
			perID := map[string]int{}
			for _, row := range got {
				s := row.str("_seq")
				if prev, ok := bySeq[s]; ok {
					if !r.sink.replays || prev != row.str("id") {
						t.Errorf("_seq %s landed twice", s)
					}
					continue
				}
				bySeq[s] = row.str("id")
				perID[row.str("id")]++
			}
			for i := 1; i <= rows; i++ {
				if n := perID[fmt.Sprint(i)]; n != 1 {
					t.Errorf("big row %d landed %d times", i, n)
				}
			}
			rep, code, out := kitVerify(t, r)
			if rep == nil {
				return
			}
			if code != 0 {
				t.Fatalf("verify after the snapshot: exit %d, want 0 (MATCH):\n%s", code, out)
			}
			// Server-side checksums: TiDB checksums each chunk; every keyed
			// table MATCHes without a source row read, in every sink
			// (MaxCompute included: no TiDB type of the kit maps lossily).
			if rep, code, out := kitVerify(t, r, "--checksum", "sql"); rep != nil {
				if code != 0 {
					t.Fatalf("verify --checksum sql after the snapshot: exit %d, want 0 (MATCH):\n%s", code, out)
				}
				for _, tr := range rep.Tables {
					t.Logf("verify --checksum sql %s: %s by %s, %d rows, %d source rows read, notes %q", tr.Table, tr.Status, tr.Checksum, tr.SourceRows, tr.SourceRowsRead, tr.Notes)
					if len(tr.Key) > 0 && (tr.Checksum != "sql" || tr.SourceRowsRead != 0) {
						t.Errorf("verify --checksum sql %s: compared by %s with %d source rows read, want sql and 0", tr.Table, tr.Checksum, tr.SourceRowsRead)
					}
				}
			}
			tidbExec(t, c, "UPDATE types SET d = 1.5 WHERE id = 2")
			if _, code, out = kitVerify(t, r); code != 1 || !strings.Contains(out, "types") {
				t.Fatalf("verify after changing TiDB behind the changefeed: exit %d, want 1 (MISMATCH on types):\n%s", code, out)
			}
		})
	}
}
