package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/registry/builtin"
	"github.com/odsync/odsync/schema"
)

// fakeConfig is the settings of a sink kind that exists only in this test.
type fakeConfig struct {
	Path  string `yaml:"path"`
	Depth int    `yaml:"depth"`
}

// withFakeSink is the built-in registry plus one sink kind, registered the
// way a new sink package does (docs/extending.md).
func withFakeSink() *registry.Registry {
	b := builtin.Registry()
	fake := registry.NewSink("fake", registry.SinkFuncs[fakeConfig]{
		Defaults: func(c *fakeConfig, env registry.Env) {
			if c.Depth == 0 {
				c.Depth = len(env.Name)
			}
		},
		Validate: func(c *fakeConfig, path string) error {
			if c.Path == "" {
				return errors.New(path + ".path: required")
			}
			return nil
		},
		New: func(*fakeConfig, registry.SinkDeps) (pipeline.Sink, error) {
			return nil, errors.New("not in this test")
		},
		Plan: func(c *fakeConfig, t *schema.Target, _ registry.PlanOptions) string {
			return "(fake " + c.Path + "): " + t.Name
		},
	})
	return registry.New(b.Sources(), append(b.Sinks(), fake))
}

// TestNewSinkKindNeedsNoConfigChange: a registered kind's settings decode
// under its key, its type is inferred, defaults and validation run, and
// messages list it, with no change to this package.
func TestNewSinkKindNeedsNoConfigChange(t *testing.T) {
	reg := withFakeSink()
	const head = "state: {dir: /tmp/x}\nsource: {mysql: {addr: \"127.0.0.1:1\", user: root}}\nsinks:\n"
	c, err := Parse([]byte(head+"  - {name: abc, fake: {path: /p}}\n"), env(nil), reg)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sinks[0]
	fc, ok := s.Settings.(*fakeConfig)
	if s.Type != "fake" || s.Kind == nil || s.Kind.Name != "fake" || !ok || fc.Path != "/p" || fc.Depth != 3 {
		t.Fatalf("sink %+v settings %+v", s, s.Settings)
	}
	_, err = Parse([]byte(head+"  - {name: abc, type: fake, fake: {depth: 1, bogus: 2}}\n  - {name: d, type: nope}\n"), env(nil), reg)
	for _, want := range []string{"sinks[0].fake.bogus: unknown key", "sinks[0].fake.path: required", `sinks[1].type: "nope": want local, s3, maxcompute, kafka, mysql or fake`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	// The built-in registry does not know the kind.
	_, err = Parse([]byte(head+"  - {name: abc, fake: {path: /p}}\n"), env(nil), builtin.Registry())
	if err == nil || !strings.Contains(err.Error(), "sinks[0].fake: unknown key") {
		t.Errorf("unknown kind: %v", err)
	}
}
