package maxcompute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// The sink acknowledges later (sink.Acker, contract 6..10): the pipeline's
// log is its spool.
//
//   - Change rows go through stream packs as before; a batch whose change
//     rows are all stored (its packs answered) is acknowledged, in order,
//     without blocking the next WriteAck (the packs of several batches
//     upload at once, as several Writes did).
//   - Snapshot rows of a table partition are encoded into the partition's
//     open block, which spans batches: rows are compressed as they come
//     (the block holds its compressed body, not its rows), and the block is
//     cut at block_size encoded bytes, after commit_idle without rows, when
//     a change row or a schema change reaches the table, at Flush and at
//     Close. A cut block is written by the partition's block writer (one
//     at a time per partition, in order; block_writers partitions at once)
//     into the partition's upload session and recorded (bulk.go). A batch
//     is acknowledged once every snapshot row in it is in a recorded block.
//   - Replays: a partition's blocks hold its snapshot rows in log order, so
//     "every snapshot row of the partition up to seq N is in a recorded
//     block" (N: the highest last seq of its recorded blocks, open or
//     committed) tells a redelivered row apart whatever the batch cuts
//     (contract 9). Change rows are recognised by the _seq ranges their
//     packs recorded (progressBook, looked up by overlap).
//   - Any failure after rows of a batch were taken in refuses every batch
//     not yet acknowledged (contract 7): open and waiting blocks are dropped
//     (their rows are in the log), the block being written is not recorded,
//     and the pipeline delivers again from its cursor.
//
// Memory: the open blocks' compressed bodies (at most block_size in total:
// beyond it the biggest is cut early) and at most block_writers cut blocks
// waiting for or in upload.

// accepted is a batch taken in and not yet acknowledged.
type accepted struct {
	first, last uint64
	ack         sink.AckFunc
	taking      bool // WriteAck is still taking it in
	streams     bool // its change rows' packs are in flight
}

// openBlock is a block of one table partition being filled, or cut and
// waiting for its write.
type openBlock struct {
	key         streamKey
	col         string
	lay         *layout
	enc         *encoder
	zw          io.WriteCloser
	body        bytes.Buffer
	raw         int64 // encoded bytes
	rows        int64
	first, last uint64
	lastAppend  time.Time
	epoch       uint64
	commit      bool // commit the session once recorded (the snapshot paused)
	cut         bool
}

type ackState struct {
	writeMu sync.Mutex // one WriteAck at a time (Write may be called concurrently)

	mu       sync.Mutex
	acc      []*accepted
	open     map[streamKey]*openBlock
	live     map[*openBlock]bool // open and cut, not recorded nor dropped
	queued   int                 // cut blocks not recorded nor dropped
	buffered int64               // compressed bytes of live blocks
	upto     map[streamKey]uint64
	epoch    uint64
	failed   error
	ackedSeq uint64 // every batch up to it is acknowledged
	waiting  int    // batches whose packs are in flight
	// After a reset, batches handed out before the pipeline saw the
	// refusals (starting above refuseAbove, the first refused seq) are
	// refused too, until the redelivery from the cursor starts.
	refusing    bool
	refuseAbove uint64
	verified    bool // the sessions of an earlier run were checked
	writers     chan struct{}
	changed     chan struct{}
}

// errReset: the sink refused every batch not yet acknowledged.
var errReset = errors.New("maxcompute: batches refused after a failure; the pipeline delivers them again")

// maxStreamWaiting bounds the batches whose packs upload while WriteAck
// takes in the next ones.
const maxStreamWaiting = 16

var _ sink.Acker = (*Sink)(nil)

func (a *ackState) signal() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// waitLocked releases a.mu until something changed or ctx ends.
func (a *ackState) waitLocked(ctx context.Context) error {
	ch := a.changed
	a.mu.Unlock()
	defer a.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Write takes b in and waits until it is in MaxCompute (its snapshot rows
// in a recorded block: every open block is cut for it). The pipeline uses
// WriteAck; Write is the synchronous contract for tools and tests.
// A batch refused because the service dropped an upload session holding
// no acknowledged row (expired, table altered) is written again, as the
// pipeline would deliver it again.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	for attempt := 0; ; attempt++ {
		done := make(chan error, 1)
		if err := s.WriteAck(ctx, b, func(err error) { done <- err }); err != nil {
			return err
		}
		s.Flush(ctx)
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err == nil || !errors.Is(err, errRenew) || attempt >= 3 {
			return err
		}
	}
}

// Flush cuts every open block: the acknowledgements follow when they are
// recorded (sink.Acker). Sessions are committed by Close.
func (s *Sink) Flush(context.Context) {
	s.ack.mu.Lock()
	for _, ob := range s.ack.open {
		s.cutLocked(ob, false)
	}
	s.ack.mu.Unlock()
}

// WriteAck takes the rows of a batch in and calls ack once they are all in
// MaxCompute (see above). ack may be nil.
func (s *Sink) WriteAck(ctx context.Context, b *sink.Batch, ack sink.AckFunc) error {
	_ = s.Start(ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("maxcompute: sink is closed")
	}
	s.mu.Unlock()
	a := &s.ack
	a.writeMu.Lock()
	defer a.writeMu.Unlock()
	a.mu.Lock()
	if a.failed != nil {
		err := a.failed
		a.mu.Unlock()
		return err
	}
	if a.ackedSeq == 0 && len(a.acc) == 0 && b.First > 0 {
		a.ackedSeq = b.First - 1 // the cursor: batches handed to this process start after it
		s.marks.setCursor(a.ackedSeq)
	}
	verified := a.verified
	// Bounded memory: wait for the block writers and the packs.
	for a.queued >= s.cfg.BlockWriters || a.waiting >= maxStreamWaiting {
		if err := a.waitLocked(ctx); err != nil {
			a.mu.Unlock()
			return err
		}
	}
	a.mu.Unlock()
	if !verified {
		// Sessions recorded by an earlier run decide which rows a replay
		// skips: ask the service about them first.
		if err := s.verifyBulk(ctx); err != nil {
			return asSinkError(err)
		}
	}
	if err := s.bulkLost(b.First); err != nil {
		return err
	}
	if err := s.applyPending(ctx); err != nil {
		return asSinkError(err)
	}
	done, err := s.prog.load(b.First, b.Last)
	if err != nil {
		return err
	}
	entry := &accepted{first: b.First, last: b.Last, ack: ack, taking: true}
	w := &writeState{b: b, done: done, packs: map[*pack]bool{},
		resolved: map[*event.Table]*schema.Target{}, parts: map[streamKey]*schema.Target{}, span: map[streamKey]*markSpan{}, now: time.Now()}
	a.mu.Lock()
	if a.refusing {
		// Checked with the entry added, under one lock: a reset between
		// the two would let a batch after the refused ones through.
		if b.First > a.refuseAbove {
			a.mu.Unlock()
			if ack != nil {
				ack(errReset) // contract 7: every later batch too
			}
			return nil
		}
		a.refusing = false // the redelivery
	}
	a.acc = append(a.acc, entry)
	w.epoch = a.epoch
	a.mu.Unlock()
	s.mu.Lock()
	s.encoding++
	s.mu.Unlock()
	encErr := s.encode(ctx, w)
	s.marks.note(w.span) // before the batch can be acknowledged
	s.mu.Lock()
	s.encoding--
	idle := s.encoding == 0
	s.mu.Unlock()
	if idle {
		s.sealAll()
	}
	if encErr != nil {
		// Wait for this batch's packs even after an error, so a retry
		// finds their rows recorded and does not send them again.
		_ = s.waitPacks(ctx, w)
		return s.refuse(entry, w, asSinkError(encErr))
	}
	// The partitions for the scheduled merge (it waits merge.delay after a
	// partition closed, far longer than a delivery takes).
	for k, t := range w.parts {
		s.merge.noteParts(t, k.part)
	}
	s.merge.observe(w.maxTime)
	a.mu.Lock()
	entry.taking = false
	if len(w.packs) > 0 {
		entry.streams = true
		a.waiting++
		s.wg.Add(1)
		go s.awaitPacks(entry, w)
	}
	acks := s.advanceLocked()
	a.mu.Unlock()
	fire(acks, nil)
	return nil
}

// refuse handles a failure while b was taken in: rejected (error
// returned) when nothing of it was taken, otherwise accepted and refused
// with every batch not yet acknowledged (a permanent error stops the sink).
func (s *Sink) refuse(entry *accepted, w *writeState, err error) error {
	a := &s.ack
	a.mu.Lock()
	i := -1
	for j, e := range a.acc {
		if e == entry {
			i = j
		}
	}
	if i < 0 {
		a.mu.Unlock()
		return nil // already refused by a reset
	}
	if errors.Is(err, sink.ErrPermanent) {
		acks := s.failLocked(err)
		a.mu.Unlock()
		fire(acks, err)
		return nil
	}
	if !w.took && len(w.packs) == 0 {
		a.acc = append(a.acc[:i], a.acc[i+1:]...)
		acks := s.advanceLocked()
		a.mu.Unlock()
		fire(acks, nil)
		return err
	}
	s.lg.Warn("maxcompute: taking in a batch failed; every batch not yet acknowledged is delivered again",
		"first_seq", w.b.First, "last_seq", w.b.Last, "err", err)
	acks := s.resetLocked()
	a.mu.Unlock()
	fire(acks, fmt.Errorf("%w: %w", errReset, err))
	return nil
}

// awaitPacks acknowledges a batch's change rows when its packs answered.
func (s *Sink) awaitPacks(entry *accepted, w *writeState) {
	defer s.wg.Done()
	err := s.waitPacks(s.ctx, w)
	a := &s.ack
	a.mu.Lock()
	a.waiting--
	entry.streams = false
	var acks []*accepted
	var refuse error
	switch {
	case err == nil:
		acks = s.advanceLocked()
	case !s.accepted(entry):
		// refused already
	case errors.Is(asSinkError(err), sink.ErrPermanent):
		refuse = asSinkError(err)
		acks = s.failLocked(refuse)
	default:
		s.lg.Warn("maxcompute: change rows not stored; every batch not yet acknowledged is delivered again",
			"first_seq", entry.first, "last_seq", entry.last, "err", err)
		refuse = fmt.Errorf("%w: %w", errReset, err)
		acks = s.resetLocked()
	}
	a.signal()
	a.mu.Unlock()
	fire(acks, refuse)
}

func (s *Sink) accepted(entry *accepted) bool {
	for _, e := range s.ack.acc {
		if e == entry {
			return true
		}
	}
	return false
}

func fire(acks []*accepted, err error) {
	for _, e := range acks {
		if e.ack != nil {
			e.ack(err)
		}
	}
}

// advanceLocked takes off the accepted list, in order, the batches whose
// rows are all in MaxCompute. Called with s.ack.mu held.
func (s *Sink) advanceLocked() []*accepted {
	a := &s.ack
	w := uint64(math.MaxUint64)
	for ob := range a.live {
		w = min(w, ob.first-1)
	}
	i := 0
	for i < len(a.acc) && !a.acc[i].taking && !a.acc[i].streams && a.acc[i].last <= w {
		i++
	}
	if i == 0 {
		return nil
	}
	acks := append([]*accepted(nil), a.acc[:i]...)
	a.acc = append(a.acc[:0], a.acc[i:]...)
	a.ackedSeq = max(a.ackedSeq, acks[len(acks)-1].last)
	return acks
}

// resetLocked drops every open and waiting block (the block being written
// is not recorded: its epoch is over) and returns every accepted batch, to
// refuse. Called with s.ack.mu held.
func (s *Sink) resetLocked() []*accepted {
	a := &s.ack
	a.epoch++
	clear(a.open)
	s.bulk.mu.Lock()
	for _, bs := range s.bulk.sessions {
		keep := 0
		if bs.writing {
			keep = 1
		}
		for _, ob := range bs.queue[min(keep, len(bs.queue)):] {
			delete(a.live, ob)
			a.buffered -= int64(ob.body.Len())
			a.queued--
		}
		bs.queue = bs.queue[:min(keep, len(bs.queue))]
	}
	s.bulk.mu.Unlock()
	for ob := range a.live {
		if !ob.cut {
			delete(a.live, ob)
			a.buffered -= int64(ob.body.Len())
		}
	}
	acks := a.acc
	a.acc = nil
	if len(acks) > 0 {
		a.refusing, a.refuseAbove = true, acks[0].first
	}
	a.signal()
	return acks
}

// failLocked stops the sink with a permanent error and returns every
// accepted batch, to refuse with it.
func (s *Sink) failLocked(err error) []*accepted {
	s.ack.failed = err
	s.lg.Error("maxcompute: stopped", "err", err)
	return s.resetLocked()
}

// bulkUpToLocked is the last seq up to which every snapshot row of k is in
// a recorded block.
func (s *Sink) noteUpToLocked(k streamKey, last uint64) {
	if s.ack.upto == nil {
		s.ack.upto = map[streamKey]uint64{}
	}
	s.ack.upto[k] = max(s.ack.upto[k], last)
}

// appendSnapshot adds a snapshot row to its partition's open block.
func (s *Sink) appendSnapshot(w *writeState, key streamKey, t *schema.Target, row []event.Value, seq uint64) error {
	lay := s.layoutOf(t)
	a := &s.ack
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.epoch != a.epoch {
		return errReset // the batch was refused meanwhile: take nothing more
	}
	if seq <= a.upto[key] {
		return nil // in a recorded block (a replay)
	}
	ob := a.open[key]
	if ob != nil && ob.lay != lay {
		s.cutLocked(ob, false)
		ob = nil
	}
	if ob == nil {
		zw := &openBlock{key: key, col: t.PartitionColumn, lay: lay, enc: newEncoder(lay, 256<<10), first: seq, epoch: a.epoch}
		var err error
		if zw.zw, err = s.codec.writer(&zw.body); err != nil {
			return err
		}
		ob = zw
		if a.open == nil {
			a.open = map[streamKey]*openBlock{}
			a.live = map[*openBlock]bool{}
		}
		a.open[key] = ob
		a.live[ob] = true
	}
	if err := ob.enc.Append(row); err != nil {
		return err
	}
	w.took = true
	ob.rows++
	ob.last, ob.lastAppend = seq, w.now
	if ob.enc.Len() >= min(256<<10, int(s.cfg.BlockSize)) {
		if err := s.drainLocked(ob); err != nil {
			return err
		}
		if ob.raw >= int64(s.cfg.BlockSize) {
			s.cutLocked(ob, false)
		} else if len(a.open) > 1 {
			// Many partitions at once: the open blocks hold at most
			// block_size together (compressed); beyond, cut the biggest.
			var big *openBlock
			var total int64
			for _, o := range a.open {
				total += int64(o.body.Len())
				if big == nil || o.body.Len() > big.body.Len() {
					big = o
				}
			}
			if total > int64(s.cfg.BlockSize) {
				s.cutLocked(big, false)
			}
		}
	}
	return nil
}

// drainLocked moves the encoded records into the compressed body.
func (s *Sink) drainLocked(ob *openBlock) error {
	n := ob.body.Len()
	buf := ob.enc.buf
	if _, err := ob.zw.Write(buf); err != nil {
		return fmt.Errorf("compressing a block of %s: %w", ob.key.group(), err)
	}
	ob.raw += int64(len(buf))
	ob.enc.buf = buf[:0]
	s.ack.buffered += int64(ob.body.Len() - n)
	return nil
}

// cutLocked ends an open block and queues it for its partition's block
// writer. Called with s.ack.mu held.
func (s *Sink) cutLocked(ob *openBlock, commit bool) {
	a := &s.ack
	if a.open[ob.key] != ob {
		return
	}
	delete(a.open, ob.key)
	n := ob.body.Len()
	ob.enc.Finish()
	err := s.drainLocked(ob)
	if err == nil {
		err = ob.zw.Close()
	}
	ob.enc = nil
	a.buffered += int64(ob.body.Len() - n)
	if err != nil {
		// Cannot happen with in-memory buffers; refuse what is accepted.
		s.lg.Error("maxcompute: finishing a block", "table", ob.key.table, "partition", ob.key.part, "err", err)
		delete(a.live, ob)
		a.buffered -= int64(ob.body.Len())
		acks := s.resetLocked()
		go fire(acks, err)
		return
	}
	ob.cut, ob.commit = true, commit
	a.queued++
	bs := s.bulkSession(ob.key)
	s.bulk.mu.Lock()
	bs.queue = append(bs.queue, ob)
	start := !bs.running
	bs.running = true
	s.bulk.mu.Unlock()
	if start {
		s.wg.Add(1)
		go s.blockWriter(bs)
	}
}

// blockWriter writes the cut blocks of one partition, in order.
func (s *Sink) blockWriter(bs *bulkSession) {
	defer s.wg.Done()
	a := &s.ack
	for {
		s.bulk.mu.Lock()
		if len(bs.queue) == 0 || s.ctx.Err() != nil {
			bs.running = false
			s.bulk.mu.Unlock()
			a.mu.Lock()
			a.signal()
			a.mu.Unlock()
			return
		}
		ob := bs.queue[0]
		bs.writing = true
		s.bulk.mu.Unlock()
		var err error
		select {
		case s.ack.writers <- struct{}{}: // block_writers partitions at once
			err = s.writeOpenBlock(s.ctx, bs, ob)
			<-s.ack.writers
		case <-s.ctx.Done():
			err = s.ctx.Err()
		}
		a.mu.Lock()
		s.bulk.mu.Lock()
		bs.writing = false
		if len(bs.queue) > 0 && bs.queue[0] == ob {
			bs.queue = bs.queue[1:]
			a.queued--
			a.buffered -= int64(ob.body.Len())
			delete(a.live, ob)
		}
		s.bulk.mu.Unlock()
		var acks []*accepted
		var refuse error
		switch {
		case ob.epoch != a.epoch:
			// dropped by a reset: its rows come again
		case err == nil:
			acks = s.advanceLocked()
		case errors.Is(asSinkError(err), sink.ErrPermanent):
			refuse = asSinkError(err)
			acks = s.failLocked(refuse)
		default:
			if s.ctx.Err() == nil {
				s.lg.Warn("maxcompute: writing a snapshot block failed; every batch not yet acknowledged is delivered again",
					"table", ob.key.table, "partition", ob.key.part, "first_seq", ob.first, "last_seq", ob.last, "err", err)
			}
			refuse = fmt.Errorf("%w: %w", errReset, err)
			acks = s.resetLocked()
		}
		a.signal()
		a.mu.Unlock()
		fire(acks, refuse)
	}
}

// flushTable cuts the open blocks of table ("" for every table) and waits
// until they are written and recorded. errReset when a failure dropped
// them meanwhile.
func (s *Sink) flushTable(ctx context.Context, table string) error {
	a := &s.ack
	a.mu.Lock()
	defer a.mu.Unlock()
	epoch := a.epoch
	for k, ob := range a.open {
		if table == "" || k.table == table {
			s.cutLocked(ob, false)
		}
	}
	for {
		if a.epoch != epoch {
			return errReset
		}
		busy := false
		for ob := range a.live {
			if ob.cut && (table == "" || ob.key.table == table) {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		if err := a.waitLocked(ctx); err != nil {
			return err
		}
	}
}

// hasLive reports whether table has snapshot rows not yet recorded.
func (s *Sink) hasLive(table string) bool {
	a := &s.ack
	a.mu.Lock()
	defer a.mu.Unlock()
	for ob := range a.live {
		if ob.key.table == table {
			return true
		}
	}
	return false
}

// cutIdle cuts blocks without rows for commit_idle, to be committed once
// recorded (the table's snapshot paused or ended).
func (s *Sink) cutIdle(now time.Time) {
	a := &s.ack
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ob := range a.open {
		if now.Sub(ob.lastAppend) >= s.cfg.CommitIdle {
			s.cutLocked(ob, true)
		}
	}
}

// Buffered reports the compressed bytes of blocks not yet recorded.
func (s *Sink) buffered() int64 {
	s.ack.mu.Lock()
	defer s.ack.mu.Unlock()
	return s.ack.buffered
}
