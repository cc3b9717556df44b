package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/warehouse"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/registry"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
	s3sink "github.com/odsync/odsync/sink/s3"
)

// reverseStore writes odsync's S3 layout for one source table by hand (the
// schema file, Parquet objects named by their _seq range, the checkpoint
// object), so a test controls exactly which changes the bucket holds.
type reverseStore struct {
	t     *testing.T
	put   func(key string, body []byte)
	src   *event.Table
	tg    *schema.Target
	seq   uint64
	table string
}

func newReverseStore(t *testing.T, put func(string, []byte)) *reverseStore {
	src := (&event.Table{ID: event.TableID{DB: "rvr", Table: "k"}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "v", Type: event.TypeVarchar, Length: 32, Nullable: true, RawType: "varchar(32)"},
		{Name: "amount", Type: event.TypeDecimal, Precision: 12, Scale: 2, Nullable: true, RawType: "decimal(12,2)"},
	}, Key: []int{0}}).Seal()
	m, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := m.Target(src)
	if err != nil {
		t.Fatal(err)
	}
	s := &reverseStore{t: t, put: put, src: src, tg: tg, table: tg.Name}
	put("kit/"+tg.Name+"/_schema/v1.json", tg.SchemaJSON())
	return s
}

// object writes one object holding the changes (op, id, v) with the next
// _seqs, and moves the checkpoint object to its end.
func (s *reverseStore) object(changes ...string) {
	var buf bytes.Buffer
	w, err := odsfile.NewParquet(&buf, s.tg, "snappy", 0, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	first := s.seq + 1
	for _, c := range changes {
		var op event.Op
		var id int64
		var v string
		if _, err := fmt.Sscanf(c, "%c %d %s", new(rune), &id, &v); err != nil {
			s.t.Fatalf("change %q: %v", c, err)
		}
		switch c[0] {
		case 'I':
			op = event.OpInsert
		case 'U':
			op = event.OpUpdate
		case 'D':
			op = event.OpDelete
		}
		s.seq++
		amount := event.Decimal(fmt.Sprintf("%d.25", id))
		if s.src.Columns[2].Type != event.TypeDecimal {
			amount = event.String(fmt.Sprintf("%d.25", id))
		}
		row := []event.Value{event.Int(id), event.String(v), amount}
		e := &event.Event{Seq: s.seq, Op: op, Source: s.src.ID, Table: s.src, CommitTime: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMicro() + int64(s.seq),
			Pos: event.Position{File: "bin.000001", Offset: s.seq * 100}}
		if op == event.OpDelete {
			e.Before = row
		} else {
			e.After = row
		}
		if op == event.OpUpdate {
			e.Before = row
		}
		if err := w.WriteRow(s.tg.Row(e, nil)); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		s.t.Fatal(err)
	}
	s.put(fmt.Sprintf("kit/%s/ds=20240501/%020d-%020d.parquet", s.table, first, s.seq), buf.Bytes())
	s.put("kit/_checkpoint.json", []byte(fmt.Sprintf(`{"complete_seq": %d, "complete_before_us": 0}`, s.seq)))
}

// version starts evolve mode's next version of the table (<name>_v2) with
// amount as varchar(40), a change the ODS DECIMAL column cannot take in
// place; later objects go there, _seq continuing.
func (s *reverseStore) version() {
	src := (&event.Table{ID: s.src.ID, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "v", Type: event.TypeVarchar, Length: 32, Nullable: true, RawType: "varchar(32)"},
		{Name: "amount", Type: event.TypeVarchar, Length: 40, Nullable: true, RawType: "varchar(40)"},
	}, Key: []int{0}}).Seal()
	m, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		s.t.Fatal(err)
	}
	tg, err := m.Target(src)
	if err != nil {
		s.t.Fatal(err)
	}
	tg.Version, tg.BaseName, tg.Name = 2, s.tg.Name, s.tg.Name+"_v2"
	s.src, s.tg, s.table = src, tg, tg.Name
	s.put("kit/"+tg.Name+"/_schema/v2.json", tg.SchemaJSON())
}

// TestReverseS3Versions: a table whose change log continues in evolve
// mode's next version (<name>_v2, amount changed from decimal(12,2) to
// varchar(40)) is read as one table: the full load's state is the last
// change per key across both versions (a key deleted after the switch
// stays deleted, one updated has its new row), every row comes as the
// newest version's source table with amount as text, and incremental
// mode follows the new version.
func TestReverseS3Versions(t *testing.T) {
	srv := startS3(t)
	st := newReverseStore(t, func(key string, body []byte) { kitS3Put(t, srv, key, body) })
	st.object("I 1 a1", "I 2 a2", "I 3 a3", "I 4 a4", "I 5 a5", "I 6 a6")
	st.object("U 3 b3", "D 4 x")
	st.version()
	st.object("U 1 c1", "D 2 x", "I 4 again4", "I 7 a7")
	want := map[int64]string{1: "c1", 3: "b3", 4: "again4", 5: "a5", 6: "a6", 7: "a7"}

	cfg := warehouse.S3Config{Connection: s3sink.Connection{Bucket: "ods", Prefix: "kit", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey},
		Read: warehouse.ReadSettings{Mode: warehouse.ModeIncremental, PollInterval: 50 * time.Millisecond, BatchRows: 2}}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	src, err := warehouse.NewS3(context.Background(), cfg, registry.SourceDeps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	reads := 0
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var loaded bool
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	go func() {
		// Once the full load is in, more changes arrive in the new version.
		for {
			<-mu
			l := loaded
			mu <- struct{}{}
			if l {
				st.object("D 5 x", "U 6 d6", "I 8 a8")
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	final := map[int64]string{1: "c1", 3: "b3", 4: "again4", 6: "d6", 7: "a7", 8: "a8"}
	err = src.Run(ctx, nil, func(_ context.Context, evs []event.Event, c []byte) error {
		for _, e := range evs {
			if e.Op == event.OpDDL {
				continue // the table's schema, announced before its rows
			}
			if e.Table.Columns[2].Type != event.TypeVarchar || e.Table.Columns[2].RawType != "varchar(40)" {
				t.Errorf("event of table %s with amount %s %s, want the newest version's varchar(40)", e.Table.ID, e.Table.Columns[2].Type, e.Table.Columns[2].RawType)
			}
			row := e.Row()
			id := row[0].Int()
			if a := row[2]; a.Kind() != event.KindString || a.Str() != fmt.Sprintf("%d.25", id) {
				t.Errorf("key %d: amount %#v, want the text %d.25", id, a, id)
			}
			switch e.Op {
			case event.OpRead:
				reads++
				got[id] = row[1].Str()
			case event.OpDelete:
				delete(got, id)
			default:
				got[id] = row[1].Str()
			}
		}
		if strings.Contains(string(c), `"loaded":true`) {
			<-mu
			if !loaded && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after the full load:\n got %v\nwant %v", got, want)
			}
			loaded = true
			mu <- struct{}{}
		}
		if fmt.Sprint(got) == fmt.Sprint(final) {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(final) {
		t.Errorf("after the incremental changes:\n got %v\nwant %v", got, final)
	}
	if reads != len(want) {
		t.Errorf("full load: %d rows, want %d", reads, len(want))
	}
}

// TestReverseS3Resume runs the s3 source in process against versitygw and
// ends each run at a chosen emit, as a kill -9 would (the failed emit's
// events never reach the log), restarting from the checkpoint of the last
// emit that succeeded: the full load and the incremental changes together
// deliver every change once — no key loaded twice, none missing, changes
// in _seq order — and the final state is the change log's. It runs with
// the full load's state in memory and with it spilled to disk
// (load_memory_bytes: 1), which must resume alike.
func TestReverseS3Resume(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testReverseS3Resume(t, false) })
	t.Run("spill", func(t *testing.T) { testReverseS3Resume(t, true) })
}

func testReverseS3Resume(t *testing.T, spill bool) {
	srv := startS3(t)
	put := func(key string, body []byte) { kitS3Put(t, srv, key, body) }
	st := newReverseStore(t, put)
	want := map[int64]string{}
	apply := func(changes ...string) {
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
		st.object(changes...)
	}
	var first []string
	for i := 1; i <= 60; i++ {
		first = append(first, fmt.Sprintf("I %d a%d", i, i))
	}
	apply(first[:30]...)
	apply(append(first[30:], "U 3 b3", "D 4 x", "D 5 x", "U 40 b40")...)
	apply("D 6 x", "I 4 again4", "U 7 b7")

	cfg := warehouse.S3Config{Connection: s3sink.Connection{Bucket: "ods", Prefix: "kit", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey},
		Read: warehouse.ReadSettings{Mode: warehouse.ModeIncremental, PollInterval: 50 * time.Millisecond, BatchRows: 7, WindowObjects: 1}}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	var logs bytes.Buffer
	logger := slog.New(slog.DiscardHandler)
	spillDir := t.TempDir()
	if spill {
		cfg.Read.LoadMemoryBytes, cfg.Read.SpillDir = 1, spillDir
		logger = slog.New(slog.NewTextHandler(&logs, nil))
	}

	got := map[int64]string{}
	var lastSeq uint64 // incremental changes must come in _seq order
	var cp []byte
	loaded := 0
	// run starts the source from cp and fails the emit after n successful ones.
	run := func(n int, until func() bool) {
		t.Helper()
		src, err := warehouse.NewS3(context.Background(), cfg, registry.SourceDeps{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		errCrash := errors.New("crash")
		calls := 0
		err = src.Run(ctx, cp, func(ctx context.Context, evs []event.Event, c []byte) error {
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
						t.Errorf("change at _seq %d after _seq %d", e.Pos.Offset, lastSeq)
					}
					lastSeq = e.Pos.Offset
				}
				if e.After != nil && e.After[2].Str() != fmt.Sprintf("%d.25", id) {
					t.Errorf("key %d: amount %s", id, e.After[2])
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
	// The full load of 58 keys in batches of 7, crashed after 2, 3 and 1
	// emits, then finished.
	run(2, nil)
	run(3, nil)
	run(1, nil)
	run(-1, equal)
	if !equal() {
		t.Fatalf("after the full load: %d keys, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	if loaded != 58 {
		t.Errorf("full load delivered %d rows, want 58 (each live key once)", loaded)
	}
	if !strings.Contains(string(cp), `"loaded":true`) {
		t.Errorf("checkpoint after the load: %s", cp)
	}
	if spill {
		if n := strings.Count(logs.String(), "continues on disk"); n != 4 {
			t.Errorf("the state spilled in %d of the 4 runs of the load:\n%s", n, logs.String())
		}
		if ents, err := os.ReadDir(spillDir); err != nil || len(ents) != 0 {
			t.Errorf("spill_dir after the load: %v, %v (want empty)", ents, err)
		}
	}

	// Incremental: three more objects (one window each), a crash in the
	// middle of them.
	lastSeq = st.seq
	apply("U 1 c1", "D 2 x", "I 100 n100")
	apply("U 100 c100", "D 1 x")
	apply("I 2 back2", "U 8 c8", "D 9 x", "I 101 n101")
	run(1, nil)
	run(-1, equal)
	if !equal() {
		t.Fatalf("after the incremental changes:\n got %v\nwant %v", got, want)
	}
}

// TestReverseS3External loads Athena/Glue-style tables that odsync did not
// write — Parquet and CSV under Hive partition directories, columns from the
// configuration — in full.
func TestReverseS3External(t *testing.T) {
	srv := startS3(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cols := []warehouse.ColumnConfig{{Name: "id", Type: "int"}, {Name: "name", Type: "varchar(64)"},
		{Name: "price", Type: "decimal(12,2)"}, {Name: "at", Type: "datetime(6)"}, {Name: "day", Type: "date"}}
	ex := schema.Existing{Version: 1, Columns: []schema.ExistingColumn{{Name: "id", Type: "int"}, {Name: "name", Type: "string"},
		{Name: "price", Type: "decimal(12,2)"}, {Name: "at", Type: "timestamp_ntz"}, {Name: "day", Type: "date"}}}
	tg, err := schema.ExistingTarget("dim", ex)
	if err != nil {
		t.Fatal(err)
	}
	for p, ids := range map[string][]int{"dt=2024-05-01": {1, 2}, "dt=2024-05-02": {3}} {
		var buf bytes.Buffer
		w, err := odsfile.NewParquet(&buf, tg, "snappy", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := w.WriteRow([]event.Value{event.Int(int64(id)), event.String(fmt.Sprintf("n%d", id)), event.Decimal(fmt.Sprintf("%d.50", id)),
				event.DateTime(2024, 5, id, 12, 0, 0, 123456), event.Date(2024, 5, id)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		kitS3Put(t, srv, "lake/dim/"+p+"/part-0000.parquet", buf.Bytes())
	}
	kitS3Put(t, srv, "lake/dim/_SUCCESS", nil)
	kitS3Put(t, srv, "lake/csvdim/dt=2024-05-01/a.csv", []byte("\"id\",\"name\",\"price\",\"at\",\"day\"\n"+
		"\"7\",\"seven, \\\"q\\\"\",\"7.00\",\"2024-05-07 01:02:03.5\",\"2024-05-07\"\n\"8\",,,,\n"))
	cfg := warehouse.S3Config{Connection: s3sink.Connection{Bucket: "ods", Prefix: "lake", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey},
		Read: warehouse.ReadSettings{Mode: warehouse.ModeFull}, External: []warehouse.TableConfig{
			{Name: "dim", Database: "shop", Table: "dim", Columns: cols, Key: []string{"id"}},
			{Name: "csvdim", Format: "csv", CSVHeader: true, Database: "shop", Columns: cols, Key: []string{"id"}},
		}}
	src, err := warehouse.NewS3(context.Background(), cfg, registry.SourceDeps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rows []string
	err = src.Run(ctx, nil, func(ctx context.Context, evs []event.Event, cp []byte) error {
		for _, e := range evs {
			if e.Op == event.OpDDL {
				continue // the table's schema, announced before its rows
			}
			var parts []string
			for _, v := range e.After {
				parts = append(parts, v.String())
			}
			rows = append(rows, e.Source.String()+" "+strings.Join(parts, " "))
		}
		if strings.Contains(string(cp), `"loaded":true`) {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`shop.csvdim int:7 string:seven, "q" decimal:7.00 datetime:2024-05-07 01:02:03.500000 date:2024-05-07`,
		`shop.csvdim int:8 NULL NULL NULL NULL`,
		`shop.dim int:1 string:n1 decimal:1.50 datetime:2024-05-01 12:00:00.123456 date:2024-05-01`,
		`shop.dim int:2 string:n2 decimal:2.50 datetime:2024-05-02 12:00:00.123456 date:2024-05-02`,
		`shop.dim int:3 string:n3 decimal:3.50 datetime:2024-05-03 12:00:00.123456 date:2024-05-03`,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	// odsync verify's reader of the same tables (ScanChanges): the same
	// rows, static, numbered in object and file order; read once.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	vts, err := src.VerifyTables(ctx2)
	if err != nil || len(vts) != 2 {
		t.Fatalf("verify tables: %v, %v", vts, err)
	}
	rows = nil
	for _, vt := range vts {
		if !vt.Static {
			t.Errorf("table %s is not static", vt.Name)
		}
		var seq uint64
		err := src.ScanChanges(ctx2, vt, 0, math.MaxUint64, func(ch warehouse.VerifyChange) error {
			if seq++; ch.Seq != seq || ch.Op != event.OpRead {
				t.Errorf("table %s: change %d has _seq %d, op %s", vt.Name, seq, ch.Seq, ch.Op)
			}
			var parts []string
			for _, v := range ch.Row {
				parts = append(parts, v.String())
			}
			rows = append(rows, vt.Source.ID.String()+" "+strings.Join(parts, " "))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := src.ScanChanges(ctx2, vt, seq, math.MaxUint64, func(warehouse.VerifyChange) error {
			return errors.New("a static table read twice")
		}); err != nil {
			t.Error(err)
		}
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("verify's rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

// TestReverseS3ExternalIncremental follows the new objects of tables of
// other tools: after the full load, new objects in an existing Hive
// partition, a new partition and a rewritten object arrive, across
// crashes of the source in the middle of the reading; the keyed table
// ends with every key's newest row, the keyless one with every row once.
func TestReverseS3ExternalIncremental(t *testing.T) {
	srv := startS3(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ex := schema.Existing{Version: 1, Columns: []schema.ExistingColumn{{Name: "id", Type: "int"}, {Name: "name", Type: "string"}}}
	tg, err := schema.ExistingTarget("dim", ex)
	if err != nil {
		t.Fatal(err)
	}
	parquet := func(key string, rows ...string) { // rows: "id:name"
		t.Helper()
		var buf bytes.Buffer
		w, err := odsfile.NewParquet(&buf, tg, "snappy", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			id, name, _ := strings.Cut(r, ":")
			n, _ := strconv.Atoi(id)
			if err := w.WriteRow([]event.Value{event.Int(int64(n)), event.String(name)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		kitS3Put(t, srv, "lake/dim/"+key, buf.Bytes())
	}
	csv := func(key string, ids ...int) {
		t.Helper()
		var b strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&b, "\"%d\",\"e%d\"\n", id, id)
		}
		kitS3Put(t, srv, "lake/events/"+key, []byte(b.String()))
	}
	parquet("dt=2024-05-01/part-0000.parquet", "1:n1", "2:n2")
	parquet("dt=2024-05-02/part-0000.parquet", "3:n3")
	csv("dt=2024-05-01/a.csv", 1, 2)
	cols := []warehouse.ColumnConfig{{Name: "id", Type: "int"}, {Name: "name", Type: "varchar(64)"}}
	cfg := warehouse.S3Config{Connection: s3sink.Connection{Bucket: "ods", Prefix: "lake", Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey},
		Read: warehouse.ReadSettings{Mode: warehouse.ModeIncremental, PollInterval: 50 * time.Millisecond, BatchRows: 1, WindowObjects: 2},
		External: []warehouse.TableConfig{
			{Name: "dim", Database: "shop", Columns: cols, Key: []string{"id"}},
			// A tiny settle window: the mark rather than the keys.
			{Name: "events", Format: "csv", Database: "shop", Columns: cols, Settle: time.Nanosecond},
		}}
	cfg.EnsureDefaults()

	dim := map[int64]string{} // as the MySQL sink's REPLACE by key leaves it
	var events []int64        // keyless: every row inserted
	var cp []byte
	// run starts the source from cp and fails the emit after n successful
	// ones (-1: never), stopping when until holds (or after 5s without
	// an emit).
	run := func(n int, until func() bool) {
		t.Helper()
		src, err := warehouse.NewS3(context.Background(), cfg, registry.SourceDeps{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errCrash := errors.New("crash")
		calls := 0
		err = src.Run(ctx, cp, func(ctx context.Context, evs []event.Event, c []byte) error {
			if calls == n {
				return errCrash
			}
			calls++
			for _, e := range evs {
				if e.Op == event.OpDDL {
					continue // the table's schema, announced before its rows
				}
				loaded := strings.Contains(string(cp), `"loaded":true`)
				if want := map[bool]event.Op{false: event.OpRead, true: event.OpInsert}[loaded]; e.Op != want {
					t.Errorf("%s row %v: op %s, want %s", e.Source, e.After, e.Op, want)
				}
				id := e.After[0].Int()
				if e.Source.Table == "dim" {
					dim[id] = e.After[1].Str()
				} else {
					events = append(events, id)
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
	// The full load, crashed after every append to the log.
	loaded := func() bool { return strings.Contains(string(cp), `"loaded":true`) }
	for i := 0; i < 20 && !loaded(); i++ {
		run(1, loaded)
	}
	if fmt.Sprint(dim) != "map[1:n1 2:n2 3:n3]" || fmt.Sprint(events) != "[1 2]" {
		t.Fatalf("after the full load: dim %v, events %v", dim, events)
	}
	// New objects in an existing partition and in a new one.
	parquet("dt=2024-05-02/part-0001.parquet", "3:n3b", "4:n4")
	parquet("dt=2024-05-03/part-0000.parquet", "5:n5", "6:n6")
	csv("dt=2024-05-01/b.csv", 3, 4, 5)
	csv("dt=2024-05-02/a.csv", 6)
	wantDim := "map[1:n1 2:n2 3:n3b 4:n4 5:n5 6:n6]"
	wantEvents := "[1 2 3 4 5 6]"
	done := func() bool { return fmt.Sprint(dim) == wantDim && fmt.Sprint(events) == wantEvents }
	// A crash after every append to the log: each restart continues
	// from the last checkpoint, also in the middle of an object.
	for i := 0; i < 40 && !done(); i++ {
		run(1, done)
	}
	if !done() {
		t.Fatalf("after the new objects: dim %v, events %v; want %s, %s", dim, events, wantDim, wantEvents)
	}
	// A rewritten object is read again (S3 LastModified has whole
	// seconds: a later second).
	time.Sleep(1100 * time.Millisecond)
	parquet("dt=2024-05-01/part-0000.parquet", "1:n1c", "2:n2")
	csv("dt=2024-05-02/c.csv", 7)
	wantDim = "map[1:n1c 2:n2 3:n3b 4:n4 5:n5 6:n6]"
	wantEvents = "[1 2 3 4 5 6 7]"
	for i := 0; i < 20 && !done(); i++ {
		run(1, done)
	}
	if !done() {
		t.Fatalf("after a rewrite: dim %v, events %v; want %s, %s", dim, events, wantDim, wantEvents)
	}
	// The step's end (the last row's checkpoint is in the middle of it).
	run(-1, func() bool { return !strings.Contains(string(cp), `"obj"`) })
	if !done() {
		t.Fatalf("after the step's end: dim %v, events %v", dim, events)
	}
	// The checkpoint is bounded: the keyless table's mark (settle 1ns)
	// keeps only the objects of its newest modification time (c.csv, a
	// second after the others).
	var c struct {
		Ext map[string]struct {
			Seen map[string]time.Time `json:"seen"`
		} `json:"ext"`
	}
	if err := json.Unmarshal(cp, &c); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Ext["events"].Seen); n != 1 || len(c.Ext["dim"].Seen) != 4 {
		t.Errorf("checkpoint %s: events keeps %d keys (want 1), dim %d (want its 4 objects, all within 5m)", cp, n, len(c.Ext["dim"].Seen))
	}
}
