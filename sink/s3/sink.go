// Package s3 is the S3 sink: ODS tables as Parquet, CSV or JSON-lines
// objects in any S3-compatible bucket, exactly once, in files that query
// engines (Athena, Glue, Trino, Spark, DuckDB) read directly.
//
// Layout (package odsfile), under s3://bucket/prefix/:
//
//	{table}/{ds}={yyyymmdd}/{firstSeq}-{lastSeq}.{parquet|csv|jsonl}
//	{table}/_schema/v{layout}.json   one per column layout
//	_checkpoint.json                 what is complete (see Checkpoint)
//
// How exactly-once works with files much larger than a pipeline batch:
//
//  1. Write appends the rows of a batch to durable local spools, one per
//     table partition (CRC-checked records), fsyncs them and
//     commits the spool state atomically; only then does it return nil and
//     the pipeline advance its cursor. A batch already taken in (a replay
//     after a crash) is recognised by its sequence numbers and skipped.
//  2. Where a spool is cut into a file is decided per event from the data
//     alone: its size, and its age on the data clock (the largest source
//     commit time seen). A replay after a crash therefore cuts exactly
//     where the first run did, whatever the batch boundaries; only a spool
//     cut while no changes arrive (wall-clock age after idle_after), at
//     shutdown or when the spool is full depends on timing, and such a cut
//     is committed before it is uploaded.
//  3. A cut spool is encoded (deterministically) and uploaded as one object
//     named after the first and last sequence it holds; only after the
//     upload succeeded is it removed from the state. A crash in between
//     uploads the same bytes under the same name again: objects are never
//     duplicated and never need a manifest to dedupe.
//
// Memory is bounded by the batch being written, the Parquet row group of
// each upload in progress and the multipart part size; the spool on disk is
// bounded by max_spool_size (Write waits while uploads catch up).
package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
	"github.com/odsync/odsync/sink/odsfile"
)

type spoolKey struct {
	table, part string
}

// Sink writes ODS files into S3.
type Sink struct {
	cfg    Config
	mapper *schema.Mapper
	lg     *slog.Logger
	store  *store
	dir    string
	ext    string

	mu        sync.Mutex
	st        state
	open      map[spoolKey]*spool
	byFirst   map[uint64]*spool
	layouts   map[uint64]*layout // loaded or saved layouts, by layout version
	lvCache   map[*schema.Target]uint64
	nextAge   int64
	dirty     bool // memory may differ from the committed state: reload first
	lastWrite time.Time
	writers   int
	failed    error // permanent failure (bad data in a spool): Write refuses
	spoolSize int64
	progress  chan struct{} // closed and replaced whenever state or uploads change

	// uploads
	queue        []uint64 // sealed spools not uploaded, not in progress
	inProgress   map[uint64]bool
	retryAt      map[uint64]time.Time
	attempts     map[uint64]int
	lastErr      error
	failStreak   int       // failed uploads since the last success
	failingSince time.Time // the first of them
	retries      int64
	lastUpload   time.Time
	uploaded     int64
	uploadBytes  int64
	wake         chan struct{}
	schemaDone   map[string]bool

	// schema evolution (evolve.go)
	reconciled  map[string]bool // target base names reconciled in this process
	unverified  map[string]bool // ... without reading the bucket (see state.Unverified)
	resolved    map[*event.Table]*schema.Target
	pubRetryAt  time.Time
	pubAttempts int

	ckptBody   []byte
	ckptAt     time.Time
	ckptStored []byte

	// scratch for Write
	rowBuf  []event.Value
	free    [][]byte
	pending map[*spool][]byte
	base    map[*spool]int64
	partT   *schema.Target
	partSec int64
	part    string

	bg      context.Context // background work (uploads, timers); canceled by Close
	cancel  context.CancelFunc
	started sync.Once
	wg      sync.WaitGroup
	closed  bool
}

// New returns a sink for a validated config (defaults are applied to a
// copy). It recovers the spool directory and makes no S3 request; Start
// starts the background work (uploads left by a previous run resume).
func New(cfg Config, mapper *schema.Mapper, logger *slog.Logger) (*Sink, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("s3"); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := newStore(ctx, &cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Sink{cfg: cfg, mapper: mapper, lg: logger, store: st, dir: cfg.SpoolDir, ext: odsfile.Ext(cfg.Format),
		progress: make(chan struct{}), schemaDone: map[string]bool{}, reconciled: map[string]bool{}, unverified: map[string]bool{},
		resolved:   map[*event.Table]*schema.Target{},
		inProgress: map[uint64]bool{}, retryAt: map[uint64]time.Time{}, attempts: map[uint64]int{}, bg: ctx, cancel: cancel,
		lastWrite: time.Now()}
	for _, d := range []string{"spool", "layouts", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o700); err != nil {
			cancel()
			return nil, fmt.Errorf("s3 sink: spool_dir: %w", err)
		}
	}
	if err := s.reload(); err != nil {
		cancel()
		return nil, err
	}
	if n := len(s.byFirst); n > 0 {
		s.lg.Info("s3 sink: resuming spools", "spools", n, "queued_uploads", len(s.queue), "applied_seq", s.st.Applied)
	}
	return s, nil
}

// Start starts the uploaders, the roll timer and the schema publisher
// (sink.Starter); they run until Close. Write and Close start them too
// when a caller skipped Start.
func (s *Sink) Start(context.Context) error {
	s.started.Do(func() {
		for i := 0; i < s.cfg.Uploads; i++ {
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.uploader(s.bg) }()
		}
		s.wg.Add(2)
		go func() { defer s.wg.Done(); s.ticker(s.bg) }()
		go func() { defer s.wg.Done(); s.publisher(s.bg) }()
	})
	return nil
}

func (s *Sink) statePath() string { return filepath.Join(s.dir, "state.json") }

// reload reads the committed state and makes the directory match it:
// spool files are cut to their committed size, files no state refers to
// are removed, sealed spools are queued for upload. Called with s.mu held
// (or before the sink runs).
func (s *Sink) reload() error {
	var st state
	data, err := os.ReadFile(s.statePath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st = state{Version: stateVersion}
	case err != nil:
		return fmt.Errorf("s3 sink: %w", err)
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("s3 sink: %s: %w: %v", s.statePath(), sink.ErrPermanent, err)
		}
		if st.Version != stateVersion {
			return fmt.Errorf("s3 sink: %s: %w: state version %d, want %d", s.statePath(), sink.ErrPermanent, st.Version, stateVersion)
		}
	}
	s.st = st
	s.open = map[spoolKey]*spool{}
	s.byFirst = map[uint64]*spool{}
	s.layouts = map[uint64]*layout{}
	s.lvCache = map[*schema.Target]uint64{}
	s.spoolSize = 0
	s.nextAge = 0
	keepSpool := map[string]bool{}
	keepLayout := map[string]bool{}
	s.queue = s.queue[:0]
	for _, sp := range st.Spools {
		s.byFirst[sp.FirstSeq] = sp
		s.spoolSize += sp.Size
		path := spoolFile(s.dir, sp.FirstSeq)
		keepSpool[filepath.Base(path)] = true
		keepLayout[filepath.Base(layoutFile(s.dir, sp.Table, sp.Layout))] = true
		if err := truncateTo(path, sp.Size); err != nil {
			return fmt.Errorf("s3 sink: spool %s: %w", path, err)
		}
		if sp.Sealed {
			if !s.inProgress[sp.FirstSeq] {
				s.queue = append(s.queue, sp.FirstSeq)
			}
		} else {
			s.open[spoolKey{sp.Table, sp.Part}] = sp
		}
	}
	for _, h := range st.Heads {
		keepLayout[filepath.Base(layoutFile(s.dir, h.Table, h.Layout))] = true
	}
	for _, h := range st.Unverified {
		keepLayout[filepath.Base(layoutFile(s.dir, h.Table, h.Layout))] = true
	}
	removeExcept(filepath.Join(s.dir, "spool"), keepSpool)
	removeExcept(filepath.Join(s.dir, "layouts"), keepLayout)
	if len(s.inProgress) == 0 {
		removeExcept(filepath.Join(s.dir, "tmp"), nil)
	}
	s.dirty = false
	return nil
}

// truncateTo cuts a spool file to its committed size.
func truncateTo(path string, size int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() < size {
		return fmt.Errorf("%w: %d bytes, state says %d", errCorruptSpool, st.Size(), size)
	}
	if st.Size() == size {
		return nil
	}
	return os.Truncate(path, size)
}

func removeExcept(dir string, keep map[string]bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// commit writes the state atomically. Called with s.mu held.
func (s *Sink) commit() error {
	s.st.Spools = s.st.Spools[:0]
	for _, sp := range s.byFirst {
		s.st.Spools = append(s.st.Spools, sp)
	}
	sort.Slice(s.st.Spools, func(i, j int) bool { return s.st.Spools[i].FirstSeq < s.st.Spools[j].FirstSeq })
	data, err := json.Marshal(&s.st)
	if err == nil {
		err = writeFileSync(s.statePath(), data)
	}
	if err != nil {
		s.dirty = true
		return fmt.Errorf("s3 sink: commit state: %w", err)
	}
	s.signal()
	return nil
}

// signal wakes everyone waiting for progress. Called with s.mu held.
func (s *Sink) signal() {
	close(s.progress)
	s.progress = make(chan struct{})
}

func (s *Sink) fresh() bool { return s.st.Applied == 0 && len(s.byFirst) == 0 }

// wait releases s.mu until progress, ctx or d.
func (s *Sink) wait(ctx context.Context, d time.Duration) error {
	ch := s.progress
	s.mu.Unlock()
	defer s.mu.Lock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Write spools the rows of a batch durably (see the package comment).
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	_ = s.Start(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writers++
	defer func() { s.writers-- }()
	s.lastWrite = time.Now()
	if s.failed != nil {
		return fmt.Errorf("%w: %v", sink.ErrPermanent, s.failed)
	}
	if s.closed {
		return errors.New("s3 sink: closed")
	}
	if s.dirty {
		if err := s.reload(); err != nil {
			return err
		}
	}
	// Bounded spool: wait while uploads catch up.
	for since := time.Now(); s.spoolSize >= int64(s.cfg.MaxSpoolSize); {
		if time.Since(since) >= 10*time.Second {
			return fmt.Errorf("s3 sink: spool full (%d bytes, max_spool_size %d): uploads are not keeping up; last upload error: %v",
				s.spoolSize, s.cfg.MaxSpoolSize, s.lastErr)
		}
		if len(s.open) > 0 {
			// Open spools fill the spool (many tables): cut them so the
			// uploads can free space. The cut is committed before upload.
			var sealed []*spool
			for _, sp := range s.open {
				sealed = s.seal(sp, sealed)
			}
			if err := s.commit(); err != nil {
				return err
			}
			s.enqueue(sealed)
			s.lg.Warn("s3 sink: spool full; cutting every open file early", "files", len(sealed), "max_spool_size", int64(s.cfg.MaxSpoolSize))
		}
		if err := s.wait(ctx, time.Second); err != nil {
			return err
		}
	}
	// Batches are taken in log order; a predecessor may still be in flight.
	for since := time.Now(); !s.fresh() && b.First > s.st.Applied+1; {
		if time.Since(since) >= 2*time.Second && s.writers == 1 {
			s.lg.Warn("s3 sink: batch starts after a gap (cursor moved forward?); the gap is not written",
				"applied_seq", s.st.Applied, "first_seq", b.First)
			break
		}
		if err := s.wait(ctx, 100*time.Millisecond); err != nil {
			return err
		}
		if s.dirty {
			if err := s.reload(); err != nil {
				return err
			}
		}
	}
	if !s.fresh() && b.Last <= s.st.Applied {
		return nil // taken in before a crash: already durable
	}
	if err := s.take(ctx, b); err != nil {
		s.dirty = true
		return err
	}
	return nil
}

// take spools the events of b above Applied and commits. Called with s.mu held.
func (s *Sink) take(ctx context.Context, b *sink.Batch) error {
	if s.pending == nil {
		s.pending = map[*spool][]byte{}
		s.base = map[*spool]int64{}
	}
	for sp, buf := range s.pending {
		if cap(buf) <= 32<<20 && len(s.free) < 8 {
			s.free = append(s.free, buf[:0]) // reuse the buffers of the last Write
		}
		delete(s.pending, sp)
	}
	clear(s.base)
	clear(s.resolved)
	var sealed []*spool
	created := false
	for i := range b.Events {
		e := &b.Events[i]
		if !s.fresh() && e.Seq <= s.st.Applied {
			continue
		}
		if e.CommitTime > s.st.Clock {
			s.st.Clock = e.CommitTime
		}
		if e.Op == event.OpDDL {
			// A schema change: evolve the target now (its schema file and
			// DDL are published even if no row follows); a dropped source
			// table (no schema) keeps its target.
			if e.Table != nil {
				if _, err := s.resolve(ctx, e); err != nil {
					return err
				}
			}
			s.st.Applied = e.Seq
			continue
		}
		if e.Table == nil {
			return fmt.Errorf("%w: s3 sink: table %s at %s (seq %d): row event without a schema", sink.ErrPermanent, e.Source, e.Pos, e.Seq)
		}
		t, err := s.resolve(ctx, e)
		if err != nil {
			return err
		}
		row, err := t.SinkRow(e, s.rowBuf) // values that do not fit go to _raw, or stop (mapping.on_value_error)
		s.rowBuf = row
		if err != nil {
			return fmt.Errorf("%w: s3 sink: %w", sink.ErrPermanent, err)
		}
		lv, err := s.layoutOf(t)
		if err != nil {
			return err
		}
		// The partition only changes at hour or day boundaries: reuse it
		// within the same target and second.
		if sec := e.CommitTime / 1e6; t != s.partT || sec != s.partSec {
			s.partT, s.partSec, s.part = t, sec, t.Partition(e.CommitTime)
		}
		part := s.part
		// Age-based cuts of any spool, on the data clock.
		if s.st.Clock >= s.nextAge {
			sealed = s.ageScan(s.st.Clock, sealed)
		}
		k := spoolKey{t.Name, part}
		sp := s.open[k]
		if sp != nil && sp.Layout != lv {
			sealed = s.seal(sp, sealed)
			sp = nil
		}
		if sp == nil {
			sp = &spool{Table: t.Name, Part: part, Layout: lv, FirstSeq: e.Seq, Opened: s.st.Clock, MinCommit: e.CommitTime}
			s.open[k] = sp
			s.byFirst[sp.FirstSeq] = sp
			s.nextAge = min(s.nextAge, sp.Opened+s.cfg.FlushInterval.Microseconds())
			created = true
		}
		buf, ok := s.pending[sp]
		if !ok {
			s.base[sp] = sp.Size
			if n := len(s.free); n > 0 {
				buf, s.free = s.free[n-1], s.free[:n-1]
			}
		}
		n0 := len(buf)
		buf = appendRecord(buf, e.Op, row)
		s.pending[sp] = buf
		n := int64(len(buf) - n0)
		sp.LastSeq = e.Seq
		sp.Rows++
		sp.Size += n
		sp.MinCommit = min(sp.MinCommit, e.CommitTime)
		s.spoolSize += n
		s.st.Applied = e.Seq
		if sp.Size >= int64(s.cfg.FileSize) ||
			(s.st.Clock >= sp.Opened+s.cfg.FlushInterval.Microseconds() && sp.Size >= int64(s.cfg.MinFileSize)) {
			sealed = s.seal(sp, sealed)
		}
	}
	if b.Last > s.st.Applied {
		s.st.Applied = b.Last
	}
	// Make the rows durable, then commit.
	for sp, buf := range s.pending {
		if err := appendSync(spoolFile(s.dir, sp.FirstSeq), s.base[sp], buf); err != nil {
			return fmt.Errorf("s3 sink: spool: %w", err)
		}
	}
	if created {
		if err := syncDir(filepath.Join(s.dir, "spool")); err != nil {
			return fmt.Errorf("s3 sink: spool: %w", err)
		}
	}
	if err := s.commit(); err != nil {
		return err
	}
	s.enqueue(sealed)
	return nil
}

// appendSync writes buf at offset off of path and fsyncs.
func appendSync(path string, off int64, buf []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(buf, off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// layoutOf returns the layout version of a target, saving the layout file
// the first time. Called with s.mu held.
func (s *Sink) layoutOf(t *schema.Target) (uint64, error) {
	if lv, ok := s.lvCache[t]; ok {
		return lv, nil
	}
	lv := odsfile.LayoutVersion(t)
	if _, ok := s.layouts[lv]; !ok {
		l := &layout{Target: t, Schema: string(t.SchemaJSON())}
		path := layoutFile(s.dir, t.Name, lv)
		if _, err := os.Stat(path); err != nil {
			data, err := json.Marshal(l)
			if err == nil {
				err = writeFileSync(path, data)
			}
			if err != nil {
				return 0, fmt.Errorf("s3 sink: layout of %s: %w", t.Name, err)
			}
		}
		s.layouts[lv] = l
	}
	s.lvCache[t] = lv
	return lv, nil
}

// loadLayout returns a spool's layout. Called with s.mu held.
func (s *Sink) loadLayout(table string, lv uint64) (*layout, error) {
	if l, ok := s.layouts[lv]; ok {
		return l, nil
	}
	path := layoutFile(s.dir, table, lv)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: layout %s: %v", errCorruptSpool, path, err)
	}
	var l layout
	if err := json.Unmarshal(data, &l); err != nil || l.Target == nil {
		return nil, fmt.Errorf("%w: layout %s: %v", errCorruptSpool, path, err)
	}
	s.layouts[lv] = &l
	return &l, nil
}

// ageScan cuts every open spool whose age on clock calls for it and
// computes when the next one will. Called with s.mu held.
func (s *Sink) ageScan(clock int64, sealed []*spool) []*spool {
	flush, maxAge, minSize := s.cfg.FlushInterval.Microseconds(), s.cfg.MaxAge.Microseconds(), int64(s.cfg.MinFileSize)
	next := int64(math.MaxInt64)
	for _, sp := range s.open {
		if clock >= sp.Opened+maxAge || (clock >= sp.Opened+flush && sp.Size >= minSize) {
			sealed = s.seal(sp, sealed)
			continue
		}
		n := sp.Opened + flush
		if clock >= n {
			n = sp.Opened + maxAge
		}
		next = min(next, n)
	}
	s.nextAge = next
	return sealed
}

// seal closes a spool for upload. Called with s.mu held.
func (s *Sink) seal(sp *spool, sealed []*spool) []*spool {
	sp.Sealed = true
	delete(s.open, spoolKey{sp.Table, sp.Part})
	return append(sealed, sp)
}

// enqueue hands committed sealed spools to the uploaders. Called with s.mu held.
func (s *Sink) enqueue(sealed []*spool) {
	if len(sealed) == 0 {
		return
	}
	for _, sp := range sealed {
		s.queue = append(s.queue, sp.FirstSeq)
	}
	s.signal()
}

// ticker cuts spools by wall-clock age while no changes arrive and
// rewrites the checkpoint object.
func (s *Sink) ticker(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		if !s.dirty && !s.closed && s.writers == 0 && time.Since(s.lastWrite) >= s.cfg.IdleAfter && len(s.open) > 0 {
			clock := max(s.st.Clock, time.Now().UnixMicro())
			sealed := s.ageScan(clock, nil)
			s.nextAge = 0 // rescan on the next event, on the data clock
			if len(sealed) > 0 {
				if err := s.commit(); err != nil {
					s.lg.Warn("s3 sink: cutting idle spools", "err", err)
				} else {
					s.enqueue(sealed)
				}
			}
		}
		s.mu.Unlock()
		s.maybeCheckpoint(ctx, false)
	}
}

// Close stops the sink: with flush_on_close it cuts every open spool and
// waits (within ctx) for the uploads; what is not uploaded stays spooled
// and is uploaded at the next start.
func (s *Sink) Close(ctx context.Context) error {
	_ = s.Start(ctx) // uploads queued by a previous run drain too
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if *s.cfg.FlushOnClose && !s.dirty && s.failed == nil {
		var sealed []*spool
		for _, sp := range s.open {
			sealed = s.seal(sp, sealed)
		}
		if len(sealed) > 0 {
			if err := s.commit(); err != nil {
				s.lg.Warn("s3 sink: cutting spools at close", "err", err)
			} else {
				s.enqueue(sealed)
			}
		}
	}
	var err error
	for s.failed == nil && (len(s.queue) > 0 || len(s.inProgress) > 0 || len(s.st.Publish) > 0) {
		if werr := s.wait(ctx, time.Second); werr != nil {
			err = fmt.Errorf("s3 sink: %d files and %d schema changes not uploaded at close (kept in %s, uploaded at the next start): %w",
				len(s.queue)+len(s.inProgress), len(s.st.Publish), s.dir, werr)
			break
		}
	}
	s.mu.Unlock()
	if err == nil {
		s.maybeCheckpoint(ctx, true)
	}
	s.cancel()
	s.wg.Wait()
	if err != nil {
		s.lg.Warn(err.Error())
		return nil // nothing is lost: the spools are durable
	}
	return nil
}

// Checkpoint is the content of {prefix}/_checkpoint.json: how far the
// ODS files in the bucket are complete and final.
type Checkpoint struct {
	// CompleteSeq: every change with _seq <= CompleteSeq is in its final object.
	CompleteSeq uint64 `json:"complete_seq"`
	// CompleteBefore: every change committed at the source before this
	// instant (RFC 3339, UTC) is in its final object, assuming changes
	// reach odsync in commit order (one MySQL binlog does). Empty before
	// the first change.
	CompleteBefore   string `json:"complete_before,omitempty"`
	CompleteBeforeUS int64  `json:"complete_before_us,omitempty"`
	// Pending lists the spooled files not yet in the bucket.
	Pending []PendingFile `json:"pending"`
}

// PendingFile is a file being collected or uploaded.
type PendingFile struct {
	Table     string `json:"table"`
	Partition string `json:"partition"`
	FirstSeq  uint64 `json:"first_seq"`
	Rows      int64  `json:"rows"`
}

// checkpoint computes the checkpoint. Called with s.mu held.
func (s *Sink) checkpoint() Checkpoint {
	c := Checkpoint{CompleteSeq: s.st.Applied, Pending: []PendingFile{}}
	minCommit := s.st.Clock
	var firsts []uint64
	for f := range s.byFirst {
		firsts = append(firsts, f)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	for _, f := range firsts {
		sp := s.byFirst[f]
		c.CompleteSeq = min(c.CompleteSeq, sp.FirstSeq-1)
		minCommit = min(minCommit, sp.MinCommit)
		c.Pending = append(c.Pending, PendingFile{Table: sp.Table, Partition: sp.Part, FirstSeq: sp.FirstSeq, Rows: sp.Rows})
	}
	if minCommit > 0 {
		c.CompleteBeforeUS = minCommit
		c.CompleteBefore = time.UnixMicro(minCommit).UTC().Format(time.RFC3339Nano)
	}
	return c
}

// maybeCheckpoint rewrites the checkpoint object when it changed and the
// interval passed (or force).
func (s *Sink) maybeCheckpoint(ctx context.Context, force bool) {
	s.mu.Lock()
	if s.dirty || (!force && time.Since(s.ckptAt) < s.cfg.CheckpointInterval) {
		s.mu.Unlock()
		return
	}
	body, _ := json.MarshalIndent(s.checkpoint(), "", "  ")
	body = append(body, '\n')
	stored := s.ckptStored
	s.mu.Unlock()
	if string(body) == string(stored) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := s.store.putBytes(cctx, objectKey(s.cfg.Prefix, "_checkpoint.json"), body, "application/json")
	s.mu.Lock()
	s.ckptAt = time.Now()
	if err == nil {
		s.ckptStored = body
	}
	s.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		s.lg.Warn("s3 sink: checkpoint", "err", err)
	}
}

// Stats describe the sink's spool (for tests, benchmarks and metrics).
type Stats struct {
	AppliedSeq  uint64
	OpenSpools  int
	Queued      int
	SpoolBytes  int64
	LastError   string
	Uploaded    int64
	UploadBytes int64
}

// Stats returns the current spool statistics.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{AppliedSeq: s.st.Applied, OpenSpools: len(s.open), Queued: len(s.queue) + len(s.inProgress),
		SpoolBytes: s.spoolSize, Uploaded: s.uploaded, UploadBytes: s.uploadBytes}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	return st
}

// Health implements sink.HealthReporter: Durable is what the bucket holds
// (the checkpoint's CompleteSeq), not what is spooled.
func (s *Sink) Health() sink.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := sink.Health{Delivers: true, Durable: s.checkpoint().CompleteSeq, Buffered: s.spoolSize, ConsecutiveFailures: s.failStreak,
		LastSuccess: s.lastUpload, Retries: s.retries, Holding: s.cfg.MaxAge}
	if s.failStreak > 0 {
		h.FailingSince = s.failingSince
	}
	if s.lastErr != nil {
		h.LastError = s.lastErr.Error()
	}
	if s.failed != nil {
		h.LastError = s.failed.Error()
	}
	return h
}
