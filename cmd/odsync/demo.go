package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/odsync/odsync/harness/mariadb"
)

const demoSchema = `
CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE shop.customers (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  email VARCHAR(128),
  balance DECIMAL(12,2) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL
);
CREATE TABLE shop.orders (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,
  amount DECIMAL(18,4) NOT NULL,
  status ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
  note TEXT,
  placed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);`

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--dir DIR] [--duration 15s]", stderr)
	dir := fs.String("dir", "odsync-demo", "directory for the demo's state, ODS files and MariaDB")
	duration := fs.Duration("duration", 15*time.Second, "how long the live workload runs")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	if err := prepareDemoDir(abs); err != nil {
		return fail(stderr, exitUsage, err)
	}
	fmt.Fprintf(stdout, "odsync demo in %s\n", abs)
	fmt.Fprintln(stdout, "1. starting a private MariaDB (ROW binlog, FULL image, GTID) ...")
	srv, err := mariadb.Start(ctx, mariadb.Options{Dir: filepath.Join(abs, "mariadb")})
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer srv.Stop()
	fmt.Fprintf(stdout, "   MariaDB listening on %s\n", srv.Addr())
	db, err := srv.Open("")
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, demoSchema); err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("create demo tables: %w", err))
	}
	cfgPath := filepath.Join(abs, "odsync.yaml")
	yaml := fmt.Sprintf(`# odsync demo configuration (written by odsync demo)
state:
  dir: %s
source:
  type: mysql
  mysql:
    addr: %s
    user: root
    password: ${DEMO_MYSQL_PASSWORD:-}
mapping:
  include: ["shop\\..*"]
sinks:
  - name: local
    type: local
    local:
      dir: %s
    batch:
      max_age: 500ms
`, filepath.Join(abs, "state"), srv.Addr(), filepath.Join(abs, "ods"))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		return fail(stderr, exitFailure, err)
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	cfg.Admin.Addr = "127.0.0.1:0" // the demo must not depend on a free 9300
	fmt.Fprintf(stdout, "2. streaming into %s for %s while a workload writes to shop.customers and shop.orders ...\n", filepath.Join(abs, "ods"), *duration)
	logFile, err := os.Create(filepath.Join(abs, "odsync.log"))
	if err != nil {
		return fail(stderr, exitFailure, err)
	}
	defer logFile.Close()
	lg := newLogger(cfg, logFile)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan error, 1)
	go func() { done <- runPipeline(runCtx, cfg, lg, nil) }()
	// Give the capture a moment to connect before the workload starts.
	time.Sleep(500 * time.Millisecond)
	stats, werr := demoWorkload(ctx, db, *duration)
	fmt.Fprintf(stdout, "   workload: %d rows inserted, %d updated, %d deleted in %d transactions\n", stats.inserts, stats.updates, stats.deletes, stats.txns)
	if werr != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "workload: %v\n", werr)
	}
	// Let the last changes land, then stop gracefully.
	time.Sleep(1500 * time.Millisecond)
	stopRun()
	if err := <-done; err != nil {
		return fail(stderr, exitFailure, fmt.Errorf("pipeline: %w (log: %s)", err, logFile.Name()))
	}
	fmt.Fprintln(stdout, "3. what landed:")
	if err := summarize(stdout, filepath.Join(abs, "ods")); err != nil {
		return fail(stderr, exitFailure, err)
	}
	fmt.Fprintf(stdout, "\nConfig: %s   Log: %s\n", cfgPath, logFile.Name())
	fmt.Fprintf(stdout, "The demo's MariaDB is stopped now. To sync your own server, copy the config, point source.mysql.addr/user/password at it\n"+
		"and mapping.include at your tables, then: odsync check -c FILE && odsync run -c FILE\n")
	return exitOK
}

// workloadStats counts rows changed (not statements: an UPDATE or DELETE
// may match no row), so the summary can be compared with what landed.
type workloadStats struct{ inserts, updates, deletes, txns int }

// execRows runs one statement and adds the rows it changed to *n.
func execRows(tx *sql.Tx, n *int, query string, args ...any) error {
	res, err := tx.Exec(query, args...)
	if err != nil {
		return err
	}
	k, err := res.RowsAffected()
	*n += int(k)
	return err
}

func demoWorkload(ctx context.Context, db *sql.DB, d time.Duration) (workloadStats, error) {
	var st workloadStats
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(d)
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return st, err
		}
		for i := 0; i < 20; i++ {
			switch r := rng.IntN(10); {
			case r < 5:
				err = execRows(tx, &st.inserts, "INSERT INTO shop.customers (name, email, balance, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))",
					fmt.Sprintf("customer %d", rng.IntN(1e6)), fmt.Sprintf("c%d@example.com", rng.IntN(1e6)), fmt.Sprintf("%d.%02d", rng.IntN(10000), rng.IntN(100)))
				if err == nil {
					err = execRows(tx, &st.inserts, "INSERT INTO shop.orders (customer_id, amount, status, note) SELECT MAX(id), ?, ?, ? FROM shop.customers",
						fmt.Sprintf("%d.%04d", rng.IntN(1000), rng.IntN(10000)), statuses[rng.IntN(2)], "demo order ✓")
				}
			case r < 8:
				err = execRows(tx, &st.updates, "UPDATE shop.orders SET status = ? ORDER BY RAND() LIMIT 1", statuses[rng.IntN(len(statuses))])
			default:
				err = execRows(tx, &st.deletes, "DELETE FROM shop.orders WHERE status = 'cancelled' ORDER BY id LIMIT 1")
			}
			if err != nil {
				tx.Rollback()
				return st, err
			}
		}
		if err := tx.Commit(); err != nil {
			return st, err
		}
		st.txns++
		time.Sleep(20 * time.Millisecond)
	}
	return st, nil
}

// summarize prints each ODS table with its files, row counts per _op and a sample row.
func summarize(w io.Writer, root string) error {
	type tableStat struct {
		files  int
		ops    map[string]int
		sample string
	}
	tables := map[string]*tableStat{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		name := strings.SplitN(rel, string(filepath.Separator), 2)[0]
		ts := tables[name]
		if ts == nil {
			ts = &tableStat{ops: map[string]int{}}
			tables[name] = ts
		}
		ts.files++
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, `"_op":"`); i >= 0 && len(line) > i+7 {
				ts.ops[line[i+7:i+8]]++
			}
			if ts.sample == "" {
				ts.sample = line
			}
		}
		return sc.Err()
	})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(w, "   nothing landed (see the log)")
	}
	for _, n := range names {
		ts := tables[n]
		fmt.Fprintf(w, "   %s: %d files, rows I=%d U=%d D=%d\n     sample: %s\n", filepath.Join(root, n), ts.files, ts.ops["I"], ts.ops["U"], ts.ops["D"], ts.sample)
	}
	return nil
}

// demoMarker marks a directory odsync demo created, so a later demo may
// clear it. A directory without it is never deleted.
const demoMarker = ".odsync-demo"

// prepareDemoDir makes dir an empty directory that belongs to the demo:
// it creates it, clears it when an earlier demo made it, and refuses any
// other non-empty directory.
func prepareDemoDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return fmt.Errorf("%s is not empty and was not created by odsync demo: refusing to delete it; pass --dir with a new or empty directory", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), []byte("created by odsync demo; odsync demo may delete this directory\n"), 0o600)
}
