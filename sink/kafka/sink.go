// Package kafka is the Kafka sink: it publishes the log's changes to Kafka
// topics (one per source table by a name template, or one topic), keyed by
// the primary key, in odsync's own JSON (the default), TiCDC's canal-json
// or the Debezium envelope. docs/kafka-sink.md describes the formats, the
// delivery guarantee and the scale-out topology it serves (one MySQL
// capture publishing, a consumer group of odsync workers writing S3 or
// MaxCompute).
//
// Delivery is at least once with a dedupe key, exactly once for odsync's
// Kafka source: the producer is idempotent (franz-go, acks=all), Write
// returns nil only when every record of the batch is acknowledged by Kafka
// (sink contract 3), and a batch replayed after a crash is published again
// with the same _seq, in the same partitions, after its first copy. Every
// message carries its _seq (the odsync-seq header; in the odsync format
// also the body), so a consumer drops a message whose _seq is not above the
// highest it has read from that partition. The odsync format also writes a
// watermark to every partition once the _seqs below it are durable, which
// odsync's Kafka source uses to order the partitions it holds by _seq and
// to drop the replays (docs/kafka.md, watermark ordering).
//
// Why not a transactional producer: a transaction would make the replay
// invisible to read_committed consumers, but it needs one fenced
// transactional.id per capture, a cursor topic read back at start, and
// read_committed consumers (odsync's Kafka source reads with
// read_uncommitted, as TiCDC consumers do); the _seq rule gives the same
// end result for odsync's workers and a simple rule for other consumers.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	kcapture "github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink"
)

// recordOverhead bounds what a record batch adds to one record's key and
// value (batch header, record framing, the odsync-seq header).
const recordOverhead = 256

// SeqHeader is the header every message carries: the event's _seq (for a
// watermark, the watermark) in decimal.
const SeqHeader = "odsync-seq"

// Sink publishes batches to Kafka.
type Sink struct {
	cfg      Config
	opts     []kgo.Opt
	started  sync.Once
	startErr error
	cl       *kgo.Client // created by Start
	lg       *slog.Logger
	pattern  *regexp.Regexp
	hash     kgo.Partitioner

	writeMu sync.Mutex // one Write at a time: per-partition order
	arena   []byte
	spans   [][2]int // per event: key, value, _seq text in the arena
	recs    []kgo.Record
	recEv   []int // per record: its event's index into spans/3
	ptrs    []*kgo.Record

	mu          sync.Mutex
	topics      map[string]*topicInfo
	lastRefresh time.Time
	health      sink.Health

	durable atomic.Uint64 // every event with _seq <= durable is in Kafka
	wmSent  uint64        // the watermark last written everywhere

	stop   chan struct{}
	done   chan struct{}
	closed atomic.Bool
}

type topicInfo struct {
	partitions int
	part       kgo.TopicPartitioner
}

// New returns a sink for a validated config. It connects lazily: a broker
// that is down fails Writes (retried), not New.
func New(cfg Config, lg *slog.Logger) (*Sink, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate("kafka"); err != nil {
		return nil, err
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	tlsCfg, _ := cfg.TLS.ClientTLS()
	mech, _ := saslMechanism(cfg.SASL)
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent writes (the default) need acks=all
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// A record batch is one "message" to the broker's max.message.bytes.
		kgo.ProducerBatchMaxBytes(int32(min(int64(cfg.MaxMessageBytes), 1<<30))),
		kgo.RecordDeliveryTimeout(cfg.ProduceTimeout),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(1 << 20),
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: cfg.DialTimeout}, Config: tlsCfg}).DialContext))
	} else {
		opts = append(opts, kgo.Dialer((&net.Dialer{Timeout: cfg.DialTimeout}).DialContext))
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	switch cfg.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	s := &Sink{cfg: cfg, opts: opts, lg: lg, pattern: cfg.topicPattern(), hash: kgo.StickyKeyPartitioner(nil),
		topics: map[string]*topicInfo{}, stop: make(chan struct{}), done: make(chan struct{})}
	return s, nil
}

// Start creates the client (it runs goroutines) and starts the watermark
// loop of the odsync format (sink.Starter: New starts no goroutines).
// Write and Close start them too when a caller skipped Start.
func (s *Sink) Start(context.Context) error {
	s.started.Do(func() {
		cl, err := kgo.NewClient(s.opts...)
		if err != nil {
			s.startErr = fmt.Errorf("kafka sink: %w", err)
			close(s.done)
			return
		}
		s.cl = cl
		if s.cfg.Format == FormatOdsync {
			go s.watermarks()
		} else {
			close(s.done)
		}
	})
	return s.startErr
}

// saslMechanism builds the franz-go mechanism of the source's sasl keys.
func saslMechanism(c kcapture.SASLConfig) (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "":
		return nil, nil
	case "plain":
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism(), nil
	case "scram-sha-256":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism(), nil
	case "scram-sha-512":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("unknown mechanism %q (want plain, scram-sha-256 or scram-sha-512)", c.Mechanism)
}

// Write publishes a batch and returns when Kafka acknowledged every record.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProduceTimeout)
	defer cancel()
	err := s.write(ctx, b)
	s.note(err)
	if err == nil && b.Last > s.durable.Load() {
		s.durable.Store(b.Last)
	}
	return err
}

func (s *Sink) write(ctx context.Context, b *sink.Batch) error {
	s.arena, s.spans, s.recs, s.recEv = s.arena[:0], s.spans[:0], s.recs[:0], s.recEv[:0]
	for i := range b.Events {
		e := &b.Events[i]
		if e.Op != event.OpDDL && e.Table == nil {
			return fmt.Errorf("%w: kafka sink: table %s at %s (seq %d): row event without a schema", sink.ErrPermanent, e.Source, e.Pos, e.Seq)
		}
		topic := s.cfg.topicFor(e.Source.DB, e.Source.Table)
		ti, err := s.topic(ctx, topic)
		if err != nil {
			return fmt.Errorf("kafka sink: table %s (seq %d): topic %s: %w", e.Source, e.Seq, topic, err)
		}
		// Key, then value, into the arena.
		k0 := len(s.arena)
		s.arena = s.appendKey(s.arena, e)
		v0 := len(s.arena)
		switch s.cfg.Format {
		case FormatCanalJSON:
			s.arena = appendCanal(s.arena, e)
		case FormatDebezium:
			s.arena = appendDebezium(s.arena, e)
		default:
			s.arena = appendNative(s.arena, e)
		}
		if n := len(s.arena) - k0; n+recordOverhead > int(s.cfg.MaxMessageBytes) {
			return fmt.Errorf("%w: kafka sink: table %s at %s (seq %d): the message is %d bytes, more than max_message_bytes %d (raise it with the topic's max.message.bytes)",
				sink.ErrPermanent, e.Source, e.Pos, e.Seq, n, int64(s.cfg.MaxMessageBytes))
		}
		v1 := len(s.arena)
		s.arena = strconv.AppendUint(s.arena, e.Seq, 10)
		s.spans = append(s.spans, [2]int{k0, v0}, [2]int{v0, v1}, [2]int{v1, len(s.arena)})
		if e.Op == event.OpDDL {
			parts := 1 // canal-json and Debezium: partition 0, as TiCDC does
			if s.cfg.Format == FormatOdsync {
				parts = ti.partitions // every partition: a barrier for every worker
			}
			for p := range parts {
				s.recs = append(s.recs, kgo.Record{Topic: topic, Partition: int32(p)})
				s.recEv = append(s.recEv, i)
			}
			continue
		}
		r := kgo.Record{Topic: topic}
		r.Key = s.arena[k0:v0] // for the partitioner only; re-sliced below
		r.Partition = int32(ti.part.Partition(&r, ti.partitions))
		s.recs = append(s.recs, r)
		s.recEv = append(s.recEv, i)
	}
	// The arena is complete: point the records into it.
	for i := range s.recs {
		r := &s.recs[i]
		si := 3 * s.recEv[i]
		k, v, h := s.spans[si], s.spans[si+1], s.spans[si+2]
		if k[1] > k[0] {
			r.Key = s.arena[k[0]:k[1]]
		} else {
			r.Key = nil
		}
		r.Value = s.arena[v[0]:v[1]]
		r.Headers = []kgo.RecordHeader{{Key: SeqHeader, Value: s.arena[h[0]:h[1]]}}
	}
	s.ptrs = s.ptrs[:0]
	for i := range s.recs {
		s.ptrs = append(s.ptrs, &s.recs[i])
	}
	if len(s.ptrs) == 0 {
		return nil
	}
	if err := s.produce(ctx, s.ptrs); err != nil {
		if errors.Is(err, errPending) {
			// The client still holds records pointing into the arena.
			s.arena, s.recs = nil, nil
		}
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			return fmt.Errorf("%w: kafka sink: seq %d..%d: %v (raise the topic's max.message.bytes or lower max_message_bytes)", sink.ErrPermanent, b.First, b.Last, err)
		}
		return fmt.Errorf("kafka sink: seq %d..%d: %w", b.First, b.Last, err)
	}
	return nil
}

// errPending: produce gave up waiting (ctx) while records were still
// buffered in the client; they may still be delivered (a replay then
// follows them, which the _seq rule removes).
var errPending = errors.New("records not acknowledged in time")

// produce hands records to the client and waits until every one is
// acknowledged or failed, or ctx is done (franz-go's idempotent producer
// does not fail records it may have sent, so ProduceSync can wait for a
// broker that is down far longer than the produce timeout).
func (s *Sink) produce(ctx context.Context, recs []*kgo.Record) error {
	var (
		mu      sync.Mutex
		first   error
		pending = len(recs)
		done    = make(chan struct{})
	)
	promise := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && first == nil {
			first = err
		}
		if pending--; pending == 0 {
			close(done)
		}
	}
	for _, r := range recs {
		s.cl.Produce(ctx, r, promise)
	}
	select {
	case <-done:
		return first
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		if pending == 0 {
			return first
		}
		return fmt.Errorf("%w (%d of %d pending): %w", errPending, pending, len(recs), context.Cause(ctx))
	}
}

// appendKey appends the message key: the table and its key columns' text
// (the new key of an update), or the table alone for a table without a key
// (its rows then share one partition). DDL has no key.
func (s *Sink) appendKey(b []byte, e *event.Event) []byte {
	if e.Op == event.OpDDL {
		return b
	}
	t := e.Table
	row := e.Row()
	if s.cfg.Format == FormatDebezium && len(t.Key) > 0 {
		return appendDbzKey(b, t, row)
	}
	b = append(b, '[')
	b = appendText(b, e.Source.DB)
	b = append(b, ',')
	b = appendText(b, e.Source.Table)
	for _, k := range t.Key {
		b = append(b, ',')
		if k >= len(row) || row[k].IsNull() {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '"')
		b = AppendValueText(b, row[k])
		b = append(b, '"')
	}
	return append(b, ']')
}

// topic returns a topic's partitions, creating the topic when it is
// missing (create_topics).
func (s *Sink) topic(ctx context.Context, name string) (*topicInfo, error) {
	s.mu.Lock()
	ti := s.topics[name]
	s.mu.Unlock()
	if ti != nil {
		return ti, nil
	}
	n, err := s.partitions(ctx, name)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if !*s.cfg.CreateTopics {
			return nil, fmt.Errorf("%w: the topic does not exist (create it, or set create_topics: true)", sink.ErrPermanent)
		}
		if err := s.createTopic(ctx, name); err != nil {
			return nil, err
		}
		if n, err = s.partitions(ctx, name); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errors.New("created, but not in the metadata yet")
		}
		s.lg.Info("kafka sink: created topic", "topic", name, "partitions", n)
	}
	ti = &topicInfo{partitions: n, part: s.hash.ForTopic(name)}
	s.mu.Lock()
	s.topics[name] = ti
	s.mu.Unlock()
	return ti, nil
}

// partitions returns a topic's partition count (0: no such topic).
func (s *Sink) partitions(ctx context.Context, name string) (int, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return 0, err
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != name {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return 0, nil
			}
			return 0, err
		}
		return len(t.Partitions), nil
	}
	return 0, nil
}

func (s *Sink) createTopic(ctx context.Context, name string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = int32(s.cfg.Partitions)
	rt.ReplicationFactor = int16(s.cfg.ReplicationFactor)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create: %w", err)
		}
	}
	return nil
}

// refreshTopics adds the existing topics the template matches (their idle
// partitions need watermarks too).
func (s *Sink) refreshTopics(ctx context.Context) error {
	req := kmsg.NewPtrMetadataRequest() // nil Topics: every topic
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 || !s.pattern.MatchString(*t.Topic) {
			continue
		}
		if ti := s.topics[*t.Topic]; ti == nil || ti.partitions != len(t.Partitions) {
			if ti != nil {
				s.lg.Warn("kafka sink: the topic's partition count changed: keys now go to other partitions (order a key's changes by _seq)",
					"topic", *t.Topic, "was", ti.partitions, "now", len(t.Partitions))
			}
			s.topics[*t.Topic] = &topicInfo{partitions: len(t.Partitions), part: s.hash.ForTopic(*t.Topic)}
		}
	}
	s.lastRefresh = time.Now()
	return nil
}

// watermarks writes the durable _seq to every partition of every topic of
// the sink whenever it advanced (odsync format).
func (s *Sink) watermarks() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.WatermarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			s.sendWatermark() // the last one after the final Write
			return
		case <-tick.C:
		}
		s.sendWatermark()
	}
}

func (s *Sink) sendWatermark() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ProduceTimeout)
	defer cancel()
	s.mu.Lock()
	stale := time.Since(s.lastRefresh) >= s.cfg.TopicRefreshInterval
	s.mu.Unlock()
	if stale {
		if err := s.refreshTopics(ctx); err != nil {
			s.lg.Warn("kafka sink: listing topics failed; retrying", "err", err)
		}
	}
	wm := s.durable.Load()
	if wm == 0 || wm <= s.wmSent {
		return
	}
	value := appendNativeWatermark(nil, wm)
	seq := strconv.AppendUint(nil, wm, 10)
	var recs []*kgo.Record
	s.mu.Lock()
	for name, ti := range s.topics {
		for p := range ti.partitions {
			recs = append(recs, &kgo.Record{Topic: name, Partition: int32(p), Value: value,
				Headers: []kgo.RecordHeader{{Key: SeqHeader, Value: seq}}})
		}
	}
	s.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	if err := s.produce(ctx, recs); err != nil {
		s.lg.Warn("kafka sink: writing the watermark failed; retrying", "watermark", wm, "err", err)
		return
	}
	s.wmSent = wm
}

func (s *Sink) note(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.health
	if err == nil {
		h.ConsecutiveFailures, h.FailingSince, h.LastError = 0, time.Time{}, ""
		h.LastSuccess = time.Now()
		return
	}
	if h.ConsecutiveFailures == 0 {
		h.FailingSince = time.Now()
	}
	h.ConsecutiveFailures++
	h.Retries++
	h.LastError = err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) && (ke == kerr.ThrottlingQuotaExceeded || ke == kerr.PolicyViolation) {
		h.Throttled++
	}
}

// Health reports the sink's failures (Write is durable: nothing is
// delivered later).
func (s *Sink) Health() sink.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Close writes the last watermark and closes the client.
func (s *Sink) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.Start(ctx); err != nil {
		return nil // nothing was written
	}
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	err := s.cl.Flush(ctx)
	s.cl.Close()
	return err
}

// Encode returns the key and value the sink writes for e in format (for
// tests, tools and benchmarks; a DDL has no key).
func Encode(format string, e *event.Event) (key, value []byte) {
	s := &Sink{cfg: Config{Format: format}}
	key = s.appendKey(nil, e)
	switch format {
	case FormatCanalJSON:
		value = appendCanal(nil, e)
	case FormatDebezium:
		value = appendDebezium(nil, e)
	default:
		value = appendNative(nil, e)
	}
	return key, value
}

// EncodeWatermark returns an odsync-format watermark message's value.
func EncodeWatermark(seq uint64) []byte { return appendNativeWatermark(nil, seq) }

// Check connects to the brokers and reports what `odsync check` prints:
// the broker count and, for a single topic, whether it exists.
func Check(ctx context.Context, cfg Config) (string, error) {
	cfg.EnsureDefaults()
	s, err := New(cfg, nil)
	if err != nil {
		return "", err
	}
	defer s.Close(ctx)
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, s.cl)
	if err != nil {
		return "", err
	}
	out := fmt.Sprintf("%d broker(s)", len(resp.Brokers))
	if !cfg.PerTable() {
		n, err := s.partitions(ctx, cfg.Topic)
		if err != nil {
			return "", err
		}
		if n == 0 {
			if !*cfg.CreateTopics {
				return "", fmt.Errorf("topic %s does not exist (create_topics is false)", cfg.Topic)
			}
			return out + fmt.Sprintf(", topic %s will be created with %d partitions", cfg.Topic, cfg.Partitions), nil
		}
		out += fmt.Sprintf(", topic %s with %d partitions", cfg.Topic, n)
	}
	return out, nil
}
