package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/odsync/odsync/capture/mysql"
)

func TestCmdSnapshotQueuesRequest(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "odsync.yaml")
	yaml := "state:\n  dir: " + filepath.Join(dir, "state") + "\nsource:\n  type: mysql\n  mysql:\n    addr: 127.0.0.1:3306\n" +
		"sinks:\n  - name: files\n    type: local\n    local:\n      dir: " + filepath.Join(dir, "ods") + "\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := cmdSnapshot(context.Background(), []string{"-c", cfgPath, "--table", "shop.orders", "--table", "shop.a,shop.b"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	ents, err := os.ReadDir(filepath.Join(dir, "state", "mysql-snapshot-requests"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("requests: %v %v", ents, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "state", "mysql-snapshot-requests", ents[0].Name()))
	var r mysql.SnapshotRequest
	if err := json.Unmarshal(b, &r); err != nil || strings.Join(r.Tables, " ") != "shop.orders shop.a shop.b" {
		t.Fatalf("request %s: %v", b, err)
	}
	if code := cmdSnapshot(context.Background(), []string{"-c", cfgPath, "--table", "nodot"}, &out, &errb); code != exitUsage {
		t.Errorf("a table without db: exit %d", code)
	}
	if code := cmdSnapshot(context.Background(), []string{"-c", cfgPath}, &out, &errb); code != exitUsage {
		t.Errorf("no table: exit %d", code)
	}
}
