package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestReverseJobFromStatus: a running reverse job's state is read from its
// /status: its checkpoint ("_seq N") counts only when it reads the same
// twice with the sink at the log head; the sink's row in the target's
// checkpoint table counts as applied too.
func TestReverseJobFromStatus(t *testing.T) {
	var calls, cursor atomic.Int64
	var moving atomic.Bool
	pos := func() string {
		if moving.Load() {
			return fmt.Sprintf("_seq %d", 40+calls.Load())
		}
		return "_seq 42"
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		fmt.Fprintf(w, `{"source":{"position":%q},"log":{"head":10},"sinks":[{"name":"my","cursor":%d},{"name":"other","cursor":10}]}`, pos(), cursor.Load())
	}))
	defer srv.Close()
	j := &jobState{sink: "my", status: srv.URL, client: srv.Client()}
	cursor.Store(10)
	s, err := j.fromStatus(context.Background(), 0)
	if err != nil || !s.Known || !s.Loaded || s.Upto != 42 || !s.Applied {
		t.Errorf("caught-up job: %+v, %v", s, err)
	}
	cursor.Store(7)
	if s, _ = j.fromStatus(context.Background(), 0); s.Applied {
		t.Errorf("sink behind its log counted as applied: %+v", s)
	}
	if s, _ = j.fromStatus(context.Background(), 10); !s.Applied {
		t.Errorf("the target's checkpoint row at the head did not count: %+v", s)
	}
	cursor.Store(10)
	moving.Store(true)
	if s, _ = j.fromStatus(context.Background(), 0); s.Applied {
		t.Errorf("a checkpoint that moved between two reads counted: %+v", s)
	}
	j.status = ""
	if _, err := j.fromStatus(context.Background(), 0); err == nil {
		t.Error("no error without a status URL")
	}
}
