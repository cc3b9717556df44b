package ticdc

import (
	"context"
	"fmt"
	"io"

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
		Defaults: func(c *SourceConfig, _ registry.Env) {
			c.Kind = kind // before EnsureDefaults: it picks the default protocol
			c.EnsureDefaults()
		},
		Validate: func(c *SourceConfig, _ string) error { return c.Validate() },
		New: func(c *SourceConfig, deps registry.SourceDeps) (pipeline.Source, error) {
			sc := *c
			sc.Durable = deps.Log.Checkpoint // consumer-group commits follow what the log stored
			return NewSource(sc, deps.Capture, deps.Logger)
		},
		Check: func(ctx context.Context, c *SourceConfig, out io.Writer) bool {
			lines, err := Check(ctx, *c)
			for _, l := range lines {
				fmt.Fprintf(out, "source: %s\n", l)
			}
			if err != nil {
				fmt.Fprintf(out, "source: FAILED: %v\n", err)
				return false
			}
			return true
		},
		Secrets: func(c *SourceConfig) []string {
			s := []string{c.SASL.Password, c.ClaimCheck.SecretAccessKey, c.ClaimCheck.SessionToken}
			if mc, err := mysqldriver.ParseDSN(c.TiDB.DSN); err == nil {
				s = append(s, mc.Passwd)
			}
			return s
		},
		Telemetry: func(c *SourceConfig, src pipeline.Source, log *offsets.Log) (registry.SourceTelemetry, error) {
			probe, err := NewLagProbe(*c, log.Checkpoint) // no I/O until Lag
			if err != nil {
				return registry.SourceTelemetry{}, err
			}
			t := registry.SourceTelemetry{Name: "kafka", Probe: lagProbe{probe}, Close: probe.Close}
			if ks, ok := src.(*Source); ok {
				t.Counters = func() map[string]int64 {
					st := ks.Stats()
					return map[string]int64{"messages": int64(st.Messages), "rows": int64(st.Rows), "ddl": int64(st.DDL),
						"watermarks": int64(st.Watermarks), "skipped": int64(st.Skipped), "duplicates": int64(st.Duplicates),
						"ddl_copies": int64(st.DDLCopies), "filtered": int64(st.Filtered), "bad_messages": int64(st.BadMessages)}
				}
			}
			return t, nil
		},
		ResolveStart: func(ctx context.Context, c *SourceConfig, spec string) ([]byte, string, error) {
			return ResolveStart(ctx, *c, spec)
		},
		DescribeCheckpoint: func(cp []byte) (registry.Checkpoint, bool) {
			c, err := DecodeCheckpoint(cp)
			if err != nil {
				return registry.Checkpoint{}, false
			}
			return registry.Checkpoint{Position: c.String(), Summary: "kafka " + c.String(), Lines: c.Lines()}, true
		},
	})
}

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
