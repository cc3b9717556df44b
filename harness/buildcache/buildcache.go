// Package buildcache builds the servers the tests and benchmarks start
// (versitygw in harness/s3server, tidb-server in harness/tidb) once, from
// the Go module proxy at pinned versions, into a cache directory that
// survives test runs: $ODSYNC_TEST_CACHE, else $XDG_CACHE_HOME/odsync-test,
// else ~/.cache/odsync-test (the temp dir when there is no home). CI caches
// that directory, so its layout (one subdirectory per pinned binary) does
// not change. Builds run outside odsync's module (they never touch go.mod),
// and concurrent builders of one binary — goroutines or test binaries —
// share one build through a file lock.
package buildcache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Dir returns the cache directory.
func Dir() (string, error) {
	if d := os.Getenv("ODSYNC_TEST_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "odsync-test"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "odsync-test-cache"), nil
	}
	return filepath.Join(home, ".cache", "odsync-test"), nil
}

// BuildFunc builds a binary to the path out. work is an empty scratch
// directory inside the binary's cache directory, removed afterwards.
type BuildFunc func(ctx context.Context, work, out string) error

// Binary returns the path of the cached binary sub/name (sub names the
// pinned version, e.g. "versitygw-v1.8.0"), building it with build first
// when it is not there. Only one builder runs at a time (a lock file in
// sub); the others wait for it, bounded by ctx, and use its result. The
// binary appears under its name only once complete.
func Binary(ctx context.Context, sub, name string, build BuildFunc) (string, error) {
	cache, err := Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, sub)
	bin := filepath.Join(dir, name)
	if isFile(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	// flock locks belong to the open file description, so separate opens
	// exclude each other within one process too.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	defer lock.Close() // releases the lock
	if err := flock(ctx, lock); err != nil {
		return "", fmt.Errorf("build %s: waiting for another build: %w", name, err)
	}
	if isFile(bin) {
		return bin, nil // another builder finished while we waited
	}
	work, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	defer func() {
		_ = exec.Command("chmod", "-R", "u+w", work).Run() // the module cache's read-only copies
		os.RemoveAll(work)
	}()
	tmp := bin + ".tmp"
	if err := build(ctx, work, tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	return bin, nil
}

// GoInstall is a BuildFunc that runs `go install pkg@version` with cgo off
// and moves the binary (named like pkg's last element) to out.
func GoInstall(pkg, version string) BuildFunc {
	return func(ctx context.Context, work, out string) error {
		gobin := filepath.Join(work, "bin")
		cmd := exec.CommandContext(ctx, GoTool(), "install", pkg+"@"+version)
		cmd.Dir = work
		cmd.Env = append(GoEnv(), "GOBIN="+gobin, "CGO_ENABLED=0")
		if out1, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go install %s@%s: %v\n%s", pkg, version, err, out1)
		}
		return os.Rename(filepath.Join(gobin, filepath.Base(pkg)), out)
	}
}

// GoTool returns the go command: from PATH, else /usr/local/go/bin/go.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if isFile("/usr/local/go/bin/go") {
		return "/usr/local/go/bin/go"
	}
	return "go"
}

// GoEnv is the environment builds run go in: this process's, outside any
// workspace, with module files updated as needed (add CGO_ENABLED).
func GoEnv() []string {
	return append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// flock takes an exclusive lock on f, waiting until ctx is done.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
