package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/sink/odsfile"
)

// job is a sealed spool being uploaded (a copy: the state may be reloaded
// meanwhile).
type job struct {
	sp  spool
	lay *layout
}

// contentTypes of the formats.
var contentTypes = map[string]string{
	odsfile.FormatParquet: "application/vnd.apache.parquet",
	odsfile.FormatCSV:     "text/csv; charset=utf-8",
	odsfile.FormatJSONL:   "application/x-ndjson",
}

// uploader uploads sealed spools until ctx is done.
func (s *Sink) uploader(ctx context.Context) {
	for ctx.Err() == nil {
		j, wait, changed, err := s.nextJob()
		if err != nil {
			s.fail(err)
			return
		}
		if j == nil {
			sleepUntil(ctx, wait, changed)
			continue
		}
		start := time.Now()
		size, err := s.upload(ctx, j)
		if err != nil {
			if ctx.Err() != nil {
				s.release(j, nil)
				return
			}
			if errors.Is(err, errCorruptSpool) || errors.Is(err, odsfile.ErrValue) || errors.Is(err, errLayoutConflict) {
				s.fail(fmt.Errorf("table %s partition %s seq %d..%d: %w", j.sp.Table, j.sp.Part, j.sp.FirstSeq, j.sp.LastSeq, err))
				return
			}
			s.release(j, err)
			continue
		}
		s.done(j, size, time.Since(start))
	}
}

// nextJob takes the next sealed spool that is due, or says how long to
// wait (until then or until changed is closed). Called without s.mu.
func (s *Sink) nextJob() (j *job, wait time.Duration, changed <-chan struct{}, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = s.progress
	if s.failed != nil {
		return nil, time.Second, changed, nil
	}
	if s.dirty {
		if err := s.reload(); err != nil {
			return nil, 0, changed, err
		}
	}
	now := time.Now()
	wait = time.Second
	q := s.queue[:0]
	for _, first := range s.queue {
		if sp := s.byFirst[first]; sp != nil && sp.Sealed && !s.inProgress[first] {
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
		sp := s.byFirst[first]
		lay, err := s.loadLayout(sp.Table, sp.Layout)
		if err != nil {
			return nil, 0, changed, err
		}
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		s.inProgress[first] = true
		return &job{sp: *sp, lay: lay}, 0, changed, nil
	}
	return nil, wait, changed, nil
}

// release puts a job back after a failure (retried with backoff) or a stop.
func (s *Sink) release(j *job, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := j.sp.FirstSeq
	delete(s.inProgress, first)
	if _, ok := s.byFirst[first]; ok {
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
	s.lg.Warn("s3 sink: upload failed; retrying", "table", j.sp.Table, "partition", j.sp.Part,
		"first_seq", j.sp.FirstSeq, "last_seq", j.sp.LastSeq, "attempt", n, "backoff", wait, "err", err)
	s.signal()
}

// done removes an uploaded spool from the state, then its file.
func (s *Sink) done(j *job, size int64, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := j.sp.FirstSeq
	delete(s.inProgress, first)
	delete(s.retryAt, first)
	delete(s.attempts, first)
	s.lastErr = nil
	s.failStreak = 0
	s.lastUpload = time.Now()
	s.uploaded++
	s.uploadBytes += size
	if s.dirty {
		if err := s.reload(); err != nil {
			s.failed = err
			return
		}
	}
	sp := s.byFirst[first]
	if sp == nil {
		return
	}
	delete(s.byFirst, first)
	s.spoolSize -= sp.Size
	if err := s.commit(); err != nil {
		s.lg.Warn("s3 sink: recording an upload", "err", err)
		return // re-uploaded (same bytes) after the state is reloaded
	}
	os.Remove(spoolFile(s.dir, first))
	s.lg.Debug("s3 sink: uploaded", "table", sp.Table, "partition", sp.Part, "first_seq", sp.FirstSeq,
		"last_seq", sp.LastSeq, "rows", sp.Rows, "bytes", size, "took", took)
}

// fail stops the sink for good: Write returns a permanent error.
func (s *Sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
		if s.failStreak == 0 {
			s.failingSince = time.Now()
		}
		s.failStreak++
		s.lg.Error("s3 sink: stopped", "err", err)
	}
	s.signal()
}

// upload encodes a spool into a scratch file and puts it; it returns the
// object size.
func (s *Sink) upload(ctx context.Context, j *job) (int64, error) {
	t := j.lay.Target
	if err := s.verifyBucket(ctx, t.BaseName); err != nil {
		return 0, err
	}
	if err := s.putSchema(ctx, t.Name, j.sp.Layout, j.lay.Schema); err != nil {
		return 0, err
	}
	tmp := filepath.Join(s.dir, "tmp", fmt.Sprintf("%020d.%s", j.sp.FirstSeq, s.ext))
	defer os.Remove(tmp)
	out, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	if err := s.encode(out, j); err != nil {
		return 0, err
	}
	size, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	key := objectKey(s.cfg.Prefix, odsfile.Name(t.Name, t.PartitionColumn, j.sp.Part, j.sp.FirstSeq, j.sp.LastSeq, s.ext))
	if err := s.store.putFile(ctx, key, out, size, contentTypes[s.cfg.Format]); err != nil {
		return 0, err
	}
	return size, nil
}

// encode writes the file of a spool. The output depends only on the
// spool's rows, layout and the sink's format options. A panic inside an
// encoder library becomes a permanent error naming the spool.
func (s *Sink) encode(w io.Writer, j *job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: encoder panic: %v", odsfile.ErrValue, r)
		}
	}()
	path := spoolFile(s.dir, j.sp.FirstSeq)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", errCorruptSpool, err)
	}
	defer f.Close()
	t := j.lay.Target
	enc, err := odsfile.NewEncoder(s.cfg.Format, w, t, odsfile.EncoderOptions{
		Compression: s.cfg.Compression, RowGroupBytes: int64(s.cfg.RowGroupSize), CSVHeader: *s.cfg.CSVHeader,
		Metadata: map[string]string{
			"odsync.table":     t.Name,
			"odsync.layout":    hex16(j.sp.Layout),
			"odsync.partition": t.PartitionColumn + "=" + j.sp.Part,
			"odsync.first_seq": strconv.FormatUint(j.sp.FirstSeq, 10),
			"odsync.last_seq":  strconv.FormatUint(j.sp.LastSeq, 10),
		}})
	if err != nil {
		return err
	}
	rr := newRecordReader(f, j.sp.Size, path)
	var rows int64
	for {
		e, err := rr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := enc.WriteRow(e.After); err != nil {
			return err
		}
		rows++
	}
	if rows != j.sp.Rows {
		return fmt.Errorf("%w: %s holds %d rows, state says %d", errCorruptSpool, path, rows, j.sp.Rows)
	}
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
