package maxcompute

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

// streamKey is a table partition.
type streamKey struct {
	table, part string // part is the value of the partition column
}

func (k streamKey) group() string { return k.table + "/" + k.part }

// stream is the streaming state of one table partition: the open pack and
// the stream session.
type stream struct {
	key     streamKey
	col     string        // partition column
	slots   chan struct{} // concurrent PUTs
	pending sync.WaitGroup

	mu      sync.Mutex
	open    *pack
	inPack  int // packs sealed but not finished
	lastUse time.Time
	dead    bool // removed from Sink.streams: get a new one

	sessMu  sync.Mutex // held while a session is opened
	sess    *streamSession
	sessGen int
}

func (st *stream) spec() string { return st.col + "=" + st.key.part }

// pack is one record pack: rows of one table partition and one column
// layout, uploaded in one PUT.
type pack struct {
	st     *stream
	lay    *layout
	target *schema.Target
	enc    *encoder
	born   time.Time
	ranges map[[2]uint64]*seqRange // per batch (first, last): lowest and highest _seq in this pack

	done chan struct{}
	err  error
}

func (p *pack) note(first, last, seq uint64) {
	k := [2]uint64{first, last}
	r := p.ranges[k]
	if r == nil {
		p.ranges[k] = &seqRange{seq, seq}
		return
	}
	r[0], r[1] = min(r[0], seq), max(r[1], seq)
}

func (s *Sink) stream(key streamKey, col string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[key]
	if st == nil {
		st = &stream{key: key, col: col, slots: make(chan struct{}, s.cfg.Slots)}
		s.streams[key] = st
	}
	return st
}

// appendStream adds a change row to its partition's open pack.
func (s *Sink) appendStream(w *writeState, key streamKey, t *schema.Target, row []event.Value, seq uint64) error {
	lay := s.layoutOf(t)
	st := s.stream(key, t.PartitionColumn)
	st.mu.Lock()
	for st.dead {
		st.mu.Unlock()
		st = s.stream(key, t.PartitionColumn)
		st.mu.Lock()
	}
	defer st.mu.Unlock()
	st.lastUse = time.Now()
	p := st.open
	if p != nil && p.lay != lay {
		s.sealLocked(st)
		p = nil
	}
	if p == nil {
		p = &pack{st: st, lay: lay, target: t, enc: newEncoder(lay, int(min(s.cfg.FlushSize, 256<<10))),
			born: time.Now(), ranges: map[[2]uint64]*seqRange{}, done: make(chan struct{})}
		st.open = p
	}
	if err := p.enc.Append(row); err != nil {
		return err
	}
	p.note(w.b.First, w.b.Last, seq)
	w.packs[p] = true
	if int64(p.enc.Len()) >= int64(s.cfg.FlushSize) {
		s.sealLocked(st)
	}
	return nil
}

// sealLocked closes the open pack of st and starts its upload. st.mu is held.
func (s *Sink) sealLocked(st *stream) {
	p := st.open
	if p == nil {
		return
	}
	st.open = nil
	st.inPack++
	st.pending.Add(1)
	go s.flush(p)
}

func (s *Sink) allStreams() []*stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, st)
	}
	return out
}

// sealAll seals every open pack (no batch is being encoded).
func (s *Sink) sealAll() {
	for _, st := range s.allStreams() {
		st.mu.Lock()
		s.sealLocked(st)
		st.mu.Unlock()
	}
}

// sealOld seals packs older than flush_age.
func (s *Sink) sealOld(now time.Time) {
	for _, st := range s.allStreams() {
		st.mu.Lock()
		if st.open != nil && now.Sub(st.open.born) >= s.cfg.FlushAge {
			s.sealLocked(st)
		}
		st.mu.Unlock()
	}
}

// drainTable uploads the open packs of a table and waits for all its
// packs in flight (before DDL that changes column positions).
func (s *Sink) drainTable(ctx context.Context, name string) {
	var sts []*stream
	for _, st := range s.allStreams() {
		if st.key.table == name {
			st.mu.Lock()
			s.sealLocked(st)
			st.mu.Unlock()
			sts = append(sts, st)
		}
	}
	for _, st := range sts {
		waitGroup(ctx, &st.pending)
	}
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sink) waitAllStreams(ctx context.Context) error {
	for _, st := range s.allStreams() {
		if err := waitGroup(ctx, &st.pending); err != nil {
			return fmt.Errorf("maxcompute: close: packs still uploading: %w", err)
		}
	}
	return nil
}

func (s *Sink) dropIdleStreams(before time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.streams {
		st.mu.Lock()
		idle := st.open == nil && st.inPack == 0 && st.lastUse.Before(before)
		if idle {
			st.dead = true
			delete(s.streams, k)
		}
		st.mu.Unlock()
	}
}

// waitPacks waits until every pack holding rows of this Write is stored.
func (s *Sink) waitPacks(ctx context.Context, w *writeState) error {
	var errs []error
	for p := range w.packs {
		select {
		case <-p.done:
			if p.err != nil {
				errs = append(errs, p.err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// flush uploads one sealed pack, retrying with backoff; the same bytes are
// sent every time. On success it records the stored _seq ranges.
func (s *Sink) flush(p *pack) {
	st := p.st
	defer func() {
		st.mu.Lock()
		st.inPack--
		st.lastUse = time.Now()
		st.mu.Unlock()
		close(p.done)
		st.pending.Done()
	}()
	body, err := s.codec.compress(p.enc.Finish())
	if err != nil {
		p.err = fmt.Errorf("compressing a record pack of %s: %w", st.key.group(), err)
		return
	}
	records := p.enc.Records()
	err = s.retry(s.ctx, retryOpts{what: fmt.Sprintf("record pack of %s (%d rows)", st.key.group(), records),
		log: []any{"table", st.key.table, "partition", st.key.part, "rows", records}, quick: quickRetry},
		func() error { return s.putPack(s.ctx, p, body, records) })
	if err != nil {
		if e := asSinkError(err); errors.Is(e, sink.ErrPermanent) {
			s.lg.Error("maxcompute: record pack refused", "table", st.key.table, "partition", st.key.part, "rows", records, "err", err)
			err = e
		}
		p.err = err
		return
	}
	for k, r := range p.ranges {
		if err := s.prog.add(k[0], k[1], st.key.group(), r[0], r[1]); err != nil {
			// The rows are stored; without the record a replay may store them again.
			s.lg.Warn("maxcompute: recording stream progress", "table", st.key.table, "err", err)
		}
	}
}

// quickRetry reports errors a fresh session fixes at once (412
// SchemaModified, 404 gone, 409 StatusConflict: the session expired).
func quickRetry(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.Status == 412 || ae.Status == 404 || ae.Status == 409)
}

// putPack sends a pack through a session that can hold its columns.
func (s *Sink) putPack(ctx context.Context, p *pack, body []byte, records int64) error {
	tun, err := s.tunnel(ctx)
	if err != nil {
		return err
	}
	st := p.st
	sess, err := s.session(ctx, tun, p)
	if err != nil {
		return err
	}
	select {
	case st.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err = tun.putPack(ctx, sess, body, records)
	<-st.slots
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			switch {
			case ae.Status == 412: // SchemaModified: the table changed; a new session has the new schema
				s.dropSession(st, sess)
			case ae.Status == 404 && strings.Contains(ae.Code, "Table"):
				s.dropSession(st, sess)
				s.forgetTable(st.key.table)
			case ae.Status >= 400 && ae.Status < 500 && ae.Status != 429:
				// An expired or otherwise unusable session: a new one
				// costs one request.
				s.dropSession(st, sess)
			}
		}
	}
	return err
}

func (s *Sink) dropSession(st *stream, sess *streamSession) {
	st.sessMu.Lock()
	if st.sess == sess {
		st.sess = nil
	}
	st.sessMu.Unlock()
}

// session returns a stream session of the pack's partition whose schema
// starts with the pack's columns, opening one when needed.
func (s *Sink) session(ctx context.Context, tun *tunnelClient, p *pack) (*streamSession, error) {
	st := p.st
	ts := s.tableState(st.key.table)
	ts.mu.Lock()
	gen := ts.gen
	ts.mu.Unlock()
	st.sessMu.Lock()
	defer st.sessMu.Unlock()
	if st.sess != nil && st.sessGen == gen && fits(st.sess.cols, p.lay) == nil {
		return st.sess, nil
	}
	st.sess = nil
	// The table must hold the pack's columns (another process may have
	// changed it, or the table may have been recreated).
	if err := s.ensureTable(ctx, p.target); err != nil {
		return nil, err
	}
	sess, err := tun.createStream(ctx, st.key.table, st.spec())
	if err != nil {
		return nil, err
	}
	if err := fits(sess.cols, p.lay); err != nil {
		s.forgetTable(st.key.table)
		return nil, fmt.Errorf("stream session on %s: %w", st.key.group(), err)
	}
	ts.mu.Lock()
	st.sessGen = ts.gen
	ts.mu.Unlock()
	st.sess = sess
	s.lg.Debug("maxcompute: opened stream session", "table", st.key.table, "partition", st.key.part, "session", sess.id,
		"slots", len(sess.slots), "schema_version", sess.schemaVersion)
	return sess, nil
}

// fits reports why a session schema cannot take rows of a layout.
func fits(cols []string, lay *layout) error {
	if len(cols) < len(lay.cols) {
		// Columns are only ever added at the end: right after ALTER TABLE a
		// new session may still see the old schema.
		return fmt.Errorf("session schema has %d columns, rows have %d: %w", len(cols), len(lay.cols), errSchemaStale)
	}
	for i := range lay.cols {
		if cols[i] != lay.cols[i].name {
			return fmt.Errorf("session schema has column %s at position %d, rows have %s", cols[i], i+1, lay.cols[i].name)
		}
	}
	return nil
}
