package odpsemu

import (
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// writeBlock writes rows [from, to) of the all-types table as one block.
func writeBlock(t *testing.T, sess *tunnel.UploadSession, block, from, to int) []string {
	t.Helper()
	w, err := sess.OpenRecordWriter(block)
	if err != nil {
		t.Errorf("OpenRecordWriter(%d): %v", block, err)
		return nil
	}
	var rows []string
	for i := from; i < to; i++ {
		rec := makeRow(t, sess.Schema().Columns, i)
		rows = append(rows, canonRecord(rec))
		if err := w.Write(rec); err != nil {
			t.Errorf("block %d Write: %v", block, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Errorf("block %d Close: %v", block, err)
	}
	return rows
}

// TestBatchUploadCommitOverwrite uploads several blocks concurrently,
// re-writes one block, checks rows stay invisible until Commit, commits with
// the block list (twice: commits are idempotent), then overwrites.
func TestBatchUploadCommitOverwrite(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, allTypesDDL)
	part := "pt=batch/hh=1"

	sess, err := tun.CreateUploadSession(testProject, "all_types",
		tunnel.SessionCfg.WithPartitionKey(part), tunnel.SessionCfg.WithCreatePartition(),
		tunnel.SessionCfg.WithDefaultZstdCompressor())
	if err != nil {
		t.Fatalf("CreateUploadSession: %v", err)
	}
	if sess.Status() != tunnel.UploadStatusNormal {
		t.Fatalf("status %v", sess.Status())
	}
	blocks := map[int][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for b := 0; b < 4; b++ {
		wg.Add(1)
		go func(b int) {
			defer wg.Done()
			rows := writeBlock(t, sess, b, b*10, b*10+7)
			mu.Lock()
			blocks[b] = rows
			mu.Unlock()
		}(b)
	}
	wg.Wait()
	// Re-writing a block id replaces it.
	blocks[2] = writeBlock(t, sess, 2, 100, 103)
	if t.Failed() {
		t.FailNow()
	}
	var want []string
	for b := 0; b < 4; b++ {
		want = append(want, blocks[b]...)
	}

	if got := readAll(t, tun, "all_types", part, nil); len(got) != 0 {
		t.Fatalf("%d rows visible before commit", len(got))
	}
	if err := sess.Commit([]int{0, 1, 2}); err == nil || !strings.Contains(err.Error(), "blocks server got are") {
		t.Fatalf("commit with a wrong block list: %v", err)
	}
	if err := sess.Commit([]int{3, 1, 2, 0}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := sess.Commit([]int{0, 1, 2, 3}); err != nil {
		t.Fatalf("second Commit: %v", err)
	}
	assertRows(t, readAll(t, tun, "all_types", part, nil), want)

	// Writing into a committed session fails.
	w, err := sess.OpenRecordWriter(5)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(makeRow(t, sess.Schema().Columns, 1))
	if err := w.Close(); err == nil {
		t.Fatal("block write into a committed session succeeded")
	} else if he := httpError(t, err); he.StatusCode != 409 {
		t.Fatalf("status %d, want 409", he.StatusCode)
	}

	// A second, appending upload adds rows.
	sess2, err := tun.CreateUploadSession(testProject, "all_types", tunnel.SessionCfg.WithPartitionKey(part))
	if err != nil {
		t.Fatal(err)
	}
	extra := writeBlock(t, sess2, 0, 200, 205)
	if err := sess2.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	assertRows(t, readAll(t, tun, "all_types", part, nil), append(append([]string(nil), want...), extra...))

	// Overwrite replaces the partition's rows; another partition is untouched.
	other, err := tun.CreateUploadSession(testProject, "all_types",
		tunnel.SessionCfg.WithPartitionKey("pt=other/hh=1"), tunnel.SessionCfg.WithCreatePartition())
	if err != nil {
		t.Fatal(err)
	}
	otherRows := writeBlock(t, other, 0, 300, 302)
	if err := other.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	ow, err := tun.CreateUploadSession(testProject, "all_types",
		tunnel.SessionCfg.WithPartitionKey(part), tunnel.SessionCfg.Overwrite())
	if err != nil {
		t.Fatal(err)
	}
	if !ow.Overwrite {
		t.Fatal("session is not an overwrite session")
	}
	repl := writeBlock(t, ow, 7, 400, 403)
	if err := ow.Commit([]int{7}); err != nil {
		t.Fatal(err)
	}
	assertRows(t, readAll(t, tun, "all_types", part, nil), repl)
	assertRows(t, readAll(t, tun, "all_types", "pt=other/hh=1", nil), otherRows)
}

// TestBatchUploadErrors covers session creation on a missing partition, an
// invalid block id and a block whose values violate the schema.
func TestBatchUploadErrors(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table plain (id BIGINT, amount DECIMAL(10,2));")
	execSQL(t, o, "create table parted (id BIGINT) partitioned by (pt STRING);")

	_, err := tun.CreateUploadSession(testProject, "parted", tunnel.SessionCfg.WithPartitionKey("pt=missing"))
	if he := httpError(t, err); he.StatusCode != 404 || he.ErrorMessage.ErrorCode != "NoSuchPartition" {
		t.Fatalf("missing partition: %d %s", he.StatusCode, he.ErrorMessage.ErrorCode)
	}
	_, err = tun.CreateUploadSession(testProject, "parted")
	if he := httpError(t, err); he.StatusCode != 400 || he.ErrorMessage.ErrorCode != "MissingPartitionSpec" {
		t.Fatalf("no partition: %d %s", he.StatusCode, he.ErrorMessage.ErrorCode)
	}
	_, err = tun.CreateUploadSession(testProject, "nosuch")
	if he := httpError(t, err); he.StatusCode != 404 || he.ErrorMessage.ErrorCode != "NoSuchTable" {
		t.Fatalf("no table: %d %s", he.StatusCode, he.ErrorMessage.ErrorCode)
	}

	sess, err := tun.CreateUploadSession(testProject, "plain")
	if err != nil {
		t.Fatal(err)
	}
	w, err := sess.OpenRecordWriter(20000)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(data.Record{data.BigInt(1), nil})
	if err := w.Close(); err == nil {
		t.Fatal("block id 20000 accepted")
	} else if he := httpError(t, err); he.ErrorMessage.ErrorCode != "InvalidBlockID" {
		t.Fatalf("code %s", he.ErrorMessage.ErrorCode)
	}
	w, err = sess.OpenRecordWriter(0)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(data.Record{data.BigInt(1), data.NewDecimal(10, 2, "123456789.5")})
	err = w.Close()
	he := httpError(t, err)
	if he.ErrorMessage.ErrorCode != "MalformedDataStream" || !strings.Contains(he.ErrorMessage.Message, "integer digits") {
		t.Fatalf("bad decimal: %s: %s", he.ErrorMessage.ErrorCode, he.ErrorMessage.Message)
	}
	if err := sess.Load(); err != nil {
		t.Fatal(err)
	}
	if len(sess.BlockIds()) != 0 {
		t.Fatalf("rejected blocks were recorded: %v", sess.BlockIds())
	}
}
