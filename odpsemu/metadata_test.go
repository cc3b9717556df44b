package odpsemu

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// TestUnsupportedSQL: anything outside the supported DDL fails the instance
// with a MaxCompute-shaped "ODPS-…" message saying the emulator does not
// support it.
func TestUnsupportedSQL(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, _ := clients(srv, "ak", "sk")
	execSQL(t, o, "create table u (id BIGINT);")
	for _, sql := range []string{
		"select * from u;",
		"insert into u values (1);",
		"create view v as select 1;",
		"alter table u set lifecycle 3;",
		"truncate table u;",
		"merge into u using u2 on u.id = u2.id when matched then delete;",
	} {
		err := tryExecSQL(o, sql)
		if err == nil || !strings.HasPrefix(err.Error(), "ODPS-") || !strings.Contains(err.Error(), "not supported by the emulator") {
			t.Errorf("%q: %v", sql, err)
		}
	}
	// Semantic errors come back the same way.
	for sql, want := range map[string]string{
		"create table u (id BIGINT);":                          "Table or view already exists",
		"alter table nope add columns (x INT);":                "ODPS-0130131:",
		"drop table nope;":                                     "Table not found",
		"create table bad (a INT, A STRING);":                  "duplicate column",
		"create table bad2 (a INT) partitioned by (p DOUBLE);": "partition columns must be",
		"alter table u add partition (p='1');":                 "not partitioned",
	} {
		if err := tryExecSQL(o, sql); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", sql, err, want)
		}
	}
	// Only SET statements: success.
	execSQL(t, o, "set odps.sql.allow.fullscan=true;")
	ins, err := o.ExecSQl("select 1;")
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := ins.GetTasks()
	if err != nil || len(tasks) != 1 || tasks[0].Status.String() != "FAILED" {
		t.Fatalf("tasks %+v %v", tasks, err)
	}
}

// TestMetadata covers project load, table listing, partitions, drops and
// cross-project DDL through the SDK.
func TestMetadata(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")

	proj := o.DefaultProject()
	if err := proj.Load(); err != nil {
		t.Fatal(err)
	}
	if proj.Name() != testProject || proj.Status().String() != "AVAILABLE" || proj.RegionId() != "cn-emulator" || proj.Owner() == "" {
		t.Fatalf("project %s %s %s %q", proj.Name(), proj.Status(), proj.RegionId(), proj.Owner())
	}

	execSQL(t, o, "create table m1 (id BIGINT) partitioned by (ds STRING, region STRING);")
	execSQL(t, o, "create table if not exists m1 (other INT);") // no-op
	execSQL(t, o, "create table m2 (id BIGINT);")
	execSQL(t, o, "create table other_project.m3 (id BIGINT);")
	execSQL(t, o, "alter table m1 add if not exists partition (ds='d1', region='r1') partition (ds='d1', region='r2');")
	execSQL(t, o, "alter table m1 add if not exists partition (ds='d1', region='r1');")
	if err := tryExecSQL(o, "alter table m1 add partition (ds='d1', region='r1');"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate partition: %v", err)
	}

	var names []string
	o.Tables().List(func(tb *odps.Table, err error) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tb.Name())
	})
	if strings.Join(names, ",") != "m1,m2" {
		t.Fatalf("tables %v", names)
	}
	other := odps.NewOdps(account.NewAliyunAccount("ak", "sk"), srv.Endpoint())
	other.SetDefaultProjectName("other_project")
	if ok, err := other.Table("m3").Exists(); !ok || err != nil {
		t.Fatalf("m3 in other_project: %v %v", ok, err)
	}
	loaded, err := o.Tables().BatchLoadTables([]string{"m1", "m2", "nope"})
	if err != nil || len(loaded) != 2 || len(loaded[0].Schema().PartitionColumns) != 2 {
		t.Fatalf("BatchLoadTables: %d %v", len(loaded), err)
	}

	m1 := o.Table("m1")
	parts, err := m1.GetPartitions()
	if err != nil || len(parts) != 2 || parts[1].Value() != "ds=d1/region=r2" {
		t.Fatalf("partitions %v %v", parts, err)
	}
	p, err := m1.GetPartition("ds=d1/region=r2")
	if err != nil || p.Value() != "ds=d1/region=r2" {
		t.Fatalf("GetPartition: %v %v", p, err)
	}
	if _, err := m1.GetPartition("ds=d9/region=r2"); err == nil {
		t.Fatal("GetPartition of a missing partition succeeded")
	}

	sess, err := tun.CreateStreamUploadSession(testProject, "m1", tunnel.SessionCfg.WithPartitionKey("ds=d1,region=r2"))
	if err != nil {
		t.Fatal(err)
	}
	w := sess.OpenRecordPackWriter()
	for i := 0; i < 3; i++ {
		if err := w.Append(data.Record{data.BigInt(int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := p.Load(); err != nil || p.RecordNum() != 3 || p.LastModifiedTime().IsZero() {
		t.Fatalf("partition load: %v rows=%d", err, p.RecordNum())
	}
	if err := m1.Load(); err != nil || m1.RecordNum() != 3 {
		t.Fatalf("table rows %d %v", m1.RecordNum(), err)
	}

	if err := m1.DeletePartition(true, "ds=d1/region=r2"); err != nil {
		t.Fatal(err)
	}
	if vals, err := m1.GetPartitionValues(); err != nil || strings.Join(vals, ",") != "ds=d1/region=r1" {
		t.Fatalf("after drop partition: %v %v", vals, err)
	}
	// The open session's partition is gone.
	if err := w.Append(data.Record{data.BigInt(9)}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := w.Flush(); httpError(t, err).ErrorMessage.ErrorCode != "NoSuchPartition" {
		t.Fatalf("flush into a dropped partition: %v", err)
	}

	if err := o.Tables().Delete("m2", false); err != nil {
		t.Fatal(err)
	}
	if ok, err := o.Table("m2").Exists(); ok || err != nil {
		t.Fatalf("m2 after drop: %v %v", ok, err)
	}
	if err := o.Tables().Delete("m2", true); err != nil {
		t.Fatalf("drop if exists of a missing table: %v", err)
	}
	// Dropping and re-creating a table invalidates old sessions.
	execSQL(t, o, "drop table m1;")
	execSQL(t, o, "create table m1 (id BIGINT) partitioned by (ds STRING, region STRING);")
	if _, _, _, err := w.Flush(); httpError(t, err).ErrorMessage.ErrorCode != "NoSuchTable" {
		t.Fatalf("flush into a re-created table: %v", err)
	}
}

// TestMain covers the command entry point: flags, endpoints on stdout, a
// working server, and a clean exit when the context ends.
func TestMainCommand(t *testing.T) {
	var errBuf bytes.Buffer
	if code := Main(context.Background(), []string{"--addr", "127.0.0.1:0"}, io.Discard, &errBuf); code != 2 || !strings.Contains(errBuf.String(), "DataDir is required") {
		t.Fatalf("missing --data-dir: code %d, %s", code, errBuf.String())
	}
	if code := Main(context.Background(), []string{"--bogus"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("bad flag: code %d", code)
	}
	errBuf.Reset()
	if code := Main(context.Background(), []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--commit-window", "-1s"}, io.Discard, &errBuf); code != 2 || !strings.Contains(errBuf.String(), "CommitWindow") {
		t.Fatalf("negative --commit-window: code %d, %s", code, errBuf.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	var code int
	wg.Add(1)
	go func() {
		defer wg.Done()
		code = Main(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--access-id", "cli-id", "--access-key", "cli-key", "--log-level", "warn"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var endpoint string
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "service endpoint: "); ok {
			endpoint = v
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if endpoint == "" {
		t.Fatal("no service endpoint printed")
	}
	o := odps.NewOdps(account.NewAliyunAccount("cli-id", "cli-key"), endpoint)
	o.SetDefaultProjectName("cli")
	execSQL(t, o, "create table c (id BIGINT);")
	bad := odps.NewOdps(account.NewAliyunAccount("cli-id", "nope"), endpoint)
	bad.SetDefaultProjectName("cli")
	if err := bad.Table("c").Load(); err == nil {
		t.Fatal("wrong key accepted by the command's server")
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
