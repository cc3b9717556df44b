package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/integration/harness"
)

// captureRun runs a mysql.Source in this process and keeps what it emits
// the way the log does: chunks of a transaction stay pending until the
// emit that carries a checkpoint commits them.
type captureRun struct {
	t       testing.TB
	src     *mysql.Source
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	events  []event.Event // committed
	pending []event.Event
	cps     [][]byte
}

func testSourceConfig(srv *mariadb.Server) mysql.Config {
	return mysql.Config{Addr: srv.Addr(), User: "root", ServerID: uint32(3000 + rand.IntN(20000)),
		HeartbeatPeriod: time.Second, ProgressInterval: time.Hour}
}

func dbFilter(dbs ...string) func(event.TableID) bool {
	return func(id event.TableID) bool {
		for _, d := range dbs {
			if id.DB == d {
				return true
			}
		}
		return false
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ODSYNC_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func startCapture(t testing.TB, cfg mysql.Config, opts mysql.Options, from []byte, capture func(event.TableID) bool) *captureRun {
	t.Helper()
	src, err := mysql.New(cfg, capture, testLogger(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &captureRun{t: t, src: src, cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- src.Run(ctx, from, func(ctx context.Context, evs []event.Event, cp []byte) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.pending = append(c.pending, evs...)
			if cp != nil {
				c.events = append(c.events, c.pending...)
				c.pending = nil
				c.cps = append(c.cps, append([]byte(nil), cp...))
			}
			return nil
		})
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

// stop ends the capture and returns Run's error.
func (c *captureRun) stop() error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	c.cancel = nil
	select {
	case err := <-c.done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("capture did not stop")
	}
}

// wait blocks until cond holds for the committed events.
func (c *captureRun) wait(what string, limit time.Duration, cond func([]event.Event) bool) []event.Event {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		c.mu.Lock()
		evs := append([]event.Event(nil), c.events...)
		c.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case err := <-c.done:
			c.t.Fatalf("capture ended while waiting for %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s (%d events)", limit, what, len(evs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *captureRun) checkpoint() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cps) == 0 {
		return nil
	}
	return c.cps[len(c.cps)-1]
}

// count returns how many committed events match.
func count(evs []event.Event, f func(*event.Event) bool) int {
	n := 0
	for i := range evs {
		if f(&evs[i]) {
			n++
		}
	}
	return n
}

func ofTable(tbl string, ops ...event.Op) func(*event.Event) bool {
	return func(e *event.Event) bool {
		if e.Source.Table != tbl {
			return false
		}
		if len(ops) == 0 {
			return true
		}
		for _, o := range ops {
			if e.Op == o {
				return true
			}
		}
		return false
	}
}

func filter(evs []event.Event, f func(*event.Event) bool) []event.Event {
	var out []event.Event
	for i := range evs {
		if f(&evs[i]) {
			out = append(out, evs[i])
		}
	}
	return out
}

// sessionConn returns a connection with UTC time zone and a permissive
// sql_mode (zero dates allowed).
func sessionConn(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for _, s := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION sql_mode = ''"} {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

func connExec(t testing.TB, conn *sql.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rowText renders a row image as "col=kind:text" pairs.
func rowText(t *event.Table, row []event.Value) string {
	var b strings.Builder
	for i, v := range row {
		if i > 0 {
			b.WriteString(" ")
		}
		name := fmt.Sprintf("#%d", i)
		if t != nil && i < len(t.Columns) {
			name = t.Columns[i].Name
		}
		b.WriteString(name + "=" + v.String())
	}
	return b.String()
}

// privateMariaDB starts a MariaDB of its own for tests that change
// server-wide state (purging binlogs, row metadata).
func privateMariaDB(t *testing.T, args ...string) *mariadb.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := mariadb.Start(ctx, mariadb.Options{ExtraArgs: args})
	if err != nil {
		harness.Unavailable(t, "mariadbd (Debian package mariadb-server)", err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}
