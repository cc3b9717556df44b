package integration

// Reverse sync in the conformance kit: a two-job pipeline (kitJob). The
// first job captures the kit's MariaDB database into a warehouse sink (S3
// on versitygw, or MaxCompute on odpsemu); the second job reads the
// warehouse back (source.type s3 incremental, or maxcompute full) into the
// MySQL sink on the kit's target MariaDB (kitMySQLSink). The pipeline is a
// state sink (kitState): every part checks that the target tables equal
// the source's, cell by cell, like the mysql driver; the kill -9 part kills
// the first job, the second and both in turn; the outage takes S3 (or
// MaxCompute) and the target MariaDB away at once; verify compares the
// original database with the target. The DDL part asserts what
// docs/reverse-sync.md documents (kitReverseDDLState).

import (
	"fmt"
	"math/big"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/odpsemu"
)

// kitReverseMaxComputeIncremental says the maxcompute source has an
// incremental mode. Without one it loads the tables' state once (mode
// full), so the driver runs only the types part, whose second job the kit
// starts once every change landed (kitJob.full). Set it to true when the
// source follows changes: the driver then runs every part, its second job
// in incremental mode from the start.
const kitReverseMaxComputeIncremental = true

// kitReverseMaxComputeParts are the parts the MaxCompute reverse pipeline
// runs: with the incremental source, every part but the DDL script, which
// the kit runs in evolve mode for a mirror target, and evolve mode drops
// columns (ALTER TABLE ... DROP COLUMNS), which odpsemu does not implement
// (the forward maxcompute driver runs the script in the default additive
// mode). Without an incremental source only the types part applies.
var kitReverseMaxComputeParts = func() []string {
	if kitReverseMaxComputeIncremental {
		return []string{"types", "kill9", "outage", "verify"}
	}
	return []string{"types"}
}()

// kitReverseCSVParts are the parts the CSV reverse pipeline runs besides
// reverse_s3 (Parquet), which runs every part: the values (CSV text back
// to each type), kill -9 and verify. Not the DDL script: the kit runs it
// in evolve mode, where a dropped column makes older CSV objects read by
// position (docs/mapping.md: use Parquet, or lenient mode, with CSV); not
// the outage, whose S3 side is the format's reader's no more than
// reverse_s3's.
var kitReverseCSVParts = []string{"types", "kill9", "verify"}

// kitReverseJob is the reverse job's configuration: source (the source
// block's YAML) into the MySQL sink entry sink, for the run's database.
func kitReverseJob(source, sink string) func(t *testing.T, r *kitRun, mapping string) string {
	return func(t *testing.T, r *kitRun, mapping string) string {
		return fmt.Sprintf(`state:
  dir: %s
admin:
  addr: 127.0.0.1:0
%smapping:
  include: ["%s\\..*"]
%ssinks:
%s`, filepath.Join(r.dir, "job-state"), source, r.name, mapping, sink)
	}
}

// kitReverseS3 is MariaDB -> S3 (format) -> source.type s3 (incremental)
// -> MySQL sink into the kit's target MariaDB.
func kitReverseS3(format string) func(t *testing.T) *kitSink {
	return kitReverseS3To(format, kitMySQLSink)
}

// kitReverseS3To is MariaDB -> S3 (format) -> source.type s3
// (incremental) -> the MySQL sink of target (a kitState driver's open:
// kitMySQLSink, kitTiDBSink).
func kitReverseS3To(format string, target func(t *testing.T) *kitSink) func(t *testing.T) *kitSink {
	return func(t *testing.T) *kitSink {
		srv := startS3(t)
		fwd := kitS3Sink(srv, format)
		tg := target(t)
		var down, up func(t *testing.T)
		if tg.down != nil {
			// S3 and the target go away together; S3 comes back first,
			// so the reverse job reads the changes of the outage while
			// the target is still away and its writes fail too. 10 s:
			// the source's backoff after 8 s of failures is up to 6.4 s.
			down = func(t *testing.T) { fwd.down(t); tg.down(t) }
			up = func(t *testing.T) { fwd.up(t); time.Sleep(10 * time.Second); tg.up(t) }
		}
		return &kitSink{
			entry: fwd.entry, env: fwd.env, read: fwd.read, files: fwd.files, layout: fwd.layout,
			target:      tg.target,
			verifyEntry: tg.entry,
			down:        down,
			up:          up,
			job: &kitJob{env: fwd.env, config: kitReverseJob(fmt.Sprintf(`source:
  type: s3
  s3:
    bucket: ods
    prefix: kit
    endpoint: %s
    path_style: true
    access_key_id: ${ODSYNC_TEST_S3_KEY}
    secret_access_key: ${ODSYNC_TEST_S3_SECRET}
    mode: incremental
    poll_interval: 200ms
    batch_rows: 37
    window_objects: 3
`, srv.Endpoint), tg.entry)},
		}
	}
}

// kitReverseMaxCompute is MariaDB -> MaxCompute -> source.type maxcompute
// (full load) -> MySQL sink.
func kitReverseMaxCompute(t *testing.T) *kitSink {
	emu := newMCEmu(t)
	mode := "full"
	if kitReverseMaxComputeIncremental {
		mode = "incremental"
	}
	tg := kitMySQLSink(t)
	return &kitSink{
		entry:       mcSinkYAML(emu, "kit", "flush_age: 200ms\nprogress_interval: 200ms", "max_rows: 50\n      max_age: 100ms"),
		env:         mcEnv,
		read:        func(t testing.TB, table string) []kitRow { return mcReadTable(t, emu, table) },
		target:      tg.target,
		verifyEntry: tg.entry,
		down: func(t *testing.T) {
			if err := emu.SetFaults(odpsemu.Faults{ErrorRate: 1, Status: 503}); err != nil {
				t.Fatal(err)
			}
			tg.down(t)
		},
		up: func(t *testing.T) {
			if err := emu.SetFaults(odpsemu.Faults{}); err != nil {
				t.Fatal(err)
			}
			// As reverse_s3's: the target stays away while the reverse
			// job reads what the outage held back, so its writes fail too.
			time.Sleep(10 * time.Second)
			tg.up(t)
		},
		job: &kitJob{env: mcEnv, full: !kitReverseMaxComputeIncremental, config: kitReverseJob(fmt.Sprintf(`source:
  type: maxcompute
  maxcompute:
    endpoint: %s
    tunnel_endpoint: %s
    project: %s
    access_id: ${ODSYNC_TEST_MC_ID}
    access_key: ${ODSYNC_TEST_MC_KEY}
    mode: %s
    poll_interval: 200ms
    batch_rows: 37
`, emu.Endpoint(), emu.TunnelEndpoint(), mcProject, mode), tg.entry),
			landed: func(t testing.TB, table string) int {
				seqs := map[uint64]bool{}
				for _, r := range mcReadTable(t, emu, table) {
					seqs[r.seq()] = true
				}
				return len(seqs)
			}},
	}
}

// kitReverseDDLState checks the reverse target after the DDL script, as
// docs/reverse-sync.md describes it. The first job runs in evolve mode
// (TestKitDDL gives state sinks a mirror), so the S3 sink drops, adds and
// renames columns in place and starts ods_..._t_v2 for DECIMAL(10,2) ->
// DECIMAL(20,4); the reverse job reads t and t_v2 as one table with the
// newest version's columns, and its MySQL sink (evolve) follows them.
// What the change log does not hold cannot come back:
//   - RENAME TABLE starts a new ODS table: the target keeps t (the state
//     of the old name when it was renamed) next to t2;
//   - TRUNCATE is not a row change: t2 keeps the keys the change log holds
//     that the truncate removed in the source (those changed after the
//     rename, 4 and 11);
//   - a renamed column is a new column: rows last changed before the
//     rename are NULL there (their value is in the dropped column).
//
// So each target table must hold, per key, the script's last row of its
// ODS table (a key whose last row is a delete is absent) in the newest
// source columns, a value of an older type converted (1.50 as 1.5000), and
// nothing else; and the source's rows of t2 and u must equal the target's
// cell by cell.
func kitReverseDDLState(t *testing.T, r *kitRun, steps []ddlStep) {
	t.Helper()
	type keyRow struct {
		op   string
		vals map[string]string
	}
	last := map[string]map[string]keyRow{} // table -> id -> last row
	var order []string
	for _, st := range steps {
		for _, row := range st.Rows {
			if last[row.Table] == nil {
				last[row.Table] = map[string]keyRow{}
				order = append(order, row.Table)
			}
			v := map[string]string{}
			for c, val := range row.values() {
				c, _, _ = strings.Cut(c, "__") // d__decimal_20_4: source column d
				v[c] = val
			}
			last[row.Table][v["id"]] = keyRow{row.Op, v}
		}
	}
	srcCols := func(table string) []string {
		if to, ok := ddlRenamed[table]; ok {
			table = to
		}
		return sourceColumns(t, r.db, r.name, table)
	}
	// diff describes how the target table differs from the script's rows.
	diff := func(table string) string {
		cols := srcCols(table)
		tcols := sourceColumns(t, r.sink.target, r.name, table)
		a, b := append([]string(nil), cols...), append([]string(nil), tcols...)
		sort.Strings(a)
		sort.Strings(b)
		if strings.Join(a, " ") != strings.Join(b, " ") {
			return fmt.Sprintf("target columns %v, want %v", tcols, cols)
		}
		var sel []string
		for _, c := range cols {
			sel = append(sel, "`"+c+"`")
		}
		rows, err := r.sink.target.Query(fmt.Sprintf("SELECT %s FROM `%s`.`%s`", strings.Join(sel, ", "), r.name, table))
		if err != nil {
			return err.Error()
		}
		defer rows.Close()
		got := map[string]map[string]*string{}
		for rows.Next() {
			vals := make([]*string, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err.Error()
			}
			m := map[string]*string{}
			for i, c := range cols {
				m[c] = vals[i]
			}
			got[*m["id"]] = m
		}
		if err := rows.Err(); err != nil {
			return err.Error()
		}
		var diffs []string
		for id, kr := range last[table] {
			g, ok := got[id]
			delete(got, id)
			switch {
			case kr.op == "D" && ok:
				diffs = append(diffs, fmt.Sprintf("key %s: present, its last change is a delete", id))
			case kr.op == "D":
			case !ok:
				diffs = append(diffs, fmt.Sprintf("key %s: missing", id))
			default:
				for _, c := range cols {
					want, has := kr.vals[c]
					gv := "NULL"
					if g[c] != nil {
						gv = *g[c]
					}
					if !has {
						want = "NULL"
					}
					if gv != want && !sameNumber(gv, want) {
						diffs = append(diffs, fmt.Sprintf("key %s column %s: %s, want %s", id, c, gv, want))
					}
				}
			}
		}
		for id := range got {
			diffs = append(diffs, fmt.Sprintf("key %s: not in the change log", id))
		}
		sort.Strings(diffs)
		return strings.Join(diffs, "; ")
	}
	for _, table := range order {
		deadline := time.Now().Add(90 * time.Second)
		for {
			d := diff(table)
			if d == "" {
				break
			}
			if r.exited() || time.Now().After(deadline) {
				t.Fatalf("reverse target %s.%s differs from its ODS change log: %s\n%s", r.name, table, d, r.logTail())
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	// The source's final rows: u exactly; t2 but the keys the truncate
	// removed (the change log keeps them).
	r.waitState("u", 30*time.Second)
	var kept []string
	for id, kr := range last["t2"] {
		if kr.op != "D" && !strings.Contains(" "+strings.Join(ddlTruncated["t2"], " ")+" ", " "+id+" ") {
			continue
		}
		kept = append(kept, id)
	}
	sort.Strings(kept)
	if strings.Join(kept, ",") != "11,4" {
		t.Errorf("the script's truncated keys changed after the rename: %v, want [11 4] (update kitReverseDDLState)", kept)
	}
	if d := r.stateDiffWhere("t2", "id NOT IN ("+strings.Join(kept, ", ")+")"); d != "" {
		t.Errorf("reverse target t2 differs from the source (but the truncated keys):\n%s", d)
	}
}

// sameNumber reports whether a and b are the same decimal number (1.50 and
// 1.5000).
func sameNumber(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}
