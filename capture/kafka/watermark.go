package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// This file is the ordering core of the Kafka source, free of Kafka I/O:
// the merger takes decoded messages per partition and hands events to the
// log (emit) in the order and with the checkpoints described below. It is
// modelled on TiCDC's kafka-consumer (watermark per partition, rows
// grouped and resolved at the global watermark, DDL after the rows before
// it, rows older than a watermark dropped as replays).
//
// Invariants (watermark ordering):
//
//  1. A row or DDL is emitted only when the global watermark W (minimum of
//     the assigned partitions' watermarks) is >= its CommitTs; emitted rows
//     are in (CommitTs, arrival) order, one transaction per CommitTs
//     (TxnEnd on its last event). A DDL therefore follows every row
//     committed before it and precedes every row committed after it.
//  2. Every emit carries a checkpoint that is consistent with the events
//     emitted so far: per partition, Offset is the lowest offset of a
//     message with a row not yet emitted (or the next offset to read), and
//     Released = the W up to which everything was emitted. Restarting from
//     it re-reads exactly the messages with unemitted rows and drops the
//     rows (CommitTs <= Released) that are already in the log.
//  3. A row whose CommitTs is below the partition's watermark, or below a
//     row of the same table already read from the partition, is a TiCDC
//     replay (at-least-once resend) and is dropped; so are copies of a
//     broadcast DDL (open-protocol) that is already buffered.
//  4. Memory: rows wait in a heap; when it holds more than MaxBufferBytes,
//     the partitions whose watermark is ahead of W are paused (the fetchers
//     stop), so only the lagging partitions — the ones that can raise W —
//     are read.
//
// With offset ordering every message is emitted as it is read, in offset
// order per partition, and the checkpoint is the next offset to read.

// tp names a partition.
type tp struct {
	topic     string
	partition int
}

func (t tp) String() string { return t.topic + "/" + strconv.Itoa(t.partition) }

// message is one read Kafka message, decoded (or failed).
type message struct {
	offset int64
	time   time.Time
	units  []codec.Decoded
	// size approximates the memory the decoded units hold.
	size int64
	// err makes the message a bad one (decode failure, unreadable large
	// message); key and value are kept for the dead-letter destination.
	err        error
	key, value []byte
}

// partState is the merger's view of one assigned partition.
type partState struct {
	tp   tp
	file string // "topic/partition", the event position file
	// next is the offset after the last message handed to the merger.
	next int64
	// wm is the partition's watermark (max seen; after a restart it starts
	// at rel).
	wm uint64
	// rel: rows of this partition with CommitTs <= rel are in the log.
	rel uint64
	// lastWM is the highest watermark read and lastWMAt the offset of the
	// message that carried it (stored in the checkpoint).
	lastWM   uint64
	lastWMAt int64
	// wmPending is a stored watermark that becomes the partition's
	// watermark once the messages before its offset wmAt were read again
	// (they may hold rows that are not in the log yet).
	wmPending uint64
	wmAt      int64
	// pending holds the messages with rows still buffered, ascending offsets.
	pending []*msgRef
	// high is the highest CommitTs read per table, with the fingerprints
	// of the rows read at that CommitTs (replay detection).
	high map[event.TableID]*highMark
	// paused is set by the merger for backpressure; the fetcher waits.
	gate *gate
	// free returns fetched message slices from the merger to the fetcher.
	free chan []message
	// dead are quarantine rows of bad messages, logged with the first
	// checkpoint that moves past their message (so exactly once).
	dead []deadEvent
	// spilled holds, per spill run with items of this partition, the
	// lowest offset of their messages (see spill.go).
	spilled map[*spillRun]int64
}

// takeMsgs returns an empty message slice for a fetch of about n
// messages: one the merger handed back when it is large enough.
func (p *partState) takeMsgs(n int) []message {
	select {
	case msgs := <-p.free:
		if cap(msgs) >= n {
			return msgs
		}
	default:
	}
	return make([]message, 0, n)
}

// recycle hands a fetch's message slice back once the merger is done with
// it (add keeps the units' events, never the messages). The slice is
// cleared: it must not keep the events, keys and values alive.
func (p *partState) recycle(msgs []message) {
	if p.free == nil {
		return
	}
	clear(msgs)
	select {
	case p.free <- msgs[:0]:
	default:
	}
}

type deadEvent struct {
	offset int64
	ev     event.Event
}

// highMark is a table's latest CommitTs in a partition and the rows seen at it.
type highMark struct {
	ts   uint64
	rows fpSet
}

// seen reports whether a row change at ts was already read (a replay),
// and records it otherwise.
func (h *highMark) seen(ts uint64, e *event.Event) bool {
	if ts > h.ts {
		h.ts = ts
		h.rows.reset()
	}
	return !h.rows.add(fingerprint(e))
}

// fingerprint hashes a row change's operation and key (all columns when
// the table has no key). TiCDC sends at most one change per row and
// transaction, so (table, commitTs, fingerprint) identifies a change.
func fingerprint(e *event.Event) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= prime
		}
		h ^= 0xff
		h *= prime
	}
	var buf [64]byte
	mix([]byte{byte(e.Op)})
	img := e.Row()
	if e.Op == event.OpUpdate && e.After != nil {
		img = e.After
	}
	if e.Table != nil && len(e.Table.Key) > 0 {
		for _, k := range e.Table.Key {
			if k < len(img) {
				mix(img[k].AppendText(buf[:0]))
			}
		}
	} else {
		for _, v := range img {
			mix(v.AppendText(buf[:0]))
		}
	}
	return h
}

// msgRef counts a message's buffered units.
type msgRef struct {
	offset    int64
	remaining int
	part      *partState
}

// resume sets the partition's state from a stored position.
func (p *partState) resume(pc PartitionCheckpoint) {
	p.next, p.rel, p.wm = pc.Offset, pc.Released, pc.Released
	p.lastWM, p.lastWMAt = pc.Watermark, pc.WatermarkOffset
	if pc.Watermark > pc.Released {
		if pc.WatermarkOffset < pc.Offset {
			// Every message before Offset is in the log, the watermark's too.
			p.wm = pc.Watermark
		} else {
			p.wmPending, p.wmAt = pc.Watermark, pc.WatermarkOffset
		}
	}
}

// offset returns the partition's checkpoint offset: the lowest offset of
// a message with buffered units (in memory or spilled), else the next
// offset to read.
func (p *partState) offset() int64 {
	for len(p.pending) > 0 && p.pending[0].remaining == 0 {
		p.pending[0] = nil
		p.pending = p.pending[1:]
	}
	o := p.next
	if len(p.pending) > 0 {
		o = p.pending[0].offset
	}
	for _, s := range p.spilled {
		o = min(o, s)
	}
	return o
}

// item is one buffered unit (a row group or a DDL) waiting for the watermark.
type item struct {
	ts     uint64
	seq    uint64
	events []event.Event
	msg    *msgRef
	size   int64
	ddl    *ddlKey
}

// itemHeap orders items by (ts, seq). Items are held by value: no
// allocation per buffered unit, and comparisons read contiguous memory.
type itemHeap []item

func (h itemHeap) less(i, j int) bool {
	if h[i].ts != h[j].ts {
		return h[i].ts < h[j].ts
	}
	return h[i].seq < h[j].seq
}

func (h *itemHeap) push(it item) {
	*h = append(*h, it)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *itemHeap) pop() item {
	s := *h
	n := len(s) - 1
	top := s[0]
	s[0] = s[n]
	s[n] = item{}
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	if cap(s) > 1024 && n < cap(s)/4 {
		// The buffer drained: let a burst's backing array go.
		*h = append(make(itemHeap, 0, max(2*n, 1024)), s...)
	}
	return top
}

// ddlKey identifies a DDL across the partitions it is broadcast to.
type ddlKey struct {
	ts  uint64
	sql string
	id  event.TableID
}

// BadMessageError is a message the source cannot use: it names the topic,
// partition, offset and cause.
type BadMessageError struct {
	Topic     string
	Partition int
	Offset    int64
	Err       error
}

func (e *BadMessageError) Error() string {
	return fmt.Sprintf("ticdc: bad message at topic %s partition %d offset %d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

func (e *BadMessageError) Unwrap() error { return e.Err }

// Is makes the error permanent (event.ErrPermanent): reading the partition
// again meets the same message.
func (e *BadMessageError) Is(target error) bool { return target == event.ErrPermanent }

// maxEmitBytes caps (approximately, by the buffered size of the items) the
// events of one emit beside mergerConfig.maxEmit: rows of ~1 KB make a
// 10000-event emit ~10 MB, which the pipeline's queue then holds too.
const maxEmitBytes = 4 << 20

// emitFunc hands events and their checkpoint to the log (pipeline.Source's emit).
type emitFunc func(ctx context.Context, events []event.Event, checkpoint []byte) error

// deadLetterFunc records a bad message; it returns events to log (a
// quarantine row) or none (sent to a topic).
type deadLetterFunc func(ctx context.Context, p *partState, m *message) ([]event.Event, error)

// mergerConfig is what the merger needs from the source.
type mergerConfig struct {
	ordering   string
	protocol   string
	group      string
	maxBuffer  int64
	maxEmit    int
	cpInterval time.Duration
	stallWarn  time.Duration
	capture    func(event.TableID) bool
	deadLetter deadLetterFunc // nil: stop on bad messages
	log        *slog.Logger
	// spill enables spilling buffered rows to run files in spillDir ("":
	// the system's temporary directory) past spillThreshold × maxBuffer.
	spill    bool
	spillDir string
	// free, when set, holds emitted slices handed back for reuse.
	free <-chan []event.Event
}

// mergerStats counts what the merger did.
type mergerStats struct {
	Messages, Rows, DDL, Watermarks, Skipped   uint64
	Duplicates, DDLCopies, Filtered, BadMsgs   uint64
	Emitted, Emits                             uint64
	Released                                   uint64
	BufferedBytes, BufferedItems, PeakBufBytes int64
	// Spills counts the spill runs written, SpilledItems their items,
	// SpilledBytes is what the open runs hold (not in BufferedBytes).
	Spills, SpilledItems uint64
	SpilledBytes         int64
}

// merger orders decoded messages into log appends.
type merger struct {
	cfg   mergerConfig
	emit  emitFunc
	parts []*partState
	// base holds the checkpoint entries of partitions not assigned now;
	// they stay in every checkpoint (a later assignment resumes from them).
	base map[tp]PartitionCheckpoint

	heap     itemHeap
	seq      uint64
	bufBytes int64
	// runs are the spilled items (spill.go), spilledBytes their size.
	runs         runHeap
	spilledBytes int64
	spiller      *spiller
	ddls         map[ddlKey]bool
	released     uint64 // W of the last release
	out          []event.Event
	outBytes     int64 // the buffered size of the items in out
	dirty        bool  // progress not yet in an emitted checkpoint
	lastCP       time.Time
	// lastAdvance is when W last advanced (stall warnings).
	lastAdvance, lastStallWarn time.Time
	paused                     bool
	stats                      mergerStats
	// lastEmitted is the last checkpoint handed to emit.
	lastEmitted *Checkpoint
	// publish, when set, receives the stats after every release.
	publish func(mergerStats)
}

func newMerger(cfg mergerConfig, emit emitFunc, parts []*partState, base map[tp]PartitionCheckpoint) *merger {
	m := &merger{cfg: cfg, emit: emit, parts: parts, base: base, ddls: map[ddlKey]bool{}, lastCP: time.Now(), lastAdvance: time.Now()}
	for _, p := range parts {
		delete(m.base, p.tp)
		if p.high == nil {
			p.high = map[event.TableID]*highMark{}
		}
	}
	if len(parts) > 0 {
		m.released = parts[0].rel
		for _, p := range parts[1:] {
			m.released = min(m.released, p.rel)
		}
	}
	return m
}

func (m *merger) watermarkMode() bool { return m.cfg.ordering == OrderingWatermark }

// add processes messages read from one partition, in offset order.
func (m *merger) add(ctx context.Context, p *partState, msgs []message) error {
	for i := range msgs {
		msg := &msgs[i]
		m.stats.Messages++
		if msg.offset >= p.next {
			p.next = msg.offset + 1
		}
		if p.wmPending != 0 && msg.offset >= p.wmAt {
			p.wm = max(p.wm, p.wmPending)
			p.wmPending = 0
		}
		m.dirty = true
		if msg.err == nil && m.watermarkMode() {
			msg.err = checkOrdered(msg.units)
		}
		if msg.err != nil {
			var err error
			if m.cfg.deadLetter == nil {
				m.stats.BadMsgs++
				err = &BadMessageError{Topic: p.tp.topic, Partition: p.tp.partition, Offset: msg.offset, Err: msg.err}
			} else {
				err = m.bad(ctx, p, msg)
			}
			if err != nil {
				return m.stopAt(ctx, p, msg, err)
			}
			continue
		}
		if m.watermarkMode() {
			m.addOrdered(p, msg)
		} else {
			m.addInOrder(p, msg)
		}
	}
	return nil
}

// checkOrdered rejects row and DDL units without a commitTs: they cannot
// be ordered by watermark.
func checkOrdered(units []codec.Decoded) error {
	for i := range units {
		if (units[i].Kind == codec.KindRow || units[i].Kind == codec.KindDDL) && units[i].CommitTs == 0 {
			return errors.New("the message has no commitTs, so it cannot be ordered by watermark: enable the TiDB extension on the changefeed (enable-tidb-extension=true) or set ordering: offset (degraded mode, see docs/kafka.md)")
		}
	}
	return nil
}

// stopAt ends the source at a bad message it cannot get past (on_error:
// stop, or a dead letter that cannot be written). The changes ordered
// before the message are delivered first: with offset ordering every
// change of the messages before it, with watermark ordering every buffered
// change the watermarks read so far release (a row above them cannot be
// ordered yet). The checkpoint emitted with them points at or before the
// bad message, so a restart re-reads it and stops again, promptly.
func (m *merger) stopAt(ctx context.Context, p *partState, msg *message, cause error) error {
	// The bad message is not consumed: the checkpoint stays at it.
	p.next = msg.offset
	if err := m.release(ctx, true); err != nil {
		return fmt.Errorf("%w (and delivering the changes before it failed: %v)", cause, err)
	}
	return cause
}

// bad applies on_error: dead_letter.
func (m *merger) bad(ctx context.Context, p *partState, msg *message) error {
	m.stats.BadMsgs++
	evs, err := m.cfg.deadLetter(ctx, p, msg)
	if err != nil {
		return fmt.Errorf("ticdc: topic %s partition %d offset %d: dead letter: %w (the message was bad: %v)", p.tp.topic, p.tp.partition, msg.offset, err, msg.err)
	}
	m.cfg.log.Warn("bad message sent to the dead-letter destination", "topic", p.tp.topic, "partition", p.tp.partition, "offset", msg.offset, "cause", msg.err)
	for _, e := range evs {
		p.dead = append(p.dead, deadEvent{offset: msg.offset, ev: e})
	}
	return nil
}

// filter keeps the captured events of a unit (in place).
func (m *merger) filter(evs []event.Event) []event.Event {
	if m.cfg.capture == nil {
		return evs
	}
	out := evs[:0]
	for i := range evs {
		if m.cfg.capture(evs[i].Source) {
			out = append(out, evs[i])
		}
	}
	if len(out) < len(evs) {
		m.stats.Filtered += uint64(len(evs) - len(out))
		clear(evs[len(out):])
	}
	return out
}

// addInOrder emits a message's changes right away (offset ordering).
func (m *merger) addInOrder(p *partState, msg *message) {
	start := len(m.out)
	for i := range msg.units {
		u := &msg.units[i]
		switch u.Kind {
		case codec.KindRow, codec.KindDDL:
			evs := m.filter(u.Events)
			if u.Kind == codec.KindDDL {
				m.stats.DDL += uint64(len(evs))
			} else {
				m.stats.Rows += uint64(len(evs))
			}
			m.out = append(m.out, evs...)
		case codec.KindWatermark:
			m.stats.Watermarks++
			p.lastWM = max(p.lastWM, u.Watermark)
		default:
			m.stats.Skipped++
		}
	}
	// Each message is a transaction, except Maxwell rows, whose decoder
	// marks the commit of multi-row transactions itself.
	if len(m.out) > start && m.cfg.protocol != codec.ProtocolMaxwell {
		m.out[len(m.out)-1].TxnEnd = true
	}
}

// addOrdered buffers a message's changes until the watermark passes them.
func (m *merger) addOrdered(p *partState, msg *message) {
	ref := &msgRef{offset: msg.offset, part: p}
	nUnits := 0
	for i := range msg.units {
		if k := msg.units[i].Kind; k == codec.KindRow || k == codec.KindDDL {
			nUnits++
		}
	}
	for i := range msg.units {
		u := &msg.units[i]
		switch u.Kind {
		case codec.KindWatermark:
			m.stats.Watermarks++
			if u.Watermark > p.lastWM {
				p.lastWM, p.lastWMAt = u.Watermark, msg.offset
			}
			if u.Watermark > p.wm {
				p.wm = u.Watermark
			}
			continue
		case codec.KindSkip:
			m.stats.Skipped++
			continue
		}
		ts := u.CommitTs
		if ts <= p.rel || ts < p.wm {
			// Already in the log (re-read after a restart), or a TiCDC
			// replay below the partition's watermark.
			m.stats.Duplicates += uint64(len(u.Events))
			continue
		}
		var dk *ddlKey
		evs := u.Events
		if u.Kind == codec.KindRow {
			if len(evs) > 0 {
				id := evs[0].Source
				h := p.high[id]
				if h == nil {
					h = &highMark{}
					p.high[id] = h
				}
				if ts < h.ts {
					m.stats.Duplicates += uint64(len(evs))
					continue
				}
				kept := evs[:0]
				for j := range evs {
					if h.seen(ts, &evs[j]) {
						m.stats.Duplicates++
						continue
					}
					kept = append(kept, evs[j])
				}
				evs = kept
			}
		} else if len(u.Events) > 0 {
			k := ddlKey{ts: ts, sql: u.Events[0].DDL, id: u.Events[0].Source}
			if m.ddls[k] {
				m.stats.DDLCopies++
				continue
			}
			dk = &k
		}
		evs = m.filter(evs)
		if len(evs) == 0 {
			continue
		}
		if dk != nil {
			m.ddls[*dk] = true
		}
		size := msg.size / int64(max(nUnits, 1))
		if size <= 0 {
			size = eventsBytes(evs)
		}
		m.seq++
		m.heap.push(item{ts: ts, seq: m.seq, events: evs, msg: ref, size: size, ddl: dk})
		ref.remaining++
		m.bufBytes += size
		m.stats.BufferedItems++
	}
	if ref.remaining > 0 {
		p.pending = append(p.pending, ref)
	}
	m.stats.BufferedBytes = m.bufBytes
	m.stats.PeakBufBytes = max(m.stats.PeakBufBytes, m.bufBytes)
}

// eventsBytes approximates the memory of events (event.MemSize).
func eventsBytes(evs []event.Event) int64 {
	n := int64(0)
	for i := range evs {
		n += evs[i].MemSize()
	}
	return n
}

// watermark returns W, the minimum watermark of the assigned partitions.
func (m *merger) watermark() uint64 {
	if len(m.parts) == 0 {
		return 0
	}
	w := m.parts[0].wm
	for _, p := range m.parts[1:] {
		w = min(w, p.wm)
	}
	return w
}

// release emits what the watermark allows, then a checkpoint when one is
// due. force emits a checkpoint even without new events.
func (m *merger) release(ctx context.Context, force bool) error {
	if m.watermarkMode() {
		w := m.watermark()
		if w > m.released {
			m.lastAdvance = time.Now()
			for {
				ts, _, ok := m.next()
				if !ok || ts > w {
					break
				}
				for {
					nts, fromRun, ok := m.next()
					if !ok || nts != ts {
						break
					}
					if m.out == nil {
						// Room for what may be released, up to an emit
						// and a quarter (a transaction may run past the
						// flush threshold): growing it by appends copies
						// the events again and again, and twice the room
						// doubles what every emit allocates.
						n := min(m.cfg.maxEmit+m.cfg.maxEmit/4, int(m.stats.BufferedItems)+16)
						if len(m.heap) > 0 {
							if avg := m.bufBytes / int64(len(m.heap)); avg > 0 {
								n = min(n, int(maxEmitBytes/avg)*5/4+16)
							}
						}
						m.out = m.outSlice(n)
					}
					it, err := m.pop(fromRun)
					if err != nil {
						return fatal(err)
					}
					m.out = append(m.out, it.events...)
					m.outBytes += it.size
					m.stats.BufferedItems--
					if it.ddl != nil {
						delete(m.ddls, *it.ddl)
						m.stats.DDL++
					} else {
						m.stats.Rows += uint64(len(it.events))
					}
					if len(m.out) >= 2*m.cfg.maxEmit || m.outBytes >= 2*maxEmitBytes {
						if nts, _, more := m.next(); more && nts == ts {
							// A huge transaction: hand over a chunk that
							// commits with the transaction's last one.
							if err := m.flushChunk(ctx); err != nil {
								return err
							}
						}
					}
				}
				if len(m.out) > 0 {
					m.out[len(m.out)-1].TxnEnd = true
				}
				if len(m.out) >= m.cfg.maxEmit || m.outBytes >= maxEmitBytes {
					if err := m.flush(ctx, ts); err != nil {
						return err
					}
				}
			}
			m.released = w
			m.dirty = true
			m.stats.Released = w
		}
		if m.cfg.spill && float64(m.bufBytes) > spillThreshold*float64(m.cfg.maxBuffer) && len(m.heap) > 0 {
			if err := m.spill(); err != nil {
				return fatal(err)
			}
		}
		m.stats.BufferedBytes, m.stats.SpilledBytes = m.bufBytes, m.spilledBytes
		m.backpressure()
		m.stallCheck(w)
	}
	if len(m.out) > 0 || (m.dirty && (force || time.Since(m.lastCP) >= m.cfg.cpInterval)) {
		if err := m.flush(ctx, m.released); err != nil {
			return err
		}
	}
	if m.publish != nil {
		m.publish(m.stats)
	}
	return nil
}

// flush emits m.out with the checkpoint after it; rel is the watermark up
// to which everything is emitted.
func (m *merger) flush(ctx context.Context, rel uint64) error {
	if m.watermarkMode() {
		for _, p := range m.parts {
			p.rel = max(p.rel, rel)
			for _, h := range p.high {
				if h.ts <= p.rel && h.rows.n > 0 {
					// Rows at or below rel are dropped as already in
					// the log before their fingerprints are looked at:
					// a big transaction's set can go.
					h.rows.reset()
				}
			}
		}
	}
	cp := m.checkpoint()
	for _, p := range m.parts {
		n := 0
		for n < len(p.dead) && p.dead[n].offset < p.offset() {
			m.out = append(m.out, p.dead[n].ev)
			n++
		}
		p.dead = p.dead[n:]
	}
	out := m.out
	m.out, m.outBytes = nil, 0
	if err := m.emit(ctx, out, cp.Encode()); err != nil {
		return fatal(err)
	}
	m.stats.Emitted += uint64(len(out))
	m.stats.Emits++
	m.dirty = false
	m.lastCP = time.Now()
	m.lastEmitted = &cp
	return nil
}

// outSlice returns an empty slice with room for n events: one the pipeline
// handed back when it is big enough, else a new one (rounded up, so that
// the next emits, sized a little differently, can reuse it).
func (m *merger) outSlice(n int) []event.Event {
	select {
	case out := <-m.cfg.free:
		if cap(out) >= n {
			return out[:0]
		}
	default:
	}
	if m.cfg.free != nil {
		n = (n + 1023) &^ 1023
	}
	return make([]event.Event, 0, n)
}

// flushChunk emits part of a transaction without a checkpoint.
func (m *merger) flushChunk(ctx context.Context) error {
	out := m.out
	m.out, m.outBytes = nil, 0
	if err := m.emit(ctx, out, nil); err != nil {
		return fatal(err)
	}
	m.stats.Emitted += uint64(len(out))
	return nil
}

// checkpoint builds the current checkpoint.
func (m *merger) checkpoint() Checkpoint {
	cp := Checkpoint{Kind: checkpointKind, Group: m.cfg.group}
	for _, b := range m.base {
		cp.Partitions = append(cp.Partitions, b)
	}
	first := true
	for _, p := range m.parts {
		pc := PartitionCheckpoint{Topic: p.tp.topic, Partition: p.tp.partition, Offset: p.offset(), Watermark: p.lastWM}
		if m.watermarkMode() {
			pc.Released = p.rel
			if p.lastWM > p.rel {
				pc.WatermarkOffset = p.lastWMAt
			}
			if first || p.rel < cp.Released {
				cp.Released = p.rel
			}
			first = false
		}
		cp.Partitions = append(cp.Partitions, pc)
	}
	sortPartitions(cp.Partitions)
	return cp
}

// backpressure pauses the partitions whose watermark is ahead while the
// buffer is over its bound, and resumes them below 3/4 of it.
func (m *merger) backpressure() {
	switch {
	case m.bufBytes+m.spilledBytes > m.cfg.maxBuffer:
		w := m.watermark()
		for _, p := range m.parts {
			p.gate.set(p.wm > w)
		}
		if !m.paused {
			m.cfg.log.Info("row buffer full: pausing the partitions ahead of the watermark", "buffered_bytes", m.bufBytes, "max_buffer_bytes", m.cfg.maxBuffer, "watermark", w)
		}
		m.paused = true
	case m.paused && m.bufBytes+m.spilledBytes < m.cfg.maxBuffer/4*3:
		for _, p := range m.parts {
			p.gate.set(false)
		}
		m.paused = false
	}
}

// stallCheck warns when rows wait for a watermark that does not advance.
func (m *merger) stallCheck(w uint64) {
	if len(m.heap) == 0 && len(m.runs) == 0 || time.Since(m.lastAdvance) < m.cfg.stallWarn || time.Since(m.lastStallWarn) < m.cfg.stallWarn {
		return
	}
	m.lastStallWarn = time.Now()
	var lagging []string
	for _, p := range m.parts {
		if p.wm == w {
			lagging = append(lagging, p.tp.String())
		}
	}
	m.cfg.log.Warn("rows are waiting for the watermark, which has not advanced; check that TiCDC sends watermarks to these partitions (and that every topic read is a TiCDC topic)",
		"waiting", time.Since(m.lastAdvance).Round(time.Second), "watermark", w, "lagging_partitions", lagging, "buffered_bytes", m.bufBytes)
}

// gate pauses a partition's fetcher.
type gate struct {
	ch     chan struct{}
	paused bool
	mu     chan struct{}
}

func newGate() *gate {
	g := &gate{ch: make(chan struct{}), mu: make(chan struct{}, 1)}
	close(g.ch)
	return g
}

// set pauses or resumes.
func (g *gate) set(paused bool) {
	g.mu <- struct{}{}
	defer func() { <-g.mu }()
	if paused == g.paused {
		return
	}
	g.paused = paused
	if paused {
		g.ch = make(chan struct{})
	} else {
		close(g.ch)
	}
}

// wait blocks while paused.
func (g *gate) wait(ctx context.Context) error {
	g.mu <- struct{}{}
	ch := g.ch
	<-g.mu
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
