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
		{[]string{"-c", cfg}, exitVerifyIncomplete, "verify: connect to 127.0.0.1:1"},
		{[]string{"-c", cfg, "--json"}, exitVerifyIncomplete, "verify: connect to 127.0.0.1:1"},
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

// TestVerifySinksSelect: --sink selects exactly the named sinks, in
// configuration order, whatever their position; a MaxCompute sink gets a
// reader too.
func TestVerifySinksSelect(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odsync.yaml")
	if err := os.WriteFile(path, []byte(`source:
  type: mysql
  mysql:
    addr: 127.0.0.1:1
sinks:
  - name: a
    type: local
    local:
      dir: `+filepath.Join(dir, "a")+`
  - name: b
    type: local
    local:
      dir: `+filepath.Join(dir, "b")+`
  - name: mc
    type: maxcompute
    maxcompute:
      endpoint: http://127.0.0.1:1/api
      tunnel_endpoint: http://127.0.0.1:1
      project: p
      access_id: ak
      access_key: sk
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		only []string
		want string
	}{
		{nil, "a,b,mc"},
		{[]string{"a"}, "a"},
		{[]string{"b"}, "b"},
		{[]string{"mc"}, "mc"},
		{[]string{"mc", "a"}, "a,mc"},
	} {
		got, err := verifySinks(context.Background(), cfg, tc.only, "")
		if err != nil {
			t.Fatalf("%v: %v", tc.only, err)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.Name)
		}
		if strings.Join(names, ",") != tc.want {
			t.Errorf("--sink %v: verified %v, want %s", tc.only, names, tc.want)
		}
	}
	if _, err := verifySinks(context.Background(), cfg, []string{"a", "zz", "zz"}, ""); err == nil || strings.Count(err.Error(), "zz") != 1 {
		t.Errorf("unknown sink: %v", err)
	}
}
