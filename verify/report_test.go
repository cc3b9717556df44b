package verify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	r := &Report{Started: time.Unix(0, 0).UTC(), Finished: time.Unix(2, 0).UTC(), Tables: []TableResult{
		{Table: "shop.orders", Sink: "files", Target: "ods_shop_orders", Status: StatusMismatch, Key: []string{"id"},
			SourceRows: 1000, TargetRows: 999, Chunks: 10, BadChunks: 1,
			Columns: ColumnCheck{Match: false, SourceColumns: 5, TargetColumns: 4, MissingInTarget: []string{"note"}, Retired: []string{"old"}},
			Diffs:   DiffCounts{Changed: 1, Missing: 1},
			ChunkList: []ChunkResult{{Chunk: 3, Range: "id in (300, 400]", Status: StatusMismatch, SourceRows: 100, TargetRows: 99,
				SourceChecksum: "00000000000000aa", TargetChecksum: "00000000000000bb", DiffCounts: DiffCounts{Changed: 1, Missing: 1},
				Examples: []Example{{Key: "id=350", Kind: DiffChanged, Columns: []ValueDiff{{Column: "amount", Source: `"1.50"`, Target: `"1.40"`}}},
					{Key: "id=351", Kind: DiffMissing}}}}},
		{Table: "shop.users", Sink: "files", Target: "ods_shop_users", Status: StatusMatch, SourceRows: 5, TargetRows: 5, Chunks: 1,
			Columns: ColumnCheck{Match: true, SourceColumns: 3, TargetColumns: 3}},
	}}
	r.summarize()
	return r
}

func TestReportText(t *testing.T) {
	r := sampleReport()
	if r.OK() {
		t.Fatal("a report with a mismatch is OK")
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"TABLE ", "shop.orders  files  ods_shop_orders", "MISMATCH", "MATCH",
		"columns missing in the target: note",
		"chunk 3 id in (300, 400]: mismatch (1 changed, 1 missing in target); source 100 rows 00000000000000aa, target 99 rows 00000000000000bb",
		`changed id=350: amount: source "1.50", target "1.40"`, "missing id=351",
		"note: column old is kept from a dropped source column",
		"Summary: 2 tables: 1 match, 1 mismatch, 0 unsettled, 0 errors; 1005 source rows, 1004 target rows, 11 chunks (1 with differences); 1 changed, 1 missing, 0 extra, 0 unsettled keys; 2.0s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func TestReportJSON(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary != r.Summary || len(back.Tables) != 2 || back.Tables[0].ChunkList[0].Examples[0].Columns[0].Target != `"1.40"` {
		t.Errorf("JSON round trip lost data: %+v", back.Summary)
	}
	if !strings.Contains(b.String(), `"chunks_with_differences"`) || !strings.Contains(b.String(), `"missing_in_target"`) {
		t.Errorf("JSON field names:\n%s", b.String())
	}
}

func TestReportOKOnlyWhenAllMatch(t *testing.T) {
	for _, st := range []string{StatusMismatch, StatusUnsettled, StatusError} {
		r := &Report{Tables: []TableResult{{Status: StatusMatch}, {Status: st}}}
		r.summarize()
		if r.OK() {
			t.Errorf("a report with a %s table is OK", st)
		}
	}
	r := &Report{Tables: []TableResult{{Status: StatusMatch}}}
	r.summarize()
	if !r.OK() {
		t.Error("an all-match report is not OK")
	}
}
