package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink"
)

var (
	srvOnce sync.Once
	srv     *s3server.Server
	srvErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		srv.Close()
	}
	os.Exit(code)
}

func inCI() bool { return os.Getenv("CI") == "true" || os.Getenv("CI") == "1" }

// server returns the package's S3 server with a fresh bucket for the test
// (t or, for benchmarks, tb).
func server(t *testing.T, tbs ...testing.TB) (*s3server.Server, string) {
	var tb testing.TB = t
	if len(tbs) > 0 {
		tb = tbs[0]
	}
	tb.Helper()
	srvOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		srv, srvErr = s3server.Start(ctx, s3server.Options{})
	})
	if srvErr != nil {
		if inCI() {
			tb.Fatalf("S3 server (versitygw) is required in CI: %v", srvErr)
		}
		tb.Skipf("SKIPPED: S3 server not available: %v", srvErr)
	}
	bucket := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(tb.Name()))
	if len(bucket) > 50 {
		bucket = bucket[:50]
	}
	bucket = strings.Trim(bucket, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%1000000)
	if _, err := srv.Client().CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		tb.Fatal(err)
	}
	return srv, bucket
}

func testConfig(srv *s3server.Server, bucket, prefix, dir string) Config {
	return Config{Connection: Connection{Bucket: bucket, Prefix: prefix, Endpoint: srv.Endpoint, PathStyle: true, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}, SpoolDir: dir, CheckpointInterval: 100 * time.Millisecond}
}

func testMapper(t testing.TB) *schema.Mapper {
	t.Helper()
	cfg := schema.Config{}
	cfg.EnsureDefaults()
	m, err := schema.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var ordersTable = (&event.Table{ID: event.TableID{DB: "shop", Table: "orders"}, Key: []int{0}, Columns: []event.Column{
	{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
	{Name: "amount", Type: event.TypeDecimal, Precision: 12, Scale: 2, Nullable: true, RawType: "decimal(12,2)"},
	{Name: "note", Type: event.TypeVarchar, Length: 255, Nullable: true, RawType: "varchar(255)"},
	{Name: "created", Type: event.TypeDateTime, Scale: 6, Nullable: true, RawType: "datetime(6)"},
}}).Seal()

var usersTable = (&event.Table{ID: event.TableID{DB: "shop", Table: "users"}, Key: []int{0}, Columns: []event.Column{
	{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
	{Name: "name", Type: event.TypeVarchar, Length: 64, Nullable: true, RawType: "varchar(64)"},
}}).Seal()

var t0 = time.Date(2024, 3, 1, 23, 59, 55, 0, time.UTC).UnixMicro()

// genEvents makes n events (seq 1..n) over two tables, one second of
// commit time per 10 events, crossing midnight (two partitions).
func genEvents(n int) []event.Event {
	var evs []event.Event
	for i := 1; i <= n; i++ {
		e := event.Event{Seq: uint64(i), Op: event.OpInsert, CommitTime: t0 + int64(i/10)*1e6,
			Pos: event.Position{File: "binlog.000001", Offset: uint64(100 * i)}, TxnEnd: true}
		if i%3 == 0 {
			e.Source, e.Table = usersTable.ID, usersTable
			e.After = []event.Value{event.Int(int64(i)), event.String(fmt.Sprintf("user %d", i))}
		} else {
			e.Source, e.Table = ordersTable.ID, ordersTable
			e.After = []event.Value{event.Int(int64(i)), event.Decimal(fmt.Sprintf("%d.%02d", i, i%100)),
				event.String(strings.Repeat("x", i%50)), event.DateTime(2024, 3, 1, 12, 0, i%60, i)}
			switch i % 7 {
			case 1:
				e.Op = event.OpUpdate
				e.Before = e.After
			case 2:
				e.Op, e.Before, e.After = event.OpDelete, e.After, nil
			case 3:
				e.Op = event.OpRead
				e.After[2] = event.Null
			}
		}
		evs = append(evs, e)
	}
	return evs
}

// batches cuts events into batches at the given sizes (cycled).
func batches(evs []event.Event, sizes ...int) []*sink.Batch {
	var out []*sink.Batch
	for i, k := 0, 0; i < len(evs); k++ {
		n := min(sizes[k%len(sizes)], len(evs)-i)
		out = append(out, &sink.Batch{First: evs[i].Seq, Last: evs[i+n-1].Seq, Events: evs[i : i+n]})
		i += n
	}
	return out
}

func writeAll(t *testing.T, s *Sink, bs []*sink.Batch) {
	t.Helper()
	for _, b := range bs {
		if err := s.WriteAck(context.Background(), b, nil); err != nil {
			t.Fatalf("write %d..%d: %v", b.First, b.Last, err)
		}
	}
}

// objects returns every object under prefix: key (without prefix) -> content.
func objects(t *testing.T, srv *s3server.Server, bucket, prefix string) map[string][]byte {
	t.Helper()
	cl := srv.Client()
	out := map[string][]byte{}
	p := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			g, err := cl.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(g.Body)
			g.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(aws.ToString(o.Key), prefix+"/")] = b
		}
	}
	return out
}

func dataKeys(objs map[string][]byte) []string {
	var ks []string
	for k := range objs {
		if !strings.Contains(k, "/_schema/") && !strings.HasPrefix(k, "_") {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

// parquetRows reads a Parquet object as maps column -> Go value.
func parquetRows(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r := parquet.NewGenericReader[map[string]any](bytes.NewReader(data), f.Schema())
	defer r.Close()
	var out []map[string]any
	for {
		buf := make([]map[string]any, 64)
		for i := range buf {
			buf[i] = map[string]any{}
		}
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF || n == 0 {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestRoundTripParquet(t *testing.T) {
	srv, bucket := server(t)
	dir := t.TempDir()
	cfg := testConfig(srv, bucket, "ods", dir)
	s, err := New(cfg, testMapper(t), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	evs := genEvents(300)
	writeAll(t, s, batches(evs, 7, 50, 1))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	objs := objects(t, srv, bucket, "ods")
	keys := dataKeys(objs)
	want := []string{
		"ods_shop_orders/ds=20240301/00000000000000000001-00000000000000000049.parquet",
		"ods_shop_orders/ds=20240302/00000000000000000050-00000000000000000299.parquet",
		"ods_shop_users/ds=20240301/00000000000000000003-00000000000000000048.parquet",
		"ods_shop_users/ds=20240302/00000000000000000051-00000000000000000300.parquet",
	}
	if strings.Join(keys, "\n") != strings.Join(want, "\n") {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	// Every event exactly once, with its values.
	seen := map[int64]map[string]any{}
	for _, k := range keys {
		for _, r := range parquetRows(t, objs[k]) {
			seq := r["_seq"].(int64)
			if _, dup := seen[seq]; dup {
				t.Fatalf("_seq %d twice", seq)
			}
			seen[seq] = r
		}
	}
	if len(seen) != len(evs) {
		t.Fatalf("%d rows, want %d", len(seen), len(evs))
	}
	for _, e := range evs {
		r := seen[int64(e.Seq)]
		if r["_op"] != e.Op.Code() {
			t.Errorf("seq %d: _op %v, want %s", e.Seq, r["_op"], e.Op.Code())
		}
		img := e.Row()
		if id := r["id"]; id != img[0].Int() {
			t.Errorf("seq %d: id %v (%T), want %d", e.Seq, id, id, img[0].Int())
		}
		if e.Table == ordersTable {
			if n := img[2]; n.IsNull() != (r["note"] == nil) || (!n.IsNull() && r["note"] != n.Str()) {
				t.Errorf("seq %d: note %v, want %v", e.Seq, r["note"], n)
			}
		}
	}
	// Schema files and the checkpoint.
	// Per table: one schema file, its Athena DDL, and the current.* copies.
	var schemas, ddl int
	for k, v := range objs {
		switch {
		case strings.HasSuffix(k, "/_schema/current.json"):
		case strings.Contains(k, "/_schema/v") && strings.HasSuffix(k, ".json"):
			schemas++
			if _, err := schema.ParseSchemaJSON(v); err != nil {
				t.Errorf("%s: %v", k, err)
			}
			cur := objs[k[:strings.LastIndex(k, "/")]+"/current.json"]
			if !bytes.Equal(cur, v) {
				t.Errorf("%s: current.json differs:\n%s", k, cur)
			}
		case strings.Contains(k, "/_schema/v") && strings.HasSuffix(k, ".sql"):
			ddl++
			if !strings.Contains(string(v), "CREATE EXTERNAL TABLE IF NOT EXISTS") {
				t.Errorf("%s: %s", k, v)
			}
		}
	}
	if schemas != 2 || ddl != 2 {
		t.Errorf("%d schema files and %d DDL files, want 2 and 2", schemas, ddl)
	}
	var cp Checkpoint
	if err := json.Unmarshal(objs["_checkpoint.json"], &cp); err != nil {
		t.Fatalf("checkpoint: %v\n%s", err, objs["_checkpoint.json"])
	}
	if cp.CompleteSeq != 300 || len(cp.Pending) != 0 || cp.CompleteBeforeUS != evs[299].CommitTime {
		t.Errorf("checkpoint = %+v", cp)
	}
}

// TestReplayRewritesIdenticalObjects: a run cut by crashes (uploads in
// flight, acknowledged and not), replayed from the cursor with other batch
// boundaries, leaves exactly the objects (names and bytes) of a clean run.
func TestReplayRewritesIdenticalObjects(t *testing.T) {
	for _, format := range []string{"parquet", "csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			srv, bucket := server(t)
			evs := genEvents(2000)
			dir := t.TempDir()
			mk := func(prefix, dir string) Config {
				c := testConfig(srv, bucket, prefix, dir)
				c.Format = format
				c.FileSize = 4 << 10
				c.MinFileSize = 1 << 10
				c.FlushInterval = 20 * time.Second
				c.MaxAge = 60 * time.Second
				c.FlushOnClose = boolPtr(true)
				return c
			}
			clean, err := New(mk("clean", t.TempDir()), testMapper(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, clean, batches(evs, 100))
			if err := clean.Close(context.Background()); err != nil {
				t.Fatal(err)
			}

			crashyRun(t, func() Config { return mk("crashy", dir) }, evs, 6, 13, 250, 1, 77)
			a, b := objects(t, srv, bucket, "clean"), objects(t, srv, bucket, "crashy")
			ka, kb := dataKeys(a), dataKeys(b)
			if len(ka) < 10 {
				t.Fatalf("only %d files: rolling by size did not happen", len(ka))
			}
			if strings.Join(ka, "\n") != strings.Join(kb, "\n") {
				t.Fatalf("object names differ:\nclean:\n%s\ncrashy:\n%s", strings.Join(ka, "\n"), strings.Join(kb, "\n"))
			}
			for _, k := range ka {
				if !bytes.Equal(a[k], b[k]) {
					t.Errorf("%s: contents differ", k)
				}
			}
			// Schema files, Athena DDL (its LOCATION names the prefix) and current.* too.
			for k := range a {
				if !strings.HasPrefix(k, "_") && !bytes.Equal(a[k], bytes.ReplaceAll(b[k], []byte("/crashy/"), []byte("/clean/"))) {
					t.Errorf("%s: contents differ:\n%s\n%s", k, a[k], b[k])
				}
			}
		})
	}
}

// crashyRun plays the pipeline for a sink that crashes rounds times: each
// run is handed the events after the cursor (the contiguous acknowledged
// prefix) in batches of the given sizes (rotated per run), some of them,
// and is killed while its uploads go on; the last run takes the rest and
// closes.
func crashyRun(t *testing.T, mk func() Config, evs []event.Event, rounds int, sizes ...int) {
	t.Helper()
	var mu sync.Mutex
	var cursor uint64
	var above [][2]uint64
	ack := func(first, last uint64) sink.AckFunc {
		return func(err error) {
			if err != nil {
				return // refused: handed out again from the cursor
			}
			mu.Lock()
			defer mu.Unlock()
			above = append(above, [2]uint64{first, last})
			for moved := true; moved; {
				moved = false
				for i, r := range above {
					if r[0] <= cursor+1 && r[1] > cursor {
						cursor = r[1]
						above = append(above[:i], above[i+1:]...)
						moved = true
						break
					}
				}
			}
		}
	}
	for round := 0; ; round++ {
		s, err := New(mk(), testMapper(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		from := cursor
		above = nil
		mu.Unlock()
		rot := append(append([]int(nil), sizes[round%len(sizes):]...), sizes[:round%len(sizes)]...)
		bs := batches(evs[from:], rot...)
		upto := len(bs)
		if round < rounds {
			upto = min(len(bs), len(bs)/(rounds-round)+1)
		}
		for _, b := range bs[:upto] {
			if err := s.WriteAck(context.Background(), b, ack(b.First, b.Last)); err != nil {
				t.Fatalf("write %d..%d: %v", b.First, b.Last, err)
			}
		}
		if round >= rounds {
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if cursor != evs[len(evs)-1].Seq {
				t.Fatalf("cursor %d after the last run closed, want %d", cursor, evs[len(evs)-1].Seq)
			}
			return
		}
		time.Sleep(time.Duration(20*round) * time.Millisecond) // let some uploads land
		s.crash()
	}
}

// crash stops the sink's goroutines without flushing anything, as a kill would.
func (s *Sink) crash() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func TestRollingByAge(t *testing.T) {
	srv, bucket := server(t)
	cfg := testConfig(srv, bucket, "age", t.TempDir())
	cfg.FlushInterval = 10 * time.Second
	cfg.MaxAge = 30 * time.Second
	cfg.MinFileSize = 2000
	s, err := New(cfg, testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// users: 1 row every 5s of commit time (small: cut at max_age);
	// orders: 10 rows every 5s (cut at flush_interval once >= 300 bytes).
	var evs []event.Event
	seq := uint64(0)
	for sec := 0; sec < 120; sec += 5 {
		ct := t0 - 3600e6 + int64(sec)*1e6
		seq++
		evs = append(evs, event.Event{Seq: seq, Op: event.OpInsert, Source: usersTable.ID, Table: usersTable, CommitTime: ct,
			After: []event.Value{event.Int(int64(seq)), event.String("u")}})
		for k := 0; k < 10; k++ {
			seq++
			evs = append(evs, event.Event{Seq: seq, Op: event.OpInsert, Source: ordersTable.ID, Table: ordersTable, CommitTime: ct,
				After: []event.Value{event.Int(int64(seq)), event.Decimal("1.00"), event.String("n"), event.Null}})
		}
	}
	writeAll(t, s, batches(evs, 11))
	deadline := time.Now().Add(20 * time.Second)
	for s.Stats().Queued > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	objs := objects(t, srv, bucket, "age")
	var users, orders []string
	for _, k := range dataKeys(objs) {
		n := len(parquetRows(t, objs[k]))
		if strings.HasPrefix(k, "ods_shop_users/") {
			users = append(users, fmt.Sprint(n))
		} else {
			orders = append(orders, fmt.Sprint(n))
		}
	}
	// users (~50 bytes a row, 24 rows, never 2000 bytes): cut only at
	// max_age (30s on the commit clock): 6 rows each, the last spool still open.
	if got := strings.Join(users, ","); got != "6,6,6" {
		t.Errorf("users files hold %s rows, want 6,6,6", got)
	}
	// orders: cut once flush_interval (10s) passed and 2000 bytes are there.
	if len(orders) < 5 {
		t.Errorf("orders files hold %v rows, want several files", orders)
	}
}

func TestMultipartUpload(t *testing.T) {
	srv, bucket := server(t)
	cfg := testConfig(srv, bucket, "big", t.TempDir())
	cfg.Format = "jsonl"
	cfg.PartSize = 5 << 20
	cfg.FileSize = 64 << 20
	s, err := New(cfg, testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("p", 1000)
	var evs []event.Event
	for i := 1; i <= 13000; i++ {
		evs = append(evs, event.Event{Seq: uint64(i), Op: event.OpInsert, Source: usersTable.ID, Table: usersTable, CommitTime: t0,
			After: []event.Value{event.Int(int64(i)), event.String(pad)}})
	}
	writeAll(t, s, batches(evs, 1000))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	objs := objects(t, srv, bucket, "big")
	keys := dataKeys(objs)
	if len(keys) != 1 {
		t.Fatalf("objects %v", keys)
	}
	data := objs[keys[0]]
	if len(data) <= 10<<20 {
		t.Fatalf("object is %d bytes; want > 2 parts", len(data))
	}
	if n := bytes.Count(data, []byte("\n")); n != 13000 {
		t.Fatalf("%d lines, want 13000", n)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Connection: Connection{Bucket: "Bad_Bucket", Endpoint: "ftp://x", SecretAccessKey: "s"}, Format: "orc", FileSize: 100, MinFileSize: 200, FlushInterval: time.Minute, MaxAge: time.Second, ServerSideEncryption: "rot13"}
	c.EnsureDefaults()
	err := c.Validate("sinks[0].s3")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"sinks[0].s3.bucket", "sinks[0].s3.endpoint", "sinks[0].s3.format", "sinks[0].s3.access_key_id",
		"sinks[0].s3.file_size", "sinks[0].s3.min_file_size", "sinks[0].s3.max_age", "sinks[0].s3.spool_dir",
		"sinks[0].s3.server_side_encryption"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
	ok := Config{Connection: Connection{Bucket: "ods-bucket"}, SpoolDir: "/tmp/x"}
	ok.EnsureDefaults()
	if err := ok.Validate("s3"); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if s, _ := ParseSize("64MiB"); s != 64<<20 {
		t.Errorf("ParseSize(64MiB) = %d", s)
	}
}

// TestUnmappableValueKeptInRaw: by default a value that does not fit its
// column is NULL there and kept in _raw; the batch succeeds.
func TestUnmappableValueKeptInRaw(t *testing.T) {
	srv, bucket := server(t)
	cfg := testConfig(srv, bucket, "raw", t.TempDir())
	cfg.Format = "jsonl"
	m := testMapper(t)
	s, err := New(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := event.Event{Seq: 1, Op: event.OpInsert, Source: ordersTable.ID, Table: ordersTable, CommitTime: t0,
		After: []event.Value{event.Int(7), event.String("not a number"), event.Null, event.DateTime(0, 0, 0, 0, 0, 0, 0)}}
	if err := s.Write(context.Background(), &sink.Batch{First: 1, Last: 1, Events: []event.Event{e}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	objs := objects(t, srv, bucket, "raw")
	keys := dataKeys(objs)
	if len(keys) != 1 {
		t.Fatalf("objects %v", keys)
	}
	line := string(objs[keys[0]])
	want := `"_raw":"{\"amount\":\"not a number\",\"created\":\"0000-00-00 00:00:00\"}","id":7,"amount":null,"note":null,"created":null}`
	if !strings.Contains(line, want) {
		t.Fatalf("row %s\nlacks %s", line, want)
	}
	counts := m.RawCounts()
	if len(counts) != 2 || counts[0].Column != "amount" || counts[1].Column != "created" || counts[0].Count != 1 ||
		counts[0].Table != "ods_shop_orders" || counts[0].Source != ordersTable.ID {
		t.Fatalf("raw counts = %+v", counts)
	}
}

// TestStopOnUnmappableValue: under mapping.on_value_error: stop the same
// row is a permanent error naming table, column and position.
func TestStopOnUnmappableValue(t *testing.T) {
	srv, bucket := server(t)
	m, err := schema.New(schema.Config{OnValueError: schema.OnValueErrorStop})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(srv, bucket, "bad", t.TempDir()), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	e := event.Event{Seq: 1, Op: event.OpInsert, Source: ordersTable.ID, Table: ordersTable, CommitTime: t0,
		Pos:   event.Position{File: "binlog.000009", Offset: 77},
		After: []event.Value{event.String("not a number"), event.Null, event.Null, event.Null}}
	err = s.Write(context.Background(), &sink.Batch{First: 1, Last: 1, Events: []event.Event{e}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"shop.orders", "column id", "binlog.000009:77"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !errorsIsPermanent(err) {
		t.Fatalf("not permanent: %v", err)
	}
}

func errorsIsPermanent(err error) bool {
	return err != nil && strings.Contains(err.Error(), sink.ErrPermanent.Error())
}

var _ = filepath.Join

// TestSpoolFullOfOpenFiles: many quiet tables fill max_spool_size with
// open spools; Write cuts them so uploads can free space instead of
// waiting forever.
func TestSpoolFullOfOpenFiles(t *testing.T) {
	srv, bucket := server(t)
	cfg := testConfig(srv, bucket, "full", t.TempDir())
	cfg.Format = "jsonl"
	cfg.FileSize = 4 << 10
	cfg.MinFileSize = 4 << 10
	cfg.MaxSpoolSize = 8 << 10
	cfg.FlushInterval = time.Hour
	cfg.MaxAge = time.Hour
	s, err := New(cfg, testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for i := 1; i <= 400; i++ {
		tb := (&event.Table{ID: event.TableID{DB: "many", Table: fmt.Sprintf("t%02d", i%40)}, Columns: []event.Column{
			{Name: "v", Type: event.TypeVarchar, Length: 255, Nullable: true, RawType: "varchar(255)"}}}).Seal()
		evs = append(evs, event.Event{Seq: uint64(i), Op: event.OpInsert, Source: tb.ID, Table: tb, CommitTime: t0,
			After: []event.Value{event.String(strings.Repeat("v", 100))}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, b := range batches(evs, 20) {
		if err := s.Write(ctx, b); err != nil {
			t.Fatalf("write %d..%d: %v", b.First, b.Last, err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lines := 0
	objs := objects(t, srv, bucket, "full")
	for _, k := range dataKeys(objs) {
		lines += bytes.Count(objs[k], []byte("\n"))
	}
	if lines != 400 {
		t.Fatalf("%d rows in S3, want 400", lines)
	}
}

func TestHourPartitionsAndCheck(t *testing.T) {
	srv, bucket := server(t)
	cfg := testConfig(srv, bucket, "hourly", t.TempDir())
	cfg.Format = "csv"
	if err := Check(context.Background(), cfg); err != nil {
		t.Fatalf("Check: %v", err)
	}
	bad := cfg
	bad.Bucket = "no-such-bucket-here"
	if err := Check(context.Background(), bad); err == nil {
		t.Error("Check of a missing bucket passed")
	}
	mc := schema.Config{Partition: schema.PartitionConfig{Granularity: "hour", TimeZone: "Asia/Shanghai"}}
	mc.EnsureDefaults()
	m, err := schema.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, batches(genEvents(100), 30))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys := dataKeys(objects(t, srv, bucket, "hourly"))
	// 2024-03-01 23:59:55 UTC is 2024-03-02 07:59:55 in Shanghai; +5s crosses into 08.
	want := "ods_shop_orders/ds=2024030207/00000000000000000001-00000000000000000049.csv"
	if len(keys) != 4 || keys[0] != want {
		t.Fatalf("objects %v, want 4 starting with %s", keys, want)
	}
}

// TestRefusalRedelivers: a batch the sink cannot take in (its scratch
// directory is gone) is accepted and refused together with every batch not
// yet acknowledged; the sink forgets them, and the same events handed out
// again from the cursor land exactly once.
func TestRefusalRedelivers(t *testing.T) {
	srv, bucket := server(t)
	dir := t.TempDir()
	cfg := testConfig(srv, bucket, "ods", dir)
	s, err := New(cfg, testMapper(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := genEvents(300)
	var mu sync.Mutex
	results := map[uint64]error{} // by batch first seq
	ack := func(first uint64) sink.AckFunc {
		return func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if _, twice := results[first]; twice {
				t.Errorf("batch %d settled twice", first)
			}
			results[first] = err
		}
	}
	bs := batches(evs, 30)
	if err := s.WriteAck(context.Background(), bs[0], ack(bs[0].First)); err != nil {
		t.Fatal(err)
	}
	// Batch 2 crosses midnight: new partitions need new scratch files.
	if err := os.RemoveAll(filepath.Join(dir, "tmp")); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAck(context.Background(), bs[1], ack(bs[1].First)); err != nil {
		t.Fatalf("WriteAck = %v; want the batch accepted and refused", err)
	}
	mu.Lock()
	if len(results) != 2 || results[1] == nil || results[31] == nil {
		t.Fatalf("settled %v; want batches 1 and 31 refused", results)
	}
	clear(results)
	mu.Unlock()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs { // redelivered from the cursor (0)
		if err := s.WriteAck(context.Background(), b, ack(b.First)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, b := range bs {
		if err, ok := results[b.First]; !ok || err != nil {
			t.Errorf("batch %d: settled %v, %v; want acknowledged", b.First, ok, err)
		}
	}
	mu.Unlock()
	objs := objects(t, srv, bucket, "ods")
	seen := map[int64]bool{}
	for _, k := range dataKeys(objs) {
		for _, r := range parquetRows(t, objs[k]) {
			seq := r["_seq"].(int64)
			if seen[seq] {
				t.Fatalf("_seq %d twice (%s)", seq, k)
			}
			seen[seq] = true
		}
	}
	if len(seen) != len(evs) {
		t.Fatalf("%d rows, want %d", len(seen), len(evs))
	}
}
