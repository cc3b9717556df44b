package kafka

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/odsync/odsync/event"
)

// Spilling bounds the merger's memory when rows wait for a watermark that
// cannot come soon: a transaction bigger than max_buffer_bytes (its rows
// are released together, once every partition's watermark passed its
// commitTs), or a partition whose watermark lags while it keeps sending
// rows. When the buffered items exceed 1.5 × max_buffer_bytes, the
// merger writes them, in (CommitTs, arrival) order, as a run appended to
// its spill file and frees them; releasing merges the runs and the
// in-memory heap by (CommitTs, arrival), which is the order without
// spilling, so the log receives exactly the same events, transactions and
// checkpoints.
//
// The spill file is created in the spill directory (state.dir/spill) and
// unlinked at once: nothing is left behind by a crash, and nothing in it
// needs to survive one (a restart re-reads the messages from the
// checkpoint, whose offsets stay at or before every spilled item's
// message: see partState.spilled). It is truncated once every run is
// drained.

// spillRun is one run: items in (ts, seq) order, a section of the
// spill file.
type spillRun struct {
	r    *bufio.Reader
	left int   // items not yet popped (the head included)
	size int64 // buffered size of the items not yet popped
	head item  // the next item, when left > 0
	// minOff is, per partition, the lowest offset of a message with an
	// item in the run: the partition's checkpoint offset stays at or
	// before it until the run is drained.
	minOff map[*partState]int64
	buf    []byte
}

// spiller writes runs to one file (appended to; truncated once every run
// is drained) and reads them back.
type spiller struct {
	dir    string
	f      *os.File
	end    int64                   // the file's written length
	tables map[uint64]*event.Table // the schemas of spilled events, by Version
	buf    []byte                  // a record
	buf2   []byte                  // a record's body
	ev     []byte                  // an event
}

// spillThreshold is when the merger spills: its buffered items exceed
// this many times max_buffer_bytes.
const spillThreshold = 1.5

// spillReadBuffer is each run's read buffer: a 3M-row transaction over a
// 32MiB buffer makes ~125 runs.
const spillReadBuffer = 16 << 10

// file returns the spill file, created (and unlinked at once: it lives
// until closed) on first use.
func (s *spiller) file() (*os.File, error) {
	if s.f != nil {
		return s.f, nil
	}
	if s.dir != "" {
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, err
		}
	}
	f, err := os.CreateTemp(s.dir, "rows-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	s.f, s.end = f, 0
	return f, nil
}

// spill writes the heap to a new run and empties it.
func (m *merger) spill() error {
	if m.spiller == nil {
		m.spiller = &spiller{dir: m.cfg.spillDir, tables: map[uint64]*event.Table{}}
	}
	s := m.spiller
	fail := func(err error) error {
		return fmt.Errorf("ticdc: spill buffered rows to disk (%s): %w", s.dir, err)
	}
	f, err := s.file()
	if err != nil {
		return fail(err)
	}
	start := s.end
	r := &spillRun{minOff: map[*partState]int64{}}
	w := bufio.NewWriterSize(io.NewOffsetWriter(f, start), 256<<10)
	n, bytes := len(m.heap), m.bufBytes
	for len(m.heap) > 0 {
		it := m.heap.pop()
		s.buf = s.encode(s.buf[:0], &it)
		if _, err := w.Write(s.buf); err != nil {
			return fail(err)
		}
		s.end += int64(len(s.buf))
		if it.msg != nil {
			it.msg.remaining--
			if p := it.msg.part; p != nil {
				if o, ok := r.minOff[p]; !ok || it.msg.offset < o {
					r.minOff[p] = it.msg.offset
				}
			}
		}
		m.bufBytes -= it.size
		r.left++
		r.size += it.size
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	r.r = bufio.NewReaderSize(io.NewSectionReader(f, start, s.end-start), spillReadBuffer)
	if err := s.load(r); err != nil {
		return err
	}
	m.spilledBytes += r.size
	m.runs.push(r)
	for p, o := range r.minOff {
		if p.spilled == nil {
			p.spilled = map[*spillRun]int64{}
		}
		p.spilled[r] = o
	}
	for _, p := range m.parts {
		p.offset() // drop the spilled messages' references
	}
	m.stats.Spills++
	m.stats.SpilledItems += uint64(n)
	m.cfg.log.Info("row buffer over its bound while waiting for a watermark: spilled buffered rows to disk",
		"items", n, "bytes", bytes, "max_buffer_bytes", m.cfg.maxBuffer, "runs", len(m.runs), "spilled_bytes", m.spilledBytes)
	return nil
}

// runHeap orders runs by their head item's (ts, seq).
type runHeap []*spillRun

func (h runHeap) less(i, j int) bool {
	a, b := &h[i].head, &h[j].head
	return a.ts < b.ts || a.ts == b.ts && a.seq < b.seq
}

func (h *runHeap) push(r *spillRun) {
	*h = append(*h, r)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// fix restores the order after the first run's head changed, removing it
// when drained.
func (h *runHeap) fix() {
	s := *h
	if s[0].left == 0 {
		n := len(s) - 1
		s[0] = s[n]
		s[n] = nil
		s = s[:n]
		*h = s
	}
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			return
		}
		m := l
		if r := l + 1; r < len(s) && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			return
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

// Item encoding: a record is the uvarint length of its body, then the
// body: uvarint ts, seq, size; a DDL flag byte (1: followed by the DDL
// key's sql, db and table, each uvarint length and bytes); the uvarint
// event count; per event its uvarint length and event.AppendEvent bytes.
func (s *spiller) encode(b []byte, it *item) []byte {
	body := s.buf2[:0]
	body = binary.AppendUvarint(body, it.ts)
	body = binary.AppendUvarint(body, it.seq)
	body = binary.AppendUvarint(body, uint64(it.size))
	if it.ddl != nil {
		body = append(body, 1)
		for _, str := range []string{it.ddl.sql, it.ddl.id.DB, it.ddl.id.Table} {
			body = binary.AppendUvarint(body, uint64(len(str)))
			body = append(body, str...)
		}
	} else {
		body = append(body, 0)
	}
	body = binary.AppendUvarint(body, uint64(len(it.events)))
	for i := range it.events {
		e := &it.events[i]
		if t := e.Table; t != nil {
			s.tables[t.Version] = t
		}
		s.ev = event.AppendEvent(s.ev[:0], e)
		body = binary.AppendUvarint(body, uint64(len(s.ev)))
		body = append(body, s.ev...)
	}
	s.buf2 = body
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// errSpillCorrupt marks a run file that does not decode (a disk fault).
var errSpillCorrupt = errors.New("corrupt spill record")

// load reads the run's next item into r.head (r.left > 0).
func (s *spiller) load(r *spillRun) error {
	if r.left == 0 {
		r.head = item{}
		return nil
	}
	fail := func(err error) error {
		return fmt.Errorf("ticdc: read rows spilled to %s: %w", s.dir, err)
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return fail(err)
	}
	if n > 1<<31 {
		return fail(errSpillCorrupt)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		return fail(err)
	}
	d := spillDecoder{b: b}
	it := item{ts: d.uvarint(), seq: d.uvarint(), size: int64(d.uvarint())}
	if d.byte1() == 1 {
		k := ddlKey{ts: it.ts, sql: d.str()}
		k.id.DB, k.id.Table = d.str(), d.str()
		it.ddl = &k
	}
	cnt := d.uvarint()
	if d.err != nil || cnt > uint64(len(b)) {
		return fail(errSpillCorrupt)
	}
	it.events = make([]event.Event, cnt)
	lookup := func(v uint64) (*event.Table, error) {
		if t := s.tables[v]; t != nil {
			return t, nil
		}
		return nil, fmt.Errorf("%w: unknown table version %016x", errSpillCorrupt, v)
	}
	for i := range it.events {
		l := d.uvarint()
		if d.err != nil || l > uint64(len(d.b)) {
			return fail(errSpillCorrupt)
		}
		e, err := event.DecodeEvent(d.b[:l], lookup)
		if err != nil {
			return fail(err)
		}
		it.events[i] = e
		d.b = d.b[l:]
	}
	if d.err != nil || len(d.b) != 0 {
		return fail(errSpillCorrupt)
	}
	r.head = it
	return nil
}

// spillDecoder reads the fields of a record body.
type spillDecoder struct {
	b   []byte
	err error
}

func (d *spillDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errSpillCorrupt
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *spillDecoder) byte1() byte {
	if len(d.b) == 0 {
		d.err = errSpillCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *spillDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errSpillCorrupt
		d.b = nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// next returns the next item's ts in (ts, seq) order and whether it is
// in a run (else the heap); ok false when nothing is buffered.
func (m *merger) next() (ts uint64, fromRun, ok bool) {
	if len(m.heap) > 0 {
		ts, ok = m.heap[0].ts, true
	}
	if len(m.runs) > 0 {
		h := &m.runs[0].head
		if !ok || h.ts < ts || h.ts == ts && h.seq < m.heap[0].seq {
			return h.ts, true, true
		}
	}
	return ts, false, ok
}

// pop removes and returns the next item (next returned ok).
func (m *merger) pop(fromRun bool) (item, error) {
	if !fromRun {
		it := m.heap.pop()
		it.msg.remaining--
		m.bufBytes -= it.size
		return it, nil
	}
	r := m.runs[0]
	it := r.head
	r.left--
	r.size -= it.size
	m.spilledBytes -= it.size
	if err := m.spiller.load(r); err != nil {
		return it, err
	}
	if r.left == 0 {
		for p := range r.minOff {
			delete(p.spilled, r) // the checkpoint offsets it held back move on
		}
	}
	m.runs.fix()
	if len(m.runs) == 0 {
		m.spiller.reset()
	}
	return it, nil
}

// reset truncates the spill file once every run is drained.
func (s *spiller) reset() {
	if s.f != nil {
		_ = s.f.Truncate(0)
		s.end = 0
	}
}

// closeSpill drops the runs and closes the spill file (the assignment
// ended).
func (m *merger) closeSpill() {
	for _, r := range m.runs {
		for p := range r.minOff {
			delete(p.spilled, r)
		}
	}
	m.runs, m.spilledBytes = nil, 0
	if s := m.spiller; s != nil && s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
