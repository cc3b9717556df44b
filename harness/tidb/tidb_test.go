package tidb

import (
	"context"
	"testing"
	"time"
)

// TestServer starts a private tidb-server, reads at a past TSO both ways
// (tidb_snapshot needs the gc_safe_point fix; AS OF TIMESTAMP does not),
// and restarts it after SIGKILL with its data.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold build takes ~8.5 min
	defer cancel()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := s.Open("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE DATABASE d", "CREATE TABLE d.t (id BIGINT UNSIGNED PRIMARY KEY, v DECIMAL(65,30))",
		"INSERT INTO d.t VALUES (18446744073709551615, 99999999999999999999999999999999999.999999999999999999999999999999)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tso, err := CurrentTSO(ctx, db)
	if err != nil || tso == 0 {
		t.Fatalf("tso %d: %v", tso, err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM d.t"); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SET @@tidb_snapshot = ?", tso); err != nil {
		t.Fatalf("tidb_snapshot: %v", err)
	}
	var v string
	if err := conn.QueryRowContext(ctx, "SELECT CAST(v AS CHAR) FROM d.t").Scan(&v); err != nil || v != "99999999999999999999999999999999999.999999999999999999999999999999" {
		t.Fatalf("read at the TSO: %q %v", v, err)
	}
	if _, err := conn.ExecContext(ctx, "SET @@tidb_snapshot = ''"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM d.t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("current count %d %v", n, err)
	}
	s.Kill()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM d.t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after restart: %d %v", n, err)
	}
}
