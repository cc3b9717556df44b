package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/integration/harness"
)

// TestMySQLCaptureSnapshotKeys copies tables keyed every way the chunking
// must handle, in small chunks while they are written to: BIGINT UNSIGNED
// keys above 2^63, a composite key starting with a VARCHAR in a
// case-insensitive collation, a NOT NULL unique key instead of a primary
// key, and no usable key at all (one consistent pass). Then it stops
// (snapshot_only) and a second run finds nothing left to do.
func TestMySQLCaptureSnapshotKeys(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS csnap", "CREATE DATABASE csnap",
		"CREATE TABLE csnap.u64 (id BIGINT UNSIGNED PRIMARY KEY, n INT)",
		"INSERT INTO csnap.u64 SELECT 18446744073709551615 - seq * 1000003, seq FROM csnap.seq_0_to_999",
		"INSERT INTO csnap.u64 SELECT seq, seq FROM csnap.seq_1_to_500",
		"CREATE TABLE csnap.vc (name VARCHAR(30) COLLATE utf8mb4_general_ci, k INT, n INT, PRIMARY KEY (name, k))",
		"INSERT INTO csnap.vc SELECT CONCAT(CASE seq % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'B' ELSE 'ç' END, seq % 17), seq, seq FROM csnap.seq_1_to_1000",
		"CREATE TABLE csnap.uk (a INT NOT NULL, b VARCHAR(10) NOT NULL, n INT, UNIQUE KEY (b, a))",
		"INSERT INTO csnap.uk SELECT seq, CONCAT('x', seq % 10), seq FROM csnap.seq_1_to_700",
		"CREATE TABLE csnap.nokey (a INT, b VARCHAR(10), UNIQUE KEY (a))",
		"INSERT INTO csnap.nokey SELECT seq, 'v' FROM csnap.seq_1_to_900",
		"INSERT INTO csnap.nokey VALUES (NULL, 'null key'), (NULL, 'null key')",
		// MariaDB UUID keys: v1 (stored with swapped segments, so index
		// order is not text order) and v4-like, chunked by the server.
		"CREATE TABLE csnap.uid (id UUID PRIMARY KEY, n INT)",
		"INSERT INTO csnap.uid SELECT UUID(), seq FROM csnap.seq_1_to_250",
		"INSERT INTO csnap.uid SELECT CONCAT(LPAD(HEX(seq * 7919), 8, '0'), '-0000-4000-8000-', LPAD(HEX(seq), 12, '0')), seq FROM csnap.seq_1_to_250")
	cfg := testSourceConfig(srv)
	cfg.Snapshot = mysql.SnapshotSnapshotOnly
	cfg.SnapshotChunkRows = 37
	store := mysql.NewMemStore()
	src, err := mysql.New(cfg, dbFilter("csnap"), testLogger(t), mysql.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	var evs, pending []event.Event
	var last []byte
	emit := func(ctx context.Context, e []event.Event, cp []byte) error {
		pending = append(pending, e...)
		if cp != nil {
			evs, pending, last = append(evs, pending...), nil, cp
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// Writes during the copy must not make any row appear twice.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200 && ctx.Err() == nil; i++ {
			db.Exec(fmt.Sprintf("UPDATE csnap.u64 SET n = n + 1 WHERE id = %d", 1+i))
			db.Exec(fmt.Sprintf("INSERT INTO csnap.vc VALUES ('zz%d', %d, 0)", i, i))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if err := src.Run(ctx, nil, emit); err != nil {
		t.Fatalf("snapshot_only Run: %v", err)
	}
	<-done
	cp, err := mysql.DecodeCheckpoint(last)
	if err != nil || !cp.SnapshotOnlyDone {
		t.Fatalf("final checkpoint %s: %v", last, err)
	}
	// Every row once (by key), in the source's final state or older with a
	// change event after it.
	type key struct{ table, k string }
	reads := map[key]int{}
	for _, e := range evs {
		if e.Op != event.OpRead {
			continue
		}
		var parts []string
		for _, i := range e.Table.Key {
			parts = append(parts, e.After[i].String())
		}
		if len(e.Table.Key) == 0 {
			parts = []string{rowText(e.Table, e.After), fmt.Sprint(reads[key{e.Source.Table, rowText(e.Table, e.After)}])}
		}
		reads[key{e.Source.Table, strings.Join(parts, "|")}]++
	}
	perTable := map[string]int{}
	for k, n := range reads {
		if n > 1 && k.table != "nokey" {
			t.Errorf("%s row %s read %d times", k.table, k.k, n)
		}
		perTable[k.table] += n
	}
	changed := func(tbl string) int { return count(evs, ofTable(tbl, event.OpInsert, event.OpUpdate, event.OpDelete)) }
	// Rows updated before their chunk was read arrive by their update only.
	seen := map[uint64]int{}
	for _, e := range filter(evs, ofTable("u64")) {
		seen[e.Row()[0].Uint()]++
		if e.Op == event.OpRead && seen[e.Row()[0].Uint()] > 1 {
			t.Errorf("u64 row %d read after a change", e.Row()[0].Uint())
		}
	}
	if len(seen) != 1500 || perTable["u64"] > 1500 {
		t.Errorf("u64: %d rows read, %d distinct rows delivered, want 1500", perTable["u64"], len(seen))
	}
	if got := perTable["vc"] + changed("vc"); got < 1000 || perTable["vc"] > 1200 {
		t.Errorf("vc: %d rows read, %d inserted", perTable["vc"], changed("vc"))
	}
	if got := perTable["uk"]; got != 700 {
		t.Errorf("uk: %d rows read, want 700", got)
	}
	if got := perTable["uid"]; got != 500 {
		t.Errorf("uid: %d rows read, want 500", got)
	}
	if got := perTable["nokey"]; got != 902 {
		t.Errorf("nokey: %d rows read, want 902", got)
	}
	// The largest unsigned keys arrive intact.
	max := uint64(0)
	for _, e := range filter(evs, ofTable("u64", event.OpRead)) {
		if u := e.After[0].Uint(); u > max {
			max = u
		}
	}
	if max != 18446744073709551615 {
		t.Errorf("largest u64 key %d", max)
	}
	// A second run has nothing to do.
	src2, _ := mysql.New(cfg, dbFilter("csnap"), testLogger(t), mysql.Options{Store: store})
	n := 0
	if err := src2.Run(ctx, last, func(_ context.Context, e []event.Event, _ []byte) error { n += len(e); return nil }); err != nil || n != 0 {
		t.Errorf("second snapshot_only run: %d events, %v", n, err)
	}
}

// TestMySQLCaptureAddTableAndRequest: a table added to the include list of
// a running deployment is copied while streaming goes on (nothing else is
// copied again), and odsync snapshot --table copies one table on demand.
func TestMySQLCaptureAddTableAndRequest(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS cadd", "CREATE DATABASE cadd",
		"CREATE TABLE cadd.a (id INT PRIMARY KEY, n INT)", "INSERT INTO cadd.a SELECT seq, seq FROM cadd.seq_1_to_300",
		"CREATE TABLE cadd.b (id INT PRIMARY KEY, n INT)", "INSERT INTO cadd.b SELECT seq, seq FROM cadd.seq_1_to_200")
	cfg := testSourceConfig(srv)
	requests := filepath.Join(t.TempDir(), "requests")
	store := mysql.NewMemStore()
	onlyA := func(id event.TableID) bool { return id.DB == "cadd" && id.Table == "a" }
	c := startCapture(t, cfg, mysql.Options{Store: store, RequestDir: requests}, nil, onlyA)
	c.wait("a's snapshot", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("a", event.OpRead)) == 300 })
	mustExec(t, db, "INSERT INTO cadd.a VALUES (1000, 1)", "INSERT INTO cadd.b VALUES (1000, 1)")
	c.wait("a's insert", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("a", event.OpInsert)) == 1 })
	cp := c.checkpoint()
	c.stop()
	if n := count(c.events, ofTable("b")); n != 0 {
		t.Fatalf("b captured before it was included: %d events", n)
	}
	// Include b: only b is copied, while changes keep flowing.
	c2 := startCapture(t, cfg, mysql.Options{Store: store, RequestDir: requests}, cp, dbFilter("cadd"))
	mustExec(t, db, "INSERT INTO cadd.a VALUES (1001, 1)")
	evs := c2.wait("b's snapshot", 30*time.Second, func(evs []event.Event) bool {
		// b's insert after the checkpoint arrives as a change, the rest as reads.
		return count(evs, ofTable("b", event.OpRead))+count(evs, ofTable("b", event.OpInsert)) == 201 &&
			count(evs, ofTable("a", event.OpInsert)) == 1
	})
	if n := count(evs, ofTable("a", event.OpRead)); n != 0 {
		t.Errorf("a was copied again: %d rows", n)
	}
	// On demand: odsync snapshot --table cadd.a.
	if _, err := mysql.WriteSnapshotRequest(requests, []string{"cadd.a"}); err != nil {
		t.Fatal(err)
	}
	evs = c2.wait("the requested snapshot", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("a", event.OpRead)) == 302 })
	cp = c2.checkpoint()
	c2.stop()
	// After a restart the request is not taken up again.
	c3 := startCapture(t, cfg, mysql.Options{Store: store, RequestDir: requests}, cp, dbFilter("cadd"))
	mustExec(t, db, "INSERT INTO cadd.a VALUES (1002, 1)")
	evs = c3.wait("streaming after restart", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("a", event.OpInsert)) == 1 })
	time.Sleep(3 * time.Second)
	if n := count(c3.events, ofTable("a", event.OpRead)); n != 0 {
		t.Errorf("the request was taken up twice: %d rows", n)
	}
	st := c3.src.Stats()
	if st.Transactions == 0 || st.Position == "" {
		t.Errorf("stats: %+v", st)
	}
}
