package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-odps-go-sdk/odps"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/account"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/data"
	"github.com/aliyun/aliyun-odps-go-sdk/odps/tunnel"

	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/odpsemu"
)

const mcProject = "odsync_it"

// startMCEmu starts the MaxCompute emulator in the test process (odsync,
// the child process, talks to it over 127.0.0.1), with signature checks on:
// odsync gets the keys through the environment.
func startMCEmu(t *testing.T) *odpsemu.Server {
	t.Helper()
	srv := newMCEmu(t)
	t.Setenv("ODSYNC_TEST_MC_ID", "it-id")
	t.Setenv("ODSYNC_TEST_MC_KEY", "it-secret")
	return srv
}

// mcEnv is the environment odsync needs for an emulator from newMCEmu.
var mcEnv = []string{"ODSYNC_TEST_MC_ID=it-id", "ODSYNC_TEST_MC_KEY=it-secret"}

// newMCEmu is startMCEmu without setting the environment (for parallel
// tests, which pass mcEnv to the odsync process instead).
func newMCEmu(t *testing.T) *odpsemu.Server {
	t.Helper()
	srv, err := odpsemu.New(odpsemu.Config{DataDir: t.TempDir(), AccessID: "it-id", AccessKey: "it-secret", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// mcSinkYAML is one maxcompute sink entry of an odsync config.
func mcSinkYAML(srv *odpsemu.Server, name, extra, batch string) string {
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
    type: maxcompute
    maxcompute:
      endpoint: %s
      tunnel_endpoint: %s
      project: %s
      access_id: ${ODSYNC_TEST_MC_ID}
      access_key: ${ODSYNC_TEST_MC_KEY}
      max_backoff: 500ms
%s    batch:
      %s
`, name, srv.Endpoint(), srv.TunnelEndpoint(), mcProject, ex.String(), batch)
}

// mcRunConfig writes an odsync config capturing db into the given sinks;
// mysqlExtra and mappingExtra are indented YAML lines added to those sections.
func mcRunConfig(t *testing.T, dir, addr, db, mysqlExtra, mappingExtra string, sinks ...string) string {
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
%smapping:
  include: ["%s\\..*"]
%ssinks:
%s`, filepath.Join(dir, "state"), addr, 1000+rand.IntN(5000), mysqlExtra, db, mappingExtra, strings.Join(sinks, "")))
	return path
}

// mcRow is one row read back: column -> canonical text (nil for NULL);
// the conformance kit's row type.
type mcRow = kitRow

func mcClients(srv *odpsemu.Server) (*odps.Odps, *tunnel.Tunnel) {
	o := odps.NewOdps(account.NewAliyunAccount("it-id", "it-secret"), srv.Endpoint())
	o.SetDefaultProjectName(mcProject)
	return o, tunnel.NewTunnel(o, srv.TunnelEndpoint())
}

// mcReadTable reads every partition of an ODS table through the SDK's
// download sessions, sorted by _seq. Values are rendered canonically:
// integers and decimals as digits, floats shortest round-trip, binary as
// base64, DATE YYYY-MM-DD, times YYYY-MM-DD HH:MM:SS.ffffff in UTC.
func mcReadTable(t testing.TB, srv *odpsemu.Server, table string) []mcRow {
	t.Helper()
	o, tun := mcClients(srv)
	tbl := odps.NewTable(o, mcProject, "", table)
	if ok, err := tbl.Exists(); err != nil || !ok {
		if err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
		return nil
	}
	parts, err := tbl.GetPartitionValues()
	if err != nil {
		t.Fatalf("partitions of %s: %v", table, err)
	}
	var rows []mcRow
	for _, p := range parts {
		ds, err := tun.CreateDownloadSession(mcProject, table, tunnel.SessionCfg.WithPartitionKey(p))
		if err != nil {
			t.Fatalf("download %s %s: %v", table, p, err)
		}
		n := ds.RecordCount()
		if n == 0 {
			continue
		}
		rd, err := ds.OpenRecordReader(0, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		cols := ds.Schema().Columns
		err = rd.Iterator(func(rec data.Record, err error) {
			if err != nil {
				t.Fatalf("reading %s: %v", table, err)
			}
			r := mcRow{"ds": strPtr(strings.TrimPrefix(p, "ds="))}
			for i, c := range cols {
				r[c.Name] = mcText(rec[i])
			}
			rows = append(rows, r)
		})
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].seq() < rows[j].seq() })
	return rows
}

func strPtr(s string) *string { return &s }

func mcText(d data.Data) *string {
	if d == nil {
		return nil
	}
	if _, ok := d.(data.NullData); ok {
		return nil
	}
	var s string
	switch x := d.(type) {
	case data.Date:
		s = time.Time(x).UTC().Format("2006-01-02")
	case data.DateTime:
		s = time.Time(x).UTC().Format("2006-01-02 15:04:05.000")
	case data.Timestamp:
		s = time.Time(x).UTC().Format("2006-01-02 15:04:05.999999")
	case data.TimestampNtz:
		s = time.Time(x).UTC().Format("2006-01-02 15:04:05.999999")
	case data.Binary:
		s = base64.StdEncoding.EncodeToString(x)
	case data.Float:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case data.Double:
		s = strconv.FormatFloat(float64(x), 'g', -1, 64)
	case *data.Decimal:
		s = x.Value()
	case data.Decimal:
		s = x.Value()
	case *data.Json:
		s = x.Data
	default:
		s = d.String()
	}
	return &s
}

// waitRows polls the emulator until cond holds for the table's rows.
func waitRows(t *testing.T, srv *odpsemu.Server, table string, limit time.Duration, p *harness.Process, cond func([]mcRow) (bool, string)) []mcRow {
	t.Helper()
	var rows []mcRow
	harness.Eventually(t, limit, "rows in "+table, func() (bool, string) {
		if p != nil && p.Exited() {
			t.Fatalf("odsync exited:\n%s", readFile(t, p.Log))
		}
		rows = mcReadTable(t, srv, table)
		return cond(rows)
	})
	return rows
}
