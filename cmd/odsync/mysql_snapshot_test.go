package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestCmdSnapshotUsage(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "odsync.yaml")
	yaml := "state:\n  dir: " + filepath.Join(dir, "state") + "\nsource:\n  type: mysql\n  mysql:\n    addr: 127.0.0.1:3306\n" +
		"sinks:\n  - name: files\n    type: local\n    local:\n      dir: " + filepath.Join(dir, "ods") + "\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Queuing a request for real tables is tested in integration
	// (TestSnapshotCommandChecksTables): it needs a source to check them.
	var out, errb bytes.Buffer
	if code := cmdSnapshot(context.Background(), []string{"-c", cfgPath, "--table", "nodot"}, &out, &errb); code != exitUsage {
		t.Errorf("a table without db: exit %d", code)
	}
	if code := cmdSnapshot(context.Background(), []string{"-c", cfgPath}, &out, &errb); code != exitUsage {
		t.Errorf("no table: exit %d", code)
	}
}
