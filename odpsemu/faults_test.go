package odpsemu

import (
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

func streamWriter(t *testing.T, tun *tunnel.Tunnel, table string) *tunnel.RecordPackStreamWriter {
	t.Helper()
	sess, err := tun.CreateStreamUploadSession(testProject, table)
	if err != nil {
		t.Fatal(err)
	}
	return sess.OpenRecordPackWriter()
}

func appendIDs(t *testing.T, w *tunnel.RecordPackStreamWriter, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		if err := w.Append(data.Record{data.BigInt(id)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFaultFailNthBeforeProcessing: the Nth stream write fails before any
// row is stored; retrying Flush (the SDK keeps the buffer) stores it once.
func TestFaultFailNthBeforeProcessing(t *testing.T) {
	srv := startEmu(t, t.TempDir(), func(c *Config) {
		c.Faults = Faults{FailNth: 2, Status: 503, Ops: []Op{OpStreamWrite}}
	})
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table f (id BIGINT);")
	w := streamWriter(t, tun, "f")
	appendIDs(t, w, 1, 2)
	if _, _, _, err := w.Flush(); err != nil {
		t.Fatalf("first flush: %v", err)
	}
	appendIDs(t, w, 3)
	_, _, _, err := w.Flush()
	he := httpError(t, err)
	if he.StatusCode != 503 || he.ErrorMessage.ErrorCode != "ServiceUnavailable" {
		t.Fatalf("injected failure: %d %s", he.StatusCode, he.ErrorMessage.ErrorCode)
	}
	if _, n, _, err := w.Flush(); err != nil || n != 1 {
		t.Fatalf("retried flush: n=%d err=%v", n, err)
	}
	assertRows(t, readAll(t, tun, "f", "", nil), []string{"bigint:1", "bigint:2", "bigint:3"})
}

// TestFaultFailAfterProcessing: the server stores the rows but answers with
// an error; a retry then duplicates them. This is the ambiguity a sink must
// resolve itself (e.g. with a dedupe column), since streams cannot be
// deduplicated server-side.
func TestFaultFailAfterProcessing(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table f (id BIGINT);")
	w := streamWriter(t, tun, "f")
	if err := srv.SetFaults(Faults{FailNth: 1, FailAfterProcessing: true, Ops: []Op{OpStreamWrite}}); err != nil {
		t.Fatal(err)
	}
	appendIDs(t, w, 1)
	if _, _, _, err := w.Flush(); httpError(t, err).StatusCode != 500 {
		t.Fatalf("flush: %v", err)
	}
	if _, _, _, err := w.Flush(); err != nil {
		t.Fatalf("retry: %v", err)
	}
	assertRows(t, readAll(t, tun, "f", "", nil), []string{"bigint:1", "bigint:1"})
}

// TestFaultCommitRetried: a commit that is applied but answered with an
// error is retried by the SDK (tunnel.Retry) and succeeds once.
func TestFaultCommitRetried(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table f (id BIGINT);")
	sess, err := tun.CreateUploadSession(testProject, "f")
	if err != nil {
		t.Fatal(err)
	}
	bw, err := sess.OpenRecordWriter(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.Write(data.Record{data.BigInt(9)}); err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetFaults(Faults{FailNth: 1, FailAfterProcessing: true, Ops: []Op{OpUploadCommit}}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Commit([]int{0}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := srv.Count(OpUploadCommit); n != 2 {
		t.Fatalf("commit requests = %d, want 2 (one failed, one retried)", n)
	}
	assertRows(t, readAll(t, tun, "f", "", nil), []string{"bigint:9"})
}

// TestFaultErrorRateAndLatency covers ErrorRate (service API errors arrive
// in the XML shape), Latency, and clearing faults.
func TestFaultErrorRateAndLatency(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, _ := clients(srv, "ak", "sk")
	execSQL(t, o, "create table f (id BIGINT);")

	if err := srv.SetFaults(Faults{ErrorRate: 1, Ops: []Op{OpTable}}); err != nil {
		t.Fatal(err)
	}
	err := o.Table("f").Load()
	he := httpError(t, err)
	if he.StatusCode != 500 || he.ErrorMessage.ErrorCode != "InternalServerError" || !strings.Contains(string(he.Body), "<Error>") {
		t.Fatalf("ErrorRate 1: %d %s %s", he.StatusCode, he.ErrorMessage.ErrorCode, he.Body)
	}
	if he.RequestId == "" || he.ErrorMessage.RequestId != he.RequestId {
		t.Fatalf("request ids: header %q body %q", he.RequestId, he.ErrorMessage.RequestId)
	}

	if err := srv.SetFaults(Faults{ErrorRate: 0.5, Seed: 7, Ops: []Op{OpProject}}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i := 0; i < 40; i++ {
		if o.DefaultProject().Load() != nil {
			failed++
		}
	}
	if failed == 0 || failed == 40 {
		t.Fatalf("ErrorRate 0.5 failed %d of 40 requests", failed)
	}

	if err := srv.SetFaults(Faults{Latency: 150 * time.Millisecond, Ops: []Op{OpProject}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := o.DefaultProject().Load(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("request took %v, latency of 150ms not applied", d)
	}

	if err := srv.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := o.Table("f").Load(); err != nil {
		t.Fatalf("after clearing faults: %v", err)
	}
	for _, bad := range []Faults{{ErrorRate: 2}, {Status: 200}, {Ops: []Op{"nope"}}, {FailNth: -1}} {
		if err := srv.SetFaults(bad); err == nil {
			t.Fatalf("SetFaults(%+v) accepted", bad)
		}
	}
}

// TestInjectSchemaModified: the next stream write gets 412 SchemaModified
// and stores nothing; the retry succeeds.
func TestInjectSchemaModified(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table f (id BIGINT);")
	w := streamWriter(t, tun, "f")
	srv.InjectSchemaModified()
	appendIDs(t, w, 1)
	_, _, _, err := w.Flush()
	he := httpError(t, err)
	if he.StatusCode != 412 || he.ErrorMessage.ErrorCode != "SchemaModified" || he.Response.Header.Get("x-odps-tunnel-latest-schema-version") != "0" {
		t.Fatalf("injected 412: %d %s", he.StatusCode, he.ErrorMessage.ErrorCode)
	}
	if _, _, _, err := w.Flush(); err != nil {
		t.Fatalf("retry: %v", err)
	}
	assertRows(t, readAll(t, tun, "f", "", nil), []string{"bigint:1"})
}
