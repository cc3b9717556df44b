package odpsemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running (or ready) emulator. Create it with New, then Start it
// or hand it a listener with Serve. It is an http.Handler, so tests may also
// mount it themselves.
type Server struct {
	cfg     Config
	log     *slog.Logger
	lockF   *os.File
	dataDir string

	mu       sync.Mutex
	projects map[string]*project
	httpSrv  *http.Server
	ln       net.Listener
	closed   bool

	closeOnce sync.Once
	done      chan struct{}

	slots       atomic.Int32
	schemaDelay atomic.Int64 // nanoseconds; see Config.SchemaDelay

	faultMu        sync.Mutex
	faults         Faults
	faultN         int
	rng            *rand.Rand
	schemaModified atomic.Int32 // pending injected SchemaModified replies

	quota quotas // Config.MaxUploadSessions, SessionCreateLimit, CommitLimit

	counts    map[Op]*atomic.Int64
	throttles map[Op]*atomic.Int64 // 429 answers of the quotas
	reqSeq    atomic.Uint64

	instMu    sync.Mutex
	instances map[string]*instance
	instOrder []string
}

// New validates cfg, opens (or creates) the data directory and returns a
// server that is not yet listening.
func New(cfg Config) (*Server, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("odpsemu: data dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "projects"), 0o755); err != nil {
		return nil, fmt.Errorf("odpsemu: data dir: %w", err)
	}
	lockF, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("odpsemu: data dir %s is in use by another emulator: %w", dir, err)
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, lockF: lockF, dataDir: dir,
		projects:  map[string]*project{},
		done:      make(chan struct{}),
		counts:    map[Op]*atomic.Int64{},
		throttles: map[Op]*atomic.Int64{},
		instances: map[string]*instance{},
	}
	for _, op := range []Op{OpProject, OpTunnelEndpoint, OpTables, OpTable, OpSQL, OpInstance,
		OpStreamCreate, OpStreamReload, OpStreamWrite, OpUploadCreate, OpUploadStatus,
		OpBlockWrite, OpUploadCommit, OpDownloadCreate, OpDownloadRead, OpUnsupported} {
		s.counts[op] = new(atomic.Int64)
		s.throttles[op] = new(atomic.Int64)
	}
	s.slots.Store(int32(cfg.StreamSlots))
	s.setFaultsLocked(cfg.Faults)
	s.schemaDelay.Store(int64(cfg.SchemaDelay))
	return s, nil
}

// SetSchemaDelay changes Config.SchemaDelay at run time.
func (s *Server) SetSchemaDelay(d time.Duration) { s.schemaDelay.Store(int64(d)) }

// Start listens on Config.Addr and serves in the background until ctx is
// done or Close is called. It returns once the listener is open, so URL
// and Endpoint are usable right away.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("odpsemu: listen %s: %w", s.cfg.Addr, err)
	}
	if err := s.setListener(ln); err != nil {
		ln.Close()
		return err
	}
	go func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("odpsemu: serve failed", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	s.log.Info("odpsemu: listening", "service_endpoint", s.Endpoint(), "tunnel_endpoint", s.TunnelEndpoint(), "data_dir", s.dataDir)
	return nil
}

// Serve serves on l until Close. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	if err := s.setListener(l); err != nil {
		return err
	}
	if err := s.httpSrv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) setListener(l net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("odpsemu: server is closed")
	}
	if s.ln != nil {
		return errors.New("odpsemu: server is already serving")
	}
	s.ln = l
	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		// Idle keep-alive connections are closed, as a real front end
		// does: the SDK makes a new http.Transport for every request (its
		// RestClient caches the client on a copy), so a polling client
		// leaves one idle connection per request behind.
		IdleTimeout: 30 * time.Second,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// Addr is the listen address ("127.0.0.1:port"), empty before Start/Serve.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the base URL http://ADDR, which is also the Tunnel endpoint.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Endpoint is the ODPS service endpoint http://ADDR/api, for odps.NewOdps.
func (s *Server) Endpoint() string { return s.URL() + "/api" }

// TunnelEndpoint is the Tunnel endpoint http://ADDR, for tunnel.NewTunnel
// (the SDK can also discover it from the service endpoint).
func (s *Server) TunnelEndpoint() string { return s.URL() }

// Close stops serving (in-flight requests get 5 s to finish) and releases
// the data directory. It is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		srv := s.httpSrv
		s.mu.Unlock()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if e := srv.Shutdown(ctx); e != nil {
				srv.Close()
			}
			cancel()
		}
		err = unlockDir(s.lockF)
		close(s.done)
	})
	return err
}

// SetStreamSlots changes the slot count reported by stream sessions. The
// SDK notices on its next flush and reloads the session.
func (s *Server) SetStreamSlots(n int) error {
	if n < 1 || n > 256 {
		return fmt.Errorf("odpsemu: stream slots must be 1..256, got %d", n)
	}
	s.slots.Store(int32(n))
	return nil
}

// SetFaults replaces the injected faults and restarts the FailNth count.
func (s *Server) SetFaults(f Faults) error {
	f.ensureDefaults()
	if err := f.validate(); err != nil {
		return err
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.setFaultsLocked(f)
	return nil
}

func (s *Server) setFaultsLocked(f Faults) {
	s.faults = f
	s.faultN = 0
	seed := f.Seed
	if seed == 0 {
		seed = 1
	}
	s.rng = rand.New(rand.NewSource(seed))
}

// InjectSchemaModified makes the next stream write (PUT …/streams) fail with
// 412 SchemaModified, as MaxCompute does when the table changed under a
// session that checks the latest schema. No rows are stored.
func (s *Server) InjectSchemaModified() { s.schemaModified.Add(1) }

// Throttled returns how many requests of op a quota refused (429
// FlowExceeded: MaxUploadSessions, SessionCreateLimit, CommitLimit).
func (s *Server) Throttled(op Op) int64 {
	if c, ok := s.throttles[op]; ok {
		return c.Load()
	}
	return 0
}

// Count returns how many requests of op the server has received.
func (s *Server) Count(op Op) int64 {
	if c, ok := s.counts[op]; ok {
		return c.Load()
	}
	return 0
}

type faultDecision int

const (
	faultNone faultDecision = iota
	faultBefore
	faultAfter
)

func (s *Server) decideFault(op Op) (time.Duration, faultDecision, int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := &s.faults
	if len(f.Ops) > 0 {
		match := false
		for _, o := range f.Ops {
			if o == op {
				match = true
			}
		}
		if !match {
			return 0, faultNone, 0
		}
	}
	s.faultN++
	fail := f.FailNth > 0 && s.faultN == f.FailNth
	if !fail && f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate {
		fail = true
	}
	d := faultNone
	if fail {
		d = faultBefore
		if f.FailAfterProcessing {
			d = faultAfter
		}
	}
	return f.Latency, d, f.Status
}

// route is a classified request.
type route struct {
	op       Op
	service  bool // service API (/api/...): XML errors; else Tunnel: JSON errors
	project  string
	table    string
	instance string
}

func classify(r *http.Request) route {
	path := r.URL.Path
	rt := route{op: OpUnsupported}
	if rest, ok := strings.CutPrefix(path, "/api/"); ok {
		rt.service = true
		path = "/" + rest
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) < 2 || seg[0] != "projects" || seg[1] == "" {
		return rt
	}
	rt.project = seg[1]
	seg = seg[2:]
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	if rt.service {
		switch {
		case len(seg) == 0 && r.Method == http.MethodGet:
			rt.op = OpProject
		case len(seg) == 1 && seg[0] == "tunnel" && r.Method == http.MethodGet:
			rt.op = OpTunnelEndpoint
		case len(seg) == 1 && seg[0] == "tables" && (r.Method == http.MethodGet || r.Method == http.MethodPost && has("query")):
			rt.op = OpTables
		case len(seg) == 2 && seg[0] == "tables" && r.Method == http.MethodGet:
			rt.op, rt.table = OpTable, seg[1]
		case len(seg) == 1 && seg[0] == "instances" && r.Method == http.MethodPost:
			rt.op = OpSQL
		case len(seg) == 2 && seg[0] == "instances" && (r.Method == http.MethodGet || r.Method == http.MethodPut):
			rt.op, rt.instance = OpInstance, seg[1]
		}
		return rt
	}
	// Tunnel: /projects/{p}[/schemas/{s}]/tables/{t}[/streams]
	if len(seg) >= 2 && seg[0] == "schemas" {
		seg = seg[2:]
	}
	if len(seg) < 2 || seg[0] != "tables" || seg[1] == "" {
		return rt
	}
	rt.table = seg[1]
	switch {
	case len(seg) == 3 && seg[2] == "streams":
		switch {
		case r.Method == http.MethodPost && has("uploadid"):
			rt.op = OpStreamReload
		case r.Method == http.MethodPost:
			rt.op = OpStreamCreate
		case r.Method == http.MethodPut:
			rt.op = OpStreamWrite
		}
	case len(seg) == 2:
		switch {
		case r.Method == http.MethodPost && has("uploads"):
			rt.op = OpUploadCreate
		case r.Method == http.MethodPost && has("downloads"):
			rt.op = OpDownloadCreate
		case r.Method == http.MethodPost && has("uploadid"):
			rt.op = OpUploadCommit
		case r.Method == http.MethodPut && has("uploadid"):
			rt.op = OpBlockWrite
		case r.Method == http.MethodGet && has("uploadid"):
			rt.op = OpUploadStatus
		case r.Method == http.MethodGet && has("downloadid") && has("data"):
			rt.op = OpDownloadRead
		case r.Method == http.MethodGet && has("downloadid"):
			rt.op = OpDownloadCreate
		}
	}
	return rt
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// discardWriter swallows a response (faults injected after processing).
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func (s *Server) newRequestID() string {
	return fmt.Sprintf("%s%08x", time.Now().UTC().Format("20060102150405"), s.reqSeq.Add(1))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := s.newRequestID()
	w.Header().Set("x-odps-request-id", reqID)
	rt := classify(r)
	s.counts[rt.op].Add(1)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		s.log.Debug("odpsemu: request", "method", r.Method, "path", r.URL.Path, "op", rt.op,
			"status", rec.status, "ms", time.Since(start).Milliseconds(), "request_id", reqID)
	}()
	if e := s.authenticate(r, rt); e != nil {
		s.writeError(rec, r, rt, reqID, e)
		return
	}
	latency, fault, status := s.decideFault(rt.op)
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	injected := &apiError{status: status, code: injectedCode(status),
		msg: fmt.Sprintf("fault injected by the emulator into %s request", rt.op)}
	switch fault {
	case faultBefore:
		s.writeError(rec, r, rt, reqID, injected)
		return
	case faultAfter:
		dw := &discardWriter{h: http.Header{}}
		if e := s.dispatch(dw, r, rt); e != nil {
			s.log.Debug("odpsemu: request failed under an injected fault", "op", rt.op, "err", e.msg)
		}
		s.writeError(rec, r, rt, reqID, injected)
		return
	}
	if e := s.dispatch(rec, r, rt); e != nil {
		if e.status == http.StatusTooManyRequests {
			s.throttles[rt.op].Add(1)
		}
		s.writeError(rec, r, rt, reqID, e)
	}
}

func injectedCode(status int) string {
	switch {
	case status == 503:
		return "ServiceUnavailable"
	case status >= 500:
		return "InternalServerError"
	default:
		return "InjectedFault"
	}
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rt route) *apiError {
	if rt.op == OpUnsupported {
		return unsupportedRequest(r)
	}
	p, e := s.project(rt.project)
	if e != nil {
		return e
	}
	switch rt.op {
	case OpProject:
		return s.handleProject(w, r, p)
	case OpTunnelEndpoint:
		return s.handleTunnelEndpoint(w, r)
	case OpTables:
		return s.handleTables(w, r, p)
	case OpTable:
		return s.handleTable(w, r, p, rt.table)
	case OpSQL:
		return s.handleSQL(w, r, p)
	case OpInstance:
		return s.handleInstance(w, r, p, rt.instance)
	case OpStreamCreate:
		return s.handleStreamCreate(w, r, p, rt.table)
	case OpStreamReload:
		return s.handleStreamReload(w, r, p, rt.table)
	case OpStreamWrite:
		return s.handleStreamWrite(w, r, p, rt.table)
	case OpUploadCreate:
		return s.handleUploadCreate(w, r, p, rt.table)
	case OpUploadStatus:
		return s.handleUploadStatus(w, r, p, rt.table)
	case OpBlockWrite:
		return s.handleBlockWrite(w, r, p, rt.table)
	case OpUploadCommit:
		return s.handleUploadCommit(w, r, p, rt.table)
	case OpDownloadCreate:
		return s.handleDownloadCreate(w, r, p, rt.table)
	case OpDownloadRead:
		return s.handleDownloadRead(w, r, p, rt.table)
	}
	return unsupportedRequest(r)
}

// project returns (creating on first use) the named project.
func (s *Server) project(name string) (*project, *apiError) {
	if !projectNameRE.MatchString(name) {
		return nil, &apiError{status: 400, code: "InvalidProjectName",
			msg: fmt.Sprintf("project name %q is not valid (letters, digits, '_' and '-', at most 128)", name)}
	}
	key := strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &apiError{status: 503, code: "ServiceUnavailable", msg: "the emulator is shutting down"}
	}
	if p, ok := s.projects[key]; ok {
		return p, nil
	}
	p, err := loadProject(filepath.Join(s.dataDir, "projects", key), name, !s.cfg.NoSync, func(msg string, args ...any) {
		s.log.Warn(msg, args...)
	})
	if err != nil {
		s.log.Error("odpsemu: cannot open project", "project", name, "err", err)
		return nil, internalError(fmt.Errorf("open project %s: %w", name, err))
	}
	s.projects[key] = p
	return p, nil
}

// drain reads the rest of a request body so an early error reply reaches
// the SDK instead of a broken pipe.
func (s *Server) drain(r *http.Request) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
	}
}
