package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/odsync/odsync/backoff"
	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
)

// Source reads a TiCDC changefeed's Kafka topics (or generic CDC JSON) and
// hands ordered, de-duplicated changes with their checkpoint to the log.
// It implements pipeline.Source.
type Source struct {
	cfg     SourceConfig
	capture func(event.TableID) bool
	log     *slog.Logger
	topicRe *regexp.Regexp
	start   Start

	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
	large     *largeMessages
	dead      *deadLetters

	// last is the checkpoint of the last emit (or the one Run started from).
	last atomic.Pointer[Checkpoint]

	// free holds emitted slices the pipeline handed back (Recycle) for
	// the merger to reuse.
	free chan []event.Event

	mu    sync.Mutex
	stats Stats       // totals of finished assignments
	cur   mergerStats // the running assignment's, as of its last release
}

// Stats is the source's progress, for status pages and tests.
type Stats struct {
	// Messages read; Rows and DDL emitted; Watermarks and Skipped
	// (non-change) messages; Duplicates dropped (TiCDC replays and re-reads
	// of rows already in the log); DDLCopies (broadcast copies) dropped;
	// Filtered rows of tables not captured; BadMessages sent to the
	// dead-letter destination; Emits (hand-overs to the log).
	Messages, Rows, DDL, Watermarks, Skipped     uint64
	Duplicates, DDLCopies, Filtered, BadMessages uint64
	Emits                                        uint64
	// Released is the watermark up to which rows were released.
	Released uint64
	// BufferedBytes approximates the rows waiting for the watermark (in
	// memory and spilled to disk); PeakBufferedBytes is the peak of those
	// in memory.
	BufferedBytes, PeakBufferedBytes int64
	// Spills counts the times buffered rows were written to disk (rows
	// waiting for a watermark past 1.5 × max_buffer_bytes), SpilledBytes
	// is what is on disk now.
	Spills       uint64
	SpilledBytes int64
	// Generations counts assignments: consumer-group generations joined
	// (or static assignments started).
	Generations int
	// Assigned lists the partitions read now ("topic/partition").
	Assigned []string
}

func (s *Stats) addMerger(m *mergerStats) {
	s.Messages += m.Messages
	s.Rows += m.Rows
	s.DDL += m.DDL
	s.Watermarks += m.Watermarks
	s.Skipped += m.Skipped
	s.Duplicates += m.Duplicates
	s.DDLCopies += m.DDLCopies
	s.Filtered += m.Filtered
	s.BadMessages += m.BadMsgs
	s.Emits += m.Emits
	s.Released = max(s.Released, m.Released)
	s.PeakBufferedBytes = max(s.PeakBufferedBytes, m.PeakBufBytes)
	s.Spills += m.Spills
}

// NewSource returns a source for cfg. capture says which tables are
// captured (nil: all); rows of other tables are read and dropped.
func NewSource(cfg SourceConfig, capture func(event.TableID) bool, logger *slog.Logger) (*Source, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, capture: capture, log: logger, free: make(chan []event.Event, 4)}
	if cfg.TopicRegex != "" {
		s.topicRe = regexp.MustCompile("^(?:" + cfg.TopicRegex + ")$")
	}
	s.start, _ = ParseStart(cfg.Start)
	tlsCfg, err := cfg.TLS.config()
	if err != nil {
		return nil, fmt.Errorf("%s.tls: %w", cfg.prefix(), err)
	}
	mech, err := cfg.SASL.mechanism()
	if err != nil {
		return nil, fmt.Errorf("%s.sasl: %w", cfg.prefix(), err)
	}
	s.dialer = &kafka.Dialer{ClientID: cfg.ClientID, Timeout: cfg.DialTimeout, TLS: tlsCfg, SASLMechanism: mech, DualStack: true}
	s.transport = &kafka.Transport{ClientID: cfg.ClientID, DialTimeout: cfg.DialTimeout, TLS: tlsCfg, SASL: mech,
		MetadataTTL: 10 * time.Second, IdleTimeout: time.Minute}
	s.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: s.transport, Timeout: cfg.DialTimeout + cfg.FetchMaxWait + 10*time.Second}
	if s.large, err = newLargeMessages(&s.cfg, logger); err != nil {
		return nil, err
	}
	if cfg.OnError == OnErrorDeadLetter {
		s.dead = newDeadLetters(&s.cfg, s.transport)
	}
	return s, nil
}

func (c *TLSConfig) config() (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	t := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", c.CAFile)
		}
		t.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

func (c *SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: c.User, Password: c.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.User, c.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.User, c.Password)
	}
	return nil, fmt.Errorf("unknown mechanism %q", c.Mechanism)
}

// Close releases the source's connections (Run closes nothing it did not open).
func (s *Source) Close() error {
	var errs []error
	if s.dead != nil {
		errs = append(errs, s.dead.close())
	}
	errs = append(errs, s.large.close())
	s.transport.CloseIdleConnections()
	return errors.Join(errs...)
}

// Stats returns the source's progress.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Assigned = slices.Clone(st.Assigned)
	st.addMerger(&s.cur)
	st.BufferedBytes = s.cur.BufferedBytes + s.cur.SpilledBytes
	st.SpilledBytes = s.cur.SpilledBytes
	return st
}

// Checkpoint returns the checkpoint of the last emit (nil before any).
func (s *Source) Checkpoint() *Checkpoint { return s.last.Load() }

// errReassign ends an assignment so that the topics are listed again.
var errReassign = errors.New("ticdc: topics or partitions changed")

// errGenerationEnded ends an assignment at a consumer-group rebalance.
var errGenerationEnded = errors.New("ticdc: consumer group generation ended")

// Run streams from the checkpoint from (nil: per Start) until ctx is done
// (returns nil) or a failure (bad message with on_error: stop, retention
// deleted unread messages, a checkpoint of another source).
func (s *Source) Run(ctx context.Context, from []byte, emit func(ctx context.Context, events []event.Event, checkpoint []byte) error) error {
	cp := &Checkpoint{Kind: checkpointKind, Group: s.cfg.GroupID}
	if from != nil {
		c, err := DecodeCheckpoint(from)
		if err != nil {
			return fatal(fmt.Errorf("%w (the state directory holds another source's position: use a new state.dir, or odsync replay --source-start)", err))
		}
		if c.Group != s.cfg.GroupID && !c.Reset {
			s.log.Warn("the checkpoint was taken with another consumer group; its offsets are used", "checkpoint_group", c.Group, "group_id", s.cfg.GroupID)
		}
		cp = &c
	}
	s.last.Store(cp)
	bo := backoff.New(time.Second, 30*time.Second)
	for {
		topics, err := s.listTopics(ctx)
		if err == nil {
			if s.cfg.GroupID == "" {
				err = s.runStatic(ctx, topics, emitFunc(emit))
			} else {
				err = s.runGroup(ctx, topics, emitFunc(emit))
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, errReassign):
			s.log.Info("the topic list or a partition count changed; reassigning")
			bo.Reset()
			continue
		case isFatal(err):
			return err
		}
		wait := bo.Next()
		s.log.Warn("kafka source failed; retrying", "err", err, "backoff", wait)
		if backoff.Wait(ctx, wait) != nil {
			return nil
		}
	}
}

// fatalError marks errors that retrying cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// Is makes the error permanent (event.ErrPermanent): restarting the source
// cannot help (the source retries transient failures itself; Run returns
// only these and bad messages).
func (e *fatalError) Is(target error) bool { return target == event.ErrPermanent }

func fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err}
}

func isFatal(err error) bool {
	var f *fatalError
	var b *BadMessageError
	return errors.As(err, &f) || errors.As(err, &b)
}

// listTopics returns the partition counts of the configured topics.
func (s *Source) listTopics(ctx context.Context) (map[string]int, error) {
	req := &kafka.MetadataRequest{}
	if s.topicRe == nil {
		req.Topics = s.cfg.Topics
	}
	md, err := s.client.Metadata(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("ticdc: metadata from %s: %w", strings.Join(s.cfg.Brokers, ","), err)
	}
	out := map[string]int{}
	for _, t := range md.Topics {
		named := slices.Contains(s.cfg.Topics, t.Name)
		if !named && (s.topicRe == nil || t.Internal || strings.HasPrefix(t.Name, "__") || !s.topicRe.MatchString(t.Name)) {
			continue
		}
		if t.Name == s.cfg.DeadLetter.Topic {
			continue
		}
		if t.Error != nil {
			if named {
				return nil, fmt.Errorf("ticdc: topic %s: %w", t.Name, t.Error)
			}
			continue
		}
		out[t.Name] = len(t.Partitions)
	}
	for _, name := range s.cfg.Topics {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("ticdc: topic %s does not exist on %s", name, strings.Join(s.cfg.Brokers, ","))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ticdc: no topic matches topic_regex %q", s.cfg.TopicRegex)
	}
	return out, nil
}

func sortedTopics(topics map[string]int) []string {
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// runStatic reads every partition of the topics, without a group.
func (s *Source) runStatic(ctx context.Context, topics map[string]int, emit emitFunc) error {
	var assigned []tp
	for _, name := range sortedTopics(topics) {
		for p := 0; p < topics[name]; p++ {
			assigned = append(assigned, tp{name, p})
		}
	}
	return s.runAssignment(ctx, nil, topics, assigned, emit)
}

// runGroup joins the consumer group and runs one assignment per generation.
func (s *Source) runGroup(ctx context.Context, topics map[string]int, emit emitFunc) error {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: s.cfg.GroupID, Brokers: s.cfg.Brokers, Dialer: s.dialer, Topics: sortedTopics(topics),
		HeartbeatInterval: s.cfg.HeartbeatInterval, SessionTimeout: s.cfg.SessionTimeout,
		RebalanceTimeout: s.cfg.RebalanceTimeout, JoinGroupBackoff: time.Second,
		PartitionWatchInterval: s.cfg.TopicRefreshInterval, StartOffset: kafka.FirstOffset,
		Timeout:     s.cfg.DialTimeout,
		Logger:      kafka.LoggerFunc(func(msg string, args ...any) { s.log.Debug("kafka group: " + fmt.Sprintf(msg, args...)) }),
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) { s.log.Debug("kafka group error: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fatal(fmt.Errorf("ticdc: consumer group: %w", err))
	}
	defer cg.Close()
	failures := 0
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, kafka.ErrGroupClosed) {
				return err
			}
			failures++
			if failures%10 == 1 {
				s.log.Warn("joining the consumer group failed; retrying", "group", s.cfg.GroupID, "err", err, "failures", failures)
			}
			continue
		}
		failures = 0
		var assigned []tp
		for topic, parts := range gen.Assignments {
			for _, pa := range parts {
				assigned = append(assigned, tp{topic, pa.ID})
			}
		}
		slices.SortFunc(assigned, func(a, b tp) int {
			if c := strings.Compare(a.topic, b.topic); c != 0 {
				return c
			}
			return a.partition - b.partition
		})
		err = s.runAssignment(ctx, gen, topics, assigned, emit)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errGenerationEnded) {
			continue
		}
		return err
	}
}

// batch is what a partition's fetcher hands to the merger.
type batch struct {
	part *partState
	msgs []message
	err  error
}

// runAssignment reads the assigned partitions until the generation ends,
// the topics change, ctx is done or a failure.
func (s *Source) runAssignment(ctx context.Context, gen *kafka.Generation, topics map[string]int, assigned []tp, emit emitFunc) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	var com *committer
	if gen != nil {
		gen.Start(func(gctx context.Context) {
			select {
			case <-gctx.Done():
				cancel(errGenerationEnded)
			case <-actx.Done():
			}
			<-done
			if com != nil {
				com.final()
			}
		})
	}
	defer close(done)

	s.mu.Lock()
	s.stats.Generations++
	s.stats.Assigned = s.stats.Assigned[:0]
	for _, t := range assigned {
		s.stats.Assigned = append(s.stats.Assigned, t.String())
	}
	s.mu.Unlock()
	if len(assigned) == 0 {
		s.log.Info("no partition is assigned to this instance; waiting", "group", s.cfg.GroupID)
		return s.idle(actx, topics)
	}
	cp := s.last.Load()
	parts, base, err := s.startPositions(actx, gen, cp, topics, assigned)
	if err != nil {
		if cause := context.Cause(actx); cause != nil && actx.Err() != nil {
			return cause
		}
		return err
	}
	mcfg := mergerConfig{ordering: s.cfg.ordering(), protocol: s.cfg.Protocol, group: s.cfg.GroupID,
		maxBuffer: int64(s.cfg.MaxBufferBytes), maxEmit: s.cfg.MaxEmitEvents, cpInterval: s.cfg.CheckpointInterval,
		stallWarn: s.cfg.StallWarning, capture: s.capture, log: s.log, spill: true, spillDir: s.cfg.SpillDir,
		free: s.free}
	if s.dead != nil {
		mcfg.deadLetter = s.dead.handle
	}
	m := newMerger(mcfg, func(ctx context.Context, events []event.Event, checkpoint []byte) error {
		if err := emit(ctx, events, checkpoint); err != nil {
			return err
		}
		if checkpoint != nil {
			c, _ := DecodeCheckpoint(checkpoint)
			s.last.Store(&c)
		}
		return nil
	}, parts, base)
	defer m.closeSpill()
	m.publish = func(st mergerStats) {
		s.mu.Lock()
		s.cur = st
		s.mu.Unlock()
	}
	defer func() {
		s.mu.Lock()
		s.stats.addMerger(&m.stats)
		s.cur = mergerStats{}
		s.mu.Unlock()
	}()
	genID := int32(-1)
	if gen != nil {
		genID = gen.ID
	}
	s.log.Info("reading partitions", "group", s.cfg.GroupID, "generation", genID, "partitions", describe(assigned), "ordering", mcfg.ordering, "protocol", s.cfg.Protocol)

	// Every fetcher decodes its next batch while the merger works; one more
	// waits in the channel. (Each waiting batch is a decoded fetch, so
	// more slots would hold more memory, not add speed.)
	in := make(chan batch, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.fetch(actx, p, in)
		}()
	}
	if gen != nil {
		com = newCommitter(s, gen, parts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			com.loop(actx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.watchTopics(actx, topics); err != nil {
			cancel(err)
		}
	}()
	// Store the starting positions at once: a start such as "latest" is
	// resolved only once, and a replayed (reset) checkpoint is replaced.
	m.dirty = true
	err = m.release(actx, true)
	if err == nil {
		err = s.mergeLoop(actx, m, in)
	}
	if actx.Err() != nil {
		// Ended from outside: a rebalance, a topic change, or shutdown
		// (an emit cut short by it is not a failure).
		if ctx.Err() != nil {
			return nil
		}
		return context.Cause(actx)
	}
	return err
}

// idle waits for a topic change or the end of the assignment.
func (s *Source) idle(ctx context.Context, topics map[string]int) error {
	if err := s.watchTopics(ctx, topics); err != nil {
		return err
	}
	return context.Cause(ctx)
}

// watchTopics returns errReassign when the topics or their partition
// counts change, nil when ctx is done.
func (s *Source) watchTopics(ctx context.Context, topics map[string]int) error {
	t := time.NewTicker(s.cfg.TopicRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now, err := s.listTopics(ctx)
		if err != nil {
			s.log.Debug("topic refresh failed", "err", err)
			continue
		}
		if len(now) != len(topics) {
			return errReassign
		}
		for n, c := range now {
			if topics[n] != c {
				return errReassign
			}
		}
	}
}

// mergeLoop feeds fetched batches to the merger.
func (s *Source) mergeLoop(ctx context.Context, m *merger, in <-chan batch) error {
	tick := time.NewTicker(min(s.cfg.CheckpointInterval, 250*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-in:
			if b.err != nil {
				return b.err
			}
			if err := m.add(ctx, b.part, b.msgs); err != nil {
				return err
			}
			b.part.recycle(b.msgs)
			// Take what else is waiting before releasing.
		more:
			for i := 0; i < 4*len(m.parts); i++ {
				select {
				case b = <-in:
					if b.err != nil {
						return b.err
					}
					if err := m.add(ctx, b.part, b.msgs); err != nil {
						return err
					}
					b.part.recycle(b.msgs)
				default:
					break more
				}
			}
			if err := m.release(ctx, false); err != nil {
				return err
			}
		case <-tick.C:
			if time.Since(m.lastCP) >= freeIdle {
				s.dropFree()
			}
			if err := m.release(ctx, false); err != nil {
				return err
			}
		}
	}
}

// freeIdle is how long after the last emit the handed-back slices are
// dropped, so that an idle source does not hold them.
const freeIdle = 5 * time.Second

// dropFree drops the handed-back slices.
func (s *Source) dropFree() {
	for {
		select {
		case <-s.free:
		default:
			return
		}
	}
}

// Recycle implements pipeline.Recycler: the merger reuses an emitted
// slice the pipeline is done with (a few are kept, the rest dropped;
// all of them once the source has emitted nothing for freeIdle).
func (s *Source) Recycle(events []event.Event) {
	if cap(events) == 0 {
		return
	}
	select {
	case s.free <- events[:0]:
	default:
	}
}

// fetch reads one partition from p.next and hands decoded messages to out.
func (s *Source) fetch(ctx context.Context, p *partState, out chan<- batch) {
	dec, err := New(s.cfg.Config)
	if err != nil {
		s.send(ctx, out, batch{err: fatal(err)})
		return
	}
	off := p.next
	lastN := 64
	var key, value []byte
	bo := backoff.New(100*time.Millisecond, 10*time.Second)
	failures := 0
	for {
		if err := p.gate.wait(ctx); err != nil {
			return
		}
		res, err := s.client.Fetch(ctx, &kafka.FetchRequest{Topic: p.tp.topic, Partition: p.tp.partition, Offset: off,
			MinBytes: 1, MaxBytes: int64(s.cfg.FetchMaxBytes), MaxWait: s.cfg.FetchMaxWait})
		if err == nil && res.Error != nil {
			if errors.Is(res.Error, kafka.OffsetOutOfRange) {
				s.send(ctx, out, batch{err: fatal(fmt.Errorf("ticdc: topic %s partition %d: offset %d is out of range (the oldest retained offset is %d, the end %d): messages were deleted by retention before odsync read them, or the topic was recreated; reset the source position with odsync replay",
					p.tp.topic, p.tp.partition, off, res.LogStartOffset, res.HighWatermark))})
				return
			}
			err = res.Error
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 3 || failures%50 == 0 {
				s.log.Warn("fetch failed; retrying", "topic", p.tp.topic, "partition", p.tp.partition, "offset", off, "err", err, "failures", failures)
			}
			if backoff.Wait(ctx, bo.Next()) != nil {
				return
			}
			continue
		}
		failures = 0
		bo.Reset()
		// Sized like the last fetch: growing by appends copies the
		// messages again and again. A slice the merger is done with is
		// reused.
		msgs := p.takeMsgs(lastN)
		for {
			r, err := res.Records.ReadRecord()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					s.log.Warn("reading a fetched record batch failed; fetching again", "topic", p.tp.topic, "partition", p.tp.partition, "offset", off, "err", err)
				}
				break
			}
			if r.Offset < off {
				closeBytes(r.Key)
				closeBytes(r.Value)
				continue
			}
			key, err = readBytes(r.Key, key[:0])
			if err == nil {
				value, err = readBytes(r.Value, value[:0])
			}
			// Closing the key and value hands their fetch pages back to
			// kafka-go's page pool: otherwise every fetch allocates its
			// bytes anew (as much as the messages) for the collector.
			closeBytes(r.Key)
			closeBytes(r.Value)
			if err != nil {
				s.log.Warn("reading a fetched record failed; fetching again", "topic", p.tp.topic, "partition", p.tp.partition, "offset", r.Offset, "err", err)
				break
			}
			msgs = append(msgs, s.decode(ctx, dec, p, r.Offset, r.Time, key, value))
			off = r.Offset + 1
		}
		lastN = max(64, len(msgs)+len(msgs)/8)
		if len(msgs) > 0 && !s.send(ctx, out, batch{part: p, msgs: msgs}) {
			return
		}
	}
}

func (s *Source) send(ctx context.Context, out chan<- batch, b batch) bool {
	select {
	case out <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// closeBytes releases a record's key or value (nil: nothing).
func closeBytes(b io.Closer) {
	if b != nil {
		_ = b.Close()
	}
}

// readBytes reads a record's key or value into buf.
func readBytes(b interface {
	io.Reader
	Len() int
}, buf []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	n := b.Len()
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(b, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// decode decodes one message and completes its large-message units.
func (s *Source) decode(ctx context.Context, dec Decoder, p *partState, offset int64, ts time.Time, key, value []byte) message {
	m := message{offset: offset, time: ts}
	units, err := dec.Decode(key, value)
	if err == nil {
		units, err = s.large.complete(ctx, dec, units)
	}
	if err != nil {
		m.err = err
		m.key = slices.Clone(key)
		m.value = slices.Clone(value)
		return m
	}
	codec.SetPosition(units, event.Position{File: p.file, Offset: uint64(offset)})
	// The decoded strings live in arenas sized by the message, which stay
	// until every string in them is dropped: count the message beside the
	// events (an upper bound of what the buffered message holds).
	m.size = int64(len(value))
	for i := range units {
		m.size += eventsBytes(units[i].Events)
	}
	m.units = units
	return m
}

// partitionOffsets are a partition's retained range.
type partitionOffsets struct{ first, end int64 }

// listOffsets returns the first and end offsets of partitions.
func (s *Source) listOffsets(ctx context.Context, parts []tp) (map[tp]partitionOffsets, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, t := range parts {
		req.Topics[t.topic] = append(req.Topics[t.topic], kafka.FirstOffsetOf(t.partition), kafka.LastOffsetOf(t.partition))
	}
	res, err := s.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("ticdc: list offsets: %w", err)
	}
	out := map[tp]partitionOffsets{}
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("ticdc: list offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
			out[tp{topic, p.Partition}] = partitionOffsets{first: p.FirstOffset, end: p.LastOffset}
		}
	}
	return out, nil
}

// fetchGroupOffsets returns the consumer group's committed positions.
func (s *Source) fetchGroupOffsets(ctx context.Context, parts []tp) (map[tp]PartitionCheckpoint, error) {
	req := &kafka.OffsetFetchRequest{GroupID: s.cfg.GroupID, Topics: map[string][]int{}}
	for _, t := range parts {
		req.Topics[t.topic] = append(req.Topics[t.topic], t.partition)
	}
	res, err := s.client.OffsetFetch(ctx, req)
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("ticdc: fetch the committed offsets of group %s: %w", s.cfg.GroupID, err)
	}
	out := map[tp]PartitionCheckpoint{}
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("ticdc: committed offset of %s/%d in group %s: %w", topic, p.Partition, s.cfg.GroupID, p.Error)
			}
			if p.CommittedOffset < 0 {
				continue
			}
			g := PartitionCheckpoint{Topic: topic, Partition: p.Partition, Offset: p.CommittedOffset}
			decodeGroupMeta(p.Metadata, &g)
			out[tp{topic, p.Partition}] = g
		}
	}
	return out, nil
}

// startPositions decides where each assigned partition starts: the
// checkpoint (the log is the truth), unless the consumer group holds a
// later position (another instance read the partition since); a
// partition with neither starts per Start (only on the very first start;
// partitions added later start at their earliest offset).
func (s *Source) startPositions(ctx context.Context, gen *kafka.Generation, cp *Checkpoint, topics map[string]int, assigned []tp) ([]*partState, map[tp]PartitionCheckpoint, error) {
	base := map[tp]PartitionCheckpoint{}
	for _, pc := range cp.Partitions {
		if _, ok := topics[pc.Topic]; !ok {
			continue // a topic no longer read (deleted, or no longer matching)
		}
		base[tp{pc.Topic, pc.Partition}] = pc
	}
	var group map[tp]PartitionCheckpoint
	if gen != nil {
		if cp.Reset {
			if err := s.commitReset(ctx, gen, cp); err != nil {
				return nil, nil, err
			}
		}
		var err error
		if group, err = s.fetchGroupOffsets(ctx, assigned); err != nil {
			return nil, nil, err
		}
	}
	ranges, err := s.listOffsets(ctx, assigned)
	if err != nil {
		return nil, nil, err
	}
	fresh := len(cp.Partitions) == 0 && len(group) == 0
	var parts []*partState
	var starts []tp
	for _, t := range assigned {
		p := &partState{tp: t, file: t.String(), gate: newGate(), free: make(chan []message, 2)}
		own, hasOwn := base[t]
		g, hasGroup := group[t]
		switch {
		case hasOwn && (!hasGroup || own.Offset >= g.Offset || cp.Reset):
			p.resume(own)
		case hasGroup:
			p.resume(g)
			s.log.Info("starting from the consumer group's committed offset", "partition", t.String(), "offset", g.Offset, "released", g.Released)
		default:
			starts = append(starts, t)
		}
		parts = append(parts, p)
	}
	if len(starts) > 0 {
		st := s.start
		if !fresh {
			st = Start{Kind: StartEarliest}
		}
		pos, err := s.resolveStart(ctx, st, starts, ranges)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range parts {
			if pc, ok := pos[p.tp]; ok {
				p.resume(pc)
				s.log.Info("starting partition", "partition", p.tp.String(), "start", st.String(), "offset", pc.Offset)
			}
		}
	}
	if f := s.cfg.StartAfter; f > 0 {
		for _, p := range parts {
			p.rel, p.wm = max(p.rel, f), max(p.wm, f)
		}
	}
	for _, p := range parts {
		r, ok := ranges[p.tp]
		if !ok {
			continue
		}
		if p.next < r.first {
			return nil, nil, fatal(fmt.Errorf("ticdc: topic %s partition %d: the stored position %d is below the oldest retained offset %d: messages %d..%d were deleted by retention before odsync read them (reset the source position with odsync replay to accept the loss)",
				p.tp.topic, p.tp.partition, p.next, r.first, p.next, r.first-1))
		}
		if p.next > r.end {
			return nil, nil, fatal(fmt.Errorf("ticdc: topic %s partition %d: the stored position %d is beyond the end of the partition (%d): the topic was recreated or truncated (reset the source position with odsync replay)",
				p.tp.topic, p.tp.partition, p.next, r.end))
		}
	}
	return parts, base, nil
}

// resolveStart computes the start position of partitions per st.
func (s *Source) resolveStart(ctx context.Context, st Start, parts []tp, ranges map[tp]partitionOffsets) (map[tp]PartitionCheckpoint, error) {
	out := map[tp]PartitionCheckpoint{}
	switch st.Kind {
	case StartCheckpoint:
		var names []string
		for _, t := range parts {
			names = append(names, t.String())
		}
		return nil, fatal(fmt.Errorf("ticdc: start: checkpoint: partitions %s have no stored checkpoint and no committed offset in group %q", strings.Join(names, ", "), s.cfg.GroupID))
	case StartEarliest, StartLatest, StartOffsets:
		for _, t := range parts {
			r := ranges[t]
			pc := PartitionCheckpoint{Topic: t.topic, Partition: t.partition, Offset: r.first}
			if st.Kind == StartLatest {
				pc.Offset = r.end
			}
			if off, ok := st.Offsets[t.String()]; ok {
				pc.Offset = off
			}
			out[t] = pc
		}
		return out, nil
	case StartTime, StartCommitTs:
		at := st.Time
		var released uint64
		if st.Kind == StartCommitTs {
			at = time.UnixMicro(codec.TSOToMicros(st.CommitTs))
			released = st.CommitTs - 1
		} else if s.cfg.Kind == KindTiCDC {
			released = codec.TSOFromMillis(at.UnixMilli())
			if released > 0 {
				released--
			}
		}
		// Message timestamps are taken when TiCDC produces, after the
		// commit: seek a margin earlier and drop what was committed before.
		seek := at
		if released > 0 {
			seek = at.Add(-time.Minute)
		}
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for _, t := range parts {
			req.Topics[t.topic] = append(req.Topics[t.topic], kafka.TimeOffsetOf(t.partition, seek))
		}
		res, err := s.client.ListOffsets(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("ticdc: offsets at %s: %w", seek.UTC().Format(time.RFC3339Nano), err)
		}
		for topic, ps := range res.Topics {
			for _, p := range ps {
				if p.Error != nil {
					return nil, fmt.Errorf("ticdc: offset of %s/%d at %s: %w", topic, p.Partition, seek.UTC().Format(time.RFC3339Nano), p.Error)
				}
				t := tp{topic, p.Partition}
				off := ranges[t].end
				for o := range p.Offsets {
					if o >= 0 {
						off = o
					}
				}
				out[t] = PartitionCheckpoint{Topic: topic, Partition: p.Partition, Offset: off, Released: released}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("ticdc: unknown start %v", st)
}

// describe names partitions for logs.
func describe(parts []tp) string {
	names := make([]string, len(parts))
	for i, t := range parts {
		names[i] = t.String()
	}
	return strings.Join(names, ",")
}
