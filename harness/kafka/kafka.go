// Package kafka starts an in-process Kafka cluster (franz-go's kfake) on
// 127.0.0.1 for odsync's tests, benchmarks and demo, and produces messages
// to explicit partitions with segmentio/kafka-go, the client odsync uses.
//
// The cluster lives in the calling process; an odsync child process that is
// killed with SIGKILL does not take it down. With Options.DataDir the data
// and the group commits survive a restart of the cluster (Restart).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure a cluster.
type Options struct {
	// Brokers is the number of brokers. Default 1.
	Brokers int
	// Topics to create, with their partition counts.
	Topics map[string]int
	// DataDir keeps the cluster's data on disk (and reloads it on Start).
	// Empty: in memory only.
	DataDir string
	// Ports are the brokers' ports; empty picks free ones. Restart reuses
	// the ports of the first start.
	Ports []int
}

// Cluster is a running kfake cluster.
type Cluster struct {
	opts Options
	c    *kfake.Cluster
	// Addrs are the brokers' host:port on 127.0.0.1.
	Addrs []string
}

// Start starts a cluster and creates opts.Topics.
func Start(opts Options) (*Cluster, error) {
	if opts.Brokers == 0 {
		opts.Brokers = 1
	}
	if len(opts.Ports) == 0 {
		for range opts.Brokers {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			opts.Ports = append(opts.Ports, p)
		}
	}
	c := &Cluster{opts: opts}
	if err := c.start(); err != nil {
		return nil, err
	}
	for name, n := range opts.Topics {
		if err := c.CreateTopic(name, n); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) start() error {
	kopts := []kfake.Opt{kfake.Ports(c.opts.Ports...), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	if c.opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(c.opts.DataDir))
	}
	kc, err := kfake.NewCluster(kopts...)
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	c.c = kc
	c.Addrs = kc.ListenAddrs()
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Close stops the cluster.
func (c *Cluster) Close() {
	if c.c != nil {
		c.c.Close()
	}
}

// Restart stops and starts the cluster on the same ports (keeping its data
// only with Options.DataDir).
func (c *Cluster) Restart() error {
	c.c.Close()
	return c.start()
}

// Kfake returns the underlying cluster (fault injection, group info).
func (c *Cluster) Kfake() *kfake.Cluster { return c.c }

// CreateTopic creates a topic with n partitions.
func (c *Cluster) CreateTopic(name string, n int) error {
	return c.CreateTopicConfig(name, n, nil)
}

// CreateTopicConfig creates a topic with n partitions and topic configs
// (e.g. "max.message.bytes").
func (c *Cluster) CreateTopicConfig(name string, n int, configs map[string]string) error {
	if err := c.c.CreateTopic(name, int32(n), configs); err != nil {
		return fmt.Errorf("kfake: create topic %s: %w", name, err)
	}
	return nil
}

// Message is one message to produce to an explicit partition.
type Message struct {
	Partition int
	Key       []byte
	Value     []byte
	Headers   []kafkago.Header
	// Time is the message timestamp; zero means now.
	Time time.Time
}

// Producer writes messages to explicit partitions.
type Producer struct {
	w *kafkago.Writer
}

// partitionBalancer sends each message to the partition it names.
type partitionBalancer struct{}

func (partitionBalancer) Balance(msg kafkago.Message, partitions ...int) int { return msg.Partition }

// Producer returns a synchronous producer (acks=all) for topic.
func (c *Cluster) Producer(topic string) *Producer {
	return &Producer{w: &kafkago.Writer{
		Addr:                   kafkago.TCP(c.Addrs...),
		Topic:                  topic,
		Balancer:               partitionBalancer{},
		RequiredAcks:           kafkago.RequireAll,
		BatchSize:              1000,
		BatchBytes:             64 << 20,
		BatchTimeout:           time.Millisecond,
		AllowAutoTopicCreation: false,
	}}
}

// Produce writes messages in order and waits for the acks. Messages of one
// partition keep their order.
func (p *Producer) Produce(ctx context.Context, msgs ...Message) error {
	km := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafkago.Message{Partition: m.Partition, Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time}
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = p.w.WriteMessages(ctx, km...); err == nil {
			return nil
		}
		// Right after topic creation the metadata may not list the
		// partitions yet.
		if !errors.Is(err, kafkago.UnknownTopicOrPartition) && !errors.Is(err, kafkago.LeaderNotAvailable) {
			return fmt.Errorf("produce: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("produce: %w", err)
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.w.Close() }

// Consume reads every message of one partition from offset 0 up to (not
// including) the partition's end offset at the time of the call.
func (c *Cluster) Consume(ctx context.Context, topic string, partition int) ([]kafkago.Message, error) {
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Addrs...), Timeout: 10 * time.Second}
	lo, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{
		topic: {kafkago.LastOffsetOf(partition)},
	}})
	if err != nil {
		return nil, err
	}
	var end int64
	for _, p := range lo.Topics[topic] {
		if p.Error != nil {
			return nil, p.Error
		}
		end = p.LastOffset
	}
	var out []kafkago.Message
	off := int64(0)
	for off < end {
		res, err := cl.Fetch(ctx, &kafkago.FetchRequest{Topic: topic, Partition: partition, Offset: off, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		if res.Error != nil {
			return nil, res.Error
		}
		for {
			r, err := res.Records.ReadRecord()
			if err != nil {
				break
			}
			if r.Offset < off {
				continue
			}
			m := kafkago.Message{Topic: topic, Partition: partition, Offset: r.Offset, Time: r.Time}
			if r.Key != nil {
				m.Key, _ = readAll(r.Key)
			}
			if r.Value != nil {
				m.Value, _ = readAll(r.Value)
			}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, m)
			off = r.Offset + 1
		}
	}
	return out, nil
}

func readAll(b interface {
	Read([]byte) (int, error)
	Len() int
}) ([]byte, error) {
	buf := make([]byte, b.Len())
	n := 0
	for n < len(buf) {
		m, err := b.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	return buf[:n], nil
}

// Addr returns the brokers as one comma-separated string.
func (c *Cluster) Addr() string {
	s := ""
	for i, a := range c.Addrs {
		if i > 0 {
			s += ","
		}
		s += a
	}
	return s
}

// Port returns the port of broker i.
func (c *Cluster) Port(i int) int {
	_, p, _ := net.SplitHostPort(c.Addrs[i])
	n, _ := strconv.Atoi(p)
	return n
}
