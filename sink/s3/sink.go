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
// The sink acknowledges later (sink.Acker): the pipeline's log is its
// spool. How exactly-once works with files much larger than a batch:
//
//  1. WriteAck encodes the rows of a batch at once into the open file of
//     their table partition (a scratch file in spool_dir/tmp, never
//     synced: one encode per row, and the upload is the one durable write
//     beyond the log). A batch is acknowledged when every object holding
//     one of its rows is uploaded and every schema change in it published;
//     the pipeline's cursor moves only then, and the log keeps the rows
//     until it does.
//  2. Where a file is cut is decided per event from the data alone: its
//     size, and its age on the data clock (the largest source commit time
//     seen). A replay from the cursor after a crash therefore cuts exactly
//     where the first run did, whatever the batch boundaries.
//  3. A cut file is uploaded as one object named after the first and last
//     sequence it holds. Before the upload starts, its table partition and
//     range are recorded in spool_dir/state.json (synced). After a crash
//     the objects recorded there that exist are not written again: their
//     rows are skipped and the next row of the partition starts a new file,
//     as in the first run. So files cut by the wall clock (idle_after, a
//     stop, a full spool_dir), whose cut a replay cannot reproduce, are
//     never duplicated either; a file cut but not uploaded at the crash is
//     cut again from the data. A crash between the upload and the
//     acknowledgement uploads nothing twice.
//
// Memory is bounded by the batch being written, the Parquet row group of
// each open file and the multipart part size; the scratch files on disk
// are bounded by max_spool_size (WriteAck waits while uploads catch up, the
// log buffers the rest).
package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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

// object is the rows of one target partition awaiting upload, encoded into
// a scratch file as they arrive.
type object struct {
	Table  string
	Part   string
	Layout uint64
	// FirstSeq..LastSeq name the object.
	FirstSeq, LastSeq uint64
	// Opened is the data clock when the file was started (its age origin).
	Opened int64
	// MinCommit is the smallest commit time of its rows (for the checkpoint).
	MinCommit int64
	Rows      int64
	// Size is the row data taken in (event.ApproxSize): what rolling counts.
	Size   int64
	Sealed bool

	lay       *layout
	path      string   // the scratch file
	f         *os.File // open while the file is written
	cw        *countWriter
	enc       odsfile.RowWriter
	orphan    bool  // dropped by a reset while its upload was in progress
	finishErr error // writing the end of the file failed
}

// countWriter counts the bytes written to the scratch file and keeps the
// first I/O error (an encoder error without one is a data error).
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// accepted is a batch taken in and not yet acknowledged.
type accepted struct {
	first, last uint64
	ack         sink.AckFunc
}

// state is what the sink knows about the rows it took in (in memory: after
// a restart the log hands them out again).
type state struct {
	// Applied is the last log sequence taken in.
	Applied uint64
	// Clock is the largest commit time (µs) seen: the data clock that
	// ages files.
	Clock int64
	// Heads is, per target base name, the layout the last row or schema
	// change of the target was mapped to.
	Heads map[string]headRef
	// Publish lists the layout changes whose schema files and Athena DDL
	// are not yet in the bucket, in order.
	Publish []publication
	// Unverified lists, per target base name, the first layout used while
	// the bucket could not be read to find the target's layout: it is
	// checked against the bucket before the target's first upload.
	Unverified map[string]headRef
}

// headRef names a target's current layout.
type headRef struct {
	Table  string
	Layout uint64
}

// publication is a layout change to publish in the bucket: the schema
// file of the new layout, its Athena DDL, and the current.* pointers.
type publication struct {
	// Seq is the event that changed the head: it is acknowledged once the
	// change is published.
	Seq    uint64
	Base   string
	Table  string
	Layout uint64
	// Prev is the layout before (zero for a new target).
	PrevTable string
	Prev      uint64
	// Schema and DDL are the schema file and the Athena DDL ("" for
	// jsonl), rendered from the live target when the head changed.
	Schema string
	DDL    string
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
	open      map[spoolKey]*object
	byFirst   map[uint64]*object // every object not uploaded
	layouts   map[uint64]*layout // layouts in use, by layout version
	lvCache   map[*schema.Target]uint64
	nextAge   int64
	lastWrite time.Time
	writers   int
	failed    error // permanent failure: WriteAck refuses
	spoolSize int64 // row data of the objects not uploaded
	progress  chan struct{}

	// acknowledgements
	acc      []accepted // in order
	ackedSeq uint64     // every batch up to it is acknowledged
	durable  uint64     // every row up to it is in the bucket (the watermark)
	firedSeq uint64     // acknowledgements up to it are delivered to the pipeline
	firing   int        // groups of acknowledgements advance returned, not yet delivered
	started  []upRange  // state.json: uploads started, not below ackedSeq
	recover  []upRange  // state.json of the last run, not yet checked
	headLog  []headAt   // state.json: layout changes (see headBefore)
	from     uint64     // the first seq handed to this process
	skip     map[spoolKey][]upRange
	skipMax  uint64
	orphans  int

	// uploads
	queue        []uint64 // sealed objects not uploaded, not in progress
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
	schemaDone   map[string]bool

	// schema evolution (evolve.go)
	reconciled  map[string]bool // target base names reconciled in this process
	unverified  map[string]bool // ... without reading the bucket (see state.Unverified)
	resolved    map[*event.Table]*schema.Target
	pubRetryAt  time.Time
	pubAttempts int

	ckptAt     time.Time
	ckptStored []byte

	// scratch for WriteAck
	rowBuf  []event.Value
	partT   *schema.Target
	partSec int64
	part    string

	bg      context.Context // background work (uploads, timers); canceled by Close
	cancel  context.CancelFunc
	bgStart sync.Once
	wg      sync.WaitGroup
	closed  bool
}

var _ sink.Acker = (*Sink)(nil)

// New returns a sink for a validated config (defaults are applied to a
// copy). It makes no S3 request and starts no goroutines; uploads started
// by a previous run are checked at the first WriteAck, and Start starts
// the background work.
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
		resolved: map[*event.Table]*schema.Target{}, open: map[spoolKey]*object{}, byFirst: map[uint64]*object{},
		layouts: map[uint64]*layout{}, lvCache: map[*schema.Target]uint64{}, skip: map[spoolKey][]upRange{},
		inProgress: map[uint64]bool{}, retryAt: map[uint64]time.Time{}, attempts: map[uint64]int{}, bg: ctx, cancel: cancel,
		lastWrite: time.Now()}
	sf, err := s.openDir()
	if err != nil {
		cancel()
		return nil, err
	}
	s.recover, s.headLog = sf.Uploads, sf.Heads
	if n := len(s.recover); n > 0 {
		s.lg.Info("s3 sink: objects uploaded by the last run are checked before the log is replayed", "objects", n)
	}
	return s, nil
}

// Start starts the uploaders, the roll timer and the schema publisher
// (sink.Starter); they run until Close. WriteAck, Write and Close start
// them too when a caller skipped Start.
func (s *Sink) Start(context.Context) error {
	s.bgStart.Do(func() {
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

// Write takes b in and waits until it is in the bucket: every open file
// is cut for it. The pipeline uses WriteAck; Write is the synchronous
// contract for tools.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	done := make(chan error, 1)
	if err := s.WriteAck(ctx, b, func(err error) { done <- err }); err != nil {
		return err
	}
	s.cutAll("write")
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteAck encodes the rows of a batch into the open files and calls ack
// once they are all uploaded (see the package comment). ack may be nil.
func (s *Sink) WriteAck(ctx context.Context, b *sink.Batch, ack sink.AckFunc) error {
	_ = s.Start(ctx)
	s.mu.Lock()
	s.writers++
	s.lastWrite = time.Now()
	acks, refuse, err := s.writeAck(ctx, b, ack)
	s.writers--
	s.mu.Unlock()
	s.fire(acks, refuse)
	return err
}

// fire calls acks (outside s.mu).
func (s *Sink) fire(acks []accepted, err error) {
	for _, a := range acks {
		if a.ack != nil {
			a.ack(err)
		}
	}
	if err == nil && len(acks) > 0 {
		s.mu.Lock()
		if s.firing--; s.firing == 0 {
			s.firedSeq = s.ackedSeq
		}
		s.mu.Unlock()
	}
}

// writeAck is WriteAck with s.mu held: it returns the acks to call with
// refuse (nil: delivered), and err when b is rejected (nothing taken in,
// or a permanent failure).
func (s *Sink) writeAck(ctx context.Context, b *sink.Batch, ack sink.AckFunc) (acks []accepted, refuse, err error) {
	if s.failed != nil {
		return nil, nil, fmt.Errorf("%w: %v", sink.ErrPermanent, s.failed)
	}
	if s.closed {
		return nil, nil, errors.New("s3 sink: closed")
	}
	if len(s.recover) > 0 {
		if err := s.recoverUploads(ctx); err != nil {
			return nil, nil, err
		}
	}
	// Uploads of files dropped by a reset decide which rows a replay skips.
	for s.orphans > 0 {
		if err := s.wait(ctx, time.Second); err != nil {
			return nil, nil, err
		}
	}
	// Bounded scratch: wait while uploads catch up.
	for since := time.Now(); s.spoolSize >= int64(s.cfg.MaxSpoolSize); {
		if time.Since(since) >= 10*time.Second {
			return nil, nil, fmt.Errorf("s3 sink: spool_dir full (%d bytes, max_spool_size %d): uploads are not keeping up; last upload error: %v",
				s.spoolSize, s.cfg.MaxSpoolSize, s.lastErr)
		}
		if len(s.open) > 0 {
			// Open files fill it (many tables): cut them so the uploads
			// can free space.
			var sealed []*object
			for _, o := range s.open {
				sealed = s.seal(o, sealed)
			}
			s.enqueue(sealed)
			s.lg.Warn("s3 sink: spool_dir full; cutting every open file early", "files", len(sealed), "max_spool_size", int64(s.cfg.MaxSpoolSize))
		}
		if err := s.wait(ctx, time.Second); err != nil {
			return nil, nil, err
		}
	}
	if s.from == 0 {
		s.from = b.First
	}
	s.acc = append(s.acc, accepted{first: b.First, last: b.Last, ack: ack})
	if err := s.take(ctx, b); err != nil {
		if errors.Is(err, sink.ErrPermanent) {
			// Rejected: b is not acknowledged; the others are refused.
			s.failed = err
			s.lg.Error("s3 sink: stopped", "err", err)
			acks := s.acc[:len(s.acc)-1]
			s.acc = nil
			return acks, err, err
		}
		// Accepted and refused with every batch not yet acknowledged.
		s.lg.Warn("s3 sink: taking in a batch failed; every batch not yet acknowledged is delivered again",
			"first_seq", b.First, "last_seq", b.Last, "err", err)
		return s.reset(), err, nil
	}
	return s.advance(), nil, nil
}

// recoverUploads checks the uploads the last run started: those in the
// bucket are skipped by the replay. Called with s.mu held.
func (s *Sink) recoverUploads(ctx context.Context) error {
	for len(s.recover) > 0 {
		r := s.recover[0]
		// Not under s.mu: Health must answer meanwhile (S3 may be down).
		s.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ok, err := s.store.exists(cctx, r.Key)
		cancel()
		s.mu.Lock()
		if err != nil {
			return fmt.Errorf("s3 sink: checking the uploads of the last run: %w", err)
		}
		if ok {
			s.addSkip(r)
			s.started = append(s.started, r)
		}
		s.recover = s.recover[1:]
	}
	return nil
}

// addSkip records an uploaded object whose rows a replay must skip.
func (s *Sink) addSkip(r upRange) {
	k := spoolKey{r.Table, r.Part}
	s.skip[k] = append(s.skip[k], r)
	s.skipMax = max(s.skipMax, r.Last)
}

// skipped reports whether the row of k at seq is in an uploaded object.
func (s *Sink) skipped(k spoolKey, seq uint64) bool {
	for _, r := range s.skip[k] {
		if r.First <= seq && seq <= r.Last {
			return true
		}
	}
	return false
}

// watermark is the last seq such that every row up to it is in the
// bucket and every schema change up to it published. Called with s.mu held.
func (s *Sink) watermark() uint64 {
	w := s.st.Applied
	for _, o := range s.byFirst {
		w = min(w, o.FirstSeq-1)
	}
	for _, p := range s.st.Publish {
		w = min(w, p.Seq-1)
	}
	return w
}

// advance takes the batches the watermark passed off the accepted list
// and returns them to acknowledge. Called with s.mu held.
func (s *Sink) advance() []accepted {
	w := s.watermark()
	s.durable = max(s.durable, w)
	if len(s.acc) == 0 || s.acc[0].last > w {
		return nil
	}
	i := 0
	for i < len(s.acc) && s.acc[i].last <= w {
		i++
	}
	acks := append([]accepted(nil), s.acc[:i]...)
	s.acc = append(s.acc[:0], s.acc[i:]...)
	s.ackedSeq = acks[len(acks)-1].last
	s.firing++
	// Skip ranges below what is acknowledged are never replayed.
	if s.skipMax > 0 && s.skipMax <= s.firedSeq {
		clear(s.skip)
		s.skipMax = 0
	}
	return acks
}

// reset drops everything not uploaded (the rows are in the log) and
// returns every accepted batch, to refuse: the pipeline delivers them again
// from its cursor. Uploads in progress finish; the replay skips their rows
// if they succeed. Called with s.mu held.
func (s *Sink) reset() []accepted {
	for first, o := range s.byFirst {
		if s.inProgress[first] {
			o.orphan = true
			s.orphans++
			continue
		}
		o.discard()
	}
	clear(s.byFirst)
	clear(s.open)
	s.queue = s.queue[:0]
	s.spoolSize = 0
	s.st.Applied, s.st.Clock, s.nextAge = 0, 0, 0
	acks := s.acc
	s.acc = nil
	s.signal()
	return acks
}

// discard closes and removes the scratch file of an object.
func (o *object) discard() {
	if o.f != nil {
		o.f.Close()
		o.f = nil
	}
	if o.path != "" {
		os.Remove(o.path)
		o.path = ""
	}
}

// take encodes the events of b above Applied. Called with s.mu held. A
// panic in an encoder becomes a permanent error naming the row.
func (s *Sink) take(ctx context.Context, b *sink.Batch) (err error) {
	var cur *event.Event
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: s3 sink: table %s at %s (seq %d): encoder panic: %v", sink.ErrPermanent, cur.Source, cur.Pos, cur.Seq, r)
		}
	}()
	clear(s.resolved)
	var sealed []*object
	defer func() { s.enqueue(sealed) }()
	for i := range b.Events {
		e := &b.Events[i]
		cur = e
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
		lv, lay := s.layoutOf(t)
		// The partition only changes at hour or day boundaries: reuse it
		// within the same target and second.
		if sec := e.CommitTime / 1e6; t != s.partT || sec != s.partSec {
			s.partT, s.partSec, s.part = t, sec, t.Partition(e.CommitTime)
		}
		part := s.part
		// Age-based cuts of any file, on the data clock.
		if s.st.Clock >= s.nextAge {
			sealed = s.ageScan(s.st.Clock, sealed)
		}
		k := spoolKey{t.Name, part}
		o := s.open[k]
		if s.skipMax >= e.Seq && s.skipped(k, e.Seq) {
			// In an object uploaded before a crash or reset: that object
			// ended the file before it.
			if o != nil {
				sealed = s.seal(o, sealed)
			}
			s.st.Applied = e.Seq
			continue
		}
		if o != nil && o.Layout != lv {
			sealed = s.seal(o, sealed)
			o = nil
		}
		if o == nil {
			o, err = s.newObject(t, part, lv, lay, e)
			if err != nil {
				return err
			}
			s.open[k] = o
			s.byFirst[o.FirstSeq] = o
			s.nextAge = min(s.nextAge, o.Opened+s.cfg.FlushInterval.Microseconds())
		}
		if err := o.enc.WriteRow(row); err != nil {
			if o.cw.err != nil {
				return fmt.Errorf("s3 sink: scratch file %s: %w", o.path, o.cw.err)
			}
			return fmt.Errorf("%w: s3 sink: table %s at %s (seq %d): %w", sink.ErrPermanent, e.Source, e.Pos, e.Seq, err)
		}
		n := event.ApproxSize(row) + 8
		o.LastSeq = e.Seq
		o.Rows++
		o.Size += n
		o.MinCommit = min(o.MinCommit, e.CommitTime)
		s.spoolSize += n
		s.st.Applied = e.Seq
		if o.Size >= int64(s.cfg.FileSize) ||
			(s.st.Clock >= o.Opened+s.cfg.FlushInterval.Microseconds() && o.Size >= int64(s.cfg.MinFileSize)) {
			sealed = s.seal(o, sealed)
		}
	}
	if b.Last > s.st.Applied {
		s.st.Applied = b.Last
	}
	return nil
}

// newObject starts the file of a target partition at event e. Called with
// s.mu held.
func (s *Sink) newObject(t *schema.Target, part string, lv uint64, lay *layout, e *event.Event) (*object, error) {
	o := &object{Table: t.Name, Part: part, Layout: lv, FirstSeq: e.Seq, LastSeq: e.Seq, Opened: s.st.Clock, MinCommit: e.CommitTime, lay: lay}
	path := filepath.Join(s.dir, "tmp", fmt.Sprintf("%020d.%s", e.Seq, s.ext))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("s3 sink: scratch file: %w", err)
	}
	o.f, o.path = f, path
	o.cw = &countWriter{w: f}
	o.enc, err = odsfile.NewEncoder(s.cfg.Format, o.cw, t, odsfile.EncoderOptions{
		Compression: s.cfg.Compression, RowGroupBytes: int64(s.cfg.RowGroupSize), CSVHeader: *s.cfg.CSVHeader,
		Metadata: map[string]string{
			"odsync.table":     t.Name,
			"odsync.layout":    hex16(lv),
			"odsync.partition": t.PartitionColumn + "=" + part,
			"odsync.first_seq": strconv.FormatUint(e.Seq, 10),
		}})
	if err != nil {
		o.discard()
		return nil, fmt.Errorf("%w: s3 sink: table %s at %s (seq %d): %w", sink.ErrPermanent, e.Source, e.Pos, e.Seq, err)
	}
	return o, nil
}

// layoutOf returns the layout version of a target. Called with s.mu held.
func (s *Sink) layoutOf(t *schema.Target) (uint64, *layout) {
	if lv, ok := s.lvCache[t]; ok {
		return lv, s.layouts[lv]
	}
	lv := odsfile.LayoutVersion(t)
	l, ok := s.layouts[lv]
	if !ok {
		l = &layout{Target: t, Schema: string(t.SchemaJSON())}
		s.layouts[lv] = l
	}
	s.lvCache[t] = lv
	return lv, l
}

// ageScan cuts every open file whose age on clock calls for it and
// computes when the next one will. Called with s.mu held.
func (s *Sink) ageScan(clock int64, sealed []*object) []*object {
	flush, maxAge, minSize := s.cfg.FlushInterval.Microseconds(), s.cfg.MaxAge.Microseconds(), int64(s.cfg.MinFileSize)
	next := int64(math.MaxInt64)
	for _, o := range s.open {
		if clock >= o.Opened+maxAge || (clock >= o.Opened+flush && o.Size >= minSize) {
			sealed = s.seal(o, sealed)
			continue
		}
		n := o.Opened + flush
		if clock >= n {
			n = o.Opened + maxAge
		}
		next = min(next, n)
	}
	s.nextAge = next
	return sealed
}

// seal closes a file for upload. Called with s.mu held.
func (s *Sink) seal(o *object, sealed []*object) []*object {
	o.Sealed = true
	delete(s.open, spoolKey{o.Table, o.Part})
	return append(sealed, o)
}

// enqueue finishes sealed files (so a file waiting for its upload holds
// no encoder memory) and hands them to the uploaders. Called with s.mu held.
func (s *Sink) enqueue(sealed []*object) {
	if len(sealed) == 0 {
		return
	}
	for _, o := range sealed {
		o.finish()
		s.queue = append(s.queue, o.FirstSeq)
	}
	s.signal()
}

// finish writes the end of a sealed file; a failure is reported by its
// upload.
func (o *object) finish() {
	if o.enc == nil {
		return
	}
	if pq, ok := o.enc.(interface{ SetMetadata(k, v string) }); ok {
		pq.SetMetadata("odsync.last_seq", strconv.FormatUint(o.LastSeq, 10))
	}
	err := closeEncoder(o.enc)
	o.enc = nil
	// Closed until its upload: a long outage queues many files.
	if cerr := o.f.Close(); cerr != nil && o.cw.err == nil {
		o.cw.err = cerr
	}
	o.f = nil
	switch {
	case o.cw.err != nil:
		o.finishErr = &scratchError{o.cw.err}
	case err != nil:
		o.finishErr = fmt.Errorf("%w: %w", odsfile.ErrValue, err)
	}
}

// cutAll cuts every open file (a stop, a synchronous Write, an idle sink).
func (s *Sink) cutAll(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sealed []*object
	for _, o := range s.open {
		sealed = s.seal(o, sealed)
	}
	if len(sealed) > 0 {
		s.lg.Debug("s3 sink: cutting every open file", "why", why, "files", len(sealed))
	}
	s.enqueue(sealed)
}

// Flush implements sink.Acker: at a drain, with flush_on_close, every open
// file is cut and uploaded; without, the rows stay in the log.
func (s *Sink) Flush(context.Context) {
	if *s.cfg.FlushOnClose {
		s.cutAll("drain")
	}
}

// ticker cuts files by wall-clock age while no changes arrive and
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
		if !s.closed && s.writers == 0 && time.Since(s.lastWrite) >= s.cfg.IdleAfter && len(s.open) > 0 {
			clock := max(s.st.Clock, time.Now().UnixMicro())
			sealed := s.ageScan(clock, nil)
			s.nextAge = 0 // rescan on the next event, on the data clock
			s.enqueue(sealed)
		}
		s.mu.Unlock()
		s.maybeCheckpoint(ctx, false)
	}
}

// Close stops the sink: with flush_on_close it cuts every open file and
// waits (within ctx) for the uploads; what is not uploaded is not
// acknowledged, and the log hands it out again at the next start.
func (s *Sink) Close(ctx context.Context) error {
	_ = s.Start(ctx) // uploads queued by a previous run drain too
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if *s.cfg.FlushOnClose {
		s.cutAll("close")
	}
	s.mu.Lock()
	var err error
	for s.failed == nil && *s.cfg.FlushOnClose && (len(s.queue) > 0 || len(s.inProgress) > 0 || len(s.st.Publish) > 0) {
		if werr := s.wait(ctx, time.Second); werr != nil {
			err = fmt.Errorf("s3 sink: %d files and %d schema changes not uploaded at close (their rows stay in the log and are written at the next start): %w",
				len(s.queue)+len(s.inProgress), len(s.st.Publish), werr)
			break
		}
	}
	s.mu.Unlock()
	if err == nil {
		s.maybeCheckpoint(ctx, true)
	}
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	for _, o := range s.byFirst {
		o.discard()
	}
	s.mu.Unlock()
	if err != nil {
		s.lg.Warn(err.Error())
		return nil // nothing is lost: the log keeps what is not acknowledged
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
	// Pending lists the files taken in but not yet in the bucket.
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
	c := Checkpoint{CompleteSeq: s.durable, Pending: []PendingFile{}}
	minCommit := s.st.Clock
	var firsts []uint64
	for f := range s.byFirst {
		firsts = append(firsts, f)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	for _, f := range firsts {
		o := s.byFirst[f]
		minCommit = min(minCommit, o.MinCommit)
		c.Pending = append(c.Pending, PendingFile{Table: o.Table, Partition: o.Part, FirstSeq: o.FirstSeq, Rows: o.Rows})
	}
	if minCommit > 0 && c.CompleteSeq > 0 {
		c.CompleteBeforeUS = minCommit
		c.CompleteBefore = time.UnixMicro(minCommit).UTC().Format(time.RFC3339Nano)
	}
	return c
}

// maybeCheckpoint rewrites the checkpoint object when it changed and the
// interval passed (or force).
func (s *Sink) maybeCheckpoint(ctx context.Context, force bool) {
	s.mu.Lock()
	if !force && time.Since(s.ckptAt) < s.cfg.CheckpointInterval {
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

// Stats describe the sink (for tests, benchmarks and metrics).
type Stats struct {
	AppliedSeq  uint64
	AckedSeq    uint64
	OpenSpools  int
	Queued      int
	SpoolBytes  int64
	LastError   string
	Uploaded    int64
	UploadBytes int64
}

// Stats returns the current statistics.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{AppliedSeq: s.st.Applied, AckedSeq: s.ackedSeq, OpenSpools: len(s.open), Queued: len(s.queue) + len(s.inProgress),
		SpoolBytes: s.spoolSize, Uploaded: s.uploaded, UploadBytes: s.uploadBytes}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	return st
}

// Health implements sink.HealthReporter: Durable is what the bucket holds
// (every row up to it uploaded), not what is taken in.
func (s *Sink) Health() sink.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := sink.Health{Delivers: true, Durable: s.durable, Buffered: s.spoolSize, ConsecutiveFailures: s.failStreak,
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
