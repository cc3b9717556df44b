package mysql

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/odsync/odsync/capture/snapprogress"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/telemetry"
)

// Kind describes the MySQL/MariaDB/TiDB binlog capture for the registry
// (source.type mysql).
func Kind() registry.Source {
	return registry.NewSource("mysql", registry.SourceFuncs[Config]{
		Defaults: func(c *Config, env registry.Env) {
			if c.ServerID == 0 {
				c.ServerID = DefaultServerID(env.StateDir)
			}
			c.EnsureDefaults()
		},
		Validate: func(c *Config, _ string) error { return c.Validate() },
		New: func(c *Config, deps registry.SourceDeps) (pipeline.Source, error) {
			src, err := New(*c, deps.Capture, deps.Logger, Options{Store: deps.Log, RequestDir: deps.RequestDir, Progress: deps.Progress})
			if err != nil {
				return nil, err
			}
			return runner{src}, nil
		},
		Check:   check,
		Secrets: func(c *Config) []string { return []string{c.Password} },
		Telemetry: func(c *Config, src pipeline.Source, log *offsets.Log) (registry.SourceTelemetry, error) {
			probe, err := NewLagProbe(LagProbeConfig{Addr: c.Addr, User: c.User, Password: c.Password, Timeout: c.ConnectTimeout}, log.Checkpoint)
			if err != nil {
				return registry.SourceTelemetry{}, err
			}
			t := registry.SourceTelemetry{Name: "mysql", Probe: probe, Close: probe.Close}
			if sp, ok := src.(telemetry.SnapshotProbe); ok {
				t.Snapshot = sp
			}
			return t, nil
		},
		ResolveStart: func(ctx context.Context, c *Config, spec string) ([]byte, string, error) {
			return ResolveStart(ctx, *c, spec)
		},
		DescribeCheckpoint: func(cp []byte, _ *offsets.Log) (registry.Checkpoint, bool) {
			c, err := DecodeCheckpoint(cp)
			if err != nil {
				return registry.Checkpoint{}, false
			}
			t := ""
			if c.Time != 0 {
				t = " at " + time.Unix(int64(c.Time), 0).UTC().Format(time.RFC3339)
			}
			return registry.Checkpoint{Position: c.String(), Summary: c.Flavor + " " + c.String() + t}, true
		},
	})
}

// check prints the server's problems (odsync check).
func check(ctx context.Context, c *Config, _ registry.CheckEnv, out io.Writer) bool {
	problems, err := Check(ctx, *c)
	if err != nil {
		fmt.Fprintf(out, "source %s: FAILED: %v\n", c.Addr, err)
		return false
	}
	ok := true
	for _, p := range problems {
		level := "FAILED"
		if p.Warning {
			level = "warning"
		} else {
			ok = false
		}
		fmt.Fprintf(out, "source %s: %s: %s: %s\n  fix: %s\n", c.Addr, level, p.Check, p.Cause, p.Fix)
	}
	if len(problems) == 0 {
		fmt.Fprintf(out, "source %s: ok (binlog on, ROW format, FULL image, privileges)\n", c.Addr)
	}
	return ok
}

// runner adapts a Source to pipeline.Source and its snapshot progress to
// telemetry.SnapshotProbe.
type runner struct{ src *Source }

func (r runner) Run(ctx context.Context, from []byte, emit func(context.Context, []event.Event, []byte) error) error {
	return r.src.Run(ctx, from, Emit(emit))
}

func (r runner) SnapshotProgress(ctx context.Context) ([]telemetry.TableProgress, error) {
	ts, err := r.src.SnapshotProgress(ctx)
	return snapprogress.Telemetry(ts), err
}
