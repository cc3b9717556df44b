package odpsemu

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// TestPersistenceAcrossRestart: tables, partitions, streamed and committed
// rows, and open stream/upload/download sessions survive a restart on the
// same data directory and port; a torn tail left by a crash is cut off.
func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv1 := startEmu(t, dir, func(c *Config) { c.NoSync = false })
	addr := srv1.Addr()
	o, tun := clients(srv1, "ak", "sk")
	execSQL(t, o, "create table keep (id BIGINT, name STRING comment 'n') partitioned by (pt STRING);")
	execSQL(t, o, "alter table keep add partition (pt='empty');")

	if _, err := New(Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second emulator on the same dir: %v", err)
	}

	stream, err := tun.CreateStreamUploadSession(testProject, "keep",
		tunnel.SessionCfg.WithPartitionKey("pt=a"), tunnel.SessionCfg.WithCreatePartition())
	if err != nil {
		t.Fatal(err)
	}
	sw := stream.OpenRecordPackWriter()
	add := func(w *tunnel.RecordPackStreamWriter, id int64) {
		t.Helper()
		if err := w.Append(data.Record{data.BigInt(id), data.String("v")}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := w.Flush(); err != nil {
			t.Fatalf("flush %d: %v", id, err)
		}
	}
	add(sw, 1)
	add(sw, 2)

	upload, err := tun.CreateUploadSession(testProject, "keep", tunnel.SessionCfg.WithPartitionKey("pt=a"))
	if err != nil {
		t.Fatal(err)
	}
	bw, err := upload.OpenRecordWriter(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.Write(data.Record{data.BigInt(10), nil}); err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	ds, err := tun.CreateDownloadSession(testProject, "keep", tunnel.SessionCfg.WithPartitionKey("pt=a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv1.Close(); err != nil {
		t.Fatal(err)
	}

	// Simulate a crash in the middle of an append: garbage after the last batch.
	var segs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".seg") && strings.Contains(p, string(filepath.Separator)+"data"+string(filepath.Separator)) {
			segs = append(segs, p)
		}
		return nil
	})
	if len(segs) != 1 {
		t.Fatalf("stream segments: %v", segs)
	}
	before, _ := os.ReadFile(segs[0])
	f, err := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x20, 0x01, 0x08}) // a batch header promising 32 bytes, then EOF
	f.Close()

	var logBuf bytes.Buffer
	srv2, err := New(Config{Addr: addr, DataDir: dir, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv2.Start(context.Background()); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer srv2.Close()

	tbl := o.Table("keep")
	if err := tbl.Load(); err != nil {
		t.Fatal(err)
	}
	if len(tbl.Schema().Columns) != 2 || tbl.Schema().Columns[1].Comment != "n" || len(tbl.PartitionColumns()) != 1 {
		t.Fatalf("table schema after restart: %+v", tbl.Schema())
	}
	vals, err := tbl.GetPartitionValues()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(vals, ",") != "pt=empty,pt=a" {
		t.Fatalf("partitions after restart: %v", vals)
	}
	after, _ := os.ReadFile(segs[0])
	if !bytes.Equal(after, before) {
		t.Fatalf("torn tail not cut: %d bytes, want %d", len(after), len(before))
	}
	if !strings.Contains(logBuf.String(), "torn tail") {
		t.Fatalf("no warning about the torn tail in %q", logBuf.String())
	}

	// The open stream session keeps working.
	add(sw, 3)
	// The upload session can be attached to and committed.
	up2, err := tun.AttachToExistedUploadSession(testProject, "keep", upload.Id, tunnel.SessionCfg.WithPartitionKey("pt=a"))
	if err != nil {
		t.Fatalf("attach upload: %v", err)
	}
	if got := up2.BlockIds(); len(got) != 1 || got[0] != 0 {
		t.Fatalf("blocks after restart: %v", got)
	}
	if err := up2.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	// The download session still sees its snapshot (2 rows).
	ds2, err := tun.AttachToExistedDownloadSession(testProject, "keep", ds.Id, tunnel.SessionCfg.WithPartitionKey("pt=a"))
	if err != nil {
		t.Fatalf("attach download: %v", err)
	}
	if ds2.RecordCount() != 2 {
		t.Fatalf("download snapshot has %d rows, want 2", ds2.RecordCount())
	}
	assertRows(t, readAll(t, tun, "keep", "pt=a", nil), []string{
		"bigint:1 | string:v", "bigint:2 | string:v", "bigint:3 | string:v", "bigint:10 | NULL",
	})
	assertRows(t, readAll(t, tun, "keep", "pt=empty", nil), nil)
}
