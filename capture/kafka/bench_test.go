package kafka

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka/canal"
	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/debezium"
	"github.com/odsync/odsync/capture/kafka/maxwell"
	"github.com/odsync/odsync/capture/kafka/open"
)

// A typical TiCDC canal-json row of 10 columns (~800 bytes), as TiCDC
// writes it (mysqlType/sqlType in map order, data in column order).
func benchCanalMessage(i int, update bool) []byte {
	typ, old := "INSERT", "null"
	if update {
		typ = "UPDATE"
		old = fmt.Sprintf(`[{"id":"%d","name":"user-%d","age":"41","balance":"1234.5600","created":"2024-03-01 10:00:00.123456","updated":"2024-03-01 02:00:00","note":"The quick brown fox jumps over the lazy dog; the quick brown fox jumps again.","active":"1","score":"0.75","visits":"18446744073709551615"}]`, i, i)
	}
	return []byte(fmt.Sprintf(`{"id":0,"database":"shop","table":"customers","pkNames":["id"],"isDdl":false,"type":"%s","es":1709258400123,"ts":1709258400456,"sql":"",`+
		`"sqlType":{"active":-6,"age":4,"balance":3,"created":93,"id":-5,"name":12,"note":2005,"score":8,"updated":93,"visits":3},`+
		`"mysqlType":{"name":"varchar","note":"text","visits":"bigint unsigned","id":"bigint","age":"int","active":"tinyint","balance":"decimal","created":"datetime","score":"double","updated":"timestamp"},`+
		`"old":%s,`+
		`"data":[{"id":"%d","name":"user-%d","age":"42","balance":"1234.5600","created":"2024-03-01 10:00:00.123456","updated":"2024-03-01 02:00:00","note":"The quick brown fox jumps over the lazy dog; the quick brown fox jumps again.","active":"1","score":"0.75","visits":"18446744073709551615"}],`+
		`"_tidb":{"commitTs":448158906396770305}}`, typ, old, i, i))
}

func benchMessages(n int, f func(int) []byte) ([][]byte, int) {
	msgs := make([][]byte, n)
	total := 0
	for i := range msgs {
		msgs[i] = f(i)
		total += len(msgs[i])
	}
	return msgs, total / n
}

// cpuClock measures the process CPU time of a benchmark: on this shared
// 2-core machine wall time includes time the benchmark waited for a core,
// so msgs per CPU-second is the per-core figure that survives the noise.
type cpuClock struct{ start time.Duration }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuClock {
	b.ResetTimer()
	return &cpuClock{start: cpuTime()}
}

// report adds msgs/s (wall) and msgs/cpu-s (process CPU time) for n
// units per op.
func (c *cpuClock) report(b *testing.B, n int, unit string) {
	cpu := cpuTime() - c.start
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N*n)/s, unit+"/s")
	}
	if cpu > 0 {
		b.ReportMetric(float64(b.N*n)/cpu.Seconds(), unit+"/cpu-s")
	}
}

func reportRate(b *testing.B, c *cpuClock) { c.report(b, 1, "msgs") }

func BenchmarkCanalJSON(b *testing.B) {
	for _, bc := range []struct {
		name   string
		update bool
	}{{"insert", false}, {"update", true}} {
		b.Run(bc.name, func(b *testing.B) {
			msgs, avg := benchMessages(1024, func(i int) []byte { return benchCanalMessage(i, bc.update) })
			d, err := canal.NewCanalJSON(codec.Config{TimeZone: "Asia/Shanghai"})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(avg))
			b.ReportAllocs()
			clk := startCPU(b)
			for i := 0; i < b.N; i++ {
				ds, err := d.Decode(nil, msgs[i&1023])
				if err != nil || len(ds) != 1 || len(ds[0].Events) != 1 {
					b.Fatal(err)
				}
			}
			reportRate(b, clk)
		})
	}
}

// BenchmarkCanalJSONStdlib is the baseline the decoder replaces:
// encoding/json into a map, no typing at all.
func BenchmarkCanalJSONStdlib(b *testing.B) {
	msgs, avg := benchMessages(1024, func(i int) []byte { return benchCanalMessage(i, false) })
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	clk := startCPU(b)
	for i := 0; i < b.N; i++ {
		var m map[string]any
		if err := json.Unmarshal(msgs[i&1023], &m); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, clk)
}

func benchOpenMessage(i, events int) (key, value []byte) {
	key = binary.BigEndian.AppendUint64(nil, open.OpenBatchVersion)
	for e := 0; e < events; e++ {
		k := []byte(`{"ts":448158906396770305,"scm":"shop","tbl":"customers","t":1}`)
		v := []byte(fmt.Sprintf(`{"u":{"id":{"t":8,"h":true,"f":11,"v":%d},"name":{"t":15,"f":64,"v":"user-%d"},"age":{"t":3,"f":64,"v":42},"balance":{"t":246,"f":64,"v":"1234.5600"},"created":{"t":12,"f":64,"v":"2024-03-01 10:00:00.123456"},"updated":{"t":7,"f":64,"v":"2024-03-01 02:00:00"},"note":{"t":252,"f":64,"v":"VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZy4="},"active":{"t":1,"f":64,"v":1},"score":{"t":5,"f":64,"v":0.75},"visits":{"t":8,"f":192,"v":18446744073709551615}}}`, i*events+e, i))
		key = binary.BigEndian.AppendUint64(key, uint64(len(k)))
		key = append(key, k...)
		value = binary.BigEndian.AppendUint64(value, uint64(len(v)))
		value = append(value, v...)
	}
	return key, value
}

// BenchmarkOpenProtocol decodes batches of 16 events (TiCDC's default
// max-batch-size); events/s is the figure to compare.
func BenchmarkOpenProtocol(b *testing.B) {
	const events = 16
	keys := make([][]byte, 256)
	vals := make([][]byte, 256)
	total := 0
	for i := range keys {
		keys[i], vals[i] = benchOpenMessage(i, events)
		total += len(keys[i]) + len(vals[i])
	}
	d, err := open.NewOpenProtocol(codec.Config{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(total / len(keys)))
	b.ReportAllocs()
	clk := startCPU(b)
	for i := 0; i < b.N; i++ {
		ds, err := d.Decode(keys[i&255], vals[i&255])
		if err != nil || len(ds) != events {
			b.Fatal(err)
		}
	}
	clk.report(b, events, "events")
}

func BenchmarkDebezium(b *testing.B) {
	msgs, avg := benchMessages(1024, func(i int) []byte {
		return []byte(fmt.Sprintf(`{"payload":{"source":{"connector":"mysql","db":"shop","table":"customers","ts_ms":1709258400123},"op":"c","ts_ms":1709258400456,"before":null,"after":{"id":%d,"name":"user-%d","age":42,"balance":"AeJA","created":1709287200123456,"updated":"2024-03-01T02:00:00Z","note":"The quick brown fox jumps over the lazy dog.","active":1,"score":0.75,"visits":9}},`+
			`"schema":{"type":"struct","fields":[{"type":"struct","field":"after","fields":[{"type":"int64","field":"id","optional":false},{"type":"string","field":"name"},{"type":"int32","field":"age"},{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"4"},"field":"balance"},{"type":"int64","name":"io.debezium.time.MicroTimestamp","field":"created"},{"type":"string","name":"io.debezium.time.ZonedTimestamp","field":"updated"},{"type":"string","field":"note"},{"type":"int16","field":"active"},{"type":"double","field":"score"},{"type":"int64","field":"visits"}]}]}}`, i, i))
	})
	d, err := debezium.NewDebezium(codec.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	clk := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := d.Decode(nil, msgs[i&1023]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, clk)
}

func BenchmarkMaxwell(b *testing.B) {
	msgs, avg := benchMessages(1024, func(i int) []byte {
		return []byte(fmt.Sprintf(`{"database":"shop","table":"customers","type":"insert","ts":1709258400,"xid":9,"commit":true,"data":{"id":%d,"name":"user-%d","age":42,"balance":1234.56,"created":"2024-03-01 10:00:00.123456","updated":"2024-03-01 02:00:00","note":"The quick brown fox jumps over the lazy dog.","active":1,"score":0.75,"visits":9}}`, i, i))
	})
	d, err := maxwell.NewMaxwell(codec.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	clk := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := d.Decode(nil, msgs[i&1023]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, clk)
}
