package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/bytesize"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/telemetry"
)

func TestEvaluate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := now.Add(-time.Hour)
	base := func() telemetry.Status {
		return telemetry.Status{Sampled: true,
			Source: telemetry.SourceStatus{Probe: "mysql", Connected: true, SecondsBehind: 1},
			Sinks:  []telemetry.SinkStatus{{Name: "files", Writable: true, LagSeconds: 2}}}
	}
	for _, c := range []struct {
		name   string
		cfg    admin.Config
		edit   func(*telemetry.Status)
		ready  bool
		failed string
	}{
		{"ready", admin.Config{}, func(*telemetry.Status) {}, true, ""},
		{"not sampled", admin.Config{}, func(s *telemetry.Status) { s.Sampled = false }, false, "source"},
		{"source gone", admin.Config{}, func(s *telemetry.Status) {
			s.Source.Connected = false
			s.Source.Error = "dial tcp: connection refused"
		}, false, "source"},
		{"no probe", admin.Config{}, func(s *telemetry.Status) { s.Source.Probe = ""; s.Source.Connected = true }, true, ""},
		{"source lag", admin.Config{ReadyMaxLag: time.Minute}, func(s *telemetry.Status) { s.Source.SecondsBehind = 61 }, false, "source_lag"},
		{"sink lag", admin.Config{ReadyMaxLag: time.Minute}, func(s *telemetry.Status) { s.Sinks[0].LagSeconds = 300 }, false, "sink files lag"},
		{"sink failing", admin.Config{}, func(s *telemetry.Status) {
			s.Sinks[0].Writable = false
			s.Sinks[0].FailingSince = &now
			s.Sinks[0].LastError = "no space left on device"
		}, false, "sink files"},
		{"sink failing within grace", admin.Config{ReadySinkFailures: time.Minute}, func(s *telemetry.Status) {
			s.Sinks[0].Writable = false
			s.Sinks[0].FailingSince = &now
		}, true, ""},
		{"sink failing past grace", admin.Config{ReadySinkFailures: time.Minute}, func(s *telemetry.Status) {
			s.Sinks[0].Writable = false
			s.Sinks[0].FailingSince = &long
		}, false, "sink files"},
		{"stopping", admin.Config{}, func(s *telemetry.Status) { s.Stopping = true }, false, "running"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := base()
			c.edit(&st)
			rd := admin.Evaluate(c.cfg, st, now)
			if rd.Ready != c.ready {
				t.Fatalf("ready = %v, want %v: %+v", rd.Ready, c.ready, rd.Checks)
			}
			if c.failed != "" {
				found := false
				for _, ch := range rd.Checks {
					if !ch.OK && ch.Name == c.failed && ch.Detail != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("no failed check %q with a detail: %+v", c.failed, rd.Checks)
				}
			}
		})
	}
}

func TestConfig(t *testing.T) {
	var c admin.Config
	c.EnsureDefaults()
	if c.Addr != "127.0.0.1:9300" || c.ReadyMaxLag != 5*time.Minute || c.Validate("admin") != nil {
		t.Errorf("defaults: %+v, %v", c, c.Validate("admin"))
	}
	bad := admin.Config{Addr: "nohost", ReadyMaxLag: time.Millisecond, ReadySinkFailures: -1}
	err := bad.Validate("admin")
	for _, w := range []string{"admin.addr", "admin.ready_max_lag", "admin.ready_sink_failures"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %s", err, w)
		}
	}
	off := admin.Config{Addr: "off", ReadyMaxLag: time.Second}
	if off.Enabled() || off.Validate("admin") != nil {
		t.Error("addr off must be valid and disabled")
	}
	for in, want := range map[string]string{"0.0.0.0:9300": "127.0.0.1:9300", ":9300": "127.0.0.1:9300",
		"[::]:9300": "[::1]:9300", "10.0.0.5:9300": "10.0.0.5:9300"} {
		if got := admin.ClientAddr(in); got != want {
			t.Errorf("ClientAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

// probe is a source probe whose answer the test sets.
type probe struct {
	mu  sync.Mutex
	lag telemetry.SourceLag
	err error
}

func (p *probe) Lag(context.Context) (telemetry.SourceLag, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lag, p.err
}

func (p *probe) set(l telemetry.SourceLag, err error) {
	p.mu.Lock()
	p.lag, p.err = l, err
	p.mu.Unlock()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServer runs the admin server on a loopback port over a real log and
// telemetry: health, readiness flipping with the source, status JSON, the
// page and metrics.
func TestServer(t *testing.T) {
	ctx := context.Background()
	log, err := offsets.Open(t.TempDir(), offsets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	pr := &probe{lag: telemetry.SourceLag{Connected: true, BytesBehind: 0, MessagesBehind: -1, WatermarkAge: -1,
		Position: "binlog.000002:400", SourcePosition: "binlog.000002:400"}}
	tel, err := telemetry.New(ctx, telemetry.Config{}, telemetry.Options{Log: log, Source: pr, SourceName: "mysql", Version: "v-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	srv := admin.New(admin.Config{Addr: "127.0.0.1:0"}, tel, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "not sampled") {
		t.Errorf("/readyz before the first sample = %d %s", code, body)
	}
	// Traffic on two tables, written by a sink.
	id := event.TableID{DB: "shop", Table: "orders"}
	tb := (&event.Table{ID: id, Columns: []event.Column{{Name: "id", Type: event.TypeInt}}, Key: []int{0}}).Seal()
	evs := []event.Event{
		{Op: event.OpInsert, Source: id, Table: tb, After: []event.Value{event.Int(1)}, CommitTime: time.Now().UnixMicro()},
		{Op: event.OpRead, Source: event.TableID{DB: "shop", Table: "customers"}, Table: tb, After: []event.Value{event.Int(1)}, CommitTime: time.Now().UnixMicro(), TxnEnd: true},
	}
	if _, err := log.Append(ctx, evs, []byte("cp")); err != nil {
		t.Fatal(err)
	}
	tel.Appended(evs, []byte("cp"), time.Millisecond)
	tel.SinkWrite("files", &sink.Batch{First: 1, Last: 2, Events: evs}, time.Millisecond, nil)
	tel.Sample(ctx)
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %s", code, body)
	}
	// The source goes away: not ready, with the cause.
	pr.set(telemetry.SourceLag{}, errors.New("dial tcp 127.0.0.1:3306: connect: connection refused"))
	tel.Sample(ctx)
	code, body := get(t, base+"/readyz")
	if code != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("/readyz with the source gone = %d %s", code, body)
	}
	// /status is the JSON document.
	code, body = get(t, base+"/status")
	var doc admin.Document
	if err := json.Unmarshal([]byte(body), &doc); err != nil || code != 200 {
		t.Fatalf("/status = %d %v\n%s", code, err, body)
	}
	if doc.Ready || doc.Source.Connected || doc.Version != "v-test" || len(doc.Tables) != 2 || doc.Log.Head != 2 {
		t.Errorf("/status = %+v", doc)
	}
	pr.set(telemetry.SourceLag{Connected: true, BytesBehind: 1234, MessagesBehind: -1, WatermarkAge: -1, SecondsBehind: 3}, nil)
	tel.Sample(ctx)
	// The page names the tables, has sparklines and a snapshot bar, no script.
	code, page := get(t, base+"/")
	if code != 200 {
		t.Fatalf("/ = %d", code)
	}
	for _, want := range []string{"shop.orders", "shop.customers", "<svg class=\"spark\"", "class=\"bar\"", "1.2 KiB of binlog behind", "READY", "files"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Error("the page has a script")
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, `odsync_source_binlog_lag_bytes 1234`) {
		t.Errorf("/metrics = %d, lacks the binlog lag:\n%s", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Errorf("/nope = %d", code)
	}
	tel.SetStopping()
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while stopping = %d %s", code, body)
	}
}

func TestHuman(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{admin.HumanSeconds(0), "0s"}, {admin.HumanSeconds(4.25), "4.2s"}, {admin.HumanSeconds(42), "42s"},
		{admin.HumanSeconds(184), "3m04s"}, {admin.HumanSeconds(7500), "2h05m"}, {admin.HumanSeconds(90000), "1d01h"},
		{bytesize.Human(512), "512 B"}, {bytesize.Human(1536), "1.5 KiB"}, {bytesize.Human(5 << 30), "5.0 GiB"},
		{admin.HumanCount(int64(999)), "999"}, {admin.HumanCount(int64(12345)), "12.3k"}, {admin.HumanCount(uint64(2500000)), "2.50M"},
		{admin.HumanRate(0), "0/s"}, {admin.HumanRate(2.5), "2.5/s"}, {admin.HumanRate(1234), "1234/s"}, {admin.HumanRate(45678), "45.7k/s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestStartAddressTaken: a taken configured address is an error; a taken
// default address is not (odsync runs without the admin server).
func TestStartAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", admin.DefaultAddr)
	if err != nil {
		t.Skipf("SKIPPED: %s is in use here, cannot occupy it for the test: %v", admin.DefaultAddr, err)
	}
	defer ln.Close()
	log, err := offsets.Open(t.TempDir(), offsets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	tel, err := telemetry.New(context.Background(), telemetry.Config{}, telemetry.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var cfg admin.Config
	cfg.EnsureDefaults()
	if err := admin.New(cfg, tel, nil).Start(); err != nil {
		t.Errorf("default address taken: %v, want no error", err)
	}
	if err := admin.New(admin.Config{Addr: admin.DefaultAddr}, tel, nil).Start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("configured address taken: %v, want an error", err)
	}
}
