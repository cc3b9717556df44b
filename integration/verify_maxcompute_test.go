package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/datatype"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
	"github.com/odsync/odsync/registry/builtin"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/local"
	"github.com/odsync/odsync/sink/maxcompute"
	"github.com/odsync/odsync/verify"
	"github.com/odsync/odsync/verify/mysqlsource"
)

// mcData converts a target value, as schema.TargetColumn.MaxComputeValue
// renders it for a MaxCompute writer, into the SDK's data type.
func mcData(t *testing.T, c *schema.TargetColumn, v event.Value) data.Data {
	t.Helper()
	x, err := c.MaxComputeValue(v)
	if err != nil {
		t.Fatalf("column %s: %v", c.Name, err)
	}
	if x == nil {
		return nil
	}
	mc := strings.ToUpper(c.MaxCompute)
	switch y := x.(type) {
	case bool:
		return data.Bool(y)
	case int8:
		return data.TinyInt(y)
	case int16:
		return data.SmallInt(y)
	case int32:
		return data.Int(y)
	case int64:
		return data.BigInt(y)
	case float32:
		return data.Float(y)
	case float64:
		return data.Double(y)
	case []byte:
		return data.Binary(y)
	case []string:
		arr := data.NewArrayWithType(datatype.NewArrayType(datatype.StringType))
		for _, s := range y {
			arr.UnSafeAppend(data.String(s))
		}
		return arr
	case time.Time:
		switch mc {
		case "DATE":
			return data.Date(y)
		case "DATETIME":
			return data.DateTime(y)
		case "TIMESTAMP_NTZ":
			return data.TimestampNtz(y)
		}
		return data.Timestamp(y)
	case string:
		switch {
		case strings.HasPrefix(mc, "DECIMAL"):
			return data.NewDecimal(c.Precision, c.Scale, y)
		case mc == "JSON":
			return &data.Json{Data: y, Valid: true}
		}
		return data.String(y)
	}
	t.Fatalf("column %s: unexpected value %T", c.Name, x)
	return nil
}

// replayIntoMaxCompute writes the rows of a local ODS table into a
// MaxCompute table of the same layout (what a MaxCompute sink holds),
// skipping the columns in drop.
func replayIntoMaxCompute(t *testing.T, o *odps.Odps, tun *tunnel.Tunnel, project string, local *local.Reader, tg *schema.Target, drop ...string) {
	t.Helper()
	mt := *tg
	mt.Columns = nil
	var keep []int
	for i := range tg.Columns {
		if !slices.Contains(drop, tg.Columns[i].Name) {
			mt.Columns = append(mt.Columns, tg.Columns[i])
			keep = append(keep, i)
		}
	}
	ins, err := o.ExecSQl(mt.MaxComputeCreate(schema.MaxComputeOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ins.WaitForSuccess(); err != nil {
		t.Fatal(err)
	}
	byPart := map[string][]data.Record{}
	commit := tg.ColumnIndex(schema.ColCommitTs)
	_, err = local.Scan(context.Background(), tg, verify.Mark{}, func(row []event.Value) error {
		rec := make(data.Record, len(keep))
		for k, i := range keep {
			rec[k] = mcData(t, &tg.Columns[i], row[i])
		}
		part := tg.PartitionColumn + "=" + tg.Partition(row[commit].Micros())
		byPart[part] = append(byPart[part], rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for part, recs := range byPart {
		sess, err := tun.CreateUploadSession(project, tg.Name, tunnel.SessionCfg.WithPartitionKey(part), tunnel.SessionCfg.WithCreatePartition())
		if err != nil {
			t.Fatal(err)
		}
		w, err := sess.OpenRecordWriter(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sess.Commit([]int{0}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyMaxCompute verifies MariaDB tables against MaxCompute ODS
// tables read through the real SDK's download sessions from the emulator.
// The MaxCompute tables hold the same change log as the local sink (it is
// replayed into them), so this covers the reader, not a MaxCompute sink.
func TestVerifyMaxCompute(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	emu, err := odpsemu.New(odpsemu.Config{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	const project = "ods_verify"
	o := odps.NewOdps(account.NewAliyunAccount("ak", "sk"), emu.Endpoint())
	o.SetDefaultProjectName(project)
	tun := tunnel.NewTunnel(o, emu.TunnelEndpoint())

	mustExec(t, db, "DROP DATABASE IF EXISTS vmc", "CREATE DATABASE vmc")
	dir := t.TempDir()
	cfgPath := localConfig(t, dir, srv.Addr(), "vmc", "max_age: 100ms")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfgPath)
	waitRunning(t, p)
	mustExec(t, db,
		`CREATE TABLE vmc.t (id BIGINT PRIMARY KEY, name VARCHAR(32), amount DECIMAL(12,2), u BIGINT UNSIGNED,
			f FLOAT, d DOUBLE, ts TIMESTAMP(6) NULL, dt DATETIME(6), day DATE, tm TIME, flag TINYINT(1),
			st SET('a','b'), bin VARBINARY(8), j JSON)`,
		`CREATE TABLE vmc.d (id INT PRIMARY KEY, a INT, note VARCHAR(20))`)
	var vals []string
	for i := 1; i <= 260; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'n%d', %d.%02d, %d, %g, %g, '2024-03-01 12:00:%02d.%06d', '2024-02-29 23:59:59.%06d', '2024-01-%02d', '-%d:00:01', %d, '%s', X'%02X00', '{\"k\": %d}')",
			i, i, i, i%100, uint64(1)<<63+uint64(i), float32(i)/10, float64(i)*1.1, i%60, i*37, i, 1+i%28, i%800, i%2,
			[]string{"", "a", "a,b"}[i%3], i%256, i))
	}
	mustExec(t, db, "INSERT INTO vmc.t VALUES "+strings.Join(vals, ", "),
		"UPDATE vmc.t SET name = NULL WHERE id % 7 = 0",
		"DELETE FROM vmc.t WHERE id % 31 = 0",
		"INSERT INTO vmc.d VALUES (1, 10, 'x'), (2, 20, 'y')")
	ods := filepath.Join(dir, "ods")
	waitForSentinel(t, db, "vmc", ods)

	cfg, err := config.Load(cfgPath, builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	src, err := verify.OpenSource(ctx, mysqlsource.Server(*cfg.Source.Settings.(*mysql.Config)), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mapper, err := schema.New(cfg.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("ODS ready")
	local := local.NewReader(ods)
	for _, tbl := range []string{"t", "d"} {
		st, err := src.Table(ctx, event.TableID{DB: "vmc", Table: tbl})
		if err != nil || st == nil {
			t.Fatalf("source table vmc.%s: %v", tbl, err)
		}
		tg, err := mapper.Target(st.Table)
		if err != nil {
			t.Fatal(err)
		}
		var drop []string
		if tbl == "d" {
			drop = []string{"note"} // the MaxCompute table lost a column
		}
		replayIntoMaxCompute(t, o, tun, project, local, tg, drop...)
	}
	reader, err := maxcompute.NewReader(maxcompute.ReaderConfig{Endpoint: emu.Endpoint(), TunnelEndpoint: emu.TunnelEndpoint(),
		Project: project, AccessID: "ak", AccessKey: "sk"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(tables ...string) *verify.Report {
		v, err := verify.New(src, cfg.Mapping, []verify.Sink{{Name: "mc", Reader: reader, System: schema.SystemMaxCompute}},
			verify.Options{ChunkSize: 100, Settle: time.Second, Wait: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := v.Tables(ctx, tables)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := v.Run(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("verify %v: %.1fs", tables, rep.Summary.Seconds)
		return rep
	}

	rep := run("vmc.t")
	if tr := tableResult(t, rep, "vmc.t"); tr.Status != verify.StatusMatch || tr.SourceRows == 0 || tr.TargetRows != tr.SourceRows {
		t.Fatalf("identical data through MaxCompute:\n%s", reportText(rep))
	}
	rep = run("vmc.d")
	if d := tableResult(t, rep, "vmc.d"); d.Status != verify.StatusMismatch || !slices.Equal(d.Columns.MissingInTarget, []string{"note"}) {
		t.Errorf("MaxCompute table without a column: %+v\n%s", d.Columns, reportText(rep))
	}

	unlogged(t, db, "UPDATE vmc.t SET d = 0.5 WHERE id = 10", "INSERT INTO vmc.t (id) VALUES (999)", "DELETE FROM vmc.t WHERE id = 200")
	rep = run("vmc.t")
	text := reportText(rep)
	tr := tableResult(t, rep, "vmc.t")
	if tr.Diffs.Changed != 1 || tr.Diffs.Missing != 1 || tr.Diffs.Extra != 1 {
		t.Fatalf("differences through MaxCompute: %+v\n%s", tr.Diffs, text)
	}
	ids := sourceIDs(t, db, "vmc.t")
	for _, w := range []struct {
		key, kind string
		id        int64
	}{{"id=10", verify.DiffChanged, 10}, {"id=999", verify.DiffMissing, 999}, {"id=200", verify.DiffExtra, 200}} {
		ch, ex := findExample(tr.ChunkList, w.key)
		if ex == nil || ex.Kind != w.kind || ch.Chunk != chunkOf(ids, w.id, 100) {
			t.Errorf("%s: %+v in %+v\n%s", w.key, ex, ch, text)
		}
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Errorf("odsync stop: exit %d, %v", code, err)
	}
}
