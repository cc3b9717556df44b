package harness

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Stop tells a process that exits from one that hangs or dies by a
// signal: "exit code -1" alone cannot.
func TestStopReportsHowTheProcessEnded(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		limit        time.Duration
		code         int
		err          string
	}{
		{"exits", `trap 'exit 3' TERM; while :; do sleep 0.05; done`, 10 * time.Second, 3, ""},
		{"killed by the signal", `exec sleep 30`, 10 * time.Second, -1, "by a signal (signal: terminated)"},
		{"hangs", `trap '' TERM; while :; do sleep 0.05; done`, 300 * time.Millisecond, -1, "did not exit within 300ms after SIGTERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := StartBinary(t, "/bin/sh", nil, filepath.Join(t.TempDir(), "log"), "-c", tc.script)
			time.Sleep(200 * time.Millisecond) // the trap is set
			code, err := p.Stop(tc.limit)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (%v)", code, tc.code, err)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}
