package config

import (
	"github.com/odsync/odsync/offsets"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/capture/tidb"
	"github.com/odsync/odsync/registry/builtin"
	mysqlsink "github.com/odsync/odsync/sink/mysql"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const base = `
state: {dir: /tmp/x, max_log_bytes: 64MiB}
source:
  type: mysql
  mysql: {addr: "127.0.0.1:${PORT}", password: "${PW}", user: "${USER:-odsync}"}
sinks:
  - {name: files, type: local, local: {dir: /tmp/ods}, batch: {max_age: 250ms}}
`

func TestParseExpandsEnvAndDefaults(t *testing.T) {
	c, err := Parse([]byte(base), env(map[string]string{"PORT": "3307", "PW": "p: #{x}'\""}), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	m := c.Source.Settings.(*mysql.Config)
	if m.Addr != "127.0.0.1:3307" || m.Password != "p: #{x}'\"" || m.User != "odsync" {
		t.Fatalf("expanded %+v", m)
	}
	if c.State.MaxLogBytes != 64<<20 || c.Sinks[0].Batch.MaxAge != 250*time.Millisecond || c.Sinks[0].Batch.MaxRows == 0 {
		t.Fatalf("state %+v batch %+v", c.State, c.Sinks[0].Batch)
	}
	if c.Mapping.Target == "" || c.Log.Level != "info" || c.ShutdownTimeout != 30*time.Second {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(base+"bogus: 1\nlog: {lvl: x}\n"), env(map[string]string{"PORT": "1", "PW": ""}), builtin.Registry())
	if err == nil || !strings.Contains(err.Error(), "bogus") || !strings.Contains(err.Error(), "lvl") {
		t.Fatalf("unknown keys: %v", err)
	}
	_, err = Parse([]byte(base), env(nil), builtin.Registry())
	if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "PW") {
		t.Fatalf("missing env vars: %v", err)
	}
	bad := strings.Replace(base, "max_age: 250ms", "max_age: 250ms, max_rows: -5", 1) + "log: {level: loud, format: xml}\n"
	_, err = Parse([]byte(bad), env(map[string]string{"PORT": "x", "PW": ""}), builtin.Registry())
	for _, want := range []string{"max_rows", "log.level", "log.format", "source.mysql.addr"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %s: %v", want, err)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1048576": 1 << 20, "64MiB": 64 << 20, "4GiB": 4 << 30, "512KB": 512000, "2g": 2 << 30} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseByteSize("lots"); err == nil {
		t.Error("ParseByteSize(lots) succeeded")
	}
}

// TestMaxComputeMappingLimits: an override MaxCompute cannot hold is a
// configuration error when a MaxCompute sink is configured, not otherwise.
func TestMaxComputeMappingLimits(t *testing.T) {
	base := `state: {dir: /tmp/x}
source: {type: mysql, mysql: {addr: "127.0.0.1:1", user: root}}
mapping:
  types: {decimal: 'decimal(38,20)'}
sinks:
`
	for _, tc := range []struct {
		sink    string
		wantErr bool
	}{
		{`  - {name: files, type: local, local: {dir: /tmp/y}}`, false},
		{`  - {name: mc, type: maxcompute, maxcompute: {endpoint: "http://127.0.0.1:1/api", project: p, access_id: id, access_key: key}}`, true},
	} {
		path := filepath.Join(t.TempDir(), "odsync.yaml")
		if err := os.WriteFile(path, []byte(base+tc.sink+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, builtin.Registry())
		if tc.wantErr != (err != nil) || err != nil && !strings.Contains(err.Error(), "mapping: types[decimal]: MaxCompute DECIMAL scale is at most 18") {
			t.Errorf("%s: err = %v", tc.sink, err)
		}
	}
}

// TestParseExplainsTyposAndValuesAtOnce: typos and type errors name their
// key path in plain words, and value errors of the rest come in the same
// pass (not only after the typos are fixed).
func TestParseExplainsTyposAndValuesAtOnce(t *testing.T) {
	text := `state:
  dir: /tmp/x
  retenton: 5h
source:
  type: mysql
  mysql:
    addr: 127.0.0.1:3306
    server_id: notanumber
    snapshot: sometimes
sinks:
  - name: files
    type: local
    local:
      dir: /tmp/ods
      formt: jsonl
    batch:
      max_age: -5s
`
	_, err := Parse([]byte(text), env(nil), builtin.Registry())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"line 3: state.retenton: unknown key",
		`line 8: source.mysql.server_id: "notanumber" is not a whole number`,
		"line 15: sinks[0].local.formt: unknown key",
		"source.mysql.snapshot",
		"sinks[0].batch.max_age",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "config.State") || strings.Contains(err.Error(), "uint32") {
		t.Errorf("Go type names in:\n%v", err)
	}
}

func TestMySQLSink(t *testing.T) {
	y := base + `  - {name: back, mysql: {addr: "127.0.0.1:4000", user: root, password: "${PW}"}}
`
	c, err := Parse([]byte(y), env(map[string]string{"PORT": "1", "PW": "pw"}), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sinks[1]
	my, ok := s.Settings.(*mysqlsink.Config)
	if s.Type != "mysql" || !ok || my.Password != "pw" || my.CheckpointTable != "odsync.sink_checkpoint" || my.RowsPerStatement != 500 {
		t.Fatalf("mysql sink %+v %+v", s, my)
	}
	bad := strings.Replace(y, "password: \"${PW}\"}}", "password: \"${PW}\"}, batch: {in_flight: 4}}", 1)
	bad = strings.Replace(bad, "user: root, ", "", 1)
	_, err = Parse([]byte(bad), env(map[string]string{"PORT": "1", "PW": "pw"}), builtin.Registry())
	for _, want := range []string{"sinks[1].mysql.user: required", "sinks[1].batch.in_flight: 4: a mysql sink applies batches in order"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v: want %q", err, want)
		}
	}
}

// TestTiDBSource: source.type tidb takes two keys of source (tidb, and the
// changefeed's ticdc), is inferred when both are given, fills the
// changefeed's TiDB DSN from the snapshot's, and is still one capture.
func TestTiDBSource(t *testing.T) {
	const sinks = `sinks:
  - {name: files, local: {dir: /tmp/ods}}
`
	y := `state: {dir: /tmp/x}
source:
  tidb: {dsn: "root:${PW}@tcp(127.0.0.1:4000)/"}
  ticdc: {brokers: ["127.0.0.1:9092"], topics: [cdc], protocol: canal-json}
` + sinks
	c, err := Parse([]byte(y), env(map[string]string{"PW": "tidbpw"}), builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	k, ok := c.Source.Settings.(*tidb.KindConfig)
	if c.Source.Type != "tidb" || !ok || k.TiDB == nil || k.TiCDC == nil || k.TiCDC.TiDB.DSN != k.TiDB.DSN {
		t.Fatalf("source %+v settings %+v", c.Source, c.Source.Settings)
	}
	if !slices.Contains(c.Source.Kind.Secrets(c.Source.Settings), "tidbpw") {
		t.Errorf("the DSN's password is not a secret: %q", c.Source.Kind.Secrets(c.Source.Settings))
	}
	for _, tc := range []struct{ yaml, want string }{
		{"state: {dir: /tmp/x}\nsource:\n  type: tidb\n  ticdc: {brokers: [\"127.0.0.1:9092\"], topics: [cdc], protocol: canal-json}\n" + sinks,
			"source.tidb: required when source.type is tidb"},
		{"state: {dir: /tmp/x}\nsource:\n  tidb: {dsn: \"root@tcp(127.0.0.1:4000)/\"}\n" + sinks,
			"source.ticdc: required when source.type is tidb"},
		{"state: {dir: /tmp/x}\nsource:\n  tidb: {dsn: \"root@tcp(127.0.0.1:4000)/\"}\n  mysql: {addr: \"127.0.0.1:3306\"}\n" + sinks,
			"source: set only one of mysql, ticdc, kafka, tidb, s3 and maxcompute"},
		{"state: {dir: /tmp/x}\nsource:\n  type: tidb\n  tidb: {dsn: \"root@tcp(127.0.0.1:4000)/\", bogus: 1}\n  ticdc: {brokers: [\"127.0.0.1:9092\"], topics: [cdc], protocol: canal-json}\n" + sinks,
			"source.tidb.bogus: unknown key"},
		{"state: {dir: /tmp/x}\nsource:\n  mysql: {addr: \"127.0.0.1:3306\"}\nsinks:\n  - {name: k, kafka: {brokers: [\"127.0.0.1:9092\"], topic: t}, batch: {in_flight: 2}}\n",
			"sinks[0].batch.in_flight: 2: a kafka sink writes one batch at a time"},
	} {
		_, err := Parse([]byte(tc.yaml), env(nil), builtin.Registry())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nerr %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestMemTableDefault: the config's default memtable is the log's.
func TestMemTableDefault(t *testing.T) {
	var c Config
	c.EnsureDefaults()
	if int64(c.State.MemTableSize) != offsets.DefaultMemTableSize {
		t.Errorf("state.memtable_size default %d, offsets.DefaultMemTableSize %d", c.State.MemTableSize, offsets.DefaultMemTableSize)
	}
}
