package admin

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// DefaultAddr is where the admin server listens unless configured.
const DefaultAddr = "127.0.0.1:9300"

// Config is the `admin:` section.
type Config struct {
	// Addr is the listen address of /healthz, /readyz, /status, /metrics and
	// the status page. Default 127.0.0.1:9300; "off" disables the server.
	// In a pod, use 0.0.0.0:9300 (or :9300) so the kubelet and Prometheus
	// can reach it.
	Addr string `yaml:"addr"`
	// ReadyMaxLag is the largest source or sink lag (seconds, by source
	// commit time) at which /readyz still answers ready. Default 5m.
	ReadyMaxLag time.Duration `yaml:"ready_max_lag"`
	// ReadySinkFailures is how long a sink may keep failing (its last write
	// attempt failed and none succeeded since) before /readyz fails.
	// Default 0: not ready from the first failed attempt.
	ReadySinkFailures time.Duration `yaml:"ready_sink_failures"`

	// defaultAddr is set when EnsureDefaults filled in Addr: failing to
	// bind the default address is then not fatal (see Server.Start).
	defaultAddr bool
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
		c.defaultAddr = true
	}
	if c.ReadyMaxLag == 0 {
		c.ReadyMaxLag = 5 * time.Minute
	}
}

// Enabled reports whether the server should run.
func (c *Config) Enabled() bool { return c.Addr != "off" }

// Validate reports every problem at once; prefix is the YAML path ("admin").
func (c *Config) Validate(prefix string) error {
	var errs []error
	if c.Enabled() {
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.addr: %q: want host:port (e.g. 127.0.0.1:9300, 0.0.0.0:9300) or off", prefix, c.Addr))
		} else {
			n, perr := strconv.Atoi(port)
			if perr != nil || n < 0 || n > 65535 {
				errs = append(errs, fmt.Errorf("%s.addr: %q: bad port", prefix, c.Addr))
			}
			if host != "" && net.ParseIP(host) == nil && host != "localhost" {
				errs = append(errs, fmt.Errorf("%s.addr: %q: the host must be an IP address or localhost", prefix, c.Addr))
			}
		}
	}
	if c.ReadyMaxLag < time.Second {
		errs = append(errs, fmt.Errorf("%s.ready_max_lag: %s: at least 1s", prefix, c.ReadyMaxLag))
	}
	if c.ReadySinkFailures < 0 {
		errs = append(errs, fmt.Errorf("%s.ready_sink_failures: %s: must not be negative", prefix, c.ReadySinkFailures))
	}
	return errors.Join(errs...)
}

// ClientAddr returns the address a local client (odsync status,
// odsync healthcheck) dials for a listen address: unspecified hosts
// (0.0.0.0, ::, empty) become loopback.
func ClientAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
