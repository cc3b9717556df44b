package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/harness/s3server"
	"github.com/odsync/odsync/integration/harness"
)

// largeMsgFeed writes TiCDC's large-message forms (handle-key-only and
// claim-check) of one protocol to a topic.
type largeMsgFeed struct {
	t    *testing.T
	p    *kh.Producer
	s3   *s3server.Server
	open bool
	db   string
	n    int
}

// keyTable is a table with only its handle key, as the messages carry it.
func (f *largeMsgFeed) keyTable(name string) *kh.Table {
	return &kh.Table{DB: f.db, Name: name, Cols: []kh.Col{{Name: "id", MySQLType: "bigint", SQLType: -5, OpenType: 8}}}
}

// keyOnly builds a key-only row message of op at ts, marked by mark: the
// canal-json _tidb field or the open-protocol key field (without braces).
func (f *largeMsgFeed) keyOnly(table, op string, ts uint64, id string, canalMark, openMark string) kh.Message {
	kt := f.keyTable(table)
	row := kh.Row{kh.V(id)}
	var old kh.Row
	if op == "UPDATE" {
		old = row
	}
	if f.open {
		ev := kt.OpenRow(op, ts, row, old)
		ev.Key = append(ev.Key[:len(ev.Key)-1], []byte(","+openMark+"}")...)
		var m kh.Message
		m.Key, m.Value = kh.OpenBatch(ev)
		return m
	}
	m := kt.CanalRow(op, ts, row, old)
	return kh.Message{Value: append(m[:len(m)-2], []byte(","+canalMark+"}}")...)}
}

// handleKeyOnly sends a handle-key-only message: odsync re-reads the row
// from TiDB at ts (ts-1 for before images).
func (f *largeMsgFeed) handleKeyOnly(table, op string, ts uint64, id string) {
	f.send(f.keyOnly(table, op, ts, id, `"onlyHandleKey":true`, `"ohk":true`))
}

// claimCheck stores the full message in S3 and sends its claim-check
// message (the handle key and the location).
func (f *largeMsgFeed) claimCheck(table, op string, ts uint64, id string, full kh.Message) {
	f.n++
	name := fmt.Sprintf("%s-%d.json", table, f.n)
	obj, err := json.Marshal(struct {
		Key   []byte `json:"key"`
		Value []byte `json:"value"`
	}{full.Key, full.Value})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.s3.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ods"), Key: aws.String("claims/" + name),
		Body: strings.NewReader(string(obj))}); err != nil {
		f.t.Fatal(err)
	}
	// TiCDC writes <claim-check-storage-uri>/<name>; odsync reads <name>
	// under its own claim_check.uri.
	loc := "s3://ticdc-claims/cc/" + name
	f.send(f.keyOnly(table, op, ts, id, `"claimCheckLocation":"`+loc+`"`, `"ccl":"`+loc+`"`))
}

// evFull is a full message of the ev table as TiCDC writes it.
func (f *largeMsgFeed) evFull(op string, ts uint64, row, old kh.Row) kh.Message {
	tbl := evTable(f.db)
	if !f.open {
		return kh.Message{Value: tbl.CanalRow(op, ts, row, old)}
	}
	ev := tbl.OpenRow(op, ts, row, old)
	ev.Value = []byte(strings.ReplaceAll(string(ev.Value), `"u":{"t":8,"f":64`, `"u":{"t":8,"f":192`))
	var m kh.Message
	m.Key, m.Value = kh.OpenBatch(ev)
	return m
}

func (f *largeMsgFeed) watermark(ts uint64) {
	if f.open {
		var m kh.Message
		m.Key, m.Value = kh.OpenBatch(kh.OpenResolved(ts))
		f.send(m)
		return
	}
	f.send(kh.Message{Value: kh.CanalWatermark(ts)})
}

func (f *largeMsgFeed) send(m kh.Message) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.p.Produce(ctx, m); err != nil {
		f.t.Fatal(err)
	}
}

// TestTiDBLargeMessages: TiCDC's large-message fallbacks against a real
// tidb-server and a real S3 server, in canal-json and open-protocol.
// handle-key-only INSERT/UPDATE/DELETE of rows of every TiDB type are
// re-read at their commit TSO — an UPDATE made after a message's commitTs
// is not what that message applies; claim-check messages are read from
// S3. The ODS then equals TiDB (verify MATCHes, by rows and by server
// checksums). Finally a message whose row cannot be re-read stops the
// source with an error naming the table, the message's position and the
// cause: a key without a row at the snapshot (canal-json), a commitTs
// before TiDB's GC safe point (open-protocol).
//
// Not parallel: the GC case moves the shared server's GC safe point.
func TestTiDBLargeMessages(t *testing.T) {
	srv := harness.TiDB(t)
	s3srv := startS3(t)
	for _, protocol := range []string{"canal-json", "open-protocol"} {
		t.Run(protocol, func(t *testing.T) {
			open := protocol == "open-protocol"
			db := "lm_" + strings.ReplaceAll(protocol, "-", "_")
			_, c := tidbConn(t, srv)
			tidbExec(t, c, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db, "USE "+db, tidbTypesDDL[0], evDDL)
			cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 1}})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			f := &largeMsgFeed{t: t, p: cl.Producer("cdc"), s3: s3srv, open: open, db: db}
			defer f.p.Close()

			dir := t.TempDir()
			cfg := filepath.Join(dir, "odsync.yaml")
			harness.WriteFile(t, cfg, fmt.Sprintf(`state:
  dir: %s
source:
  type: tidb
  tidb:
    dsn: %s
  ticdc:
    brokers: [%s]
    topics: [cdc]
    protocol: %s
    fetch_max_wait: 100ms
    checkpoint_interval: 200ms
    claim_check:
      uri: s3://ods/claims
      endpoint: %s
      region: %s
      access_key_id: %s
      secret_access_key: %s
      path_style: true
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
`, filepath.Join(dir, "state"), srv.DSN(""), strings.Join(cl.Addrs, ", "), protocol, s3srv.Endpoint, s3server.Region,
				s3srv.AccessKey, s3srv.SecretKey, db, filepath.Join(dir, "ods")))
			logPath := filepath.Join(dir, "odsync.log")
			p := harness.Start(t, logPath, "run", "-c", cfg)
			waitLog(t, logPath, "TiDB snapshot done", 1, 2*time.Minute)

			// Every change is made first, the messages are sent after:
			// each re-read must see its own commit, not the current row.
			ins := commitTs(t, c, strings.Replace(tidbTypesDDL[1], "INSERT INTO types", "INSERT INTO "+db+".types", 1))
			upd1 := commitTs(t, c, "UPDATE types SET vc = 'second', d = 1.5, j = '{\"v\": 2}' WHERE id = 1")
			upd2 := commitTs(t, c, "UPDATE types SET vc = 'third', db = -0.5 WHERE id = 1")
			del := commitTs(t, c, "DELETE FROM types WHERE id = 2")
			// The ev table through claim-check: full messages in S3.
			ts := commitTs(t, c, "INSERT INTO ev VALUES (5, 5.5, 'b', 'x,z', 'claimed', '2024-01-05 10:00:00.123456', 18446744073709551615, '{\"n\": 5}')")
			row5 := evRow(t, c, db, 5, open)
			f.handleKeyOnly("types", "INSERT", ins, "1")
			f.handleKeyOnly("types", "INSERT", ins, "2")
			f.handleKeyOnly("types", "INSERT", ins, "3")
			f.handleKeyOnly("types", "INSERT", ins, "4")
			f.handleKeyOnly("types", "UPDATE", upd1, "1")
			f.handleKeyOnly("types", "UPDATE", upd2, "1")
			f.handleKeyOnly("types", "DELETE", del, "2")
			f.claimCheck("ev", "INSERT", ts, "5", f.evFull("INSERT", ts, row5, nil))
			ts = commitTs(t, c, "UPDATE ev SET v = 'claimed-update', d = -0.000000000000000000000000000001 WHERE id = 5")
			row5u := evRow(t, c, db, 5, open)
			f.claimCheck("ev", "UPDATE", ts, "5", f.evFull("UPDATE", ts, row5u, row5))
			ts = commitTs(t, c, "INSERT INTO ev (id, v) VALUES (6, 'gone')")
			row6 := evRow(t, c, db, 6, open)
			f.claimCheck("ev", "INSERT", ts, "6", f.evFull("INSERT", ts, row6, nil))
			ts = commitTs(t, c, "DELETE FROM ev WHERE id = 6")
			f.claimCheck("ev", "DELETE", ts, "6", f.evFull("DELETE", ts, row6, nil))
			f.watermark(ts)

			ods := filepath.Join(dir, "ods")
			harness.Eventually(t, 60*time.Second, "every change in the ODS", func() (bool, string) {
				if p.Exited() {
					t.Fatalf("odsync exited:\n%s", readFile(t, logPath))
				}
				n := 0
				for _, r := range harness.ReadODS(t, ods) {
					if strings.HasSuffix(r.Table, "_ev") || strings.HasSuffix(r.Table, "_types") {
						n++
					}
				}
				return n >= 11, fmt.Sprintf("%d of 11 rows", n)
			})
			var typeOps, evOps []string
			var vcs []string
			for _, r := range harness.ReadODS(t, ods) {
				id := fmt.Sprint(r.Data["id"])
				switch {
				case strings.HasSuffix(r.Table, "_types"):
					typeOps = append(typeOps, r.Op()+id)
					if id == "1" {
						vcs = append(vcs, fmt.Sprint(r.Data["vc"])+"/"+fmt.Sprint(r.Data["db"]))
					}
					if r.Op() == "D" && fmt.Sprint(r.Data["bi"]) != "9223372036854775807" {
						t.Errorf("the deleted row's image: bi = %v, want row 2's 9223372036854775807 (re-read at commitTs-1)", r.Data["bi"])
					}
				case strings.HasSuffix(r.Table, "_ev"):
					evOps = append(evOps, r.Op()+id+"="+fmt.Sprint(r.Data["v"]))
				}
			}
			if got := strings.Join(typeOps, " "); got != "I1 I2 I3 I4 U1 U1 D2" {
				t.Errorf("types in the ODS: %s, want I1 I2 I3 I4 U1 U1 D2", got)
			}
			// Each image as of its own commit: the insert before both
			// updates, the first update before the second.
			want := []string{"Ünïcödé 😀 'q' \\ <x>/1.7976931348623157e+308", "second/1.7976931348623157e+308", "third/-0.5"}
			if strings.Join(vcs, " | ") != strings.Join(want, " | ") {
				t.Errorf("row 1 in the ODS (vc/db per change): %q, want %q", vcs, want)
			}
			if got := strings.Join(evOps, " "); got != "I5=claimed U5=claimed-update I6=gone D6=gone" {
				t.Errorf("ev (claim-check) in the ODS: %s", got)
			}
			for _, mode := range []string{"rows", "sql"} {
				if out, code := runVerifyCommand(t, "-c", cfg, "--checksum", mode, "--settle", "1s", "--wait", "10s"); code != 0 {
					t.Errorf("verify --checksum %s: exit %d, want 0 (MATCH):\n%s", mode, code, out)
				}
			}

			// A row that cannot be re-read: a clear, permanent error.
			var want2 []string
			if !open {
				now := commitTs(t, c, "INSERT INTO ev (id) VALUES (7)")
				f.handleKeyOnly("types", "INSERT", now, "99")
				f.watermark(now)
				want2 = []string{"topic cdc partition 0 offset 12", "table " + db + ".types", "commitTs", "no row of " + db + ".types with key id=99 at the snapshot"}
			} else {
				now := commitTs(t, c, "UPDATE types SET vc = 'after-gc' WHERE id = 3")
				tidbExec(t, c, "UPDATE mysql.tidb SET VARIABLE_VALUE = '"+time.Now().UTC().Add(time.Second).Format("20060102-15:04:05.000 -0700")+"' WHERE VARIABLE_NAME = 'tikv_gc_safe_point'")
				defer tidbExec(t, c, "UPDATE mysql.tidb SET VARIABLE_VALUE = '20000101-00:00:00.000 +0000' WHERE VARIABLE_NAME = 'tikv_gc_safe_point'")
				time.Sleep(1500 * time.Millisecond)
				f.handleKeyOnly("types", "UPDATE", now, "3")
				f.watermark(now)
				want2 = []string{"topic cdc partition 0 offset 12", "table " + db + ".types", "tidb_snapshot", "GC"}
			}
			harness.Eventually(t, 60*time.Second, "the re-read error in odsync's log", func() (bool, string) {
				log := readFile(t, logPath)
				for _, w := range want2 {
					if !strings.Contains(log, w) {
						return false, "no " + w
					}
				}
				return true, ""
			})
			lines := strings.Split(readFile(t, logPath), "\n")
			for _, l := range lines {
				if strings.Contains(l, want2[0]) {
					t.Logf("the error: %s", l)
					break
				}
			}
			p.Kill()
		})
	}
}
