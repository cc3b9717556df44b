package integration

// The MySQL sink in the conformance kit. It is a state sink (kitState):
// the target holds each source table's current rows, not a change log, so
// every part checks it the same way: the target table equals the source
// table, cell by cell, read in the binary protocol from both servers
// (floats exact, bytes as they are). Exactly-once shows as equality: a
// change applied twice or lost would leave a difference (a replayed
// insert of a deleted key, a lost update).

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/integration/harness"
)

var (
	mysqlTargetOnce sync.Once
	mysqlTargetSrv  *mariadb.Server
	mysqlTargetErr  error
)

// kitMySQLTarget returns the package's shared target MariaDB (a second
// private server, never the source's), or a private one for tests that
// take it away.
func kitMySQLTarget(t *testing.T, private bool) *mariadb.Server {
	t.Helper()
	if private {
		return privateMariaDB(t)
	}
	mysqlTargetOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		mysqlTargetSrv, mysqlTargetErr = mariadb.Start(ctx, mariadb.Options{})
	})
	if mysqlTargetErr != nil {
		harness.Unavailable(t, "mariadbd (Debian package mariadb-server)", mysqlTargetErr)
	}
	return mysqlTargetSrv
}

// stopMySQLTarget stops the shared target (TestMain).
func stopMySQLTarget() {
	if mysqlTargetSrv != nil {
		mysqlTargetSrv.Stop()
	}
}

// kitMySQLSink is the MySQL sink writing into a target MariaDB. The
// source database's name is also the target's.
func kitMySQLSink(t *testing.T) *kitSink {
	srv := kitMySQLTarget(t, strings.Contains(t.Name(), "Outage"))
	db := plainDB(t, srv.DSN(""))
	sinkName := "kit"
	return &kitSink{
		entry: fmt.Sprintf(`  - name: %s
    type: mysql
    mysql:
      addr: %s
      user: root
      password: ${ODSYNC_TEST_TARGET_PASSWORD:-}
      checkpoint_table: odsync_ck.%s
    batch:
      max_rows: 50
      max_age: 100ms
`, sinkName, srv.Addr(), "c"+strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")[:min(40, len(t.Name()))]),
		target: db,
		down:   func(t *testing.T) { srv.Pause() },
		up: func(t *testing.T) {
			if err := srv.Resume(context.Background()); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// plainDB opens dsn without parseTime (zero dates and zero-in-date values
// come as the server's text, not normalized by time.Time) and with the
// session in UTC (TIMESTAMP text compares as the instant).
func plainDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	base, params, _ := strings.Cut(dsn, "?")
	var keep []string
	for _, p := range strings.Split(params, "&") {
		if p != "" && !strings.HasPrefix(p, "parseTime=") && !strings.HasPrefix(p, "time_zone=") {
			keep = append(keep, p)
		}
	}
	keep = append(keep, "time_zone=%27%2B00%3A00%27")
	db, err := sql.Open("mysql", base+"?"+strings.Join(keep, "&"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// kitStateDump reads a table's rows (columns cols, ordered by key) in the
// binary protocol and renders each cell as type and value, bytes in hex.
func kitStateDump(t testing.TB, db *sql.DB, full string, cols []string, key string) ([]string, error) {
	t.Helper()
	var q []string
	for _, c := range cols {
		q = append(q, "`"+c+"`")
	}
	stmt, err := db.Prepare("SELECT " + strings.Join(q, ", ") + " FROM " + full + " ORDER BY `" + key + "`")
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	rows, err := stmt.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			switch x := v.(type) {
			case nil:
				fmt.Fprintf(&b, "%s=NULL", cols[i])
			case []byte:
				fmt.Fprintf(&b, "%s=%x", cols[i], x)
			default:
				fmt.Fprintf(&b, "%s=%T:%v", cols[i], x, x)
			}
		}
		out = append(out, b.String())
	}
	return out, rows.Err()
}

// sourceColumns returns a source table's column names in order.
func sourceColumns(t testing.TB, db *sql.DB, schemaName, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", schemaName, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// stateDiff compares source and target table (every source column) and
// describes the first differences ("" when equal).
func (r *kitRun) stateDiff(table string) string {
	r.t.Helper()
	return r.stateDiffWhere(table, "")
}

// stateDiffWhere is stateDiff of the rows a WHERE clause (where, "" for
// all) selects on both sides.
func (r *kitRun) stateDiffWhere(table, where string) string {
	r.t.Helper()
	full := "`" + r.name + "`.`" + table + "`"
	if where != "" {
		full += " WHERE " + where
	}
	cols := sourceColumns(r.t, r.db, r.name, table)
	if len(cols) == 0 {
		return "no source table " + table
	}
	if r.plain == nil {
		r.plain = plainDB(r.t, harness.MariaDB(r.t).DSN(""))
	}
	src, err := kitStateDump(r.t, r.plain, full, cols, cols[0])
	if err != nil {
		r.t.Fatalf("source %s: %v", full, err)
	}
	dst, err := kitStateDump(r.t, r.sink.target, full, cols, cols[0])
	if err != nil {
		return fmt.Sprintf("target %s: %v", full, err)
	}
	var diffs []string
	if len(src) != len(dst) {
		diffs = append(diffs, fmt.Sprintf("%d source rows, %d target rows", len(src), len(dst)))
	}
	for i := 0; i < max(len(src), len(dst)) && len(diffs) < 6; i++ {
		var s, d string
		if i < len(src) {
			s = src[i]
		}
		if i < len(dst) {
			d = dst[i]
		}
		if s != d {
			diffs = append(diffs, fmt.Sprintf("row %d:\n  source %s\n  target %s", i, s, d))
		}
	}
	return strings.Join(diffs, "\n")
}

// waitState waits until the target table equals the source table.
func (r *kitRun) waitState(table string, limit time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		diff := r.stateDiff(table)
		if diff == "" {
			return
		}
		if r.exited() {
			r.t.Fatalf("odsync exited; %s differs:\n%s\n%s", table, diff, r.logTail())
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("after %s, target %s differs from the source:\n%s\n%s", limit, table, diff, r.logTail())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// kitTiDBSink is the MySQL sink writing into the package's tidb-server
// (unistore, harness/tidb).
func kitTiDBSink(t *testing.T) *kitSink {
	srv := harness.TiDB(t)
	db := plainDB(t, srv.DSN(""))
	return &kitSink{
		entry: fmt.Sprintf(`  - name: kit
    type: mysql
    mysql:
      addr: %s
      user: root
      checkpoint_table: odsync_ck.c%d
    batch:
      max_rows: 50
      max_age: 100ms
`, srv.Addr(), time.Now().UnixNano()),
		target: db,
	}
}

// TestMySQLSinkTiDB replicates MariaDB into TiDB through the MySQL sink:
// the kit's type topics TiDB has (MariaDB's UUID/INET and GEOMETRY it has
// not; JSON it stores in binary form, compared by value by verify, not
// here) land exactly, and a write load with odsync killed twice ends
// equal.
func TestMySQLSinkTiDB(t *testing.T) {
	d := kitDriver{name: "tidb", system: kitState, open: kitTiDBSink}
	for _, topic := range kitTypes {
		switch topic.name {
		case "mariadb":
			continue
		case "text_binary":
			var keep []kitType
			for _, ty := range topic.types {
				if ty.col != "g" && ty.col != "j" {
					keep = append(keep, ty)
				}
			}
			topic.types = keep
		}
		t.Run(topic.name, func(t *testing.T) { kitTypesTopic(t, d, topic) })
	}
	t.Run("kill9", func(t *testing.T) {
		r := kitOpen(t, d, "kk_tidb", "")
		r.exec(fmt.Sprintf(kitLoadTable, r.name))
		r.start()
		stop := kitLoad(t, r, 7)
		for i := 0; i < 2; i++ {
			time.Sleep(time.Second)
			r.p.Kill()
			r.start()
		}
		time.Sleep(300 * time.Millisecond)
		t.Logf("%d changes", len(stop()))
		r.waitState("t", 90*time.Second)
		r.stop()
	})
}
