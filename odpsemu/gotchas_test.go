package odpsemu

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/datatype"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tableschema"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// The tests in this file pin the SDK behaviours the emulator must reproduce
// (docs/odps-emulator.md lists those a sink must handle), one subtest per
// behaviour. Record encoding and CRCs are covered by TestDecodeSDKStreams, TestTranscodeColumnOrder and
// TestDecodeRejects against byte streams captured from the SDK, and by every
// round trip through the SDK.

func rawDo(t *testing.T, method, url string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestProtocolGotchas(t *testing.T) {
	srv := startEmu(t, t.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(t, o, allTypesDDL)
	base := srv.URL()

	t.Run("01 tunnel discovery body has no newline", func(t *testing.T) {
		res, body := rawDo(t, "GET", base+"/api/projects/"+testProject+"/tunnel?service=", nil, nil)
		if res.StatusCode != 200 || string(body) != srv.Addr() {
			t.Fatalf("discovery: %d %q, want %q", res.StatusCode, body, srv.Addr())
		}
		discovered := tunnel.NewTunnel(o)
		if _, err := discovered.CreateDownloadSession(testProject, "all_types",
			tunnel.SessionCfg.WithPartitionKey("pt=x/hh=1")); err == nil {
			t.Fatal("download of a missing partition succeeded")
		}
		if discovered.GetEndpoint() != srv.TunnelEndpoint() {
			t.Fatalf("discovered %q, want %q", discovered.GetEndpoint(), srv.TunnelEndpoint())
		}
	})

	t.Run("02 table schema JSON types", func(t *testing.T) {
		res, body := rawDo(t, "GET", base+"/api/projects/"+testProject+"/tables/all_types", nil, nil)
		var tx struct {
			XMLName xml.Name `xml:"Table"`
			Schema  string   `xml:"Schema"`
		}
		if res.StatusCode != 200 || xml.Unmarshal(body, &tx) != nil {
			t.Fatalf("table XML: %d %s", res.StatusCode, body)
		}
		var sj map[string]any
		if err := json.Unmarshal([]byte(tx.Schema), &sj); err != nil {
			t.Fatal(err)
		}
		if _, ok := sj["createTime"].(float64); !ok {
			t.Fatalf("createTime is %T, want a number", sj["createTime"])
		}
		if _, ok := sj["Reserved"].(string); !ok {
			t.Fatalf("Reserved is %T, want a string", sj["Reserved"])
		}
		col := sj["columns"].([]any)[0].(map[string]any)
		if col["isNullable"] != true {
			t.Fatalf("isNullable = %v", col["isNullable"])
		}
		tbl := o.Table("all_types")
		if err := tbl.Load(); err != nil {
			t.Fatal(err)
		}
		if tbl.Schema().Columns[0].NotNull || tbl.CreatedTime().IsZero() || tbl.LifeCycle() != 7 || tbl.Comment() != "every type" {
			t.Fatalf("loaded: notnull=%v created=%v lifecycle=%d comment=%q",
				tbl.Schema().Columns[0].NotNull, tbl.CreatedTime(), tbl.LifeCycle(), tbl.Comment())
		}
	})

	t.Run("03 struct field names are not back-quoted", func(t *testing.T) {
		st := datatype.NewStructType(datatype.NewStructFieldType("a", datatype.BigIntType), datatype.NewStructFieldType("b", datatype.StringType))
		schema := tableschema.NewSchemaBuilder().Name("sdk_struct").
			Columns(tableschema.Column{Name: "id", Type: datatype.BigIntType, NotNull: true},
				tableschema.Column{Name: "s", Type: st, Comment: "it's"}).
			PrimaryKeys([]string{"id"}).TblProperties(map[string]string{"transactional": "true"}).Build()
		if !strings.Contains(st.Name(), "`") {
			t.Fatalf("expected the SDK to back-quote: %s", st.Name())
		}
		if err := o.Tables().Create(schema, true, nil, nil); err != nil {
			t.Fatalf("Tables.Create: %v", err)
		}
		_, body := rawDo(t, "GET", base+"/api/projects/"+testProject+"/tables/sdk_struct", nil, nil)
		if strings.Contains(string(body), "`") {
			t.Fatalf("back-quote in table metadata: %s", body)
		}
		tbl := o.Table("sdk_struct")
		if err := tbl.Load(); err != nil {
			t.Fatal(err)
		}
		if !tbl.Transactional() || strings.Join(tbl.PrimaryKeys(), ",") != "id" || !tbl.Schema().Columns[0].NotNull {
			t.Fatalf("transactional=%v pk=%v notnull=%v", tbl.Transactional(), tbl.PrimaryKeys(), tbl.Schema().Columns[0].NotNull)
		}
		if got := tbl.Schema().Columns[1].Type.ID(); got != datatype.STRUCT {
			t.Fatalf("type %v", got)
		}
		if _, err := tun.CreateStreamUploadSession(testProject, "sdk_struct"); err != nil {
			t.Fatalf("session schema with a struct: %v", err)
		}
	})

	var sessJSON map[string]any
	t.Run("04 tunnel columns: nullable bool, column_id string", func(t *testing.T) {
		res, body := rawDo(t, "POST", base+"/projects/"+testProject+"/tables/all_types/streams?partition=pt%3Dg%2Chh%3D1&create_partition=", nil, nil)
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		if err := json.Unmarshal(body, &sessJSON); err != nil {
			t.Fatal(err)
		}
		col := sessJSON["schema"].(map[string]any)["columns"].([]any)[3].(map[string]any)
		if _, ok := col["nullable"].(bool); !ok {
			t.Fatalf("nullable is %T", col["nullable"])
		}
		if col["column_id"] != "3" {
			t.Fatalf("column_id = %#v", col["column_id"])
		}
	})

	t.Run("05 slots are [[number, host:port]]", func(t *testing.T) {
		slots, ok := sessJSON["slots"].([]any)
		if !ok || len(slots) == 0 {
			t.Fatalf("slots = %#v", sessJSON["slots"])
		}
		s := slots[0].([]any)
		if _, ok := s[0].(float64); !ok {
			t.Fatalf("slot id is %T", s[0])
		}
		if host, _ := s[1].(string); strings.Count(host, ":") != 1 || strings.HasPrefix(host, ":") {
			t.Fatalf("slot server %q", s[1])
		}
	})

	t.Run("06 stream PUT replies carry slot-num and routed-server", func(t *testing.T) {
		body := buildStream([]testField{intField(1, 5)})
		url := fmt.Sprintf("%s/projects/%s/tables/all_types/streams?uploadid=%s&slotid=1&partition=pt%%3Dg%%2Chh%%3D1&record_count=1",
			base, testProject, sessJSON["session_name"])
		res, b := rawDo(t, "PUT", url, strings.NewReader(string(body)), map[string]string{"odps-tunnel-routed-server": "10.1.2.3:8080"})
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
		if res.Header.Get("odps-tunnel-slot-num") != "2" || res.Header.Get("odps-tunnel-routed-server") != "10.1.2.3:8080" {
			t.Fatalf("headers: slot-num %q routed %q", res.Header.Get("odps-tunnel-slot-num"), res.Header.Get("odps-tunnel-routed-server"))
		}
		res, _ = rawDo(t, "PUT", url, strings.NewReader(string(body)), nil)
		if res.Header.Get("odps-tunnel-routed-server") != srv.Addr() {
			t.Fatalf("routed-server without a request header: %q", res.Header.Get("odps-tunnel-routed-server"))
		}
		if res.Header.Get("x-odps-request-id") == "" {
			t.Fatal("no x-odps-request-id")
		}
	})

	t.Run("07 chunked bodies are read before replying", func(t *testing.T) {
		// A large chunked body to an unknown session: the error reply must
		// arrive intact, not as a broken pipe.
		pr, pw := io.Pipe()
		go func() {
			chunk := make([]byte, 64<<10)
			for i := 0; i < 64; i++ {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.Close()
		}()
		res, b := rawDo(t, "PUT", base+"/projects/"+testProject+"/tables/all_types/streams?uploadid=00000000nosuch&slotid=1", pr, nil)
		if res.StatusCode != 404 || !strings.Contains(string(b), "NoSuchUpload") {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
		// And a large SDK flush (several MB, streamed through a pipe) works.
		sess, err := tun.CreateStreamUploadSession(testProject, "all_types", tunnel.SessionCfg.WithPartitionKey("pt=big,hh=1"), tunnel.SessionCfg.WithCreatePartition())
		if err != nil {
			t.Fatal(err)
		}
		w := sess.OpenRecordPackWriter()
		rec := data.NewRecord(len(sess.Schema().Columns))
		rec[7] = data.String(strings.Repeat("z", 1<<20))
		for i := 0; i < 4; i++ {
			rec[0] = data.BigInt(i)
			if err := w.Append(rec); err != nil {
				t.Fatal(err)
			}
		}
		if _, n, _, err := w.Flush(); err != nil || n != 4 {
			t.Fatalf("big flush: %d %v", n, err)
		}
		if got := readAll(t, tun, "all_types", "pt=big/hh=1", []string{"c_bigint"}); len(got) != 4 {
			t.Fatalf("%d rows", len(got))
		}
	})

	t.Run("10 download field numbers follow columns=", func(t *testing.T) {
		sess, err := tun.CreateStreamUploadSession(testProject, "all_types", tunnel.SessionCfg.WithPartitionKey("pt=ord,hh=1"), tunnel.SessionCfg.WithCreatePartition())
		if err != nil {
			t.Fatal(err)
		}
		cols := sess.Schema().Columns
		w := sess.OpenRecordPackWriter()
		rec := makeRow(t, cols, 4)
		if err := w.Append(rec); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, tun, "all_types", "pt=ord/hh=1", []string{"c_struct", "c_bigint", "c_string"})
		want := canon(rec[19]) + " | " + canon(rec[0]) + " | " + canon(rec[7])
		assertRows(t, got, []string{want})
	})

	t.Run("11 error shapes and reason phrases", func(t *testing.T) {
		exists, err := o.Table("no_such_table").Exists()
		if err != nil || exists {
			t.Fatalf("Exists = %v, %v", exists, err)
		}
		err = o.Table("no_such_table").Load()
		he := httpError(t, err)
		if he.Status != "404 Not Found" || he.ErrorMessage.ErrorCode != "NoSuchObject" {
			t.Fatalf("%q %s", he.Status, he.ErrorMessage.ErrorCode)
		}
		_, err = tun.CreateStreamUploadSession(testProject, "no_such_table")
		if he := httpError(t, err); he.ErrorMessage.ErrorCode != "NoSuchTable" || !strings.Contains(he.ErrorMessage.Message, "no_such_table") {
			t.Fatalf("tunnel: %s %s", he.ErrorMessage.ErrorCode, he.ErrorMessage.Message)
		}
		res, b := rawDo(t, "GET", base+"/projects/"+testProject+"/tables/all_types/preview?limit=1", nil, nil)
		if res.StatusCode != 400 || !strings.Contains(string(b), "not supported by the emulator") {
			t.Fatalf("preview: %d %s", res.StatusCode, b)
		}
	})

	t.Run("12 instance creation answers with Location", func(t *testing.T) {
		body := `<?xml version="1.0"?><Instance><Job><Priority>9</Priority><Tasks><SQL><Name>AnonymousSQLTask</Name><Config/><Query>create table loc (id BIGINT);</Query></SQL></Tasks></Job></Instance>`
		res, b := rawDo(t, "POST", base+"/api/projects/"+testProject+"/instances", strings.NewReader(body), map[string]string{"Content-Type": "application/xml"})
		loc := res.Header.Get("Location")
		if res.StatusCode != 201 || !strings.Contains(loc, "/api/projects/"+testProject+"/instances/") || strings.HasSuffix(loc, "/") {
			t.Fatalf("%d Location=%q %s", res.StatusCode, loc, b)
		}
		id := loc[strings.LastIndex(loc, "/")+1:]
		ins := o.Instance(id)
		if err := ins.WaitForSuccess(); err != nil {
			t.Fatalf("polling %s: %v", id, err)
		}
		if ok, err := o.Table("loc").Exists(); !ok || err != nil {
			t.Fatalf("table from raw instance: %v %v", ok, err)
		}
	})

	t.Run("13 partition specs and names are case-insensitive, ',' or '/'", func(t *testing.T) {
		sess, err := tun.CreateStreamUploadSession(testProject, "ALL_TYPES",
			tunnel.SessionCfg.WithPartitionKey("HH=2/PT='cs'"), tunnel.SessionCfg.WithCreatePartition())
		if err != nil {
			t.Fatal(err)
		}
		w := sess.OpenRecordPackWriter()
		if err := w.Append(data.Record{data.BigInt(77)}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		// (The SDK matches OpenRecordReader's column names case-sensitively
		// on the client, so they must be spelled as the table reports them.)
		assertRows(t, readAll(t, tun, "All_Types", "pt=cs,hh=2", []string{"c_bigint"}), []string{"bigint:77"})
		p, err := o.Table("all_types").GetPartition("pt=cs/hh=2")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Load(); err != nil || p.RecordNum() != 1 {
			t.Fatalf("partition load: %v records=%d", err, p.RecordNum())
		}
		_, err = tun.CreateStreamUploadSession(testProject, "all_types", tunnel.SessionCfg.WithPartitionKey("pt=cs"))
		if he := httpError(t, err); he.ErrorMessage.ErrorCode != "InvalidPartitionSpec" || !strings.Contains(he.ErrorMessage.Message, "hh") {
			t.Fatalf("partial spec: %s %s", he.ErrorMessage.ErrorCode, he.ErrorMessage.Message)
		}
		_, err = tun.CreateStreamUploadSession(testProject, "all_types", tunnel.SessionCfg.WithPartitionKey("pt=cs,hh=notanumber"))
		if he := httpError(t, err); he.ErrorMessage.ErrorCode != "InvalidPartitionSpec" {
			t.Fatalf("bad BIGINT partition value: %s", he.ErrorMessage.ErrorCode)
		}
	})

	t.Run("14a NewDecimalFromValue sends __ParseFromValue__ and is refused", func(t *testing.T) {
		execSQL(t, o, "create table dec (d DECIMAL(10,2));")
		sess, err := tun.CreateStreamUploadSession(testProject, "dec")
		if err != nil {
			t.Fatal(err)
		}
		w := sess.OpenRecordPackWriter()
		if err := w.Append(data.Record{data.NewDecimalFromValue(10, 2, big.NewInt(1234))}); err != nil {
			t.Fatal(err)
		}
		_, _, _, err = w.Flush()
		he := httpError(t, err)
		if he.StatusCode != 400 || he.ErrorMessage.ErrorCode != "MalformedDataStream" || !strings.Contains(he.ErrorMessage.Message, "__ParseFromValue__") {
			t.Fatalf("%d %s %s", he.StatusCode, he.ErrorMessage.ErrorCode, he.ErrorMessage.Message)
		}
	})

	t.Run("14b AddPartitions(false) emits broken SQL", func(t *testing.T) {
		err := o.Table("all_types").AddPartitions(false, []string{"pt=z/hh=1"})
		if err == nil || !strings.Contains(err.Error(), "not supported by the emulator") || !strings.HasPrefix(err.Error(), "ODPS-") {
			t.Fatalf("AddPartitions(false): %v", err)
		}
		if err := o.Table("all_types").AddPartitions(true, []string{"pt=z/hh=1"}); err != nil {
			t.Fatalf("AddPartitions(true): %v", err)
		}
	})

	t.Run("14c failed flush: retry Flush, never Append; Reset does not recover", func(t *testing.T) {
		execSQL(t, o, "create table trap (id BIGINT);")
		sess, err := tun.CreateStreamUploadSession(testProject, "trap")
		if err != nil {
			t.Fatal(err)
		}
		w := sess.OpenRecordPackWriter()
		if err := w.Append(data.Record{data.BigInt(1)}); err != nil {
			t.Fatal(err)
		}
		if err := srv.SetFaults(Faults{FailNth: 1, Ops: []Op{OpStreamWrite}}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := w.Flush(); err == nil {
			t.Fatal("injected failure did not surface")
		}
		if err := w.Append(data.Record{data.BigInt(2)}); err == nil {
			t.Fatal("Append after a failed Flush succeeded")
		}
		w.Reset()
		if err := w.Append(data.Record{data.BigInt(3)}); err == nil {
			t.Fatal("Append after Reset succeeded; the SDK trap changed")
		}
		w2 := sess.OpenRecordPackWriter()
		if err := w2.Append(data.Record{data.BigInt(4)}); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := w2.Flush(); err != nil {
			t.Fatal(err)
		}
		assertRows(t, readAll(t, tun, "trap", "", nil), []string{"bigint:4"})
	})

	t.Run("14d NULL elements read back as nil", func(t *testing.T) {
		got := readAll(t, tun, "all_types", "pt=ord/hh=1", []string{"c_array"})
		if len(got) != 1 || !strings.Contains(got[0], ",NULL,") {
			t.Fatalf("array with a NULL element: %v", got)
		}
	})
}
