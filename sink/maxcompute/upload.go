package maxcompute

import (
	"context"
	"errors"
	"fmt"
)

// Snapshot rows (event.OpRead) are encoded into blocks of a table
// partition that span batches (acker.go); bulk.go writes them into the
// partition's open upload session. Block writes,
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

// writeBlock writes a block (body compressed by s.codec), retried with
// backoff (a block is rewritten whole under the same id).
func (s *Sink) writeBlock(ctx context.Context, tun *tunnelClient, key streamKey, spec, id string, block int, body []byte) error {
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
