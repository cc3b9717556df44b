package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
)

func TestSourceConfigValidate(t *testing.T) {
	valid := func() SourceConfig {
		return SourceConfig{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"cdc"}}
	}
	cases := []struct {
		name   string
		mutate func(*SourceConfig)
		want   []string // substrings of the error; none: valid
	}{
		{"defaults", func(c *SourceConfig) {}, nil},
		{"kafka kind needs a protocol", func(c *SourceConfig) { c.Kind = KindKafka }, []string{"source.kafka.protocol: required"}},
		{"kafka debezium", func(c *SourceConfig) { c.Kind = KindKafka; c.Protocol = codec.ProtocolDebezium }, nil},
		{"ticdc refuses canal flat", func(c *SourceConfig) { c.Protocol = codec.ProtocolCanal }, []string{"source.ticdc.protocol", "source.type: kafka"}},
		{"everything wrong at once", func(c *SourceConfig) {
			c.Brokers = []string{"nohost"}
			c.Topics = nil
			c.Ordering = "random"
			c.Start = "yesterday"
			c.OnError = "ignore"
			c.TimeZone = "Mars/Base"
			c.MaxBufferBytes = 10
			c.SASL.Mechanism = "kerberos"
			c.DeadLetter.Table = "nodot"
		}, []string{"brokers: \"nohost\"", "topics: name at least one", "ordering: \"random\"", "start:", "on_error: \"ignore\"",
			"time_zone \"Mars/Base\"", "max_buffer_bytes", "sasl.mechanism", "dead_letter.table"}},
		{"dead letter needs a destination", func(c *SourceConfig) { c.OnError = OnErrorDeadLetter }, []string{"dead_letter.topic or dead_letter.table"}},
		{"watermark ordering needs watermarks", func(c *SourceConfig) {
			c.Kind = KindKafka
			c.Protocol = codec.ProtocolCanal
			c.Ordering = OrderingWatermark
		}, []string{"carry no watermarks"}},
		{"commit_ts start needs TiCDC", func(c *SourceConfig) { c.Kind = KindKafka; c.Protocol = codec.ProtocolMaxwell; c.Start = "commit_ts:5" }, []string{"commit_ts needs a TiCDC source"}},
		{"bad regex", func(c *SourceConfig) { c.Topics = nil; c.TopicRegex = "(" }, []string{"topic_regex"}},
		{"claim check uri", func(c *SourceConfig) { c.ClaimCheck.URI = "ftp://x" }, []string{"claim_check.uri"}},
		{"heartbeat above session", func(c *SourceConfig) { c.HeartbeatInterval = time.Minute }, []string{"heartbeat_interval"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			c.EnsureDefaults()
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSourceConfigDefaults(t *testing.T) {
	c := SourceConfig{}
	c.EnsureDefaults()
	if c.Kind != KindTiCDC || c.Protocol != codec.ProtocolCanalJSON || c.ordering() != OrderingWatermark || c.Start != "earliest" || c.OnError != OnErrorStop {
		t.Fatalf("defaults %+v", c)
	}
	k := SourceConfig{Kind: KindKafka, Config: codec.Config{Protocol: codec.ProtocolDebezium}}
	k.EnsureDefaults()
	if k.ordering() != OrderingOffset {
		t.Fatalf("generic debezium ordering %s", k.ordering())
	}
}

func TestParseStart(t *testing.T) {
	cases := []struct {
		in   string
		want string
		err  bool
	}{
		{"", "earliest", false},
		{"LATEST", "latest", false},
		{"checkpoint", "checkpoint", false},
		{"time:2026-01-02T03:04:05Z", "time:2026-01-02T03:04:05Z", false},
		{"time:2026-01-02 03:04:05", "time:2026-01-02T03:04:05Z", false},
		{"commit_ts:449537283735945217", "commit_ts:449537283735945217", false},
		{"offsets:cdc/1=5, cdc/0=7", "offsets:cdc/0=7,cdc/1=5", false},
		{"offsets:a.b-c/12=0", "offsets:a.b-c/12=0", false},
		{"offsets:cdc=5", "", true},
		{"offsets:cdc/x=5", "", true},
		{"commit_ts:abc", "", true},
		{"time:soon", "", true},
		{"tomorrow", "", true},
	}
	for _, c := range cases {
		st, err := ParseStart(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseStart(%q) error %v", c.in, err)
			continue
		}
		if err == nil && st.String() != c.want {
			t.Errorf("ParseStart(%q) = %s, want %s", c.in, st, c.want)
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	cp := Checkpoint{Group: "g", Released: 449537283735945217, Partitions: []PartitionCheckpoint{
		{Topic: "b", Partition: 0, Offset: 5}, {Topic: "a", Partition: 2, Offset: 9, Released: 449537283735945217, Watermark: 449537283735945300, WatermarkOffset: 12},
	}}
	sortPartitions(cp.Partitions)
	got, err := DecodeCheckpoint(cp.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Partitions[0].Topic != "a" || got.Partitions[0].WatermarkOffset != 12 || got.Group != "g" {
		t.Fatalf("decoded %+v", got)
	}
	if s := got.String(); !strings.Contains(s, "group g") || !strings.Contains(s, "a/2@9 b/0@5") || !strings.Contains(s, "(2024-05-04T18:50:47.064Z)") {
		t.Fatalf("String() = %s", s)
	}
	if l := got.Lines(); len(l) != 2 || !strings.Contains(l[0], "a/2  offset 9  released 449537283735945217") {
		t.Fatalf("Lines() = %q", l)
	}
	for _, bad := range []string{`{"flavor":"mysql","file":"binlog.000001","pos":4}`, `{"kind":"kafka","partitions":[{"topic":"","offset":1}]}`, `nope`} {
		if _, err := DecodeCheckpoint([]byte(bad)); err == nil {
			t.Errorf("DecodeCheckpoint(%s) succeeded", bad)
		}
	}
	var pc PartitionCheckpoint
	if !decodeGroupMeta(encodeGroupMeta(got.Partitions[0]), &pc) || pc.Released != got.Partitions[0].Released || pc.Watermark != got.Partitions[0].Watermark || pc.WatermarkOffset != 12 {
		t.Fatalf("group metadata round trip: %+v", pc)
	}
	if decodeGroupMeta("someone else's", &pc) {
		t.Fatal("foreign metadata decoded")
	}
}
