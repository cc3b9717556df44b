package integration

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/pipeline"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/local"
)

// Shared by the kill -9 tests: a helper process is the test binary run
// again with only its helper "test", which wires a capture, the durable log,
// the pipeline and the local sink like odsync run.

// runHelperPipeline runs src through the durable log into a local sink
// writing to out until ctx ends (SIGTERM), and returns the helper's exit
// code.
func runHelperPipeline(ctx context.Context, lg *slog.Logger, log *offsets.Log, src pipeline.Source, mapper *schema.Mapper,
	out string, maxRows int) int {
	sk, err := local.New(local.Config{Dir: out}, mapper)
	if err != nil {
		lg.Error("sink", "err", err)
		return 1
	}
	p := pipeline.New(log, src, []pipeline.SinkSpec{{Name: "files", Sink: sk, Policy: pipeline.BatchPolicy{MaxRows: maxRows, MaxAge: 50 * time.Millisecond}}},
		pipeline.Options{Logger: lg, DrainTimeout: 20 * time.Second})
	lg.Info("helper running")
	err = p.Run(ctx)
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sk.Close(cctx)
	if err != nil {
		lg.Error("pipeline", "err", err)
		return 1
	}
	return 0
}

// helperProc is a running helper process.
type helperProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startHelperProcess starts the helper test named run with flagEnv=1 and
// configEnv set to cfg as JSON; its output is appended to logPath. The
// process is killed when the test ends.
func startHelperProcess(t *testing.T, run, flagEnv, configEnv string, cfg any, logPath string) *helperProc {
	t.Helper()
	b, _ := json.Marshal(cfg)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+run+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), flagEnv+"=1", configEnv+"="+string(b))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); f.Close(); close(h.done) }()
	t.Cleanup(h.kill)
	return h
}

// kill sends SIGKILL (unless the process has exited) and waits for it.
func (h *helperProc) kill() {
	select {
	case <-h.done:
	default:
		h.cmd.Process.Kill()
		<-h.done
	}
}

func (h *helperProc) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and fails the test unless the helper exits with 0
// within a minute.
func (h *helperProc) stop(t *testing.T) {
	t.Helper()
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		h.kill()
		t.Fatal("helper did not stop on SIGTERM")
	}
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("helper exit code %d:\n%s", code, readFile(t, h.log))
	}
}
