package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/odsync/odsync/telemetry"
)

// LagProbeConfig says how to reach the server (the capture's own settings).
type LagProbeConfig struct {
	Addr     string
	User     string
	Password string
	// Timeout bounds connecting and each query. Default 5s.
	Timeout time.Duration
	// Logger receives the MySQL driver's messages at debug level (nil: discarded).
	Logger *slog.Logger
}

// driverLogger routes go-sql-driver's messages (otherwise printed to
// stderr by a global logger) into slog.
type driverLogger struct{ lg *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.lg.Debug("binlog lag probe: mysql driver", "msg", fmt.Sprint(v...))
}

// LagProbe measures how far odsync's log is behind a MySQL or
// MariaDB server without waiting for traffic: it compares the checkpoint
// stored in the log with the server's current binlog position (SHOW MASTER
// STATUS / SHOW BINARY LOG STATUS) over its own small connection, and so
// also tells whether the server is reachable. It implements
// telemetry.SourceProbe.
//
// Bytes behind are the binlog bytes from the checkpoint to the server's
// position, across files (SHOW BINARY LOGS); bytes that hold no transaction
// (a rotation or FLUSH LOGS on an idle server) do not count. Seconds behind
// are measured against odsync's own clock: a server position seen beyond
// the checkpoint and still not reached at the next probe means the capture
// is behind, by at least the time since it was first seen and at most the
// age of the checkpoint's last commit; the larger is reported (like
// Seconds_Behind_Master). A lag shorter than the probe interval reads 0.
type LagProbe struct {
	db         *sql.DB
	checkpoint func() []byte
	now        func() time.Time

	mu     sync.Mutex
	status string    // the working "SHOW ... STATUS" statement
	seen   []seenPos // server positions seen beyond the checkpoint, oldest first
	start  *filePos  // the server's position at the first probe, while the log has no checkpoint
	idleAt filePos   // a server position checked to hold no transaction after the checkpoint
	idleCP filePos   // ... for this checkpoint
	closed bool
}

type filePos struct {
	file string
	pos  uint64
}

type seenPos struct {
	at   filePos
	when time.Time
}

// NewLagProbe returns a probe. checkpoint returns the log's stored
// checkpoint (offsets.Log.Checkpoint); nil before the first append. It
// makes no connection until Lag.
func NewLagProbe(cfg LagProbeConfig, checkpoint func() []byte) (*LagProbe, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	dc := driver.NewConfig()
	dc.Net = "tcp"
	dc.Addr = cfg.Addr
	dc.User = cfg.User
	dc.Passwd = cfg.Password
	dc.Timeout = cfg.Timeout
	dc.ReadTimeout = cfg.Timeout
	dc.WriteTimeout = cfg.Timeout
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dc.Logger = driverLogger{cfg.Logger}
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return nil, fmt.Errorf("mysql lag probe: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(10 * time.Minute)
	return &LagProbe{db: db, checkpoint: checkpoint, now: time.Now}, nil
}

// Close closes the probe's connection.
func (p *LagProbe) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return p.db.Close()
}

// Lag implements telemetry.SourceProbe.
func (p *LagProbe) Lag(ctx context.Context) (telemetry.SourceLag, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := telemetry.SourceLag{BytesBehind: -1, MessagesBehind: -1, WatermarkAge: -1}
	if p.closed {
		return out, errors.New("mysql lag probe: closed")
	}
	server, err := p.serverPos(ctx)
	if err != nil {
		return out, err
	}
	now := p.now()
	out.Connected = true
	out.SourcePosition = fmt.Sprintf("%s:%d", server.file, server.pos)

	var cp Checkpoint
	var at filePos
	if raw := p.checkpoint(); raw != nil {
		if err := json.Unmarshal(raw, &cp); err != nil {
			return out, fmt.Errorf("mysql lag probe: the log's checkpoint is not a MySQL checkpoint: %v", err)
		}
		at = filePos{cp.File, uint64(cp.Pos)}
		out.Position = at.String()
		if cp.GTIDSet != "" {
			out.Position += " gtid=" + cp.GTIDSet
		}
		p.start = nil
	} else {
		// No checkpoint yet: the capture started at the server's position
		// then (it would have stored one for any transaction since).
		if p.start == nil {
			s := server
			p.start = &s
		}
		at = *p.start
		out.Position = at.String() + " (start)"
	}
	if at.file == "" {
		// A GTID-only checkpoint: no byte distance.
		out.SecondsBehind = p.seconds(now, at, server, int64(cp.Time), false)
		return out, nil
	}
	bytes, err := p.distance(ctx, at, server)
	if err != nil {
		return out, err
	}
	if bytes > 0 && p.idleAt == server && p.idleCP == at {
		bytes = 0 // checked before: nothing but rotation/header events
	}
	confirmed := p.track(now, at, server, bytes > 0)
	if confirmed && bytes > 0 {
		// Behind for a whole probe interval: make sure a transaction is
		// waiting, not just the header events of a new binlog file.
		if idle, err := p.noTransactions(ctx, at, server); err == nil && idle {
			p.idleAt, p.idleCP = server, at
			p.seen = p.seen[:0]
			bytes = 0
		}
	}
	out.BytesBehind = bytes
	out.SecondsBehind = p.seconds(now, at, server, int64(cp.Time), bytes > 0)
	return out, nil
}

func (f filePos) String() string { return f.file + ":" + strconv.FormatUint(f.pos, 10) }

// before reports whether a is before b in the binlog.
func before(a, b filePos) bool {
	if a.file != b.file {
		return fileLess(a.file, b.file)
	}
	return a.pos < b.pos
}

// fileLess orders binlog file names by their numeric extension.
func fileLess(a, b string) bool {
	ai, aok := fileIndex(a)
	bi, bok := fileIndex(b)
	if aok && bok && strings.TrimSuffix(a, a[strings.LastIndexByte(a, '.'):]) == strings.TrimSuffix(b, b[strings.LastIndexByte(b, '.'):]) {
		return ai < bi
	}
	return a < b
}

func fileIndex(name string) (uint64, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	return n, err == nil
}

// track records the server position while it is beyond the checkpoint and
// reports whether the oldest unreached position was seen at an earlier
// probe (the capture has been behind for at least one probe interval).
func (p *LagProbe) track(now time.Time, at, server filePos, behind bool) bool {
	keep := p.seen[:0]
	for _, s := range p.seen {
		if before(at, s.at) {
			keep = append(keep, s)
		}
	}
	p.seen = keep
	if !behind {
		p.seen = p.seen[:0]
		return false
	}
	if n := len(p.seen); n == 0 || p.seen[n-1].at != server {
		p.seen = append(p.seen, seenPos{server, now})
	}
	return len(p.seen) > 0 && p.seen[0].when.Before(now)
}

func (p *LagProbe) seconds(now time.Time, at, server filePos, cpTime int64, behind bool) float64 {
	if !behind || len(p.seen) == 0 || !p.seen[0].when.Before(now) {
		return 0
	}
	lag := now.Sub(p.seen[0].when).Seconds()
	if cpTime > 0 {
		lag = max(lag, float64(now.Unix()-cpTime))
	}
	return max(lag, 0)
}

// serverPos returns the server's current binlog position.
func (p *LagProbe) serverPos(ctx context.Context) (filePos, error) {
	stmts := []string{"SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"}
	if p.status != "" {
		stmts = []string{p.status}
	}
	var lastErr error
	for _, stmt := range stmts {
		rows, err := p.db.QueryContext(ctx, stmt)
		if err != nil {
			lastErr = err
			var me *driver.MySQLError
			if errors.As(err, &me) && me.Number == 1064 { // syntax: try the other spelling
				continue
			}
			return filePos{}, fmt.Errorf("mysql lag probe: %s: %w", stmt, err)
		}
		m, err := firstRow(rows)
		if err != nil {
			return filePos{}, fmt.Errorf("mysql lag probe: %s: %w", stmt, err)
		}
		p.status = stmt
		if m == nil {
			return filePos{}, fmt.Errorf("mysql lag probe: %s returned nothing: the binary log is off", stmt)
		}
		pos, err := strconv.ParseUint(m["position"], 10, 64)
		if err != nil || m["file"] == "" {
			return filePos{}, fmt.Errorf("mysql lag probe: %s: unexpected File/Position %q/%q", stmt, m["file"], m["position"])
		}
		return filePos{m["file"], pos}, nil
	}
	return filePos{}, fmt.Errorf("mysql lag probe: reading the binlog position: %w", lastErr)
}

// firstRow reads the first row as lower-cased column name → text.
func firstRow(rows *sql.Rows) (map[string]string, error) {
	defer rows.Close()
	all, err := readRows(rows, 1)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	return all[0], nil
}

func readRows(rows *sql.Rows, limit int) ([]map[string]string, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]string, len(cols))
		for i, c := range cols {
			m[strings.ToLower(c)] = vals[i].String
		}
		out = append(out, m)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, rows.Err()
}

// distance returns the binlog bytes from at to server.
func (p *LagProbe) distance(ctx context.Context, at, server filePos) (int64, error) {
	if !before(at, server) {
		return 0, nil
	}
	if at.file == server.file {
		return int64(server.pos - at.pos), nil
	}
	rows, err := p.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return -1, fmt.Errorf("mysql lag probe: SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	logs, err := readRows(rows, 0)
	if err != nil {
		return -1, fmt.Errorf("mysql lag probe: SHOW BINARY LOGS: %w", err)
	}
	var total int64
	for _, l := range logs {
		name := l["log_name"]
		size, _ := strconv.ParseInt(l["file_size"], 10, 64)
		switch {
		case name == at.file:
			total += max(0, size-int64(at.pos))
		case name == server.file:
			total += int64(server.pos)
		case fileLess(at.file, name) && fileLess(name, server.file):
			total += size
		}
	}
	return total, nil
}

// noTransactions reports whether the binlog between at and server holds
// only events that carry no transaction (rotation, format description,
// GTID lists, binlog checkpoints).
func (p *LagProbe) noTransactions(ctx context.Context, at, server filePos) (bool, error) {
	files := []filePos{at}
	if at.file != server.file {
		rows, err := p.db.QueryContext(ctx, "SHOW BINARY LOGS")
		if err != nil {
			return false, err
		}
		logs, err := readRows(rows, 0)
		rows.Close()
		if err != nil {
			return false, err
		}
		for _, l := range logs {
			if name := l["log_name"]; fileLess(at.file, name) && !fileLess(server.file, name) {
				files = append(files, filePos{name, 4})
			}
		}
		if len(files) > 8 {
			return false, nil // many files: certainly not idle
		}
	}
	for _, f := range files {
		q := fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d LIMIT 16", strings.ReplaceAll(f.file, "'", "''"), f.pos)
		rows, err := p.db.QueryContext(ctx, q)
		if err != nil {
			return false, err
		}
		evs, err := readRows(rows, 0)
		rows.Close()
		if err != nil {
			return false, err
		}
		if len(evs) == 16 {
			return false, nil
		}
		for _, e := range evs {
			switch strings.ToLower(e["event_type"]) {
			case "rotate", "format_desc", "gtid_list", "binlog_checkpoint", "previous_gtids", "stop", "heartbeat", "start_encryption":
			default:
				return false, nil
			}
		}
	}
	return true, nil
}
