package telemetry

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is the `telemetry:` section: sampling of lag and throughput for the
// status page, and optional OTLP export of metrics and traces. The
// Prometheus endpoint is always served (see package admin).
type Config struct {
	// SampleInterval is how often source and sink lag are probed and a point
	// of throughput history is taken. Default 5s.
	SampleInterval time.Duration `yaml:"sample_interval"`
	// History is how many points of throughput and lag history the status
	// page keeps per table (sparklines). Default 120 (10 minutes at 5s).
	History int `yaml:"history"`
	// ServiceName is the OTel service.name resource attribute. Default "odsync".
	ServiceName string `yaml:"service_name"`
	// OTLP configures export to an OpenTelemetry collector; off by default.
	OTLP OTLPConfig `yaml:"otlp"`
}

// OTLPConfig configures OTLP/HTTP (protobuf) export.
type OTLPConfig struct {
	// Endpoint is the collector's base URL, e.g. http://127.0.0.1:4318;
	// /v1/metrics and /v1/traces are appended. Empty: no OTLP export.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (e.g. Authorization: "Bearer
	// ${OTLP_TOKEN}"). Their values are secrets: never logged.
	Headers map[string]string `yaml:"headers"`
	// Metrics exports metrics (default true when Endpoint is set).
	Metrics *bool `yaml:"metrics"`
	// Traces exports spans of sink flushes and snapshot chunks. Default false.
	Traces bool `yaml:"traces"`
	// Interval is the metric export interval. Default 30s.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one export. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.SampleInterval == 0 {
		c.SampleInterval = 5 * time.Second
	}
	if c.History == 0 {
		c.History = 120
	}
	if c.ServiceName == "" {
		c.ServiceName = "odsync"
	}
	if c.OTLP.Metrics == nil {
		t := true
		c.OTLP.Metrics = &t
	}
	if c.OTLP.Interval == 0 {
		c.OTLP.Interval = 30 * time.Second
	}
	if c.OTLP.Timeout == 0 {
		c.OTLP.Timeout = 10 * time.Second
	}
}

// Validate reports every problem at once; prefix is the YAML path of the
// section ("telemetry").
func (c *Config) Validate(prefix string) error {
	var errs []error
	if c.SampleInterval < 100*time.Millisecond || c.SampleInterval > 10*time.Minute {
		errs = append(errs, fmt.Errorf("%s.sample_interval: %s: want 100ms..10m", prefix, c.SampleInterval))
	}
	if c.History < 2 || c.History > 10000 {
		errs = append(errs, fmt.Errorf("%s.history: %d: want 2..10000", prefix, c.History))
	}
	if c.OTLP.Endpoint != "" {
		u, err := url.Parse(c.OTLP.Endpoint)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s.otlp.endpoint: %q: %v", prefix, c.OTLP.Endpoint, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("%s.otlp.endpoint: %q: want an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318)", prefix, c.OTLP.Endpoint))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("%s.otlp.endpoint: %q: no host", prefix, c.OTLP.Endpoint))
		case u.User != nil:
			errs = append(errs, fmt.Errorf("%s.otlp.endpoint: credentials in the URL are not allowed; use otlp.headers", prefix))
		}
	} else if c.OTLP.Traces {
		errs = append(errs, fmt.Errorf("%s.otlp.traces: true needs %s.otlp.endpoint", prefix, prefix))
	}
	for k := range c.OTLP.Headers {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " :\r\n") {
			errs = append(errs, fmt.Errorf("%s.otlp.headers: %q is not a header name", prefix, k))
		}
	}
	if c.OTLP.Interval < time.Second {
		errs = append(errs, fmt.Errorf("%s.otlp.interval: %s: at least 1s", prefix, c.OTLP.Interval))
	}
	if c.OTLP.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%s.otlp.timeout: %s: must be positive", prefix, c.OTLP.Timeout))
	}
	return errors.Join(errs...)
}

// Secrets returns the configured values that must never appear in logs,
// metrics or status output (the OTLP header values), for a Redactor.
func (c *Config) Secrets() []string {
	var s []string
	for _, v := range c.OTLP.Headers {
		s = append(s, v)
		// "Bearer xyz": the token alone must be hidden too.
		if _, tok, ok := strings.Cut(v, " "); ok {
			s = append(s, strings.TrimSpace(tok))
		}
	}
	return s
}
