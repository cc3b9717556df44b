package integration

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
)

// TestMaxComputeBulkSnapshotKill9: a snapshot of a larger table into the
// emulator with the real service's quotas on, with the default bulk
// settings (one upload session per table partition, committed when the
// table's snapshot ended). odsync is killed with SIGKILL while blocks are
// being uploaded and nothing is committed yet, then restarted: the
// recorded session is reattached and committed once. An independent
// reader (the unmodified SDK's download session) then reads every row
// exactly once; the table got few blocks (a block spans many pipeline
// batches: about the encoded bytes / block_size), one or two sessions and
// one commit, and no request was refused by a quota. (bench/maxcompute runs
// the same with 5M rows.)
func TestMaxComputeBulkSnapshotKill9(t *testing.T) {
	emu := startMCEmu(t)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const rows = 200000
	mustExec(t, db, "DROP DATABASE IF EXISTS mcbulk", "CREATE DATABASE mcbulk",
		"CREATE TABLE mcbulk.big (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))",
		fmt.Sprintf("INSERT INTO mcbulk.big SELECT seq, seq * 3, REPEAT('s', 80) FROM mcbulk.seq_1_to_%d", rows))
	dir := t.TempDir()
	// Blocks of 4MiB (the default is 64MiB): about 6 blocks for the ~26MB
	// of encoded rows, against 10 to 200 pipeline batches (20000 rows or
	// 200ms each), and blocks to kill the process between.
	const blockSize = 4 << 20
	cfg := mcRunConfig(t, dir, srv.Addr(), "mcbulk", "", "", mcSinkYAML(emu, "mc", "block_size: 4MiB", "max_age: 200ms"))
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)

	// Kill mid-upload: some blocks written, no commit yet.
	harness.Eventually(t, 60*time.Second, "blocks uploaded", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("odsync exited:\n%s", readFile(t, logPath))
		}
		n := emu.Count(odpsemu.OpBlockWrite)
		return n >= 2, fmt.Sprintf("%d blocks", n)
	})
	p.Kill()
	before := emu.Count(odpsemu.OpBlockWrite)
	if n := emu.Count(odpsemu.OpUploadCommit); n != 0 {
		t.Fatalf("%d commits before the kill; the test wants the kill mid-upload", n)
	}
	p = harness.Start(t, logPath, "run", "-c", cfg)
	waitRows(t, emu, "ods_mcbulk_big", 90*time.Second, p, func(r []mcRow) (bool, string) {
		return len(r) >= rows, fmt.Sprintf("%d rows", len(r))
	})
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}
	got := mcReadTable(t, emu, "ods_mcbulk_big")
	seen := make(map[int]bool, rows)
	for _, r := range got {
		id := mustAtoi(r.str("id"))
		if seen[id] {
			t.Fatalf("row id %d stored twice", id)
		}
		seen[id] = true
		if r.str("_op") != "R" || r.str("n") != strconv.Itoa(id*3) || len(r.str("pad")) != 80 {
			t.Fatalf("row id %d: _op %s n %s pad %d bytes", id, r.str("_op"), r.str("n"), len(r.str("pad")))
		}
	}
	if len(seen) != rows {
		t.Fatalf("%d rows, want %d", len(seen), rows)
	}
	sessions, commits, blocks := emu.Count(odpsemu.OpUploadCreate), emu.Count(odpsemu.OpUploadCommit), emu.Count(odpsemu.OpBlockWrite)
	t.Logf("%d rows: %d upload sessions, %d commits, %d block writes (%d before the kill)", rows, sessions, commits, blocks, before)
	if sessions > 2 || commits != 1 {
		t.Errorf("%d upload sessions and %d commits for one table's snapshot, want at most 2 and 1", sessions, commits)
	}
	// Blocks span pipeline batches: the rows encode to about 130 bytes
	// each (26MB), so ~6 blocks of block_size, plus at most one block the
	// kill interrupted (written again) and the last, partial one.
	if max := int64(rows*130/blockSize + 3); blocks > max {
		t.Errorf("%d block writes, want at most %d (about encoded bytes / block_size)", blocks, max)
	}
	for _, op := range []odpsemu.Op{odpsemu.OpUploadCreate, odpsemu.OpUploadCommit, odpsemu.OpBlockWrite, odpsemu.OpStreamCreate} {
		if n := emu.Throttled(op); n != 0 {
			t.Errorf("%d %s requests refused by a quota (429)", n, op)
		}
	}
}
