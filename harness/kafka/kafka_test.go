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

func TestWorkloadDiff(t *testing.T) {
	s := func(v string) *string { return &v }
	w := &Workload{Expected: map[string]map[string]map[string]*string{
		"shop.t0": {"1": {"id": s("1"), "c": s("x"), "d": nil}, "2": {"id": s("2")}},
	}}
	cases := []struct {
		name string
		got  map[string]map[string]map[string]*string
		want []string
	}{
		{"equal; a missing column is NULL", map[string]map[string]map[string]*string{
			"shop.t0": {"1": {"id": s("1"), "c": s("x")}, "2": {"id": s("2")}},
		}, nil},
		{"missing, extra and different", map[string]map[string]map[string]*string{
			"shop.t0": {"1": {"id": s("1"), "c": s("y"), "d": s("z")}, "3": {"id": s("3")}},
		}, []string{
			"shop.t0 id 1 column c: got y, want x",
			"shop.t0 id 1 column d: got z, want NULL",
			"shop.t0 id 2 missing",
			"shop.t0 id 3 should not exist (deleted upstream or never written)",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := w.Diff(c.got)
			if fmt.Sprint(got) != fmt.Sprint(c.want) || len(got) != len(c.want) {
				t.Fatalf("Diff = %q, want %q", got, c.want)
			}
		})
	}
}
