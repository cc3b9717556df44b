package integration

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/odsync/odsync/verify"
)

// reverseVerify runs `odsync verify` with a reverse job's own
// configuration (the job stopped): first every table must MATCH, then,
// with one value changed and one row deleted in the MySQL target behind
// the job's back, table db.c must be a MISMATCH naming both keys (exit 1),
// and the other tables still MATCH.
func reverseVerify(t *testing.T, cfg string, env []string, target *sql.DB, db string, tables int) {
	t.Helper()
	vr := &kitRun{t: t, sink: &kitSink{env: env}, cfg: cfg, dir: t.TempDir()}
	rep, code, out := kitVerify(t, vr)
	if rep == nil {
		return
	}
	if code != 0 || !rep.OK() || len(rep.Tables) != tables {
		t.Fatalf("verify of the reverse job with its own configuration: exit %d, want 0 and MATCH for %d tables:\n%s", code, tables, out)
	}
	for _, tr := range rep.Tables {
		if tr.Status != verify.StatusMatch || tr.SourceRows == 0 || tr.SourceRows != tr.TargetRows || !strings.HasPrefix(tr.Table, db+".") {
			t.Errorf("reverse verify %s → %s: %s, %d source rows, %d target rows", tr.Table, tr.Target, tr.Status, tr.SourceRows, tr.TargetRows)
		}
	}
	// The target server checksums each chunk (--checksum sql).
	if rep, code, out := kitVerify(t, vr, "--checksum", "sql"); rep != nil && (code != 0 || !rep.OK()) {
		t.Errorf("reverse verify --checksum sql: exit %d, want 0 and MATCH:\n%s", code, out)
	} else if rep != nil {
		for _, tr := range rep.Tables {
			t.Logf("--checksum sql: %s: %s by %s, %d target rows transferred, %d row chunks, notes %v", tr.Table, tr.Status, tr.Checksum, tr.SourceRowsRead, tr.RowChunks, tr.Notes)
			if tr.Checksum != verify.ChecksumSQL || tr.SourceRowsRead != 0 {
				t.Errorf("reverse verify --checksum sql %s: compared by %q with %d rows transferred, want sql and 0", tr.Table, tr.Checksum, tr.SourceRowsRead)
			}
		}
	}
	var lo, hi int64
	if err := target.QueryRow(fmt.Sprintf("SELECT MIN(id), MAX(id) FROM %s.c", db)).Scan(&lo, &hi); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf("UPDATE %s.c SET v = 'tampered' WHERE id = %d", db, lo),
		fmt.Sprintf("DELETE FROM %s.c WHERE id = %d", db, hi),
	} {
		if _, err := target.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rep, code, out = kitVerify(t, vr)
	if rep == nil {
		return
	}
	if code != 1 || rep.Summary.Mismatched != 1 {
		t.Fatalf("verify after tampering with the target: exit %d, want 1 and one MISMATCH:\n%s", code, out)
	}
	for _, tr := range rep.Tables {
		if tr.Table != db+".c" {
			if tr.Status != verify.StatusMatch {
				t.Errorf("reverse verify %s: %s, want match", tr.Table, tr.Status)
			}
			continue
		}
		if tr.Status != verify.StatusMismatch || tr.Diffs.Changed != 1 || tr.Diffs.Missing != 1 || tr.Diffs.Extra != 0 || tr.SourceRows != tr.TargetRows+1 {
			t.Errorf("reverse verify %s: %s %+v, source %d rows, target %d: want mismatch, 1 changed, 1 missing in the target:\n%s",
				tr.Table, tr.Status, tr.Diffs, tr.SourceRows, tr.TargetRows, out)
		}
		found := map[string]string{}
		for _, ch := range tr.ChunkList {
			for _, e := range ch.Examples {
				found[e.Kind+" "+e.Key] = fmt.Sprint(e.Columns)
			}
		}
		changed, ok := found[fmt.Sprintf("changed id=%d", lo)]
		if !ok || !strings.Contains(changed, "tampered") || !strings.Contains(changed, "v ") {
			t.Errorf("reverse verify %s: no changed example id=%d with column v (target \"tampered\"): %v", tr.Table, lo, found)
		}
		if _, ok := found[fmt.Sprintf("missing id=%d", hi)]; !ok {
			t.Errorf("reverse verify %s: no missing example id=%d: %v", tr.Table, hi, found)
		}
		if len(tr.Fixes) == 0 {
			t.Errorf("reverse verify %s: no likely fixes", tr.Table)
		}
	}
}

// reverseVerifyRunning runs `odsync verify` with a reverse job's
// configuration while the job runs: its state comes from the job's
// /status, and every table must MATCH.
func reverseVerifyRunning(t *testing.T, cfg string, env []string, status string, tables int) {
	t.Helper()
	vr := &kitRun{t: t, sink: &kitSink{env: env}, cfg: cfg, dir: t.TempDir()}
	rep, code, out := kitVerify(t, vr, "--status", status)
	if rep == nil {
		return
	}
	if code != 0 || !rep.OK() || len(rep.Tables) != tables {
		t.Fatalf("verify of the running reverse job: exit %d, want 0 and MATCH for %d tables:\n%s", code, tables, out)
	}
	for _, tr := range rep.Tables {
		if !strings.Contains(strings.Join(tr.Notes, " "), "running odsync") {
			t.Errorf("reverse verify %s: the job's state was not read from its /status: %v", tr.Table, tr.Notes)
		}
	}
}
