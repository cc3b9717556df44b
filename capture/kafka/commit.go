package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// Consumer-group commits follow the log: the offsets committed are those of
// the checkpoint stored in the log (SourceConfig.Durable), never ahead of
// it. They are best effort — the log is the truth — and tell another
// instance that takes a partition over where to start and, in the commit
// metadata, up to which commitTs rows were released (it drops those).

// durable returns the checkpoint stored in the log (or the last emitted one).
func (s *Source) durable() *Checkpoint {
	if s.cfg.Durable == nil {
		return s.last.Load()
	}
	b := s.cfg.Durable()
	if b == nil {
		return nil
	}
	c, err := DecodeCheckpoint(b)
	if err != nil {
		return nil
	}
	return &c
}

// committer commits one generation's partitions.
type committer struct {
	s     *Source
	gen   *kafka.Generation
	parts []*partState
	// start is where each partition started in this generation: a stored
	// checkpoint below it is stale (another instance read further since).
	start map[tp]int64
	prev  map[tp]PartitionCheckpoint
}

func newCommitter(s *Source, gen *kafka.Generation, parts []*partState) *committer {
	c := &committer{s: s, gen: gen, parts: parts, start: map[tp]int64{}, prev: map[tp]PartitionCheckpoint{}}
	for _, p := range parts {
		c.start[p.tp] = p.next
	}
	return c
}

// loop commits every CommitInterval until ctx is done.
func (c *committer) loop(ctx context.Context) {
	t := time.NewTicker(c.s.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.commit(ctx); err != nil && ctx.Err() == nil {
				c.s.log.Warn("consumer group commit failed (the log keeps the position; retrying)", "group", c.s.cfg.GroupID, "err", err)
			}
		}
	}
}

// commit commits the stored checkpoint's offsets that changed.
func (c *committer) commit(ctx context.Context) error {
	cp := c.s.durable()
	if cp == nil {
		return nil
	}
	offsets := map[string][]kafka.OffsetCommit{}
	next := map[tp]PartitionCheckpoint{}
	for _, p := range c.parts {
		pc, ok := cp.Find(p.tp.topic, p.tp.partition)
		if !ok || pc.Offset < c.start[p.tp] {
			continue
		}
		if c.prev[p.tp] == pc {
			continue
		}
		next[p.tp] = pc
		offsets[p.tp.topic] = append(offsets[p.tp.topic], kafka.OffsetCommit{Partition: p.tp.partition, Offset: pc.Offset, Metadata: encodeGroupMeta(pc)})
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := c.s.offsetCommit(ctx, c.gen, offsets); err != nil {
		return err
	}
	for t, g := range next {
		c.prev[t] = g
	}
	return nil
}

// final waits briefly for the log to store the last emitted checkpoint,
// then commits it: the generation is ending and another instance may take
// the partitions over.
func (c *committer) final() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if last := c.s.last.Load(); last != nil && c.s.cfg.Durable != nil {
		for ctx.Err() == nil {
			d := c.s.durable()
			if d != nil && sameOffsets(d, last, c.parts) {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if err := c.commit(ctx); err != nil {
		c.s.log.Warn("final consumer group commit failed; the next owner of these partitions may read some messages again", "group", c.s.cfg.GroupID, "err", err)
	}
}

func sameOffsets(a, b *Checkpoint, parts []*partState) bool {
	for _, p := range parts {
		x, ok1 := a.Find(p.tp.topic, p.tp.partition)
		y, ok2 := b.Find(p.tp.topic, p.tp.partition)
		if ok1 != ok2 || x.Offset != y.Offset {
			return false
		}
	}
	return true
}

// offsetCommit commits offsets with the generation's identity.
func (s *Source) offsetCommit(ctx context.Context, gen *kafka.Generation, offsets map[string][]kafka.OffsetCommit) error {
	res, err := s.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: s.cfg.GroupID, GenerationID: int(gen.ID),
		MemberID: gen.MemberID, Topics: offsets})
	if err != nil {
		return err
	}
	var errs []error
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}

// commitReset writes a replayed checkpoint's offsets to the group, so
// that they win over what the group had committed.
func (s *Source) commitReset(ctx context.Context, gen *kafka.Generation, cp *Checkpoint) error {
	offsets := map[string][]kafka.OffsetCommit{}
	for _, pc := range cp.Partitions {
		offsets[pc.Topic] = append(offsets[pc.Topic], kafka.OffsetCommit{Partition: pc.Partition, Offset: pc.Offset, Metadata: encodeGroupMeta(pc)})
	}
	if err := s.offsetCommit(ctx, gen, offsets); err != nil {
		return fmt.Errorf("ticdc: committing the replayed position to group %s: %w", s.cfg.GroupID, err)
	}
	s.log.Info("the replayed source position replaced the consumer group's offsets", "group", s.cfg.GroupID, "partitions", len(cp.Partitions))
	return nil
}
