package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/warehouse"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	mcsink "github.com/odsync/odsync/sink/maxcompute"
)

// reverseMC writes one source table's changes through the MaxCompute sink
// (in process, its state in a log of its own) into the emulator, so a test
// controls exactly which changes MaxCompute holds and when the sink's
// progress marks move.
type reverseMC struct {
	t   *testing.T
	snk *mcsink.Sink
	src *event.Table
	seq uint64
}

func newReverseMC(t *testing.T, cfg mcsink.Config) *reverseMC {
	t.Helper()
	lg, err := offsets.Open(filepath.Join(t.TempDir(), "state"), offsets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	m, err := schema.New(schema.Config{System: schema.SystemMaxCompute})
	if err != nil {
		t.Fatal(err)
	}
	snk, err := mcsink.New(cfg, m, lg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snk.Close(context.Background()) })
	src := (&event.Table{ID: event.TableID{DB: "rvm", Table: "k"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "v", Type: event.TypeVarchar, Length: 32, Nullable: true, RawType: "varchar(32)"},
	}, Key: []int{0}}).Seal()
	return &reverseMC{t: t, snk: snk, src: src}
}

// events builds the changes ("R 1 a", "I 2 b", "U 2 c", "D 2 x") with the
// next seqs, committed six hours apart from 2024-05-01 (so they spread over
// daily partitions).
func (r *reverseMC) events(changes ...string) []event.Event {
	var evs []event.Event
	for _, c := range changes {
		var id int64
		var v string
		if _, err := fmt.Sscanf(c[2:], "%d %s", &id, &v); err != nil {
			r.t.Fatalf("change %q: %v", c, err)
		}
		r.seq++
		row := []event.Value{event.Int(id), event.String(v)}
		e := event.Event{Seq: r.seq, Source: r.src.ID, Table: r.src, TxnEnd: true,
			CommitTime: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.seq) * 6 * time.Hour).UnixMicro(),
			Pos:        event.Position{File: "bin.000001", Offset: r.seq * 100}}
		switch c[0] {
		case 'R':
			e.Op, e.After = event.OpRead, row
		case 'I':
			e.Op, e.After = event.OpInsert, row
		case 'U':
			e.Op, e.Before, e.After = event.OpUpdate, row, row
		case 'D':
			e.Op, e.Before = event.OpDelete, row
		}
		evs = append(evs, e)
	}
	return evs
}

func (r *reverseMC) write(snk *mcsink.Sink, evs []event.Event) {
	r.t.Helper()
	if err := snk.Write(context.Background(), &sink.Batch{First: evs[0].Seq, Last: evs[len(evs)-1].Seq, Events: evs}); err != nil {
		r.t.Fatal(err)
	}
}

// TestReverseMaxComputeResume runs the maxcompute source in incremental
// mode in process against the emulator, fed by the MaxCompute sink, and
// ends each run at a chosen emit, as a kill -9 would (the failed emit's
// events never reach the log), restarting from the checkpoint of the last
// emit that succeeded: the full load and the changes that follow it
// (inserts, updates, deletes, key changes as a delete and an insert,
// across daily partitions) deliver every change once, in _seq order — no
// key loaded twice, none missing — also with a batch the stream upload
// stored twice (same _seq), and the final state is the change log's.
func TestReverseMaxComputeResume(t *testing.T) {
	srv := newMCEmu(t)
	conn := mcsink.Connection{Endpoint: srv.Endpoint(), TunnelEndpoint: srv.TunnelEndpoint(), Project: mcProject, AccessID: "it-id", AccessKey: "it-secret"}
	cfg := mcsink.Config{Connection: conn, FlushAge: 20 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		CommitBytes: 1, ProgressInterval: 50 * time.Millisecond}
	w := newReverseMC(t, cfg)
	want := map[int64]string{}
	apply := func(changes ...string) []event.Event {
		for _, c := range changes {
			var id int64
			var v string
			fmt.Sscanf(c[2:], "%d %s", &id, &v)
			if c[0] == 'D' {
				delete(want, id)
			} else {
				want[id] = v
			}
		}
		evs := w.events(changes...)
		w.write(w.snk, evs)
		return evs
	}
	var first []string
	for i := 1; i <= 40; i++ {
		first = append(first, fmt.Sprintf("R %d a%d", i, i))
	}
	apply(first...)
	apply("U 3 b3", "D 4 x", "D 5 x", "U 30 b30", "I 41 a41")

	waitMark(t, conn, mcsink.DefaultProgressTable, w.seq)
	src := warehouse.MaxComputeConfig{Connection: conn,
		Read: warehouse.ReadSettings{PollInterval: 50 * time.Millisecond, BatchRows: 7}}
	got := map[int64]string{}
	var lastSeq uint64
	var cp []byte
	loaded := 0
	run := func(n int, until func() bool) {
		t.Helper()
		s, err := warehouse.NewMaxCompute(src, registry.SourceDeps{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		errCrash := errors.New("crash")
		calls := 0
		err = s.Run(ctx, cp, func(ctx context.Context, evs []event.Event, c []byte) error {
			if calls == n {
				return errCrash
			}
			calls++
			for _, e := range evs {
				if e.Op == event.OpDDL {
					continue // the table's schema, announced before its rows
				}
				id := e.Row()[0].Int()
				switch e.Op {
				case event.OpRead:
					if _, dup := got[id]; dup {
						t.Errorf("full load: key %d delivered twice", id)
					}
					got[id] = e.After[1].Str()
					loaded++
				case event.OpDelete:
					delete(got, id)
				default:
					got[id] = e.After[1].Str()
				}
				if e.Op != event.OpRead {
					if e.Pos.Offset <= lastSeq {
						t.Errorf("change at _seq %d after _seq %d (delivered twice or out of order)", e.Pos.Offset, lastSeq)
					}
					lastSeq = e.Pos.Offset
				}
			}
			cp = c
			if until != nil && until() {
				cancel()
			}
			return nil
		})
		if err != nil && !errors.Is(err, errCrash) {
			t.Fatalf("run: %v", err)
		}
	}
	equal := func() bool { return fmt.Sprint(got) == fmt.Sprint(want) }
	// The full load of 39 keys in batches of 7, crashed after 2 and 1
	// emits, then finished.
	run(2, nil)
	run(1, nil)
	run(-1, equal)
	if !equal() {
		t.Fatalf("after the full load: %d keys, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	if loaded != 39 {
		t.Errorf("full load delivered %d rows, want 39 (each live key once)", loaded)
	}
	if !strings.Contains(string(cp), `"loaded":true`) {
		t.Errorf("checkpoint after the load: %s", cp)
	}

	// Changes after the load, over several partitions; one batch stored
	// twice by a second writer (what a stream pack whose answer was lost
	// leaves: the same rows, the same _seq).
	lastSeq = w.seq
	apply("U 1 c1", "D 2 x", "I 100 n100")
	dup := apply("U 100 c100", "D 1 x", "D 6 x", "I 1006 a6") // a key change: 6 → 1006
	cfg2 := cfg
	cfg2.ProgressTable = "dup_progress"
	w2 := newReverseMC(t, cfg2)
	w.write(w2.snk, dup)
	apply("I 2 back2", "U 8 c8", "D 9 x", "I 101 n101")
	run(1, nil)
	run(2, nil)
	run(-1, equal)
	if !equal() {
		t.Fatalf("after the incremental changes:\n got %v\nwant %v", got, want)
	}
	if lastSeq != w.seq {
		t.Errorf("last change applied: _seq %d, want %d", lastSeq, w.seq)
	}
}

// waitMark waits until the progress table holds a mark with complete_seq
// at least seq.
func waitMark(t *testing.T, conn mcsink.Connection, table string, seq uint64) {
	t.Helper()
	acct, err := mcsink.NewAccount(mcsink.Config{Connection: conn})
	if err != nil {
		t.Fatal(err)
	}
	r, err := mcsink.NewReader(mcsink.ReaderConfig{Endpoint: conn.Endpoint, TunnelEndpoint: conn.TunnelEndpoint, Project: conn.Project, Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		parts, _, err := r.MarkPartitions(table)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			ms, _, err := r.Marks(context.Background(), table, p, -1)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.CompleteSeq >= seq {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress mark at _seq %d in %s after 30s", seq, table)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
