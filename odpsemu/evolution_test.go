package odpsemu

import (
	"strings"
	"testing"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// TestSchemaEvolutionStream: after ALTER TABLE ... ADD COLUMNS a stream
// session that checks the latest schema (WithAllowSchemaMismatch(false))
// gets 412 SchemaModified with the latest version in
// x-odps-tunnel-latest-schema-version, on every retry; a default session
// keeps writing with its old schema (new columns read as NULL); a new session
// sees the new columns.
func TestSchemaEvolutionStream(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table evo (id BIGINT, name STRING) partitioned by (pt STRING);")
	open := func(opts ...tunnel.Option) *tunnel.StreamUploadSession {
		t.Helper()
		opts = append(opts, tunnel.SessionCfg.WithPartitionKey("pt=a"), tunnel.SessionCfg.WithCreatePartition())
		s, err := tun.CreateStreamUploadSession(testProject, "evo", opts...)
		if err != nil {
			t.Fatalf("CreateStreamUploadSession: %v", err)
		}
		return s
	}
	flush := func(w *tunnel.RecordPackStreamWriter, recs ...data.Record) error {
		t.Helper()
		for _, r := range recs {
			if err := w.Append(r); err != nil {
				t.Fatalf("Append: %v", err)
			}
		}
		_, _, _, err := w.Flush()
		return err
	}
	strict := open(tunnel.SessionCfg.WithAllowSchemaMismatch(false))
	lenient := open()
	if strict.SchemaVersion() != 0 || lenient.SchemaVersion() != 0 {
		t.Fatalf("schema versions %d %d", strict.SchemaVersion(), lenient.SchemaVersion())
	}
	sw, lw := strict.OpenRecordPackWriter(), lenient.OpenRecordPackWriter()
	if err := flush(sw, data.Record{data.BigInt(1), data.String("s1")}); err != nil {
		t.Fatal(err)
	}
	if err := flush(lw, data.Record{data.BigInt(2), data.String("l1")}); err != nil {
		t.Fatal(err)
	}

	execSQL(t, o, "alter table evo add columns (extra STRING comment 'new', score DOUBLE);")
	tbl := o.Table("evo")
	if err := tbl.Load(); err != nil {
		t.Fatal(err)
	}
	if n := len(tbl.Schema().Columns); n != 4 {
		t.Fatalf("table has %d columns after ADD COLUMNS", n)
	}

	err := flush(sw, data.Record{data.BigInt(3), data.String("s2")})
	he := httpError(t, err)
	if he.StatusCode != 412 || he.ErrorMessage.ErrorCode != "SchemaModified" {
		t.Fatalf("strict flush after ALTER: %d %s", he.StatusCode, he.ErrorMessage.ErrorCode)
	}
	if v := he.Response.Header.Get("x-odps-tunnel-latest-schema-version"); v != "1" {
		t.Fatalf("latest schema version header %q, want 1", v)
	}
	// Retrying the same buffer keeps failing: the sink must open a new session.
	if _, _, _, err := sw.Flush(); httpError(t, err).StatusCode != 412 {
		t.Fatalf("retry: %v", err)
	}
	// The SDK trap: Append after a failed Flush poisons the writer.
	if err := sw.Append(data.Record{data.BigInt(4), data.String("x")}); err == nil {
		t.Fatal("Append after a failed Flush succeeded")
	}
	if _, _, _, err := sw.Flush(); err == nil || !strings.Contains(err.Error(), "unsuccessful append") {
		t.Fatalf("Flush after a failed Append: %v", err)
	}

	// The default session still writes with its old two-column schema.
	if err := flush(lw, data.Record{data.BigInt(5), data.String("l2")}); err != nil {
		t.Fatalf("lenient flush after ALTER: %v", err)
	}

	fresh := open(tunnel.SessionCfg.WithAllowSchemaMismatch(false))
	if fresh.SchemaVersion() != 1 || len(fresh.Schema().Columns) != 4 {
		t.Fatalf("new session: version %d, %d columns", fresh.SchemaVersion(), len(fresh.Schema().Columns))
	}
	fw := fresh.OpenRecordPackWriter()
	if err := flush(fw, data.Record{data.BigInt(6), data.String("f1"), data.String("e"), data.Double(0.5)}); err != nil {
		t.Fatalf("fresh flush: %v", err)
	}

	// A session pinned to an old version has the old schema.
	pinned := open(tunnel.SessionCfg.WithSchemaVersion(0), tunnel.SessionCfg.WithAllowSchemaMismatch(false))
	if pinned.SchemaVersion() != 0 || len(pinned.Schema().Columns) != 2 {
		t.Fatalf("pinned session: version %d, %d columns", pinned.SchemaVersion(), len(pinned.Schema().Columns))
	}

	// The SDK's own test uses the singular form.
	execSQL(t, o, "alter table evo add column id3 string;")
	err = flush(fw, data.Record{data.BigInt(7), nil, nil, nil})
	if he := httpError(t, err); he.StatusCode != 412 || he.Response.Header.Get("x-odps-tunnel-latest-schema-version") != "2" {
		t.Fatalf("after second ALTER: %v", err)
	}

	got := readAll(t, tun, "evo", "pt=a", nil)
	want := []string{
		"bigint:1 | string:s1 | NULL | NULL | NULL",
		"bigint:2 | string:l1 | NULL | NULL | NULL",
		"bigint:5 | string:l2 | NULL | NULL | NULL",
		"bigint:6 | string:f1 | string:e | double:0.5 | NULL",
	}
	assertRows(t, got, want)
}

// TestStreamSlotReload: when the slot count in a PUT reply changes, the SDK
// reloads the session (POST …/streams?uploadid=) and keeps writing.
func TestStreamSlotReload(t *testing.T) {
	srv := startEmu(t, t.TempDir(), func(c *Config) { c.StreamSlots = 3 })
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table slots (id BIGINT);")
	sess, err := tun.CreateStreamUploadSession(testProject, "slots")
	if err != nil {
		t.Fatal(err)
	}
	w := sess.OpenRecordPackWriter()
	write := func(id int64) {
		t.Helper()
		if err := w.Append(data.Record{data.BigInt(id)}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := w.Flush(); err != nil {
			t.Fatalf("Flush %d: %v", id, err)
		}
	}
	write(1)
	if err := srv.SetStreamSlots(5); err != nil {
		t.Fatal(err)
	}
	write(2)
	if n := srv.Count(OpStreamReload); n != 1 {
		t.Fatalf("reloads = %d, want 1", n)
	}
	write(3)
	if n := srv.Count(OpStreamReload); n != 1 {
		t.Fatalf("reloads = %d after a steady flush, want 1", n)
	}
	assertRows(t, readAll(t, tun, "slots", "", nil), []string{"bigint:1", "bigint:2", "bigint:3"})
	if err := srv.SetStreamSlots(0); err == nil {
		t.Fatal("SetStreamSlots(0) accepted")
	}
}
