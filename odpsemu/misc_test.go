package odpsemu

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"ok", Config{DataDir: "d"}, nil},
		{"everything wrong", Config{AccessID: "id", StreamSlots: 999, MaxBodyBytes: 10,
			Faults: Faults{ErrorRate: -1, Latency: -1, Status: 302, Ops: []Op{"x"}}},
			[]string{"DataDir is required", "set together", "StreamSlots", "MaxBodyBytes", "ErrorRate", "Latency", "Status", `unknown op "x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.EnsureDefaults()
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Addr != "127.0.0.1:0" || cfg.StreamSlots != 2 || cfg.Faults.Status != 500 {
					t.Fatalf("defaults: %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without DataDir succeeded")
	}
}

// TestRawCompression sends stream bodies with every encoding the emulator
// accepts, including x-lz4-frame (Java SDK only), and reads a download back
// with each response encoding.
func TestRawCompression(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, _ := clients(srv, "ak", "sk")
	execSQL(t, o, "create table z (id BIGINT);")
	res, body := rawDo(t, "POST", srv.URL()+"/projects/"+testProject+"/tables/z/streams", nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	id := strings.Split(strings.Split(string(body), `"session_name":"`)[1], `"`)[0]
	compress := map[string]func(io.Writer) io.WriteCloser{
		"":                func(w io.Writer) io.WriteCloser { return nopCloser{w} },
		"deflate":         func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) },
		"x-snappy-framed": func(w io.Writer) io.WriteCloser { return snappy.NewBufferedWriter(w) },
		"zstd": func(w io.Writer) io.WriteCloser {
			zw, _ := zstd.NewWriter(w)
			return zw
		},
		"x-lz4-frame": func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) },
	}
	var names []string
	for n := range compress {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, name := range names {
		var buf bytes.Buffer
		cw := compress[name](&buf)
		cw.Write(buildStream([]testField{intField(1, int64(i))}))
		cw.Close()
		res, b := rawDo(t, "PUT", srv.URL()+"/projects/"+testProject+"/tables/z/streams?slotid=1&uploadid="+id, &buf,
			map[string]string{"Content-Encoding": name})
		if res.StatusCode != 200 {
			t.Fatalf("%q: %d %s", name, res.StatusCode, b)
		}
	}
	res, b := rawDo(t, "PUT", srv.URL()+"/projects/"+testProject+"/tables/z/streams?slotid=1&uploadid="+id,
		strings.NewReader("x"), map[string]string{"Content-Encoding": "br"})
	if res.StatusCode != 400 || !strings.Contains(string(b), "UnsupportedCompression") {
		t.Fatalf("brotli: %d %s", res.StatusCode, b)
	}
	res, b = rawDo(t, "PUT", srv.URL()+"/projects/"+testProject+"/tables/z/streams?slotid=1&uploadid="+id,
		strings.NewReader("garbage"), map[string]string{"Content-Encoding": "zstd"})
	if res.StatusCode != 400 || !strings.Contains(string(b), "MalformedDataStream") {
		t.Fatalf("corrupt zstd: %d %s", res.StatusCode, b)
	}

	_, tun := clients(srv, "ak", "sk")
	ds, err := tun.CreateDownloadSession(testProject, "z")
	if err != nil {
		t.Fatal(err)
	}
	cols := []column{{name: "id", typ: &dataType{kind: kBigint}}}
	for _, enc := range []string{"deflate", "x-snappy-framed", "zstd", "x-lz4-frame", "gzip"} {
		url := fmt.Sprintf("%s/projects/%s/tables/z?downloadid=%s&data=&rowrange=(0,%d)", srv.URL(), testProject, ds.Id, len(names))
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Accept-Encoding", enc)
		tr := &http.Transport{DisableCompression: true}
		res, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var r io.Reader = bytes.NewReader(raw)
		switch got := res.Header.Get("Content-Encoding"); got {
		case "deflate":
			r, _ = zlib.NewReader(r)
		case "x-snappy-framed":
			r = snappy.NewReader(r)
		case "zstd":
			zr, _ := zstd.NewReader(r)
			r = zr
		case "x-lz4-frame":
			r = lz4.NewReader(r)
		case "":
			if enc != "gzip" {
				t.Fatalf("%s: response not compressed", enc)
			}
		}
		plain, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		rows, err := renderStream(cols, plain)
		if err != nil || len(rows) != len(names) {
			t.Fatalf("%s: %v %v", enc, rows, err)
		}
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// TestConcurrentWriters streams from several goroutines into one partition
// while columns are added and downloads run (meant for -race).
func TestConcurrentWriters(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, "create table c (id BIGINT, w BIGINT) partitioned by (pt STRING);")
	execSQL(t, o, "alter table c add partition (pt='x');")
	const writers, flushes, perFlush = 4, 5, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sess, err := tun.CreateStreamUploadSession(testProject, "c", tunnel.SessionCfg.WithPartitionKey("pt=x"))
			if err != nil {
				t.Error(err)
				return
			}
			pw := sess.OpenRecordPackWriter()
			for f := 0; f < flushes; f++ {
				for i := 0; i < perFlush; i++ {
					if err := pw.Append(data.Record{data.BigInt(int64(f*perFlush + i)), data.BigInt(int64(w))}); err != nil {
						t.Error(err)
						return
					}
				}
				if _, _, _, err := pw.Flush(); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			if err := tryExecSQL(o, fmt.Sprintf("alter table c add columns (extra%d STRING);", i)); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			ds, err := tun.CreateDownloadSession(testProject, "c", tunnel.SessionCfg.WithPartitionKey("pt=x"))
			if err != nil {
				t.Error(err)
				return
			}
			r, err := ds.OpenRecordReader(0, ds.RecordCount(), []string{"id"})
			if err != nil {
				t.Error(err)
				return
			}
			n := 0
			for {
				if _, err := r.Read(); err != nil {
					break
				}
				n++
			}
			r.Close()
			if n != ds.RecordCount() {
				t.Errorf("read %d of %d", n, ds.RecordCount())
			}
		}
	}()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	got := readAll(t, tun, "c", "pt=x", []string{"w", "id"})
	if len(got) != writers*flushes*perFlush {
		t.Fatalf("%d rows, want %d", len(got), writers*flushes*perFlush)
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r] {
			t.Fatalf("duplicate row %s", r)
		}
		seen[r] = true
	}
}
