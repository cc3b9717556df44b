package maxcompute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
)

// Snapshot rows (event.OpRead) of a batch are grouped per table partition
// (and column layout) and encoded into blocks of at most block_size; bulk.go
// appends them to the partition's open upload session. Block writes,
// session status and commit run through the retry loop, so the per-table
// quotas (429 with Retry-After) only slow a load down.

// maxBlocks is the Tunnel's block id limit per session (ids 0..19999).
const maxBlocks = 20000

// sessionGone reports an upload session the service will no longer take:
// expired or committed (409 StatusConflict), opened before an ALTER TABLE
// (409 TableModified), or unknown (404 NoSuchUpload).
func sessionGone(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.Status == 409 || ae.Status == 404 && ae.Code != "NoSuchTable" && ae.Code != "NoSuchPartition")
}

type uploadKey struct {
	key streamKey
	lay *layout
}

// uploadGroup is the snapshot rows of one batch for one table partition
// and column layout.
type uploadGroup struct {
	key     streamKey
	col     string
	ord     int // groups of the same table partition in this batch, in order
	lay     *layout
	target  *schema.Target
	blocks  []*encoder
	rows    int64
	written bool // handed to bulkGroup (before a change row of the table, or by upload)
}

func (s *Sink) addUploadRow(w *writeState, key streamKey, t *schema.Target, row []event.Value) error {
	lay := s.layoutOf(t)
	uk := uploadKey{key, lay}
	g := w.upIdx[uk]
	if g == nil {
		ord := 0
		for _, o := range w.uploads {
			if o.key == key {
				ord++
			}
		}
		g = &uploadGroup{key: key, col: t.PartitionColumn, ord: ord, lay: lay, target: t}
		w.upIdx[uk] = g
		w.uploads = append(w.uploads, g)
		if w.snapTables == nil {
			w.snapTables = map[string]int{}
		}
		w.snapTables[key.table]++
		s.notePending(w, g)
	}
	var cur *encoder
	if n := len(g.blocks); n > 0 {
		cur = g.blocks[n-1]
	}
	if cur == nil || (int64(cur.Len()) >= int64(s.cfg.BlockSize) && len(g.blocks) < maxBlocks) {
		cur = newEncoder(lay, int(min(int64(s.cfg.BlockSize), 256<<10)))
		g.blocks = append(g.blocks, cur)
	}
	if err := cur.Append(row); err != nil {
		return err
	}
	g.rows++
	return nil
}

func (g *uploadGroup) stateKey(b uint64, l uint64) string {
	return fmt.Sprintf("%s/%s/%s/%d", batchKey("u", b, l), g.key.table, g.key.part, g.ord)
}

// upload loads every snapshot group of the batch.
func (s *Sink) upload(ctx context.Context, w *writeState) error {
	if len(w.uploads) == 0 {
		return nil
	}
	tun, err := s.tunnel(ctx)
	if err != nil {
		return err
	}
	for _, g := range w.uploads {
		if g.written {
			continue
		}
		if err := s.uploadGroup(ctx, tun, w, g); err != nil {
			return err
		}
	}
	return nil
}

// uploadGroup hands one group to its table partition's session.
func (s *Sink) uploadGroup(ctx context.Context, tun *tunnelClient, w *writeState, g *uploadGroup) error {
	g.written = true
	w.snapTables[g.key.table]--
	defer s.donePending(g)
	if err := s.bulkGroup(ctx, tun, g, w.b.First, w.b.Last); err != nil {
		return fmt.Errorf("snapshot rows of batch %d..%d into %s partition %s: %w", w.b.First, w.b.Last, g.key.table, g.key.part, err)
	}
	return nil
}

func (s *Sink) loadUploadRecord(key string) (*uploadRecord, error) {
	v, ok, err := s.store.Get(s.ns, key)
	if err != nil || !ok {
		return nil, err
	}
	var r uploadRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("upload record %s: %w", key, err)
	}
	return &r, nil
}

func (s *Sink) saveUploadRecord(key string, r *uploadRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.store.Put(s.ns, key, v)
}

// writeBlocks writes the blocks in parallel, each retried with backoff
// (a block is rewritten whole under the same id).
func (s *Sink) writeBlocks(ctx context.Context, tun *tunnelClient, g *uploadGroup, spec, id string, base int) error {
	sem := make(chan struct{}, s.cfg.BlockWriters)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, enc := range g.blocks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := s.writeBlock(ctx, tun, g.key, spec, id, base+i, enc)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

func (s *Sink) writeBlock(ctx context.Context, tun *tunnelClient, key streamKey, spec, id string, block int, enc *encoder) error {
	body, err := s.codec.compress(enc.Finish())
	if err != nil {
		return err
	}
	return s.retry(ctx, retryOpts{what: fmt.Sprintf("block %d of %s", block, key.group()),
		log: []any{"table", key.table, "partition", key.part, "block", block}},
		func() error {
			err := tun.writeBlock(ctx, key.table, spec, id, block, body)
			if sessionGone(err) {
				return &stopRetry{err} // the session is gone: the caller starts a new one
			}
			return err
		})
}

// commit commits a session; after a failed attempt the status tells
// whether the commit happened anyway.
func (s *Sink) commit(ctx context.Context, tun *tunnelClient, g streamKey, spec, id string) error {
	return s.retry(ctx, retryOpts{what: fmt.Sprintf("commit of upload session %s on %s", id, g.group()),
		log: []any{"table", g.table, "partition", g.part, "session", id}},
		func() error {
			err := tun.commitUpload(ctx, g.table, spec, id)
			if err != nil {
				// A commit that failed on the way back may have happened.
				if st, serr := tun.uploadStatus(ctx, g.table, spec, id); serr == nil && st.status == "closed" {
					return nil
				}
				if sessionGone(err) {
					return &stopRetry{err} // expired or table modified: the caller starts a new session
				}
			}
			return err
		})
}

// uploadStatus asks for a session's status through the retry loop; a
// session that is gone is handed back at once.
func (s *Sink) uploadStatus(ctx context.Context, tun *tunnelClient, g streamKey, spec, id string) (*uploadSession, error) {
	var st *uploadSession
	err := s.retry(ctx, retryOpts{what: fmt.Sprintf("status of upload session %s on %s", id, g.group()),
		log: []any{"table", g.table, "partition", g.part, "session", id}},
		func() (err error) {
			st, err = tun.uploadStatus(ctx, g.table, spec, id)
			if sessionGone(err) {
				return &stopRetry{err}
			}
			return err
		})
	return st, err
}
