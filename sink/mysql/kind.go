package mysql

import (
	"context"
	"fmt"

	cmysql "github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/readback"
	"github.com/odsync/odsync/verify"
	"github.com/odsync/odsync/verify/mysqlsource"
)

// Kind describes the MySQL sink for the registry (sinks[].type mysql).
func Kind() registry.Sink {
	return registry.NewSink("mysql", registry.SinkFuncs[Config]{
		Defaults: func(c *Config, _ registry.Env) { c.EnsureDefaults() },
		Validate: func(c *Config, path string) error { return c.Validate(path) },
		ValidateBatch: func(_ *Config, b pipeline.BatchPolicy, path string) error {
			if b.InFlight > 1 {
				// The checkpoint row orders batches: one at a time.
				return fmt.Errorf("%s.batch.in_flight: %d: a mysql sink applies batches in order; want 1", path, b.InFlight)
			}
			return nil
		},
		New: func(c *Config, deps registry.SinkDeps) (pipeline.Sink, error) {
			return New(*c, deps.Name, deps.Mapper, deps.Logger)
		},
		Check: func(ctx context.Context, c *Config) (registry.CheckReport, error) {
			version, err := Check(ctx, *c)
			if err != nil {
				return registry.CheckReport{}, err
			}
			return registry.CheckReport{OK: fmt.Sprintf("%s, server %s, checkpoint table %s", c.Addr, version, c.CheckpointTable)}, nil
		},
		Secrets: func(c *Config) []string { return []string{c.Password} },
		VerifyReader: func(ctx context.Context, c *Config, name, _ string) (readback.Reader, error) {
			my := *c
			my.EnsureDefaults()
			pw, err := my.Secret()
			if err != nil {
				return nil, err
			}
			return verify.NewMySQLReader(ctx, verify.MySQLConfig{
				Target:   mysqlsource.Server(cmysql.Config{Addr: my.Addr, User: my.User, Password: pw, ConnectTimeout: my.ConnectTimeout}),
				Database: my.Database, CheckpointTable: my.CheckpointTable, Sink: name})
		},
		Plan: func(c *Config, _ *schema.Target, o registry.PlanOptions) string {
			return fmt.Sprintf("(MySQL %s; created when missing):\n%s;", c.Addr, c.CreateTable(o.Table))
		},
	})
}
