package integration

import (
	"strings"
	"testing"
	"time"
)

// TestKitDDL runs the one DDL script (ddlSteps in s3_ddl_test.go: CREATE,
// ADD COLUMN with and without DEFAULT, DROP, RENAME and CHANGE COLUMN,
// MODIFY to wider types, RENAME TABLE, TRUNCATE, a new table matching the
// include list, rows before and after each step, odsync restarted with
// SIGTERM and with kill -9 in the middle) into every sink, and checks what
// landed with checkDDLScript: every row in the right columns, the final
// layouts, and the final state per key equal to the source.
func TestKitDDL(t *testing.T) {
	kitEach(t, "ddl", kitDDLPart)
}

// kitDDLPart is the DDL part for one driver.
func kitDDLPart(t *testing.T, d kitDriver) {
	mapping := ""
	if d.system == kitState {
		// A mirror: the target follows drops, truncates and renames.
		mapping = "  evolution: evolve\n"
	}
	r := kitOpen(t, d, "kd_"+d.name, mapping)
	r.start()
	steps := ddlSteps()
	want := map[string]int{}
	kills := 0
	for _, st := range steps {
		r.exec(st.statements(r.name)...)
		for _, row := range st.Rows {
			want[row.Table]++
		}
		if r.exited() {
			t.Fatalf("odsync exited during step %s:\n%s", st.Name, r.logTail())
		}
		switch st.Restart {
		case "":
			continue
		case "sigterm":
			time.Sleep(1500 * time.Millisecond) // the step is taken in
			r.stop()
		case "kill9":
			time.Sleep(1500 * time.Millisecond)
			r.kill(kills)
			kills++
		}
		t.Logf("restarting odsync after step %s (%s)", st.Name, st.Restart)
		r.start()
	}
	if d.system == kitState {
		if r.sink.job != nil {
			// Reverse sync: what the ODS change log holds.
			kitReverseDDLState(t, r, steps)
		} else {
			for _, table := range []string{"t2", "u"} { // the script's final tables
				r.waitState(table, 90*time.Second)
			}
		}
		r.stop()
		for _, log := range []string{r.log, r.jobLog} {
			if log == "" {
				continue
			}
			if lg := readFile(t, log); kitBadLog(lg) != "" {
				t.Errorf("the log has %q:\n%s", kitBadLog(lg), r.logTail())
			}
		}
		return
	}
	for table, n := range want {
		r.poll(r.table(table), 90*time.Second, seqsAtLeast(n))
	}
	if !r.exited() {
		r.stop()
	}
	if lg := readFile(t, r.log); kitBadLog(lg) != "" {
		t.Errorf("the log has %q:\n%s", kitBadLog(lg), r.logTail())
	}
	got := map[string]*ddlTable{}
	for table := range want {
		ods := r.table(table)
		rows := r.sink.read(t, ods)
		if len(rows) == 0 {
			continue
		}
		tb := &ddlTable{Layout: r.sink.layout(t, ods)}
		uniq, _ := kitDedupe(t, rows)
		for _, row := range uniq {
			tb.Rows = append(tb.Rows, ddlODSRow(row))
		}
		got[ods] = tb
	}
	checkDDLScript(t, steps, got, ddlSourceState(t, r.db, r.name), r.table)
	if t.Failed() {
		t.Logf("odsync log:\n%s", r.logTail())
	}
}

// kitBadLog returns the first sign of trouble in an odsync log, "" when none.
func kitBadLog(log string) string {
	for _, bad := range []string{"panic", "permanent sink error", "level=ERROR"} {
		if strings.Contains(log, bad) {
			return bad
		}
	}
	return ""
}
