package kafka

import (
	"context"
	"fmt"

	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
)

// Kind describes the Kafka sink for the registry (sinks[].type kafka). It
// creates no tables: odsync schema plan prints nothing for it, and it
// cannot be verified.
func Kind() registry.Sink {
	return registry.NewSink("kafka", registry.SinkFuncs[Config]{
		Defaults: func(c *Config, _ registry.Env) { c.EnsureDefaults() },
		Validate: func(c *Config, path string) error { return c.Validate(path) },
		ValidateBatch: func(_ *Config, b pipeline.BatchPolicy, path string) error {
			if b.InFlight > 1 {
				return fmt.Errorf("%s.batch.in_flight: %d: a kafka sink writes one batch at a time (per-partition order)", path, b.InFlight)
			}
			return nil
		},
		New: func(c *Config, deps registry.SinkDeps) (pipeline.Sink, error) {
			return New(*c, deps.Logger)
		},
		Check: func(ctx context.Context, c *Config) (registry.CheckReport, error) {
			what, err := Check(ctx, *c)
			if err != nil {
				return registry.CheckReport{}, err
			}
			return registry.CheckReport{OK: what}, nil
		},
		Secrets: func(c *Config) []string { return []string{c.SASL.Password} },
	})
}
