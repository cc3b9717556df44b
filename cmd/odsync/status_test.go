package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/telemetry"
)

func TestConfigAdminAddr(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ODSYNC_TEST_ADMIN_PORT", "9411")
	for _, c := range []struct{ yaml, want string }{
		{"admin:\n  addr: 0.0.0.0:9400\nsource:\n  mysql:\n    password: ${NOT_SET_ANYWHERE}\n", "0.0.0.0:9400"},
		{"admin:\n  addr: 127.0.0.1:${ODSYNC_TEST_ADMIN_PORT}\n", "127.0.0.1:9411"},
		{"admin:\n  addr: 127.0.0.1:${ODSYNC_UNSET_PORT:-9412}\n", "127.0.0.1:9412"},
		{"state: {dir: x}\n", ""},
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := configAdminAddr(p)
		if err != nil || got != c.want {
			t.Errorf("configAdminAddr(%q) = %q, %v; want %q", c.yaml, got, err, c.want)
		}
	}
}

func TestTermSpark(t *testing.T) {
	if got := termSpark([]float64{0, 1, 2, 4, 8}, 20); got != "▁▂▃▅█" {
		t.Errorf("termSpark = %q", got)
	}
	if got := termSpark(nil, 20); got != "·" {
		t.Errorf("termSpark(nil) = %q", got)
	}
	if got := termSpark([]float64{1, 2, 3, 4}, 2); len([]rune(got)) != 2 {
		t.Errorf("termSpark keeps %d points, want the last 2", len([]rune(got)))
	}
}

// TestStatusAndHealthcheckCommands runs the commands against a real admin
// server over a real log and telemetry.
func TestStatusAndHealthcheckCommands(t *testing.T) {
	ctx := context.Background()
	log, err := offsets.Open(t.TempDir(), offsets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Version: "v9"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	srv := admin.New(admin.Config{Addr: "127.0.0.1:0"}, tel, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	addr := srv.Addr()
	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, &out, &errb)
		return code, out.String(), errb.String()
	}

	// Not sampled yet: alive, not ready.
	if code, _, e := cli("healthcheck", "--addr", addr); code != exitOK {
		t.Errorf("healthcheck: %d %s", code, e)
	}
	if code, _, _ := cli("healthcheck", "--addr", addr, "--ready", "-q"); code != exitCheck {
		t.Errorf("healthcheck --ready before the first sample: %d, want %d", code, exitCheck)
	}

	id := event.TableID{DB: "shop", Table: "orders"}
	tb := (&event.Table{ID: id, Columns: []event.Column{{Name: "id", Type: event.TypeInt}}, Key: []int{0}}).Seal()
	evs := []event.Event{{Op: event.OpInsert, Source: id, Table: tb, After: []event.Value{event.Int(1)}, CommitTime: time.Now().UnixMicro(), TxnEnd: true}}
	if _, err := log.Append(ctx, evs, []byte("cp")); err != nil {
		t.Fatal(err)
	}
	tel.Appended(evs, []byte("cp"), time.Millisecond)
	tel.SinkWrite("files", &sink.Batch{First: 1, Last: 1, Events: evs}, time.Millisecond, nil)
	tel.Sample(ctx)
	if code, _, e := cli("healthcheck", "--addr", addr, "--ready"); code != exitOK {
		t.Errorf("healthcheck --ready: %d %s", code, e)
	}
	code, out, e := cli("status", "--addr", addr)
	if code != exitOK {
		t.Fatalf("status: %d %s", code, e)
	}
	for _, want := range []string{"odsync v9", "READY", "shop.orders", "files", "writable", "TABLE", "SINK"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	// The address from a config file.
	cfg := filepath.Join(t.TempDir(), "odsync.yaml")
	if err := os.WriteFile(cfg, []byte("admin:\n  addr: "+addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, e := cli("status", "-c", cfg, "--json"); code != exitOK || !strings.Contains(out, `"table": "shop.orders"`) {
		t.Errorf("status -c --json: %d %s %s", code, out, e)
	}
	if code, _, _ := cli("healthcheck", "--addr", "127.0.0.1:1", "-q"); code != exitCheck {
		t.Errorf("healthcheck of nothing: %d, want %d", code, exitCheck)
	}
	if code, _, e := cli("status", "--addr", "127.0.0.1:1"); code != exitFailure || !strings.Contains(e, "is odsync running") {
		t.Errorf("status of nothing: %d %s", code, e)
	}
	if code, _, _ := cli("status", "--bogus"); code != exitUsage {
		t.Errorf("status --bogus: %d, want %d", code, exitUsage)
	}
}

func TestTermBar(t *testing.T) {
	for _, c := range []struct {
		s    telemetry.SnapshotStatus
		want string
	}{
		{telemetry.SnapshotStatus{RowsRead: 420, RowsTotal: 1000, Percent: 42}, "[####......] 42.0% 420/1000"},
		{telemetry.SnapshotStatus{RowsRead: 7, Percent: -1}, "7 rows read"},
		{telemetry.SnapshotStatus{RowsRead: 10, Done: true, Percent: 100}, "[##########] done 10"},
	} {
		if got := termBar(&c.s); got != c.want {
			t.Errorf("termBar(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}
