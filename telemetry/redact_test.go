package telemetry_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/telemetry"
)

func TestRedact(t *testing.T) {
	r := telemetry.NewRedactor("hunter2-secret", "", "tok-123456")
	for _, c := range []struct{ in, want string }{
		{"connect as odsync with hunter2-secret failed", "connect as odsync with [REDACTED] failed"},
		{"Authorization: Bearer tok-123456", "Authorization: Bearer [REDACTED]"},
		{"dsn odsync:pw0rd@tcp(127.0.0.1:3306)/", "dsn odsync:[REDACTED]@tcp(127.0.0.1:3306)/"},
		{"get https://user:s3cr3t@example.invalid/x", "get https://user:[REDACTED]@example.invalid/x"},
		{"user@example.invalid says hi", "user@example.invalid says hi"},
		{"binlog.000001:1234 gtid=0-1-7", "binlog.000001:1234 gtid=0-1-7"},
	} {
		if got := r.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if !r.Contains("x hunter2-secret y") || r.Contains("nothing") {
		t.Error("Contains is wrong")
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

func TestLoggerRedacts(t *testing.T) {
	const secret = "p@ss-W0rd!42"
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		lg := telemetry.NewLogger(&buf, format, "debug", telemetry.NewRedactor(secret))
		lg = lg.With("component", "capture", "dsn", "root:"+secret+"@tcp(x)/")
		lg.Info("connecting with "+secret, "password", secret, "token", "abc",
			"err", errors.New("access denied for "+secret), "addr", stringer{"h:1?p=" + secret},
			slog.Group("source", "pass", secret, "user", "odsync"),
			"cfg", struct{ User, Password string }{"odsync", secret},
			"empty_password", "", "table", "shop.orders", "seq", 42, "took", time.Second)
		lg.WithGroup("g").Warn("w", "x", fmt.Sprintf("value %s", secret))
		out := buf.String()
		if strings.Contains(out, secret) {
			t.Errorf("%s: the secret leaked:\n%s", format, out)
		}
		for _, want := range []string{"shop.orders", "42", "odsync", telemetry.Redacted} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: %q missing from:\n%s", format, want, out)
			}
		}
		if strings.Contains(out, `"token":"abc"`) || strings.Contains(out, "token=abc") {
			t.Errorf("%s: a token-named attribute was not redacted:\n%s", format, out)
		}
	}
	// Levels are honoured.
	var buf bytes.Buffer
	telemetry.NewLogger(&buf, "text", "warn", nil).Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("info logged at level warn: %s", buf.String())
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  telemetry.Config
		errs []string
	}{
		{"defaults", telemetry.Config{}, nil},
		{"otlp", telemetry.Config{OTLP: telemetry.OTLPConfig{Endpoint: "http://127.0.0.1:4318", Traces: true,
			Headers: map[string]string{"Authorization": "Bearer x"}}}, nil},
		{"bad", telemetry.Config{SampleInterval: time.Millisecond, History: 1,
			OTLP: telemetry.OTLPConfig{Endpoint: "127.0.0.1:4318", Headers: map[string]string{"bad key": "v"}, Interval: time.Millisecond}},
			[]string{"telemetry.sample_interval", "telemetry.history", "telemetry.otlp.endpoint", "telemetry.otlp.headers", "telemetry.otlp.interval"}},
		{"traces without endpoint", telemetry.Config{OTLP: telemetry.OTLPConfig{Traces: true}}, []string{"telemetry.otlp.traces"}},
		{"credentials in url", telemetry.Config{OTLP: telemetry.OTLPConfig{Endpoint: "https://u:p@collector.invalid"}}, []string{"credentials"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.EnsureDefaults()
			err := c.cfg.Validate("telemetry")
			if len(c.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", c.errs)
			}
			for _, w := range c.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	c := telemetry.Config{OTLP: telemetry.OTLPConfig{Headers: map[string]string{"Authorization": "Bearer abcdef"}}}
	sec := strings.Join(c.Secrets(), ",")
	if !strings.Contains(sec, "Bearer abcdef") || !strings.Contains(sec, "abcdef") {
		t.Errorf("Secrets() = %q", sec)
	}
}

func TestRedactorIgnoresShortSecrets(t *testing.T) {
	r := telemetry.NewRedactor("s", "ab", "abcd")
	if got := r.ShortSecrets(); got != 2 {
		t.Fatalf("ShortSecrets = %d, want 2", got)
	}
	if got := r.Redact("this is a secret: abcd"); got != "this is a secret: "+telemetry.Redacted {
		t.Fatalf("Redact = %q", got)
	}
	if got := r.Redact("password=s"); got != "password=s" {
		// plain text is left alone; attribute keys are handled by Handler
		t.Fatalf("Redact = %q", got)
	}
}
