package warehouse

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
)

func TestAnnounceSchemas(t *testing.T) {
	mk := func(name string, typ string) *event.Table {
		return (&event.Table{ID: event.TableID{DB: "d", Table: name}, Columns: []event.Column{
			{Name: "id", Type: event.TypeInt, RawType: "int"},
			{Name: "v", Type: event.TypeDecimal, RawType: typ, Nullable: true},
		}, Key: []int{0}}).Seal()
	}
	a1, a2, b := mk("a", "decimal(10,2)"), mk("a", "decimal(20,4)"), mk("b", "decimal(10,2)")
	row := func(tb *event.Table, seq uint64) event.Event {
		return event.Event{Op: event.OpInsert, Source: tb.ID, Table: tb, Pos: event.Position{File: "ods_" + tb.ID.Table, Offset: seq},
			After: []event.Value{event.Int(int64(seq)), event.Decimal("1.50")}}
	}
	render := func(evs []event.Event) string {
		var out []string
		for _, e := range evs {
			if e.Op == event.OpDDL {
				typ := e.Table.Columns[1].RawType
				if e.DDL != announceDDL || e.Pos != (event.Position{File: "ods_" + e.Source.Table, Offset: e.Pos.Offset}) {
					t.Errorf("DDL event %+v", e)
				}
				out = append(out, "DDL "+e.Source.Table+" "+typ)
				continue
			}
			out = append(out, fmt.Sprintf("%s %d", e.Source.Table, e.Pos.Offset))
		}
		return strings.Join(out, ", ")
	}
	m := schemaMarks{}
	batch := []event.Event{row(a1, 1), row(a1, 2), row(b, 3), row(a2, 4), row(a2, 5), row(b, 6)}
	got := m.announce(batch)
	want := "DDL a decimal(10,2), a 1, a 2, DDL b decimal(10,2), b 3, DDL a decimal(20,4), a 4, a 5, b 6"
	if r := render(got); r != want {
		t.Errorf("first batch:\n got %s\nwant %s", r, want)
	}
	if len(m) != 0 {
		t.Errorf("announce changed the marks: %v", m)
	}
	// Not committed (the emit failed): announced again.
	if r := render(m.announce(batch[:1])); r != "DDL a decimal(10,2), a 1" {
		t.Errorf("uncommitted batch again: %s", r)
	}
	m.commit(m.of(got))
	next := []event.Event{row(a2, 7), row(b, 8)}
	if got := m.announce(next); &got[0] != &next[0] || render(got) != "a 7, b 8" {
		t.Errorf("known schemas: %s, want the batch itself", render(got))
	}
	// A process started anew announces again (sinks reconcile it).
	if r := render(schemaMarks{}.announce(next)); r != "DDL a decimal(20,4), a 7, DDL b decimal(10,2), b 8" {
		t.Errorf("after a restart: %s", r)
	}
}

// flakyStore is a warehouse without tables whose listing fails as told.
type flakyStore struct {
	fails []error // the errors of the first calls of Tables
	calls int
}

func (s *flakyStore) Describe() string { return "flaky" }
func (s *flakyStore) Tables(context.Context) ([]*table, error) {
	s.calls++
	if s.calls <= len(s.fails) {
		return nil, s.fails[s.calls-1]
	}
	return nil, nil
}
func (s *flakyStore) Complete(context.Context, []*table) (uint64, error)                  { return 0, nil }
func (s *flakyStore) Units(context.Context, *table) ([]unit, error)                       { return nil, nil }
func (s *flakyStore) Read(context.Context, *table, unit, func([]event.Value) error) error { return nil }

func TestRunRetriesTheWarehouse(t *testing.T) {
	cfg := ReadSettings{Mode: ModeFull, PollInterval: 10 * time.Millisecond, BatchRows: 10}
	run := func(st *flakyStore, emit func(context.Context, []event.Event, []byte) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return newSource(st, cfg, nil, nil).Run(ctx, nil, func(ctx context.Context, evs []event.Event, cp []byte) error {
			if err := emit(ctx, evs, cp); err != nil {
				return err
			}
			if strings.Contains(string(cp), `"loaded":true`) {
				cancel()
			}
			return nil
		})
	}
	ok := func(context.Context, []event.Event, []byte) error { return nil }

	unreachable := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	st := &flakyStore{fails: []error{unreachable, unreachable}}
	if err := run(st, ok); err != nil {
		t.Fatalf("after two failed listings: %v, want the load done", err)
	}
	if st.calls != 4 {
		t.Errorf("%d listings, want 4 (two failed and retried, then the listing before and after complete_seq)", st.calls)
	}

	bad := &permanent{errors.New("bad schema file")}
	st = &flakyStore{fails: []error{bad}}
	if err := run(st, ok); !errors.Is(err, bad) || st.calls != 1 {
		t.Errorf("a permanent error: %v after %d listings, want it returned at once", err, st.calls)
	}

	logDown := errors.New("log closed")
	st = &flakyStore{}
	if err := run(st, func(context.Context, []event.Event, []byte) error { return logDown }); err != logDown || st.calls != 2 {
		t.Errorf("a failed emit: %v after %d listings, want the emit's error returned as it is", err, st.calls)
	}
}
