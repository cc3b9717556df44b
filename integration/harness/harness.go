// Package harness holds the reusable helpers of odsync's integration tests:
// a private MariaDB per test package, the odsync binary built once, child
// processes that can be killed with SIGKILL, and readers for what sinks wrote.
//
// A test that needs a server it cannot start fails when CI=true and skips
// with a loud reason otherwise.
package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/harness/tidb"
)

// InCI reports whether the tests run in CI (CI=true), where nothing may skip.
func InCI() bool { return os.Getenv("CI") == "true" || os.Getenv("CI") == "1" }

// Unavailable fails the test in CI and skips it elsewhere, loudly.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI: %v", what, err)
	}
	t.Skipf("SKIPPED: %s is not available here (%v); install it to run this test", what, err)
}

var (
	dbOnce sync.Once
	dbSrv  *mariadb.Server
	dbErr  error
)

// MariaDB returns the package's private MariaDB, starting it on first use.
// Call StopMariaDB from TestMain after m.Run.
func MariaDB(t testing.TB) *mariadb.Server {
	t.Helper()
	dbOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dbSrv, dbErr = mariadb.Start(ctx, mariadb.Options{})
	})
	if dbErr != nil {
		Unavailable(t, "mariadbd (Debian package mariadb-server)", dbErr)
	}
	return dbSrv
}

// StopMariaDB stops the package's MariaDB if it was started.
func StopMariaDB() {
	if dbSrv != nil {
		dbSrv.Stop()
	}
}

var (
	tidbOnce sync.Once
	tidbSrv  *tidb.Server
	tidbErr  error
)

// TiDB returns the package's private tidb-server (unistore), starting it on
// first use (building it first when the test cache has no binary: ~8.5 min
// cold; .ci/run builds it before the tests). Call StopTiDB from TestMain.
func TiDB(t testing.TB) *tidb.Server {
	t.Helper()
	tidbOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		tidbSrv, tidbErr = tidb.Start(ctx, tidb.Options{})
	})
	if tidbErr != nil {
		Unavailable(t, "tidb-server (built by harness/tidb from the Go module proxy)", tidbErr)
	}
	return tidbSrv
}

// StopTiDB stops the package's tidb-server if it was started.
func StopTiDB() {
	if tidbSrv != nil {
		tidbSrv.Close()
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// Binary builds cmd/odsync once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		binDir, binErr = os.MkdirTemp("", "odsync-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "odsync")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/odsync")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build ./cmd/odsync: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// Cleanup removes the built binary; call from TestMain.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Process is a running odsync child process.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	Log  string // path of its combined output
	// logStart is the log's size when the process started: Stop waits for
	// output past it (odsync writes only after main has installed its
	// SIGTERM handler) so a SIGTERM cannot reach a process still in the Go
	// runtime's start-up, where the default action kills it (exit -1).
	logStart int64
}

// Start runs the odsync binary with args; output goes to logPath (appended).
func Start(t testing.TB, logPath string, args ...string) *Process {
	t.Helper()
	return StartBinary(t, Binary(t), nil, logPath, args...)
}

var (
	hookOnce sync.Once
	hookPath string
	hookErr  error
)

// TestHooksBinary builds odsync with the odsync_testhooks build tag once
// (deliberate faults switched on by environment variables, e.g.
// ODSYNC_TEST_BREAK_COLUMN) and returns its path. Cleanup removes it.
func TestHooksBinary(t testing.TB) string {
	t.Helper()
	Binary(t) // creates binDir
	hookOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		hookPath = filepath.Join(binDir, "odsync-testhooks")
		cmd := exec.Command("go", "build", "-tags", "odsync_testhooks", "-o", hookPath, "./cmd/odsync")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			hookErr = fmt.Errorf("go build -tags odsync_testhooks ./cmd/odsync: %v\n%s", err, out)
		}
	})
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	return hookPath
}

// StartBinary runs the odsync binary bin with args and extra environment
// variables env ("K=V"); output goes to logPath (appended).
func StartBinary(t testing.TB, bin string, env []string, logPath string, args ...string) *Process {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var logStart int64
	if fi, err := f.Stat(); err == nil {
		logStart = fi.Size()
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{}), Log: logPath, logStart: logStart}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.Kill() })
	return p
}

// Kill sends SIGKILL and waits.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits up to limit; it returns the exit code. A
// process that did not exit by itself (killed by a signal, or still
// running at limit) returns -1 and an error saying which, with the time
// since SIGTERM: "exit code -1" alone cannot tell a hang from a kill.
func (p *Process) Stop(limit time.Duration) (int, error) {
	start := time.Now()
	p.waitStarted(start.Add(limit))
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		p.Kill()
		return -1, fmt.Errorf("odsync did not exit within %s after SIGTERM (killed with SIGKILL)", limit)
	}
	st := p.cmd.ProcessState
	if st == nil {
		return -1, fmt.Errorf("odsync: no exit status %s after SIGTERM: %v", time.Since(start).Round(time.Millisecond), p.err)
	}
	if code := st.ExitCode(); code >= 0 {
		return code, nil
	}
	return -1, fmt.Errorf("odsync ended %s after SIGTERM by a signal (%s), not by exiting", time.Since(start).Round(time.Millisecond), st)
}

// waitStarted waits until the process has written to its log (its signal
// handler is installed by then), has exited, or deadline passes. Under a
// loaded machine a freshly started race-instrumented binary can take more
// than a second to reach main.
func (p *Process) waitStarted(deadline time.Time) {
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(p.Log); err == nil && fi.Size() > p.logStart {
			return
		}
		select {
		case <-p.done:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit by itself and returns its exit code.
func (p *Process) Wait(limit time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(limit):
		return -1, errors.New("timeout waiting for odsync to exit")
	}
}

// Row is one ODS row as a generic JSON object, with the file it came from.
type Row struct {
	Table string
	File  string
	Data  map[string]any
}

// Seq returns the row's _seq.
func (r Row) Seq() uint64 {
	n, _ := r.Data["_seq"].(json.Number).Int64()
	return uint64(n)
}

// Op returns the row's _op.
func (r Row) Op() string { s, _ := r.Data["_op"].(string); return s }

// ReadODS reads every JSON-lines data file under dir, sorted by _seq.
// Numbers are json.Number, so 64-bit integers and decimals are exact.
func ReadODS(t testing.TB, dir string) []Row {
	t.Helper()
	var rows []Row
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		table := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			dec := json.NewDecoder(strings.NewReader(sc.Text()))
			dec.UseNumber()
			m := map[string]any{}
			if err := dec.Decode(&m); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			rows = append(rows, Row{Table: table, File: rel, Data: m})
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Seq() < rows[j].Seq() })
	return rows
}

// WriteFile writes a file or fails the test.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Eventually polls cond until it returns true or limit passes.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %s", limit, what, last)
}
