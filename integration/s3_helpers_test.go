package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/integration/harness"
)

// startS3 starts a private S3 server (versitygw, built once into the test
// cache) with bucket "ods" for the test.
func startS3(t *testing.T) *s3server.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	srv, err := s3server.Start(ctx, s3server.Options{Buckets: []string{"ods"}})
	if err != nil {
		harness.Unavailable(t, "S3 server (versitygw, built with go install from the module proxy)", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// s3SinkYAML is one s3 sink entry of an odsync config.
func s3SinkYAML(srv *s3server.Server, name, prefix, extra, batch string) string {
	if batch == "" {
		batch = "max_age: 200ms"
	}
	var ex strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(extra), "\n") {
		if l != "" {
			ex.WriteString("      " + l + "\n")
		}
	}
	return fmt.Sprintf(`  - name: %s
    type: s3
    s3:
      bucket: ods
      prefix: %s
      endpoint: %s
      path_style: true
      access_key_id: ${ODSYNC_TEST_S3_KEY}
      secret_access_key: ${ODSYNC_TEST_S3_SECRET}
%s    batch:
      %s
`, name, prefix, srv.Endpoint, ex.String(), batch)
}

// s3RunConfig writes an odsync config capturing db into the given sinks.
func s3RunConfig(t *testing.T, dir, addr, db string, sinks ...string) string {
	t.Helper()
	path := filepath.Join(dir, "odsync.yaml")
	harness.WriteFile(t, path, fmt.Sprintf(`state:
  dir: %s
source:
  type: mysql
  mysql:
    addr: %s
    user: root
    password: ${ODSYNC_TEST_PASSWORD:-}
    server_id: %d
mapping:
  include: ["%s\\..*"]
sinks:
%s`, filepath.Join(dir, "state"), addr, 1000+rand.IntN(5000), db, strings.Join(sinks, "")))
	return path
}

// s3Env passes the server's keys to odsync through the environment (the
// config references them as ${...}).
func s3Env(t *testing.T, srv *s3server.Server) {
	t.Setenv("ODSYNC_TEST_S3_KEY", srv.AccessKey)
	t.Setenv("ODSYNC_TEST_S3_SECRET", srv.SecretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// s3Objects returns every object under prefix (key without the prefix -> bytes).
func s3Objects(t *testing.T, srv *s3server.Server, prefix string) map[string][]byte {
	t.Helper()
	cl := srv.Client()
	ctx := context.Background()
	out := map[string][]byte{}
	p := awss3.NewListObjectsV2Paginator(cl, &awss3.ListObjectsV2Input{Bucket: aws.String("ods"), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			g, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("ods"), Key: o.Key})
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

func isDataKey(k string) bool {
	return !strings.Contains(k, "/_schema/") && !strings.HasPrefix(k, "_")
}

// pqTable is a Parquet file read back as text: column names and, per row,
// the canonical text of each value (nil for NULL).
type pqTable struct {
	Cols []string
	Rows [][]*string
}

// readParquetText decodes a Parquet file with parquet-go's reader and
// renders every value by its logical type: integers and decimals as exact
// digits, floats shortest round-trip, DATE YYYY-MM-DD, timestamps
// YYYY-MM-DD HH:MM:SS[.ffffff] (UTC), strings as they are, binary base64,
// lists comma-joined.
func readParquetText(t *testing.T, data []byte) pqTable {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var tab pqTable
	leaves := map[int]parquet.Node{}
	for i, fld := range f.Schema().Fields() {
		tab.Cols = append(tab.Cols, fld.Name())
		n := parquet.Node(fld)
		for !n.Leaf() {
			n = n.Fields()[0] // LIST > list > element
		}
		leaves[i] = n
	}
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				vals := make([]*string, len(tab.Cols))
				row.Range(func(ci int, vs []parquet.Value) bool {
					vals[ci] = pqText(leaves[ci], vs)
					return true
				})
				tab.Rows = append(tab.Rows, vals)
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	return tab
}

func pqText(leaf parquet.Node, vs []parquet.Value) *string {
	if len(vs) == 0 || (len(vs) == 1 && vs[0].IsNull() && vs[0].DefinitionLevel() == 0) {
		return nil
	}
	if len(vs) > 1 || leaf.Repeated() || vs[0].RepetitionLevel() > 0 {
		var parts []string
		for _, v := range vs {
			if !v.IsNull() {
				parts = append(parts, string(v.ByteArray()))
			}
		}
		s := strings.Join(parts, ",")
		return &s
	}
	v := vs[0]
	if v.IsNull() { // empty list
		s := ""
		return &s
	}
	var ltv format.LogicalTypeValue
	if lt := leaf.Type().LogicalType(); lt != nil {
		ltv = lt.Value
	}
	var s string
	switch l := ltv.(type) {
	case *format.DecimalType:
		var u *big.Int
		switch v.Kind() {
		case parquet.Int32:
			u = big.NewInt(int64(v.Int32()))
		case parquet.Int64:
			u = big.NewInt(v.Int64())
		default:
			b := v.ByteArray()
			u = new(big.Int).SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 {
				u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
		}
		s = decimalText(u, int(l.Scale))
	case *format.DateType:
		s = time.Unix(int64(v.Int32())*86400, 0).UTC().Format("2006-01-02")
	case *format.TimestampType:
		var tm time.Time
		if _, ms := l.Unit.Value.(*format.MilliSeconds); ms {
			tm = time.UnixMilli(v.Int64())
		} else {
			tm = time.UnixMicro(v.Int64())
		}
		s = tm.UTC().Format("2006-01-02 15:04:05.999999")
	case *format.StringType, *format.JsonType:
		s = string(v.ByteArray())
	default:
		switch v.Kind() {
		case parquet.Boolean:
			s = strconv.FormatBool(v.Boolean())
		case parquet.Int32:
			s = strconv.FormatInt(int64(v.Int32()), 10)
		case parquet.Int64:
			s = strconv.FormatInt(v.Int64(), 10)
		case parquet.Float:
			s = strconv.FormatFloat(float64(v.Float()), 'g', -1, 32)
		case parquet.Double:
			s = strconv.FormatFloat(v.Double(), 'g', -1, 64)
		default:
			s = base64.StdEncoding.EncodeToString(v.ByteArray())
		}
	}
	return &s
}

func decimalText(u *big.Int, scale int) string {
	neg := u.Sign() < 0
	d := new(big.Int).Abs(u).String()
	if scale > 0 {
		for len(d) <= scale {
			d = "0" + d
		}
		d = d[:len(d)-scale] + "." + d[len(d)-scale:]
	}
	if neg {
		d = "-" + d
	}
	return d
}

// readS3Rows reads every Parquet data file under prefix as harness rows
// (numbers as json.Number), sorted by _seq.
func readS3Rows(t *testing.T, srv *s3server.Server, prefix string) []harness.Row {
	t.Helper()
	var rows []harness.Row
	for k, data := range s3Objects(t, srv, prefix) {
		if !isDataKey(k) || !strings.HasSuffix(k, ".parquet") {
			continue
		}
		tab := readParquetText(t, data)
		for _, r := range tab.Rows {
			m := map[string]any{}
			for i, c := range tab.Cols {
				if r[i] == nil {
					m[c] = nil
					continue
				}
				if _, err := strconv.ParseInt(*r[i], 10, 64); err == nil && c != "_op" {
					m[c] = json.Number(*r[i])
				} else {
					m[c] = *r[i]
				}
			}
			rows = append(rows, harness.Row{Table: strings.SplitN(k, "/", 2)[0], File: k, Data: m})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Seq() < rows[j].Seq() })
	return rows
}

// pidOf finds the pid of the odsync process running with config path cfg.
func pidOf(t *testing.T, cfg string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 2 && strings.HasSuffix(args[0], "odsync") && strings.Contains(string(b), cfg) {
			return pid
		}
	}
	return 0
}

// rssOf returns a process's resident set size in bytes (0 if gone).
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
