package kafka

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/telemetry"
)

// TiCDCKind describes the TiCDC changefeed source for the registry
// (source.type ticdc).
func TiCDCKind() registry.Source { return kafkaKind(KindTiCDC) }

// KafkaKind describes the Debezium/Canal/Maxwell topic source for the
// registry (source.type kafka).
func KafkaKind() registry.Source { return kafkaKind(KindKafka) }

func kafkaKind(kind string) registry.Source {
	return registry.NewSource(kind, registry.SourceFuncs[SourceConfig]{
		Defaults: func(c *SourceConfig, env registry.Env) {
			c.Kind = kind // before EnsureDefaults: it picks the default protocol
			c.EnsureDefaults()
			if c.SpillDir == "" && env.StateDir != "" {
				c.SpillDir = filepath.Join(env.StateDir, "spill") // beside the log
			}
		},
		Validate: func(c *SourceConfig, _ string) error { return c.Validate() },
		New: func(c *SourceConfig, deps registry.SourceDeps) (pipeline.Source, error) {
			sc := *c
			sc.Durable = deps.Log.Checkpoint // consumer-group commits follow what the log stored
			return NewSource(sc, deps.Capture, deps.Logger)
		},
		Check: func(ctx context.Context, c *SourceConfig, _ registry.CheckEnv, out io.Writer) bool {
			return PrintCheck(ctx, *c, out)
		},
		Secrets: func(c *SourceConfig) []string { return c.Secrets() },
		Telemetry: func(c *SourceConfig, src pipeline.Source, log *offsets.Log) (registry.SourceTelemetry, error) {
			probe, err := NewLagProbe(*c, log.Checkpoint) // no I/O until Lag
			if err != nil {
				return registry.SourceTelemetry{}, err
			}
			t := registry.SourceTelemetry{Name: "kafka", Probe: LagTelemetry(probe), Close: probe.Close}
			if ks, ok := src.(*Source); ok {
				t.Counters = Counters(func() *Source { return ks })
			}
			return t, nil
		},
		ResolveStart: func(ctx context.Context, c *SourceConfig, spec string) ([]byte, string, error) {
			return ResolveStart(ctx, *c, spec)
		},
		DescribeCheckpoint: func(cp []byte, _ *offsets.Log) (registry.Checkpoint, bool) {
			c, err := DecodeCheckpoint(cp)
			if err != nil {
				return registry.Checkpoint{}, false
			}
			return registry.Checkpoint{Position: c.String(), Summary: "kafka " + c.String(), Lines: c.Lines()}, true
		},
	})
}

// PrintCheck runs Check and prints its findings, one line each starting
// with "source" (odsync check); false when it failed.
func PrintCheck(ctx context.Context, c SourceConfig, out io.Writer) bool {
	lines, err := Check(ctx, c)
	for _, l := range lines {
		fmt.Fprintf(out, "source: %s\n", l)
	}
	if err != nil {
		fmt.Fprintf(out, "source: FAILED: %v\n", err)
		return false
	}
	return true
}

// Secrets lists the settings' secrets, for log redaction: the SASL
// password, the claim-check keys and the password of the TiDB DSN.
func (c *SourceConfig) Secrets() []string {
	s := []string{c.SASL.Password, c.ClaimCheck.SecretAccessKey, c.ClaimCheck.SessionToken}
	if mc, err := mysqldriver.ParseDSN(c.TiDB.DSN); err == nil {
		s = append(s, mc.Passwd)
	}
	return s
}

// Counters reports the counters of the source src returns (nil while there
// is none yet) for the status page.
func Counters(src func() *Source) func() map[string]int64 {
	return func() map[string]int64 {
		ks := src()
		if ks == nil {
			return nil
		}
		st := ks.Stats()
		return map[string]int64{"messages": int64(st.Messages), "rows": int64(st.Rows), "ddl": int64(st.DDL),
			"watermarks": int64(st.Watermarks), "skipped": int64(st.Skipped), "duplicates": int64(st.Duplicates),
			"ddl_copies": int64(st.DDLCopies), "filtered": int64(st.Filtered), "bad_messages": int64(st.BadMessages)}
	}
}

// LagTelemetry adapts a LagProbe to telemetry.SourceProbe.
func LagTelemetry(p *LagProbe) telemetry.SourceProbe { return lagProbe{p} }

// lagProbe adapts LagProbe to telemetry.SourceProbe.
type lagProbe struct{ p *LagProbe }

func (k lagProbe) Lag(ctx context.Context) (telemetry.SourceLag, error) {
	l, err := k.p.Lag(ctx)
	if err != nil {
		return telemetry.SourceLag{}, err
	}
	return telemetry.SourceLag{Connected: true, SecondsBehind: l.SecondsBehind, BytesBehind: -1,
		MessagesBehind: l.MessagesBehind, WatermarkAge: l.WatermarkAge,
		Position: l.Position, SourcePosition: l.SourcePosition}, nil
}
