package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	kh "github.com/odsync/odsync/harness/kafka"
	"github.com/odsync/odsync/integration/harness"
	"github.com/odsync/odsync/verify"
)

// verifyChecksumJSON runs `odsync verify --json` on one table with the
// given checksum mode and chunk size and returns its result.
func verifyChecksumJSON(t *testing.T, cfg, table, mode string, chunk, want int) *verify.TableResult {
	t.Helper()
	out, code := runVerifyCommand(t, "-c", cfg, "--table", table, "--json", "--checksum", mode,
		"--chunk-size", strconv.Itoa(chunk), "--settle", "1s", "--wait", "20s", "--rounds", "2")
	var rep verify.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("verify --checksum %s: exit %d, not a JSON report (%v):\n%s", mode, code, err, out)
	}
	if code != want {
		t.Fatalf("verify --checksum %s: exit %d, want %d:\n%s", mode, code, want, out)
	}
	return tableResult(t, &rep, table)
}

// checkServerChecksums: with server-side checksums an equal table MATCHes
// without one source row transferred (only one key per chunk bound); the
// rows mode reads every row; after a value is changed in the source
// behind the capture's back, exactly the chunk holding it is read row by
// row and the difference is reported there.
func checkServerChecksums(t *testing.T, cfg, table string, ids []int64, chunk int, tamper func(), tamperedID int64, column string) {
	t.Helper()
	tr := verifyChecksumJSON(t, cfg, table, verify.ChecksumSQL, chunk, 0)
	wantChunks := len(ids)/chunk + 1
	if tr.Status != verify.StatusMatch || tr.Checksum != verify.ChecksumSQL || tr.SourceRowsRead != 0 || tr.RowChunks != 0 ||
		tr.SourceRows != int64(len(ids)) || tr.TargetRows != int64(len(ids)) || tr.Chunks != wantChunks || tr.SourceKeysRead != int64(wantChunks-1) {
		t.Fatalf("server checksums of an equal table: status %s, checksum %q, %d source rows read, %d row chunks, %d/%d rows, %d chunks, %d keys read; want match, sql, 0, 0, %d rows, %d chunks (one bound key each but the last); notes %v",
			tr.Status, tr.Checksum, tr.SourceRowsRead, tr.RowChunks, tr.SourceRows, tr.TargetRows, tr.Chunks, tr.SourceKeysRead, len(ids), wantChunks, tr.Notes)
	}
	t.Logf("%s MATCH with server checksums: %d rows, %d chunks, %d source rows transferred, %d bound keys", table, tr.SourceRows, tr.Chunks, tr.SourceRowsRead, tr.SourceKeysRead)
	rows := verifyChecksumJSON(t, cfg, table, verify.ChecksumRows, chunk, 0)
	if rows.Checksum != verify.ChecksumRows || rows.SourceRowsRead != int64(len(ids)) {
		t.Errorf("rows mode: checksum %q, %d source rows read, want %d", rows.Checksum, rows.SourceRowsRead, len(ids))
	}

	tamper()
	tr = verifyChecksumJSON(t, cfg, table, verify.ChecksumSQL, chunk, 1)
	key := fmt.Sprintf("id=%d", tamperedID)
	wantChunk := chunkOf(ids, tamperedID, chunk)
	if tr.Status != verify.StatusMismatch || tr.Diffs.Changed != 1 || tr.Diffs.Missing+tr.Diffs.Extra != 0 || tr.RowChunks != 1 ||
		len(tr.ChunkList) != 1 || tr.ChunkList[0].Chunk != wantChunk {
		t.Fatalf("after tampering %s: status %s, diffs %+v, %d row chunks, chunks %+v; want one changed key in chunk %d", key, tr.Status, tr.Diffs, tr.RowChunks, tr.ChunkList, wantChunk)
	}
	ex := tr.ChunkList[0].Examples
	if len(ex) != 1 || ex[0].Key != key || len(ex[0].Columns) != 1 || ex[0].Columns[0].Column != column {
		t.Errorf("after tampering %s.%s: examples %+v", key, column, ex)
	}
	// The mismatching chunk and the re-check reads of one key per round.
	if tr.SourceRowsRead < int64(chunk) || tr.SourceRowsRead > int64(chunk+4) {
		t.Errorf("after tampering: %d source rows read, want the chunk's %d plus the re-checks", tr.SourceRowsRead, chunk)
	}
	t.Logf("%s MISMATCH localized to chunk %d (%s): %d source rows transferred", table, wantChunk, tr.ChunkList[0].Range, tr.SourceRowsRead)
}

// TestVerifyServerChecksumMariaDB: server-side checksums over a table of
// every type of the kit (MariaDB), zero dates in _raw included.
func TestVerifyServerChecksumMariaDB(t *testing.T) {
	srv := harness.MariaDB(t)
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "DROP DATABASE IF EXISTS vsc", "CREATE DATABASE vsc")
	dir := t.TempDir()
	cfg := localConfig(t, dir, srv.Addr(), "vsc", "max_age: 100ms")
	p := harness.Start(t, filepath.Join(dir, "odsync.log"), "run", "-c", cfg)
	waitRunning(t, p)
	var defs, cols []string
	var types []kitType
	for _, topic := range kitTypes {
		for _, ty := range topic.types {
			defs = append(defs, ty.col+" "+ty.ddl)
			cols = append(cols, ty.col)
			types = append(types, ty)
		}
	}
	mustExec(t, db, fmt.Sprintf("CREATE TABLE vsc.t (id INT PRIMARY KEY, %s) DEFAULT CHARSET=utf8mb4", strings.Join(defs, ", ")))
	n := kitTypeRows(types) + 1
	var ids []int64
	for copy := 0; copy < 8; copy++ {
		var rows []string
		for i := 0; i < n; i++ {
			id := copy*n + i + 1
			ids = append(ids, int64(id))
			vals := []string{strconv.Itoa(id)}
			for _, ty := range types {
				if i < len(ty.cells) {
					vals = append(vals, ty.cells[i].sql)
				} else {
					vals = append(vals, "NULL")
				}
			}
			rows = append(rows, "("+strings.Join(vals, ", ")+")")
		}
		mustExec(t, db, fmt.Sprintf("INSERT INTO vsc.t (id, %s) VALUES %s", strings.Join(cols, ", "), strings.Join(rows, ", ")))
	}
	waitForSentinel(t, db, "vsc", filepath.Join(dir, "ods"))
	tampered := ids[len(ids)/2]
	checkServerChecksums(t, cfg, "vsc.t", ids, 8, func() {
		unlogged(t, db, fmt.Sprintf("UPDATE vsc.t SET dbl = 1.5 WHERE id = %d", tampered))
	}, tampered, "dbl")
}

// TestVerifyServerChecksumTiDB: server-side checksums over TiDB's type
// table (the snapshot's full load into a local sink).
func TestVerifyServerChecksumTiDB(t *testing.T) {
	srv := harness.TiDB(t)
	const db = "vsc_tidb"
	_, c := tidbConn(t, srv)
	tidbExec(t, c, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db, "USE "+db)
	tidbExec(t, c, tidbTypesDDL...)
	ids := []int64{1, 2, 3, 4}
	for k := 1; k <= 5; k++ {
		tidbExec(t, c, "DROP TABLE IF EXISTS tmp", "CREATE TABLE tmp LIKE types", "INSERT INTO tmp SELECT * FROM types WHERE id <= 4",
			fmt.Sprintf("UPDATE tmp SET id = id + %d", 10*k), "INSERT INTO types SELECT * FROM tmp", "DROP TABLE tmp")
		for i := int64(1); i <= 4; i++ {
			ids = append(ids, int64(10*k)+i)
		}
	}
	cl, err := kh.Start(kh.Options{Topics: map[string]int{"cdc": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dir := t.TempDir()
	cfg := tidbConfig(t, dir, srv, cl.Addrs, "cdc", "canal-json", db, "")
	logPath := filepath.Join(dir, "odsync.log")
	p := harness.Start(t, logPath, "run", "-c", cfg)
	waitLog(t, logPath, "TiDB snapshot done", 1, 2*time.Minute)
	// No changefeed runs: stopped (its sink drained), odsync's ODS is
	// settled, and TiDB changes from now on are behind its back.
	if code, err := p.Stop(60 * time.Second); err != nil || code != 0 {
		t.Fatalf("odsync stop: exit %d %v:\n%s", code, err, readFile(t, logPath))
	}
	tampered := int64(32)
	checkServerChecksums(t, cfg, db+".types", ids, 5, func() {
		tidbExec(t, c, fmt.Sprintf("UPDATE types SET db = 1.5 WHERE id = %d", tampered))
	}, tampered, "db")
}
