package s3

import (
	"context"
	"testing"
	"time"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/sink"
)

func TestDebugTiming(t *testing.T) {
	srv, bucket := server(t)
	cfg := testConfig(srv, bucket, "dbg", t.TempDir())
	s, err := New(cfg, testMapper(t), nil)
	if err != nil { t.Fatal(err) }
	evs := make([]event.Event, 20000)
	for k := 0; k < 5; k++ {
		for i := range evs {
			id := int64(k*20000 + i + 1)
			evs[i] = event.Event{Seq: uint64(id), Op: event.OpInsert, Source: benchTable.ID, Table: benchTable, CommitTime: t0 + id,
				After: []event.Value{event.Int(id), event.Int(1), event.Int(2), event.String("abc"), event.Decimal("1.0000"), event.DateTime(2024, 5, 1, 10, 1, 1, 1), event.String("txt")}}
		}
		st := time.Now()
		if err := s.Write(context.Background(), &sink.Batch{First: evs[0].Seq, Last: evs[len(evs)-1].Seq, Events: evs}); err != nil { t.Fatal(err) }
		t.Logf("write %d: %s", k, time.Since(st))
	}
	st := time.Now()
	s.Close(context.Background())
	t.Logf("close: %s", time.Since(st))
}
