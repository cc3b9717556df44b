package kafka

import (
	"context"
	"errors"
	"fmt"
	"github.com/odsync/odsync/capture/kafka/codec"
	"io"

	"github.com/segmentio/kafka-go"
)

// Oldest is what the oldest retained messages of a partition say about
// the changefeed's start: TS is the commitTs of its first row or DDL, or
// the first watermark when that comes first (0: the partition is empty
// or holds no TiCDC timestamps).
type Oldest struct {
	Topic       string
	Partition   int
	Offset, End int64
	TS          uint64
	Watermark   bool // TS is a watermark
}

// OldestTimestamps reads the first retained messages of every partition
// (up to one fetch each) and returns where the changefeed's data begins.
// The TiDB source's check compares it with the snapshot TSO: a partition
// that begins after the TSO may miss changes committed in between.
func OldestTimestamps(ctx context.Context, cfg SourceConfig) ([]Oldest, error) {
	s, err := NewSource(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	topics, err := s.listTopics(ctx)
	if err != nil {
		return nil, err
	}
	var parts []tp
	for _, name := range sortedTopics(topics) {
		for p := 0; p < topics[name]; p++ {
			parts = append(parts, tp{name, p})
		}
	}
	ranges, err := s.listOffsets(ctx, parts)
	if err != nil {
		return nil, err
	}
	var out []Oldest
	for _, t := range parts {
		r := ranges[t]
		o := Oldest{Topic: t.topic, Partition: t.partition, Offset: r.first, End: r.end}
		if r.first < r.end {
			if err := s.oldest(ctx, &o); err != nil {
				return out, err
			}
		}
		out = append(out, o)
	}
	return out, nil
}

func (s *Source) oldest(ctx context.Context, o *Oldest) error {
	dec, err := New(s.cfg.Config)
	if err != nil {
		return err
	}
	res, err := s.client.Fetch(ctx, &kafka.FetchRequest{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset,
		MinBytes: 1, MaxBytes: int64(s.cfg.FetchMaxBytes), MaxWait: s.cfg.FetchMaxWait})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return fmt.Errorf("ticdc: fetching %s/%d at %d: %w", o.Topic, o.Partition, o.Offset, err)
	}
	var key, value []byte
	for {
		r, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ticdc: reading %s/%d: %w", o.Topic, o.Partition, err)
		}
		if key, err = readBytes(r.Key, key[:0]); err == nil {
			value, err = readBytes(r.Value, value[:0])
		}
		if err != nil {
			return fmt.Errorf("ticdc: reading %s/%d offset %d: %w", o.Topic, o.Partition, r.Offset, err)
		}
		units, err := dec.Decode(key, value)
		if err != nil {
			return fmt.Errorf("ticdc: bad message at topic %s partition %d offset %d: %w", o.Topic, o.Partition, r.Offset, err)
		}
		for _, u := range units {
			switch {
			case u.Kind == codec.KindWatermark && u.Watermark > 0:
				o.TS, o.Watermark = u.Watermark, true
				return nil
			case (u.Kind == codec.KindRow || u.Kind == codec.KindDDL) && u.CommitTs > 0:
				o.TS = u.CommitTs
				return nil
			}
		}
	}
}
