package odpsemu

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/datatype"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/restclient"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tableschema"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

const testProject = "test_project"

// startEmu starts an emulator on 127.0.0.1:0 over dir and closes it when
// the test ends.
func startEmu(t testing.TB, dir string, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Addr: "127.0.0.1:0", DataDir: dir, NoSync: true}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// clients builds the unmodified SDK's entry points against srv: an Odps on
// the service endpoint and a Tunnel with an explicit endpoint.
func clients(srv *Server, id, key string) (*odps.Odps, *tunnel.Tunnel) {
	o := odps.NewOdps(account.NewAliyunAccount(id, key), srv.Endpoint())
	o.SetDefaultProjectName(testProject)
	return o, tunnel.NewTunnel(o, srv.TunnelEndpoint())
}

func execSQL(t testing.TB, o *odps.Odps, sql string) {
	t.Helper()
	if err := tryExecSQL(o, sql); err != nil {
		t.Fatalf("SQL %q: %v", sql, err)
	}
}

func tryExecSQL(o *odps.Odps, sql string) error {
	ins, err := o.ExecSQl(sql)
	if err != nil {
		return err
	}
	return ins.WaitForSuccess()
}

func httpError(t testing.TB, err error) restclient.HttpError {
	t.Helper()
	var he restclient.HttpError
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T) is not a restclient.HttpError", err, err)
	}
	if he.ErrorMessage == nil {
		t.Fatalf("HttpError without a parsed ErrorMessage: %s", he.Body)
	}
	return he
}

// allTypesDDL is a partitioned table with every type the emulator supports.
const allTypesDDL = `create table if not exists all_types (
  c_bigint BIGINT comment 'big',
  c_int INT,
  c_smallint SMALLINT,
  c_tinyint TINYINT,
  c_double DOUBLE,
  c_float FLOAT,
  c_decimal DECIMAL(10,2),
  c_string STRING,
  c_varchar VARCHAR(20),
  c_char CHAR(5),
  c_binary BINARY,
  c_boolean BOOLEAN,
  c_date DATE,
  c_datetime DATETIME,
  c_timestamp TIMESTAMP,
  c_timestamp_ntz TIMESTAMP_NTZ,
  c_json JSON,
  c_array ARRAY<BIGINT>,
  c_map MAP<STRING,BIGINT>,
  c_struct STRUCT<a:BIGINT, b:STRING>,
  c_nested ARRAY<STRUCT<x:DOUBLE, tags:ARRAY<STRING>, m:MAP<BIGINT,DECIMAL(20,4)>>>
) comment 'every type'
partitioned by (pt STRING, hh BIGINT)
lifecycle 7;`

// makeRow builds row i of the all-types table for the session schema cols.
// Every third row is NULL in all columns but c_bigint.
func makeRow(t testing.TB, cols []tableschema.Column, i int) data.Record {
	t.Helper()
	rec := data.NewRecord(len(cols))
	for c, col := range cols {
		if i%3 == 2 && c > 0 {
			rec[c] = nil
			continue
		}
		rec[c] = makeValue(t, col.Type, i, c)
	}
	return rec
}

func makeValue(t testing.TB, typ datatype.DataType, i, c int) data.Data {
	t.Helper()
	n := int64(i*7919 + c)
	switch typ.ID() {
	case datatype.BIGINT:
		if i == 0 {
			return data.BigInt(-9223372036854775807)
		}
		return data.BigInt(n * 1_000_003 * int64(1-2*(i%2)))
	case datatype.INT:
		return data.Int(int32(n*31) * int32(1-2*(i%2)))
	case datatype.SMALLINT:
		return data.SmallInt(int16(n % 32000))
	case datatype.TINYINT:
		return data.TinyInt(int8(n%256 - 128))
	case datatype.DOUBLE:
		return data.Double(float64(n) / 3)
	case datatype.FLOAT:
		return data.Float(float32(n) / 7)
	case datatype.DECIMAL:
		dt := typ.(datatype.DecimalType)
		return data.NewDecimal(int(dt.Precision), int(dt.Scale), fmt.Sprintf("%d.%02d", n%100000, n%100))
	case datatype.STRING:
		return data.String(fmt.Sprintf("row %d héllo ✓ %s", i, strings.Repeat("x", i%5)))
	case datatype.VARCHAR:
		v, err := data.NewVarChar(typ.(datatype.VarcharType).Length, fmt.Sprintf("vc%d", i))
		if err != nil {
			t.Fatal(err)
		}
		return v
	case datatype.CHAR:
		v, err := data.NewChar(typ.(datatype.CharType).Length, fmt.Sprintf("c%d", i%1000))
		if err != nil {
			t.Fatal(err)
		}
		return v
	case datatype.BINARY:
		return data.Binary([]byte{0xde, 0xad, byte(i), 0x00, byte(c)})
	case datatype.BOOLEAN:
		return data.Bool(i%2 == 0)
	case datatype.DATE:
		return data.Date(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i))
	case datatype.DATETIME:
		return data.DateTime(time.UnixMilli(1704164645123 + n*1000))
	case datatype.TIMESTAMP:
		return data.Timestamp(time.Unix(1704164645+n, 123456789))
	case datatype.TIMESTAMP_NTZ:
		return data.TimestampNtz(time.Unix(1704164645-n, 987654321).UTC())
	case datatype.JSON:
		return &data.Json{Data: fmt.Sprintf(`{"k":%d,"s":"v"}`, i), Valid: true}
	case datatype.ARRAY:
		at := typ.(datatype.ArrayType)
		arr := data.NewArrayWithType(at)
		arr.UnSafeAppend(makeValue(t, at.ElementType, i, c+1), nil, makeValue(t, at.ElementType, i+1, c+2))
		return arr
	case datatype.MAP:
		mt := typ.(datatype.MapType)
		m := data.NewMapWithType(mt)
		for k := 0; k < 3; k++ {
			var v data.Data
			if k != 1 {
				v = makeValue(t, mt.ValueType, i+k, c)
			}
			if err := m.Set(makeValue(t, mt.KeyType, i*10+k, k), v); err != nil {
				t.Fatal(err)
			}
		}
		return m
	case datatype.STRUCT:
		st := typ.(datatype.StructType)
		s := data.NewStructWithTyp(st)
		for k, f := range st.Fields {
			var v data.Data
			if k != 1 || i%2 == 0 {
				v = makeValue(t, f.Type, i, c+k)
			}
			if err := s.SetField(f.Name, v); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	t.Fatalf("no test value for type %s", typ.Name())
	return nil
}

// canon renders an SDK value without calling String() (which panics on
// NULL elements) so written and read rows can be compared.
func canon(d data.Data) string {
	switch v := d.(type) {
	case nil:
		return "NULL"
	case data.BigInt:
		return "bigint:" + strconv.FormatInt(int64(v), 10)
	case data.Int:
		return "int:" + strconv.FormatInt(int64(v), 10)
	case data.SmallInt:
		return "smallint:" + strconv.FormatInt(int64(v), 10)
	case data.TinyInt:
		return "tinyint:" + strconv.FormatInt(int64(v), 10)
	case data.Double:
		return "double:" + strconv.FormatFloat(float64(v), 'g', -1, 64)
	case data.Float:
		return "float:" + strconv.FormatFloat(float64(v), 'g', -1, 32)
	case *data.Decimal:
		return "decimal:" + v.Value()
	case data.String:
		return "string:" + string(v)
	case *data.VarChar:
		return "varchar:" + v.Data()
	case data.VarChar:
		return "varchar:" + v.Data()
	case *data.Char:
		return "char:" + v.Data()
	case data.Char:
		return "char:" + v.Data()
	case data.Binary:
		return "binary:" + hex.EncodeToString(v)
	case data.Bool:
		return "bool:" + strconv.FormatBool(bool(v))
	case data.Date:
		return "date:" + time.Time(v).UTC().Format("2006-01-02")
	case data.DateTime:
		return "datetime:" + strconv.FormatInt(time.Time(v).UnixMilli(), 10)
	case data.Timestamp:
		return "timestamp:" + strconv.FormatInt(time.Time(v).UnixNano(), 10)
	case data.TimestampNtz:
		return "timestamp_ntz:" + time.Time(v).UTC().Format(time.RFC3339Nano)
	case *data.Json:
		return "json:" + v.Data
	case *data.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = canon(v.Index(i))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *data.Map:
		var parts []string
		for k, val := range v.ToGoMap() {
			parts = append(parts, canon(k)+"=>"+canon(val))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ",") + "}"
	case *data.Struct:
		var parts []string
		for _, f := range v.Fields() {
			parts = append(parts, f.Name+":"+canon(f.Value))
		}
		return "struct{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprintf("%T:%v", d, d)
}

func canonRecord(r data.Record) string {
	parts := make([]string, len(r))
	for i, d := range r {
		parts[i] = canon(d)
	}
	return strings.Join(parts, " | ")
}

// readAll downloads every row of a table partition through the SDK.
func readAll(t testing.TB, tun *tunnel.Tunnel, table, partition string, columns []string, opts ...tunnel.Option) []string {
	t.Helper()
	if partition != "" {
		opts = append(opts, tunnel.SessionCfg.WithPartitionKey(partition))
	}
	ds, err := tun.CreateDownloadSession(testProject, table, opts...)
	if err != nil {
		t.Fatalf("CreateDownloadSession(%s, %s): %v", table, partition, err)
	}
	reader, err := ds.OpenRecordReader(0, ds.RecordCount(), columns)
	if err != nil {
		t.Fatalf("OpenRecordReader: %v", err)
	}
	defer reader.Close()
	var out []string
	for {
		rec, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read after %d records: %v", len(out), err)
		}
		out = append(out, canonRecord(rec))
	}
	if len(out) != ds.RecordCount() {
		t.Fatalf("read %d records, session said %d", len(out), ds.RecordCount())
	}
	return out
}

func assertRows(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d differs:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}
