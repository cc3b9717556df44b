package integration

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/integration/harness"
)

// ddlScript changes a table in every way a schema history must follow,
// with rows written between the statements.
func ddlScript(db string) []string {
	q := func(s string) string { return strings.ReplaceAll(s, "DB", db) }
	return []string{
		q("ALTER TABLE DB.t ADD COLUMN c DATETIME(3) AFTER a"),
		q("INSERT INTO DB.t VALUES (2, 'two', '2024-01-02 03:04:05.678', 20)"),
		q("ALTER TABLE DB.t DROP COLUMN b"),
		q("INSERT INTO DB.t VALUES (3, 'three', NULL)"),
		q("ALTER TABLE DB.t CHANGE a aa VARCHAR(30) CHARACTER SET gbk NOT NULL DEFAULT ''"),
		q("INSERT INTO DB.t VALUES (4, '四', '2024-04-04 04:04:04')"),
		q("UPDATE DB.t SET aa = 'one!' WHERE id = 1"),
		q("ALTER TABLE DB.t RENAME COLUMN c TO cc"),
		q("INSERT INTO DB.t VALUES (5, 'five', NULL)"),
		q("RENAME TABLE DB.t TO DB.t2"),
		q("INSERT INTO DB.t2 VALUES (6, 'six', NULL)"),
		// gh-ost: shadow table, copy, atomic swap.
		q("CREATE TABLE DB._t2_gho LIKE DB.t2"),
		q("ALTER TABLE DB._t2_gho ADD COLUMN z INT NOT NULL DEFAULT 7"),
		q("INSERT INTO DB._t2_gho (id, aa, cc) SELECT id, aa, cc FROM DB.t2"),
		q("RENAME TABLE DB.t2 TO DB._t2_del, DB._t2_gho TO DB.t2"),
		q("DROP TABLE DB._t2_del"),
		q("INSERT INTO DB.t2 VALUES (7, 'seven', NULL, 8)"),
		q("TRUNCATE TABLE DB.t2"),
		q("INSERT INTO DB.t2 VALUES (8, 'eight', NULL, 9)"),
	}
}

// ddlExpect is the decoded row changes the script produces, after the
// first insert of row 1: table, op, and the row as "col=value" pairs.
var ddlExpect = []string{
	"t I id=1 a=one b=10",
	"t X",
	"t I id=2 a=two c=2024-01-02 03:04:05.678000 b=20",
	"t X",
	"t I id=3 a=three c=NULL",
	"t X",
	"t I id=4 aa=四 c=2024-04-04 04:04:04",
	"t U id=1 aa=one! c=NULL",
	"t X",
	"t I id=5 aa=five cc=NULL",
	"t X", "t2 X",
	"t2 I id=6 aa=six cc=NULL",
	"t2 X",
	"t2 I id=7 aa=seven cc=NULL z=8",
	"t2 X",
	"t2 I id=8 aa=eight cc=NULL z=9",
}

func ddlEventText(e *event.Event) string {
	op := e.Op.Code()
	if e.Op == event.OpDDL {
		return e.Source.Table + " " + op
	}
	var parts []string
	for i, v := range e.Row() {
		s := "NULL"
		if !v.IsNull() {
			s = v.Text()
		}
		parts = append(parts, e.Table.Columns[i].Name+"="+s)
	}
	return e.Source.Table + " " + op + " " + strings.Join(parts, " ")
}

func checkDDLEvents(t *testing.T, label string, evs []event.Event) {
	t.Helper()
	var got []string
	for i := range evs {
		got = append(got, ddlEventText(&evs[i]))
	}
	if strings.Join(got, "\n") != strings.Join(ddlExpect, "\n") {
		t.Errorf("%s: events differ:\n%s", label, diffLines(strings.Join(ddlExpect, "\n"), strings.Join(got, "\n")))
	}
	// Every row event carries a schema that matches its image.
	for _, e := range evs {
		if e.Op == event.OpDDL {
			continue
		}
		if e.Table == nil || len(e.Table.Columns) != len(e.Row()) {
			t.Errorf("%s: %s: schema does not match the row", label, ddlEventText(&e))
		}
	}
}

func runDDLTest(t *testing.T, srv *mariadb.Server, db string) {
	sqldb, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	mustExec(t, sqldb, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, a VARCHAR(10), b INT)")
	cfg := testSourceConfig(srv)
	cfg.Snapshot = mysql.SnapshotNever
	store := mysql.NewMemStore()
	c := startCapture(t, cfg, mysql.Options{Store: store}, nil, dbFilter(db))
	c.wait("the start", 30*time.Second, func([]event.Event) bool { return c.checkpoint() != nil || true })
	time.Sleep(300 * time.Millisecond)
	mustExec(t, sqldb, "INSERT INTO "+db+".t VALUES (1, 'one', 10)")
	first := c.wait("row 1", 30*time.Second, func(evs []event.Event) bool { return len(evs) >= 1 })
	// The checkpoint just before the first DDL: replays start here.
	before := c.checkpoint()
	if len(first) != 1 || before == nil {
		t.Fatalf("after row 1: %d events, checkpoint %q", len(first), before)
	}
	mustExec(t, sqldb, ddlScript(db)...)
	evs := c.wait("the script", 60*time.Second, func(evs []event.Event) bool {
		return count(evs, func(e *event.Event) bool { return e.Op != event.OpDDL && e.Row()[0].Int() == 8 }) == 1
	})
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	checkDDLEvents(t, "live", evs)

	// Replay from before the DDL with the recorded history: the old rows
	// decode with the schema that was in force then.
	replay := func(label string, store mysql.Store, sameSchemas bool) {
		r := startCapture(t, cfg, mysql.Options{Store: store}, before, dbFilter(db))
		revs := r.wait(label, 60*time.Second, func(evs []event.Event) bool {
			return count(evs, func(e *event.Event) bool { return e.Op != event.OpDDL && e.Row()[0].Int() == 8 }) == 1
		})
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		checkDDLEvents(t, label, append([]event.Event{evs[0]}, revs...))
		// Same schemas as live.
		for i := range revs {
			if !sameSchemas {
				break
			}
			if lv, rv := evs[i+1].Table, revs[i].Table; (lv == nil) != (rv == nil) || lv != nil && lv.Version != rv.Version {
				t.Errorf("%s: event %d (%s): schema version differs from the live run", label, i, ddlEventText(&revs[i]))
			}
		}
	}
	replay("replay with history", store, true)
	// A restart that lost the history entirely still decodes correctly
	// when the binlog carries column names (binlog_row_metadata=FULL).
	if v, _ := queryString(sqldb, "SELECT @@binlog_row_metadata"); strings.EqualFold(v, "FULL") {
		replay("replay without history", mysql.NewMemStore(), false)
	}
}

func queryString(db *sql.DB, q string) (string, error) {
	var s string
	err := db.QueryRow(q).Scan(&s)
	return s, err
}

// TestMySQLCaptureDDL: add, drop, rename and retype columns, rename tables
// and a gh-ost swap mid-stream; every row decodes with the schema in
// force at its position, live and when replayed from before the DDL.
func TestMySQLCaptureDDL(t *testing.T) {
	runDDLTest(t, harness.MariaDB(t), "cddl")
}

// TestMySQLCaptureDDLMinimalMetadata: the same without column names in the
// binlog (binlog_row_metadata=MINIMAL): the schema history alone decides.
func TestMySQLCaptureDDLMinimalMetadata(t *testing.T) {
	srv := privateMariaDB(t, "--binlog-row-metadata=MINIMAL")
	runDDLTest(t, srv, "cddlmin")
}

var _ = fmt.Sprint
