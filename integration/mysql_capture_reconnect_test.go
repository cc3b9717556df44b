package integration

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/integration/harness"
)

// killDumpThreads kills the server side of every binlog connection.
func killDumpThreads(t *testing.T, db *sql.DB) int {
	t.Helper()
	rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		db.Exec("KILL ?", id)
	}
	return len(ids)
}

// TestMySQLCaptureReconnectMidTransaction breaks the binlog connection while
// a transaction larger than memory is being emitted in chunks: the capture
// reconnects from the checkpoint, reads the transaction again, skips what
// it already emitted, and delivers every row exactly once.
func TestMySQLCaptureReconnectMidTransaction(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS crec", "CREATE DATABASE crec", "CREATE TABLE crec.t (id INT PRIMARY KEY, pad VARCHAR(100))")
	cfg := testSourceConfig(srv)
	cfg.Snapshot = mysql.SnapshotNever
	cfg.MaxTxnEvents = 100
	src, err := mysql.New(cfg, dbFilter("crec"), testLogger(t), mysql.Options{Store: mysql.NewMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var committed, pending []event.Event
	kills := 0
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, nil, func(_ context.Context, evs []event.Event, cp []byte) error {
			mu.Lock()
			defer mu.Unlock()
			pending = append(pending, evs...)
			if cp == nil && kills == 0 && len(pending) > 500 {
				kills = killDumpThreads(t, db)
			}
			if cp != nil {
				committed = append(committed, pending...)
				pending = nil
			}
			return nil
		})
	}()
	time.Sleep(500 * time.Millisecond)
	mustExec(t, db, "INSERT INTO crec.t SELECT seq, REPEAT('r', 90) FROM crec.seq_1_to_60000")
	harness.Eventually(t, 60*time.Second, "the transaction", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(committed) >= 60000, ""
	})
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if kills == 0 {
		t.Fatal("the binlog connection was not broken")
	}
	if len(committed) != 60000 || len(pending) != 0 {
		t.Fatalf("%d rows committed (%d pending), want 60000", len(committed), len(pending))
	}
	for i, e := range committed {
		if id := e.After[0].Int(); id != int64(i+1) {
			t.Fatalf("row %d has id %d: a row was lost or repeated across the reconnect", i, id)
		}
	}
	if !committed[len(committed)-1].TxnEnd {
		t.Error("the last row does not end the transaction")
	}
}
