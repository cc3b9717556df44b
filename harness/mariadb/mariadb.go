// Package mariadb starts and stops private MariaDB servers for the demo,
// the integration tests and the benchmarks: a temporary datadir, a free
// loopback port, ROW binlog with FULL row image and FULL row metadata, GTID.
//
// It never touches the system service or port 3306.
package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver
)

// ErrNotInstalled is returned when mariadbd or mariadb-install-db is missing.
var ErrNotInstalled = errors.New("mariadb: mariadbd/mariadb-install-db not found (install the Debian package mariadb-server)")

// Options configure a private server.
type Options struct {
	// Dir is the base directory; a temporary one is made when empty and removed by Stop.
	Dir string
	// ExtraArgs are appended to the mariadbd command line (e.g. "--binlog-row-metadata=MINIMAL").
	ExtraArgs []string
	// Stderr receives the server's error log lines on failure (nil: included in the error).
	Quiet bool
}

// Server is a running private mariadbd.
type Server struct {
	Port    int
	Dir     string
	DataDir string
	cmd     *exec.Cmd
	done    chan struct{}
	ownDir  bool
	errLog  string
	bin     string   // mariadbd
	args    []string // its command line (with the port)
}

// Find returns the paths of mariadbd and mariadb-install-db.
func Find() (mariadbd, installDB string, err error) {
	look := func(names ...string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
			for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
				p := filepath.Join(d, n)
				if st, err := os.Stat(p); err == nil && !st.IsDir() {
					return p
				}
			}
		}
		return ""
	}
	mariadbd = look("mariadbd", "mysqld")
	installDB = look("mariadb-install-db", "mysql_install_db")
	if mariadbd == "" || installDB == "" {
		return "", "", ErrNotInstalled
	}
	return mariadbd, installDB, nil
}

// Start initializes a datadir and starts mariadbd on a free loopback port.
// It returns when the server accepts connections as root (empty password).
func Start(ctx context.Context, opts Options) (*Server, error) {
	mariadbd, installDB, err := Find()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: opts.Dir, done: make(chan struct{})}
	if s.Dir == "" {
		d, err := os.MkdirTemp("", "odsync-mariadb-")
		if err != nil {
			return nil, err
		}
		s.Dir, s.ownDir = d, true
	}
	s.DataDir = filepath.Join(s.Dir, "data")
	tmp := filepath.Join(s.Dir, "tmp")
	for _, d := range []string{s.DataDir, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	uname := "root"
	if u, err := user.Current(); err == nil {
		uname = u.Username
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "mysql")); err != nil {
		out, err := exec.CommandContext(ctx, installDB, "--no-defaults", "--user="+uname, "--datadir="+s.DataDir,
			"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve").CombinedOutput()
		if err != nil {
			s.cleanup()
			return nil, fmt.Errorf("mariadb: mariadb-install-db: %w\n%s", err, tail(string(out), 2000))
		}
	}
	// The port is picked here and bound by mariadbd a moment later; a lost race is retried.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		s.errLog = filepath.Join(s.Dir, "error.log")
		_ = os.Remove(s.errLog)
		args := []string{"--no-defaults", "--user=" + uname, "--datadir=" + s.DataDir, "--tmpdir=" + tmp,
			"--socket=" + filepath.Join(s.Dir, "mysqld.sock"), "--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"),
			"--bind-address=127.0.0.1", "--port=" + strconv.Itoa(port), "--skip-name-resolve", "--server-id=1",
			"--log-bin=" + filepath.Join(s.DataDir, "binlog"), "--binlog-format=ROW", "--binlog-row-image=FULL",
			"--binlog-row-metadata=FULL", "--binlog-annotate-row-events=ON", "--gtid-strict-mode=ON",
			"--innodb-buffer-pool-size=64M", "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=2",
			"--sync-binlog=0", "--innodb-doublewrite=0", "--max-allowed-packet=256M",
			"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
			"--log-error=" + s.errLog}
		args = append(args, opts.ExtraArgs...)
		s.bin, s.args = mariadbd, args
		cmd := exec.Command(mariadbd, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			s.cleanup()
			return nil, fmt.Errorf("mariadb: start mariadbd: %w", err)
		}
		s.cmd = cmd
		s.done = make(chan struct{})
		go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
		if lastErr = s.waitReady(ctx, 60*time.Second); lastErr == nil {
			return s, nil
		}
		s.kill()
	}
	s.cleanup()
	return nil, lastErr
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("mariadb: mariadbd exited during start-up:\n%s", s.ErrorLog())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		db, err := sql.Open("mysql", s.DSN(""))
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadb: not ready after %s: %v\n%s", limit, err, s.ErrorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// DSN is a go-sql-driver DSN for root on database db ("" for none).
func (s *Server) DSN(db string) string {
	return "root@tcp(" + s.Addr() + ")/" + db + "?parseTime=true&loc=UTC&multiStatements=true&interpolateParams=true"
}

// Open opens a database handle as root.
func (s *Server) Open(db string) (*sql.DB, error) { return sql.Open("mysql", s.DSN(db)) }

// ErrorLog returns the tail of the server's error log.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(s.errLog)
	return tail(string(b), 4000)
}

// Stop terminates the server with SIGTERM (mariadbd ignores SIGINT), waits
// for it, and removes a temporary directory.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.kill()
		}
	}
	s.cleanup()
	return nil
}

// Kill stops the server with SIGKILL (a crash) without removing its files.
func (s *Server) Kill() { s.kill() }

// Pause stops the server with SIGTERM, keeping its files and port for
// Resume (an outage of the server).
func (s *Server) Pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.kill()
		}
	}
}

// Resume starts the server again on the same port and datadir after Pause
// or Kill, and waits until it accepts connections.
func (s *Server) Resume(ctx context.Context) error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mariadb: restart mariadbd: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	return s.waitReady(ctx, 60*time.Second)
}

func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

func (s *Server) cleanup() {
	if s.ownDir {
		_ = os.RemoveAll(s.Dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
