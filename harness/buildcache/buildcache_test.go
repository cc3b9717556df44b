package buildcache

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDir(t *testing.T) {
	for _, tc := range []struct{ cache, xdg, home, want string }{
		{cache: "/c", xdg: "/x", home: "/h", want: "/c"},
		{xdg: "/x", home: "/h", want: "/x/odsync-test"},
		{home: "/h", want: "/h/.cache/odsync-test"},
	} {
		t.Setenv("ODSYNC_TEST_CACHE", tc.cache)
		t.Setenv("XDG_CACHE_HOME", tc.xdg)
		t.Setenv("HOME", tc.home)
		if got, err := Dir(); err != nil || got != tc.want {
			t.Errorf("%+v: Dir() = %q, %v", tc, got, err)
		}
	}
}

// Concurrent callers share one build; later calls use the cached binary;
// a failed build leaves nothing behind and the next call builds again.
func TestBinaryBuildsOnce(t *testing.T) {
	t.Setenv("ODSYNC_TEST_CACHE", t.TempDir())
	ctx := context.Background()
	var builds atomic.Int32
	build := func(ctx context.Context, work, out string) error {
		builds.Add(1)
		if fi, err := os.Stat(work); err != nil || !fi.IsDir() {
			t.Errorf("work dir %s: %v", work, err)
		}
		time.Sleep(50 * time.Millisecond) // let the others queue on the lock
		return os.WriteFile(out, []byte("#!/bin/sh\necho built\n"), 0o755)
	}
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		wg.Go(func() {
			p, err := Binary(ctx, "tool-v1", "tool", build)
			if err != nil {
				t.Error(err)
			}
			paths[i] = p
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("%d builds, want 1", n)
	}
	cache, _ := Dir()
	want := filepath.Join(cache, "tool-v1", "tool")
	for _, p := range paths {
		if p != want {
			t.Fatalf("path %q, want %q", p, want)
		}
	}
	if p, err := Binary(ctx, "tool-v1", "tool", build); err != nil || p != want || builds.Load() != 1 {
		t.Fatalf("cached call: %q, %v, %d builds", p, err, builds.Load())
	}
	// Scratch directories are gone.
	ents, _ := os.ReadDir(filepath.Join(cache, "tool-v1"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "build-") || strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	boom := errors.New("boom")
	fail := func(ctx context.Context, work, out string) error {
		os.WriteFile(out, []byte("partial"), 0o755)
		return boom
	}
	if _, err := Binary(ctx, "tool-v2", "tool", fail); !errors.Is(err, boom) {
		t.Fatalf("failed build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "tool-v2", "tool")); !os.IsNotExist(err) {
		t.Fatalf("a failed build left a binary: %v", err)
	}
	if _, err := Binary(ctx, "tool-v2", "tool", build); err != nil || builds.Load() != 2 {
		t.Fatalf("rebuild after failure: %v, %d builds", err, builds.Load())
	}
}

// A caller waiting for another builder gives up when its context ends.
func TestBinaryWaitBoundedByContext(t *testing.T) {
	t.Setenv("ODSYNC_TEST_CACHE", t.TempDir())
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := Binary(context.Background(), "slow-v1", "slow", func(ctx context.Context, work, out string) error {
			close(started)
			<-release
			return os.WriteFile(out, nil, 0o755)
		})
		done <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Binary(ctx, "slow-v1", "slow", func(context.Context, string, string) error {
		t.Error("second build ran while the first held the lock")
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for another build") {
		t.Fatalf("err = %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A real go build of a tiny module (no dependencies, so no network) with
// the go command and environment the servers are built with.
func TestGoBuildTinyModule(t *testing.T) {
	t.Setenv("ODSYNC_TEST_CACHE", t.TempDir())
	bin, err := Binary(context.Background(), "hello-v1", "hello", func(ctx context.Context, work, out string) error {
		if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, "main.go"), []byte("package main\n\nfunc main() { println(\"hello from the cache\") }\n"), 0o644); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, GoTool(), "build", "-o", out, ".")
		cmd.Dir, cmd.Env = work, append(GoEnv(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return errors.New(string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello from the cache") {
		t.Fatalf("%s: %q, %v", bin, out, err)
	}
}
