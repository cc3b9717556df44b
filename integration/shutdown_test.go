package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
)

// TestShutdownNamesUndrainedSink: a sink that cannot write when odsync is
// stopped keeps its changes in the log; odsync exits 4 (not 0, not 1) and
// names that sink, while the healthy sink drains and is not blamed.
func TestShutdownNamesUndrainedSink(t *testing.T) {
	emu := startMCEmu(t)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS sdn", "CREATE DATABASE sdn", "CREATE TABLE sdn.t (id BIGINT PRIMARY KEY, v INT)")
	dir := t.TempDir()
	local := `  - name: files
    type: local
    local:
      dir: ` + filepath.Join(dir, "ods") + `
    batch:
      max_age: 100ms
`
	cfg := mcRunConfig(t, dir, srv.Addr(), "sdn", "", "", mcSinkYAML(emu, "mc", "max_attempts: 2", "max_age: 100ms"), local)
	harness.WriteFile(t, cfg, readFile(t, cfg)+"shutdown_timeout: 2s\n")
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)
	if err := emu.SetFaults(odpsemu.Faults{ErrorRate: 1, Status: 503}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO sdn.t VALUES (1, 1), (2, 2)")
	harness.Eventually(t, 30*time.Second, "the local sink has the rows", func() (bool, string) {
		return len(harness.ReadODS(t, filepath.Join(dir, "ods"))) == 2, ""
	})
	code, err := p.Stop(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := readFile(t, logPath)
	if code != 4 {
		t.Fatalf("exit %d, want 4 (stopped undrained):\n%s", code, out)
	}
	if !strings.Contains(out, "not yet written by sink mc") || strings.Contains(out, "sink files (") {
		t.Fatalf("the log does not name exactly the undrained sink:\n%s", out)
	}
	// The changes were kept: with the service healthy again they land.
	if err := emu.SetFaults(odpsemu.Faults{}); err != nil {
		t.Fatal(err)
	}
	p = harness.Start(t, logPath+".2", "run", "-c", cfg)
	waitRows(t, emu, "ods_sdn_t", 60*time.Second, p, func(rows []mcRow) (bool, string) { return len(rows) == 2, "" })
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("second stop: exit %d %v\n%s", code, err, readFile(t, logPath+".2"))
	}
}
