package kafka

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strconv"
)

// WorkloadOptions shape a simulated TiCDC changefeed.
type WorkloadOptions struct {
	Seed       uint64
	Partitions int
	// Tables is the number of tables (db "shop", tables t0, t1, ...).
	Tables int
	// Txns is the number of upstream transactions (1-3 row changes each).
	Txns int
	// Protocol is "canal-json" (default) or "open-protocol".
	Protocol string
	// Dispatch is "table" (default: every row of a table in one partition)
	// or "key" (by primary key, TiCDC's index-value dispatcher).
	Dispatch string
	// WatermarkEvery: TiCDC flushes and sends a watermark to every
	// partition after this many transactions. Default 20.
	WatermarkEvery int
	// DDLEvery: an ALTER TABLE ADD COLUMN after this many transactions (0: none).
	DDLEvery int
	// Replays simulates TiCDC restarts: this many times the changes of a
	// window of recent transactions (some below the last watermark) are
	// sent again.
	Replays int
	// BatchMax is the open-protocol events per message. Default 4.
	BatchMax int
	// StartMs is the physical time of the first commit. Default 2026-01-01.
	StartMs int64
}

// Workload is a generated changefeed: the messages TiCDC would write and
// the final state of the upstream tables.
type Workload struct {
	Messages []Message
	// Changes is the number of distinct row changes (each appears once in
	// an exactly-once log, replays excluded).
	Changes int
	// DDLs is the number of distinct DDL statements.
	DDLs int
	// Expected maps "db.table" -> primary key text -> column name -> value
	// text (absent key: the row does not exist; nil value: NULL).
	Expected map[string]map[string]map[string]*string
	// LastTs is the commitTs of the last transaction.
	LastTs uint64
}

type wlTable struct {
	Table
	rows   map[int64]Row
	nextID int64
	nextC  int
}

// pending is a (partition, table) queue of events TiCDC has not flushed.
type wlEvent struct {
	ts    uint64
	table int
	canal []byte    // canal-json message
	open  OpenEvent // open-protocol event
	ddl   bool
}

// GenerateWorkload simulates a TiCDC changefeed over Kafka: per-table
// commitTs order within a partition, tables interleaved (each table's
// rows are flushed at random moments), DDL after every earlier row (to
// partition 0 for canal-json, to every partition for open-protocol),
// watermarks to every partition, and replayed windows.
func GenerateWorkload(o WorkloadOptions) *Workload {
	if o.Protocol == "" {
		o.Protocol = "canal-json"
	}
	if o.Dispatch == "" {
		o.Dispatch = "table"
	}
	if o.WatermarkEvery == 0 {
		o.WatermarkEvery = 20
	}
	if o.BatchMax == 0 {
		o.BatchMax = 4
	}
	if o.StartMs == 0 {
		o.StartMs = 1767225600000
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	tables := make([]*wlTable, o.Tables)
	for i := range tables {
		tables[i] = &wlTable{Table: Table{DB: "shop", Name: "t" + strconv.Itoa(i),
			Cols: []Col{C("id", ColBigint), C("n", ColBigint), C("note", ColVarchar)}}, rows: map[int64]Row{}, nextID: 1}
	}
	w := &Workload{}
	// queues[p][t] are the unflushed events of table t for partition p.
	queues := make([][][]wlEvent, o.Partitions)
	for p := range queues {
		queues[p] = make([][]wlEvent, len(tables))
	}
	// sent[p] are the events written to partition p, for replays.
	sent := make([][]wlEvent, o.Partitions)
	var lastWM uint64
	partOf := func(t int, id int64) int {
		h := fnv.New32a()
		fmt.Fprintf(h, "%d", t)
		if o.Dispatch == "key" {
			fmt.Fprintf(h, "/%d", id)
		}
		return int(h.Sum32() % uint32(o.Partitions))
	}
	write := func(p int, evs []wlEvent) {
		if o.Protocol == "open-protocol" {
			for len(evs) > 0 {
				n := min(len(evs), 1+rng.IntN(o.BatchMax))
				var oe []OpenEvent
				for _, e := range evs[:n] {
					oe = append(oe, e.open)
				}
				k, v := OpenBatch(oe...)
				w.Messages = append(w.Messages, Message{Partition: p, Key: k, Value: v})
				evs = evs[n:]
			}
			return
		}
		for _, e := range evs {
			w.Messages = append(w.Messages, Message{Partition: p, Value: e.canal})
		}
	}
	flush := func(p, t int) {
		q := queues[p][t]
		if len(q) == 0 {
			return
		}
		write(p, q)
		sent[p] = append(sent[p], q...)
		queues[p][t] = nil
	}
	flushAll := func() {
		for p := range queues {
			for t := range queues[p] {
				flush(p, t)
			}
		}
	}
	watermark := func(ts uint64) {
		flushAll()
		for p := 0; p < o.Partitions; p++ {
			if o.Protocol == "open-protocol" {
				k, v := OpenBatch(OpenResolved(ts))
				w.Messages = append(w.Messages, Message{Partition: p, Key: k, Value: v})
			} else {
				w.Messages = append(w.Messages, Message{Partition: p, Value: CanalWatermark(ts)})
			}
		}
		lastWM = ts
	}
	replay := func() {
		// TiCDC restarted from a checkpoint below the last watermark: it
		// sends every change after it again, per partition in order.
		from := lastWM - uint64(o.WatermarkEvery/2)<<18
		flushAll()
		for p := range sent {
			var again []wlEvent
			for _, e := range sent[p] {
				if e.ts > from {
					again = append(again, e)
				}
			}
			// Re-send per table in commitTs order; the tables interleave
			// differently than the first time.
			byTable := map[int][]wlEvent{}
			var order []int
			for _, e := range again {
				if _, ok := byTable[e.table]; !ok {
					order = append(order, e.table)
				}
				byTable[e.table] = append(byTable[e.table], e)
			}
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, t := range order {
				write(p, byTable[t])
			}
		}
	}
	replayAt := map[int]bool{}
	for i := 0; i < o.Replays; i++ {
		replayAt[o.Txns*(i+1)/(o.Replays+1)] = true
	}
	var ts uint64
	for i := 0; i < o.Txns; i++ {
		ts = TSO(o.StartMs+int64(i)*3, uint64(rng.IntN(1000)))
		if o.DDLEvery > 0 && i > 0 && i%o.DDLEvery == 0 {
			t := rng.IntN(len(tables))
			tb := tables[t]
			flushAll() // TiCDC writes a DDL after every earlier row
			name := "c" + strconv.Itoa(tb.nextC)
			tb.nextC++
			sql := fmt.Sprintf("ALTER TABLE `%s`.`%s` ADD COLUMN `%s` varchar(32)", tb.DB, tb.Name, name)
			tb.Cols = append(append([]Col(nil), tb.Cols...), C(name, ColVarchar))
			w.DDLs++
			e := wlEvent{ts: ts, table: t, ddl: true, canal: CanalDDL(tb.DB, tb.Name, sql, ts), open: OpenDDL(tb.DB, tb.Name, sql, ts)}
			if o.Protocol == "open-protocol" {
				for p := 0; p < o.Partitions; p++ {
					write(p, []wlEvent{e})
					sent[p] = append(sent[p], e)
				}
			} else {
				write(0, []wlEvent{e})
				sent[0] = append(sent[0], e)
			}
			ts += 1 << 18
		}
		used := map[string]bool{}
		for n := 1 + rng.IntN(3); n > 0; n-- {
			t := rng.IntN(len(tables))
			tb := tables[t]
			var op string
			var id int64
			r := rng.IntN(10)
			switch {
			case r < 5 || len(tb.rows) == 0:
				op, id = "INSERT", tb.nextID
				tb.nextID++
			default:
				ids := make([]int64, 0, len(tb.rows))
				for k := range tb.rows {
					ids = append(ids, k)
				}
				sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
				id = ids[rng.IntN(len(ids))]
				op = "UPDATE"
				if r == 9 {
					op = "DELETE"
				}
			}
			key := tb.ID() + "/" + strconv.FormatInt(id, 10)
			if used[key] {
				continue // TiCDC collapses changes of one row in a transaction
			}
			used[key] = true
			old := tb.rows[id]
			var row Row
			switch op {
			case "DELETE":
				row = old
				delete(tb.rows, id)
			default:
				row = make(Row, len(tb.Cols))
				row[0] = V(strconv.FormatInt(id, 10))
				row[1] = V(strconv.Itoa(rng.IntN(1000000)))
				row[2] = V(fmt.Sprintf("note %d-%d", i, rng.IntN(100)))
				for c := 3; c < len(tb.Cols); c++ {
					if rng.IntN(2) == 0 {
						row[c] = V(fmt.Sprintf("x%d", rng.IntN(1000)))
					}
				}
				tb.rows[id] = row
			}
			if old != nil && len(old) < len(tb.Cols) {
				// The before image read with the current schema.
				o2 := make(Row, len(tb.Cols))
				copy(o2, old)
				old = o2
			}
			w.Changes++
			var oldImg Row
			if op == "UPDATE" {
				oldImg = old
			}
			e := wlEvent{ts: ts, table: t, canal: tb.CanalRow(op, ts, row, oldImg), open: tb.OpenRow(op, ts, row, oldImg)}
			p := partOf(t, id)
			queues[p][t] = append(queues[p][t], e)
		}
		// TiCDC flushes tables independently: some queues go out now.
		for p := range queues {
			for t := range queues[p] {
				if rng.IntN(4) == 0 {
					flush(p, t)
				}
			}
		}
		if (i+1)%o.WatermarkEvery == 0 {
			watermark(ts)
		}
		if replayAt[i] && lastWM > 0 {
			replay()
		}
	}
	watermark(ts + 1)
	w.LastTs = ts
	w.Expected = map[string]map[string]map[string]*string{}
	for _, tb := range tables {
		m := map[string]map[string]*string{}
		for id, r := range tb.rows {
			row := map[string]*string{}
			for c, col := range tb.Cols {
				if c < len(r) {
					row[col.Name] = r[c]
				} else {
					row[col.Name] = nil
				}
			}
			m[strconv.FormatInt(id, 10)] = row
		}
		w.Expected[tb.ID()] = m
	}
	return w
}

// Diff lists, sorted, how got (table state shaped like Expected) differs
// from Expected: missing rows, rows that should not exist and columns
// whose values differ. A column got lacks (added by a later DDL) must be
// NULL in Expected. It returns nil when they are equal.
func (w *Workload) Diff(got map[string]map[string]map[string]*string) []string {
	var out []string
	str := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	for tbl, rows := range w.Expected {
		for k, row := range rows {
			g, ok := got[tbl][k]
			if !ok {
				out = append(out, fmt.Sprintf("%s id %s missing", tbl, k))
				continue
			}
			for c, v := range row {
				if str(v) != str(g[c]) {
					out = append(out, fmt.Sprintf("%s id %s column %s: got %s, want %s", tbl, k, c, str(g[c]), str(v)))
				}
			}
		}
	}
	for tbl, rows := range got {
		for k := range rows {
			if _, ok := w.Expected[tbl][k]; !ok {
				out = append(out, fmt.Sprintf("%s id %s should not exist (deleted upstream or never written)", tbl, k))
			}
		}
	}
	sort.Strings(out)
	return out
}
