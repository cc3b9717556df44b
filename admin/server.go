// Package admin is odsync's admin HTTP server: /healthz (the process is
// up), /readyz (source connected, sinks writable, lag under a bound),
// /status (JSON), /metrics (Prometheus) and a small server-rendered status
// page at / with per-table throughput and lag sparklines and snapshot
// progress bars (no JavaScript).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/odsync/odsync/telemetry"
)

// Source is what the server shows; *telemetry.Telemetry implements it.
type Source interface {
	Status() telemetry.Status
	MetricsHandler() http.Handler
}

// Server is the admin HTTP server.
type Server struct {
	cfg  Config
	src  Source
	lg   *slog.Logger
	now  func() time.Time
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// New returns a server for a defaulted, validated config.
func New(cfg Config, src Source, lg *slog.Logger) *Server {
	cfg.EnsureDefaults()
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, src: src, lg: lg, now: time.Now, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(lg.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler returns the server's routes (for tests and embedding).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	mux.Handle("GET /metrics", s.src.MetricsHandler())
	mux.HandleFunc("GET /{$}", s.page)
	return secureHeaders(mux)
}

func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// Start binds the listen address and serves in the background. Failing to
// bind a configured admin.addr is returned (a configuration error at
// start-up); failing to bind the default address (another odsync on the
// machine has it) is logged as an error and odsync runs without the server.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		err = fmt.Errorf("admin: listen on %s: %w", s.cfg.Addr, err)
		if s.cfg.defaultAddr {
			s.lg.Error("admin server not started: the default admin address is taken; set admin.addr (or admin.addr: off)", "err", err)
			close(s.done)
			return nil
		}
		return err
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.lg.Error("admin server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	s.lg.Info("admin server listening", "addr", ln.Addr().String(),
		"endpoints", "/healthz /readyz /status /metrics /")
	return nil
}

// Addr is the bound address (after Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server, letting in-flight requests finish until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	st := s.src.Status()
	rd := Evaluate(s.cfg, st, s.now())
	w.Header().Set("Content-Type", "application/json")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rd)
}

// Document is the JSON of /status: the telemetry status with readiness.
type Document struct {
	Readiness
	telemetry.Status
}

func (s *Server) document() Document {
	st := s.src.Status()
	return Document{Readiness: Evaluate(s.cfg, st, s.now()), Status: st}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.document())
}

// Check is one readiness condition.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Readiness is the verdict of /readyz.
type Readiness struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// Evaluate decides readiness: not stopping, sampled at least once, the
// source connected, every sink writable, and source and sink lag at most
// cfg.ReadyMaxLag.
func Evaluate(cfg Config, st telemetry.Status, now time.Time) Readiness {
	cfg.EnsureDefaults()
	var checks []Check
	add := func(name string, ok bool, detail string) {
		checks = append(checks, Check{Name: name, OK: ok, Detail: detail})
	}
	if st.Stopping {
		add("running", false, "odsync is shutting down")
	}
	maxLag := cfg.ReadyMaxLag.Seconds()
	switch {
	case !st.Sampled:
		add("source", false, "starting: not sampled yet")
	case !st.Source.Connected:
		d := "source unreachable"
		if st.Source.Error != "" {
			d += ": " + st.Source.Error
		}
		add("source", false, d)
	default:
		d := "connected"
		if st.Source.Probe == "" {
			d = "no source probe: connection assumed while the capture runs"
		}
		add("source", true, d)
	}
	if st.Sampled {
		ok := st.Source.SecondsBehind <= maxLag
		add("source_lag", ok, fmt.Sprintf("%s behind the source (bound %s)", secs(st.Source.SecondsBehind), cfg.ReadyMaxLag))
	}
	for _, k := range st.Sinks {
		name := "sink " + k.Name
		switch {
		case !k.Writable && k.FailingSince != nil && now.Sub(*k.FailingSince) >= cfg.ReadySinkFailures:
			add(name, false, fmt.Sprintf("writes failing since %s (%s): %s",
				k.FailingSince.UTC().Format(time.RFC3339), k.LastErrorCause, k.LastError))
		case !k.Writable:
			add(name, true, "retrying a failed write")
		default:
			add(name, true, "writable")
		}
		bound := maxLag + k.HoldingSeconds
		ok := k.LagSeconds <= bound
		what := "behind the log head"
		if k.Durable != nil {
			what = "behind the log head in the target"
		}
		add(name+" lag", ok, fmt.Sprintf("%d events, %s %s (bound %s)", k.LagEvents, secs(k.LagSeconds), what, secs(bound)))
	}
	rd := Readiness{Ready: true, Checks: checks}
	for _, c := range checks {
		if !c.OK {
			rd.Ready = false
		}
	}
	return rd
}

func secs(s float64) string {
	return (time.Duration(s*10) * time.Second / 10).String()
}
