package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"testing"
	"time"
)

// kitLoadTable is the table of the write-load parts: the writer type's
// schema (mysql_local_test.go).
const kitLoadTable = "CREATE TABLE %s.t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, pad VARCHAR(200))"

// kitLoad runs the steady single-connection write load of writer on
// db.t until stop is called, which returns every committed change in
// commit order.
func kitLoad(t *testing.T, r *kitRun, seed uint64) (stop func() []op) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{}
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, r.db, r.name+".t", seed) }()
	return func() []op {
		cancel()
		<-done
		if len(w.errs) > 0 {
			t.Fatalf("write load failed: %v", w.errs)
		}
		return w.ops
	}
}

// kitCheckChanges compares the landed change log of a load table with the
// source's changes: each change once (a sink that replays may hold
// identical copies of a change, same _seq), in order, none missing.
func kitCheckChanges(t *testing.T, s *kitSink, rows []kitRow, want []op) {
	t.Helper()
	uniq, copies := kitDedupe(t, rows)
	if copies > 0 && !s.replays {
		t.Errorf("%d changes landed more than once (this sink must land each change exactly once)", copies)
	}
	if copies > 0 {
		t.Logf("%d replayed copies of changes (same _seq, identical), removable by _seq", copies)
	}
	for i := 0; i < min(len(uniq), len(want)); i++ {
		r := uniq[i]
		id, _ := strconv.ParseInt(r.str("id"), 10, 64)
		var n int64
		if r.str("_op") != "D" {
			n, _ = strconv.ParseInt(r.str("n"), 10, 64)
		}
		if got := (op{r.str("_op"), id, n}); got != want[i] {
			t.Fatalf("change %d (_seq %d at %s): got %+v, want %+v", i, r.seq(), r.str("_pos"), got, want[i])
		}
	}
	if len(uniq) != len(want) {
		t.Fatalf("the sink holds %d distinct changes, the source made %d", len(uniq), len(want))
	}
}

// kitDedupe drops copies of a change (same _seq; they must be identical)
// and returns how many it dropped.
func kitDedupe(t *testing.T, rows []kitRow) ([]kitRow, int) {
	t.Helper()
	var out []kitRow
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].seq() == r.seq() {
			prev := out[n-1]
			for c := range r {
				if c != "ds" && prev.str(c) != r.str(c) {
					t.Fatalf("two different rows with _seq %d: column %s %q vs %q", r.seq(), c, prev.str(c), r.str(c))
				}
			}
			continue
		}
		out = append(out, r)
	}
	return out, len(rows) - len(out)
}

// TestKitKill9 kills odsync with SIGKILL again and again while a write
// load runs (small batches, so kills land mid-batch and mid-upload), then
// checks that every change landed exactly once. A two-job pipeline has its
// first job, its second job and both killed in turn (kitRun.kill).
func TestKitKill9(t *testing.T) {
	kitEach(t, "kill9", func(t *testing.T, d kitDriver) {
		r := kitOpen(t, d, "kk_"+d.name, "")
		r.exec(fmt.Sprintf(kitLoadTable, r.name))
		r.start()
		stop := kitLoad(t, r, 21)
		rng := rand.New(rand.NewPCG(5, uint64(len(d.name))))
		for i := 0; i < 4; i++ {
			time.Sleep(time.Duration(400+rng.IntN(800)) * time.Millisecond)
			if r.exited() {
				t.Fatalf("odsync exited by itself before kill %d:\n%s", i, r.logTail())
			}
			r.kill(i)
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
			r.start()
		}
		time.Sleep(300 * time.Millisecond)
		want := stop()
		t.Logf("4 kills, %d changes", len(want))
		if d.system == kitState {
			r.waitState("t", 90*time.Second)
			r.stop()
			return
		}
		rows := r.wait(r.table("t"), 90*time.Second, seqsAtLeast(len(want)))
		r.stop()
		kitCheckChanges(t, r.sink, r.sink.read(t, r.table("t")), want)
		kitCheckFiles(t, r.sink, r.table("t"))
		_ = rows
	})
}

// kitCheckFiles checks, for a sink that writes files, that no two data
// files of a table partition hold overlapping _seq ranges (file names are
// {firstSeq}-{lastSeq}.ext): a replay rewrote a file under its name
// instead of adding a second copy.
func kitCheckFiles(t *testing.T, s *kitSink, table string) {
	t.Helper()
	if s.files == nil {
		return
	}
	type span struct {
		name        string
		first, last uint64
	}
	var spans []span
	for name := range s.files(t, table) {
		var sp span
		if _, err := fmt.Sscanf(path.Base(name), "%d-%d.", &sp.first, &sp.last); err != nil {
			t.Errorf("data file %s: name is not {firstSeq}-{lastSeq}.ext", name)
			continue
		}
		sp.name = name
		spans = append(spans, sp)
	}
	// Within a partition (one batch's rows of two partitions interleave).
	sort.Slice(spans, func(i, j int) bool {
		a, b := path.Dir(spans[i].name), path.Dir(spans[j].name)
		return a < b || a == b && spans[i].first < spans[j].first
	})
	for i := 1; i < len(spans); i++ {
		if path.Dir(spans[i].name) == path.Dir(spans[i-1].name) && spans[i].first <= spans[i-1].last {
			t.Errorf("data files %s and %s overlap: a change landed twice", spans[i-1].name, spans[i].name)
		}
	}
	if len(spans) == 0 {
		t.Error("no data files")
	}
}
