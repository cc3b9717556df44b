package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/integration/harness"
)

// TestSnapshotProgressReachesStatusAndMetrics: the snapshot's per-table
// progress (rows, estimate, chunks, done) is on /status and in metrics,
// and says done with 100% once the table is copied.
func TestSnapshotProgressReachesStatusAndMetrics(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS snp", "CREATE DATABASE snp", "CREATE TABLE snp.t (id INT PRIMARY KEY, v VARCHAR(20))")
	const rows = 3000
	for i := 0; i < rows; i += 500 {
		var vals []string
		for j := i; j < i+500; j++ {
			vals = append(vals, fmt.Sprintf("(%d, 'v%d')", j, j))
		}
		mustExec(t, db, "INSERT INTO snp.t VALUES "+strings.Join(vals, ","))
	}
	mustExec(t, db, "ANALYZE TABLE snp.t")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "snp", "")
	text := regexp.MustCompile(`(?m)^(    server_id: \d+\n)`).ReplaceAllString(readFile(t, cfg), "${1}    snapshot_chunk_rows: 500\n")
	harness.WriteFile(t, cfg, text)
	withAdmin(t, cfg, "")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	defer p.Stop(30 * time.Second)
	base := waitAdmin(t, p)
	harness.Eventually(t, 60*time.Second, "snapshot done on /status", func() (bool, string) {
		_, body := adminGet(t, base+"/status")
		var doc admin.Document
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			return false, err.Error()
		}
		for _, tb := range doc.Tables {
			if tb.Table == "snp.t" && tb.Snapshot != nil {
				s := tb.Snapshot
				return s.Done && s.Percent == 100 && s.RowsRead == rows && s.RowsTotal > 0 && s.ChunksDone >= rows/500, body
			}
		}
		return false, body
	})
	_, metrics := adminGet(t, base+"/metrics")
	if v := metricValue(metrics, `odsync_snapshot_done{table="snp.t"}`); v != 1 {
		t.Errorf("odsync_snapshot_done = %v, want 1", v)
	}
	if v := metricValue(metrics, `odsync_snapshot_rows_read{table="snp.t"}`); v != rows {
		t.Errorf("odsync_snapshot_rows_read = %v, want %d", v, rows)
	}
}
