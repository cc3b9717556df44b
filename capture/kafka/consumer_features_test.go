package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/event"
	kh "github.com/odsync/odsync/harness/kafka"
)

var featTable = &kh.Table{DB: "shop", Name: "orders", Cols: []kh.Col{kh.C("id", kh.ColBigint), kh.C("n", kh.ColBigint)}}

func canalInsert(ts uint64, id, n string) []byte {
	return featTable.CanalRow("INSERT", ts, kh.Row{kh.V(id), kh.V(n)}, nil)
}

func TestSourceBadMessageStops(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 2)
	ts := kh.TSO(1767225600000, 0)
	produce(t, cl, "cdc", []kh.Message{
		{Partition: 1, Value: canalInsert(ts, "1", "1")},
		{Partition: 1, Value: []byte(`{"id":0,"database":"shop","table":"orders","isDdl":false,"type":"INSERT","data":[{"id":"x"}]`)},
		{Partition: 0, Value: kh.CanalWatermark(ts + 10)},
		{Partition: 1, Value: kh.CanalWatermark(ts + 10)},
	})
	src, err := NewSource(testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	log := &memLog{}
	err = runUntil(t, src, log, ts+10, 30*time.Second)
	var bad *BadMessageError
	if !errors.As(err, &bad) || bad.Topic != "cdc" || bad.Partition != 1 || bad.Offset != 1 {
		t.Fatalf("err = %v, want a bad message at cdc/1 offset 1", err)
	}
	if !strings.Contains(err.Error(), "topic cdc partition 1 offset 1") || !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("error does not name the position and cause: %v", err)
	}
	// Nothing after the bad message's position is in the log.
	if cp := log.checkpoint(); cp != nil {
		c, _ := DecodeCheckpoint(cp)
		if p1, _ := c.Find("cdc", 1); p1.Offset > 1 {
			t.Fatalf("checkpoint moved past the bad message: %+v", c)
		}
	}
}

func TestSourceDeadLetters(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 2)
	if err := cl.CreateTopic("cdc-dlq", 1); err != nil {
		t.Fatal(err)
	}
	ts := kh.TSO(1767225600000, 0)
	badValue := []byte(`{"id":0,"database":"shop","table":"orders","isDdl":false,"type":"INSERT","data":[{"id":"x"}]`)
	produce(t, cl, "cdc", []kh.Message{
		{Partition: 1, Value: canalInsert(ts, "1", "1")},
		{Partition: 1, Key: []byte("k1"), Value: badValue},
		{Partition: 1, Value: canalInsert(ts+2, "2", "2")},
		{Partition: 0, Value: kh.CanalWatermark(ts + 10)},
		{Partition: 1, Value: kh.CanalWatermark(ts + 10)},
	})
	cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
	cfg.OnError = OnErrorDeadLetter
	cfg.DeadLetter = DeadLetterConfig{Topic: "cdc-dlq", Table: "odsync.dead_letters"}
	src, err := NewSource(cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	log := &memLog{}
	if err := runUntil(t, src, log, ts+10, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	evs := log.events()
	var rows []string
	var quarantine *event.Event
	for i := range evs {
		if evs[i].Source.DB == "odsync" {
			quarantine = &evs[i]
			continue
		}
		rows = append(rows, evs[i].After[0].Text())
	}
	if strings.Join(rows, ",") != "1,2" {
		t.Fatalf("rows %v", rows)
	}
	if quarantine == nil {
		t.Fatal("no quarantine row in the log")
	}
	q := quarantine.After
	if q[0].Str() != "cdc" || q[1].Int() != 1 || q[2].Int() != 1 || !strings.Contains(q[4].Str(), "canal-json") ||
		q[5].Str() != "k1" || q[6].Str() != string(badValue) || quarantine.Pos.String() != "cdc/1:1" {
		t.Fatalf("quarantine row %v at %s", q, quarantine.Pos)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dl, err := cl.Consume(ctx, "cdc-dlq", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || string(dl[0].Value) != string(badValue) || string(dl[0].Key) != "k1" {
		t.Fatalf("dead-letter topic holds %d messages: %+v", len(dl), dl)
	}
	hdr := map[string]string{}
	for _, h := range dl[0].Headers {
		hdr[h.Key] = string(h.Value)
	}
	if hdr[HeaderTopic] != "cdc" || hdr[HeaderPartition] != "1" || hdr[HeaderOffset] != "1" || !strings.Contains(hdr[HeaderReason], "canal-json") {
		t.Fatalf("headers %v", hdr)
	}
	if st := src.Stats(); st.BadMessages != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSourceScaleOut runs two instances in one consumer group (each with
// its own log): the second joins mid-stream, partitions move, and the
// union of the two logs holds every change exactly once.
func TestSourceScaleOut(t *testing.T) {
	o := kh.WorkloadOptions{Seed: 21, Partitions: 4, Tables: 6, Txns: 800, DDLEvery: 200, Replays: 2}
	w := kh.GenerateWorkload(o)
	cl := startKafka(t, "cdc", nil, o.Partitions)
	half := len(w.Messages) / 2
	produce(t, cl, "cdc", w.Messages[:half])
	logs := []*memLog{{}, {}}
	srcs := make([]*Source, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	start := func(i int) {
		cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
		cfg.GroupID = "odsync-scale"
		cfg.MaxEmitEvents = 20
		cfg.Durable = logs[i].checkpoint
		src, err := NewSource(cfg, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		srcs[i] = src
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = src.Run(ctx, logs[i].checkpoint(), logs[i].emit)
		}()
	}
	start(0)
	waitFor(t, 30*time.Second, "the first instance to release rows", func() bool { return logs[0].released() > 0 })
	start(1)
	waitFor(t, 30*time.Second, "both instances to hold partitions", func() bool {
		a, b := srcs[0].Stats(), srcs[1].Stats()
		return len(a.Assigned) > 0 && len(b.Assigned) > 0 && len(a.Assigned)+len(b.Assigned) == o.Partitions
	})
	produce(t, cl, "cdc", w.Messages[half:])
	waitFor(t, time.Minute, "both logs to release the last transaction", func() bool {
		return logs[0].released() >= w.LastTs && logs[1].released() >= w.LastTs
	})
	cancel()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	// Merge the logs by commit time (transactions are 3 ms apart).
	all := append(logs[0].events(), logs[1].events()...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].CommitTime < all[j].CommitTime })
	checkWorkload(t, w, all)
	a, b := srcs[0].Stats(), srcs[1].Stats()
	if b.Rows == 0 || a.Generations < 2 {
		t.Fatalf("no rebalance happened: %+v / %+v", a, b)
	}
	t.Logf("instance 0: %d rows, %d generations, %v; instance 1: %d rows, %v", a.Rows, a.Generations, a.Assigned, b.Rows, b.Assigned)
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startTestMessages writes rows 1..6 to two partitions with message times
// one minute apart (commit times follow), then watermarks.
func startTestMessages(t *testing.T, cl *kh.Cluster) (base time.Time, tss []uint64) {
	base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var msgs []kh.Message
	for i := 0; i < 6; i++ {
		at := base.Add(time.Duration(i) * time.Minute)
		ts := kh.TSO(at.UnixMilli(), 1)
		tss = append(tss, ts)
		msgs = append(msgs, kh.Message{Partition: i % 2, Value: canalInsert(ts, string(rune('1'+i)), "0"), Time: at.Add(time.Second)})
	}
	end := kh.TSO(base.Add(10*time.Minute).UnixMilli(), 0)
	msgs = append(msgs, kh.Message{Partition: 0, Value: kh.CanalWatermark(end), Time: base.Add(10 * time.Minute)},
		kh.Message{Partition: 1, Value: kh.CanalWatermark(end), Time: base.Add(10 * time.Minute)})
	produce(t, cl, "cdc", msgs)
	return base, tss
}

func rowIDs(evs []event.Event) string {
	var ids []string
	for _, e := range evs {
		if e.Op != event.OpDDL && e.Source.DB == "shop" {
			ids = append(ids, e.Row()[0].Text())
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func TestSourceStartModes(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 2)
	base, tss := startTestMessages(t, cl)
	end := kh.TSO(base.Add(10*time.Minute).UnixMilli(), 0)
	cases := []struct {
		start string
		want  string
		err   string
	}{
		{"earliest", "1,2,3,4,5,6", ""},
		{"offsets:cdc/0=2", "2,4,5,6", ""},                                      // partition 0 holds 1,3,5 at offsets 0,1,2
		{"time:" + base.Add(150*time.Second).Format(time.RFC3339), "4,5,6", ""}, // committed at or after 00:02:30
		{"commit_ts:" + itoa(tss[3]), "4,5,6", ""},
		{"checkpoint", "", "no stored checkpoint"},
	}
	for _, c := range cases {
		t.Run(c.start, func(t *testing.T) {
			cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
			cfg.Start = c.start
			src, err := NewSource(cfg, nil, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			log := &memLog{}
			err = runUntil(t, src, log, end, 30*time.Second)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rowIDs(log.events()); got != c.want {
				t.Fatalf("rows %s, want %s", got, c.want)
			}
		})
	}
	t.Run("latest", func(t *testing.T) {
		cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
		cfg.Start = "latest"
		cfg.GroupID = "latest-group"
		src, err := NewSource(cfg, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		log := &memLog{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, nil, log.emit) }()
		waitFor(t, 30*time.Second, "the partitions to be assigned", func() bool { return len(src.Stats().Assigned) == 2 && log.checkpoint() != nil })
		ts := kh.TSO(base.Add(20*time.Minute).UnixMilli(), 0)
		produce(t, cl, "cdc", []kh.Message{{Partition: 1, Value: canalInsert(ts, "9", "9")},
			{Partition: 0, Value: kh.CanalWatermark(ts)}, {Partition: 1, Value: kh.CanalWatermark(ts)}})
		waitFor(t, 30*time.Second, "the new row", func() bool { return log.released() >= ts })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := rowIDs(log.events()); got != "9" {
			t.Fatalf("rows %s, want only the new one", got)
		}
	})
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// TestResolveStartOverridesGroup replays a source whose group committed
// offsets at the end: the replayed checkpoint wins once.
func TestResolveStartOverridesGroup(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 2)
	base, _ := startTestMessages(t, cl)
	end := kh.TSO(base.Add(10*time.Minute).UnixMilli(), 0)
	cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
	cfg.GroupID = "replayed"
	log := &memLog{}
	cfg.Durable = log.checkpoint
	src, err := NewSource(cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, src, log, end, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	src.Close()
	if got := rowIDs(log.events()); got != "1,2,3,4,5,6" {
		t.Fatalf("first run rows %s", got)
	}
	// odsync replay --source-start offsets:cdc/1=1 : rows 4 and 6 again.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cp, desc, err := ResolveStart(ctx, cfg, "offsets:cdc/0=3,cdc/1=1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "cdc/0@3 cdc/1@1") {
		t.Fatalf("desc %s", desc)
	}
	replayed := &memLog{cp: cp}
	cfg.Durable = replayed.checkpoint
	src, err = NewSource(cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := runUntil(t, src, replayed, end, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := rowIDs(replayed.events()); got != "4,6" {
		t.Fatalf("replayed rows %s, want 4,6", got)
	}
	c, _ := DecodeCheckpoint(replayed.checkpoint())
	if c.Reset {
		t.Fatal("the reset flag survived the first emit")
	}
	if _, _, err := ResolveStart(ctx, cfg, "offsets:cdc/7=1"); err == nil {
		t.Fatal("a partition that does not exist was accepted")
	}
}

func TestSourceOffsetBelowRetention(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 1)
	ts := kh.TSO(1767225600000, 0)
	produce(t, cl, "cdc", []kh.Message{{Value: canalInsert(ts, "1", "1")}, {Value: canalInsert(ts+1, "2", "1")}, {Value: kh.CanalWatermark(ts + 5)}})
	if err := cl.Kfake().DeleteRecords("cdc", 0, 2); err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{Partitions: []PartitionCheckpoint{{Topic: "cdc", Partition: 0, Offset: 1}}}
	src, err := NewSource(testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	log := &memLog{cp: cp.Encode()}
	err = runUntil(t, src, log, ts+5, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "below the oldest retained offset 2") {
		t.Fatalf("err = %v", err)
	}
}

// TestSourceBoundedBuffer: partition 1 sends no watermark for a while, so
// nothing can be released; partition 0's rows stop being fetched once the
// buffer is full instead of filling memory. When partition 1 catches up,
// everything is released in order.
func TestSourceBoundedBuffer(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 2)
	ts := kh.TSO(1767225600000, 0)
	var msgs []kh.Message
	pad := strings.Repeat("p", 300)
	tbl := &kh.Table{DB: "shop", Name: "notes", Cols: []kh.Col{kh.C("id", kh.ColBigint), kh.C("note", kh.ColVarchar)}}
	for i := 0; i < 6000; i++ {
		msgs = append(msgs, kh.Message{Partition: 0, Value: tbl.CanalRow("INSERT", ts+uint64(i), kh.Row{kh.V(itoa(uint64(i))), kh.V(pad)}, nil)})
		if i%500 == 499 {
			msgs = append(msgs, kh.Message{Partition: 0, Value: kh.CanalWatermark(ts + uint64(i))})
		}
	}
	// Small record batches (40 messages, ~18 KB): a fetch returns whole
	// record batches, and the documented bound counts one decoded fetch per
	// partition plus one waiting for the merger above max_buffer_bytes. With
	// produce's 500-message batches those alone were ~1 MB, the size of the
	// bound itself, and the peak depended on when a fetch landed.
	for len(msgs) > 0 {
		n := min(len(msgs), 40)
		produce(t, cl, "cdc", msgs[:n])
		msgs = msgs[n:]
	}
	cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
	cfg.MaxBufferBytes = 1 << 20
	cfg.FetchMaxBytes = 16 << 10
	src, err := NewSource(cfg, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	log := &memLog{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, nil, log.emit) }()
	var st Stats
	waitFor(t, 30*time.Second, "the buffer to fill", func() bool {
		select {
		case err := <-done:
			t.Fatalf("source stopped: %v", err)
		default:
		}
		st = src.Stats()
		return st.BufferedBytes > int64(cfg.MaxBufferBytes)
	})
	// Batches in flight still arrive (a fetch returns whole record
	// batches), then reading stops.
	time.Sleep(300 * time.Millisecond)
	st2 := src.Stats()
	time.Sleep(300 * time.Millisecond)
	if st3 := src.Stats(); st3.Messages != st2.Messages || st2.Messages >= 6000 {
		t.Fatalf("partition 0 kept being read while the buffer was full: %d, %d, %d messages", st.Messages, st2.Messages, st3.Messages)
	}
	if st2.PeakBufferedBytes > 2*int64(cfg.MaxBufferBytes) {
		t.Fatalf("buffer grew to %d bytes (bound %d)", st2.PeakBufferedBytes, cfg.MaxBufferBytes)
	}
	if len(log.events()) != 0 {
		t.Fatal("rows released without partition 1's watermark")
	}
	produce(t, cl, "cdc", []kh.Message{{Partition: 1, Value: kh.CanalWatermark(ts + 10000)}, {Partition: 0, Value: kh.CanalWatermark(ts + 10000)}})
	waitFor(t, 30*time.Second, "every row", func() bool { return log.released() >= ts+10000 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs := log.events()
	if len(evs) != 6000 {
		t.Fatalf("%d rows, want 6000", len(evs))
	}
	for i := range evs {
		if evs[i].After[0].Int() != int64(i) {
			t.Fatalf("row %d is %v", i, evs[i].After[0])
		}
	}
	if st := src.Stats(); st.PeakBufferedBytes > 2*int64(cfg.MaxBufferBytes) {
		t.Fatalf("peak buffer %d bytes", st.PeakBufferedBytes)
	}
	t.Logf("peak buffer %d bytes (bound %d), messages read while blocked: %d", src.Stats().PeakBufferedBytes, cfg.MaxBufferBytes, st.Messages)
}

func TestLagProbe(t *testing.T) {
	cl := startKafka(t, "cdc", nil, 2)
	base, tss := startTestMessages(t, cl) // 6 rows + 2 watermarks, message times base..base+10m
	cfg := testSourceConfig(cl, "cdc", codec.ProtocolCanalJSON)
	var stored []byte
	probe, err := NewLagProbe(cfg, func() []byte { return stored })
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probe.now = func() time.Time { return base.Add(time.Hour) }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := probe.Lag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing read: 8 messages behind, the oldest from base+1s.
	if l.MessagesBehind != 8 || l.SecondsBehind < 3598 || l.SecondsBehind > 3600 || l.WatermarkAge != -1 {
		t.Fatalf("before reading: %+v", l)
	}
	cp := Checkpoint{Released: tss[5], Partitions: []PartitionCheckpoint{
		{Topic: "cdc", Partition: 0, Offset: 4, Released: tss[5], Watermark: tss[5]},
		{Topic: "cdc", Partition: 1, Offset: 3, Released: tss[5], Watermark: tss[5]},
	}}
	stored = cp.Encode()
	if l, err = probe.Lag(ctx); err != nil {
		t.Fatal(err)
	}
	if l.MessagesBehind != 1 || l.SecondsBehind != 50*60 || l.WatermarkAge < 54*60 || l.WatermarkAge > 55*60 {
		t.Fatalf("one message behind: %+v", l)
	}
}

// TestSourceGenericMaxwell reads Maxwell JSON (source.type: kafka) in
// offset order, crashing and restarting: every row exactly once, each
// partition in order, Maxwell's commit flags kept as transaction ends.
func TestSourceGenericMaxwell(t *testing.T) {
	cl := startKafka(t, "mx", nil, 2)
	var msgs []kh.Message
	for i := 0; i < 300; i++ {
		commit := ""
		if i%3 == 2 {
			commit = `"commit":true,`
		}
		msgs = append(msgs, kh.Message{Partition: i % 2, Value: []byte(fmt.Sprintf(
			`{"database":"shop","table":"m%d","type":"insert","ts":1449786310,"xid":%d,%s"data":{"id":%d,"v":"x"}}`, i%2, i/3, commit, i))})
	}
	msgs = append(msgs, kh.Message{Partition: 0, Value: []byte(`{"database":"shop","table":"m0","type":"bootstrap-start","ts":1449786360,"data":{}}`)})
	produce(t, cl, "mx", msgs)
	cfg := testSourceConfig(cl, "mx", codec.ProtocolMaxwell)
	cfg.Kind = KindKafka
	cfg.MaxEmitEvents = 5
	log := &memLog{}
	for round := 0; ; round++ {
		log.mu.Lock()
		log.failAfter = log.emits + 3 + round%4
		log.mu.Unlock()
		src, err := NewSource(cfg, nil, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, log.checkpoint(), log.emit) }()
		var runErr error
		for {
			if c, err := DecodeCheckpoint(log.checkpoint()); err == nil {
				p0, _ := c.Find("mx", 0)
				p1, _ := c.Find("mx", 1)
				if p0.Offset == 151 && p1.Offset == 150 {
					cancel()
					runErr = <-done
					break
				}
			}
			select {
			case runErr = <-done:
			case <-time.After(5 * time.Millisecond):
				continue
			}
			break
		}
		cancel()
		src.Close()
		if runErr == nil {
			break
		}
		if !errors.Is(runErr, errCrash) || round > 100 {
			t.Fatal(runErr)
		}
	}
	evs := log.events()
	if len(evs) != 300 {
		t.Fatalf("%d rows, want 300", len(evs))
	}
	next := map[string]int64{"m0": 0, "m1": 1}
	for _, e := range evs {
		id := e.After[0].Int()
		if id != next[e.Source.Table] {
			t.Fatalf("%s: row %d, want %d", e.Source.Table, id, next[e.Source.Table])
		}
		next[e.Source.Table] += 2
		if e.TxnEnd != (id%3 == 2) {
			t.Fatalf("row %d TxnEnd %v", id, e.TxnEnd)
		}
	}
}
