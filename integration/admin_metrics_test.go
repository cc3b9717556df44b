package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/integration/harness"
)

// metricValue returns the value of one Prometheus sample line (name with
// labels exactly as exposed), or -1.
func metricValue(body, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestAdminMetricsAndStatusCommand streams a workload through the odsync
// binary and checks that /metrics exposes the metrics and that they
// move with load, that lag settles at zero, and that `odsync status` and
// `odsync healthcheck` read the admin server.
func TestAdminMetricsAndStatusCommand(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS adm", "CREATE DATABASE adm",
		"CREATE TABLE adm.orders (id INT PRIMARY KEY, v VARCHAR(40))",
		"CREATE TABLE adm.customers (id INT PRIMARY KEY, name VARCHAR(40))")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "adm", "")
	withAdmin(t, cfg, "")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	base := waitAdmin(t, p)
	addr := strings.TrimPrefix(base, "http://")
	waitRunning(t, p)

	insert := func(table string, from, n int) {
		for i := from; i < from+n; i++ {
			mustExec(t, db, fmt.Sprintf("INSERT INTO adm.%s VALUES (%d, 'x%d')", table, i, i))
		}
	}
	insert("orders", 0, 50)
	insert("customers", 0, 20)
	mustExec(t, db, "UPDATE adm.orders SET v = 'y' WHERE id < 10", "DELETE FROM adm.customers WHERE id < 5")

	var body string
	harness.Eventually(t, 60*time.Second, "metrics of the first load", func() (bool, string) {
		_, body = adminGet(t, base+"/metrics")
		return metricValue(body, `odsync_events_written_total{op="delete",sink="files",table="adm.customers"}`) == 5 &&
			metricValue(body, `odsync_sink_lag_events{sink="files"}`) == 0, body
	})
	for series, want := range map[string]float64{
		`odsync_events_captured_total{op="insert",table="adm.orders"}`:             50,
		`odsync_events_captured_total{op="update",table="adm.orders"}`:             10,
		`odsync_events_captured_total{op="insert",table="adm.customers"}`:          20,
		`odsync_events_written_total{op="insert",sink="files",table="adm.orders"}`: 50,
		`odsync_source_connected`: 1,
		`odsync_sink_table_lag_events{sink="files",table="adm.orders"}`: 0,
	} {
		if got := metricValue(body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{
		`odsync_captured_size_bytes_total{table="adm.orders"}`,
		`odsync_written_size_bytes_total{sink="files",table="adm.orders"}`,
		`odsync_sink_flush_duration_seconds_count{result="ok",sink="files"}`,
		`odsync_sink_batch_events_count{sink="files"}`,
		`odsync_log_append_duration_seconds_count`,
		`odsync_log_append_events_count`,
		`odsync_log_disk_size_bytes`,
		`odsync_log_head`,
	} {
		if v := metricValue(body, series); v <= 0 {
			t.Errorf("%s = %v, want > 0", series, v)
		}
	}
	for _, series := range []string{`odsync_source_lag_seconds`, `odsync_source_binlog_lag_bytes`,
		`odsync_sink_lag_seconds{sink="files"}`, `odsync_log_size_bytes`} {
		if v := metricValue(body, series); v < 0 {
			t.Errorf("%s is missing", series)
		}
	}

	// More load: the counters move; the lag settles at zero again.
	insert("orders", 50, 30)
	harness.Eventually(t, 60*time.Second, "metrics to move", func() (bool, string) {
		_, body = adminGet(t, base+"/metrics")
		return metricValue(body, `odsync_events_written_total{op="insert",sink="files",table="adm.orders"}`) == 80 &&
			metricValue(body, `odsync_source_binlog_lag_bytes`) == 0 &&
			metricValue(body, `odsync_sink_lag_events{sink="files"}`) == 0, body
	})

	// `odsync status` prints the same, from the admin server.
	code, out := adminCmd(t, nil, "status", "--addr", addr)
	if code != 0 {
		t.Fatalf("odsync status: exit %d\n%s", code, out)
	}
	for _, want := range []string{"READY", "source (mysql): connected", "adm.orders", "adm.customers", "files", "writable"} {
		if !strings.Contains(out, want) {
			t.Errorf("odsync status lacks %q:\n%s", want, out)
		}
	}
	// ... also found through the config file's admin.addr? That is 127.0.0.1:0,
	// so the JSON form is checked through --addr.
	code, out = adminCmd(t, nil, "status", "--addr", addr, "--json")
	var doc admin.Document
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil {
		t.Fatalf("odsync status --json: exit %d, %v\n%s", code, err, out)
	}
	if !doc.Ready || len(doc.Tables) != 2 || doc.Sinks[0].Events != 115 {
		t.Errorf("status document: ready %v, %d tables, sinks %+v", doc.Ready, len(doc.Tables), doc.Sinks)
	}
	if code, out := adminCmd(t, nil, "healthcheck", "--addr", addr); code != 0 {
		t.Errorf("odsync healthcheck: exit %d\n%s", code, out)
	}
	if code, out := adminCmd(t, nil, "healthcheck", "--addr", addr, "--ready"); code != 0 {
		t.Errorf("odsync healthcheck --ready: exit %d\n%s", code, out)
	}
	if code, out := adminCmd(t, nil, "healthcheck", "--addr", "127.0.0.1:1"); code != 3 {
		t.Errorf("odsync healthcheck of nothing: exit %d, want 3\n%s", code, out)
	}
	if code, out := adminCmd(t, nil, "status", "--addr", "127.0.0.1:1"); code != 1 {
		t.Errorf("odsync status of nothing: exit %d, want 1\n%s", code, out)
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v", code, err)
	}
}
