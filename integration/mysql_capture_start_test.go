package integration

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/integration/harness"
)

func ids(evs []event.Event) []int64 {
	var out []int64
	for _, e := range evs {
		if e.Op != event.OpDDL {
			out = append(out, e.Row()[0].Int())
		}
	}
	return out
}

func equalIDs(a []int64, b ...int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMySQLCaptureStartPositions starts captures at a time, a GTID set, a
// file:pos and the earliest binlog, and checks each delivers exactly the
// transactions from there on.
func TestMySQLCaptureStartPositions(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS cstart", "CREATE DATABASE cstart", "CREATE TABLE cstart.t (id INT PRIMARY KEY, n INT)")
	mustExec(t, db, "INSERT INTO cstart.t VALUES (1, 1)")
	var file string
	var pos uint32
	var x1, x2 any
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x1, &x2); err != nil {
		t.Fatal(err)
	}
	// Binlog timestamps are whole seconds: move to a fresh second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	at := time.Now().Truncate(time.Second)
	mustExec(t, db, "INSERT INTO cstart.t VALUES (2, 2)")
	gtid, err := queryString(db, "SELECT @@gtid_binlog_pos")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO cstart.t VALUES (3, 3)", "UPDATE cstart.t SET n = 30 WHERE id = 3")

	cases := []struct {
		start string
		want  []int64
	}{
		{"time:" + at.UTC().Format(time.RFC3339), []int64{2, 3, 3}},
		{"gtid:" + gtid, []int64{3, 3}},
		{"file:" + file + ":" + itoa(int64(pos)), []int64{2, 3, 3}},
		{"earliest", []int64{1, 2, 3, 3}},
	}
	for _, tc := range cases {
		cfg := testSourceConfig(srv)
		cfg.Snapshot = mysql.SnapshotNever
		cfg.Start = tc.start
		c := startCapture(t, cfg, mysql.Options{Store: mysql.NewMemStore()}, nil, dbFilter("cstart"))
		evs := c.wait(tc.start, 60*time.Second, func(evs []event.Event) bool {
			return count(evs, func(e *event.Event) bool { return e.Op == event.OpUpdate }) == 1
		})
		cp := c.checkpoint()
		if err := c.stop(); err != nil {
			t.Fatalf("%s: %v", tc.start, err)
		}
		rows := filter(evs, func(e *event.Event) bool { return e.Op != event.OpDDL })
		if got := ids(rows); !equalIDs(got, tc.want...) {
			t.Errorf("start %s: rows %v, want %v", tc.start, got, tc.want)
		}
		// The checkpoint it wrote resumes with GTIDs.
		c2, err := mysql.DecodeCheckpoint(cp)
		if err != nil || c2.GTIDSet == "" || c2.File == "" {
			t.Errorf("start %s: checkpoint %s (%v) lacks file or GTID set", tc.start, cp, err)
		}
	}
	// ResolveStart (odsync replay --source-start) gives the same positions.
	cfg := testSourceConfig(srv)
	b, desc, err := mysql.ResolveStart(context.Background(), cfg, "file:"+file+":"+itoa(int64(pos)))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := mysql.DecodeCheckpoint(b)
	if err != nil || cp.File != file || cp.Pos != pos || cp.GTIDSet == "" {
		t.Errorf("ResolveStart file:pos = %s (%s, %v)", b, desc, err)
	}
	cfg.Snapshot = mysql.SnapshotNever
	c := startCapture(t, cfg, mysql.Options{Store: mysql.NewMemStore()}, b, dbFilter("cstart"))
	evs := c.wait("resume from ResolveStart", 30*time.Second, func(evs []event.Event) bool {
		return count(evs, func(e *event.Event) bool { return e.Op == event.OpUpdate }) == 1
	})
	if got := ids(evs); !equalIDs(got, 2, 3, 3) {
		t.Errorf("resume from resolved checkpoint: rows %v", got)
	}
	c.stop()
	// A position inside a transaction is refused.
	if _, _, err := mysql.ResolveStart(context.Background(), cfg, "file:"+file+":"+itoa(int64(pos+10))); err == nil ||
		!strings.Contains(err.Error(), "transaction boundary") {
		t.Errorf("a mid-transaction position: %v", err)
	}
}

func itoa(n int64) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestMySQLCapturePurgedBinlog: a checkpoint whose binlog was purged is a
// clear error naming the wanted and the oldest position; with snapshot:
// when_needed the tables are copied again instead.
func TestMySQLCapturePurgedBinlog(t *testing.T) {
	srv := privateMariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "CREATE DATABASE cpurge", "CREATE TABLE cpurge.t (id INT PRIMARY KEY, n INT)", "INSERT INTO cpurge.t VALUES (1, 1)")
	cfg := testSourceConfig(srv)
	cfg.Snapshot = mysql.SnapshotNever
	store := mysql.NewMemStore()
	c := startCapture(t, cfg, mysql.Options{Store: store}, nil, dbFilter("cpurge"))
	time.Sleep(300 * time.Millisecond)
	mustExec(t, db, "INSERT INTO cpurge.t VALUES (2, 2)")
	c.wait("row 2", 30*time.Second, func(evs []event.Event) bool { return len(evs) == 1 })
	old := c.checkpoint()
	c.stop()
	mustExec(t, db, "INSERT INTO cpurge.t VALUES (3, 3)", "FLUSH BINARY LOGS", "INSERT INTO cpurge.t VALUES (4, 4)", "FLUSH BINARY LOGS")
	var cur string
	var p, x1, x2 any
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&cur, &p, &x1, &x2); err != nil {
		t.Fatal(err)
	}
	// MariaDB keeps binlogs crash recovery may still need (the binlog
	// checkpoint follows InnoDB's flushes): retry until the old one is gone.
	oldCP, _ := mysql.DecodeCheckpoint(old)
	harness.Eventually(t, 30*time.Second, "the old binlog to be purged", func() (bool, string) {
		mustExec(t, db, "FLUSH LOGS", "PURGE BINARY LOGS TO '"+cur+"'")
		first, err := queryFirstBinlog(db)
		return err == nil && first != oldCP.File, first
	})

	// Default snapshot mode: a clear, fatal error.
	src, err := mysql.New(cfg, dbFilter("cpurge"), testLogger(t), mysql.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = src.Run(ctx, old, func(context.Context, []event.Event, []byte) error { return nil })
	var perr *mysql.PurgedError
	if !errors.As(err, &perr) || !errors.Is(err, mysql.ErrFatal) {
		t.Fatalf("Run from a purged position: %v", err)
	}
	first, _ := queryFirstBinlog(db)
	for _, want := range []string{oldCP.File, first, "when_needed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}

	// when_needed: a new snapshot, then streaming.
	cfg.Snapshot = mysql.SnapshotWhenNeeded
	c = startCapture(t, cfg, mysql.Options{Store: store}, old, dbFilter("cpurge"))
	c.wait("the re-snapshot", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("t", event.OpRead)) == 4 })
	mustExec(t, db, "INSERT INTO cpurge.t VALUES (5, 5)")
	evs := c.wait("streaming after it", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("t", event.OpInsert)) == 1 })
	if got := ids(evs); !equalIDs(got[:4], 1, 2, 3, 4) || got[len(got)-1] != 5 {
		t.Errorf("rows after when_needed: %v", got)
	}
}

func queryFirstBinlog(db *sql.DB) (string, error) {
	rows, err := db.Query("SHOW BINARY LOGS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	var name string
	vals[0] = &name
	for i := 1; i < len(vals); i++ {
		vals[i] = new(any)
	}
	if !rows.Next() {
		return "", errors.New("no binlogs")
	}
	return name, rows.Scan(vals...)
}
