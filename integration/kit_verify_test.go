package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/verify"
)

// kitVerify runs `odsync verify --format json` (and extra flags) on the
// run's config with the sink's environment and returns the report and the exit code; the report
// is nil (and the test failed) when verify cannot check this sink.
func kitVerify(t *testing.T, r *kitRun, extra ...string) (*verify.Report, int, string) {
	t.Helper()
	args := append([]string{"verify", "-c", kitVerifyConfig(t, r), "--format", "json", "--settle", "1s", "--wait", "20s", "--chunk-size", "16"}, extra...)
	cmd := exec.Command(harness.Binary(t), args...)
	cmd.Env = append(cmd.Environ(), append([]string{"TZ=" + kitTZ}, r.sink.env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code == 2 {
		t.Errorf("odsync verify cannot check this sink (exit 2): %s", strings.TrimSpace(stderr.String()))
		return nil, code, stderr.String()
	}
	var rep verify.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("odsync verify: exit %d, output is not a JSON report (%v):\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	return &rep, code, stdout.String()
}

// TestKitVerify checks that `odsync verify` reports MATCH (exit 0) after a
// clean sync and MISMATCH (non-zero exit) once one landed value was
// tampered with behind odsync's back.
func TestKitVerify(t *testing.T) {
	kitEach(t, "verify", func(t *testing.T, d kitDriver) {
		r := kitOpen(t, d, "kv_"+d.name, "")
		r.exec(fmt.Sprintf("CREATE TABLE %s.t (id BIGINT PRIMARY KEY, name VARCHAR(32), amount DECIMAL(12,2))", r.name))
		var vals []string
		for i := 1; i <= 40; i++ {
			vals = append(vals, fmt.Sprintf("(%d, 'name %d', %d.%02d)", i, i, i*7, i%100))
		}
		r.exec(fmt.Sprintf("INSERT INTO %s.t VALUES %s", r.name, strings.Join(vals[:30], ", ")))
		r.start()
		r.exec(fmt.Sprintf("INSERT INTO %s.t VALUES %s", r.name, strings.Join(vals[30:], ", ")),
			fmt.Sprintf("UPDATE %s.t SET name = 'renamed' WHERE id = 7", r.name))
		if d.system == kitState {
			kitVerifyState(t, r)
			return
		}
		rows := r.wait(r.table("t"), 90*time.Second, func(rows []kitRow) (bool, string) {
			m := latest(rows, "id")
			return len(m) == 40 && m["7"].str("name") == "renamed", fmt.Sprintf("%d keys", len(m))
		})
		r.stop()

		// A nil report means verify cannot check this sink (the test has
		// failed saying so); the tamper is still exercised.
		rep, code, out := kitVerify(t, r)
		if rep != nil {
			if code != 0 || !rep.OK() || len(rep.Tables) != 1 || rep.Tables[0].Status != verify.StatusMatch {
				t.Fatalf("after a clean sync: exit %d, want 0 and MATCH:\n%s", code, out)
			}
			if tr := rep.Tables[0]; tr.SourceRows != 40 || tr.TargetRows != 40 {
				t.Errorf("after a clean sync: %d source rows, %d target rows, want 40 and 40", tr.SourceRows, tr.TargetRows)
			}
		}

		// Tamper with the latest change of id 7.
		var seq uint64
		for _, row := range rows {
			if row.str("id") == "7" {
				seq = max(seq, row.seq())
			}
		}
		r.sink.tamper(t, r.table("t"), seq, "name", "tampered")
		if got := latest(r.sink.read(t, r.table("t")), "id")["7"].str("name"); got != "tampered" {
			t.Fatalf("after tampering, id 7 reads name %q from the sink, want \"tampered\"", got)
		}
		rep, code, out = kitVerify(t, r)
		if rep == nil {
			return
		}
		if code == 0 || rep.OK() || len(rep.Tables) != 1 || rep.Tables[0].Status != verify.StatusMismatch {
			t.Fatalf("after tampering with id 7: exit %d, want non-zero and MISMATCH:\n%s", code, out)
		}
		if tr := rep.Tables[0]; tr.Diffs.Changed != 1 || tr.Diffs.Missing != 0 || tr.Diffs.Extra != 0 {
			t.Errorf("after tampering with id 7: diffs %+v, want exactly one changed row:\n%s", tr.Diffs, out)
		}
		if !strings.Contains(out, "id=7") {
			t.Errorf("the report does not name the tampered key id=7:\n%s", out)
		}
	})
}

// kitVerifyState is TestKitVerify for a state sink: verify reports MATCH,
// then MISMATCH naming the key once a target row was changed.
func kitVerifyState(t *testing.T, r *kitRun) {
	r.waitState("t", 90*time.Second)
	r.stop()
	rep, code, out := kitVerify(t, r)
	if rep == nil {
		return
	}
	if code != 0 || !rep.OK() || len(rep.Tables) != 1 || rep.Tables[0].Status != verify.StatusMatch {
		t.Fatalf("after a clean sync: exit %d, want 0 and MATCH:\n%s", code, out)
	}
	if tr := rep.Tables[0]; tr.SourceRows != 40 || tr.TargetRows != 40 {
		t.Errorf("after a clean sync: %d source rows, %d target rows, want 40 and 40", tr.SourceRows, tr.TargetRows)
	}
	if _, err := r.sink.target.Exec(fmt.Sprintf("UPDATE `%s`.t SET name = 'tampered' WHERE id = 7", r.name)); err != nil {
		t.Fatal(err)
	}
	rep, code, out = kitVerify(t, r)
	if rep == nil {
		return
	}
	if code == 0 || rep.OK() || len(rep.Tables) != 1 || rep.Tables[0].Status != verify.StatusMismatch {
		t.Fatalf("after tampering with id 7: exit %d, want non-zero and MISMATCH:\n%s", code, out)
	}
	if tr := rep.Tables[0]; tr.Diffs.Changed != 1 || tr.Diffs.Missing != 0 || tr.Diffs.Extra != 0 {
		t.Errorf("after tampering with id 7: diffs %+v, want exactly one changed row:\n%s", tr.Diffs, out)
	}
	if !strings.Contains(out, "id=7") {
		t.Errorf("the report does not name the tampered key id=7:\n%s", out)
	}
}
