package offsets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/odsync/odsync/event"
)

// Errors.
var (
	// ErrClosed is returned by every call on a closed Log.
	ErrClosed = errors.New("offsets: log closed")
	// ErrTruncated is returned by Read for sequences below Tail (already
	// garbage collected).
	ErrTruncated = errors.New("offsets: truncated")
	// ErrUnknownCursor is returned by Ack for a cursor that was never registered.
	ErrUnknownCursor = errors.New("offsets: unknown cursor")
)

// Options configure a Log. The zero value is valid.
type Options struct {
	// MaxBytes caps the encoded bytes of retained committed entries (from the lowest
	// cursor to the head). Append blocks (backpressure) while over it, until GC frees
	// room or ctx is done. 0 means no cap.
	MaxBytes int64
	// MemTableSize is Pebble's memtable size. Up to two memtables are held
	// in memory (the one being written and one being flushed or kept for
	// reuse). 0 means DefaultMemTableSize.
	MemTableSize int64
	// CacheSize is Pebble's block cache size (blocks read back from disk
	// files). 0 means 8MiB.
	CacheSize int64
	// FS is the filesystem; nil means vfs.Default. Tests pass vfs.NewMem() / errorfs.
	FS     vfs.FS
	Logger *slog.Logger // nil = discard
}

// DefaultMemTableSize is the default Options.MemTableSize. Both memtables
// stay allocated once written, idle or not (and, in a build without cgo,
// they are Go heap that the collector's target doubles), so this is the
// largest fixed share of a sidecar's memory. 16MiB instead of 32MiB lowers
// the peak RSS of streaming a backlog by ~90 MiB (build without cgo) for
// ~8% more CPU per row (docs/benchmarks.md, "Memtable size"); the default
// keeps the CPU, state.memtable_size: 16MiB chooses the memory.
const DefaultMemTableSize = 32 << 20

// EnsureDefaults fills in the defaults of unset fields.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.CacheSize == 0 {
		o.CacheSize = 8 << 20
	}
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("offsets: MaxBytes %d is negative", o.MaxBytes))
	}
	if o.MemTableSize < 1<<20 || o.MemTableSize > 1<<30 {
		errs = append(errs, fmt.Errorf("offsets: MemTableSize %d: want 1MiB..1GiB", o.MemTableSize))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("offsets: CacheSize %d is negative", o.CacheSize))
	}
	return errors.Join(errs...)
}

// maxBatchBytes bounds one Append's pebble batch (pebble panics at 4 GiB).
const maxBatchBytes = 3 << 30

// retainedBatchBytes is the largest append batch buffer kept for the next
// Append (Pebble's default keeps 1MiB, below a capture's emit of ~4 MB: a
// new buffer for every such Append was a third of the log's allocations).
const retainedBatchBytes = 8 << 20

// Log is the durable event log. See the package documentation.
type Log struct {
	dir    string
	opts   Options
	logger *slog.Logger
	db     *pebble.DB

	bgMu         sync.Mutex // background error log limiting
	bgSeen       map[string]time.Time
	bgSuppressed int

	// closeMu is held shared by every call that uses db and exclusively by
	// Close, so db is never used after it was closed.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu
	// done is closed when Close starts; it wakes Wait and blocked appenders.
	done      chan struct{}
	closeOnce sync.Once

	// failure is the sticky write failure (see invariant 8).
	failure atomic.Pointer[failure]

	// app is the appender's state. Append calls are serialized by app.Mutex.
	app struct {
		sync.Mutex
		batch *pebble.Batch
		// batchCap is the buffer batch was created with, kept across
		// Appends up to retainedBatchBytes (0: none is kept).
		batchCap int
		next     uint64 // next seq to assign
		cum      int64  // cumulative event bytes through next-1
		key      [seqKeyLen]byte
		buf      []byte // event encoding scratch
		// avgEvent is the encoded size of an event in the last Append
		// (plus overhead), to size the next batch.
		avgEvent int
		meta     []byte // head record scratch
		// known holds the table versions stored under s/ (or written by the
		// batch being built).
		known       map[uint64]struct{}
		lastTable   *event.Table
		lastVersion uint64
		// onBlock, if set (tests), is called when Append starts waiting for room.
		onBlock func()
	}

	// wmu serializes cursor, pending and GC writes so that persisted cursor
	// values never go backwards by accident and GC sees a stable cursor set.
	wmu sync.Mutex

	mu struct {
		sync.Mutex
		head       uint64
		cumHead    int64 // cumulative event bytes through head
		tail       uint64
		cumTail    int64 // cumulative event bytes through tail-1
		checkpoint []byte
		hasCP      bool
		// uncommitted counts the partial entries above head.
		uncommitted uint64
		// commitCh is closed and replaced on every commit (head advance).
		commitCh chan struct{}
		// gcCh is closed and replaced whenever GC frees bytes.
		gcCh    chan struct{}
		cursors map[string]*cursor
		pending map[string][]uint64
		// tables caches decoded schemas by version for readers.
		tables map[uint64]*event.Table
	}
}

type failure struct {
	err error
	// horked means pebble panicked inside its commit pipeline: its internal
	// locks may be held, so Close must not call into it.
	horked bool
}

// Open opens (creating if missing) the log in dir and recovers it: entries
// appended without a later checkpointed Append are deleted.
func Open(dir string, opts Options) (*Log, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, logger: opts.Logger.With("component", "offsets", "dir", dir), done: make(chan struct{})}
	l.app.known = make(map[uint64]struct{})
	l.mu.commitCh = make(chan struct{})
	l.mu.gcCh = make(chan struct{})
	l.mu.cursors = make(map[string]*cursor)
	l.mu.pending = make(map[string][]uint64)
	l.mu.tables = make(map[uint64]*event.Table)

	fs := opts.FS
	if fs == vfs.Default {
		if err := tightenDir(dir); err != nil {
			return nil, fmt.Errorf("offsets: state dir %s: %w", dir, err)
		}
		fs = ownerOnlyFS{fs}
	}
	popts := &pebble.Options{
		FS:     fs,
		Logger: pebbleLogger{l},
		// Larger memtables than the 4 MB default: the log is written
		// sequentially at a high rate, and entries the sinks have passed
		// are deleted (when nothing is retained for replay) before their
		// memtable is flushed, so they never reach disk files.
		MemTableSize: uint64(opts.MemTableSize),
		CacheSize:    opts.CacheSize,
		EventListener: &pebble.EventListener{
			BackgroundError: l.backgroundError,
		},
	}
	db, err := openPebble(dir, popts)
	if err == nil {
		if f := l.failure.Load(); f != nil {
			err = f.err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("offsets: open state dir %s: %w", dir, err)
	}
	l.db = db
	if err := l.recover(); err != nil {
		if f := l.failure.Load(); f == nil || !f.horked {
			_ = db.Close()
		}
		return nil, fmt.Errorf("offsets: open state dir %s: %w", dir, err)
	}
	return l, nil
}

func openPebble(dir string, popts *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("pebble panicked: %v", r)
		}
	}()
	return pebble.Open(dir, popts)
}

// recover loads the meta records, cursors and pending boundaries, and
// deletes uncommitted entries.
func (l *Log) recover() error {
	v, ok, err := l.get([]byte(keyVersion))
	if err != nil {
		return err
	}
	var head headRecord
	hv, hasHead, err := l.get([]byte(keyHead))
	if err != nil {
		return err
	}
	switch {
	case ok:
		ver, err := decodeU64("format version", v)
		if err != nil {
			return err
		}
		if ver != formatVersion {
			return fmt.Errorf("unsupported format version %d (this build reads %d)", ver, formatVersion)
		}
	case hasHead:
		return fmt.Errorf("%w: format version record missing", event.ErrCorrupt)
	default:
		var b [8]byte
		b[7] = formatVersion
		if err := l.write(func(bt *pebble.Batch) { _ = bt.Set([]byte(keyVersion), b[:], nil) }, pebble.Sync); err != nil {
			return err
		}
	}
	if hasHead {
		if head, err = decodeHead(hv); err != nil {
			return err
		}
	}
	gc := gcRecord{tail: 1}
	if gv, ok, err := l.get([]byte(keyGC)); err != nil {
		return err
	} else if ok {
		if gc, err = decodeGC(gv); err != nil {
			return err
		}
	}
	if gc.tail > head.head+1 || gc.cum > head.cum {
		return fmt.Errorf("%w: tail %d (bytes %d) beyond head %d (bytes %d)", event.ErrCorrupt, gc.tail, gc.cum, head.head, head.cum)
	}
	// The first and last retained entries must exist.
	if gc.tail <= head.head {
		for _, s := range []uint64{gc.tail, head.head} {
			if _, ok, err := l.get(newSeqKey(prefixEvent, s)); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("%w: entry %d missing (tail %d, head %d)", event.ErrCorrupt, s, gc.tail, head.head)
			}
		}
	}

	// Discard uncommitted entries (invariant 3).
	n, err := l.countFrom(prefixEvent, head.head+1)
	if err != nil {
		return err
	}
	if n > 0 {
		l.logger.Info("discarding uncommitted entries", "count", n, "head", head.head)
		err := l.write(func(b *pebble.Batch) {
			_ = b.DeleteRange(newSeqKey(prefixEvent, head.head+1), prefixEnd(prefixEvent), nil)
			_ = b.DeleteRange(newSeqKey(prefixBytes, head.head+1), prefixEnd(prefixBytes), nil)
		}, pebble.Sync)
		if err != nil {
			return err
		}
	}

	l.mu.head, l.mu.cumHead = head.head, head.cum
	l.mu.checkpoint, l.mu.hasCP = head.checkpoint, head.hasCP
	l.mu.tail, l.mu.cumTail = gc.tail, gc.cum
	l.app.next, l.app.cum = head.head+1, head.cum

	if err := l.scanPrefix(prefixCursor, func(k, v []byte) error {
		name := string(k[len(prefixCursor):])
		acked, err := decodeU64(fmt.Sprintf("cursor %q", name), v)
		if err != nil {
			return err
		}
		if acked+1 < gc.tail || acked > head.head {
			return fmt.Errorf("%w: cursor %q at %d outside [tail-1 %d, head %d]", event.ErrCorrupt, name, acked, gc.tail-1, head.head)
		}
		l.mu.cursors[name] = &cursor{acked: acked, persisted: acked}
		return nil
	}); err != nil {
		return err
	}
	return l.scanPrefix(prefixPending, func(k, v []byte) error {
		name := string(k[len(prefixPending):])
		ends, err := decodeSeqs(fmt.Sprintf("pending %q", name), v)
		if err != nil {
			return err
		}
		l.mu.pending[name] = ends
		return nil
	})
}

// countFrom counts the seq keys with prefix at or above seq.
func (l *Log) countFrom(prefix string, seq uint64) (int, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: newSeqKey(prefix, seq), UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n, errors.Join(it.Error(), it.Close())
}

func (l *Log) scanPrefix(prefix string, fn func(k, v []byte) error) error {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefix), UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// get returns a copy of the value of key.
func (l *Log) get(key []byte) ([]byte, bool, error) {
	v, closer, err := l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, true, closer.Close()
}

// enter starts a call that uses db; exit must follow when it returns nil.
func (l *Log) enter() error {
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (l *Log) exit() { l.closeMu.RUnlock() }

// failed returns the sticky write failure, if any.
func (l *Log) failed() error {
	if f := l.failure.Load(); f != nil {
		return f.err
	}
	return nil
}

func (l *Log) setFailure(err error, horked bool) error {
	f := &failure{err: fmt.Errorf("state dir %s failed, reopen required: %w", l.dir, err), horked: horked}
	if l.failure.CompareAndSwap(nil, f) {
		l.logger.Error("log failed; writes refused until reopen", "err", err)
		return f.err
	}
	if horked {
		// Keep the first error but remember the pipeline is stuck.
		old := l.failure.Load()
		l.failure.Store(&failure{err: old.err, horked: true})
	}
	return l.failure.Load().err
}

// commit commits b. Any error puts the log into the failed state: pebble
// cannot continue after a failed WAL write or sync (its Fatalf, which we
// turn into an error, reports those; see pebbleLogger).
func (l *Log) commit(b *pebble.Batch, opts *pebble.WriteOptions) (err error) {
	if err := l.failed(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = l.setFailure(fmt.Errorf("pebble panicked: %v", r), true)
		}
	}()
	if err := b.Commit(opts); err != nil {
		return l.setFailure(err, false)
	}
	return l.failed()
}

// write builds a one-off batch with fill and commits it.
func (l *Log) write(fill func(b *pebble.Batch), opts *pebble.WriteOptions) error {
	b := l.db.NewBatch()
	fill(b)
	err := l.commit(b, opts)
	if err == nil {
		_ = b.Close()
	}
	return err
}

// Close syncs and closes the log. Blocked Wait and Append calls return
// ErrClosed. Calls after Close return ErrClosed.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	if f := l.failure.Load(); f != nil {
		if f.horked {
			return f.err
		}
		// The failed WAL makes pebble's Close report the same cause again.
		_ = l.db.Close()
		return nil
	}
	// Cursor writes are not synced (replay is idempotent); sync them now.
	// (Pebble's Close syncs the WAL too; this does not rely on it.)
	err := l.write(func(b *pebble.Batch) { _ = b.LogData(nil, nil) }, pebble.Sync)
	if cerr := l.db.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return fmt.Errorf("offsets: close state dir %s: %w", l.dir, err)
	}
	return nil
}

// pebbleLogger routes pebble's log to slog. Fatalf, which pebble calls when
// a commit failed (WAL write or sync error) and which by default exits the
// process, instead puts the Log into the failed state.
type pebbleLogger struct{ l *Log }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.logger.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.logger.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	var err error
	for _, a := range args {
		if e, ok := a.(error); ok {
			err = fmt.Errorf("pebble fatal: %w", e)
			break
		}
	}
	if err == nil {
		err = errors.New(fmt.Sprintf(format, args...))
	}
	p.l.setFailure(err, false)
}

var _ io.Closer = (*Log)(nil)
