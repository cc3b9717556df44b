package odpsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// fakeClock is a Config.Now that tests move forward.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// wantAPIError checks an SDK error's status, code and body shape.
func wantAPIError(t *testing.T, what string, err error, status int, code string) *http.Response {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %d %s", what, status, code)
	}
	he := httpError(t, err)
	if he.StatusCode != status || he.ErrorMessage.ErrorCode != code {
		t.Fatalf("%s: %d %s %s, want %d %s", what, he.StatusCode, he.ErrorMessage.ErrorCode, he.Body, status, code)
	}
	return he.Response
}

func wantRaw(t *testing.T, what string, res *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e jsonError
	if res.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Code != code {
		t.Fatalf("%s: %d %s, want %d %s", what, res.StatusCode, body, status, code)
	}
}

func commitURL(srv *Server, table, part, id string) string {
	return fmt.Sprintf("%s/projects/%s/tables/%s?uploadid=%s&partition=%s", srv.URL(), testProject, table, id, strings.ReplaceAll(part, "=", "%3D"))
}

// TestSessionExpiry: upload and stream sessions expire after SessionTTL;
// every request on an expired session gets 409 StatusConflict, a committed
// session still reports CLOSED, and new sessions work.
func TestSessionExpiry(t *testing.T) {
	var clk fakeClock
	srv := startEmu(t, t.TempDir(), func(c *Config) { c.SessionTTL = time.Hour; c.Now = clk.now })
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table exp (id BIGINT) partitioned by (pt STRING);")
	part := "pt=a"
	open := func() *tunnel.UploadSession {
		sess, err := tun.CreateUploadSession(testProject, "exp", tunnel.SessionCfg.WithPartitionKey(part), tunnel.SessionCfg.WithCreatePartition())
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	write := func(sess *tunnel.UploadSession, block int) error {
		w, err := sess.OpenRecordWriter(block)
		if err != nil {
			return err
		}
		if err := w.Write(data.Record{data.BigInt(int64(block))}); err != nil {
			return err
		}
		return w.Close()
	}
	committed, stale := open(), open()
	if err := write(committed, 0); err != nil {
		t.Fatal(err)
	}
	if err := committed.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	if err := write(stale, 0); err != nil {
		t.Fatal(err)
	}
	stream, err := tun.CreateStreamUploadSession(testProject, "exp", tunnel.SessionCfg.WithPartitionKey(part))
	if err != nil {
		t.Fatal(err)
	}
	sw := stream.OpenRecordPackWriter()
	if err := sw.Append(data.Record{data.BigInt(10)}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := sw.Flush(); err != nil {
		t.Fatal(err)
	}

	clk.advance(59 * time.Minute)
	if err := write(stale, 1); err != nil {
		t.Fatalf("block write before the TTL: %v", err)
	}
	clk.advance(2 * time.Minute)
	wantAPIError(t, "block write on an expired session", write(stale, 2), 409, "StatusConflict")
	wantAPIError(t, "status of an expired session", stale.Load(), 409, "StatusConflict")
	res, b := rawDo(t, "POST", commitURL(srv, "exp", part, stale.Id), nil, nil)
	wantRaw(t, "commit of an expired session", res, b, 409, "StatusConflict")
	if !strings.Contains(string(b), "expired") {
		t.Errorf("expiry message: %s", b)
	}
	if err := committed.Load(); err != nil || committed.Status() != tunnel.UploadStatusClosed {
		t.Fatalf("committed session after the TTL: %v %v, want CLOSED", err, committed.Status())
	}
	if err := sw.Append(data.Record{data.BigInt(11)}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = sw.Flush()
	wantAPIError(t, "stream write on an expired session", err, 409, "StatusConflict")

	// New sessions work; nothing of the expired one became visible.
	fresh := open()
	if err := write(fresh, 0); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Commit([]int{0}); err != nil {
		t.Fatal(err)
	}
	assertRows(t, readAll(t, tun, "exp", part, nil), []string{"bigint:0", "bigint:10", "bigint:0"})
}

// TestQuotas: per-table limits on open upload sessions, session creations
// per window and commits per window answer 429 FlowExceeded with a
// Retry-After; other tables are not affected.
func TestQuotas(t *testing.T) {
	var clk fakeClock
	srv := startEmu(t, t.TempDir(), func(c *Config) {
		c.Now = clk.now
		c.MaxUploadSessions = 2
		c.SessionCreateLimit, c.SessionCreateWindow = 4, time.Minute
		c.CommitLimit, c.CommitWindow = 1, 15*time.Second
		c.SessionTTL = time.Hour
	})
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table q (id BIGINT);")
	execSQL(t, o, "create table other (id BIGINT);")
	create := func(table string) (*tunnel.UploadSession, error) { return tun.CreateUploadSession(testProject, table) }
	retryAfter := func(res *http.Response) string { return res.Header.Get("Retry-After") }

	s1, err := create("q")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := create("q")
	if err != nil {
		t.Fatal(err)
	}
	_, err = create("q")
	if res := wantAPIError(t, "third open upload session", err, 429, "FlowExceeded"); retryAfter(res) != "1" {
		t.Errorf("Retry-After %q, want 1", retryAfter(res))
	}
	if _, err := create("other"); err != nil {
		t.Fatalf("another table: %v", err)
	}
	if n := srv.Throttled(OpUploadCreate); n != 1 {
		t.Errorf("Throttled(upload-create) = %d, want 1", n)
	}
	// A commit frees a place; commits are limited per window.
	if err := s1.Commit(nil); err != nil {
		t.Fatal(err)
	}
	res, b := rawDo(t, "POST", fmt.Sprintf("%s/projects/%s/tables/q?uploadid=%s", srv.URL(), testProject, s2.Id), nil, nil)
	wantRaw(t, "second commit within 15s", res, b, 429, "FlowExceeded")
	if ra := res.Header.Get("Retry-After"); ra == "" || ra > "15" || ra == "0" {
		t.Errorf("commit Retry-After %q, want 1..15", ra)
	}
	// Repeating a commit that happened is not a new commit.
	if err := s1.Commit(nil); err != nil {
		t.Fatalf("repeated commit: %v", err)
	}
	clk.advance(15 * time.Second)
	if err := s2.Commit(nil); err != nil {
		t.Fatalf("commit after the window: %v", err)
	}
	// Sessions created on q: two upload sessions (the refused one does not
	// count) and two stream sessions reach the limit of 4.
	for i := 0; i < 2; i++ {
		if _, err := tun.CreateStreamUploadSession(testProject, "q"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = tun.CreateStreamUploadSession(testProject, "q")
	res = wantAPIError(t, "fifth session creation within the window", err, 429, "FlowExceeded")
	if ra := retryAfter(res); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	clk.advance(time.Minute)
	s3, err := create("q")
	if err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Expired sessions no longer count as open.
	if _, err := create("q"); err != nil {
		t.Fatal(err)
	}
	if _, err := create("q"); err == nil {
		t.Fatal("third open session accepted")
	}
	clk.advance(time.Hour)
	if _, err := create("q"); err != nil {
		t.Fatalf("after the open sessions expired: %v", err)
	}
	_ = s3
}

// TestQuotasOff: negative limits turn the checks off.
func TestQuotasOff(t *testing.T) {
	srv := startEmu(t, t.TempDir(), func(c *Config) { c.MaxUploadSessions, c.SessionCreateLimit, c.CommitLimit = -1, -1, -1 })
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table q (id BIGINT);")
	for i := 0; i < 40; i++ {
		s, err := tun.CreateUploadSession(testProject, "q")
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if i < 3 {
			if err := s.Commit(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestClockSkew: with signatures verified, the SDK's own requests pass and
// requests whose Date is more than MaxClockSkew off the server clock get
// 403 RequestTimeTooSkewed, on the service API (XML) and the Tunnel (JSON).
func TestClockSkew(t *testing.T) {
	var clk fakeClock
	srv := startEmu(t, t.TempDir(), func(c *Config) { c.AccessID, c.AccessKey = "emu-id", "emu-secret"; c.Now = clk.now })
	o, tun := clients(srv, "emu-id", "emu-secret")
	execSQL(t, o, "create table skew (id BIGINT);")
	sess, err := tun.CreateStreamUploadSession(testProject, "skew")
	if err != nil {
		t.Fatal(err)
	}
	w := sess.OpenRecordPackWriter()
	if err := w.Append(data.Record{data.BigInt(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := w.Flush(); err != nil {
		t.Fatalf("the SDK's normal requests: %v", err)
	}
	clk.advance(14 * time.Minute)
	if err := o.Table("skew").Load(); err != nil {
		t.Fatalf("14 minutes off: %v", err)
	}
	clk.advance(2 * time.Minute)
	he := httpError(t, o.Table("skew").Load())
	if he.StatusCode != 403 || he.ErrorMessage.ErrorCode != "RequestTimeTooSkewed" || !strings.Contains(string(he.Body), "<Code>RequestTimeTooSkewed</Code>") {
		t.Fatalf("service API: %d %s", he.StatusCode, he.Body)
	}
	_, err = tun.CreateStreamUploadSession(testProject, "skew")
	he = httpError(t, err)
	if he.StatusCode != 403 || he.ErrorMessage.ErrorCode != "RequestTimeTooSkewed" || !strings.HasPrefix(string(he.Body), "{") {
		t.Fatalf("tunnel: %d %s", he.StatusCode, he.Body)
	}
	clk.advance(-32 * time.Minute) // a client clock 16 minutes ahead
	wantAPIError(t, "Date ahead of the server", o.Table("skew").Load(), 403, "RequestTimeTooSkewed")

	// Without signature checks (or with the check off) the Date is not looked at.
	for name, mod := range map[string]func(*Config){
		"unsigned":  func(c *Config) { c.Now = clk.now },
		"check off": func(c *Config) { c.AccessID, c.AccessKey, c.MaxClockSkew, c.Now = "emu-id", "emu-secret", -1, clk.now },
	} {
		srv := startEmu(t, t.TempDir(), mod)
		o, _ := clients(srv, "emu-id", "emu-secret")
		if err := tryExecSQL(o, "create table skew (id BIGINT);"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestUnknownSlotID: a stream write must name a slot the session was given
// (1..slots of its last create or reload); the SDK never sends another.
func TestUnknownSlotID(t *testing.T) {
	srv := startEmu(t, t.TempDir(), func(c *Config) { c.StreamSlots = 3 })
	o, _ := clients(srv, "ak", "sk")
	execSQL(t, o, "create table sl (id BIGINT);")
	res, b := rawDo(t, "POST", srv.URL()+"/projects/"+testProject+"/tables/sl/streams", nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("create: %d %s", res.StatusCode, b)
	}
	var sess struct {
		SessionName string `json:"session_name"`
	}
	if err := json.Unmarshal(b, &sess); err != nil {
		t.Fatal(err)
	}
	put := func(slot string) (*http.Response, []byte) {
		u := fmt.Sprintf("%s/projects/%s/tables/sl/streams?uploadid=%s&record_count=1", srv.URL(), testProject, sess.SessionName)
		if slot != "-" {
			u += "&slotid=" + slot
		}
		return rawDo(t, "PUT", u, strings.NewReader(string(buildStream([]testField{intField(1, 7)}))), nil)
	}
	for _, slot := range []string{"1", "3"} {
		if res, b := put(slot); res.StatusCode != 200 {
			t.Fatalf("slot %s: %d %s", slot, res.StatusCode, b)
		}
	}
	for _, slot := range []string{"4", "0", "x", "-"} {
		res, b := put(slot)
		wantRaw(t, "slot "+slot, res, b, 400, "InvalidArgument")
	}
	// Fewer slots: the session keeps the ids it was given until it reloads
	// (the SDK reloads when a reply reports another slot count).
	if err := srv.SetStreamSlots(1); err != nil {
		t.Fatal(err)
	}
	if res, b := put("3"); res.StatusCode != 200 || res.Header.Get("odps-tunnel-slot-num") != "1" {
		t.Fatalf("slot 3 before the reload: %d %s", res.StatusCode, b)
	}
	res, b = rawDo(t, "POST", fmt.Sprintf("%s/projects/%s/tables/sl/streams?uploadid=%s", srv.URL(), testProject, sess.SessionName), nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("reload: %d %s", res.StatusCode, b)
	}
	res, b = put("3")
	wantRaw(t, "slot 3 after the reload", res, b, 400, "InvalidArgument")
	if got := len(readAll(t, tunnel.NewTunnel(o, srv.TunnelEndpoint()), "sl", "", nil)); got != 3 {
		t.Fatalf("%d rows, want 3 (refused writes store nothing)", got)
	}

	off := startEmu(t, t.TempDir(), func(c *Config) { c.AcceptUnknownSlots = true })
	o2, _ := clients(off, "ak", "sk")
	execSQL(t, o2, "create table sl (id BIGINT);")
	res, b = rawDo(t, "POST", off.URL()+"/projects/"+testProject+"/tables/sl/streams", nil, nil)
	json.Unmarshal(b, &sess)
	res, b = rawDo(t, "PUT", fmt.Sprintf("%s/projects/%s/tables/sl/streams?uploadid=%s&slotid=99", off.URL(), testProject, sess.SessionName),
		strings.NewReader(string(buildStream([]testField{intField(1, 7)}))), nil)
	if res.StatusCode != 200 {
		t.Fatalf("AcceptUnknownSlots: %d %s", res.StatusCode, b)
	}
}

// TestTableModified: the commit of an upload session opened before an
// ALTER TABLE gets 409 TableModified and stores nothing; a session opened
// after it commits.
func TestTableModified(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("AllowCommitAfterAlter=%v", allow), func(t *testing.T) {
			srv := startEmu(t, t.TempDir(), func(c *Config) { c.AllowCommitAfterAlter = allow })
			o, tun := clients(srv, "ak", "sk")
			execSQL(t, o, "create table tm (id BIGINT);")
			old, err := tun.CreateUploadSession(testProject, "tm")
			if err != nil {
				t.Fatal(err)
			}
			w, _ := old.OpenRecordWriter(0)
			w.Write(data.Record{data.BigInt(1)})
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			execSQL(t, o, "alter table tm add columns (v STRING);")
			res, b := rawDo(t, "POST", fmt.Sprintf("%s/projects/%s/tables/tm?uploadid=%s", srv.URL(), testProject, old.Id), nil, nil)
			if allow {
				if res.StatusCode != 200 {
					t.Fatalf("commit: %d %s", res.StatusCode, b)
				}
				return
			}
			wantRaw(t, "commit after ALTER", res, b, 409, "TableModified")
			fresh, err := tun.CreateUploadSession(testProject, "tm")
			if err != nil {
				t.Fatal(err)
			}
			w, _ = fresh.OpenRecordWriter(0)
			w.Write(data.Record{data.BigInt(2), data.String("x")})
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := fresh.Commit([]int{0}); err != nil {
				t.Fatal(err)
			}
			assertRows(t, readAll(t, tun, "tm", "", nil), []string{"bigint:2 | string:x"})
		})
	}
}

func TestLimitDefaults(t *testing.T) {
	c := Config{DataDir: "x"}
	c.EnsureDefaults()
	if c.SessionTTL != 24*time.Hour || c.MaxUploadSessions != 32 || c.SessionCreateLimit != 500 ||
		c.SessionCreateWindow != 5*time.Minute || c.CommitLimit != 75 || c.CommitWindow != 15*time.Second ||
		c.MaxClockSkew != 15*time.Minute || c.Now == nil || c.AcceptUnknownSlots || c.AllowCommitAfterAlter {
		t.Fatalf("defaults: %+v", c)
	}
	c.SessionCreateWindow, c.CommitWindow = -1, -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "SessionCreateWindow") || !strings.Contains(err.Error(), "CommitWindow") {
		t.Fatalf("Validate: %v", err)
	}
}
