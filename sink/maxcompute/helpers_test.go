package maxcompute

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/datatype"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"

	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/odpsemu"
	"github.com/odsync/odsync/offsets"
	"github.com/odsync/odsync/schema"
)

const testProject = "ods_test"

// emu is an in-process emulator mounted behind a recorder of request bodies.
type emu struct {
	srv *odpsemu.Server
	ts  *httptest.Server

	mu     sync.Mutex
	record bool
	puts   [][]byte              // bodies of PUT requests while recording
	hook   func(r *http.Request) // called before each request is served
	errs   []string              // "status body" of every error answer
}

// errorAnswers returns the error answers (status and body) served so far.
func (e *emu) errorAnswers() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.errs...)
}

// errRecorder keeps the status and body of an error answer.
type errRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *errRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *errRecorder) Write(b []byte) (int, error) {
	if w.status >= 400 && w.body.Len() < 4096 {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// setHook installs fn to run before each request (nil removes it).
func (e *emu) setHook(fn func(r *http.Request)) {
	e.mu.Lock()
	e.hook = fn
	e.mu.Unlock()
}

func (e *emu) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	rec, hook := e.record, e.hook
	e.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	if rec && r.Method == http.MethodPut {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.puts = append(e.puts, b)
		e.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	rw := &errRecorder{ResponseWriter: w}
	e.srv.ServeHTTP(rw, r)
	if rw.status >= 400 {
		e.mu.Lock()
		e.errs = append(e.errs, fmt.Sprintf("%d %s", rw.status, rw.body.String()))
		e.mu.Unlock()
	}
}

func (e *emu) endpoint() string { return e.ts.URL + "/api" }
func (e *emu) tunnel() string   { return e.ts.URL }

// startEmu starts an emulator over dir (a fresh temp dir when empty).
func startEmu(t testing.TB, dir string) *emu {
	t.Helper()
	return startEmuCfg(t, dir, nil)
}

// startEmuCfg is startEmu with the emulator's config changed by mod.
func startEmuCfg(t testing.TB, dir string, mod func(*odpsemu.Config)) *emu {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	// SchemaModel: every sink test also proves the sink sends
	// odps.namespace.schema=false with its `project`.`table` DDL.
	cfg := odpsemu.Config{DataDir: dir, NoSync: true, SchemaModel: true}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := odpsemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &emu{srv: srv}
	e.ts = httptest.NewServer(e)
	t.Cleanup(func() {
		e.ts.Close()
		srv.Close()
	})
	return e
}

// sdk returns the unmodified SDK's clients for the emulator.
func (e *emu) sdk() (*odps.Odps, *tunnel.Tunnel) {
	o := odps.NewOdps(account.NewAliyunAccount("ak", "sk"), e.endpoint())
	o.SetDefaultProjectName(testProject)
	return o, tunnel.NewTunnel(o, e.tunnel())
}

func execSQL(t testing.TB, o *odps.Odps, sql string) {
	t.Helper()
	ins, err := o.ExecSQl(sql)
	if err == nil {
		err = ins.WaitForSuccess()
	}
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// testConfig is a sink config for the emulator.
func testConfig(e *emu) Config {
	c := Config{Connection: Connection{Endpoint: e.endpoint(), TunnelEndpoint: e.tunnel(), Project: testProject, AccessID: "ak", AccessKey: "sk"}, MaxBackoff: 20 * time.Millisecond, FlushAge: 20 * time.Millisecond, // Most tests read a batch's snapshot rows right after Write: commit
		// every batch (bulk_test.go sets real thresholds).
		CommitBytes: 1}
	c.EnsureDefaults()
	return c
}

func openLog(t testing.TB, dir string) *offsets.Log {
	t.Helper()
	l, err := offsets.Open(dir, offsets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newMapper returns a MaxCompute mapper for cfg.
func newMapper(t testing.TB, cfg schema.Config) *schema.Mapper {
	t.Helper()
	cfg.System = schema.SystemMaxCompute
	m, err := schema.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sdkData converts what TargetColumn.MaxComputeValue returns into the SDK's
// data types, the way a sink built on the SDK's writer would.
func sdkData(t testing.TB, c *schema.TargetColumn, v any) data.Data {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return nil
	case bool:
		return data.Bool(x)
	case int8:
		return data.TinyInt(x)
	case int16:
		return data.SmallInt(x)
	case int32:
		return data.Int(x)
	case int64:
		return data.BigInt(x)
	case float32:
		return data.Float(x)
	case float64:
		return data.Double(x)
	case string:
		switch c.Kind {
		case schema.KindDecimal:
			return data.NewDecimal(c.Precision, c.Scale, x)
		case schema.KindJSON:
			return &data.Json{Data: x, Valid: true}
		}
		return data.String(x)
	case []byte:
		return data.Binary(x)
	case []string:
		a := data.NewArrayWithType(datatype.NewArrayType(datatype.StringType))
		for _, s := range x {
			a.UnSafeAppend(data.String(s))
		}
		return a
	case time.Time:
		switch c.Kind {
		case schema.KindDate:
			return data.Date(x)
		case schema.KindDateTime:
			return data.DateTime(x)
		case schema.KindTimestamp:
			return data.Timestamp(x)
		case schema.KindTimestampNTZ:
			return data.TimestampNtz(x)
		}
	}
	t.Fatalf("column %s: no SDK type for %T", c.Name, v)
	return nil
}

// readTable reads every row of a table partition through the SDK's
// download session, as text per column (NULL as "NULL"), sorted by _seq.
func readTable(t testing.TB, e *emu, table, part string) []map[string]string {
	t.Helper()
	_, tun := e.sdk()
	var opts []tunnel.Option
	if part != "" {
		opts = append(opts, tunnel.SessionCfg.WithPartitionKey(part))
	}
	ds, err := tun.CreateDownloadSession(testProject, table, opts...)
	if err != nil {
		t.Fatalf("download session %s %s: %v", table, part, err)
	}
	n := ds.RecordCount()
	if n == 0 {
		return nil
	}
	r, err := ds.OpenRecordReader(0, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols := ds.Schema().Columns
	var rows []map[string]string
	err = r.Iterator(func(rec data.Record, err error) {
		if err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c.Name] = cellText(rec[i])
		}
		rows = append(rows, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(rows, func(i, j int) bool { return seqOf(rows[i]) < seqOf(rows[j]) })
	return rows
}

func seqOf(m map[string]string) int64 {
	var n int64
	fmt.Sscan(m["_seq"], &n)
	return n
}

// cellText renders a downloaded value (NULL-safe: the SDK's String()
// panics on NULL inside complex values).
func cellText(d data.Data) string {
	if d == nil {
		return "NULL"
	}
	if _, ok := d.(data.NullData); ok {
		return "NULL"
	}
	switch x := d.(type) {
	case data.Date:
		return time.Time(x).UTC().Format("2006-01-02")
	case data.DateTime:
		return time.Time(x).UTC().Format("2006-01-02 15:04:05.000")
	case data.Timestamp:
		return time.Time(x).UTC().Format("2006-01-02 15:04:05.000000")
	case data.TimestampNtz:
		return time.Time(x).UTC().Format("2006-01-02 15:04:05.000000")
	case data.Binary:
		return fmt.Sprintf("0x%x", []byte(x))
	case *data.Array:
		var parts []string
		for _, el := range x.ToSlice() {
			parts = append(parts, cellText(el))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *data.Json:
		return x.Data
	case data.Json:
		return x.Data
	case *data.Decimal:
		return x.Value()
	case data.Decimal:
		return x.Value()
	case data.Float:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case data.Double:
		return strconv.FormatFloat(float64(x), 'g', -1, 64)
	case data.Array:
		return cellText(&x)
	case *data.String:
		return string(*x)
	}
	return d.String()
}

// targetText renders a target value (what Target.Row produces) the way
// cellText renders the value read back.
func targetText(c *schema.TargetColumn, v event.Value) string {
	if v.IsNull() {
		return "NULL"
	}
	switch c.Kind {
	case schema.KindBoolean:
		return strconv.FormatBool(v.Int() != 0)
	case schema.KindTinyInt, schema.KindSmallInt, schema.KindInt, schema.KindBigInt:
		if v.Kind() == event.KindUint {
			return strconv.FormatUint(v.Uint(), 10)
		}
		return strconv.FormatInt(v.Int(), 10)
	case schema.KindFloat:
		f := v.Float32()
		if v.Kind() == event.KindFloat64 {
			f = float32(v.Float())
		}
		return strconv.FormatFloat(float64(f), 'g', -1, 32)
	case schema.KindDouble:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case schema.KindBinary:
		return fmt.Sprintf("0x%x", []byte(v.Str()))
	case schema.KindDate:
		t, _ := v.CivilTime(time.UTC)
		return t.Format("2006-01-02")
	case schema.KindDateTime:
		return time.UnixMicro(v.Micros()).UTC().Format("2006-01-02 15:04:05.000")
	case schema.KindTimestamp:
		return time.UnixMicro(v.Micros()).UTC().Format("2006-01-02 15:04:05.000000")
	case schema.KindTimestampNTZ:
		t, _ := v.CivilTime(time.UTC)
		return t.Format("2006-01-02 15:04:05.000000")
	case schema.KindStringArray:
		return "[" + strings.Join(schema.Elements(v), ",") + "]"
	}
	return v.Str()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// allTypes is a source table with one column of every type family.
func allTypesTable() *event.Table {
	return (&event.Table{ID: event.TableID{DB: "shop", Table: "all_types"}, Key: []int{0}, Columns: []event.Column{
		{Name: "id", Type: event.TypeBigInt, RawType: "bigint"},
		{Name: "ti", Type: event.TypeTinyInt, Nullable: true, RawType: "tinyint(4)"},
		{Name: "tiu", Type: event.TypeTinyInt, Unsigned: true, Nullable: true, RawType: "tinyint(3) unsigned"},
		{Name: "si", Type: event.TypeSmallInt, Nullable: true, RawType: "smallint(6)"},
		{Name: "mi", Type: event.TypeMediumInt, Nullable: true, RawType: "mediumint(9)"},
		{Name: "i", Type: event.TypeInt, Nullable: true, RawType: "int(11)"},
		{Name: "iu", Type: event.TypeInt, Unsigned: true, Nullable: true, RawType: "int(10) unsigned"},
		{Name: "bu", Type: event.TypeBigInt, Unsigned: true, Nullable: true, RawType: "bigint(20) unsigned"},
		{Name: "dec", Type: event.TypeDecimal, Precision: 18, Scale: 4, Nullable: true, RawType: "decimal(18,4)"},
		{Name: "decw", Type: event.TypeDecimal, Precision: 65, Scale: 30, Nullable: true, RawType: "decimal(65,30)"},
		{Name: "f", Type: event.TypeFloat, Nullable: true, RawType: "float"},
		{Name: "d", Type: event.TypeDouble, Nullable: true, RawType: "double"},
		{Name: "b1", Type: event.TypeBit, Length: 1, Nullable: true, RawType: "bit(1)"},
		{Name: "b10", Type: event.TypeBit, Length: 10, Nullable: true, RawType: "bit(10)"},
		{Name: "s", Type: event.TypeVarchar, Length: 32, Nullable: true, Charset: "utf8mb4", RawType: "varchar(32)"},
		{Name: "txt", Type: event.TypeText, Length: 65535, Nullable: true, Charset: "utf8mb4", RawType: "text"},
		{Name: "bin", Type: event.TypeVarbinary, Length: 16, Nullable: true, RawType: "varbinary(16)"},
		{Name: "e", Type: event.TypeEnum, Elems: []string{"red", "green"}, Nullable: true, RawType: "enum('red','green')"},
		{Name: "st", Type: event.TypeSet, Elems: []string{"a", "b", "c"}, Nullable: true, RawType: "set('a','b','c')"},
		{Name: "dt", Type: event.TypeDate, Nullable: true, RawType: "date"},
		{Name: "dtm", Type: event.TypeDateTime, Scale: 6, Nullable: true, RawType: "datetime(6)"},
		{Name: "dtm2", Type: event.TypeDateTime, Scale: 3, Nullable: true, RawType: "datetime(3)"},
		{Name: "ts", Type: event.TypeTimestamp, Scale: 6, Nullable: true, RawType: "timestamp(6)"},
		{Name: "tm", Type: event.TypeTime, Scale: 2, Nullable: true, RawType: "time(2)"},
		{Name: "y", Type: event.TypeYear, Nullable: true, RawType: "year(4)"},
		{Name: "j", Type: event.TypeJSON, Nullable: true, RawType: "json"},
		{Name: "j2", Type: event.TypeJSON, Nullable: true, RawType: "json"},
	}}).Seal()
}

// allTypesMapping maps bit(1) to BOOLEAN, SET to ARRAY<STRING>, j2 to JSON
// and dtm2 to MaxCompute DATETIME, so every target kind occurs.
func allTypesMapping() schema.Config {
	return schema.Config{
		Types: map[string]string{"bit(1)": "boolean", "set": "array<string>"},
		Tables: []schema.TableRule{{Source: `shop\.all_types`, Columns: map[string]schema.ColumnRule{
			"dtm2": {Type: "datetime"}, "j2": {Type: "json"}}}},
	}
}

// allTypesRows returns source rows: extremes, ordinary values, NULLs.
func allTypesRows() [][]event.Value {
	return [][]event.Value{
		{event.Int(1), event.Int(-128), event.Uint(255), event.Int(-32768), event.Int(-8388608), event.Int(-2147483648),
			event.Uint(4294967295), event.Uint(18446744073709551615), event.Decimal("-99999999999999.9999"),
			event.Decimal("-12345678901234567890123456789012345.123456789012345678901234567890"),
			event.Float32(-3.4028235e38), event.Float64(-1.7976931348623157e308), event.Bits(1), event.Bits(1023),
			event.String("héllo 😀"), event.String("line1\nline2 \"q\""), event.Bytes([]byte{0, 0xff, 0x10}),
			event.Enum(2, "green"), event.Set(5, "a,c"), event.Date(1000, 1, 1),
			event.DateTime(1000, 1, 1, 0, 0, 0, 0), event.DateTime(1969, 12, 31, 23, 59, 59, 999000),
			event.TimestampMicros(-1), event.TimeMicros(-(838*3600 + 59*60 + 59) * 1e6), event.Year(1901),
			event.JSON(`{"k": [1, 2.5, "x"]}`), event.JSON(`[true, null]`)},
		{event.Int(2), event.Int(127), event.Uint(0), event.Int(32767), event.Int(8388607), event.Int(2147483647),
			event.Uint(0), event.Uint(0), event.Decimal("0.0001"), event.Decimal("1"), event.Float32(1.5),
			event.Float64(0.1), event.Bits(0), event.Bits(0), event.String(""), event.String(strings.Repeat("x", 3000)),
			event.Bytes(nil), event.Enum(1, "red"), event.Set(0, ""), event.Date(9999, 12, 31),
			event.DateTime(9999, 12, 31, 23, 59, 59, 999999), event.DateTime(2024, 2, 29, 12, 0, 0, 123000),
			event.TimestampMicros(1700000000123456), event.TimeMicros(0), event.Year(2155), event.JSON(`{}`), event.JSON(`1`)},
		{event.Int(3), event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null,
			event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null,
			event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null, event.Null},
		{event.Int(-9223372036854775807), event.Int(0), event.Uint(1), event.Int(0), event.Int(0), event.Int(0),
			event.Uint(1), event.Uint(9223372036854775808), event.Decimal("12.5"), event.Decimal("-0.000000000000000000000000000001"),
			event.Float32(0), event.Float64(-0.0), event.Bits(1), event.Bits(512), event.String("中文"), event.String("t"),
			event.Bytes([]byte("abc")), event.Enum(0, ""), event.Set(7, "a,b,c"), event.Date(1970, 1, 1),
			event.DateTime(1970, 1, 1, 0, 0, 0, 1), event.DateTime(1, 1, 1, 0, 0, 0, 0),
			event.TimestampMicros(-62135596800000000), event.TimeMicros(1), event.Year(0), event.JSON(`"s"`), event.JSON(`null`)},
	}
}
