package s3

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/readback"
)

// Kind describes the S3 sink for the registry (sinks[].type s3).
func Kind() registry.Sink {
	return registry.NewSink("s3", registry.SinkFuncs[Config]{
		Defaults: func(c *Config, env registry.Env) {
			if c.SpoolDir == "" {
				c.SpoolDir = filepath.Join(env.StateDir, "s3-"+env.Name)
			}
			c.EnsureDefaults()
		},
		Validate: func(c *Config, path string) error { return c.Validate(path) },
		New: func(c *Config, deps registry.SinkDeps) (pipeline.Sink, error) {
			return New(*c, deps.Mapper, deps.Logger)
		},
		Check: func(ctx context.Context, c *Config) (registry.CheckReport, error) {
			if err := Check(ctx, *c); err != nil {
				return registry.CheckReport{Fix: Explain(err, *c)}, err
			}
			return registry.CheckReport{OK: fmt.Sprintf("s3://%s/%s writable", c.Bucket, c.Prefix)}, nil
		},
		Secrets: func(c *Config) []string { return []string{c.SecretAccessKey, c.SessionToken} },
		VerifyReader: func(ctx context.Context, c *Config, _, tmpDir string) (readback.Reader, error) {
			cfg := *c
			cfg.EnsureDefaults()
			cl, err := NewClient(ctx, cfg)
			if err != nil {
				return nil, fmt.Errorf("verify: %w", err)
			}
			return NewReader(cl, cfg.Bucket, cfg.Prefix, tmpDir), nil
		},
		Plan: func(c *Config, t *schema.Target, o registry.PlanOptions) string {
			ddl, err := c.AthenaDDL(t, o.Database)
			if err != nil {
				return fmt.Sprintf("(S3): %v", err)
			}
			return "(S3, Athena/Glue):\n" + ddl
		},
	})
}
