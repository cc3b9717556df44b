package odpsemu

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures an emulator. Call EnsureDefaults and Validate before New
// (New does both).
type Config struct {
	// Addr is the listen address used by Start, e.g. "127.0.0.1:0" (the
	// default). Serve ignores it.
	Addr string
	// DataDir holds every project, table and row; it survives restarts.
	// Required. Only one emulator may use a directory at a time.
	DataDir string
	// AccessID and AccessKey, when both are set, make the emulator verify
	// the SDK's request signatures (v2 and v4 HMAC) and answer
	// 401 on a wrong or missing signature. When both are empty any
	// signature (or none) is accepted.
	AccessID, AccessKey string
	// Logger receives one debug line per request and warnings about
	// repaired files; nil discards.
	Logger *slog.Logger
	// Faults are injected into matching requests; see Faults. They can be
	// changed at run time with Server.SetFaults.
	Faults Faults
	// StreamSlots is the number of slots every stream session reports
	// (default 2). Server.SetStreamSlots changes it at run time, which makes
	// the SDK reload its sessions.
	StreamSlots int
	// NoSync skips fsync of data and catalog files. Faster; data then only
	// survives a process crash, not a machine crash.
	NoSync bool
	// MaxBodyBytes caps one request body after decompression (default 256 MiB).
	MaxBodyBytes int64
	// Region is reported in project metadata (default "cn-emulator").
	Region string
	// SchemaModel emulates a tenant with the schema model (project.schema.
	// table) on: a two-part name `a`.`b` in SQL then means schema a, table
	// b — and fails, as schema a does not exist — unless the task's
	// settings or a SET line say odps.namespace.schema=false, as the
	// official SDKs always send.
	SchemaModel bool
	// SchemaDelay emulates delayed schema propagation: for this long after
	// a table's last DDL, new stream sessions still get its previous schema
	// version (the real service can take minutes after ALTER TABLE).
	SchemaDelay time.Duration

	// Limits of the real service (see docs/odps-emulator.md, "Service
	// limits"). A zero value means the real service's limit; a negative
	// value turns the check off.

	// SessionTTL is how long upload and stream sessions live (real: 24h for
	// batch upload sessions). A request on an older session gets 409
	// StatusConflict "The upload session is expired"; a committed upload
	// session still reports its CLOSED status.
	SessionTTL time.Duration
	// MaxUploadSessions caps the upload sessions open at once on one table
	// (created, neither committed nor expired; real: 32). Creating one more
	// answers 429 FlowExceeded with Retry-After.
	MaxUploadSessions int
	// SessionCreateLimit caps the upload and stream sessions created on one
	// table per SessionCreateWindow (real: about 500 per 5 minutes); past it,
	// 429 FlowExceeded with Retry-After.
	SessionCreateLimit  int
	SessionCreateWindow time.Duration
	// CommitLimit caps the upload commits on one table per CommitWindow
	// (real: about 75 per 15 s); past it, 429 FlowExceeded with Retry-After.
	CommitLimit  int
	CommitWindow time.Duration
	// MaxClockSkew refuses, when signatures are verified (AccessID set),
	// requests whose Date header is further than this from the server clock
	// with 403 RequestTimeTooSkewed (real: 15 minutes).
	MaxClockSkew time.Duration
	// AcceptUnknownSlots turns off the check that a stream write names a
	// slot id (slotid=) the session was given.
	AcceptUnknownSlots bool
	// AllowCommitAfterAlter turns off the check that refuses the commit of an
	// upload session opened before the table's last schema change
	// (409 TableModified).
	AllowCommitAfterAlter bool
	// Now is the server clock (default time.Now). Tests move it to expire
	// sessions, empty quota windows or skew the clock without sleeping.
	Now func() time.Time
}

// Op names one kind of request, for fault targeting and request counters.
type Op string

// Ops the emulator distinguishes.
const (
	OpProject        Op = "project"         // GET /api/projects/{p}
	OpTunnelEndpoint Op = "tunnel-endpoint" // GET /api/projects/{p}/tunnel
	OpTables         Op = "tables"          // GET/POST /api/projects/{p}/tables
	OpTable          Op = "table"           // GET /api/projects/{p}/tables/{t} (metadata, partitions)
	OpSQL            Op = "sql"             // POST /api/projects/{p}/instances
	OpInstance       Op = "instance"        // GET/PUT /api/projects/{p}/instances/{id}
	OpStreamCreate   Op = "stream-create"   // POST …/streams
	OpStreamReload   Op = "stream-reload"   // POST …/streams?uploadid=
	OpStreamWrite    Op = "stream-write"    // PUT …/streams
	OpUploadCreate   Op = "upload-create"   // POST …/tables/{t}?uploads
	OpUploadStatus   Op = "upload-status"   // GET …/tables/{t}?uploadid=
	OpBlockWrite     Op = "block-write"     // PUT …/tables/{t}?uploadid=&blockid=
	OpUploadCommit   Op = "upload-commit"   // POST …/tables/{t}?uploadid=
	OpDownloadCreate Op = "download-create" // POST …/tables/{t}?downloads, GET ?downloadid=
	OpDownloadRead   Op = "download-read"   // GET …/tables/{t}?downloadid=&data
	OpUnsupported    Op = "unsupported"     // anything else
)

// Faults describes injected failures. The zero value injects nothing.
type Faults struct {
	// ErrorRate is the probability (0..1) that a matching request fails
	// with Status.
	ErrorRate float64
	// Latency is added before every matching request is handled.
	Latency time.Duration
	// FailNth makes the Nth matching request (1-based, counted from when the
	// faults were set) fail with Status. 0 disables it.
	FailNth int
	// FailAfterProcessing makes ErrorRate and FailNth failures happen after
	// the request was fully processed (rows stored, commit done): the client
	// sees an error although the server applied the request — the ambiguous
	// failure a sink must survive without losing data.
	FailAfterProcessing bool
	// Status is the HTTP status of injected failures (default 500; must be
	// 4xx or 5xx).
	Status int
	// Ops restricts the faults to these operations; empty means all.
	Ops []Op
	// Seed seeds the ErrorRate random source (0 means 1), so runs repeat.
	Seed int64
}

// EnsureDefaults fills in zero fields.
func (c *Config) EnsureDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.StreamSlots == 0 {
		c.StreamSlots = 2
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 256 << 20
	}
	if c.Region == "" {
		c.Region = "cn-emulator"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.MaxUploadSessions == 0 {
		c.MaxUploadSessions = 32
	}
	if c.SessionCreateLimit == 0 {
		c.SessionCreateLimit = 500
	}
	if c.SessionCreateWindow == 0 {
		c.SessionCreateWindow = 5 * time.Minute
	}
	if c.CommitLimit == 0 {
		c.CommitLimit = 75
	}
	if c.CommitWindow == 0 {
		c.CommitWindow = 15 * time.Second
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = 15 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Faults.ensureDefaults()
}

func (f *Faults) ensureDefaults() {
	if f.Status == 0 {
		f.Status = 500
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("odpsemu: DataDir is required"))
	}
	if (c.AccessID == "") != (c.AccessKey == "") {
		errs = append(errs, errors.New("odpsemu: AccessID and AccessKey must be set together"))
	}
	if c.StreamSlots < 1 || c.StreamSlots > 256 {
		errs = append(errs, fmt.Errorf("odpsemu: StreamSlots must be 1..256, got %d", c.StreamSlots))
	}
	if c.MaxBodyBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("odpsemu: MaxBodyBytes must be at least 1024, got %d", c.MaxBodyBytes))
	}
	if c.SessionCreateLimit > 0 && c.SessionCreateWindow <= 0 {
		errs = append(errs, fmt.Errorf("odpsemu: SessionCreateWindow must be positive, got %v", c.SessionCreateWindow))
	}
	if c.CommitLimit > 0 && c.CommitWindow <= 0 {
		errs = append(errs, fmt.Errorf("odpsemu: CommitWindow must be positive, got %v", c.CommitWindow))
	}
	if err := c.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (f *Faults) validate() error {
	var errs []error
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("odpsemu: Faults.ErrorRate must be 0..1, got %v", f.ErrorRate))
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("odpsemu: Faults.Latency must not be negative, got %v", f.Latency))
	}
	if f.FailNth < 0 {
		errs = append(errs, fmt.Errorf("odpsemu: Faults.FailNth must not be negative, got %d", f.FailNth))
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		errs = append(errs, fmt.Errorf("odpsemu: Faults.Status must be 4xx or 5xx, got %d", f.Status))
	}
	for _, op := range f.Ops {
		if !knownOp(op) {
			errs = append(errs, fmt.Errorf("odpsemu: Faults.Ops: unknown op %q", op))
		}
	}
	return errors.Join(errs...)
}

func knownOp(op Op) bool {
	switch op {
	case OpProject, OpTunnelEndpoint, OpTables, OpTable, OpSQL, OpInstance,
		OpStreamCreate, OpStreamReload, OpStreamWrite, OpUploadCreate, OpUploadStatus,
		OpBlockWrite, OpUploadCommit, OpDownloadCreate, OpDownloadRead, OpUnsupported:
		return true
	}
	return false
}
