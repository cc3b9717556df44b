package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

func TestProduceConsumeCommit(t *testing.T) {
	c, err := Start(Options{Topics: map[string]int{"t": 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := c.Producer("t")
	defer p.Close()
	var msgs []Message
	for i := 0; i < 30; i++ {
		msgs = append(msgs, Message{Partition: i % 3, Value: []byte(fmt.Sprint(i))})
	}
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	for part := 0; part < 3; part++ {
		got, err := c.Consume(ctx, "t", part)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 10 {
			t.Fatalf("partition %d: %d messages", part, len(got))
		}
		for i, m := range got {
			if m.Offset != int64(i) || string(m.Value) != fmt.Sprint(i*3+part) {
				t.Fatalf("partition %d message %d: offset %d value %q", part, i, m.Offset, m.Value)
			}
		}
	}
	// A consumer group generation, and a commit with metadata.
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{ID: "g", Brokers: c.Addrs, Topics: []string{"t"},
		SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, RebalanceTimeout: time.Second, JoinGroupBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	gen, err := cg.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Assignments["t"]) != 3 {
		t.Fatalf("assignments %+v", gen.Assignments)
	}
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Addrs...)}
	res, err := cl.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: "g", GenerationID: int(gen.ID), MemberID: gen.MemberID,
		Topics: map[string][]kafkago.OffsetCommit{"t": {{Partition: 1, Offset: 7, Metadata: "meta"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatal(p.Error)
			}
		}
	}
	of, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "g", Topics: map[string][]int{"t": {0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", of.Topics)
	tm := time.Now()
	lo, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{"t": {kafkago.TimeOffsetOf(0, tm), kafkago.FirstOffsetOf(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", lo.Topics)
}
