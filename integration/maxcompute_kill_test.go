package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
)

// mcCheckChanges compares the deduplicated change log with the source's
// changes: same changes, same order, none missing.
func mcCheckChanges(t *testing.T, rows []mcRow, want []op) {
	t.Helper()
	if len(rows) != len(want) {
		t.Errorf("ODS has %d changes (after removing duplicates), the source made %d", len(rows), len(want))
	}
	for i := 0; i < min(len(rows), len(want)); i++ {
		r := rows[i]
		id, _ := strconv.ParseInt(r.str("id"), 10, 64)
		var n int64
		if r.str("_op") != "D" {
			n, _ = strconv.ParseInt(r.str("n"), 10, 64)
		}
		if got := (op{r.str("_op"), id, n}); got != want[i] {
			t.Fatalf("change %d (_seq %d, %s): got %+v, want %+v", i, r.seq(), r.str("_pos"), got, want[i])
		}
	}
}

// TestMaxComputeKill9AndFaultsLoseNothing runs a snapshot and a steady
// write load through odsync into the emulator while the emulator injects
// 5xx bursts, failures after it applied a request, latency, 412
// SchemaModified and slot changes, and odsync is killed with SIGKILL again
// and again. Afterwards every snapshot row is there exactly once (batch
// uploads are exactly-once), and the change log, after removing copies of
// a change by _seq, equals the source's changes in order.
func TestMaxComputeKill9AndFaultsLoseNothing(t *testing.T) {
	emu := startMCEmu(t)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS mck9", "CREATE DATABASE mck9",
		"CREATE TABLE mck9.t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))",
		"CREATE TABLE mck9.snap (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))")
	const snapRows = 20000
	for i := 0; i < snapRows; i += 1000 {
		var vals []string
		for j := i + 1; j <= i+1000; j++ {
			vals = append(vals, fmt.Sprintf("(%d, %d, REPEAT('s', 80))", j, j*3))
		}
		mustExec(t, db, "INSERT INTO mck9.snap VALUES "+strings.Join(vals, ","))
	}
	dir := t.TempDir()
	cfg := mcRunConfig(t, dir, srv.Addr(), "mck9", "    snapshot_chunk_rows: 1000\n", "",
		mcSinkYAML(emu, "mc", "flush_size: 64KiB\nslots: 2\nblock_size: 32KiB\nmax_attempts: 3",
			"max_rows: 500\n      max_age: 50ms\n      in_flight: 2"))
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)

	ctx, stopLoad := context.WithCancel(context.Background())
	w := &writer{}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); w.run(ctx, db, "mck9.t", 21) }()

	// Fault phases while odsync runs.
	faultsDone := make(chan struct{})
	var fmu sync.Mutex
	applied := map[string]int{}
	go func() {
		defer close(faultsDone)
		rng := rand.New(rand.NewPCG(5, 6))
		phases := []struct {
			name string
			f    odpsemu.Faults
		}{
			{"none", odpsemu.Faults{}},
			{"5xx burst", odpsemu.Faults{ErrorRate: 0.5, Status: 503, Ops: []odpsemu.Op{odpsemu.OpStreamWrite, odpsemu.OpBlockWrite}, Seed: 7}},
			{"failed after processing", odpsemu.Faults{ErrorRate: 0.2, FailAfterProcessing: true,
				Ops: []odpsemu.Op{odpsemu.OpStreamWrite, odpsemu.OpBlockWrite, odpsemu.OpUploadCommit}, Seed: 8}},
			{"latency", odpsemu.Faults{Latency: 30 * time.Millisecond}},
			{"control plane errors", odpsemu.Faults{ErrorRate: 0.3, Ops: []odpsemu.Op{odpsemu.OpStreamCreate, odpsemu.OpUploadCreate, odpsemu.OpUploadStatus, odpsemu.OpTable}, Seed: 9}},
		}
		for ctx.Err() == nil {
			ph := phases[rng.IntN(len(phases))]
			emu.SetFaults(ph.f)
			if rng.IntN(3) == 0 {
				emu.InjectSchemaModified()
			}
			if rng.IntN(4) == 0 {
				emu.SetStreamSlots(1 + rng.IntN(4))
			}
			fmu.Lock()
			applied[ph.name]++
			fmu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(200+rng.IntN(500)) * time.Millisecond):
			}
		}
		emu.SetFaults(odpsemu.Faults{})
	}()

	rng := rand.New(rand.NewPCG(31, 32))
	const kills = 8
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		if p.Exited() {
			t.Fatalf("odsync exited by itself before kill %d:\n%s", i, readFile(t, logPath))
		}
		p.Kill()
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		p = harness.Start(t, logPath, "run", "-c", cfg)
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	<-loadDone
	<-faultsDone
	if len(w.errs) > 0 {
		t.Fatalf("write load failed: %v", w.errs)
	}
	want := w.ops
	t.Logf("%d kills, %d row changes, %d snapshot rows, fault phases %v", kills, len(want), snapRows, applied)

	var changes, snap []mcRow
	deadline := time.Now().Add(120 * time.Second)
	for {
		changes = mcReadTable(t, emu, "ods_mck9_t")
		snap = mcReadTable(t, emu, "ods_mck9_snap")
		dc, _ := kitDedupe(t, changes)
		ds, _ := kitDedupe(t, snap)
		if len(dc) >= len(want) && len(ds) >= snapRows || time.Now().After(deadline) {
			break
		}
		if p.Exited() {
			t.Fatalf("odsync exited:\n%s", readFile(t, logPath))
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}
	if strings.Contains(readFile(t, logPath), "panic") {
		t.Fatalf("odsync panicked:\n%s", readFile(t, logPath))
	}

	// Snapshot rows: all there, each exactly once.
	seen := map[string]uint64{}
	for _, r := range snap {
		if r.str("_op") != "R" {
			t.Fatalf("snapshot table holds a %s row", r.str("_op"))
		}
		if prev, dup := seen[r.str("id")]; dup {
			t.Errorf("snapshot row id %s stored twice (_seq %d and %d)", r.str("id"), prev, r.seq())
		}
		seen[r.str("id")] = r.seq()
		if r.str("n") != strconv.Itoa(mustAtoi(r.str("id"))*3) {
			t.Errorf("snapshot row id %s has n %s", r.str("id"), r.str("n"))
		}
	}
	if len(seen) != snapRows {
		t.Errorf("%d snapshot rows, want %d", len(seen), snapRows)
	}

	// Changes: nothing lost, copies only of whole changes (same _seq).
	dedup, dups := kitDedupe(t, changes)
	mcCheckChanges(t, dedup, want)
	t.Logf("change log: %d rows, %d of them copies of a change (removable by _seq)", len(changes), dups)
	lg := readFile(t, logPath)
	t.Logf("after restarts: %d snapshot sessions reattached, %d found committed; %d pack retries, %d block retries",
		strings.Count(lg, "reattached snapshot upload session"), strings.Count(lg, "was committed before a restart"),
		strings.Count(lg, "record pack upload failed"), strings.Count(lg, "block write failed"))
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
