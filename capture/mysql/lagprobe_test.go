package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/integration/harness"
)

// cp is the test's stand-in for the log's checkpoint.
type cp struct {
	mu  sync.Mutex
	raw []byte
}

func (c *cp) get() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw
}

func (c *cp) set(file string, pos uint64, commit time.Time) {
	b, _ := json.Marshal(map[string]any{"flavor": "mariadb", "file": file, "pos": pos, "gtid_set": "0-1-1", "time": commit.Unix()})
	c.mu.Lock()
	c.raw = b
	c.mu.Unlock()
}

func serverPos(t *testing.T, db *sql.DB) filePos {
	t.Helper()
	rows, err := db.Query("SHOW MASTER STATUS")
	if err != nil {
		t.Fatal(err)
	}
	m, err := firstRow(rows)
	if err != nil || m == nil {
		t.Fatalf("SHOW MASTER STATUS: %v %v", m, err)
	}
	pos, err := strconv.ParseUint(m["position"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return filePos{m["file"], pos}
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestProbe runs the probe against a private MariaDB: bytes behind within
// and across binlog files, seconds behind once confirmed, rotations without
// transactions counting as caught up, and the server going away.
func TestProbe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, _, err := mariadb.Find(); err != nil {
		harness.Unavailable(t, "mariadbd (Debian package mariadb-server)", err)
	}
	srv, err := mariadb.Start(ctx, mariadb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, "CREATE DATABASE p", "CREATE TABLE p.t (id INT PRIMARY KEY, v VARCHAR(100))")

	var c cp
	p, err := NewLagProbe(LagProbeConfig{Addr: srv.Addr(), User: "root", Timeout: 5 * time.Second}, c.get)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now := time.Now()
	p.now = func() time.Time { return now }

	// No checkpoint yet: the position at the first probe is the start.
	l, err := p.Lag(ctx)
	if err != nil || !l.Connected || l.BytesBehind != 0 || l.SecondsBehind != 0 || !strings.Contains(l.Position, "(start)") {
		t.Fatalf("no checkpoint: %+v, %v", l, err)
	}
	start := serverPos(t, db)
	exec(t, db, "INSERT INTO p.t VALUES (1, REPEAT('x', 100))")
	after := serverPos(t, db)
	l, _ = p.Lag(ctx)
	if want := int64(after.pos - start.pos); l.BytesBehind != want {
		t.Errorf("no checkpoint, one insert: %d bytes behind, want %d", l.BytesBehind, want)
	}

	// A checkpoint at the start: behind by the insert; seconds only once
	// confirmed by a later probe, then the age of the checkpoint's commit.
	commit := now.Add(-30 * time.Second)
	c.set(start.file, start.pos, commit)
	p.seen = nil
	l, _ = p.Lag(ctx)
	if l.BytesBehind != int64(after.pos-start.pos) || l.SecondsBehind != 0 {
		t.Errorf("first sight: %+v", l)
	}
	now = now.Add(5 * time.Second)
	l, _ = p.Lag(ctx)
	if l.SecondsBehind < 34.9 || l.SecondsBehind > 35.1 {
		t.Errorf("confirmed: %.1f s behind, want 35 (the checkpoint's commit age)", l.SecondsBehind)
	}
	// Caught up.
	c.set(after.file, after.pos, now)
	l, _ = p.Lag(ctx)
	if l.BytesBehind != 0 || l.SecondsBehind != 0 {
		t.Errorf("caught up: %+v", l)
	}

	// FLUSH LOGS on an idle server: a new file without transactions is not lag.
	exec(t, db, "FLUSH BINARY LOGS")
	rotated := serverPos(t, db)
	if rotated.file == after.file {
		t.Fatalf("FLUSH BINARY LOGS did not rotate: %v", rotated)
	}
	l, _ = p.Lag(ctx)
	raw := l.BytesBehind
	now = now.Add(5 * time.Second)
	l, _ = p.Lag(ctx)
	if raw <= 0 || l.BytesBehind != 0 || l.SecondsBehind != 0 {
		t.Errorf("after a rotation without transactions: first %d bytes, then %+v; want >0, then 0", raw, l)
	}

	// A transaction in the new file: behind across files.
	exec(t, db, "INSERT INTO p.t VALUES (2, REPEAT('y', 100))")
	cur := serverPos(t, db)
	l, _ = p.Lag(ctx)
	now = now.Add(5 * time.Second)
	l, _ = p.Lag(ctx)
	if l.BytesBehind <= int64(cur.pos) || l.SecondsBehind <= 0 {
		t.Errorf("across files: %+v; want more than %d bytes and seconds > 0", l, cur.pos)
	}
	if l.SourcePosition != cur.String() {
		t.Errorf("source position %q, want %q", l.SourcePosition, cur)
	}

	// The server goes away.
	srv.Stop()
	if l, err = p.Lag(ctx); err == nil || l.Connected {
		t.Errorf("server stopped: %+v, %v; want an error", l, err)
	}
}

func TestFileOrder(t *testing.T) {
	for _, c := range []struct {
		a, b filePos
		want bool
	}{
		{filePos{"binlog.000001", 10}, filePos{"binlog.000001", 11}, true},
		{filePos{"binlog.000009", 900}, filePos{"binlog.000010", 4}, true},
		{filePos{"binlog.999999", 4}, filePos{"binlog.1000000", 4}, true},
		{filePos{"binlog.000002", 4}, filePos{"binlog.000001", 900}, false},
		{filePos{"binlog.000001", 4}, filePos{"binlog.000001", 4}, false},
	} {
		if got := before(c.a, c.b); got != c.want {
			t.Errorf("before(%v, %v) = %v", c.a, c.b, got)
		}
	}
}
