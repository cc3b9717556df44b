package kafka

import (
	"context"
	"fmt"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/odsync/odsync/capture/kafka/codec"
)

// Lag is how far the log's checkpoint is behind the topics, measured
// without traffic (for the status page and metrics).
type Lag struct {
	// MessagesBehind sums, over the partitions, the end offset minus the
	// checkpoint's offset (partitions without a checkpoint count from
	// their first retained offset).
	MessagesBehind int64
	// SecondsBehind is the age of the oldest message not yet in the log
	// (its Kafka timestamp); 0 when caught up.
	SecondsBehind float64
	// WatermarkAge is the age of the newest watermark in the checkpoint;
	// -1 without watermarks (offset ordering, nothing read yet).
	WatermarkAge float64
	// Position summarises the checkpoint, SourcePosition the end offsets.
	Position, SourcePosition string
}

// LagProbe measures Lag for a source configuration.
type LagProbe struct {
	s          *Source
	checkpoint func() []byte
	now        func() time.Time
}

// NewLagProbe returns a probe that compares checkpoint() (pass
// (*offsets.Log).Checkpoint) with the topics' end offsets. It makes no
// request until Lag is called.
func NewLagProbe(cfg SourceConfig, checkpoint func() []byte) (*LagProbe, error) {
	s, err := NewSource(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	return &LagProbe{s: s, checkpoint: checkpoint, now: time.Now}, nil
}

// Close releases the probe's connections.
func (p *LagProbe) Close() error { return p.s.Close() }

// Lag asks the brokers for the end offsets (and, for lagging partitions,
// the timestamp of the first message not in the log).
func (p *LagProbe) Lag(ctx context.Context) (Lag, error) {
	l := Lag{WatermarkAge: -1}
	var cp Checkpoint
	if b := p.checkpoint(); b != nil {
		c, err := DecodeCheckpoint(b)
		if err != nil {
			return l, err
		}
		cp = c
	}
	topics, err := p.s.listTopics(ctx)
	if err != nil {
		return l, err
	}
	var parts []tp
	for _, name := range sortedTopics(topics) {
		for i := 0; i < topics[name]; i++ {
			parts = append(parts, tp{name, i})
		}
	}
	ranges, err := p.s.listOffsets(ctx, parts)
	if err != nil {
		return l, err
	}
	now := p.now()
	var newestWM uint64
	oldest := time.Time{}
	var endSum, posSum int64
	for _, t := range parts {
		r := ranges[t]
		off := r.first
		if pc, ok := cp.Find(t.topic, t.partition); ok {
			off = max(pc.Offset, r.first)
			newestWM = max(newestWM, pc.Watermark)
		}
		endSum += r.end
		posSum += off
		if r.end <= off {
			continue
		}
		l.MessagesBehind += r.end - off
		if ts, err := p.messageTime(ctx, t, off); err == nil && !ts.IsZero() && (oldest.IsZero() || ts.Before(oldest)) {
			oldest = ts
		}
	}
	if !oldest.IsZero() {
		l.SecondsBehind = max(0, now.Sub(oldest).Seconds())
	}
	seqs := p.s.cfg.Protocol == codec.ProtocolOdsync // watermarks are the capture's _seq, not TSOs
	if newestWM != 0 && !seqs {
		l.WatermarkAge = max(0, now.Sub(time.UnixMicro(codec.TSOToMicros(newestWM))).Seconds())
	}
	l.Position = fmt.Sprintf("%d partitions, offsets sum %d", len(parts), posSum)
	switch {
	case cp.Released != 0 && seqs:
		l.Position += fmt.Sprintf(", released _seq %d", cp.Released)
	case cp.Released != 0:
		l.Position += ", released " + FormatTSO(cp.Released)
	}
	l.SourcePosition = fmt.Sprintf("end offsets sum %d", endSum)
	return l, nil
}

// messageTime returns the timestamp of the message at (or after) offset.
func (p *LagProbe) messageTime(ctx context.Context, t tp, offset int64) (time.Time, error) {
	res, err := p.s.client.Fetch(ctx, &kafka.FetchRequest{Topic: t.topic, Partition: t.partition, Offset: offset,
		MinBytes: 1, MaxBytes: 1, MaxWait: 100 * time.Millisecond})
	if err != nil {
		return time.Time{}, err
	}
	if res.Error != nil {
		return time.Time{}, res.Error
	}
	for {
		r, err := res.Records.ReadRecord()
		if err != nil {
			return time.Time{}, err
		}
		if r.Offset >= offset {
			return r.Time, nil
		}
	}
}
