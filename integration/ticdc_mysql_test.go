package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
)

// TestTiCDCToMySQL replicates a simulated TiCDC changefeed (canal-json,
// with DDL, deletes and re-delivered messages) into a MariaDB through the
// mysql sink, killing odsync with SIGKILL while the changefeed is written:
// the target tables must end equal to the upstream's final state.
func TestTiCDCToMySQL(t *testing.T) {
	o := kh.WorkloadOptions{Seed: 301, Partitions: 3, Tables: 3, Txns: 1500, DDLEvery: 500, Replays: 2}
	w := kh.GenerateWorkload(o)
	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": o.Partitions}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	srv := privateMariaDB(t)
	target := plainDB(t, srv.DSN(""))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "odsync.yaml")
	harness.WriteFile(t, cfg, fmt.Sprintf(`state:
  dir: %s
source:
  type: ticdc
  ticdc:
    brokers: [%s]
    topics: [cdc]
    protocol: canal-json
    fetch_max_wait: 100ms
    commit_interval: 200ms
    session_timeout: 3s
    heartbeat_interval: 300ms
    rebalance_timeout: 3s
admin:
  addr: 127.0.0.1:0
mapping:
  include: ['shop\..*']
sinks:
  - name: replica
    type: mysql
    mysql:
      addr: %s
      user: root
    batch:
      max_rows: 300
      max_age: 50ms
`, filepath.Join(dir, "state"), strings.Join(cl.Addrs, ", "), srv.Addr()))
	prodDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p := cl.Producer("cdc")
		defer p.Close()
		msgs := w.Messages
		for len(msgs) > 0 {
			n := min(len(msgs), 150)
			if err := p.Produce(ctx, msgs[:n]...); err != nil {
				prodDone <- err
				return
			}
			msgs = msgs[n:]
			time.Sleep(80 * time.Millisecond)
		}
		prodDone <- nil
	}()
	logPath := filepath.Join(dir, "odsync.log")
	rng := rand.New(rand.NewPCG(301, 1))
	p := harness.Start(t, logPath, "run", "-c", cfg)
	for i := 0; i < 4; i++ {
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		if p.Exited() {
			t.Fatalf("odsync exited by itself:\n%s", kitLogTail(logPath))
		}
		p.Kill()
		p = harness.Start(t, logPath, "run", "-c", cfg)
	}
	if err := <-prodDone; err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 90*time.Second, "the target tables to equal the upstream's", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("odsync exited by itself:\n%s", kitLogTail(logPath))
		}
		diff := w.Diff(mysqlState(t, target, w))
		if len(diff) == 0 {
			return true, ""
		}
		return false, fmt.Sprintf("%d differences, first %s", len(diff), diff[0])
	})
	// The last start is up (its signal handling installed) before SIGTERM.
	harness.Eventually(t, 30*time.Second, "the last odsync to read its partitions", func() (bool, string) {
		return strings.Count(readFile(t, logPath), "reading partitions") >= 5, "not yet"
	})
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: exit %d, %v:\n%s", code, err, kitLogTail(logPath))
	}
}

// mysqlState reads the workload's tables from the target as
// table -> id -> column -> text (nil for NULL).
func mysqlState(t *testing.T, db *sql.DB, w *kh.Workload) map[string]map[string]map[string]*string {
	t.Helper()
	out := map[string]map[string]map[string]*string{}
	for tbl := range w.Expected {
		rows, err := db.Query("SELECT * FROM " + tbl)
		if err != nil {
			continue // not created yet
		}
		cols, _ := rows.Columns()
		m := map[string]map[string]*string{}
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			r := map[string]*string{}
			for i, c := range cols {
				if vals[i].Valid {
					s := vals[i].String
					r[c] = &s
				} else {
					r[c] = nil
				}
			}
			if id := r["id"]; id != nil {
				m[*id] = r
			}
		}
		rows.Close()
		out[tbl] = m
	}
	return out
}
