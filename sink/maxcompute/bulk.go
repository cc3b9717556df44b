package maxcompute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bulk loading of snapshot rows (see docs/maxcompute.md, "Snapshot bulk
// loads"): one batch upload session per table partition stays open across
// many batches. acker.go fills blocks that span batches and hands them,
// cut, to the partition's block writer, which writes each into the session
// under the next block id and records it (id and seq range, one synced Put)
// before the batches holding its rows are acknowledged: an acknowledged
// row is durable in the session (blocks are durable on the server once
// written). The session is committed when it is big (CommitBytes,
// CommitBlocks), old (CommitAge), idle (CommitIdle: the table's snapshot
// ended), when a change row or a schema change reaches the table, and at
// Close.
//
// Replays: a partition's blocks hold its snapshot rows in log order and are
// recorded in order, so the highest last seq of its recorded blocks (open
// or committed) tells which redelivered rows are already in MaxCompute,
// wherever the batches are cut. Block ids: the next id of a session is the
// number of blocks recorded, so a block written but not recorded (a crash,
// a reset) is overwritten by the next one; a block id above the recorded
// ones left behind is overwritten with an empty block before the commit.
// So the commit holds exactly the recorded blocks: no loss, no duplicates.
//
// State keys:
//
//	b/<table>/<part>                      the open session: id, created, blocks
//	c/<first>-<last>/<table>/<part>/<id>  a committed session's seq range (and
//	                                      blocks), kept until the log's Tail
//	                                      passes it
//	l/<table>/<part>/<id>                 a refused session holding
//	                                      acknowledged rows (bulkGone)

// bulkBlock is one recorded block: the partition's snapshot rows with seqs
// First..Last (Ord: the group within a batch, of records written by
// earlier versions, which cut blocks at batch ends).
type bulkBlock struct {
	ID    int    `json:"id"`
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	Ord   int    `json:"ord"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// bulkRecord is the value of a b/ key.
type bulkRecord struct {
	Session string      `json:"session"`
	Created int64       `json:"created"` // unix seconds
	Table   string      `json:"table"`
	Part    string      `json:"part"`
	Col     string      `json:"col"` // partition column
	Sig     string      `json:"sig"` // column layout of the rows
	Blocks  []bulkBlock `json:"blocks"`
	Lost    string      `json:"lost,omitempty"` // l/ records: why the session was refused
}

func (r *bulkRecord) has(first, last uint64, ord int) bool {
	for _, b := range r.Blocks {
		if b.First == first && b.Last == last && b.Ord == ord {
			return true
		}
	}
	return false
}

func (r *bulkRecord) size() (rows, bytes int64) {
	for _, b := range r.Blocks {
		rows += b.Rows
		bytes += b.Bytes
	}
	return rows, bytes
}

// batchRef names one batch's rows of a group.
type batchRef struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	Ord   int    `json:"ord"`
}

// committedBulk is a committed session's batches (value of a c/ key).
type committedBulk struct {
	key     streamKey
	last    uint64
	batches []batchRef
}

// bulkSession is the open upload session of one table partition.
type bulkSession struct {
	mu       sync.Mutex
	key      streamKey
	rec      *bulkRecord   // nil: none open
	verified bool          // the server confirmed it in this process
	low      atomic.Uint64 // lowest seq of a recorded block (0: none); read by holdLog
	lastPut  time.Time

	// Under bulkState.mu: the cut blocks waiting for the partition's block
	// writer (acker.go), the first one being written while writing.
	queue   []*openBlock
	running bool
	writing bool
}

type bulkState struct {
	open atomic.Int64 // sessions with recorded blocks

	holdMu sync.Mutex
	held   uint64 // the hold cursor's value + 1 (0: no hold)

	mu        sync.Mutex
	sessions  map[streamKey]*bulkSession
	committed []committedBulk
	lost      map[string]lostBulk // by l/ key: sessions refused after their batches were acknowledged
}

// lostBulk is a refused session whose rows were acknowledged: its rows
// stay held in the log and every Write fails until a replay (a batch that
// starts at or below first) delivers them again.
type lostBulk struct {
	first uint64
	err   error
}

// errRenew: the refused session held no acknowledged row; the batches not
// yet acknowledged are delivered again, into a new session.
var errRenew = errors.New("upload session refused; renewing")

// snapshotFirst makes the snapshot rows of table that precede a change row
// visible before it: the table's open blocks are cut and written, and its
// sessions committed. So a table's committed rows are always a prefix of
// its rows in log order (odsync verify relies on that: the newest change
// in a table means every earlier one is there).
func (s *Sink) snapshotFirst(ctx context.Context, table string) error {
	return s.commitBulk(ctx, table, nil)
}

func bulkKey(k streamKey) string { return "b/" + k.table + "/" + k.part }

// loadBulk reads the open sessions and committed batches of earlier runs.
func (s *Sink) loadBulk() error {
	s.bulk.sessions = map[streamKey]*bulkSession{}
	s.bulk.lost = map[string]lostBulk{}
	err := s.store.Scan(s.ns, "l/", func(key string, v []byte) error {
		var r bulkRecord
		if err := json.Unmarshal(v, &r); err != nil || len(r.Blocks) == 0 {
			return fmt.Errorf("lost bulk upload record %s: %v", key, err)
		}
		s.bulk.lost[key] = lostBulk{first: r.Blocks[0].First, err: permanent(errors.New(r.Lost))}
		return nil
	})
	if err != nil {
		return err
	}
	err = s.store.Scan(s.ns, "b/", func(key string, v []byte) error {
		var r bulkRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("bulk upload record %s: %w", key, err)
		}
		k := streamKey{table: r.Table, part: r.Part}
		bs := &bulkSession{key: k, rec: &r, lastPut: time.Now()}
		s.setLow(bs)
		for _, b := range r.Blocks {
			s.noteUpToLocked(k, b.Last)
		}
		s.bulk.sessions[k] = bs
		s.lg.Info("maxcompute: found an open snapshot upload session", "table", r.Table, "partition", r.Part, "session", r.Session, "blocks", len(r.Blocks))
		return nil
	})
	if err != nil {
		return err
	}
	if _, ok := s.store.(logHolder); ok {
		// Start from "unknown" so holdLog writes the cursor these records need.
		s.bulk.held = 1<<64 - 1
		if err := s.holdLog(); err != nil {
			s.lg.Warn("maxcompute: the log no longer holds every row of the open snapshot upload sessions", "err", err)
		}
	}
	return s.store.Scan(s.ns, "c/", func(key string, v []byte) error {
		last, ok := keyLast(key)
		if !ok {
			return nil
		}
		parts := strings.SplitN(key[len("c/")+41:], "/", 4) // "", table, part, id
		if len(parts) < 3 {
			return nil
		}
		var refs []batchRef
		if err := json.Unmarshal(v, &refs); err != nil {
			return fmt.Errorf("committed bulk record %s: %w", key, err)
		}
		k := streamKey{parts[1], parts[2]}
		s.bulk.committed = append(s.bulk.committed, committedBulk{key: k, last: last, batches: refs})
		s.noteUpToLocked(k, last)
		return nil
	})
}

func (s *Sink) bulkSession(k streamKey) *bulkSession {
	s.bulk.mu.Lock()
	defer s.bulk.mu.Unlock()
	bs := s.bulk.sessions[k]
	if bs == nil {
		bs = &bulkSession{key: k}
		s.bulk.sessions[k] = bs
	}
	return bs
}

// committedUpTo is the highest last seq of k's committed sessions.
func (s *Sink) committedUpTo(k streamKey) uint64 {
	s.bulk.mu.Lock()
	defer s.bulk.mu.Unlock()
	var hi uint64
	for _, c := range s.bulk.committed {
		if c.key == k {
			hi = max(hi, c.last)
		}
	}
	return hi
}

// forgetCommitted drops committed records below the log's tail.
func (s *Sink) forgetCommitted(tail uint64) {
	s.bulk.mu.Lock()
	defer s.bulk.mu.Unlock()
	s.bulk.committed = slices.DeleteFunc(s.bulk.committed, func(c committedBulk) bool { return c.last < tail })
}

// bulkLost returns the error of sessions lost with acknowledged rows,
// first forgetting those that a batch starting at first replays.
func (s *Sink) bulkLost(first uint64) error {
	s.bulk.mu.Lock()
	var replayed []string
	for k, l := range s.bulk.lost {
		if first <= l.first {
			replayed = append(replayed, k)
		}
	}
	s.bulk.mu.Unlock()
	for _, k := range replayed {
		if err := s.store.Put(s.ns, k, nil); err != nil {
			return err
		}
		s.lg.Info("maxcompute: rows of a refused snapshot upload session are being replayed", "record", k, "from", first)
		s.bulk.mu.Lock()
		delete(s.bulk.lost, k)
		s.bulk.mu.Unlock()
	}
	if len(replayed) > 0 {
		if err := s.holdLog(); err != nil {
			return err
		}
	}
	s.bulk.mu.Lock()
	defer s.bulk.mu.Unlock()
	var errs []error
	for _, l := range s.bulk.lost {
		errs = append(errs, l.err)
	}
	return errors.Join(errs...)
}

func (s *Sink) saveBulk(bs *bulkSession) error {
	v, err := json.Marshal(bs.rec)
	if err != nil {
		return err
	}
	if err := s.store.Put(s.ns, bulkKey(bs.key), v); err != nil {
		return err
	}
	s.setLow(bs)
	return s.holdLog()
}

// setLow publishes the lowest seq of bs's recorded blocks.
func (s *Sink) setLow(bs *bulkSession) {
	var low uint64
	if bs.rec != nil {
		for _, b := range bs.rec.Blocks {
			if low == 0 || b.First < low {
				low = b.First
			}
		}
	}
	s.storeLow(bs, low)
}

// storeLow sets bs.low and counts the sessions with recorded blocks.
func (s *Sink) storeLow(bs *bulkSession, low uint64) {
	old := bs.low.Swap(low)
	switch {
	case old == 0 && low != 0:
		s.bulk.open.Add(1)
	case old != 0 && low == 0:
		s.bulk.open.Add(-1)
	}
}

// logHolder is implemented by a Store that is the log itself
// (*offsets.Log): a cursor of its own keeps the log from deleting rows
// that are acknowledged but only in an uncommitted upload session.
type logHolder interface {
	SetCursor(name string, acked uint64) error
	DropCursor(name string) error
	Head() uint64
}

func (s *Sink) holdName() string { return s.ns + "/snapshot-hold" }

// holdLog moves the hold cursor to just below the lowest seq of any
// recorded, uncommitted block (drops it when there is none), synced, so
// the log's GC keeps every row an open session holds: if the service
// refuses the session, those rows can still be replayed.
func (s *Sink) holdLog() error {
	lh, ok := s.store.(logHolder)
	if !ok {
		return nil
	}
	s.bulk.holdMu.Lock()
	defer s.bulk.holdMu.Unlock()
	var low uint64
	s.bulk.mu.Lock()
	for _, bs := range s.bulk.sessions {
		if l := bs.low.Load(); l != 0 && (low == 0 || l < low) {
			low = l
		}
	}
	for _, l := range s.bulk.lost {
		if low == 0 || l.first < low {
			low = l.first
		}
	}
	s.bulk.mu.Unlock()
	if low == s.bulk.held {
		return nil
	}
	var err error
	if low == 0 {
		err = lh.DropCursor(s.holdName())
	} else {
		// In [Tail-1, Head] as the log wants: rows above the head are not
		// from this log (tests write batches of their own); below the tail
		// they are gone already (warned by the caller at startup).
		at := min(max(low-1, s.store.Tail()-1), lh.Head())
		err = lh.SetCursor(s.holdName(), at)
	}
	if err != nil {
		return fmt.Errorf("holding the log for uncommitted snapshot rows: %w", err)
	}
	s.bulk.held = low
	if low != 0 && low < s.store.Tail() {
		return fmt.Errorf("the log no longer holds seqs %d..%d of uncommitted snapshot rows (tail %d)", low, s.store.Tail()-1, s.store.Tail())
	}
	return nil
}

// writeOpenBlock writes a cut block into its partition's open session
// (opening one when none is) under the next block id, records it, and
// commits the session when it is big enough or the block was cut idle.
// A block whose epoch a reset ended is not recorded (nothing is when the
// reset came first): its id is written again by the next block.
func (s *Sink) writeOpenBlock(ctx context.Context, bs *bulkSession, ob *openBlock) error {
	tun, err := s.tunnel(ctx)
	if err != nil {
		return err
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if s.staleBlock(ob) {
		return nil
	}
	k := ob.key
	spec := ob.col + "=" + k.part
	if bs.rec != nil && !bs.verified {
		st, err := s.uploadStatus(ctx, tun, k, spec, bs.rec.Session)
		switch {
		case sessionGone(err):
			if err := s.bulkGone(bs, err); err != nil {
				return err
			}
		case err != nil:
			return err
		case st.status == "closed":
			if err := s.recordBulkCommit(bs); err != nil {
				return err
			}
		case st.status == "normal" && fits(st.cols, ob.lay) == nil:
			bs.verified = true
			s.lg.Info("maxcompute: reattached snapshot upload session", "table", k.table, "partition", k.part, "session", bs.rec.Session, "blocks", len(bs.rec.Blocks))
		case st.status == "normal":
			if err := s.commitBulkLocked(ctx, tun, bs); err != nil {
				return err
			}
		default:
			return fmt.Errorf("upload session %s is %s; retrying later", bs.rec.Session, st.status)
		}
	}
	if bs.rec != nil && (bs.rec.Sig != ob.lay.sig || len(bs.rec.Blocks)+1 > s.cfg.CommitBlocks) {
		if err := s.commitBulkLocked(ctx, tun, bs); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		if bs.rec == nil {
			var sess *uploadSession
			err := s.retry(ctx, retryOpts{what: "creating an upload session on " + k.group(),
				log: []any{"table", k.table, "partition", k.part}},
				func() (err error) {
					sess, err = tun.createUpload(ctx, k.table, spec)
					if err == nil {
						if err = fits(sess.cols, ob.lay); err != nil && !errors.Is(err, errSchemaStale) {
							err = &stopRetry{err}
						}
					}
					return err
				})
			if err != nil {
				if sess != nil {
					go s.forgetTable(k.table) // not under bs.mu: ensureTable may wait for it
				}
				return err
			}
			bs.rec = &bulkRecord{Session: sess.id, Created: nowUnix(), Table: k.table, Part: k.part, Col: ob.col, Sig: ob.lay.sig}
			bs.verified = true
			if err := s.saveBulk(bs); err != nil {
				bs.rec = nil
				return err
			}
		}
		id := len(bs.rec.Blocks)
		err := s.writeBlock(ctx, tun, k, spec, bs.rec.Session, id, ob.body.Bytes())
		if err != nil {
			if sessionGone(err) && attempt == 0 {
				if gerr := s.bulkGone(bs, err); gerr != nil {
					return gerr
				}
				continue // nothing was recorded in it: write the block into a new one
			}
			return err
		}
		s.ack.mu.Lock()
		if ob.epoch != s.ack.epoch {
			s.ack.mu.Unlock()
			return nil
		}
		bs.rec.Blocks = append(bs.rec.Blocks, bulkBlock{ID: id, First: ob.first, Last: ob.last, Rows: ob.rows, Bytes: ob.raw})
		if err := s.saveBulk(bs); err != nil {
			bs.rec.Blocks = bs.rec.Blocks[:id]
			s.ack.mu.Unlock()
			return err
		}
		s.noteUpToLocked(k, ob.last)
		s.ack.mu.Unlock()
		bs.lastPut = time.Now()
		break
	}
	_, bytes := bs.rec.size()
	commit := bytes >= int64(s.cfg.CommitBytes) || len(bs.rec.Blocks) >= s.cfg.CommitBlocks
	if !commit && ob.commit {
		// Cut idle: commit unless rows came meanwhile.
		s.ack.mu.Lock()
		s.bulk.mu.Lock()
		commit = s.ack.open[k] == nil && len(bs.queue) <= 1
		s.bulk.mu.Unlock()
		s.ack.mu.Unlock()
	}
	if commit {
		return s.commitBulkLocked(ctx, tun, bs)
	}
	return nil
}

// verifyBulk asks the service about the sessions an earlier run recorded,
// before their blocks decide which replayed rows are skipped: a session
// the service no longer has is dropped (nothing acknowledged in it: its
// rows are written again) or reported lost (bulkGone); a committed one is
// recorded as committed.
func (s *Sink) verifyBulk(ctx context.Context) error {
	s.bulk.mu.Lock()
	var list []*bulkSession
	for _, bs := range s.bulk.sessions {
		list = append(list, bs)
	}
	s.bulk.mu.Unlock()
	var tun *tunnelClient
	for _, bs := range list {
		bs.mu.Lock()
		if bs.rec == nil || bs.verified {
			bs.mu.Unlock()
			continue
		}
		if tun == nil {
			var err error
			if tun, err = s.tunnel(ctx); err != nil {
				bs.mu.Unlock()
				return err
			}
		}
		spec := bs.rec.Col + "=" + bs.rec.Part
		st, err := s.uploadStatus(ctx, tun, bs.key, spec, bs.rec.Session)
		switch {
		case sessionGone(err):
			err = s.bulkGone(bs, err)
			if errors.Is(err, errRenew) {
				err = nil
			}
		case err != nil:
		case st.status == "closed":
			err = s.recordBulkCommit(bs)
		case st.status == "normal":
			bs.verified = true
			s.lg.Info("maxcompute: reattached snapshot upload session", "table", bs.key.table, "partition", bs.key.part, "session", bs.rec.Session, "blocks", len(bs.rec.Blocks))
		default:
			err = fmt.Errorf("upload session %s is %s; retrying later", bs.rec.Session, st.status)
		}
		bs.mu.Unlock()
		if err != nil {
			return err
		}
	}
	s.ack.mu.Lock()
	s.ack.verified = true
	s.ack.mu.Unlock()
	return nil
}

func (s *Sink) staleBlock(ob *openBlock) bool {
	s.ack.mu.Lock()
	defer s.ack.mu.Unlock()
	return ob.epoch != s.ack.epoch
}

// bulkGone handles a recorded session the service no longer takes: with no
// blocks recorded nothing acknowledged is lost and it is dropped; with
// blocks, the acknowledged rows in it can no longer be committed: the
// error is permanent and names them.
func (s *Sink) bulkGone(bs *bulkSession, cause error) error {
	rec := bs.rec
	bs.rec, bs.verified = nil, false
	if err := s.store.Put(s.ns, bulkKey(bs.key), nil); err != nil {
		return err
	}
	if len(rec.Blocks) == 0 {
		s.storeLow(bs, 0)
		return s.holdLog()
	}
	// No acknowledged batch has rows in it: refuse those not yet
	// acknowledged (atomically with the check), the pipeline delivers them
	// again into a new session.
	s.ack.mu.Lock()
	fresh := !slices.ContainsFunc(rec.Blocks, func(b bulkBlock) bool { return b.First <= s.ack.ackedSeq })
	if fresh {
		acks := s.resetLocked()
		if s.ack.upto != nil {
			s.ack.upto[bs.key] = s.committedUpTo(bs.key)
		}
		s.ack.mu.Unlock()
		s.storeLow(bs, 0)
		s.lg.Warn("maxcompute: upload session refused before any of its rows was acknowledged; delivering them again", "table", rec.Table, "partition", rec.Part, "session", rec.Session, "err", cause)
		go fire(acks, fmt.Errorf("%w: %w: %w", errReset, errRenew, cause))
		if err := s.holdLog(); err != nil {
			return err
		}
		return errRenew
	}
	s.ack.mu.Unlock()
	rows, _ := rec.size()
	lo, hi := rec.Blocks[0].First, rec.Blocks[len(rec.Blocks)-1].Last
	err := permanent(fmt.Errorf("table %s partition %s: snapshot upload session %s was refused before its commit (%w); its %d rows from log seqs %d..%d were acknowledged and are NOT in MaxCompute; the log still holds them (cursor %s): replay them with `odsync replay --sink NAME --from %d` (rows written twice carry the same _seq)",
		rec.Table, rec.Part, rec.Session, cause, rows, lo, hi, s.holdName(), lo))
	s.lg.Error("maxcompute: snapshot rows lost with a refused upload session", "table", rec.Table, "partition", rec.Part, "session", rec.Session, "rows", rows, "first_seq", lo, "last_seq", hi, "err", cause)
	// The l/ record keeps the rows held in the log (and this error) until a
	// replay delivers them again.
	rec.Lost = err.Error()
	v, jerr := json.Marshal(rec)
	if jerr != nil {
		return jerr
	}
	lk := "l/" + rec.Table + "/" + rec.Part + "/" + rec.Session
	if perr := s.store.Put(s.ns, lk, v); perr != nil {
		return perr
	}
	s.bulk.mu.Lock()
	s.bulk.lost[lk] = lostBulk{first: lo, err: err}
	s.bulk.mu.Unlock()
	// The replay must write its rows again: they are in no session now.
	up := s.committedUpTo(bs.key)
	s.ack.mu.Lock()
	s.ack.upto[bs.key] = up
	s.ack.mu.Unlock()
	s.storeLow(bs, 0)
	if herr := s.holdLog(); herr != nil {
		return herr
	}
	return err
}

// recordBulkCommit records that the open session of bs is committed: its
// batches go to a c/ record (kept until the log's tail passes them), the b/
// record is deleted.
func (s *Sink) recordBulkCommit(bs *bulkSession) error {
	rec := bs.rec
	var refs []batchRef
	var lo, hi uint64
	for i, b := range rec.Blocks {
		r := batchRef{b.First, b.Last, b.Ord}
		if !slices.Contains(refs, r) {
			refs = append(refs, r)
		}
		if i == 0 || b.First < lo {
			lo = b.First
		}
		hi = max(hi, b.Last)
	}
	if len(refs) > 0 {
		v, err := json.Marshal(refs)
		if err != nil {
			return err
		}
		if err := s.store.Put(s.ns, fmt.Sprintf("%s/%s/%s/%s", batchKey("c", lo, hi), rec.Table, rec.Part, rec.Session), v); err != nil {
			return err
		}
		s.bulk.mu.Lock()
		s.bulk.committed = append(s.bulk.committed, committedBulk{key: bs.key, last: hi, batches: refs})
		s.bulk.mu.Unlock()
	}
	if err := s.store.Put(s.ns, bulkKey(bs.key), nil); err != nil {
		return err
	}
	s.storeLow(bs, 0)
	if err := s.holdLog(); err != nil {
		s.lg.Warn("maxcompute: releasing the log hold", "err", err)
	}
	rows, bytes := rec.size()
	s.lg.Debug("maxcompute: snapshot upload session committed", "table", rec.Table, "partition", rec.Part, "session", rec.Session, "blocks", len(rec.Blocks), "rows", rows, "bytes", bytes)
	bs.rec, bs.verified = nil, false
	return nil
}

// commitBulkLocked commits the open session of bs (bs.mu held): exactly
// the recorded blocks (block ids above them, left by a crash, are
// overwritten with empty blocks first).
func (s *Sink) commitBulkLocked(ctx context.Context, tun *tunnelClient, bs *bulkSession) error {
	rec := bs.rec
	if rec == nil {
		return nil
	}
	spec := rec.Col + "=" + rec.Part
	if len(rec.Blocks) == 0 {
		// Nothing acknowledged: drop the record, let the session expire.
		bs.rec, bs.verified = nil, false
		return s.store.Put(s.ns, bulkKey(bs.key), nil)
	}
	st, err := s.uploadStatus(ctx, tun, bs.key, spec, rec.Session)
	if sessionGone(err) {
		return s.bulkGone(bs, err)
	}
	if err != nil {
		return err
	}
	if st.status == "closed" {
		return s.recordBulkCommit(bs)
	}
	n := len(rec.Blocks)
	have := map[int]bool{}
	for _, id := range st.blocks {
		have[id] = true
		if id >= n {
			s.lg.Info("maxcompute: emptying a block left by an interrupted write", "table", rec.Table, "partition", rec.Part, "session", rec.Session, "block", id)
			empty, err := s.codec.compress(newEncoder(nil, 16).Finish())
			if err != nil {
				return err
			}
			if err := s.writeBlock(ctx, tun, bs.key, spec, rec.Session, id, empty); err != nil {
				if sessionGone(err) {
					return s.bulkGone(bs, err)
				}
				return err
			}
		}
	}
	for _, b := range rec.Blocks {
		if !have[b.ID] {
			return s.bulkGone(bs, fmt.Errorf("the session lacks recorded block %d", b.ID))
		}
	}
	if err := s.commit(ctx, tun, bs.key, spec, rec.Session); err != nil {
		if sessionGone(err) {
			return s.bulkGone(bs, err)
		}
		return err
	}
	return s.recordBulkCommit(bs)
}

// commitBulk commits the open sessions matching (every one when table is
// ""), each one's failure joined.
func (s *Sink) commitBulk(ctx context.Context, table string, due func(*bulkSession) bool) error {
	if due == nil {
		// Everything of the table: its open blocks first.
		if err := s.flushTable(ctx, table); err != nil {
			return err
		}
	}
	s.bulk.mu.Lock()
	var list []*bulkSession
	for k, bs := range s.bulk.sessions {
		if table == "" || k.table == table {
			list = append(list, bs)
		}
	}
	s.bulk.mu.Unlock()
	var errs []error
	var tun *tunnelClient
	for _, bs := range list {
		bs.mu.Lock()
		if bs.rec != nil && (due == nil || due(bs)) {
			if tun == nil {
				var err error
				if tun, err = s.tunnel(ctx); err != nil {
					bs.mu.Unlock()
					return err
				}
			}
			if err := s.commitBulkLocked(ctx, tun, bs); err != nil {
				errs = append(errs, fmt.Errorf("committing snapshot rows of %s: %w", bs.key.group(), err))
			}
		}
		bs.mu.Unlock()
	}
	return errors.Join(errs...)
}

// hasBulk reports whether table has an open session with recorded blocks.
func (s *Sink) hasBulk(table string) bool {
	if s.bulk.open.Load() == 0 {
		return false // the common case: called for every change row
	}
	s.bulk.mu.Lock()
	defer s.bulk.mu.Unlock()
	for k, bs := range s.bulk.sessions {
		if k.table == table && bs.low.Load() != 0 {
			return true
		}
	}
	return false
}

// bulkLoop commits sessions that are old or idle.
func (s *Sink) bulkLoop() {
	every := min(max(s.cfg.CommitIdle/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.cutIdle(now)
			err := s.commitBulk(s.ctx, "", func(bs *bulkSession) bool {
				if now.Sub(time.Unix(bs.rec.Created, 0)) >= min(s.cfg.CommitAge, s.cfg.SessionTTL/2) {
					return true
				}
				if now.Sub(bs.lastPut) < s.cfg.CommitIdle {
					return false
				}
				// Idle, unless rows of the partition wait in a block.
				s.ack.mu.Lock()
				defer s.ack.mu.Unlock()
				for ob := range s.ack.live {
					if ob.key == bs.key {
						return false
					}
				}
				return true
			})
			if err != nil && s.ctx.Err() == nil {
				s.lg.Warn("maxcompute: committing snapshot upload sessions", "err", err)
			}
		}
	}
}
