package verify

import (
	"github.com/odsync/odsync/sink/local"
	"os"
	"path/filepath"
	"testing"
)

func TestParsePosAndCompare(t *testing.T) {
	p, ok := parsePos("binlog.000002:1234 gtid=0-1-57")
	if !ok || p.file != "binlog.000002" || p.offset != 1234 || p.gtid != "0-1-57" {
		t.Fatalf("parsePos = %+v %v", p, ok)
	}
	if comparePos(p, "binlog.000010", 4) >= 0 {
		t.Error("binlog.000002 sorts after binlog.000010")
	}
	if comparePos(p, "binlog.000002", 1234) != 0 || comparePos(p, "binlog.000002", 1000) <= 0 {
		t.Error("offset comparison wrong")
	}
	if _, ok := parsePos("topic/0:15"); !ok {
		t.Error("kafka-style positions parse as file:offset")
	}
	if !sameLog("binlog.000002", "binlog.000010") || sameLog("binlog.000002", "mysql-bin.000002") || sameLog("topic/0", "binlog.000001") || sameLog("tidb-binlog", "tidb-binlog") {
		t.Error("sameLog wrong")
	}
	if _, ok := parsePos("garbage"); ok {
		t.Error("garbage parsed")
	}
}

func TestGTIDCovers(t *testing.T) {
	for _, tc := range []struct {
		row, state, uuid string
		covers, ok       bool
	}{
		{"0-1-57", "0-1-57", "", true, true},
		{"0-1-56", "0-1-57", "", false, true},
		{"0-1-58", "0-1-57", "", true, true},
		{"1-1-58", "0-1-57", "", false, false},
		{"0-1-58", "0-1-57,1-1-3", "", false, false},
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:23", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-23,aaaa:1-5", "3E11FA47-71CA-11E1-9E33-C80AA9429562", true, true},
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:22", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10:12-23", "3e11fa47-71ca-11e1-9e33-c80aa9429562", false, true},
		{"", "0-1-1", "", false, false},
	} {
		c, ok := gtidCovers(tc.row, tc.state, tc.uuid)
		if c != tc.covers || ok != tc.ok {
			t.Errorf("gtidCovers(%q, %q) = %v, %v; want %v, %v", tc.row, tc.state, c, ok, tc.covers, tc.ok)
		}
	}
	if !gtidSetCovers("0-1-60,1-2-5", "0-1-57") || gtidSetCovers("0-1-50", "0-1-57") || gtidSetCovers("0-1-60", "0-1-57,1-1-1") {
		t.Error("MariaDB gtidSetCovers wrong")
	}
	if !gtidSetCovers("u1:1-30,u2:1-5", "u1:1-30") || gtidSetCovers("u1:1-29", "u1:1-30") {
		t.Error("MySQL gtidSetCovers wrong")
	}
	if !checkpointCovers("binlog.000003:400 gtid=0-1-9", Watermark{File: "binlog.000003", Offset: 400}) ||
		checkpointCovers("binlog.000003:399", Watermark{File: "binlog.000003", Offset: 400}) {
		t.Error("checkpointCovers wrong")
	}
}

func TestLocalLayoutPicksNewestVersionAndSchema(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ods_a_t/_schema/v1.json", `{"name":"ods_a_t","version":1,"columns":[{"name":"_op","type":"string","meta":"_op"},{"name":"id","type":"bigint","source":"id"}]}`)
	write("ods_a_t_v2/_schema/v2.json", `{"name":"ods_a_t_v2","version":2,"columns":[{"name":"_op","type":"string","meta":"_op"},{"name":"id","type":"string","source":"id"},{"name":"old","type":"int"}]}`)
	l, err := local.NewReader(dir).Layout(t.Context(), "ods_a_t")
	if err != nil {
		t.Fatal(err)
	}
	if !l.Found || l.Name != "ods_a_t_v2" || l.Existing.Version != 2 || len(l.Existing.Columns) != 3 {
		t.Fatalf("layout = %+v", l)
	}
	if src, ok := l.Sources["old"]; !ok || src != "" {
		t.Errorf("retired column source = %q, %v", src, ok)
	}
	if l.Sources["id"] != "id" {
		t.Errorf("id source = %q", l.Sources["id"])
	}
	if _, ok := l.Sources["_op"]; ok {
		t.Error("metadata columns have no source entry")
	}
	none, err := local.NewReader(dir).Layout(t.Context(), "ods_a_x")
	if err != nil || none.Found {
		t.Errorf("missing table: %+v %v", none, err)
	}
}
