package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
)

// mcSourceExpr selects each column of typesTable the way it reads back
// from MaxCompute (BIT as a number, binary as base64, FLOAT widened
// exactly, dates as text).
var mcSourceExpr = map[string]string{
	"b1": "b1+0", "b12": "b12+0", "b64": "b64+0",
	"bn": "TO_BASE64(bn)", "vb": "TO_BASE64(vb)", "bl": "TO_BASE64(bl)", "mb": "TO_BASE64(mb)",
	"f": "CAST(f AS DOUBLE)",
	// as text: the driver would turn zero dates into year 1
	"dt": "CAST(dt AS CHAR)", "dt0": "CAST(dt0 AS CHAR)", "dt3": "CAST(dt3 AS CHAR)", "dt6": "CAST(dt6 AS CHAR)",
	"ts0": "CAST(ts0 AS CHAR)", "ts3": "CAST(ts3 AS CHAR)", "ts6": "CAST(ts6 AS CHAR)",
}

var typesColumns = []string{"id", "i8", "u8", "i16", "u16", "i24", "u24", "i32", "u32", "i64", "u64",
	"d1", "d2", "d3", "d4", "f", "dbl", "b1", "b12", "b64", "bo", "c", "vc", "tx", "mt", "lt", "gb", "l1", "cgb",
	"bn", "vb", "bl", "mb", "e", "s", "dt", "dt0", "dt3", "dt6", "ts0", "ts3", "ts6", "tm", "tm2", "tm6", "y", "j",
	"uu", "i4", "i6", "ee", "es", "el", "eg"}

// zeroDate matches MySQL zero dates (a zero year, month or day), which the
// default mapping (zero_dates: raw) stores as NULL with the text in _raw.
var zeroDate = regexp.MustCompile(`^(0000-|\d{4}-00-|\d{4}-\d{2}-00)`)

// sourceRows reads typesTable rows as text, keyed by id.
func sourceRows(t *testing.T, conn *sql.Conn, table string) map[string]map[string]*string {
	t.Helper()
	var sel []string
	for _, c := range typesColumns {
		if e, ok := mcSourceExpr[c]; ok {
			sel = append(sel, e+" AS "+c)
		} else {
			sel = append(sel, c)
		}
	}
	rows, err := conn.QueryContext(context.Background(), "SELECT "+strings.Join(sel, ", ")+" FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]*string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(typesColumns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]*string{}
		for i, c := range typesColumns {
			if vals[i].Valid {
				s := vals[i].String
				if strings.HasPrefix(mcSourceExpr[c], "TO_BASE64") {
					s = strings.ReplaceAll(s, "\n", "")
				}
				m[c] = &s
			}
		}
		out[*m["id"]] = m
	}
	return out
}

// compareTypes checks every column of the ODS rows of op against the source rows.
func compareTypes(t *testing.T, what string, got []mcRow, op string, src map[string]map[string]*string) {
	t.Helper()
	n := 0
	for _, r := range got {
		if r.str("_op") != op {
			continue
		}
		n++
		id := r.str("id")
		s, ok := src[id]
		if !ok {
			t.Errorf("%s: ODS row id %s is not in the source", what, id)
			continue
		}
		raw := map[string]string{}
		if r["_raw"] != nil {
			if err := json.Unmarshal([]byte(*r["_raw"]), &raw); err != nil {
				t.Errorf("%s row %s: _raw %q: %v", what, id, *r["_raw"], err)
			}
		}
		for _, c := range typesColumns {
			want := s[c]
			// Values MaxCompute cannot hold: zero dates and BIGINT -2^63 are
			// NULL in their column, their source text in _raw.
			if want != nil && (zeroDate.MatchString(*want) && (strings.HasPrefix(c, "dt") || strings.HasPrefix(c, "ts")) ||
				c == "i64" && *want == "-9223372036854775808") {
				if rv, ok := raw[c]; !ok || !sameValue(rv, *want) {
					t.Errorf("%s row %s column %s: _raw has %q, source %s", what, id, c, rv, show(want))
				}
				delete(raw, c)
				want = nil
			}
			g, ok := r[c]
			if !ok {
				t.Errorf("%s: the ODS table has no column %s", what, c)
				continue
			}
			switch {
			case want == nil && g == nil:
			case want == nil || g == nil:
				t.Errorf("%s row %s column %s = %s, source %s", what, id, c, show(g), show(want))
			case !sameValue(*g, *want):
				t.Errorf("%s row %s column %s = %s, source %s", what, id, c, show(g), show(want))
			}
		}
		if len(raw) > 0 {
			t.Errorf("%s row %s: unexpected _raw entries %v", what, id, raw)
		}
	}
	if n != len(src) {
		t.Errorf("%s: %d %s rows, source has %d", what, n, op, len(src))
	}
}

// TestMaxComputeTypesMatchSource lands the capture's type table in the
// emulator twice, by snapshot (batch upload sessions) and from the binlog
// (stream sessions), reads both back through the SDK's download sessions
// and compares every value with MariaDB's, type by type.
func TestMaxComputeTypesMatchSource(t *testing.T) {
	emu := startMCEmu(t)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn := sessionConn(t, db)
	connExec(t, conn, "DROP DATABASE IF EXISTS mctypes", "CREATE DATABASE mctypes",
		"CREATE TABLE mctypes.snap "+typesTable, "CREATE TABLE mctypes.bin "+typesTable)
	for _, r := range typesRows {
		connExec(t, conn, "INSERT INTO mctypes.snap VALUES "+r)
	}
	dir := t.TempDir()
	// MaxCompute's BIGINT range excludes -2^63 (which row 2 holds): the
	// default mapping keeps it in _raw (compareTypes checks it there).
	cfg := mcRunConfig(t, dir, srv.Addr(), "mctypes", "", "", mcSinkYAML(emu, "mc", "", ""))
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	n := len(typesRows)
	snapRows := waitRows(t, emu, "ods_mctypes_snap", 90*time.Second, p, func(rows []mcRow) (bool, string) {
		return len(rows) >= n, fmt.Sprintf("%d rows", len(rows))
	})
	for _, r := range typesRows {
		connExec(t, conn, "INSERT INTO mctypes.bin VALUES "+r)
	}
	srcBin := sourceRows(t, conn, "mctypes.bin")
	connExec(t, conn, "UPDATE mctypes.bin SET vc = 'updated' WHERE id = 1", "DELETE FROM mctypes.bin WHERE id = 2")
	binRows := waitRows(t, emu, "ods_mctypes_bin", 60*time.Second, p, func(rows []mcRow) (bool, string) {
		return len(rows) >= n+2, fmt.Sprintf("%d rows", len(rows))
	})
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}
	compareTypes(t, "snapshot", snapRows, "R", sourceRows(t, conn, "mctypes.snap"))
	compareTypes(t, "binlog", binRows, "I", srcBin)
	ops := ""
	for _, r := range binRows {
		ops += r.str("_op")
	}
	if ops != strings.Repeat("I", n)+"UD" {
		t.Errorf("binlog ops = %s", ops)
	}
	last := binRows[len(binRows)-2]
	if last.str("vc") != "updated" || last.str("id") != "1" {
		t.Errorf("update row: id %s vc %s", last.str("id"), last.str("vc"))
	}
	if del := binRows[len(binRows)-1]; del.str("id") != "2" || del.str("i64") != "NULL" || !strings.Contains(del.str("_raw"), `"i64":"-9223372036854775808"`) {
		t.Errorf("delete row: id %s i64 %s _raw %s", del.str("id"), del.str("i64"), del.str("_raw"))
	}
	if emu.Count(odpsemu.OpUploadCommit) == 0 {
		t.Error("the snapshot did not go through batch upload sessions")
	}
	if emu.Count(odpsemu.OpStreamWrite) == 0 {
		t.Error("the binlog rows did not go through stream sessions")
	}
}

// TestMaxComputeAddColumnMidStream adds a column while changes flow: the
// ODS table gains it before the first row that has it.
func TestMaxComputeAddColumnMidStream(t *testing.T) {
	emu := startMCEmu(t)
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS mcddl", "CREATE DATABASE mcddl",
		"CREATE TABLE mcddl.t (id BIGINT PRIMARY KEY, n INT)")
	dir := t.TempDir()
	cfg := mcRunConfig(t, dir, srv.Addr(), "mcddl", "", "", mcSinkYAML(emu, "mc", "", ""))
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitRunning(t, p)
	for i := 1; i <= 20; i++ {
		mustExec(t, db, fmt.Sprintf("INSERT INTO mcddl.t VALUES (%d, %d)", i, i))
	}
	mustExec(t, db, "ALTER TABLE mcddl.t ADD COLUMN note VARCHAR(20), ADD COLUMN amount DECIMAL(10,2)")
	for i := 21; i <= 40; i++ {
		mustExec(t, db, fmt.Sprintf("INSERT INTO mcddl.t VALUES (%d, %d, 'n%d', %d.25)", i, i, i, i))
	}
	mustExec(t, db, "UPDATE mcddl.t SET note = 'old row' WHERE id = 1")
	rows := waitRows(t, emu, "ods_mcddl_t", 60*time.Second, p, func(rows []mcRow) (bool, string) {
		return len(rows) >= 41, fmt.Sprintf("%d rows", len(rows))
	})
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d, %v\n%s", code, err, readFile(t, logPath))
	}
	if len(rows) != 41 {
		t.Fatalf("%d rows, want 41", len(rows))
	}
	for _, r := range rows {
		id := r.str("id")
		var i int
		fmt.Sscan(id, &i)
		switch {
		case r.str("_op") == "U":
			if id != "1" || r.str("note") != "old row" {
				t.Errorf("update row: id %s note %s", id, r.str("note"))
			}
		case i <= 20:
			if r.str("note") != "NULL" || r.str("amount") != "NULL" {
				t.Errorf("row %s written before the ALTER has note %s amount %s", id, r.str("note"), r.str("amount"))
			}
		default:
			if r.str("note") != fmt.Sprintf("n%d", i) || r.str("amount") != fmt.Sprintf("%d.25", i) {
				t.Errorf("row %s: note %s amount %s", id, r.str("note"), r.str("amount"))
			}
		}
	}

	// The merge SQL for the evolved table: every column by name, the key
	// from the table comment, the partition the rows landed in. There is
	// no base table yet, so the partition is built in full.
	ds := rows[0].str("ds")
	out, err := exec.Command(harness.Binary(t), "maxcompute", "merge-sql", "-c", cfg, "--ds", ds).CombinedOutput()
	if err != nil {
		t.Fatalf("merge-sql: %v\n%s", err, out)
	}
	sqlText := string(out)
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS `" + mcProject + "`.`ods_mcddl_t_base`",
		"`note` STRING", "`amount` DECIMAL(10,2)",
		"PARTITION BY `id` ORDER BY `_seq` DESC",
		"INSERT OVERWRITE TABLE `" + mcProject + "`.`ods_mcddl_t_base` PARTITION (`ds` = '" + ds + "') (`_op`, ",
		"FROM `" + mcProject + "`.`ods_mcddl_t` WHERE `ds` <= '" + ds + "'",
		"`_op` <> 'D'",
	} {
		if !strings.Contains(sqlText, want) {
			t.Errorf("merge-sql output lacks %q:\n%s", want, sqlText)
		}
	}
	if strings.Contains(sqlText, "_base` WHERE") {
		t.Errorf("merge-sql reads a base partition that does not exist:\n%s", sqlText)
	}
	out, err = exec.Command(harness.Binary(t), "maxcompute", "merge-sql", "-c", cfg, "--ds", ds, "--full", "--table", "ods_mcddl_t").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "WHERE `ds` <= '"+ds+"'") {
		t.Errorf("merge-sql --full: %v\n%s", err, out)
	}
}
