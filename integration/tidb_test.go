package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/kafka"
	"github.com/odsync/odsync/capture/tidb"
	kh "github.com/odsync/odsync/harness/kafka"
	htidb "github.com/odsync/odsync/harness/tidb"
	"github.com/odsync/odsync/integration/harness"
)

// tidbConn opens one connection to the package's tidb-server (the commit
// TSO of its last transaction is read on the same connection).
func tidbConn(t *testing.T, srv *htidb.Server) (*sql.DB, *sql.Conn) {
	t.Helper()
	db, err := srv.Open("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return db, conn
}

func tidbExec(t *testing.T, c interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// commitTs runs one autocommit statement and returns its commit TSO.
func commitTs(t *testing.T, c *sql.Conn, stmt string) uint64 {
	t.Helper()
	tidbExec(t, c, stmt)
	var info string
	if err := c.QueryRowContext(context.Background(), "SELECT @@tidb_last_txn_info").Scan(&info); err != nil {
		t.Fatal(err)
	}
	var v struct {
		CommitTs uint64 `json:"commit_ts"`
	}
	if err := json.Unmarshal([]byte(info), &v); err != nil || v.CommitTs == 0 {
		t.Fatalf("tidb_last_txn_info %q: %v", info, err)
	}
	return v.CommitTs
}

// The changefeed table: types whose TiCDC form lacks parameters (DECIMAL
// precision, ENUM/SET members, BIGINT UNSIGNED in open-protocol).
const evDDL = "CREATE TABLE ev (id BIGINT PRIMARY KEY, d DECIMAL(65,30), e ENUM('a','b','c'), s SET('x','y','z'), v VARCHAR(64), dt DATETIME(6), u BIGINT UNSIGNED, j JSON)"

func evTable(db string) *kh.Table {
	return &kh.Table{DB: db, Name: "ev", Cols: []kh.Col{
		{Name: "id", MySQLType: "bigint", SQLType: -5, OpenType: 8},
		{Name: "d", MySQLType: "decimal", SQLType: 3, OpenType: 246},
		{Name: "e", MySQLType: "enum", SQLType: 4, OpenType: 247},
		{Name: "s", MySQLType: "set", SQLType: -7, OpenType: 248},
		{Name: "v", MySQLType: "varchar", SQLType: 12, OpenType: 15},
		{Name: "dt", MySQLType: "datetime", SQLType: 93, OpenType: 12},
		{Name: "u", MySQLType: "bigint unsigned", SQLType: -5, OpenType: 8},
		{Name: "j", MySQLType: "json", SQLType: 12, OpenType: 245},
	}}
}

// evRow reads a row of ev as TiCDC renders it (canal-json text, or
// open-protocol JSON values).
func evRow(t *testing.T, c *sql.Conn, db string, id int, open bool) kh.Row {
	t.Helper()
	vals := make([]sql.NullString, 8)
	ptrs := make([]any, 8)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := c.QueryRowContext(context.Background(), "SELECT CAST(id AS CHAR), CAST(d AS CHAR), CAST(e+0 AS CHAR), CAST(s+0 AS CHAR), v, CAST(dt AS CHAR), CAST(u AS CHAR), CAST(j AS CHAR) FROM "+db+".ev WHERE id = ?", id).Scan(ptrs...)
	if err != nil {
		t.Fatalf("ev %d: %v", id, err)
	}
	row := make(kh.Row, 8)
	for i, v := range vals {
		if !v.Valid {
			continue
		}
		s := v.String
		if open && (i == 1 || i == 5 || i == 7) { // JSON strings in open-protocol
			b, _ := json.Marshal(s)
			s = string(b)
		}
		row[i] = &s
	}
	return row
}

// changefeed writes TiCDC messages of one protocol to partition 0 of a
// topic, watermarks to every partition.
type changefeed struct {
	t     *testing.T
	p     *kh.Producer
	tbl   *kh.Table
	open  bool
	parts int
	sent  []kh.Message // row messages, for replays
}

func (f *changefeed) row(op string, ts uint64, row, old kh.Row) kh.Message {
	var m kh.Message
	if f.open {
		ev := f.tbl.OpenRow(op, ts, row, old)
		// TiCDC flags BIGINT UNSIGNED columns unsigned (0x80).
		ev.Value = []byte(strings.ReplaceAll(string(ev.Value), `"u":{"t":8,"f":64`, `"u":{"t":8,"f":192`))
		m.Key, m.Value = kh.OpenBatch(ev)
	} else {
		m.Value = f.tbl.CanalRow(op, ts, row, old)
	}
	f.send(m)
	f.sent = append(f.sent, m)
	return m
}

func (f *changefeed) watermark(ts uint64) {
	for p := 0; p < f.parts; p++ {
		var m kh.Message
		if f.open {
			m.Key, m.Value = kh.OpenBatch(kh.OpenResolved(ts))
		} else {
			m.Value = kh.CanalWatermark(ts)
		}
		m.Partition = p
		f.send(m)
	}
}

func (f *changefeed) send(m kh.Message) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.p.Produce(ctx, m); err != nil {
		f.t.Fatal(err)
	}
}

// tidbConfig writes an odsync config with source.type tidb.
func tidbConfig(t *testing.T, dir string, srv *htidb.Server, brokers []string, topic, protocol, db, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "odsync.yaml")
	harness.WriteFile(t, path, fmt.Sprintf(`state:
  dir: %s
source:
  type: tidb
  tidb:
    dsn: %s
    chunk_rows: 7
    parallel: 2
%s
  ticdc:
    brokers: [%s]
    topics: [%s]
    protocol: %s
    fetch_max_wait: 100ms
    checkpoint_interval: 200ms
mapping:
  include: ['%s\..*']
sinks:
  - name: files
    type: local
    local:
      dir: %s
    batch:
      max_rows: 300
      max_age: 50ms
`, filepath.Join(dir, "state"), srv.DSN(""), extra, strings.Join(brokers, ", "), topic, protocol, db, filepath.Join(dir, "ods")))
	return path
}

// tidbTypesDDL is a table of TiDB's types with rows at their edges (the
// snapshot's full load; verify compares every value).
var tidbTypesDDL = []string{
	`CREATE TABLE types (id BIGINT PRIMARY KEY CLUSTERED, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED,
	 i INT, bu BIGINT UNSIGNED, bi BIGINT, d DECIMAL(65,30), d0 DECIMAL(65,0), dn DECIMAL(10,4) UNSIGNED, f FLOAT, db DOUBLE,
	 b1 BIT(1), b64 BIT(64), c CHAR(10), vc VARCHAR(64) COLLATE utf8mb4_general_ci, vb VARCHAR(32) COLLATE utf8mb4_bin, tx TEXT,
	 bn BINARY(4), vbn VARBINARY(16), bl BLOB, dt DATE, dtt DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME(6), y YEAR, j JSON,
	 e ENUM('a','b','ü'), s SET('x','y','z'))`,
	`INSERT INTO types VALUES
	 (1, -128, 255, -32768, 16777215, -2147483648, 18446744073709551615, -9223372036854775808,
	  99999999999999999999999999999999999.999999999999999999999999999999, 99999999999999999999999999999999999999999999999999999999999999999, 999999.9999,
	  -3.4028234663852886e38, 1.7976931348623157e308, b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
	  'ab', 'Ünïcödé 😀 ''q'' \\ <x>', 'ABC', REPEAT('t', 300), x'00ff0001', x'00ff22275c3c', x'000102fffe',
	  '1000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59.000000', 2155,
	  '{"k": [1, 2.5, "x", null, true], "a": {"b": "ü"}}', 'ü', 'x,z'),
	 (2, 127, 0, 32767, 0, 2147483647, 0, 9223372036854775807,
	  -99999999999999999999999999999999999.999999999999999999999999999999, -1, 0.0001,
	  1.17549435e-38, -2.2250738585072014e-308, b'0', b'0',
	  '', '', '', '', x'00000000', x'', x'',
	  '2024-02-29', '1970-01-01 00:00:00.000001', '1970-01-01 00:00:01.000000', '-838:59:59.000000', 1901,
	  '[]', 'a', ''),
	 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	 (4, 0, 1, 0, 1, 0, 9223372036854775808, 0, 0.000000000000000000000000000001, 0, 0, 0, 0, NULL, b'1000000000000000000000000000000000000000000000000000000000000000',
	  'a  ', 'trailing  ', 'x', '', x'61', x'61', x'61', '2000-01-01', '2000-01-01 00:00:00', NULL, '00:00:00', 2000, 'null', 'b', 'x,y,z')`,
	"CREATE TABLE nc (id VARCHAR(20) PRIMARY KEY NONCLUSTERED, v INT)",
	"CREATE TABLE ck (a VARCHAR(10), b INT, v VARCHAR(10), PRIMARY KEY (a, b) CLUSTERED)",
	"CREATE TABLE nokey (a INT, b VARCHAR(10))",
}

func tidbFill(t *testing.T, c *sql.Conn, n int) {
	t.Helper()
	var nc, ck, nk []string
	for i := 0; i < n; i++ {
		nc = append(nc, fmt.Sprintf("('k%03d', %d)", i, i))
		ck = append(ck, fmt.Sprintf("('a%d', %d, 'v%d')", i%3, i, i))
		nk = append(nk, fmt.Sprintf("(%d, 'r%d')", i%5, i))
	}
	tidbExec(t, c, "INSERT INTO nc VALUES "+strings.Join(nc, ","), "INSERT INTO ck VALUES "+strings.Join(ck, ","),
		"INSERT INTO nokey VALUES "+strings.Join(nk, ","))
}

// TestTiDBSnapshotSwitchover: the full load of every TiDB type at its
// edges at one TSO, then a changefeed whose commitTs straddle the TSO
// (before: dropped as in the snapshot; after: applied; replayed: dropped),
// in canal-json and open-protocol: the ODS equals TiDB (odsync verify
// MATCHes, then MISMATCHes on a tampered value); odsync check sees no gap,
// and sees one on a topic that begins after the TSO.
func TestTiDBSnapshotSwitchover(t *testing.T) {
	for _, protocol := range []string{"canal-json", "open-protocol"} {
		t.Run(protocol, func(t *testing.T) {
			testTiDBSwitchover(t, protocol)
		})
	}
}

func testTiDBSwitchover(t *testing.T, protocol string) {
	srv := harness.TiDB(t)
	db := "tsw_" + strings.ReplaceAll(protocol, "-", "_")
	open := protocol == "open-protocol"
	_, c := tidbConn(t, srv)
	tidbExec(t, c, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db, "USE "+db, evDDL)
	tidbExec(t, c, tidbTypesDDL...)
	tidbFill(t, c, 20)

	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 2, "late": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f := &changefeed{t: t, p: cl.Producer("cdc"), tbl: evTable(db), open: open, parts: 2}
	defer f.p.Close()

	// Before the TSO: in the snapshot, and in the changefeed (dropped).
	var ts uint64
	for id := 1; id <= 4; id++ {
		ts = commitTs(t, c, fmt.Sprintf("INSERT INTO ev VALUES (%d, %d.5, 'b', 'x,z', 'v%d', '2024-01-0%d 10:00:00.123456', %d, '{\"n\": %d}')", id, id, id, id, uint64(1)<<63+uint64(id), id))
		f.row("INSERT", ts, evRow(t, c, db, id, open), nil)
	}
	old := evRow(t, c, db, 1, open)
	ts = commitTs(t, c, "UPDATE ev SET v = 'before-tso', e = 'c' WHERE id = 1")
	f.row("UPDATE", ts, evRow(t, c, db, 1, open), old)
	f.watermark(ts)

	dir := t.TempDir()
	cfg := tidbConfig(t, dir, srv, cl.Addrs, "cdc", protocol, db, "")
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitLog(t, logPath, "TiDB snapshot done", 1, 2*time.Minute)

	// After the TSO: applied.
	old = evRow(t, c, db, 2, open)
	ts = commitTs(t, c, "UPDATE ev SET d = -0.000000000000000000000000000001, s = '', v = 'after' WHERE id = 2")
	upd := f.row("UPDATE", ts, evRow(t, c, db, 2, open), old)
	old = evRow(t, c, db, 3, open)
	ts = commitTs(t, c, "DELETE FROM ev WHERE id = 3")
	f.row("DELETE", ts, old, nil)
	ts = commitTs(t, c, "INSERT INTO ev VALUES (5, 99999999999999999999999999999999999.999999999999999999999999999999, 'a', 'x,y,z', 'new', '9999-12-31 23:59:59.999999', 18446744073709551615, '[1, \"ü\"]')")
	f.row("INSERT", ts, evRow(t, c, db, 5, open), nil)
	old = evRow(t, c, db, 5, open)
	ts = commitTs(t, c, "UPDATE ev SET v = 'newer' WHERE id = 5")
	f.row("UPDATE", ts, evRow(t, c, db, 5, open), old)
	ts = commitTs(t, c, "INSERT INTO ev (id) VALUES (6)")
	f.row("INSERT", ts, evRow(t, c, db, 6, open), nil)
	last, wantOps := "6", "R1 R2 R3 R4 U2 D3 I5 U5 I6"
	if !open {
		// A large row as TiCDC's handle-key-only message: odsync re-reads
		// it from TiDB at its commit TSO.
		ts = commitTs(t, c, "INSERT INTO ev VALUES (7, 7.25, 'c', 'y', REPEAT('L', 64), '2024-05-05 05:05:05.5', 7, '{\"big\": true}')")
		key := &kh.Table{DB: db, Name: "ev", Cols: evTable(db).Cols[:1]}
		m := key.CanalRow("INSERT", ts, kh.Row{kh.V("7")}, nil)
		m = append(m[:len(m)-2], []byte(`,"onlyHandleKey":true}}`)...)
		f.send(kh.Message{Value: m})
		last, wantOps = "7", wantOps+" I7"
	}
	// TiCDC replays: an update after the TSO again, and a change before it.
	f.send(upd)
	f.send(f.sent[0])
	f.watermark(ts)
	f.watermark(ts + 1)

	harness.Eventually(t, 60*time.Second, "the changefeed's last row in the ODS", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("odsync exited:\n%s", readFile(t, logPath))
		}
		for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
			if strings.HasSuffix(r.Table, "_ev") && fmt.Sprint(r.Data["id"]) == last {
				return true, ""
			}
		}
		return false, "no row " + last
	})
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("odsync stop: exit %d %v:\n%s", code, err, readFile(t, logPath))
	}
	// Exactly the snapshot's 4 reads and the 5 changes after the TSO.
	var evOps []string
	for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
		if strings.HasSuffix(r.Table, "_ev") {
			evOps = append(evOps, r.Op()+fmt.Sprint(r.Data["id"]))
		}
	}
	if got := strings.Join(evOps, " "); got != wantOps {
		t.Errorf("ev changes in the ODS: %s, want %s (before-TSO and replayed messages dropped)", got, wantOps)
	}

	if out, code := odsyncCmd(t, "offsets", "show", "-c", cfg); code != 0 || !strings.Contains(out, "snapshot TSO") || !strings.Contains(out, "checkpoint: kafka") {
		t.Errorf("odsync offsets show: exit %d:\n%s", code, out)
	}
	out, code := odsyncCmd(t, "check", "-c", cfg)
	if code != 0 || !strings.Contains(out, "snapshot at TSO") {
		t.Errorf("odsync check: exit %d:\n%s", code, out)
	}
	// A changefeed that begins after the TSO: a gap.
	lp := cl.Producer("late")
	defer lp.Close()
	var late kh.Message
	if open {
		late.Key, late.Value = kh.OpenBatch(kh.OpenResolved(ts + 10))
	} else {
		late.Value = kh.CanalWatermark(ts + 10)
	}
	if err := lp.Produce(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	l := &kafka.SourceConfig{Brokers: cl.Addrs, Topics: []string{"late"}, Kind: kafka.KindTiCDC}
	l.Protocol = protocol
	l.EnsureDefaults()
	tcfg := tidb.Config{DSN: srv.DSN("")}
	lines, ok, err := tidb.Check(context.Background(), tcfg, *l, tidb.State{Known: true, TSO: ts - 1, SnapshotDone: true})
	if err != nil || ok || !strings.Contains(strings.Join(lines, "\n"), "gap") {
		t.Errorf("check of a topic beginning after the TSO: ok %v err %v:\n%s", ok, err, strings.Join(lines, "\n"))
	}

	vout, vcode := runVerifyCommand(t, "-c", cfg, "--settle", "1s", "--wait", "10s")
	if vcode != 0 {
		t.Fatalf("verify: exit %d, want 0 (MATCH):\n%s", vcode, vout)
	}
	tidbExec(t, c, "UPDATE types SET vc = 'tampered' WHERE id = 1")
	vout, vcode = runVerifyCommand(t, "-c", cfg, "--settle", "1s", "--wait", "5s", "--rounds", "2")
	if vcode != 1 || !strings.Contains(string(vout), "types") {
		t.Fatalf("verify after tampering: exit %d, want 1 (MISMATCH on %s.types):\n%s", vcode, db, vout)
	}
}

// TestTiDBKill9 kills odsync with SIGKILL during the snapshot and during
// the switch-over to the changefeed: every row lands exactly once.
func TestTiDBKill9(t *testing.T) {
	srv := harness.TiDB(t)
	const db = "tkill"
	_, c := tidbConn(t, srv)
	tidbExec(t, c, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db, "USE "+db, evDDL,
		"CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR(40))", "CREATE TABLE bign (a VARCHAR(20), v INT)")
	const rows = 20000
	for lo := 0; lo < rows; lo += 2000 {
		var vals, valsN []string
		for i := lo; i < lo+2000; i++ {
			vals = append(vals, fmt.Sprintf("(%d, 'row %d')", i, i))
			valsN = append(valsN, fmt.Sprintf("('n%d', %d)", i, i))
		}
		tidbExec(t, c, "INSERT INTO big VALUES "+strings.Join(vals, ","), "INSERT INTO bign VALUES "+strings.Join(valsN, ","))
	}
	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f := &changefeed{t: t, p: cl.Producer("cdc"), tbl: evTable(db), parts: 2}
	defer f.p.Close()
	dir := t.TempDir()
	cfg := tidbConfig(t, dir, srv, cl.Addrs, "cdc", "canal-json", db, "")
	cfgText := strings.Replace(readFile(t, cfg), "chunk_rows: 7", "chunk_rows: 20", 1)
	harness.WriteFile(t, cfg, cfgText)
	logPath := filepath.Join(dir, "odsync.log")
	rng := rand.New(rand.NewPCG(7, 7))
	p := harness.Start(t, logPath, "run", "-c", cfg)
	for i := 0; i < 4; i++ {
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		if p.Exited() {
			t.Fatalf("odsync exited by itself:\n%s", readFile(t, logPath))
		}
		p.Kill()
		p = harness.Start(t, logPath, "run", "-c", cfg)
	}
	waitLog(t, logPath, "TiDB snapshot done", 1, 3*time.Minute)
	if n := strings.Count(readFile(t, logPath), "resuming the TiDB snapshot"); n == 0 {
		t.Errorf("no kill landed during the snapshot")
	}
	// The switch-over: changes after the TSO while odsync is killed.
	var ts uint64
	for id := 1; id <= 30; id++ {
		ts = commitTs(t, c, fmt.Sprintf("INSERT INTO ev (id, v, e) VALUES (%d, 'x%d', 'a')", id, id))
		f.row("INSERT", ts, evRow(t, c, db, id, false), nil)
		if id%10 == 0 {
			f.watermark(ts)
			p.Kill()
			p = harness.Start(t, logPath, "run", "-c", cfg)
		}
	}
	f.watermark(ts + 1)
	harness.Eventually(t, 90*time.Second, "every row in the ODS", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("odsync exited by itself:\n%s", readFile(t, logPath))
		}
		n := map[string]int{}
		for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
			n[r.Table]++
		}
		return n["ods_tkill_big"] >= rows && n["ods_tkill_bign"] >= rows && n["ods_tkill_ev"] >= 30, fmt.Sprint(n)
	})
	if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("odsync stop: exit %d %v", code, err)
	}
	seen := map[string]int{}
	for _, r := range harness.ReadODS(t, filepath.Join(dir, "ods")) {
		key := fmt.Sprintf("%s/%s/%v/%v", r.Table, r.Op(), r.Data["id"], r.Data["a"])
		seen[key]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s landed %d times", k, n)
		}
	}
	if len(seen) != 2*rows+30 {
		t.Errorf("%d distinct rows in the ODS, want %d", len(seen), 2*rows+30)
	}
	for i := 0; i < rows; i += 997 {
		if seen["ods_tkill_big/R/"+strconv.Itoa(i)+"/<nil>"] != 1 {
			t.Errorf("big row %d missing", i)
		}
	}
}
