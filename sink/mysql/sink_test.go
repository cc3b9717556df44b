package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/mariadb"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

var (
	srvOnce sync.Once
	srv     *mariadb.Server
	srvErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

func inCI() bool { return os.Getenv("CI") == "true" || os.Getenv("CI") == "1" }

// server returns the package's private target MariaDB and a handle on it.
func server(t testing.TB) (*mariadb.Server, *sql.DB) {
	t.Helper()
	srvOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, srvErr = mariadb.Start(ctx, mariadb.Options{})
	})
	if srvErr != nil {
		if inCI() {
			t.Fatalf("mariadbd is required in CI: %v", srvErr)
		}
		t.Skipf("mariadbd unavailable: %v", srvErr)
	}
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return srv, db
}

// newSink returns a sink writing into the test server, sink name and
// source database derived from the test's name.
func newSink(t *testing.T, mode schema.Mode) (*Sink, *sql.DB, string) {
	t.Helper()
	s, db := server(t)
	name := strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	if _, err := db.Exec("DROP DATABASE IF EXISTS " + quoteID(name)); err != nil {
		t.Fatal(err)
	}
	mapper, err := schema.New(schema.Config{Evolution: mode})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := New(Config{Addr: s.Addr(), User: "root", RowsPerStatement: 3}, name, mapper, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sk.Close(context.Background()) })
	return sk, db, name
}

func table(db string, key bool, cols ...event.Column) *event.Table {
	t := &event.Table{ID: event.TableID{DB: db, Table: "t"}, Columns: cols}
	if key {
		t.Key = []int{0}
	}
	return t.Seal()
}

var (
	idCol  = event.Column{Name: "id", Type: event.TypeInt, RawType: "int(11)"}
	valCol = event.Column{Name: "v", Type: event.TypeVarchar, Length: 20, Nullable: true, Charset: "utf8mb4", RawType: "varchar(20)"}
	uqCol  = event.Column{Name: "u", Type: event.TypeInt, Nullable: true, RawType: "int(11)"}
)

type batcher struct {
	seq uint64
}

func (b *batcher) batch(evs ...event.Event) *sink.Batch {
	out := &sink.Batch{First: b.seq + 1}
	for _, e := range evs {
		b.seq++
		e.Seq = b.seq
		if e.Table != nil {
			e.Source = e.Table.ID
		}
		e.Pos = event.Position{File: "bin.000001", Offset: b.seq * 100}
		out.Events = append(out.Events, e)
	}
	out.Last = b.seq
	return out
}

func ins(t *event.Table, vals ...event.Value) event.Event {
	return event.Event{Op: event.OpInsert, Table: t, After: vals}
}
func upd(t *event.Table, before, after []event.Value) event.Event {
	return event.Event{Op: event.OpUpdate, Table: t, Before: before, After: after}
}
func del(t *event.Table, vals ...event.Value) event.Event {
	return event.Event{Op: event.OpDelete, Table: t, Before: vals}
}
func ddl(t *event.Table, stmt string) event.Event {
	return event.Event{Op: event.OpDDL, Table: t, DDL: stmt}
}
func row(v ...event.Value) []event.Value { return v }

// dump renders a table's rows ordered by its first column.
func dump(t *testing.T, db *sql.DB, full string) string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + full + " ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i, v := range vals {
			s := "NULL"
			if v.Valid {
				s = v.String
			}
			parts = append(parts, cols[i]+"="+s)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return strings.Join(out, "\n")
}

func mustWrite(t *testing.T, sk *Sink, b *sink.Batch) {
	t.Helper()
	if err := sk.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func TestUpsertDeleteKeyChangeReplay(t *testing.T) {
	sk, db, name := newSink(t, schema.ModeLenient)
	tb := table(name, true, idCol, valCol, uqCol)
	var bt batcher
	b1 := bt.batch(
		ins(tb, event.Int(1), event.String("a"), event.Int(10)),
		ins(tb, event.Int(2), event.String("b"), event.Int(20)),
		ins(tb, event.Int(3), event.String("c"), event.Int(30)),
		ins(tb, event.Int(4), event.String("it's \\ \x00 \n"), event.Null),
		upd(tb, row(event.Int(1), event.String("a"), event.Int(10)), row(event.Int(1), event.String("a2"), event.Int(10))),
		del(tb, event.Int(2), event.String("b"), event.Int(20)),
		// a key change: 3 becomes 5
		upd(tb, row(event.Int(3), event.String("c"), event.Int(30)), row(event.Int(5), event.String("c"), event.Int(30))),
	)
	mustWrite(t, sk, b1)
	want := "id=1 v=a2 u=10\nid=4 v=it's \\ \x00 \n u=NULL\nid=5 v=c u=30"
	full := quoteID(name) + ".`t`"
	if got := dump(t, db, full); got != want {
		t.Fatalf("after batch 1:\n%s\nwant:\n%s", got, want)
	}
	// A secondary unique key whose value moves between rows in one batch.
	if _, err := db.Exec("ALTER TABLE " + full + " ADD UNIQUE KEY (u)"); err != nil {
		t.Fatal(err)
	}
	b2 := bt.batch(
		upd(tb, row(event.Int(1), event.String("a2"), event.Int(10)), row(event.Int(1), event.String("a2"), event.Int(11))),
		upd(tb, row(event.Int(5), event.String("c"), event.Int(30)), row(event.Int(5), event.String("c"), event.Int(10))),
	)
	mustWrite(t, sk, b2)
	want = "id=1 v=a2 u=11\nid=4 v=it's \\ \x00 \n u=NULL\nid=5 v=c u=10"
	if got := dump(t, db, full); got != want {
		t.Fatalf("after batch 2:\n%s\nwant:\n%s", got, want)
	}
	// A replay (after a crash the pipeline writes the batch it had not
	// acknowledged again) changes nothing, even after the target changed.
	if _, err := db.Exec("UPDATE " + full + " SET v = 'manual' WHERE id = 4"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, sk, b2)
	mustWrite(t, sk, b1) // batches before the checkpoint (a machine crash lost acknowledgements)
	want = strings.Replace(want, "v=it's \\ \x00 \n", "v=manual", 1)
	if got := dump(t, db, full); got != want {
		t.Fatalf("after replays:\n%s\nwant:\n%s", got, want)
	}
	if seq, err := sk.Applied(context.Background()); err != nil || seq != b2.Last {
		t.Fatalf("checkpoint %d, %v; want %d", seq, err, b2.Last)
	}
	if h := sk.Health(); h.ConsecutiveFailures != 0 || h.LastSuccess.IsZero() {
		t.Fatalf("health %+v", h)
	}
}

// TestInsertsInSourceOrder: a transaction with only inserts (and reads)
// of a table writes them in source order, a key seen twice ending with its
// last image; an update or delete later in the same transaction reduces
// what came before by key.
func TestInsertsInSourceOrder(t *testing.T) {
	sk, db, name := newSink(t, schema.ModeLenient)
	tb := table(name, true, idCol, valCol, uqCol)
	full := quoteID(name) + ".`t`"
	var bt batcher
	rd := func(vals ...event.Value) event.Event {
		return event.Event{Op: event.OpRead, Table: tb, After: vals}
	}
	mustWrite(t, sk, bt.batch(
		rd(event.Int(1), event.String("a"), event.Int(10)),
		rd(event.Int(2), event.String("b"), event.Int(20)),
		ins(tb, event.Int(1), event.String("a2"), event.Int(11)),
		ins(tb, event.Int(3), event.String("c"), event.Int(30)),
		ins(tb, event.Int(2), event.String("b2"), event.Int(21)),
		ins(tb, event.Int(4), event.String("d"), event.Null),
		ins(tb, event.Int(1), event.String("a3"), event.Int(12)),
	))
	want := "id=1 v=a3 u=12\nid=2 v=b2 u=21\nid=3 v=c u=30\nid=4 v=d u=NULL"
	if got := dump(t, db, full); got != want {
		t.Fatalf("after the inserts:\n%s\nwant:\n%s", got, want)
	}
	mustWrite(t, sk, bt.batch(
		ins(tb, event.Int(5), event.String("e"), event.Int(50)),
		ins(tb, event.Int(6), event.String("f"), event.Int(60)),
		ins(tb, event.Int(5), event.String("e2"), event.Int(51)),
		del(tb, event.Int(6), event.String("f"), event.Int(60)),
		del(tb, event.Int(1), event.String("a3"), event.Int(12)),
		ins(tb, event.Int(6), event.String("f2"), event.Int(61)),
		upd(tb, row(event.Int(3), event.String("c"), event.Int(30)), row(event.Int(7), event.String("c"), event.Int(30))),
	))
	want = "id=2 v=b2 u=21\nid=4 v=d u=NULL\nid=5 v=e2 u=51\nid=6 v=f2 u=61\nid=7 v=c u=30"
	if got := dump(t, db, full); got != want {
		t.Fatalf("after the mixed batch:\n%s\nwant:\n%s", got, want)
	}
}

func TestKeylessTable(t *testing.T) {
	sk, db, name := newSink(t, schema.ModeLenient)
	tb := table(name, false, idCol, valCol)
	var bt batcher
	mustWrite(t, sk, bt.batch(
		ins(tb, event.Int(1), event.String("x")),
		ins(tb, event.Int(1), event.String("x")),
		ins(tb, event.Int(2), event.Null),
		upd(tb, row(event.Int(1), event.String("x")), row(event.Int(1), event.String("y"))),
		del(tb, event.Int(2), event.Null),
	))
	want := "id=1 v=x\nid=1 v=y"
	if got := dump(t, db, quoteID(name)+".`t`"); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSchemaModes(t *testing.T) {
	for _, tc := range []struct {
		mode schema.Mode
		want string // the final table after ADD, RENAME, DROP
		err  string
	}{
		{mode: schema.ModeLenient, want: "id=1 w=a u=NULL d=7\nid=2 w=b u=NULL d=9"},
		{mode: schema.ModeEvolve, want: "id=1 w=a d=7\nid=2 w=b d=9"},
		{mode: schema.ModeIgnore, want: "id=1 v=a u=NULL\nid=2 v=NULL u=NULL"},
		{mode: schema.ModeException, err: "column d is new in the source"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			sk, db, name := newSink(t, tc.mode)
			full := quoteID(name) + ".`t`"
			var bt batcher
			t1 := table(name, true, idCol, valCol, uqCol)
			mustWrite(t, sk, bt.batch(ins(t1, event.Int(1), event.String("a"), event.Null)))
			dCol := event.Column{Name: "d", Type: event.TypeInt, RawType: "int(11)"}
			t2 := table(name, true, idCol, valCol, uqCol, dCol)
			b := bt.batch(ddl(t2, "ALTER TABLE t ADD COLUMN d INT NOT NULL DEFAULT 7"))
			err := sk.Write(context.Background(), b)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), sink.ErrPermanent.Error()) {
					t.Fatalf("err %v, want permanent %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wCol := valCol
			wCol.Name = "w"
			t3 := table(name, true, idCol, wCol, uqCol, dCol)
			t4 := table(name, true, idCol, wCol, dCol)
			mustWrite(t, sk, bt.batch(
				ddl(t3, "ALTER TABLE t RENAME COLUMN v TO w"),
				ddl(t4, "ALTER TABLE t DROP COLUMN u"),
				ins(t4, event.Int(2), event.String("b"), event.Int(9)),
			))
			if got := dump(t, db, full); got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestTruncateAndDrop(t *testing.T) {
	sk, db, name := newSink(t, schema.ModeEvolve)
	full := quoteID(name) + ".`t`"
	tb := table(name, true, idCol, valCol)
	var bt batcher
	mustWrite(t, sk, bt.batch(ins(tb, event.Int(1), event.String("a")), ddl(tb, "TRUNCATE TABLE t"), ins(tb, event.Int(2), event.String("b"))))
	if got := dump(t, db, full); got != "id=2 v=b" {
		t.Fatalf("after truncate: %s", got)
	}
	mustWrite(t, sk, bt.batch(event.Event{Op: event.OpDDL, Source: tb.ID, DDL: "DROP TABLE t", Table: nil}))
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tables left: %d, %v", n, err)
	}
}

func TestBadValueIsPermanent(t *testing.T) {
	sk, _, name := newSink(t, schema.ModeLenient)
	tb := table(name, true, idCol, valCol)
	var bt batcher
	err := sk.Write(context.Background(), bt.batch(ins(tb, event.Int(1), event.String(strings.Repeat("x", 21)))))
	if err == nil || !strings.Contains(err.Error(), sink.ErrPermanent.Error()) || !strings.Contains(err.Error(), name+".t") {
		t.Fatalf("err %v: want a permanent error naming the table", err)
	}
	if h := sk.Health(); h.ConsecutiveFailures != 1 || h.LastError == "" {
		t.Fatalf("health %+v", h)
	}
	// A value with no SQL literal in a transaction of inserts names its row.
	dbl := table(name, true, idCol, event.Column{Name: "f", Type: event.TypeDouble, Nullable: true, RawType: "double"})
	b := bt.batch(ins(dbl, event.Int(1), event.Float64(1)), ins(dbl, event.Int(2), event.Float64(math.NaN())))
	err = sk.Write(context.Background(), b)
	if err == nil || !strings.Contains(err.Error(), sink.ErrPermanent.Error()) || !strings.Contains(err.Error(), fmt.Sprintf("seq %d at ", b.Last)) {
		t.Fatalf("err %v: want a permanent error naming seq %d", err, b.Last)
	}
}

func TestPasswordFileAndTLSConfig(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pw")
	if err := os.WriteFile(pf, []byte("s3cret\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Addr: "127.0.0.1:1", User: "u", Password: "other", PasswordFile: pf}
	c.EnsureDefaults()
	if err := c.Validate("mysql"); err != nil {
		t.Fatal(err)
	}
	dc, err := c.driverConfig()
	if err != nil || dc.Passwd != "s3cret" || dc.TLS != nil {
		t.Fatalf("driver config %v, %v", dc, err)
	}
	c.TLS = TLS{Enabled: true, ServerName: "db.example", InsecureSkipVerify: false}
	if dc, err = c.driverConfig(); err != nil || dc.TLS == nil || dc.TLS.ServerName != "db.example" {
		t.Fatalf("tls: %v, %v", dc, err)
	}
	bad := Config{CheckpointTable: "nodot", TLS: TLS{CAFile: "x"}}
	bad.EnsureDefaults()
	err = bad.Validate("sinks[0].mysql")
	for _, want := range []string{"sinks[0].mysql.addr", "sinks[0].mysql.user", "checkpoint_table", "tls: set enabled"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate: %v; want %q", err, want)
		}
	}
}

func TestRenamedTo(t *testing.T) {
	id := event.TableID{DB: "d", Table: "t"}
	for ddl, want := range map[string]string{
		"RENAME TABLE t TO t2":                        "d.t2",
		"rename table `x` to y, `d`.`t` to `e`.`t 3`": "e.t 3",
		"ALTER TABLE t RENAME TO t4":                  "d.t4",
		"ALTER TABLE `d`.`t` ADD c INT, RENAME AS u":  "d.u",
		"DROP TABLE t":                                "",
	} {
		got, ok := renamedTo(ddl, id)
		if s := got.String(); ok && s != want || !ok && want != "" {
			t.Errorf("%q: got %v %v, want %q", ddl, got, ok, want)
		}
	}
}

func TestRenameTableMovesRows(t *testing.T) {
	sk, db, name := newSink(t, schema.ModeLenient)
	tb := table(name, true, idCol, valCol)
	var bt batcher
	t2 := *tb
	t2.ID.Table = "t2"
	t2.Seal()
	mustWrite(t, sk, bt.batch(ins(tb, event.Int(1), event.String("a")),
		event.Event{Op: event.OpDDL, Source: tb.ID, DDL: "RENAME TABLE t TO t2"},
		ddl(&t2, "RENAME TABLE t TO t2"),
		ins(&t2, event.Int(2), event.String("b"))))
	if got := dump(t, db, quoteID(name)+".`t2`"); got != "id=1 v=a\nid=2 v=b" {
		t.Fatalf("t2: %s", got)
	}
}

func TestLiterals(t *testing.T) {
	c := &event.Column{Name: "c"}
	for _, tc := range []struct {
		v    event.Value
		want string
	}{
		{event.Date(0, 0, 0), "'0000-00-00'"},
		{event.Date(2024, 0, 15), "'2024-00-15'"},
		{event.DateTime(9999, 12, 31, 23, 59, 59, 999999), "'9999-12-31 23:59:59.999999'"},
		{event.DateTime(1000, 1, 1, 0, 0, 0, 5), "'1000-01-01 00:00:00.000005'"},
		{event.TimeMicros(-(838*3600 + 59*60 + 59) * 1e6), "'-838:59:59.000000'"},
		{event.TimeMicros(-1_500_000), "'-00:00:01.500000'"},
		{event.TimestampMicros(0), "'0000-00-00 00:00:00'"},
		{event.TimestampMicros(1_000_000), "'1970-01-01 00:00:01.000000'"},
		{event.Float32(3.4028235e38), "3.4028234663852886e+38"},
		{event.Float64(5e-324), "5e-324"},
		{event.Bytes([]byte{0, 0xff}), "X'00ff'"},
		{event.Bytes(nil), "''"},
		{event.String("a'b\\c\x00\x1a"), `'a\'b\\c\0\Z'`},
		{event.String("\nplain\r"), `'\nplain\r'`},
		{event.String("plain"), `'plain'`},
		{event.String(""), `''`},
		{event.Decimal("-0.0001"), "-0.0001"},
		{event.Bits(18446744073709551615), "18446744073709551615"},
		{event.Year(0), "0"},
	} {
		got, err := appendLiteral(nil, c, tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%v: got %s, %v; want %s", tc.v, got, err, tc.want)
		}
	}
	for _, bad := range []event.Value{event.Decimal("1e5"), event.Decimal("1; DROP TABLE x"), event.Float64(math.Inf(1))} {
		if got, err := appendLiteral(nil, c, bad); err == nil {
			t.Errorf("%v: got %s, want an error", bad, got)
		}
	}
}

func TestCheck(t *testing.T) {
	s, _ := server(t)
	v, err := Check(context.Background(), Config{Addr: s.Addr(), User: "root", CheckpointTable: "chk.ck"})
	if err != nil || !strings.Contains(strings.ToLower(v), "mariadb") {
		t.Fatalf("check: %q, %v", v, err)
	}
	if _, err := Check(context.Background(), Config{Addr: s.Addr(), User: "nobody"}); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("check as an unknown user: %v", err)
	}
	c := Config{Database: "dst"}
	if got := c.CreateTable(table("src", true, idCol, valCol)); got != "CREATE TABLE IF NOT EXISTS `dst`.`t` (`id` int(11) NOT NULL, `v` varchar(20) CHARACTER SET utf8mb4 NULL, PRIMARY KEY (`id`)) DEFAULT CHARSET=utf8mb4" {
		t.Fatalf("create: %s", got)
	}
}

// A target whose checkpoint does not continue the log stops the sink.
func TestCheckpointContinuity(t *testing.T) {
	sk, _, name := newSink(t, schema.ModeLenient)
	tb := table(name, true, idCol, valCol)
	var bt batcher
	b1 := bt.batch(ins(tb, event.Int(1), event.String("a")), ins(tb, event.Int(2), event.String("b")))
	b2 := bt.batch(ins(tb, event.Int(3), event.String("c")))
	mustWrite(t, sk, b1)
	mustWrite(t, sk, b2)
	mustWrite(t, sk, b2) // the unacknowledged batch again: skipped
	mustWrite(t, sk, b1) // after a machine crash (acknowledgements unsynced): skipped
	// A new log (seq from 1 again) with other positions: found out at the
	// checkpoint's sequence number.
	var other batcher
	nb := other.batch(ins(tb, event.Int(9), event.String("x")), ins(tb, event.Int(10), event.String("y")), ins(tb, event.Int(11), event.String("z")))
	for i := range nb.Events {
		nb.Events[i].Pos.File = "other.000001"
	}
	err := sk.Write(context.Background(), nb)
	if err == nil || !strings.Contains(err.Error(), "another log") || !strings.Contains(err.Error(), sink.ErrPermanent.Error()) {
		t.Fatalf("another log: %v", err)
	}
	// A gap: the target is behind the log.
	bt.seq += 5
	gap := bt.batch(ins(tb, event.Int(4), event.String("d")))
	if err := sk.Write(context.Background(), gap); err == nil || !strings.Contains(err.Error(), "never reached the target") {
		t.Fatalf("gap: %v", err)
	}
	// Same seq, other position.
	b2.Events[0].Pos.Offset++
	if err := sk.Write(context.Background(), b2); err == nil || !strings.Contains(err.Error(), "names another change") {
		t.Fatalf("same seq, other position: %v", err)
	}
}

// A batch split into transactions at a schema change and interrupted
// after the first: the replayed batch applies only what is missing.
func TestReplayOfPartlyAppliedBatch(t *testing.T) {
	sk, db, name := newSink(t, schema.ModeLenient)
	tb := table(name, true, idCol, valCol)
	dCol := event.Column{Name: "d", Type: event.TypeInt, Nullable: true, RawType: "int(11)"}
	t2 := table(name, true, idCol, valCol, dCol)
	var bt batcher
	b := bt.batch(ins(tb, event.Int(1), event.String("a")), ddl(t2, "ALTER TABLE t ADD d INT"),
		ins(t2, event.Int(2), event.String("b"), event.Int(5)))
	// The first transaction alone, as if the process died after it.
	first := &sink.Batch{First: b.First, Last: b.Events[0].Seq, Events: b.Events[:1]}
	mustWrite(t, sk, first)
	if _, err := db.Exec("UPDATE " + quoteID(name) + ".`t` SET v = 'manual' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, sk, b)
	if got := dump(t, db, quoteID(name)+".`t`"); got != "id=1 v=manual d=NULL\nid=2 v=b d=5" {
		t.Fatalf("got:\n%s", got)
	}
}
