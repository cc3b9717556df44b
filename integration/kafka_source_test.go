package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
)

// produceAll writes msgs to partition 0 of topic cdc.
func produceAll(t *testing.T, cl *kh.Cluster, msgs ...kh.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := cl.Producer("cdc")
	defer p.Close()
	if err := p.Produce(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// odsTable reads the ODS change rows of one source table ("shop.t" ->
// ods_shop_t) as "op col=value ..." lines, metadata columns left out.
func odsTable(t *testing.T, dir, table string) []codecRow {
	var out []codecRow
	for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
		if !strings.HasSuffix(r.Table, "_"+table) {
			continue
		}
		o := codecRow{op: r.Op(), vals: map[string]string{}}
		for k, v := range r.Data {
			if strings.HasPrefix(k, "_") {
				continue
			}
			if v == nil {
				o.vals[k] = "NULL"
			} else {
				o.vals[k] = fmt.Sprint(v)
			}
		}
		out = append(out, o)
	}
	return out
}

func rowsText(rows []codecRow) string {
	var b []string
	for _, r := range rows {
		b = append(b, r.String())
	}
	return strings.Join(b, "\n")
}

// TestKafkaSchemalessNullFirst: in Maxwell and schema-less Debezium JSON a
// column whose first values are NULL does not stop anything: it is typed
// "null" (STRING in the ODS), later values of any JSON kind land as their
// text, and a column type override gives it its real type.
func TestKafkaSchemalessNullFirst(t *testing.T) {
	maxwell := func(id int, v, w string) kh.Message {
		return kh.Message{Key: []byte(fmt.Sprintf(`{"database":"shop","table":"t","pk.id":%d}`, id)),
			Value: []byte(fmt.Sprintf(`{"database":"shop","table":"t","type":"insert","ts":%d,"xid":%d,"commit":true,"data":{"id":%d,"v":%s,"w":%s},"primary_key_columns":["id"]}`,
				1767225600+id, id, id, v, w))}
	}
	debezium := func(id int, v, w string) kh.Message {
		return kh.Message{Key: []byte(fmt.Sprintf(`{"id":%d}`, id)),
			Value: []byte(fmt.Sprintf(`{"before":null,"after":{"id":%d,"v":%s,"w":%s},"source":{"db":"shop","table":"t","ts_ms":%d,"snapshot":"false"},"op":"c","ts_ms":%d}`,
				id, v, w, 1767225600000+int64(id), 1767225600000+int64(id)))}
	}
	for _, tc := range []struct {
		protocol string
		msg      func(id int, v, w string) kh.Message
	}{{"maxwell", maxwell}, {"debezium", debezium}} {
		t.Run(tc.protocol, func(t *testing.T) {
			cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 1}})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			produceAll(t, cl,
				tc.msg(1, "null", "null"),
				tc.msg(2, "5", `"abc"`),
				tc.msg(3, "null", "7"),
				tc.msg(4, "-9223372036854775808", `{"k":[1,true]}`),
				tc.msg(5, "null", "1E-30"))
			want := []string{
				`I id="1" v="NULL" w="NULL"`,
				`I id="2" v="5" w="abc"`,
				`I id="3" v="NULL" w="7"`,
				`I id="4" v="-9223372036854775808" w="{\"k\":[1,true]}"`,
				`I id="5" v="NULL" w="0.000000000000000000000000000001"`,
			}
			for _, override := range []bool{false, true} {
				dir := t.TempDir()
				mapping := ""
				if override {
					// The real type of v, given before any value was seen.
					mapping = "  tables:\n    - source: 'shop\\.t'\n      columns:\n        v: {type: bigint}\n"
				}
				cfg := kafkaSourceConfig(t, dir, cl.Addrs, "kafka", tc.protocol, "", mapping)
				logPath := filepath.Join(dir, "odsync.log")
				proc := harness.Start(t, logPath, "run", "-c", cfg)
				var got []codecRow
				harness.Eventually(t, 60*time.Second, "the five rows", func() (bool, string) {
					if proc.Exited() {
						t.Fatalf("override %v: odsync stopped:\n%s", override, ticdcTail(readFile(t, logPath), 4000))
					}
					got = odsTable(t, dir, "t")
					return len(got) >= len(want), fmt.Sprintf("%d rows", len(got))
				})
				if code, err := proc.Stop(60 * time.Second); err != nil || code != 0 {
					t.Fatalf("stop: exit %d, %v:\n%s", code, err, ticdcTail(readFile(t, logPath), 3000))
				}
				if g := rowsText(odsTable(t, dir, "t")); g != strings.Join(want, "\n") {
					t.Fatalf("override %v: ODS\n%s\nwant\n%s", override, g, strings.Join(want, "\n"))
				}
				// The STRING column holds the numbers as text; the override
				// makes v a BIGINT column (numbers in the JSON lines).
				raw := odsRaw(t, dir, "t")
				isNumber := strings.Contains(raw, `"v":5`)
				if isNumber != override {
					t.Fatalf("override %v: v written as a number = %v:\n%s", override, isNumber, raw)
				}
			}
		})
	}
}

// odsRaw returns the JSON lines of a table's ODS files.
func odsRaw(t *testing.T, dir, table string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
		if strings.HasSuffix(r.Table, "_"+table) && !seen[r.File] {
			seen[r.File] = true
			fmt.Fprintln(&b, readFile(t, filepath.Join(dir, "ods", r.File)))
		}
	}
	return b.String()
}

// TestKafkaOnErrorStopBacklog: with on_error: stop (the default) the
// changes ordered before a bad message land (appended to the log,
// checkpointed, written by the sink) before odsync stops with an error
// naming topic, partition, offset and cause; a restart reports the same
// error promptly and writes nothing twice.
func TestKafkaOnErrorStopBacklog(t *testing.T) {
	tbl := &kh.Table{DB: "shop", Name: "orders", Cols: []kh.Col{kh.C("id", kh.ColBigint), kh.C("n", kh.ColBigint)}}
	bad := kh.Message{Value: []byte(`{"id":0,"database":"shop","table":"orders","isDdl":false,"type":"INSERT","data":[{"id":"1"}]`)}
	for _, tc := range []struct {
		name, kind string
		ordered    int // rows ordered before the bad message
	}{
		// Offset ordering: every row before the bad message.
		{"offset", "kafka", 40},
		// Watermark ordering: the rows the watermarks before it release.
		{"watermark", "ticdc", 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 1}})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var msgs []kh.Message
			ts := func(i int) uint64 { return kh.TSO(1767225600000+int64(i), 0) }
			for i := 1; i <= 40; i++ {
				msgs = append(msgs, kh.Message{Value: tbl.CanalRow("INSERT", ts(i), kh.Row{kh.V(fmt.Sprint(i)), kh.V(fmt.Sprint(10 * i))}, nil)})
				if i == 30 && tc.kind == "ticdc" {
					msgs = append(msgs, kh.Message{Value: kh.CanalWatermark(ts(30))})
				}
			}
			badOffset := len(msgs)
			msgs = append(msgs, bad,
				kh.Message{Value: tbl.CanalRow("INSERT", ts(41), kh.Row{kh.V("41"), kh.V("410")}, nil)},
				kh.Message{Value: kh.CanalWatermark(ts(50))})
			produceAll(t, cl, msgs...)

			dir := t.TempDir()
			cfg := kafkaSourceConfig(t, dir, cl.Addrs, tc.kind, "canal-json", "", "")
			logPath := filepath.Join(dir, "odsync.log")
			where := fmt.Sprintf("topic cdc partition 0 offset %d", badOffset)
			for run := 1; run <= 2; run++ {
				start := time.Now()
				proc := harness.Start(t, logPath, "run", "-c", cfg)
				code, err := proc.Wait(60 * time.Second)
				if err != nil || code != 1 {
					t.Fatalf("run %d: exit %d (%v), want 1:\n%s", run, code, err, ticdcTail(readFile(t, logPath), 4000))
				}
				if run == 2 && time.Since(start) > 30*time.Second {
					t.Fatalf("the restart took %s to report the bad message", time.Since(start))
				}
				l := readFile(t, logPath)
				if strings.Count(l, where) < run || !strings.Contains(l, "canal-json") {
					t.Fatalf("run %d: the error does not name %q and the cause:\n%s", run, where, ticdcTail(l, 4000))
				}
				rows := odsTable(t, dir, "orders")
				if len(rows) != tc.ordered {
					t.Fatalf("run %d: %d rows in the ODS, want the %d ordered before the bad message:\n%s",
						run, len(rows), tc.ordered, rowsText(rows))
				}
				for i, r := range rows {
					if r.vals["id"] != fmt.Sprint(i+1) {
						t.Fatalf("run %d: row %d is %s", run, i, r)
					}
				}
			}
			// Skipping it: dead-letter it (docs/kafka.md) and the rest flows.
			cfg2 := kafkaSourceConfig(t, dir, cl.Addrs, tc.kind, "canal-json",
				"    on_error: dead_letter\n    dead_letter:\n      table: shop.dead_letters\n", "")
			proc := harness.Start(t, logPath, "run", "-c", cfg2)
			harness.Eventually(t, 60*time.Second, "the rest of the rows and the quarantine row", func() (bool, string) {
				if proc.Exited() {
					t.Fatalf("odsync exited:\n%s", ticdcTail(readFile(t, logPath), 4000))
				}
				n, d := len(odsTable(t, dir, "orders")), len(odsTable(t, dir, "dead_letters"))
				return n == 41 && d == 1, fmt.Sprintf("%d rows, %d quarantined", n, d)
			})
			if code, err := proc.Stop(60 * time.Second); err != nil || code != 0 {
				t.Fatalf("stop: exit %d, %v", code, err)
			}
		})
	}
}

// TestKafkaDeadLetterTooLarge: a bad message too large for the dead-letter
// topic is never retried: with a quarantine table it lands there (odsync
// goes on), without one odsync stops promptly with an error saying so.
func TestKafkaDeadLetterTooLarge(t *testing.T) {
	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.CreateTopicConfig("dlq", 1, map[string]string{"max.message.bytes": "10000"}); err != nil {
		t.Fatal(err)
	}
	tbl := &kh.Table{DB: "shop", Name: "orders", Cols: []kh.Col{kh.C("id", kh.ColBigint), kh.C("n", kh.ColBigint)}}
	big := `{"database":"shop","table":"orders","isDdl":false,"type":"INSERT","data":[{"id":"` + strings.Repeat("9", 50000) + `"}]`
	ts := func(i int) uint64 { return kh.TSO(1767225600000+int64(i), 0) }
	produceAll(t, cl,
		kh.Message{Value: tbl.CanalRow("INSERT", ts(1), kh.Row{kh.V("1"), kh.V("10")}, nil)},
		kh.Message{Value: []byte(big)},
		kh.Message{Value: tbl.CanalRow("INSERT", ts(2), kh.Row{kh.V("2"), kh.V("20")}, nil)})

	// Topic only: stop, promptly, naming the cause.
	dir := t.TempDir()
	cfg := kafkaSourceConfig(t, dir, cl.Addrs, "kafka", "canal-json", "    on_error: dead_letter\n    dead_letter:\n      topic: dlq\n", "")
	logPath := filepath.Join(dir, "odsync.log")
	proc := harness.Start(t, logPath, "run", "-c", cfg)
	code, err := proc.Wait(60 * time.Second)
	if err != nil || code != 1 {
		t.Fatalf("topic only: exit %d (%v), want 1:\n%s", code, err, ticdcTail(readFile(t, logPath), 4000))
	}
	if l := readFile(t, logPath); !strings.Contains(l, "too large for dead-letter topic dlq") || !strings.Contains(l, "offset 1") {
		t.Fatalf("topic only: the error does not say why:\n%s", ticdcTail(l, 4000))
	}
	if n := len(odsTable(t, dir, "orders")); n != 1 {
		t.Fatalf("topic only: %d rows, want the 1 before the bad message", n)
	}

	// Topic and table: the quarantine table keeps it, the rest flows.
	dir = t.TempDir()
	cfg = kafkaSourceConfig(t, dir, cl.Addrs, "kafka", "canal-json",
		"    on_error: dead_letter\n    dead_letter:\n      topic: dlq\n      table: shop.dead_letters\n", "")
	logPath = filepath.Join(dir, "odsync.log")
	proc = harness.Start(t, logPath, "run", "-c", cfg)
	harness.Eventually(t, 60*time.Second, "both rows and the quarantine row", func() (bool, string) {
		if proc.Exited() {
			t.Fatalf("topic and table: odsync exited:\n%s", ticdcTail(readFile(t, logPath), 4000))
		}
		n, d := len(odsTable(t, dir, "orders")), len(odsTable(t, dir, "dead_letters"))
		return n == 2 && d == 1, fmt.Sprintf("%d rows, %d quarantined", n, d)
	})
	if d := odsTable(t, dir, "dead_letters"); !strings.Contains(d[0].vals["reason"], "too large for dead-letter topic dlq") {
		t.Fatalf("quarantine reason %q", d[0].vals["reason"])
	}
	if code, err := proc.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop: exit %d, %v", code, err)
	}
}
