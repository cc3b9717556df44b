package kafka

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/odsync"
	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/sink"
)

func testTable() *event.Table {
	return (&event.Table{ID: event.TableID{DB: "shop", Table: "all"}, Key: []int{0},
		Columns: []event.Column{
			{Name: "id", Type: event.TypeBigInt, Unsigned: true, RawType: "bigint unsigned"},
			{Name: "i", Type: event.TypeInt, Nullable: true},
			{Name: "d", Type: event.TypeDecimal, Precision: 65, Scale: 30, Nullable: true, RawType: "decimal(65,30)"},
			{Name: "f", Type: event.TypeFloat, Nullable: true},
			{Name: "g", Type: event.TypeDouble, Nullable: true},
			{Name: "s", Type: event.TypeVarchar, Length: 20, Charset: "utf8mb4", Nullable: true},
			{Name: "b", Type: event.TypeVarbinary, Length: 8, Charset: "binary", Nullable: true},
			{Name: "dt", Type: event.TypeDate, Nullable: true},
			{Name: "dtm", Type: event.TypeDateTime, Scale: 6, Nullable: true},
			{Name: "ts", Type: event.TypeTimestamp, Scale: 6, Nullable: true},
			{Name: "tm", Type: event.TypeTime, Scale: 6, Nullable: true},
			{Name: "y", Type: event.TypeYear, Nullable: true},
			{Name: "j", Type: event.TypeJSON, Nullable: true},
			{Name: "bit", Type: event.TypeBit, Length: 64, Nullable: true},
			{Name: "en", Type: event.TypeEnum, Elems: []string{"a", "😀"}, Nullable: true},
			{Name: "se", Type: event.TypeSet, Elems: []string{"x", "y"}, Nullable: true},
			{Name: "raw", Type: event.TypeText, Nullable: true},
		}}).Seal()
}

// values holds every kind at an edge.
func values(id uint64) []event.Value {
	return []event.Value{event.Uint(id), event.Int(math.MinInt64),
		event.Decimal("-99999999999999999999999999999999999.999999999999999999999999999999"),
		event.Float32(math.SmallestNonzeroFloat32), event.Float64(-math.MaxFloat64),
		event.String("héllo \"q\" \\ <tag> \u2028 😀\n"), event.Bytes([]byte{0, 0xff, '"', '\\', 0x10}),
		event.Date(0, 0, 0), event.DateTime(2024, 2, 29, 23, 59, 59, 1), event.TimestampMicros(-1),
		event.TimeMicros(-(838*3600 + 59*60 + 59) * 1e6), event.Year(0), event.JSON(`{"a": [1, 2.50]}`),
		event.Bits(math.MaxUint64), event.Enum(2, "😀"), event.Set(3, "x,y"), event.String("\xff\xfe not utf-8")}
}

func startKafka(t *testing.T) *kh.Cluster {
	t.Helper()
	cl, err := kh.Start(kh.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// readAll reads every record of a topic (all partitions).
func readAll(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []*kgo.Record
	idle := 0
	for idle < 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := c.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return out
}

// TestWriteOdsyncRoundTrip writes every value kind, an update that
// changes the key, a delete and a DDL in the odsync format and decodes
// the topic with the Kafka source's decoder: the events come back exactly,
// each key's changes in one partition, the DDL in every partition,
// watermarks on every partition, the _seq in a header.
func TestWriteOdsyncRoundTrip(t *testing.T) {
	cl := startKafka(t)
	s, err := New(Config{Brokers: cl.Addrs, Topic: "odsync.{db}.{table}", Partitions: 3, WatermarkInterval: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl := testTable()
	null := make([]event.Value, len(tbl.Columns))
	null[0] = event.Uint(3)
	evs := []event.Event{
		{Seq: 1, Op: event.OpRead, Source: tbl.ID, Table: tbl, After: values(1), CommitTime: 1700000000123456,
			Pos: event.Position{File: "binlog.000001", Offset: 4}},
		{Seq: 2, Op: event.OpInsert, Source: tbl.ID, Table: tbl, After: values(2), CommitTime: 1700000001000000,
			Pos: event.Position{File: "binlog.000001", Offset: 400, GTID: "0-1-7"}, TxnEnd: true},
		{Seq: 3, Op: event.OpInsert, Source: tbl.ID, Table: tbl, After: null, CommitTime: 1700000001000000, TxnEnd: true,
			Pos: event.Position{File: "binlog.000001", Offset: 500}},
		{Seq: 4, Op: event.OpUpdate, Source: tbl.ID, Table: tbl, Before: values(2), After: values(20), TxnEnd: true,
			Pos: event.Position{File: "binlog.000001", Offset: 600}},
		{Seq: 5, Op: event.OpDDL, Source: tbl.ID, Table: tbl, DDL: "ALTER TABLE `shop`.`all` COMMENT 'x'", TxnEnd: true,
			Pos: event.Position{File: "binlog.000001", Offset: 700}},
		{Seq: 6, Op: event.OpDelete, Source: tbl.ID, Table: tbl, Before: values(1), TxnEnd: true,
			Pos: event.Position{File: "binlog.000001", Offset: 800}},
	}
	ctx := context.Background()
	if err := s.Write(ctx, &sink.Batch{First: 1, Last: 3, Events: evs[:3]}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, &sink.Batch{First: 4, Last: 6, Events: evs[3:]}); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); h.ConsecutiveFailures != 0 || h.LastSuccess.IsZero() {
		t.Fatalf("health %+v", h)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, cl.Addrs, "odsync.shop.all")
	dec, err := odsync.NewOdsync(codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]event.Event{}
	ddlParts := map[int32]bool{}
	wmParts := map[int32]uint64{}
	keyPart := map[string]int32{}
	for _, r := range recs {
		if len(r.Headers) != 1 || r.Headers[0].Key != SeqHeader {
			t.Fatalf("headers %v", r.Headers)
		}
		ds, err := dec.Decode(r.Key, r.Value)
		if err != nil {
			t.Fatalf("decode %s: %v", r.Value, err)
		}
		for _, d := range ds {
			switch d.Kind {
			case codec.KindWatermark:
				wmParts[r.Partition] = max(wmParts[r.Partition], d.Watermark)
				continue
			case codec.KindDDL:
				ddlParts[r.Partition] = true
			default:
				if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
					t.Errorf("key %s in partitions %d and %d", r.Key, p, r.Partition)
				}
				keyPart[string(r.Key)] = r.Partition
			}
			if strconv.FormatUint(d.CommitTs, 10) != string(r.Headers[0].Value) {
				t.Errorf("header %s, _seq %d", r.Headers[0].Value, d.CommitTs)
			}
			got[d.CommitTs] = d.Events[0]
		}
	}
	if len(ddlParts) != 3 || len(wmParts) != 3 {
		t.Errorf("DDL in partitions %v, watermarks in %v; want all 3", ddlParts, wmParts)
	}
	for p, w := range wmParts {
		if w != 6 {
			t.Errorf("partition %d: last watermark %d, want 6", p, w)
		}
	}
	for _, in := range evs {
		out, ok := got[in.Seq]
		if !ok {
			t.Errorf("seq %d missing", in.Seq)
			continue
		}
		if out.Origin != in.Seq || out.Op != in.Op || out.Source != in.Source || out.CommitTime != in.CommitTime ||
			out.Pos != in.Pos || out.TxnEnd != in.TxnEnd || out.DDL != in.DDL || out.Table.Version != in.Table.Version {
			t.Errorf("seq %d: got %+v, want %+v", in.Seq, out, in)
		}
		for _, img := range []struct{ a, b []event.Value }{{in.Before, out.Before}, {in.After, out.After}} {
			if len(img.a) != len(img.b) {
				t.Errorf("seq %d: %d values, want %d", in.Seq, len(img.b), len(img.a))
				continue
			}
			for i := range img.a {
				if !img.a[i].Equal(img.b[i]) {
					t.Errorf("seq %d column %s: got %v, want %v", in.Seq, tbl.Columns[i].Name, img.b[i], img.a[i])
				}
			}
		}
	}
}

// TestWriteErrors: a message above max_message_bytes is a permanent error
// naming the table and seq; a broker that is down fails Write (retried by
// the pipeline) and Health says so; once it is back the batch goes
// through.
func TestWriteErrors(t *testing.T) {
	cl, err := kh.Start(kh.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := New(Config{Brokers: cl.Addrs, Topic: "t", Partitions: 2, MaxMessageBytes: 2048, ProduceTimeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	tbl := testTable()
	big := values(1)
	big[5] = event.String(strings.Repeat("x", 4096))
	err = s.Write(context.Background(), &sink.Batch{First: 1, Last: 1, Events: []event.Event{{Seq: 1, Op: event.OpInsert, Source: tbl.ID, Table: tbl, After: big}}})
	if err == nil || !strings.Contains(err.Error(), "permanent") || !strings.Contains(err.Error(), "shop.all") || !strings.Contains(err.Error(), "seq 1") {
		t.Fatalf("too large: %v", err)
	}
	ok := []event.Event{{Seq: 2, Op: event.OpInsert, Source: tbl.ID, Table: tbl, After: values(2)}}
	if err := s.Write(context.Background(), &sink.Batch{First: 2, Last: 2, Events: ok}); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := s.Write(context.Background(), &sink.Batch{First: 3, Last: 3, Events: ok}); err == nil {
		t.Fatal("Write succeeded with the broker down")
	}
	if h := s.Health(); h.ConsecutiveFailures == 0 || h.LastError == "" {
		t.Fatalf("health during the outage: %+v", h)
	}
	if err := cl.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.Write(context.Background(), &sink.Batch{First: 3, Last: 3, Events: ok})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Write after the broker came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if h := s.Health(); h.ConsecutiveFailures != 0 {
		t.Fatalf("health after recovery: %+v", h)
	}
}
