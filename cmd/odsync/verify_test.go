package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "odsync.yaml")
	if err := os.WriteFile(cfg, []byte(`source:
  type: mysql
  mysql:
    addr: 127.0.0.1:1
sinks:
  - name: files
    type: local
    local:
      dir: `+filepath.Join(dir, "ods")+`
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, exitOK, "Usage: odsync verify"},
		{nil, exitUsage, "-c FILE is required"},
		{[]string{"-c", cfg, "--format", "yaml"}, exitUsage, "--format"},
		{[]string{"-c", cfg, "--sink", "nope"}, exitUsage, "no such sink"},
		{[]string{"-c", cfg, "--memory", "lots"}, exitUsage, "--memory"},
		{[]string{"-c", cfg, "--rounds", "1"}, exitUsage, "rounds"},
		{[]string{"-c", cfg, "extra"}, exitUsage, "unexpected arguments"},
		// A valid configuration whose source cannot be reached: a runtime failure.
		{[]string{"-c", cfg}, exitFailure, "verify: connect to 127.0.0.1:1"},
	} {
		var stdout, stderr bytes.Buffer
		code := cmdVerify(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("verify %v: exit %d, want %d (stderr %s)", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stdout.String()+stderr.String(), tc.want) {
			t.Errorf("verify %v: output lacks %q:\n%s%s", tc.args, tc.want, stdout.String(), stderr.String())
		}
	}
}
