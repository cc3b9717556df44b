// Package examples holds one runnable configuration per common job; this
// test loads each through the code `odsync check` and `odsync run` use
// (config.Load: strict decoding, ${ENV} expansion, defaults, validation,
// then schema.New for the mapping), so an example cannot drift from the
// configuration the binary accepts.
package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/odsync/odsync/config"
	"github.com/odsync/odsync/registry/builtin"
	"github.com/odsync/odsync/schema"
)

// The jobs the README promises an example for: file -> source type, sink types.
var jobs = map[string]struct {
	source string
	sinks  []string
}{
	"mysql-local.yaml":      {"mysql", []string{"local"}},
	"mysql-s3.yaml":         {"mysql", []string{"s3"}},
	"mysql-maxcompute.yaml": {"mysql", []string{"maxcompute"}},
	"ticdc-s3.yaml":         {"ticdc", []string{"s3"}},
	"ticdc-maxcompute.yaml": {"ticdc", []string{"maxcompute"}},
	"debezium-s3.yaml":      {"kafka", []string{"s3"}},
	"mysql-tidb.yaml":       {"mysql", []string{"mysql"}},
	"tidb-s3.yaml":          {"tidb", []string{"s3"}},
	"s3-mysql.yaml":         {"s3", []string{"mysql"}},
	"maxcompute-mysql.yaml": {"maxcompute", []string{"mysql"}},
}

// env holds a value for every ${VAR} the examples reference.
var env = map[string]string{
	"ODSYNC_MYSQL_PASSWORD":           "mysql-secret",
	"S3_ACCESS_KEY_ID":                "AKIAEXAMPLE",
	"S3_SECRET_ACCESS_KEY":            "s3-secret",
	"ALIBABA_CLOUD_ACCESS_KEY_ID":     "LTAIEXAMPLE",
	"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "odps-secret",
	"KAFKA_PASSWORD":                  "kafka-secret",
	"REPLICA_PASSWORD":                "replica-secret",
	"TIDB_DSN":                        "odsync:tidb-secret@tcp(tidb-1:4000)/",
}

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range jobs {
		if !slices.Contains(names, name) {
			t.Errorf("example %s is missing", name)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			job, ok := jobs[name]
			if !ok {
				t.Fatalf("%s: not listed in jobs (add it, with its source and sink types)", name)
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			// A MaxCompute sink without access_id falls back to these; make
			// sure the examples do not depend on the environment that way.
			t.Setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "")
			cfg, err := config.Load(name, builtin.Registry())
			if err != nil {
				t.Fatalf("odsync check would refuse it:\n%v", err)
			}
			if _, err := schema.New(cfg.Mapping); err != nil {
				t.Fatalf("mapping: %v", err)
			}
			if cfg.Source.Type != job.source {
				t.Errorf("source.type = %q, want %q", cfg.Source.Type, job.source)
			}
			var sinks []string
			for _, s := range cfg.Sinks {
				sinks = append(sinks, s.Type)
			}
			if !slices.Equal(sinks, job.sinks) {
				t.Errorf("sink types = %v, want %v", sinks, job.sinks)
			}
			// The secrets arrive from the environment (a DSN's password
			// as part of the DSN).
			for _, secret := range secretsOf(cfg) {
				if !slices.ContainsFunc(mapValues(env), func(v string) bool { return strings.Contains(v, secret) }) {
					t.Errorf("secret %q is not one of the test's ${ENV} values: give it as ${VAR}", secret)
				}
			}
		})
	}
}

// TestExamplesSecretsAreEnvReferences checks the text: every key that holds
// a secret is given as a ${VAR} reference, never in clear.
func TestExamplesSecretsAreEnvReferences(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secretKey := regexp.MustCompile(`^\s*(password|secret_access_key|access_key|session_token|sts_token|access_key_id|access_id)\s*:\s*(.*?)\s*$`)
	envRef := regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			m := secretKey.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			n++
			if !envRef.MatchString(m[2]) {
				t.Errorf("%s:%d: %s is %q: give it as ${VAR}", f, i+1, m[1], m[2])
			}
		}
		if n == 0 && !strings.Contains(f, "local") {
			t.Errorf("%s: no credentials at all; expected ${VAR} references", f)
		}
	}
}

// secretsOf lists the secrets odsync redacts from its logs (each kind's
// Secrets).
func secretsOf(cfg *config.Config) []string {
	var out []string
	add := func(s ...string) {
		for _, v := range s {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	add(cfg.Source.Kind.Secrets(cfg.Source.Settings)...)
	for _, s := range cfg.Sinks {
		add(s.Kind.Secrets(s.Settings)...)
	}
	return out
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
