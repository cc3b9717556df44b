package warehouse

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/odsfile"
)

// BenchmarkLoadParquet measures the source side of a full load per row,
// without S3 and the sink: decoding an odsync Parquet object of the
// reference workload's rows (bench/workload), converting each back to
// source values and keeping the last row per key. CPU per row is the
// figure that survives a shared machine.
//
//	go test -run XXX -bench LoadParquet ./capture/warehouse/
func BenchmarkLoadParquet(b *testing.B) {
	src := (&event.Table{ID: event.TableID{DB: "bench", Table: "t"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "a", Type: event.TypeInt, RawType: "int(11)"},
		{Name: "b", Type: event.TypeBigInt, RawType: "bigint(20)"},
		{Name: "c", Type: event.TypeVarchar, Length: 64, RawType: "varchar(64)"},
		{Name: "d", Type: event.TypeDecimal, Precision: 18, Scale: 4, RawType: "decimal(18,4)"},
		{Name: "e", Type: event.TypeDateTime, Scale: 6, RawType: "datetime(6)"},
		{Name: "f", Type: event.TypeText, Length: 65535, RawType: "text"},
	}}).Seal()
	m, err := schema.New(schema.Config{System: schema.SystemFiles})
	if err != nil {
		b.Fatal(err)
	}
	tg, err := m.Target(src)
	if err != nil {
		b.Fatal(err)
	}
	const rows = 20000
	var buf bytes.Buffer
	w, err := odsfile.NewParquet(&buf, tg, "snappy", 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	pad := strings.Repeat("p", 80)
	var row []event.Value
	for id := range rows {
		e := event.Event{Seq: uint64(id + 1), Op: event.OpInsert, Source: src.ID, Table: src, CommitTime: 1e15,
			After: []event.Value{event.Int(int64(id)), event.Int(int64(id % 100000)), event.Int(int64(id) * 7919),
				event.String(fmt.Sprintf("name-%d-abcdefghijklmnopqrstuvwxyz", id)), event.Decimal(fmt.Sprintf("%d.%04d", id, id%10000)),
				event.DateTime(2026, 11, 21, 12, 34, 56, id%1000000), event.String(pad)}}
		row = tg.Row(&e, row)
		if err := w.WriteRow(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	tb, err := odsTable(tg.Name, tg.SchemaJSON())
	if err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		state := map[string]change{}
		err := odsfile.NewRowReader(tb.layout).ReadParquet(bytes.NewReader(data), int64(len(data)), func(r []event.Value) error {
			ch, err := tb.decode(r, rowAt{"bench", 1})
			if err != nil {
				return err
			}
			state[tb.keyOf(ch.row)] = ch
			return nil
		})
		if err != nil || len(state) != rows {
			b.Fatalf("%d keys, %v", len(state), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkLoadStateMemory measures the peak memory of a full load's state
// of one table — 400,000 changes to 200,000 keys (rows of ~250 bytes,
// every tenth change a delete), then every live row read back — with the
// state in memory (bound=none) and bounded to 16 MiB (spilled to the
// Pebble store). It reports the peak Go heap in use (sampled every 5 ms)
// and the process's peak RSS (VmHWM, reset at the start through
// /proc/self/clear_refs; Pebble's memtables and cache are allocated
// outside the Go heap). Run each bound in its own process:
//
//	go test -run XXX -bench 'LoadStateMemory/bound=none' -benchtime 1x ./capture/warehouse/
//	go test -run XXX -bench 'LoadStateMemory/bound=16MiB' -benchtime 1x ./capture/warehouse/
func BenchmarkLoadStateMemory(b *testing.B) {
	tb := stateTable(b)
	const keys, changes = 200000, 400000
	pad := strings.Repeat("p", 160)
	for _, bc := range []struct {
		name  string
		limit int64
	}{{"none", 1 << 62}, {"16MiB", 16 << 20}} {
		b.Run("bound="+bc.name, func(b *testing.B) {
			var peakHeap, peakRSS uint64
			for range b.N {
				runtime.GC()
				_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
				stop := make(chan struct{})
				done := make(chan uint64)
				go func() {
					var ms runtime.MemStats
					var peak uint64
					t := time.NewTicker(5 * time.Millisecond)
					defer t.Stop()
					for {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
						select {
						case <-stop:
							done <- peak
							return
						case <-t.C:
						}
					}
				}()
				st := newLoadState(tb, bc.limit, b.TempDir(), "", slog.New(slog.DiscardHandler))
				for i := range changes {
					op := event.OpInsert
					if i%10 == 9 {
						op = event.OpDelete
					}
					id := (i * 7919) % keys
					seq := uint64(i + 1)
					row := []event.Value{event.Int(int64(id)), event.String("x"), event.String(fmt.Sprintf("v%d-%s", seq, pad)),
						event.Decimal(fmt.Sprintf("%d.0001", seq)), event.Enum(1, "a"), event.Bytes([]byte{1, 2, 3})}
					if err := st.add(change{op: op, seq: seq, commit: int64(seq), row: row}); err != nil {
						b.Fatal(err)
					}
				}
				n := 0
				if err := st.each(func(change) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				if err := st.close(); err != nil {
					b.Fatal(err)
				}
				close(stop)
				peakHeap = max(peakHeap, <-done)
				peakRSS = max(peakRSS, vmHWM())
				if n == 0 || n >= keys {
					b.Fatalf("%d live rows", n)
				}
			}
			b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
		})
	}
}

// vmHWM is the process's peak resident memory (0 where /proc has none).
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
