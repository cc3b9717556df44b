package maxcompute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// Progress marks (docs/maxcompute.md, "Progress marks"): MaxCompute's
// equivalent of the S3 sink's _checkpoint.json, written as rows of a small
// table in the project (progress_table) through a stream session like the
// ODS tables. Every progress_interval in which more changes became
// visible, one row:
//
//	complete_seq  every change with a _seq up to it is committed and visible
//	floor_seq     partitions lists every table partition holding a change
//	              with a _seq above it
//	partitions    JSON: [{"table","partition","first_seq","last_seq"}]: the
//	              lowest and highest _seq written there since the entry was
//	              opened (the partition holds no change above floor_seq
//	              below first_seq nor above last_seq)
//	written_at    when the mark was written
//
// partitioned by ds, the UTC hour of writing (yyyymmddhh).
//
// Order (a mark may lag, never lead): complete_seq is the lowest of the
// sink's acknowledged seq (stream packs stored: visible) and the first seq
// of any recorded, uncommitted snapshot block (visible only at its
// session's commit), read in that order. A table partition is entered in
// memory and in the state store (p/<table>/<spec>, one synced Put) by the
// first row sent to it since its entry was last closed, before the row is
// sent; an entry is closed (deleted) once a mark was written whose
// complete_seq covers every row noted in it and no row came in the
// interval before (so a busy partition costs no Put per interval), and the
// next mark's floor is that complete_seq (kept in the state store, key
// "mark"). Marks list only the entries holding rows above their floor. After kill -9
// the entries left in the store are reopened with a last seq of at least
// the log cursor (rows the previous process wrote above the cursor come
// again and are noted), so a reader never misses a partition; a crash
// between a mark and its bookkeeping only repeats entries.

// DefaultProgressTable is the default progress_table.
const DefaultProgressTable = "odsync_progress"

// ProgressComment starts the progress table's comment.
const ProgressComment = "odsync progress marks"

// Mark is one progress mark (a row of the progress table).
type Mark struct {
	CompleteSeq uint64
	FloorSeq    uint64
	Partitions  []MarkPartition
	WrittenAt   time.Time
}

// MarkPartition is a table partition that holds changes above a mark's
// floor: with _seq from FirstSeq (or, for rows above the floor, not below
// it) to LastSeq.
type MarkPartition struct {
	Table     string `json:"table"`
	Partition string `json:"partition"` // spec, e.g. ds=20240501
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
}

// progressTarget is the progress table's layout.
func progressTarget(name string) (*schema.Target, error) {
	return schema.ExistingTarget(name, schema.Existing{Columns: []schema.ExistingColumn{
		{Name: "complete_seq", Type: "BIGINT"}, {Name: "floor_seq", Type: "BIGINT"},
		{Name: "partitions", Type: "STRING"}, {Name: "written_at", Type: "TIMESTAMP"}}})
}

// markOf parses a row of the progress table.
func markOf(row []event.Value) (Mark, error) {
	var m Mark
	if len(row) < 4 || row[0].Kind() != event.KindInt || row[1].Kind() != event.KindInt {
		return m, fmt.Errorf("progress mark %v: want complete_seq, floor_seq, partitions, written_at", row)
	}
	m.CompleteSeq, m.FloorSeq = uint64(row[0].Int()), uint64(row[1].Int())
	if !row[2].IsNull() {
		if err := json.Unmarshal([]byte(row[2].Str()), &m.Partitions); err != nil {
			return m, fmt.Errorf("progress mark at complete_seq %d: partitions: %w", m.CompleteSeq, err)
		}
	}
	if row[3].Kind() == event.KindTimestamp {
		m.WrittenAt = time.UnixMicro(row[3].Micros())
	}
	return m, nil
}

// markEntry is a table partition written since its entry was opened.
type markEntry struct {
	table, spec string
	lo, hi      uint64
	unknownHi   bool // reopened after a restart: hi is at least the cursor
	touched     bool // rows came since the last mark
}

// markBook keeps the entries and the floor.
type markBook struct {
	store Store
	ns    string

	writeMu sync.Mutex // one mark written at a time

	mu          sync.Mutex
	entries     map[string]*markEntry // by p/ key
	floor       uint64                // complete_seq of the last mark written
	have        bool                  // a mark was written (floor is set)
	cursorKnown bool
	created     bool // the progress table exists
	sess        *streamSession
	sessPart    string
}

type markRecord struct {
	Table    string `json:"table"`
	Part     string `json:"partition"`
	FirstSeq uint64 `json:"first_seq"`
}

type markState struct {
	CompleteSeq uint64 `json:"complete_seq"`
}

func markKey(table, spec string) string { return "p/" + table + "/" + spec }

// load reads the entries and the floor an earlier run left.
func (b *markBook) load() error {
	b.entries = map[string]*markEntry{}
	v, ok, err := b.store.Get(b.ns, "mark")
	if err != nil {
		return err
	}
	if ok {
		var st markState
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("progress mark state: %w", err)
		}
		b.floor, b.have = st.CompleteSeq, true
	}
	return b.store.Scan(b.ns, "p/", func(key string, v []byte) error {
		var r markRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("progress entry %s: %w", key, err)
		}
		b.entries[key] = &markEntry{table: r.Table, spec: r.Part, lo: r.FirstSeq, hi: r.FirstSeq, unknownHi: true}
		return nil
	})
}

// touch notes that a row with seq goes to table partition spec, before it
// is sent: a new entry is recorded (synced) first.
func (b *markBook) touch(table, spec string, seq uint64) error {
	k := markKey(table, spec)
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[k]
	if e != nil && seq >= e.lo {
		e.hi, e.touched = max(e.hi, seq), true
		return nil
	}
	if e == nil && b.have && seq <= b.floor {
		return nil // a replay of rows marked already: copies with the same _seq
	}
	v, err := json.Marshal(markRecord{Table: table, Part: spec, FirstSeq: seq})
	if err != nil {
		return err
	}
	if err := b.store.Put(b.ns, k, v); err != nil {
		return fmt.Errorf("recording progress entry %s: %w", k, err)
	}
	if e == nil {
		b.entries[k] = &markEntry{table: table, spec: spec, lo: seq, hi: seq, touched: true}
	} else {
		e.lo, e.touched = seq, true // a redelivery after a refusal
	}
	return nil
}

// note raises the last seq of the entries a batch wrote (before it is
// acknowledged).
func (b *markBook) note(span map[streamKey]*markSpan) {
	if len(span) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, sp := range span {
		if e := b.entries[markKey(sp.table, sp.spec)]; e != nil {
			e.hi = max(e.hi, sp.hi)
		}
	}
}

// setCursor: the log delivers from cursor+1 in this process; rows an
// earlier one wrote into reopened entries are at most cursor.
func (b *markBook) setCursor(cursor uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cursorKnown = true
	for _, e := range b.entries {
		if e.unknownHi {
			e.hi, e.unknownHi = max(e.hi, cursor), false
		}
	}
}

// next returns the mark to write for complete (acked: the acknowledged
// seq), or false when there is none to write.
func (b *markBook) next(complete, acked uint64) (Mark, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if complete == 0 || (b.have && complete <= b.floor) {
		return Mark{}, false
	}
	m := Mark{CompleteSeq: complete, FloorSeq: b.floor, WrittenAt: time.Now()}
	if !b.have {
		// The first mark: rows an earlier version acknowledged are in
		// partitions nobody noted, so the floor is complete_seq itself,
		// and only once no snapshot row below the cursor is held back.
		if complete < acked || !b.cursorKnown {
			return Mark{}, false
		}
		m.FloorSeq = complete
	}
	for _, e := range b.entries {
		if e.unknownHi {
			return Mark{}, false // before the first batch of this process
		}
		if e.hi <= m.FloorSeq {
			continue // kept open while the partition is busy, nothing above the floor
		}
		m.Partitions = append(m.Partitions, MarkPartition{Table: e.table, Partition: e.spec, FirstSeq: e.lo, LastSeq: e.hi})
	}
	sort.Slice(m.Partitions, func(i, j int) bool {
		a, c := m.Partitions[i], m.Partitions[j]
		return a.Table < c.Table || a.Table == c.Table && a.Partition < c.Partition
	})
	return m, true
}

// written records that m is in the progress table: its complete_seq is
// the next floor, and entries it covers completely are closed.
func (b *markBook) written(m Mark) error {
	v, err := json.Marshal(markState{CompleteSeq: m.CompleteSeq})
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.store.Put(b.ns, "mark", v); err != nil {
		return err
	}
	b.floor, b.have = m.CompleteSeq, true
	for k, e := range b.entries {
		switch {
		case e.unknownHi || e.hi > m.CompleteSeq:
		case e.touched:
			// Busy: kept open (a Put saved per interval), with nothing
			// above the next floor yet.
			e.touched = false
		default:
			if err := b.store.Put(b.ns, k, nil); err != nil {
				return err
			}
			delete(b.entries, k)
		}
	}
	return nil
}

// markSpan is the seqs of one batch's rows in a table partition.
type markSpan struct {
	table, spec string
	hi          uint64
}

// completeSeq is the seq up to which every change is visible: the
// acknowledged seq, below the first row of any uncommitted snapshot block
// (read after it: a session's low is set before its rows are acknowledged
// and cleared after its commit) or of a refused session (set before the
// session's low is cleared).
func (s *Sink) completeSeq() (complete, acked uint64) {
	s.ack.mu.Lock()
	acked = s.ack.ackedSeq
	s.ack.mu.Unlock()
	complete = acked
	s.bulk.mu.Lock()
	for _, bs := range s.bulk.sessions {
		if l := bs.low.Load(); l != 0 {
			complete = min(complete, l-1)
		}
	}
	for _, l := range s.bulk.lost {
		complete = min(complete, l.first-1)
	}
	s.bulk.mu.Unlock()
	return complete, acked
}

// markLoop writes a mark every progress_interval.
func (s *Sink) markLoop() {
	t := time.NewTicker(s.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.writeMark(s.ctx); err != nil && s.ctx.Err() == nil {
				s.lg.Warn("maxcompute: writing a progress mark (retried at the next interval)", "table", s.cfg.ProgressTable, "err", err)
			}
		}
	}
}

// writeMark writes the next mark, if complete_seq moved.
func (s *Sink) writeMark(ctx context.Context) error {
	b := &s.marks
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	m, ok := b.next(s.completeSeq())
	if !ok {
		return nil
	}
	if err := s.putMark(ctx, m); err != nil {
		return err
	}
	return b.written(m)
}

// putMark writes one mark row into the progress table (created on first
// use) through a stream session of the hour's partition.
func (s *Sink) putMark(ctx context.Context, m Mark) error {
	b := &s.marks
	tg, err := progressTarget(s.cfg.ProgressTable)
	if err != nil {
		return err
	}
	if !b.created {
		name := schema.Quote(s.cfg.ProgressTable)
		if s.cfg.Schema != "" {
			name = schema.Quote(s.cfg.Schema) + "." + name
		}
		name = schema.Quote(s.cfg.Project) + "." + name
		sql := "CREATE TABLE IF NOT EXISTS " + name + " (\n" +
			"  `complete_seq` BIGINT COMMENT 'every change with a _seq up to it is committed and visible',\n" +
			"  `floor_seq` BIGINT COMMENT 'partitions lists every table partition holding a change above it',\n" +
			"  `partitions` STRING COMMENT 'JSON: table, partition, first_seq, last_seq',\n" +
			"  `written_at` TIMESTAMP COMMENT 'when the mark was written'\n" +
			")\nCOMMENT '" + ProgressComment + " (docs/maxcompute.md)'\n" +
			"PARTITIONED BY (`ds` STRING)"
		if err := s.cat.exec(ctx, sql); err != nil {
			return fmt.Errorf("creating progress table %s: %w", s.cfg.ProgressTable, err)
		}
		b.created = true
	}
	parts, err := json.Marshal(m.Partitions)
	if err != nil {
		return err
	}
	if m.Partitions == nil {
		parts = []byte("[]")
	}
	lay := newLayout(tg)
	enc := newEncoder(lay, 256+len(parts))
	if err := enc.Append([]event.Value{event.Int(int64(m.CompleteSeq)), event.Int(int64(m.FloorSeq)),
		event.String(string(parts)), event.TimestampMicros(m.WrittenAt.UnixMicro())}); err != nil {
		return err
	}
	body, err := s.codec.compress(enc.Finish())
	if err != nil {
		return err
	}
	tun, err := s.tunnel(ctx)
	if err != nil {
		return err
	}
	spec := "ds=" + m.WrittenAt.UTC().Format("2006010215")
	if b.sess == nil || b.sessPart != spec {
		sess, err := tun.createStream(ctx, s.cfg.ProgressTable, spec)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == 404 {
				b.created = false // dropped meanwhile: created again next time
			}
			return err
		}
		if err := fits(sess.cols, lay); err != nil {
			return fmt.Errorf("progress table %s: %w", s.cfg.ProgressTable, err)
		}
		b.sess, b.sessPart = sess, spec
	}
	if err := tun.putPack(ctx, b.sess, body, 1); err != nil {
		b.sess = nil
		return err
	}
	s.lg.Debug("maxcompute: progress mark", "complete_seq", m.CompleteSeq, "floor_seq", m.FloorSeq, "partitions", len(m.Partitions))
	return nil
}
