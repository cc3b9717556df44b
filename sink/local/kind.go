package local

import (
	"context"
	"fmt"
	"os"

	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/readback"
)

// Kind describes the local sink for the registry (sinks[].type local).
func Kind() registry.Sink {
	return registry.NewSink("local", registry.SinkFuncs[Config]{
		Defaults: func(c *Config, _ registry.Env) { c.EnsureDefaults() },
		Validate: func(c *Config, path string) error { return c.Validate(path) },
		New: func(c *Config, deps registry.SinkDeps) (pipeline.Sink, error) {
			return New(*c, deps.Mapper)
		},
		Check: check,
		VerifyReader: func(_ context.Context, c *Config, _, _ string) (readback.Reader, error) {
			return NewReader(c.Dir), nil
		},
		Plan: func(c *Config, t *schema.Target, _ registry.PlanOptions) string {
			return fmt.Sprintf("(local %s files): %s/%s/%s=<value>/", c.Format, c.Dir, t.Name, t.PartitionColumn)
		},
	})
}

// check tests that the directory can be created and written.
func check(_ context.Context, c *Config) (registry.CheckReport, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return registry.CheckReport{}, err
	}
	probe, err := os.CreateTemp(c.Dir, ".odsync-check-*")
	if err != nil {
		return registry.CheckReport{}, fmt.Errorf("%s is not writable: %v", c.Dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return registry.CheckReport{OK: c.Dir + " writable"}, nil
}
