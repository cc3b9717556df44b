package maxcompute

import (
	"context"
	"fmt"

	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/readback"
)

// Kind describes the MaxCompute sink for the registry (sinks[].type
// maxcompute). Its mapping obeys MaxCompute's type limits.
func Kind() registry.Sink {
	return registry.NewSink("maxcompute", registry.SinkFuncs[Config]{
		System:   schema.SystemMaxCompute,
		Defaults: func(c *Config, _ registry.Env) { c.EnsureDefaults() },
		Validate: func(c *Config, path string) error { return c.Validate(path) },
		New: func(c *Config, deps registry.SinkDeps) (pipeline.Sink, error) {
			return New(*c, deps.Mapper, deps.Log, deps.Logger)
		},
		Check: func(ctx context.Context, c *Config) (registry.CheckReport, error) {
			ep, err := Check(ctx, *c)
			if err != nil {
				return registry.CheckReport{}, err
			}
			rep := registry.CheckReport{OK: fmt.Sprintf("project %s, tunnel %s", c.Project, ep)}
			if note := EndpointNote(*c, ep); note != "" {
				rep.Notes = append(rep.Notes, note)
			}
			return rep, nil
		},
		Secrets: func(c *Config) []string { return []string{c.AccessKey, c.STSToken} },
		VerifyReader: func(_ context.Context, c *Config, _, _ string) (readback.Reader, error) {
			mc := *c
			mc.EnsureDefaults()
			acct, err := NewAccount(mc)
			if err != nil {
				return nil, err
			}
			return NewReader(ReaderConfig{Endpoint: mc.Endpoint, TunnelEndpoint: mc.TunnelEndpoint,
				Project: mc.Project, Schema: mc.Schema, Account: acct})
		},
		Plan: func(c *Config, t *schema.Target, _ registry.PlanOptions) string {
			return fmt.Sprintf("(MaxCompute project %s):\n%s", c.Project,
				t.MaxComputeCreate(schema.MaxComputeOptions{Project: c.Project, Schema: c.Schema, Lifecycle: c.Lifecycle}))
		},
	})
}
