package s3

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/sink/odsfile"
)

// contentTypes of the formats.
var contentTypes = map[string]string{
	odsfile.FormatParquet: "application/vnd.apache.parquet",
	odsfile.FormatCSV:     "text/csv; charset=utf-8",
	odsfile.FormatJSONL:   "application/x-ndjson",
}

// uploader uploads sealed files until ctx is done.
func (s *Sink) uploader(ctx context.Context) {
	for ctx.Err() == nil {
		o, wait, changed := s.nextJob()
		if o == nil {
			sleepUntil(ctx, wait, changed)
			continue
		}
		start := time.Now()
		size, err := s.upload(ctx, o)
		if err != nil {
			if ctx.Err() != nil {
				s.release(o, nil)
				return
			}
			var ioErr *scratchError
			switch {
			case errors.As(err, &ioErr):
				s.refuseAll(fmt.Errorf("table %s partition %s seq %d..%d: %w", o.Table, o.Part, o.FirstSeq, o.LastSeq, err))
			case errors.Is(err, odsfile.ErrValue) || errors.Is(err, errLayoutConflict):
				s.fail(fmt.Errorf("table %s partition %s seq %d..%d: %w", o.Table, o.Part, o.FirstSeq, o.LastSeq, err))
				return
			default:
				s.release(o, err)
			}
			continue
		}
		s.done(o, size, time.Since(start))
	}
}

// scratchError is an I/O error of a scratch file: the file cannot be
// uploaded, its rows are encoded again from the log.
type scratchError struct{ err error }

func (e *scratchError) Error() string { return "scratch file: " + e.err.Error() }
func (e *scratchError) Unwrap() error { return e.err }

// nextJob takes the next sealed file that is due, or says how long to wait
// (until then or until changed is closed).
func (s *Sink) nextJob() (o *object, wait time.Duration, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = s.progress
	if s.failed != nil {
		return nil, time.Second, changed
	}
	now := time.Now()
	wait = time.Second
	q := s.queue[:0]
	for _, first := range s.queue {
		if o := s.byFirst[first]; o != nil && o.Sealed && !s.inProgress[first] {
			q = append(q, first)
		}
	}
	s.queue = q
	sort.Slice(s.queue, func(i, k int) bool { return s.queue[i] < s.queue[k] })
	for i, first := range s.queue {
		if at, ok := s.retryAt[first]; ok && at.After(now) {
			wait = min(wait, at.Sub(now))
			continue
		}
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		s.inProgress[first] = true
		return s.byFirst[first], 0, changed
	}
	return nil, wait, changed
}

// release puts a file back after a failure (retried with backoff) or a stop.
func (s *Sink) release(o *object, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := o.FirstSeq
	delete(s.inProgress, first)
	if o.orphan {
		// Dropped by a reset: its rows are encoded again from the log.
		s.orphans--
		o.discard()
		s.signal()
		return
	}
	if s.byFirst[first] == o {
		s.queue = append(s.queue, first)
	}
	if err == nil {
		return
	}
	s.lastErr = err
	if s.failStreak == 0 {
		s.failingSince = time.Now()
	}
	s.failStreak++
	s.retries++
	n := s.attempts[first] + 1
	s.attempts[first] = n
	wait := backoff.Attempt(n, 200*time.Millisecond, s.cfg.MaxBackoff)
	s.retryAt[first] = time.Now().Add(wait)
	s.lg.Warn("s3 sink: upload failed; retrying", "table", o.Table, "partition", o.Part,
		"first_seq", o.FirstSeq, "last_seq", o.LastSeq, "attempt", n, "backoff", wait, "err", err)
	s.signal()
}

// done records an uploaded file and acknowledges what it completes.
func (s *Sink) done(o *object, size int64, took time.Duration) {
	s.mu.Lock()
	first := o.FirstSeq
	delete(s.inProgress, first)
	delete(s.retryAt, first)
	delete(s.attempts, first)
	s.lastErr = nil
	s.failStreak = 0
	s.lastUpload = time.Now()
	s.uploaded++
	s.uploadBytes += size
	o.discard()
	// A replay (after a reset) skips its rows.
	s.addSkip(upRange{Table: o.Table, Part: o.Part, First: o.FirstSeq, Last: o.LastSeq})
	var acks []accepted
	if o.orphan {
		s.orphans--
	} else if s.byFirst[first] == o {
		delete(s.byFirst, first)
		s.spoolSize -= o.Size
		acks = s.advance()
	}
	s.signal()
	s.mu.Unlock()
	s.fire(acks, nil)
	s.lg.Debug("s3 sink: uploaded", "table", o.Table, "partition", o.Part, "first_seq", o.FirstSeq,
		"last_seq", o.LastSeq, "rows", o.Rows, "bytes", size, "took", took)
}

// fail stops the sink for good: WriteAck returns a permanent error and
// every accepted batch is refused with it.
func (s *Sink) fail(err error) {
	s.mu.Lock()
	var acks []accepted
	if s.failed == nil {
		s.failed = err
		if s.failStreak == 0 {
			s.failingSince = time.Now()
		}
		s.failStreak++
		s.lg.Error("s3 sink: stopped", "err", err)
		acks = s.acc
		s.acc = nil
	}
	s.signal()
	s.mu.Unlock()
	s.fire(acks, fmt.Errorf("%w: %v", sink.ErrPermanent, err))
}

// refuseAll drops everything not uploaded and refuses every accepted
// batch: the pipeline hands them out again from its cursor.
func (s *Sink) refuseAll(err error) {
	s.mu.Lock()
	s.lg.Warn("s3 sink: a file cannot be uploaded; every batch not yet acknowledged is delivered again", "err", err)
	acks := s.reset()
	s.mu.Unlock()
	s.fire(acks, err)
}

// upload finishes the file of o, records the upload in state.json and
// puts it; it returns the object size.
func (s *Sink) upload(ctx context.Context, o *object) (int64, error) {
	t := o.lay.Target
	if err := s.verifyBucket(ctx, t.BaseName); err != nil {
		return 0, err
	}
	if err := s.putSchema(ctx, t.Name, o.Layout, o.lay.Schema); err != nil {
		return 0, err
	}
	if o.finishErr != nil {
		return 0, o.finishErr
	}
	key := objectKey(s.cfg.Prefix, odsfile.Name(t.Name, t.PartitionColumn, o.Part, o.FirstSeq, o.LastSeq, s.ext))
	s.mu.Lock()
	recorded := false
	for _, r := range s.started {
		if r.Key == key {
			recorded = true
		}
	}
	var err error
	if !recorded {
		s.started = append(s.started, upRange{Key: key, Table: o.Table, Part: o.Part, First: o.FirstSeq, Last: o.LastSeq})
		err = s.saveState()
	}
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	f, err := os.Open(o.path)
	if err != nil {
		return 0, &scratchError{err}
	}
	defer f.Close()
	if err := s.store.putFile(ctx, key, f, o.cw.n, contentTypes[s.cfg.Format]); err != nil {
		return 0, err
	}
	return o.cw.n, nil
}

// closeEncoder writes the end of a file; a panic inside an encoder library
// becomes an error.
func closeEncoder(enc odsfile.RowWriter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("encoder panic: %v", r)
		}
	}()
	return enc.Close()
}

// sleepUntil waits for d, a change (changed closed) or the end of ctx.
func sleepUntil(ctx context.Context, d time.Duration, changed <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-changed:
	case <-t.C:
	}
}
