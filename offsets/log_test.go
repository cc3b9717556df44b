package offsets

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/odsync/odsync/event"
)

// testTables returns a sealed schema per "db.table" name, cached so that
// events of one table share a *event.Table as a capture's would.
type testTables map[string]*event.Table

func (tt testTables) get(name string) *event.Table {
	if t := tt[name]; t != nil {
		return t
	}
	db, tbl, _ := strings.Cut(name, ".")
	t := (&event.Table{
		ID: event.TableID{DB: db, Table: tbl},
		Columns: []event.Column{
			{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
			{Name: "v", Type: event.TypeVarchar, Length: 64, Nullable: true, Charset: "utf8mb4", RawType: "varchar(64)"},
		},
		Key: []int{0},
	}).Seal()
	tt[name] = t
	return t
}

var testOps = map[string]event.Op{"insert": event.OpInsert, "update": event.OpUpdate, "delete": event.OpDelete, "read": event.OpRead, "ddl": event.OpDDL}

// parseEvents parses lines "db.table op [id=N] [ts=N] [v=S] [end]".
func parseEvents(t testing.TB, tables testTables, input string, pos *uint64) []event.Event {
	var evs []event.Event
	for _, line := range strings.Split(input, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			t.Fatalf("bad event line %q", line)
		}
		op, ok := testOps[f[1]]
		if !ok {
			t.Fatalf("bad op in %q", line)
		}
		tbl := tables.get(f[0])
		*pos += 100
		e := event.Event{Op: op, Source: tbl.ID, Table: tbl, Pos: event.Position{File: "bin.000001", Offset: *pos}}
		id, v := int64(0), "x"
		for _, a := range f[2:] {
			k, val, _ := strings.Cut(a, "=")
			switch k {
			case "id":
				id, _ = strconv.ParseInt(val, 10, 64)
			case "ts":
				e.CommitTime, _ = strconv.ParseInt(val, 10, 64)
			case "v":
				v = val
			case "end":
				e.TxnEnd = true
			default:
				t.Fatalf("bad arg %q in %q", a, line)
			}
		}
		row := []event.Value{event.Int(id), event.String(v)}
		switch op {
		case event.OpDelete:
			e.Before = row
		case event.OpUpdate:
			e.Before, e.After = row, row
		case event.OpDDL:
			e.DDL = "ALTER TABLE " + tbl.ID.Table + " ADD c int"
		default:
			e.After = row
		}
		evs = append(evs, e)
	}
	return evs
}

func formatEvent(e *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s", e.Seq, e.Op, e.Source)
	if r := e.Row(); r != nil {
		fmt.Fprintf(&b, " id=%d v=%s", r[0].Int(), r[1].Str())
	}
	fmt.Fprintf(&b, " ts=%d pos=%s", e.CommitTime, e.Pos)
	if e.Table == nil {
		b.WriteString(" table=nil")
	} else if e.Table.ID != e.Source {
		fmt.Fprintf(&b, " table=%s", e.Table.ID)
	}
	if e.TxnEnd {
		b.WriteString(" end")
	}
	return b.String()
}

// ddState is the state of one datadriven file.
type ddState struct {
	fs     *vfs.MemFS
	opts   Options
	log    *Log
	tables testTables
	pos    uint64
	seed   int64
}

func (s *ddState) open() error {
	if s.fs == nil {
		s.fs = vfs.NewCrashableMem()
	}
	opts := s.opts
	opts.FS = s.fs
	l, err := Open("/data", opts)
	if err != nil {
		return err
	}
	s.log = l
	return nil
}

func errString(err error) string { return "error: " + err.Error() }

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &ddState{tables: testTables{}}
		defer func() {
			if s.log != nil {
				_ = s.log.Close()
			}
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
}

func (s *ddState) run(t *testing.T, d *datadriven.TestData) string {
	ctx := context.Background()
	arg := func(key string) string {
		a, ok := d.Arg(key)
		if !ok {
			d.Fatalf(t, "missing argument %s", key)
		}
		return a.SingleVal(t)
	}
	u64 := func(key string) uint64 {
		v, err := strconv.ParseUint(arg(key), 10, 64)
		if err != nil {
			d.Fatalf(t, "%s: %v", key, err)
		}
		return v
	}
	l := s.log
	switch d.Cmd {
	case "open":
		if d.HasArg("max-bytes") {
			d.ScanArgs(t, "max-bytes", &s.opts.MaxBytes)
		}
		if err := s.open(); err != nil {
			return errString(err)
		}
		return s.stats()
	case "close":
		if err := l.Close(); err != nil {
			return errString(err)
		}
		return "ok"
	case "reopen":
		if err := l.Close(); err != nil {
			return errString(err)
		}
		if err := s.open(); err != nil {
			return errString(err)
		}
		return s.stats()
	case "crash":
		// Only what was synced survives; with unsynced=P, a random P% of
		// the rest does too.
		cfg := vfs.CrashCloneCfg{}
		if d.HasArg("unsynced") {
			d.ScanArgs(t, "unsynced", &cfg.UnsyncedDataPercent)
			s.seed++
			cfg.RNG = rand.New(rand.NewPCG(uint64(s.seed), 0))
		}
		// "crash closed": Close first, then crash (Close must have synced).
		if d.HasArg("closed") {
			if err := l.Close(); err != nil {
				return errString(err)
			}
		}
		clone := s.fs.CrashClone(cfg)
		_ = l.Close()
		s.fs = clone
		if err := s.open(); err != nil {
			return errString(err)
		}
		return s.stats()
	case "append":
		evs := parseEvents(t, s.tables, d.Input, &s.pos)
		var cp []byte
		if d.HasArg("cp") {
			cp = []byte(arg("cp"))
		}
		var state []KV
		if a, ok := d.Arg("state"); ok {
			for _, v := range a.Vals {
				nk, val, hasVal := strings.Cut(v, "=")
				ns, key, _ := strings.Cut(nk, "/")
				kv := KV{NS: ns, Key: key}
				if hasVal {
					kv.Value = []byte(val)
				}
				state = append(state, kv)
			}
		}
		last, err := l.Append(ctx, evs, cp, state...)
		if err != nil {
			return errString(err)
		}
		for i := range evs {
			if evs[i].Seq != last-uint64(len(evs)-1-i) {
				t.Errorf("event %d: seq %d, last %d", i, evs[i].Seq, last)
			}
		}
		if len(evs) == 0 {
			return fmt.Sprintf("last=%d\n%s", last, s.stats())
		}
		return fmt.Sprintf("seqs %d..%d\n%s", evs[0].Seq, last, s.stats())
	case "read":
		maxEvents, maxBytes := 0, int64(0)
		if d.HasArg("max") {
			d.ScanArgs(t, "max", &maxEvents)
		}
		if d.HasArg("bytes") {
			d.ScanArgs(t, "bytes", &maxBytes)
		}
		evs, err := l.Read(u64("from"), maxEvents, maxBytes, nil)
		if err != nil {
			return errString(err)
		}
		if len(evs) == 0 {
			return "none"
		}
		var b strings.Builder
		for i := range evs {
			b.WriteString(formatEvent(&evs[i]) + "\n")
		}
		return b.String()
	case "stats":
		return s.stats()
	case "register":
		acked, err := l.Register(arg("name"))
		if err != nil {
			return errString(err)
		}
		return fmt.Sprintf("acked=%d", acked)
	case "ack":
		var first, last uint64
		d.ScanArgs(t, "range", &first, &last)
		if err := l.Ack(arg("name"), first, last); err != nil {
			return errString(err)
		}
		return s.cursors()
	case "cursors":
		return s.cursors()
	case "set-cursor":
		if err := l.SetCursor(arg("name"), u64("acked")); err != nil {
			return errString(err)
		}
		return s.cursors()
	case "drop-cursor":
		if err := l.DropCursor(arg("name")); err != nil {
			return errString(err)
		}
		return s.cursors()
	case "gc":
		n, err := l.GC()
		if err != nil {
			return errString(err)
		}
		return fmt.Sprintf("deleted=%d\n%s", n, s.stats())
	case "set-pending":
		var ends []uint64
		if a, ok := d.Arg("ends"); ok {
			for _, v := range a.Vals {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					d.Fatalf(t, "ends: %v", err)
				}
				ends = append(ends, n)
			}
		}
		if err := l.SetPending(arg("name"), ends); err != nil {
			return errString(err)
		}
		return fmt.Sprint(l.Pending(arg("name")))
	case "pending":
		return fmt.Sprint(l.Pending(arg("name")))
	case "put":
		var v []byte
		if d.HasArg("value") {
			v = []byte(arg("value"))
		}
		if err := l.Put(arg("ns"), arg("key"), v); err != nil {
			return errString(err)
		}
		return "ok"
	case "get":
		v, ok, err := l.Get(arg("ns"), arg("key"))
		if err != nil {
			return errString(err)
		}
		if !ok {
			return "not found"
		}
		return fmt.Sprintf("%q", v)
	case "scan":
		var b strings.Builder
		prefix := ""
		if d.HasArg("prefix") {
			prefix = arg("prefix")
		}
		err := l.Scan(arg("ns"), prefix, func(k string, v []byte) error {
			fmt.Fprintf(&b, "%s=%q\n", k, v)
			return nil
		})
		if err != nil {
			return errString(err)
		}
		if b.Len() == 0 {
			return "none"
		}
		return b.String()
	case "seek-time":
		var ts int64
		d.ScanArgs(t, "ts", &ts)
		seq, err := l.SeekTime(ts)
		if err != nil {
			return errString(err)
		}
		return fmt.Sprintf("seq=%d", seq)
	}
	d.Fatalf(t, "unknown command %s", d.Cmd)
	return ""
}

func (s *ddState) stats() string {
	st := s.log.Stats()
	cp := s.log.Checkpoint()
	cps := "none"
	if cp != nil {
		cps = fmt.Sprintf("%q", cp)
	}
	return fmt.Sprintf("head=%d tail=%d uncommitted=%d bytes=%d checkpoint=%s", st.Head, st.Tail, st.Uncommitted, st.Bytes, cps)
}

func (s *ddState) cursors() string {
	m := s.log.Cursors()
	if len(m) == 0 {
		return "no cursors"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%d", n, m[n])
		s.log.mu.Lock()
		if c := s.log.mu.cursors[n]; len(c.ranges) > 0 {
			b.WriteString(" above:")
			for _, r := range c.ranges {
				fmt.Fprintf(&b, " %d-%d", r.first, r.last)
			}
		}
		s.log.mu.Unlock()
		b.WriteString("\n")
	}
	return b.String()
}
