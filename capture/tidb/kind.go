package tidb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/snapprogress"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/telemetry"
)

// KindConfig are the settings of source.type tidb: the snapshot side
// (source.tidb) and the changefeed it switches over to, read with the
// settings of a ticdc source (source.ticdc).
type KindConfig struct {
	TiDB  *Config             `yaml:"tidb"`
	TiCDC *kafka.SourceConfig `yaml:"ticdc"`
}

// Kind describes the TiDB source (snapshot, then the TiCDC changefeed) for
// the registry (source.type tidb). Its settings take two keys of source:
// tidb and ticdc.
func Kind() registry.Source {
	return registry.NewSource("tidb", registry.SourceFuncs[KindConfig]{
		Sections: []string{"ticdc"},
		Defaults: func(c *KindConfig, env registry.Env) {
			if c.TiDB != nil {
				c.TiDB.EnsureDefaults()
				if c.TiCDC != nil && c.TiCDC.TiDB.DSN == "" {
					// Handle-key-only messages are re-read from the same server.
					c.TiCDC.TiDB.DSN = c.TiDB.DSN
				}
			}
			if c.TiCDC != nil {
				c.TiCDC.Kind = kafka.KindTiCDC // before EnsureDefaults: it picks the default protocol
				c.TiCDC.EnsureDefaults()
				if c.TiCDC.SpillDir == "" && env.StateDir != "" {
					c.TiCDC.SpillDir = filepath.Join(env.StateDir, "spill") // beside the log
				}
			}
		},
		Validate: func(c *KindConfig, _ string) error {
			var errs []error
			if c.TiDB == nil {
				errs = append(errs, errors.New("source.tidb: required when source.type is tidb (the snapshot's dsn)"))
			} else {
				errs = append(errs, c.TiDB.Validate())
			}
			if c.TiCDC == nil {
				errs = append(errs, errors.New("source.ticdc: required when source.type is tidb (the changefeed's topics)"))
			} else {
				errs = append(errs, c.TiCDC.Validate(), CheckChangefeed(c.TiCDC))
			}
			return errors.Join(errs...)
		},
		New: func(c *KindConfig, deps registry.SourceDeps) (pipeline.Source, error) {
			sc := *c.TiCDC
			sc.Durable = deps.Log.Checkpoint // consumer-group commits follow what the log stored
			src, err := New(*c.TiDB, sc, deps.Capture, deps.Logger, deps.Log)
			if err != nil {
				return nil, err
			}
			return runner{src}, nil
		},
		Check: check,
		Secrets: func(c *KindConfig) []string {
			var s []string
			if c.TiCDC != nil {
				s = append(s, c.TiCDC.Secrets()...)
			}
			if c.TiDB != nil {
				if mc, err := mysqldriver.ParseDSN(c.TiDB.DSN); err == nil {
					s = append(s, mc.Passwd)
				}
			}
			return s
		},
		Telemetry: func(c *KindConfig, src pipeline.Source, log *offsets.Log) (registry.SourceTelemetry, error) {
			cp := func() []byte { // during the snapshot nothing of the changefeed is read yet
				if b := log.Checkpoint(); b != nil && !IsCheckpoint(b) {
					return b
				}
				return nil
			}
			probe, err := kafka.NewLagProbe(*c.TiCDC, cp) // no I/O until Lag
			if err != nil {
				return registry.SourceTelemetry{}, err
			}
			t := registry.SourceTelemetry{Name: "kafka", Probe: kafka.LagTelemetry(probe), Close: probe.Close}
			if r, ok := src.(runner); ok {
				t.Snapshot = r
				t.Counters = kafka.Counters(r.Kafka)
			}
			return t, nil
		},
		ResolveStart: func(ctx context.Context, c *KindConfig, spec string) ([]byte, string, error) {
			return kafka.ResolveStart(ctx, *c.TiCDC, spec)
		},
		DescribeCheckpoint: func(cp []byte, log *offsets.Log) (registry.Checkpoint, bool) {
			if c, err := DecodeCheckpoint(cp); err == nil {
				return registry.Checkpoint{Position: c.String(), Summary: c.String()}, true
			}
			c, err := kafka.DecodeCheckpoint(cp)
			if err != nil {
				return registry.Checkpoint{}, false
			}
			out := registry.Checkpoint{Position: c.String(), Summary: "kafka " + c.String()}
			if log != nil {
				if tso, err := StoredTSO(log); err == nil && tso != 0 {
					out.Lines = append(out.Lines, fmt.Sprintf("snapshot TSO %s: changes committed at or before it are dropped", kafka.FormatTSO(tso)))
				}
			}
			out.Lines = append(out.Lines, c.Lines()...)
			return out, true
		},
	})
}

// check reports the TiDB side of the switch-over (GC safe point, the
// changefeed's first messages against the snapshot TSO) (odsync check).
func check(ctx context.Context, c *KindConfig, env registry.CheckEnv, out io.Writer) bool {
	kafkaOK := kafka.PrintCheck(ctx, *c.TiCDC, out)
	st := State{Known: true} // no state directory: no snapshot yet
	if l, err := env.OpenLog(); errors.Is(err, fs.ErrNotExist) {
	} else if err != nil {
		st.Known = false
	} else {
		st, err = ReadState(l, l.Checkpoint())
		l.Close()
		if err != nil {
			fmt.Fprintf(out, "source: FAILED: state: %v\n", err)
			return false
		}
	}
	lines, ok, err := Check(ctx, *c.TiDB, *c.TiCDC, st)
	for _, l := range lines {
		fmt.Fprintf(out, "source: %s\n", l)
	}
	if err != nil {
		fmt.Fprintf(out, "source: FAILED: %v\n", err)
		return false
	}
	return ok && kafkaOK
}

// runner adapts a Source to pipeline.Source and its snapshot progress to
// telemetry.SnapshotProbe.
type runner struct{ *Source }

func (r runner) SnapshotProgress(ctx context.Context) ([]telemetry.TableProgress, error) {
	ts, err := r.Source.SnapshotProgress(ctx)
	return snapprogress.Telemetry(ts), err
}
