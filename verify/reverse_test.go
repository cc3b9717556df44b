package verify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// fakeWarehouse holds one table's changes.
type fakeWarehouse struct {
	table   WarehouseTable
	changes []WarehouseChange
	scans   [][2]uint64 // (after, upto) of each Scan
}

func (f *fakeWarehouse) Describe() string { return "fake" }
func (f *fakeWarehouse) Tables(context.Context) ([]WarehouseTable, error) {
	return []WarehouseTable{f.table}, nil
}
func (f *fakeWarehouse) Complete(context.Context) (uint64, error) { return 100, nil }
func (f *fakeWarehouse) Scan(_ context.Context, name string, after, upto uint64, fn func(WarehouseChange) error) error {
	if name != f.table.Name {
		return errors.New("unknown table " + name)
	}
	f.scans = append(f.scans, [2]uint64{after, upto})
	for _, c := range f.changes {
		if c.Seq > after && c.Seq <= upto {
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestWarehouseReader: the warehouse's changes come out in the target
// table's canonical layout (columns matched by name, whatever their
// order), with _op and _seq, only up to the job's checkpoint, and a later
// Scan reads only the changes after the previous one's limit.
func TestWarehouseReader(t *testing.T) {
	wsrc := (&event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeInt, RawType: "int"},
		{Name: "v", Type: event.TypeVarchar, RawType: "varchar(10)", Nullable: true},
	}, Key: []int{0}}).Seal()
	// The target table has its columns the other way round.
	tgt := (&event.Table{ID: event.TableID{DB: "x", Table: "t"}, Columns: []event.Column{
		{Name: "v", Type: event.TypeVarchar, RawType: "varchar(10)", Nullable: true},
		{Name: "id", Type: event.TypeInt, RawType: "int"},
	}, Key: []int{1}}).Seal()
	wh := &fakeWarehouse{table: WarehouseTable{Name: "ods_t", Source: wsrc}, changes: []WarehouseChange{
		{Op: event.OpInsert, Seq: 3, Row: []event.Value{event.Int(1), event.String("a")}},
		{Op: event.OpDelete, Seq: 5, Row: []event.Value{event.Int(1), event.String("a")}},
		{Op: event.OpRead, Seq: 9, Row: []event.Value{event.Int(2), event.String("b")}},
	}}
	v, err := NewReverse(&Source{}, Reverse{Warehouse: wh, Database: "x",
		Job: func(context.Context) (JobState, error) {
			return JobState{Known: true, Loaded: true, Upto: 5, Applied: true}, nil
		}}, "my", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := v.Tables(context.Background(), nil)
	if err != nil || len(ids) != 1 || ids[0] != tgt.ID {
		t.Fatalf("tables: %v, %v; want [x.t]", ids, err)
	}
	m, _ := schema.New(v.mapping)
	layout, err := m.Target(tgt)
	if err != nil {
		t.Fatal(err)
	}
	r := v.rev.reader
	r.bindSource(tgt.ID, layout.BaseName)
	l, err := r.Layout(context.Background(), layout.BaseName)
	if err != nil || !l.Found || len(l.Existing.Columns) != len(layout.Columns) {
		t.Fatalf("layout: %+v, %v", l, err)
	}
	if ok, _, err := v.waitApplied(context.Background(), 5, true); err != nil || !ok {
		t.Fatalf("waitApplied: %v, %v", ok, err)
	}
	idCol, vCol, opCol, seqCol := layout.ColumnIndex("id"), layout.ColumnIndex("v"), layout.ColumnIndex(schema.ColOp), layout.ColumnIndex(schema.ColSeq)
	var got []string
	scan := func(mark Mark) Mark {
		got = nil
		next, err := r.Scan(context.Background(), layout, mark, func(row []event.Value) error {
			got = append(got, row[opCol].Str()+":"+row[seqCol].Text()+":"+row[idCol].Text()+":"+row[vCol].Text())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	mark := scan(Mark{})
	if want := "I:3:1:a D:5:1:a"; join(got) != want {
		t.Errorf("first scan: %q, want %q", join(got), want)
	}
	mark = scan(mark)
	if len(got) != 0 {
		t.Errorf("a scan at the same limit read %q", got)
	}
	r.setLimit(9)
	scan(mark)
	if want := "R:9:2:b"; join(got) != want {
		t.Errorf("scan after the limit moved: %q, want %q", join(got), want)
	}
	if len(wh.scans) != 2 || wh.scans[1] != [2]uint64{5, 9} {
		t.Errorf("warehouse scans %v: want (0,5] then (5,9]", wh.scans)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// TestReverseNotAfter: in the reverse direction a warehouse change is
// "not after" a target read when the job had applied its _seq; nothing is
// confirmed while the job is not consistent.
func TestReverseNotAfter(t *testing.T) {
	v := &Verifier{rev: &reverseRun{}}
	w := Watermark{Seq: 10, Applied: true, Micros: time.Now().UnixMicro()}
	if !v.notAfter(nil, w) || !v.notAfter(&targetRow{Seq: 10}, w) || v.notAfter(&targetRow{Seq: 11}, w) {
		t.Error("the _seq comparison is wrong")
	}
	if v.notAfter(&targetRow{Seq: 1}, Watermark{Seq: 10}) {
		t.Error("a difference was confirmable while the job was not consistent")
	}
	v.rev.static = true
	if !v.notAfter(&targetRow{Seq: 500}, w) {
		t.Error("a static table's rows do not change")
	}
}

// TestReverseResult: the swapped comparison's result is turned back, so
// that the warehouse is the source and the MySQL table the target.
func TestReverseResult(t *testing.T) {
	wsrc := (&event.Table{ID: event.TableID{DB: "d", Table: "t"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeInt, RawType: "int"}, {Name: "v", Type: event.TypeVarchar, RawType: "varchar(10)"},
	}, Key: []int{0}}).Seal()
	r := &reverseRun{byTarget: map[string]WarehouseTable{"x.t": {Name: "ods_t", Source: wsrc}}, lagging: true}
	res := TableResult{Table: "x.t", Status: StatusMatch, SourceRows: 9, TargetRows: 10, SourceChecksum: "a", TargetChecksum: "b",
		Diffs:   DiffCounts{Missing: 1, Extra: 2},
		Columns: ColumnCheck{SourceColumns: 2, TargetColumns: 3, MissingInTarget: []string{"w"}, Types: []ColumnType{{Column: "v", Source: "varchar(12)", Target: "STRING"}}},
		ChunkList: []ChunkResult{{SourceRows: 9, TargetRows: 10, DiffCounts: DiffCounts{Missing: 1},
			Examples: []Example{{Key: "id=1", Kind: DiffMissing}, {Key: "id=2", Kind: DiffChanged, TargetSeq: 7, TargetPos: "ods_t:7",
				Columns: []ValueDiff{{Column: "v", Source: `"x"`, Target: `"y"`}}}}}}}
	r.reverseResult(&res, event.TableID{DB: "x", Table: "t"})
	if res.Table != "d.t" || res.Target != "x.t" || res.Status != StatusUnsettled {
		t.Errorf("names/status: %s → %s %s; want d.t → x.t unsettled (the job lagged)", res.Table, res.Target, res.Status)
	}
	if res.SourceRows != 10 || res.TargetRows != 9 || res.SourceChecksum != "b" || res.Diffs.Missing != 2 || res.Diffs.Extra != 1 {
		t.Errorf("counts not turned: %+v", res)
	}
	c := res.Columns
	if c.SourceColumns != 3 || len(c.ExtraInTarget) != 1 || c.Types[0].Source != "varchar(10)" || c.Types[0].Target != "varchar(12)" {
		t.Errorf("columns not turned: %+v", c)
	}
	ch := res.ChunkList[0]
	if ch.SourceRows != 10 || ch.Extra != 1 || ch.Examples[0].Kind != DiffExtra || ch.Examples[1].SourceSeq != 7 || ch.Examples[1].TargetPos != "" ||
		ch.Examples[1].Columns[0].Source != `"y"` {
		t.Errorf("chunk not turned: %+v", ch)
	}
	var b strings.Builder
	rep := &Report{Tables: []TableResult{res}}
	rep.summarize()
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, `changed id=2: v: source "y", target "x" [source _seq 7]`) || !strings.Contains(out, "d.t → x.t") {
		t.Errorf("text report:\n%s", out)
	}
}

// TestSuspectKeepsReverseWatermark: a suspect's watermarks keep the job's
// _seq through the on-disk store (re-checks compare with it).
func TestSuspectKeepsReverseWatermark(t *testing.T) {
	s := &suspect{chunk: 1, keyText: "id=1", before: Watermark{Micros: 5, Seq: 7, Applied: true}, after: Watermark{Seq: 9}}
	got, err := decodeSuspect(s.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.before != s.before || got.after != s.after {
		t.Errorf("watermarks %+v %+v, want %+v %+v", got.before, got.after, s.before, s.after)
	}
}

// TestReverseWaitLagging: a job that stays behind the warehouse's
// complete_seq is compared at its checkpoint and its table cannot match
// (unsettled); a job in mode full is not expected to follow.
func TestReverseWaitLagging(t *testing.T) {
	for _, full := range []bool{false, true} {
		wh := &fakeWarehouse{table: WarehouseTable{Name: "ods_t", Source: (&event.Table{ID: event.TableID{DB: "d", Table: "t"}}).Seal()}}
		v, err := NewReverse(&Source{}, Reverse{Warehouse: wh, Full: full,
			Job: func(context.Context) (JobState, error) {
				return JobState{Known: true, Loaded: true, Upto: 5, Applied: true}, nil
			}},
			"my", Options{Wait: 300 * time.Millisecond, Poll: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		res := TableResult{Table: "d.t", Status: StatusMatch}
		caught, err := v.reverseWait(context.Background(), &res) // Complete: 100
		if err != nil || !caught {
			t.Fatalf("full=%v: caught %v, %v; want true (the job is consistent at _seq 5)", full, caught, err)
		}
		if v.rev.reader.limit != 5 {
			t.Errorf("full=%v: read up to _seq %d, want the job's checkpoint 5", full, v.rev.reader.limit)
		}
		v.rev.reverseResult(&res, event.TableID{DB: "d", Table: "t"})
		want := StatusUnsettled
		if full {
			want = StatusMatch
		}
		if res.Status != want || len(res.Notes) != 1 {
			t.Errorf("full=%v: %s %v; want %s and one note", full, res.Status, res.Notes, want)
		}
	}
}
