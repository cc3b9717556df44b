// Package s3server starts and stops private S3-compatible servers for the
// integration tests and the benchmarks: versitygw (Apache-2.0) with its
// posix backend on a temporary directory, listening on a free loopback port
// with generated keys.
//
// The server binary is built once from the Go module proxy at a pinned
// version (`go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`,
// about 1.5–3 minutes cold) into the test cache of package buildcache.
// Nothing but 127.0.0.1 is ever listened on.
package s3server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/odsync/odsync/harness/buildcache"
)

// Pinned server.
const (
	Module  = "github.com/versity/versitygw/cmd/versitygw"
	Version = "v1.8.0"
)

// Region is the region the server is started with.
const Region = "us-east-1"

// Binary returns the path of the cached versitygw binary, building it first
// when it is not there (package buildcache). The build is bounded by ctx.
func Binary(ctx context.Context) (string, error) {
	bin, err := buildcache.Binary(ctx, "versitygw-"+Version, "versitygw", buildcache.GoInstall(Module, Version))
	if err != nil {
		return "", fmt.Errorf("s3server: %w", err)
	}
	return bin, nil
}

// Options configure a server.
type Options struct {
	// Dir is the storage root; a temporary one is made when empty and removed by Close.
	Dir string
	// Port is the loopback port; 0 picks a free one.
	Port int
	// Buckets are created after start.
	Buckets []string
}

// Server is a running versitygw.
type Server struct {
	// Endpoint is http://127.0.0.1:port.
	Endpoint string
	Port     int
	// AccessKey and SecretKey are the root credentials (random per server).
	AccessKey, SecretKey string
	Dir                  string
	bin                  string
	ownDir               bool
	logPath              string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start builds (once) and starts a server, waits until it answers and
// creates opts.Buckets.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, Dir: opts.Dir, Port: opts.Port}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "s3server-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	data := filepath.Join(s.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	s.logPath = filepath.Join(s.Dir, "versitygw.log")
	if s.Port == 0 {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(s.Port)
	s.AccessKey = "odsync" + randHex(6)
	s.SecretKey = randHex(20)
	if err := s.Restart(ctx); err != nil {
		s.Close()
		return nil, err
	}
	cl := s.Client()
	for _, b := range opts.Buckets {
		if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			s.Close()
			return nil, fmt.Errorf("s3server: create bucket %s: %w", b, err)
		}
	}
	return s, nil
}

// Restart starts the server process again (after Stop) on the same port
// and directory, and waits until it answers.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		select {
		case <-s.done:
		default:
			return errors.New("s3server: already running")
		}
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "--port", "127.0.0.1:"+strconv.Itoa(s.Port), "--quiet", "posix", filepath.Join(s.Dir, "data"))
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey, "VGW_REGION="+Region)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("s3server: start: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil // any HTTP answer (403 without credentials) means it serves
		}
		select {
		case <-done:
			b, _ := os.ReadFile(s.logPath)
			return fmt.Errorf("s3server: versitygw exited at start:\n%s", b)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("s3server: no answer on %s after 30s", s.Endpoint)
		}
	}
}

// Stop stops the server process (SIGTERM, then SIGKILL after 5s) and keeps
// its data; Restart starts it again.
func (s *Server) Stop() {
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
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
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

// Client returns an S3 client for the server (path style, static keys).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
