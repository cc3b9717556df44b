package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
)

// withAdmin makes a config file serve the admin server on a free loopback
// port (unless it already configures admin:) with a fast telemetry sample
// interval, plus extra top-level YAML.
func withAdmin(t *testing.T, cfgPath, extra string) {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if !regexp.MustCompile(`(?m)^admin:`).MatchString(text) {
		text += "admin:\n  addr: 127.0.0.1:0\n"
	}
	if !regexp.MustCompile(`(?m)^telemetry:`).MatchString(text) {
		text += "telemetry:\n  sample_interval: 250ms\n"
	}
	harness.WriteFile(t, cfgPath, text+extra)
}

var adminListening = regexp.MustCompile(`admin server listening.*?addr"?[=:]"?(127\.0\.0\.1:[0-9]+)`)

// waitAdmin waits for odsync to log its admin address and returns its base URL.
func waitAdmin(t *testing.T, p *harness.Process) string {
	t.Helper()
	var base string
	harness.Eventually(t, 30*time.Second, "the admin server to listen", func() (bool, string) {
		b, _ := os.ReadFile(p.Log)
		if p.Exited() {
			t.Fatalf("odsync exited early:\n%s", b)
		}
		m := adminListening.FindSubmatch(b)
		if m == nil {
			return false, string(b)
		}
		base = "http://" + string(m[1])
		return true, ""
	})
	return base
}

// adminGet fetches a URL from the admin server.
func adminGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminCmd runs an odsync command to completion and returns its exit code
// and combined output.
func adminCmd(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("odsync %s: %v", strings.Join(args, " "), err)
	}
	return 0, string(out)
}
