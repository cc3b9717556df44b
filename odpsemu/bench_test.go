package odpsemu

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tableschema"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"
)

// sdkStream writes rows with the SDK's stream writer into a fresh emulator
// and returns the table's columns and one record stream holding all of them
// (stored records are the SDK's bytes, re-framed by a download).
func sdkStream(b *testing.B, ddl, table string, rows int, row func(cols []tableschema.Column, i int) data.Record) ([]column, []byte) {
	b.Helper()
	srv := startEmu(b, b.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(b, o, ddl)
	sess, err := tun.CreateStreamUploadSession(testProject, table)
	if err != nil {
		b.Fatal(err)
	}
	w := sess.OpenRecordPackWriter()
	for i := 0; i < rows; i++ {
		if err := w.Append(row(sess.Schema().Columns, i)); err != nil {
			b.Fatal(err)
		}
		if w.DataSize() > 4<<20 {
			if _, _, _, err := w.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, _, _, err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	ds, err := tun.CreateDownloadSession(testProject, table)
	if err != nil {
		b.Fatal(err)
	}
	q := url.Values{"downloadid": {ds.Id}, "data": {""}, "rowrange": {fmt.Sprintf("(0,%d)", rows)}}
	res, err := http.Get(srv.TunnelEndpoint() + "/projects/" + testProject + "/tables/" + table + "?" + q.Encode())
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	buf, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("download: %d %v", res.StatusCode, err)
	}
	srv.mu.Lock()
	p := srv.projects[testProject]
	srv.mu.Unlock()
	p.mu.RLock()
	cols := p.table(table).cols
	p.mu.RUnlock()
	return cols, buf
}

// BenchmarkDecodeRecords measures the validating decoder (varints, range
// checks, CRC32C per record and per stream) on streams the SDK produced.
func BenchmarkDecodeRecords(b *testing.B) {
	const rows = 20000
	cases := []struct {
		name, ddl, table string
		row              func(cols []tableschema.Column, i int) data.Record
	}{
		{
			name: "cdc_row", table: "cdc",
			// A typical ODS row of ~200 bytes: key, ints, names, money, times, text, CDC columns.
			ddl: "create table cdc (id BIGINT, a INT, name STRING, amount DECIMAL(18,4), updated DATETIME, note STRING, _seq BIGINT, _op STRING, _commit_ts TIMESTAMP);",
			row: func(_ []tableschema.Column, i int) data.Record {
				return data.Record{
					data.BigInt(int64(i) * 7), data.Int(int32(i % 1000)), data.String(fmt.Sprintf("customer-%08d", i)),
					data.NewDecimal(18, 4, fmt.Sprintf("%d.%04d", i*13, i%10000)),
					data.DateTime(time.UnixMilli(1704164645123 + int64(i))),
					data.String(strings.Repeat("lorem ipsum ", 7)), data.BigInt(int64(i)), data.String("U"),
					data.Timestamp(time.Unix(1704164645, int64(i))),
				}
			},
		},
		{
			name: "all_types", table: "all_types", ddl: strings.Replace(allTypesDDL, "partitioned by (pt STRING, hh BIGINT)", "", 1),
			row: func(cols []tableschema.Column, i int) data.Record { return makeRow(b, cols, i) },
		},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			cols, buf := sdkStream(b, tc.ddl, tc.table, rows, tc.row)
			d := newDecoder(cols)
			if n, err := d.decode(buf, nil); err != nil || n != rows {
				b.Fatalf("decode: %d %v", n, err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := d.decode(buf, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(len(buf))/rows, "B/row")
		})
	}
}

// BenchmarkStreamFlush measures the end-to-end path a sink uses: SDK
// Append + Flush of 1000-row packs into the emulator (decode, validate,
// append to a segment; fsync off).
func BenchmarkStreamFlush(b *testing.B) {
	srv := startEmu(b, b.TempDir(), nil)
	o, tun := clients(srv, "ak", "sk")
	execSQL(b, o, "create table f (id BIGINT, name STRING, amount DECIMAL(18,4), updated DATETIME, note STRING);")
	sess, err := tun.CreateStreamUploadSession(testProject, "f", tunnel.SessionCfg.WithSnappyFramedCompressor())
	if err != nil {
		b.Fatal(err)
	}
	w := sess.OpenRecordPackWriter()
	rec := data.Record{data.BigInt(1), data.String("customer-00000001"), data.NewDecimal(18, 4, "1234.5678"),
		data.DateTime(time.UnixMilli(1704164645123)), data.String(strings.Repeat("lorem ipsum ", 7))}
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < 1000; i++ {
			if err := w.Append(rec); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, _, err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
