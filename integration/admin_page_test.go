package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/admin"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
)

// chromium returns the headless browser (Debian package chromium); it
// fails the test in CI and skips it loudly elsewhere when missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	harness.Unavailable(t, "chromium (Debian package chromium)", exec.ErrNotFound)
	return ""
}

// runChromium runs headless Chromium with args on url and returns stdout.
func runChromium(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--window-size=1200,900"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = t.TempDir()
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestAdminStatusPageInChromium renders the live status page of an odsync
// streaming two tables in headless Chromium: the DOM names both tables and
// the sink, and the screenshot is a real, non-blank rendering.
func TestAdminStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS page", "CREATE DATABASE page",
		"CREATE TABLE page.orders (id INT PRIMARY KEY, v VARCHAR(40))",
		"CREATE TABLE page.customers (id INT PRIMARY KEY, name VARCHAR(40))")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "page", "")
	withAdmin(t, cfg, "")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	base := waitAdmin(t, p)
	waitRunning(t, p)

	// A few rounds of traffic so the sparklines have points.
	for round := range 4 {
		for i := range 15 {
			id := round*100 + i
			mustExec(t, db, fmt.Sprintf("INSERT INTO page.orders VALUES (%d, 'o')", id))
			if i%3 == 0 {
				mustExec(t, db, fmt.Sprintf("INSERT INTO page.customers VALUES (%d, 'c')", id))
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	harness.Eventually(t, 60*time.Second, "both tables written with history", func() (bool, string) {
		_, body := adminGet(t, base+"/status")
		var doc admin.Document
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			return false, err.Error()
		}
		n := 0
		for _, tb := range doc.Tables {
			if len(tb.RateHistory) >= 3 && tb.LagEvents == 0 && tb.Events > 0 {
				n++
			}
		}
		return n == 2 && doc.Ready, body
	})

	dom := string(runChromium(t, bin, base+"/", "--dump-dom"))
	for _, want := range []string{"page.orders", "page.customers", `id="tables"`, `id="sinks"`, ">files<", "READY", `class="spark"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %q:\n%s", want, dom)
		}
	}

	shotDir := t.TempDir()
	runChromium(t, bin, base+"/", "--screenshot="+filepath.Join(shotDir, "status.png"), "--hide-scrollbars")
	raw, err := os.ReadFile(filepath.Join(shotDir, "status.png"))
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if d := os.Getenv("ODSYNC_SCREENSHOT_DIR"); d != "" {
		_ = os.WriteFile(filepath.Join(d, "status-page.png"), raw, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1200x900", b.Dx(), b.Dy())
	}
	colors, dark, blue := screenshotStats(img)
	// A rendered page has text (dark pixels), the header bar, the blue
	// throughput sparklines and many anti-aliased colours; a blank or
	// error page has few.
	if colors < 50 || dark < 0.02 || blue < 50 {
		t.Errorf("screenshot looks blank: %d colours, %.3f dark, %d sparkline-blue pixels", colors, dark, blue)
	}
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v", code, err)
	}
}

// screenshotStats counts distinct colours, the share of dark pixels and
// the pixels of the sparkline blue (#2a6fdb).
func screenshotStats(img image.Image) (colors int, dark float64, blue int) {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	var nDark, n int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			seen[[3]uint32{r, g, bl}] = true
			if r+g+bl < 200 {
				nDark++
			}
			if absDiff(r, 0x2a) < 12 && absDiff(g, 0x6f) < 12 && absDiff(bl, 0xdb) < 12 {
				blue++
			}
			n++
		}
	}
	return len(seen), float64(nDark) / float64(n), blue
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestAdminStatusPageShowsFailureAndSnapshot renders the status page while
// a MaxCompute sink cannot write (the emulator refuses every upload) and,
// because of it, the log is full and a snapshot is held half-way: the page
// says NOT READY, names the failing sink and its error, and draws the
// snapshot's progress bar below 100%.
func TestAdminStatusPageShowsFailureAndSnapshot(t *testing.T) {
	bin := chromium(t)
	emu := startMCEmu(t)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS pagef", "CREATE DATABASE pagef",
		"CREATE TABLE pagef.big (id INT PRIMARY KEY, pad VARCHAR(200))")
	// More than the capture queue (16 MiB) and the log (1 MiB) hold, so
	// the snapshot waits for the sink half-way.
	mustExec(t, db, "INSERT INTO pagef.big SELECT seq, REPEAT('x', 190) FROM pagef.seq_1_to_150000")
	mustExec(t, db, "ANALYZE TABLE pagef.big")
	if err := emu.SetFaults(odpsemu.Faults{ErrorRate: 1, Status: 500, Ops: []odpsemu.Op{odpsemu.OpStreamWrite, odpsemu.OpBlockWrite}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := mcRunConfig(t, dir, srv.Addr(), "pagef", "    snapshot_chunk_rows: 500\n", "",
		mcSinkYAML(emu, "warehouse", "max_attempts: 2", "max_rows: 500\n      max_age: 100ms"))
	harness.WriteFile(t, cfg, strings.Replace(readFile(t, cfg), "state:\n", "state:\n  max_log_bytes: 1MiB\n", 1)+
		"admin:\n  addr: 127.0.0.1:0\n  ready_sink_failures: 1s\n")
	withAdmin(t, cfg, "")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	defer p.Kill()
	base := waitAdmin(t, p)
	harness.Eventually(t, 60*time.Second, "a failing sink and a snapshot held mid-way", func() (bool, string) {
		_, body := adminGet(t, base+"/status")
		var doc admin.Document
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			return false, err.Error()
		}
		failing := false
		for _, s := range doc.Sinks {
			failing = failing || s.Name == "warehouse" && !s.Writable
		}
		for _, tb := range doc.Tables {
			if tb.Table == "pagef.big" && tb.Snapshot != nil && !tb.Snapshot.Done && tb.Snapshot.RowsRead > 0 {
				return failing && !doc.Ready, body
			}
		}
		return false, body
	})
	dom := string(runChromium(t, bin, base+"/", "--dump-dom"))
	for _, want := range []string{"NOT READY", ">warehouse<", "failing", "pagef.big", `aria-label="snapshot `} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %q:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, `aria-label="snapshot done`) {
		t.Errorf("the snapshot shows as done while it is held")
	}
	shotDir := t.TempDir()
	runChromium(t, bin, base+"/", "--screenshot="+filepath.Join(shotDir, "failing.png"), "--hide-scrollbars")
	raw, err := os.ReadFile(filepath.Join(shotDir, "failing.png"))
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if d := os.Getenv("ODSYNC_SCREENSHOT_DIR"); d != "" {
		_ = os.WriteFile(filepath.Join(d, "status-page-failing.png"), raw, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if colors, dark, _ := screenshotStats(img); colors < 50 || dark < 0.02 {
		t.Errorf("screenshot looks blank: %d colours, %.3f dark", colors, dark)
	}
}
