package integration

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/capture/mysql"
	"github.com/odsync/odsync/event"
	"github.com/odsync/odsync/integration/harness"
)

var updateGolden = flag.Bool("update-mysql-golden", false, "rewrite capture/mysql/testdata/types.golden")

const typesTable = `(
  id INT NOT NULL PRIMARY KEY,
  i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, u16 SMALLINT UNSIGNED, i24 MEDIUMINT, u24 MEDIUMINT UNSIGNED,
  i32 INT, u32 INT UNSIGNED, i64 BIGINT, u64 BIGINT UNSIGNED,
  d1 DECIMAL(65,30), d2 DECIMAL(10,2) UNSIGNED, d3 DECIMAL(5,0), d4 DECIMAL(18,9),
  f FLOAT, dbl DOUBLE,
  b1 BIT(1), b12 BIT(12), b64 BIT(64), bo BOOL,
  c CHAR(10), vc VARCHAR(100), tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
  gb VARCHAR(20) CHARACTER SET gbk, l1 VARCHAR(20) CHARACTER SET latin1, cgb CHAR(4) CHARACTER SET gbk,
  bn BINARY(6), vb VARBINARY(300), bl BLOB, mb MEDIUMBLOB,
  e ENUM('a','b','c d'), s SET('x','y','z'),
  dt DATE, dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6),
  ts0 TIMESTAMP NULL DEFAULT NULL, ts3 TIMESTAMP(3) NULL DEFAULT NULL, ts6 TIMESTAMP(6) NULL DEFAULT NULL,
  tm TIME, tm2 TIME(2), tm6 TIME(6),
  y YEAR, j JSON,
  uu UUID, i4 INET4, i6 INET6,
  ee ENUM('a','😀','中 文'), es SET('x','🎉y','é'),
  el ENUM('é','ü','a') CHARACTER SET latin1, eg SET('中','文','x') CHARACTER SET gbk
) DEFAULT CHARSET=utf8mb4`

// typesRows are inserted into both tables: one copied by the snapshot, one
// captured from the binlog. Session: time_zone +00:00, sql_mode ”.
var typesRows = []string{
	// maxima
	`(1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
	  '99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, 99999, 123456789.123456789,
	  3.4028235e38, 1.7976931348623157e308,
	  b'1', b'111111111111', b'1111111111111111111111111111111111111111111111111111111111111111', TRUE,
	  'char  ', 'emoji 😀 and ümlaut', 'line1\nline2\t"q" \\ ''s''', REPEAT('m', 1000), REPEAT('长', 5000),
	  '中文汉字', 'café ÿ', '啊',
	  X'0001', X'00FF80FE', X'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF', X'FF00',
	  'c d', 'x,z',
	  '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999',
	  '2038-01-19 03:14:07', '2038-01-19 03:14:07.999', '2038-01-19 03:14:07.999999',
	  '838:59:59', '838:59:59.99', '838:59:59.000000',
	  2155, '{"a": [1, 2.5, "x", null, true], "b": {"c": "😀"}}',
	  'ffffffff-ffff-ffff-ffff-ffffffffffff', '255.255.255.255', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
	  '😀', 'x,🎉y,é', 'ü', '中,文,x')`,
	// minima
	`(2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
	  '-99999999999999999999999999999999999.999999999999999999999999999999', 0.00, -99999, -0.000000001,
	  -1.17549435e-38, -2.2250738585072014e-308,
	  b'0', b'0', b'0', FALSE,
	  '', '', '', '', '',
	  '', '', '',
	  X'', X'', X'', X'',
	  'a', '',
	  '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.001', '1000-01-01 00:00:00.000001',
	  '1970-01-01 00:00:01', '1970-01-01 00:00:01.001', '1970-01-01 00:00:01.000001',
	  '-838:59:59', '-838:59:59.99', '-00:00:00.000001',
	  1901, '[]',
	  '00000000-0000-0000-0000-000000000000', '0.0.0.0', '::',
	  'a', '', 'é', '')`,
	// NULLs
	`(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
	// zero dates and other edges
	`(4, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1,
	  '-0.000000000000000000000000000001', 0.01, 0, 0.5,
	  0.1, 0.1,
	  b'1', b'100000000001', b'1000000000000000000000000000000000000000000000000000000000000001', 2,
	  'a', ' lead and trail ', '', 'x', 'y',
	  'ＡＢＣ', 'Ĳ', 'a',
	  X'FF', X'00', X'00', X'00FF',
	  'b', 'x,y,z',
	  '0000-00-00', '0000-00-00 00:00:00', '2020-00-15 10:00:00.500', '2020-02-00 00:00:00.000001',
	  '0000-00-00 00:00:00', '2000-02-29 12:34:56.789', '1999-12-31 23:59:59.999999',
	  '00:00:00', '-12:34:56.78', '-00:00:01.5',
	  0, '"just a string"',
	  '123e4567-e89b-12d3-a456-426655440000', '192.0.2.1', '::ffff:192.0.2.1',
	  '中 文', '🎉y', 'a', '文')`,
	`(5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  '12345678901234567890123456789012345.123456789012345678901234567890', 12.30, 1, -123456789.000000001,
	  -0.0, 123456.789e-300,
	  b'0', b'000000000001', b'0111111111111111111111111111111111111111111111111111111111111111', 1,
	  'trail  ', 'multi\r\nline', 'tab\there', '0', '{}',
	  '〇一二', '€‚ƒ', 'ab',
	  X'616263', X'20', X'5C', X'27',
	  'a', 'y',
	  '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59.5', '2024-02-29 23:59:59.25',
	  '2024-02-29 23:59:59', '2024-02-29 23:59:59.5', '2024-02-29 23:59:59.25',
	  '24:00:00', '100:00:00.01', '-838:59:58.999999',
	  2000, '{"k": 1.0E+2, "n": -0, "big": 12345678901234567890}',
	  'f47ac10b-58cc-4372-a567-0e02b2c3d479', '10.0.0.0', '2001:db8::ff00:42:8329',
	  '😀', '🎉y,é', 'é', '中')`,
	// UUID versions and INET6 forms
	`(6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  '6ccd780c-baba-1026-e564-5b8c656024db', '1.2.3.4', '::192.0.2.1', NULL, NULL, NULL, NULL)`,
	`(7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  '01890a5d-ac96-774b-bcce-b302099a8057', '127.0.0.1', '1::2:3:4:5:6:7', NULL, NULL, NULL, NULL)`,
	`(8, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  '6ccd780c-baba-1026-9564-5b8c656024db', '8.8.4.4', '1:0:0:2::3', NULL, NULL, NULL, NULL)`,
}

func goldenPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "capture", "mysql", "testdata", "types.golden")
}

// TestMySQLCaptureTypes copies one table by snapshot and captures an
// identical one from the binlog: every value must be identical, and match
// the golden file.
func TestMySQLCaptureTypes(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn := sessionConn(t, db)
	connExec(t, conn, "DROP DATABASE IF EXISTS ctypes", "CREATE DATABASE ctypes",
		"CREATE TABLE ctypes.snap "+typesTable, "CREATE TABLE ctypes.bin "+typesTable)
	for _, r := range typesRows {
		connExec(t, conn, "INSERT INTO ctypes.snap VALUES "+r)
	}
	cfg := testSourceConfig(srv)
	cfg.SnapshotChunkRows = 2 // several chunks, including the last
	c := startCapture(t, cfg, mysql.Options{Store: mysql.NewMemStore()}, nil, dbFilter("ctypes"))
	n := len(typesRows)
	c.wait("the snapshot", 60*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("snap", event.OpRead)) >= n })
	for _, r := range typesRows {
		connExec(t, conn, "INSERT INTO ctypes.bin VALUES "+r)
	}
	// Updates and deletes carry before images too.
	connExec(t, conn, "UPDATE ctypes.bin SET vc = 'updated' WHERE id = 1", "DELETE FROM ctypes.bin WHERE id = 2")
	evs := c.wait("the binlog rows", 60*time.Second, func(evs []event.Event) bool {
		return count(evs, ofTable("bin", event.OpDelete)) >= 1
	})
	if err := c.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	snap := filter(evs, ofTable("snap", event.OpRead))
	ins := filter(evs, ofTable("bin", event.OpInsert))
	if len(snap) != n || len(ins) != n {
		t.Fatalf("got %d snapshot rows and %d inserts, want %d each", len(snap), len(ins), n)
	}
	byID := func(list []event.Event) map[int64]event.Event {
		m := map[int64]event.Event{}
		for _, e := range list {
			m[e.Row()[0].Int()] = e
		}
		return m
	}
	sm, im := byID(snap), byID(ins)
	var golden strings.Builder
	ids := make([]int64, 0, n)
	for id := range im {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		s, i := sm[id], im[id]
		if s.Table == nil || i.Table == nil {
			t.Fatalf("row %d without schema", id)
		}
		for k := range i.After {
			if k >= len(s.After) {
				t.Errorf("row %d: snapshot row has %d columns, binlog %d", id, len(s.After), len(i.After))
				break
			}
			if !s.After[k].Equal(i.After[k]) {
				t.Errorf("row %d column %s: snapshot %v, binlog %v", id, i.Table.Columns[k].Name, s.After[k], i.After[k])
			}
		}
		fmt.Fprintf(&golden, "row %d\n", id)
		for k, v := range i.After {
			fmt.Fprintf(&golden, "  %-4s %-28s %s\n", i.Table.Columns[k].Name, i.Table.Columns[k].RawType, goldenValue(v))
		}
	}
	// UUID/INET4/INET6 and ENUM/SET members are the server's own text.
	serverText(t, conn, sm, "uu", "i4", "i6", "ee", "es", "el", "eg")
	// Snapshot and binlog rows carry the same schema (but for the table name).
	st, it := *sm[1].Table, *im[1].Table
	st.ID = it.ID
	if st.Seal().Version != it.Seal().Version {
		t.Errorf("schemas differ:\nsnapshot %+v\nbinlog   %+v", sm[1].Table.Columns, im[1].Table.Columns)
	}
	upd := filter(evs, ofTable("bin", event.OpUpdate))
	del := filter(evs, ofTable("bin", event.OpDelete))
	if len(upd) != 1 || len(del) != 1 {
		t.Fatalf("updates %d deletes %d", len(upd), len(del))
	}
	for k := range upd[0].Before {
		if !upd[0].Before[k].Equal(im[1].After[k]) {
			t.Errorf("update before-image column %d: %v, want %v", k, upd[0].Before[k], im[1].After[k])
		}
	}
	if got := upd[0].After[upd[0].Table.ColumnIndex("vc")]; got.Str() != "updated" {
		t.Errorf("update after-image vc = %v", got)
	}
	for k := range del[0].Before {
		if !del[0].Before[k].Equal(im[2].After[k]) {
			t.Errorf("delete before-image column %d: %v, want %v", k, del[0].Before[k], im[2].After[k])
		}
	}
	path := goldenPath()
	if *updateGolden {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-mysql-golden to create it)", err)
	}
	if string(want) != golden.String() {
		t.Errorf("values differ from %s (run with -update-mysql-golden after checking):\n%s", path, diffLines(string(want), golden.String()))
	}
}

// goldenValue renders a value on one line; long values by length and hash.
func goldenValue(v event.Value) string {
	s := v.String()
	if len(s) > 100 {
		sum := sha256.Sum256([]byte(s))
		return fmt.Sprintf("%s... (%d bytes, sha256 %x)", strconv.Quote(s[:40]), len(s), sum[:8])
	}
	return strconv.Quote(s)
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "-%s\n+%s\n", x, y)
		}
	}
	return out.String()
}

// serverText checks that the captured value of each named column is the
// text the server itself gives for it (CAST(col AS CHAR) in utf8mb4).
func serverText(t *testing.T, conn *sql.Conn, rows map[int64]event.Event, cols ...string) {
	t.Helper()
	sel := "id"
	for _, c := range cols {
		sel += ", CONVERT(CAST(" + c + " AS CHAR) USING utf8mb4)"
	}
	r, err := conn.QueryContext(context.Background(), "SELECT "+sel+" FROM ctypes.snap ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checked := 0
	for r.Next() {
		var id int64
		vals := make([]sql.NullString, len(cols))
		ptrs := []any{&id}
		for i := range vals {
			ptrs = append(ptrs, &vals[i])
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		ev, ok := rows[id]
		if !ok {
			t.Fatalf("row %d not captured", id)
		}
		for i, c := range cols {
			got := ev.After[ev.Table.ColumnIndex(c)]
			if !vals[i].Valid {
				if !got.IsNull() {
					t.Errorf("row %d column %s: captured %v, server NULL", id, c, got)
				}
				continue
			}
			if got.Str() != vals[i].String {
				t.Errorf("row %d column %s: captured %q (%v), server %q", id, c, got.Str(), got, vals[i].String)
			}
			checked++
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no values checked")
	}
}

// TestMySQLCaptureFixedBinaryMinimalMetadata: without the binlog's column
// metadata (binlog_row_metadata=MINIMAL) the schema history alone says a
// BINARY(16) in the binlog is a UUID or INET6: the binlog still delivers
// the text form, as the snapshot does.
func TestMySQLCaptureFixedBinaryMinimalMetadata(t *testing.T) {
	srv := privateMariaDB(t, "--binlog-row-metadata=MINIMAL")
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "CREATE DATABASE cfbt",
		"CREATE TABLE cfbt.t (id INT PRIMARY KEY, u UUID, i4 INET4, i6 INET6, e ENUM('a','😀'))",
		"INSERT INTO cfbt.t VALUES (1, '123e4567-e89b-12d3-a456-426655440000', '192.0.2.1', '::ffff:192.0.2.1', '😀')")
	c := startCapture(t, testSourceConfig(srv), mysql.Options{Store: mysql.NewMemStore()}, nil, dbFilter("cfbt"))
	c.wait("the snapshot", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("t", event.OpRead)) == 1 })
	mustExec(t, db, "INSERT INTO cfbt.t VALUES (2, '123e4567-e89b-12d3-a456-426655440000', '192.0.2.1', '::ffff:192.0.2.1', '😀')")
	evs := c.wait("the insert", 30*time.Second, func(evs []event.Event) bool { return count(evs, ofTable("t", event.OpInsert)) == 1 })
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	r, i := filter(evs, ofTable("t", event.OpRead))[0], filter(evs, ofTable("t", event.OpInsert))[0]
	want := []string{"string:123e4567-e89b-12d3-a456-426655440000", "string:192.0.2.1", "string:::ffff:192.0.2.1", "enum:😀"}
	for k, w := range want {
		if got := r.After[k+1].String(); got != w {
			t.Errorf("snapshot column %s = %s, want %s", r.Table.Columns[k+1].Name, got, w)
		}
		if got := i.After[k+1].String(); got != w {
			t.Errorf("binlog column %s = %s, want %s", i.Table.Columns[k+1].Name, got, w)
		}
	}
	if r.Table.Version != i.Table.Version {
		t.Errorf("schemas differ:\nsnapshot %+v\nbinlog   %+v", r.Table.Columns, i.Table.Columns)
	}
}
