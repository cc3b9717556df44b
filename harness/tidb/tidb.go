// Package tidb starts and stops private TiDB SQL servers (tidb-server in its
// standalone unistore storage mode) for the integration tests and the
// benchmarks: a data directory of its own, free loopback ports for SQL and
// status, root without a password.
//
// The server binary is built once from the Go module proxy at a pinned
// development commit (release tags are refused by the proxy; see
// /work/shared/docs/test-infra.md) into the same cache directory as the S3
// server (package buildcache): about 1 minute of module download (2.1 GB) and
// 7.5 minutes of compilation on 2 cores when nothing is cached; a 244 MB
// binary. Concurrent test binaries share the build through a file lock.
// .ci/run builds it before the tests (go run ./harness/tidb/buildtidb).
//
// unistore runs no GC worker, so a fresh store has no tikv_gc_safe_point
// row and `SET @@tidb_snapshot` fails ("can not get 'tikv_gc_safe_point'");
// Start inserts the row (safe point 2000-01-01) on every start.
package tidb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver

	"github.com/odsync/odsync/harness/buildcache"
)

// Pinned server: tidb at a commit of its development branch, with its
// parser module of the same commit (tidb's go.mod replaces ./pkg/parser).
const (
	Commit        = "20251126154744-e4e814fdc0af"
	Module        = "github.com/pingcap/tidb"
	Version       = "v1.1.0-beta.0." + Commit
	ParserModule  = "github.com/pingcap/tidb/pkg/parser"
	ParserVersion = "v0.0.0-" + Commit
)

// Binary returns the path of the cached tidb-server binary, building it
// first when it is not there (package buildcache). The build is bounded by
// ctx.
func Binary(ctx context.Context) (string, error) {
	bin, err := buildcache.Binary(ctx, "tidb-server-"+Commit, "tidb-server", build)
	if err != nil {
		return "", fmt.Errorf("tidb: %w", err)
	}
	return bin, nil
}

// build is the recipe of test-infra.md: download both modules, assemble
// tidb's source tree with its parser in pkg/parser, download its
// dependencies, build cmd/tidb-server to out.
func build(ctx context.Context, work, out string) error {
	goTool := buildcache.GoTool()
	env := append(buildcache.GoEnv(), "CGO_ENABLED=1")
	run := func(dir string, name string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
		}
		return []byte(stdout.String()), nil
	}
	mods, err := run(work, goTool, "mod", "download", "-json", Module+"@"+Version, ParserModule+"@"+ParserVersion)
	if err != nil {
		return err
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(mods)))
	for {
		var m struct{ Path, Dir, Error string }
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m.Error != "" {
			return fmt.Errorf("go mod download %s: %s", m.Path, m.Error)
		}
		dirs[m.Path] = m.Dir
	}
	if dirs[Module] == "" || dirs[ParserModule] == "" {
		return fmt.Errorf("go mod download did not name both module directories:\n%s", mods)
	}
	src := filepath.Join(work, "src")
	if _, err := run(work, "cp", "-r", dirs[Module], src); err != nil {
		return err
	}
	if _, err := run(work, "chmod", "-R", "u+w", src); err != nil {
		return err
	}
	parser := filepath.Join(src, "pkg", "parser")
	if err := os.RemoveAll(parser); err != nil {
		return err
	}
	if _, err := run(work, "cp", "-r", dirs[ParserModule], parser); err != nil {
		return err
	}
	if _, err := run(work, "chmod", "-R", "u+w", parser); err != nil {
		return err
	}
	if _, err := run(src, goTool, "mod", "download"); err != nil {
		return err
	}
	_, err = run(src, goTool, "build", "-tags", "codes", "-o", out, "./cmd/tidb-server")
	return err
}

// Options configure a server.
type Options struct {
	// Dir holds the data directory and the log; a temporary one is made
	// when empty and removed by Close.
	Dir string
	// Port and StatusPort are the loopback ports; 0 picks free ones.
	Port, StatusPort int
}

// Server is a running tidb-server.
type Server struct {
	// Port is the MySQL-protocol port, StatusPort the HTTP status port.
	Port, StatusPort int
	Dir              string
	bin              string
	ownDir           bool
	logPath          string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start builds (once) and starts a server, waits until it answers SQL and
// applies the gc_safe_point fix.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, Dir: opts.Dir, Port: opts.Port, StatusPort: opts.StatusPort}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "tidb-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o755); err != nil {
		return nil, err
	}
	s.logPath = filepath.Join(s.Dir, "tidb.log")
	for _, p := range []*int{&s.Port, &s.StatusPort} {
		if *p == 0 {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	if err := s.Restart(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DSN is a go-sql-driver/mysql DSN for root on db ("" for none).
func (s *Server) DSN(db string) string {
	return "root@tcp(127.0.0.1:" + strconv.Itoa(s.Port) + ")/" + db
}

// Addr is 127.0.0.1:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return s.logPath }

// Restart starts the server process again (after Stop or Kill) on the
// same ports and data, and waits until it answers SQL.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		select {
		case <-s.done:
		default:
			return errors.New("tidb: already running")
		}
	}
	outPath := filepath.Join(s.Dir, "tidb.out")
	outf, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		outf.Close()
		return err
	}
	cmd := exec.Command(s.bin, "-store", "unistore", "-path", filepath.Join(s.Dir, "data"),
		"-host", "127.0.0.1", "-P", strconv.Itoa(s.Port), "-status", strconv.Itoa(s.StatusPort),
		"-status-host", "127.0.0.1", "-log-file", s.logPath, "-temp-dir", tmp,
		"-log-slow-query", filepath.Join(s.Dir, "tidb-slow.log"), // else tidb-slow.log in the working directory
		"-report-status=true", "-metrics-interval", "0")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = outf, outf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		outf.Close()
		return fmt.Errorf("tidb: start: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		outf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	db, err := sql.Open("mysql", s.DSN("")+"?timeout=2s")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := db.PingContext(pctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(outPath)
			return fmt.Errorf("tidb: tidb-server exited at start (log %s):\n%s", s.logPath, tail(b, 4000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tidb: no answer on %s after 60s (log %s): %w", s.Addr(), s.logPath, err)
		}
	}
	// The GC safe point row unistore never writes (see the package doc).
	if _, err := db.ExecContext(ctx, "INSERT IGNORE INTO mysql.tidb (VARIABLE_NAME, VARIABLE_VALUE, COMMENT) VALUES ('tikv_gc_safe_point', '20000101-00:00:00.000 +0000', 'set by odsync harness/tidb: unistore runs no GC')"); err != nil {
		return fmt.Errorf("tidb: gc safe point: %w", err)
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 10s) and keeps its
// data; Restart starts it again.
func (s *Server) Stop() { s.signal(syscall.SIGTERM, 10*time.Second) }

// Kill kills the server with SIGKILL and keeps its data.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 10*time.Second) }

func (s *Server) signal(sig syscall.Signal, wait time.Duration) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Close stops the server and removes its directory when Start made it.
func (s *Server) Close() {
	s.Stop()
	if s.ownDir {
		os.RemoveAll(s.Dir)
	}
}

// Open returns a database handle on db ("" for none) with extra DSN
// parameters (e.g. "parseTime=true").
func (s *Server) Open(db, params string) (*sql.DB, error) {
	dsn := s.DSN(db)
	if params != "" {
		dsn += "?" + params
	}
	return sql.Open("mysql", dsn)
}

// CurrentTSO returns a current TSO of the server. @@tidb_current_ts is 0
// outside a transaction, so it is read inside one.
func CurrentTSO(ctx context.Context, db *sql.DB) (uint64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var ts uint64
	if err := tx.QueryRowContext(ctx, "SELECT @@tidb_current_ts").Scan(&ts); err != nil {
		return 0, err
	}
	return ts, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
