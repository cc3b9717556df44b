package maxcompute

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

func TestConfigYAMLAndDefaults(t *testing.T) {
	var c Config
	err := yaml.Unmarshal([]byte(`
endpoint: http://service.cn-hangzhou.maxcompute.aliyun.com/api
tunnel_endpoint: http://dt.cn-hangzhou-vpc.maxcompute.aliyun-inc.com
project: dw
schema: ods
quota_name: q1
access_id: id
access_key: key
sts_token: tok
compression: zstd
slots: 8
flush_size: 8MiB
flush_age: 2s
block_size: 64MiB
merge:
  base_suffix: _cur
  schedule: true
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	c.EnsureDefaults()
	if err := c.Validate("sinks[0].maxcompute"); err != nil {
		t.Fatal(err)
	}
	if c.FlushSize != 8<<20 || c.BlockSize != 64<<20 || c.Slots != 8 || c.MaxAttempts != 6 || c.BlockWriters != 4 ||
		c.Merge.BaseSuffix != "_cur" || c.Merge.Delay == 0 || c.SessionTTL == 0 {
		t.Errorf("decoded/defaulted %+v", c)
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	t.Setenv(EnvAccessID, "")
	t.Setenv(EnvAccessKey, "")
	c := Config{Connection: Connection{Endpoint: "ftp://x", TunnelEndpoint: "dt", Project: "9bad", Schema: "a-b"}, Compression: "lz4", Slots: 100, FlushSize: 1, MaxAttempts: -1, BlockSize: 1 << 40, SessionTTL: 48 * 60 * 60 * 1e9, SQLHints: map[string]string{"a b": "1"}, Merge: MergeConfig{BaseSuffix: "BAD"}, CommitBlocks: 19001, CommitAge: 48 * time.Hour, CommitIdle: -time.Second}
	c.EnsureDefaults()
	err := c.Validate("sinks[2].maxcompute")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"endpoint", "tunnel_endpoint", "project", "schema", "access_id", "compression", "slots",
		"flush_size", "max_attempts", "block_size", "session_ttl", "sql_hints", "merge.base_suffix", "commit_blocks", "commit_age", "commit_idle"} {
		if !strings.Contains(err.Error(), "sinks[2].maxcompute."+want+":") {
			t.Errorf("no problem reported for %s in:\n%v", want, err)
		}
	}
}

func TestCredentials(t *testing.T) {
	t.Setenv(EnvAccessID, "env-id")
	t.Setenv(EnvAccessKey, "env-key")
	t.Setenv(EnvSTSToken, "env-token")
	c := Config{Connection: Connection{Endpoint: "http://e/api", Project: "p"}}
	c.EnsureDefaults()
	if err := c.Validate("x"); err != nil {
		t.Fatal(err)
	}
	if id, key, tok, err := c.credentials(true); id != "env-id" || key != "env-key" || tok != "env-token" || err != nil {
		t.Errorf("from env: %q %q %q %v", id, key, tok, err)
	}
	file := filepath.Join(t.TempDir(), "key")
	os.WriteFile(file, []byte("  file-secret \nignored\n"), 0o600)
	c.AccessID, c.AccessKeyFile = "cfg-id", file
	if id, key, _, err := c.credentials(true); id != "cfg-id" || key != "file-secret" || err != nil {
		t.Errorf("from file: %q %q %v", id, key, err)
	}
	c.AccessKeyFile = filepath.Join(t.TempDir(), "missing")
	if _, _, _, err := c.credentials(true); err == nil {
		t.Error("a missing key file is accepted")
	}
	c.AccessKeyFile, c.AccessKey = "", ""
	if err := c.Validate("x"); err == nil || !strings.Contains(err.Error(), "access_key") {
		t.Errorf("access_id without a key: %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c := Config{Connection: Connection{Endpoint: "http://e/api", Project: "p", AccessID: "AKID-SECRET-ID", AccessKey: "SUPER-SECRET-KEY", STSToken: "STS-SECRET"}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", c)
	out := buf.String() + fmt.Sprint(c) + fmt.Sprintf("%v %s", c, c)
	for _, secret := range []string{"SUPER-SECRET-KEY", "STS-SECRET", "AKID-SECRET-ID"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s printed: %s", secret, out)
		}
	}
	if !strings.Contains(out, "p") {
		t.Error("nothing printed")
	}
}

// TestCompressionsAndSchema writes through every compression into a
// project with a schema (3-tier names; the emulator knows only the schema
// "default", which exercises the qualified DDL and the /schemas/ paths).
func TestCompressionsAndSchema(t *testing.T) {
	for _, comp := range []string{CompressionSnappy, CompressionZstd, CompressionDeflate, CompressionNone} {
		t.Run(comp, func(t *testing.T) {
			h := newHarness(t, schema.Config{}, func(c *Config) { c.Compression = comp; c.Schema = "default" })
			tbl := simpleTable()
			h.write(batch(simpleEvents(tbl, 1, 200, event.OpInsert)))
			h.write(batch(snapshotEvents(tbl, 201, 50)))
			if n := len(readTable(t, h.emu, "ods_app_t", "ds=20240501")); n != 250 {
				t.Fatalf("%d rows, want 250", n)
			}
		})
	}
}
