package warehouse

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// S3Kind describes the s3 source for the registry (source.type s3): the
// tables under an S3 prefix read back (docs/reverse-sync.md).
func S3Kind() registry.Source {
	return registry.NewSource("s3", registry.SourceFuncs[S3Config]{
		Defaults: func(c *S3Config, env registry.Env) {
			c.EnsureDefaults()
			c.Read.defaultSpillDir(env)
		},
		Validate: func(c *S3Config, path string) error { return c.Validate(path) },
		New: func(c *S3Config, deps registry.SourceDeps) (pipeline.Source, error) {
			return NewS3(context.Background(), *c, deps)
		},
		Check: func(ctx context.Context, c *S3Config, _ registry.CheckEnv, out io.Writer) bool {
			src, err := NewS3(ctx, *c, registry.SourceDeps{})
			if err == nil {
				var ts []*table
				if ts, err = src.st.Tables(ctx); err == nil {
					fmt.Fprintf(out, "source: ok: %s: %d tables\n", src.st.Describe(), len(ts))
					return true
				}
			}
			fmt.Fprintf(out, "source: FAILED: %v\n", err)
			return false
		},
		Secrets: func(c *S3Config) []string { return []string{c.SecretAccessKey, c.SessionToken} },
		Telemetry: func(_ *S3Config, src pipeline.Source, _ *offsets.Log) (registry.SourceTelemetry, error) {
			s, ok := src.(*Source)
			if !ok {
				return registry.SourceTelemetry{}, nil
			}
			return registry.SourceTelemetry{Name: "s3", Probe: s, Snapshot: s}, nil
		},
		DescribeCheckpoint: describeCheckpoint,
	})
}

// MaxComputeKind describes the maxcompute source for the registry
// (source.type maxcompute): odsync's ODS tables in a MaxCompute project
// read back, following the sink's progress marks (docs/reverse-sync.md).
func MaxComputeKind() registry.Source {
	return registry.NewSource("maxcompute", registry.SourceFuncs[MaxComputeConfig]{
		Defaults: func(c *MaxComputeConfig, env registry.Env) {
			c.EnsureDefaults()
			c.Read.defaultSpillDir(env)
		},
		Validate: func(c *MaxComputeConfig, path string) error { return c.Validate(path) },
		New: func(c *MaxComputeConfig, deps registry.SourceDeps) (pipeline.Source, error) {
			return NewMaxCompute(*c, deps)
		},
		Check: func(ctx context.Context, c *MaxComputeConfig, _ registry.CheckEnv, out io.Writer) bool {
			src, err := NewMaxCompute(*c, registry.SourceDeps{})
			if err == nil {
				var ts []*table
				if ts, err = src.st.Tables(ctx); err == nil {
					fmt.Fprintf(out, "source: ok: %s: %d odsync tables\n", src.st.Describe(), len(ts))
					if src.cfg.Mode == ModeIncremental {
						// Not a failure: the sink writes its first mark once changes are committed.
						if seq, err := src.st.Complete(ctx, ts); err != nil {
							fmt.Fprintf(out, "source: note: %v\n", err)
						} else {
							fmt.Fprintf(out, "source: progress marks: every change up to _seq %d committed\n", seq)
						}
					}
					return true
				}
			}
			fmt.Fprintf(out, "source: FAILED: %v\n", err)
			return false
		},
		Secrets: func(c *MaxComputeConfig) []string { return []string{c.AccessKey, c.STSToken} },
		Telemetry: func(_ *MaxComputeConfig, src pipeline.Source, _ *offsets.Log) (registry.SourceTelemetry, error) {
			s, ok := src.(*Source)
			if !ok {
				return registry.SourceTelemetry{}, nil
			}
			return registry.SourceTelemetry{Name: "maxcompute", Probe: s, Snapshot: s}, nil
		},
		DescribeCheckpoint: describeCheckpoint,
	})
}

// defaultSpillDir puts the full load's spilled state beside the log.
func (r *ReadSettings) defaultSpillDir(env registry.Env) {
	if r.SpillDir == "" && env.StateDir != "" {
		r.SpillDir = filepath.Join(env.StateDir, "warehouse-spill")
	}
}

func describeCheckpoint(cp []byte, _ *offsets.Log) (registry.Checkpoint, bool) {
	c, err := DecodeCheckpoint(cp)
	if err != nil {
		return registry.Checkpoint{}, false
	}
	return registry.Checkpoint{Position: fmt.Sprintf("_seq %d", c.Upto), Summary: "warehouse " + c.String()}, true
}

// NewS3 returns the s3 source; it makes no request.
func NewS3(ctx context.Context, c S3Config, deps registry.SourceDeps) (*Source, error) {
	c.EnsureDefaults()
	if err := c.Validate("source.s3"); err != nil {
		return nil, err
	}
	sc := c.sinkConfig()
	cl, err := s3sink.NewClient(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("source.s3: %w", err)
	}
	st := &s3Store{r: s3sink.NewReader(cl, c.Bucket, c.Prefix, c.Read.TmpDir), cfg: c.Read, external: c.External}
	return newSource(st, c.Read, deps.Capture, deps.Logger), nil
}
