package readback

import "testing"

func TestParseSeqRange(t *testing.T) {
	f, l, ext, ok := ParseSeqRange("00000000000000000010-00000000000000000020.jsonl")
	if !ok || f != 10 || l != 20 || ext != "jsonl" {
		t.Fatalf("parseSeqRange = %d %d %q %v", f, l, ext, ok)
	}
	if _, _, ext, _ := ParseSeqRange("00000000000000000010-00000000000000000020.jsonl.tmp"); ext != "jsonl.tmp" {
		t.Errorf("tmp ext = %q", ext)
	}
	if _, _, _, ok := ParseSeqRange("v0000.json"); ok {
		t.Error("schema file parsed as data")
	}
}

func TestVersionOf(t *testing.T) {
	if v, ok := VersionOf("ods_a_t", "ods_a_t"); !ok || v != 1 {
		t.Error("base")
	}
	if v, ok := VersionOf("ods_a_t_v3", "ods_a_t"); !ok || v != 3 {
		t.Error("v3")
	}
	if _, ok := VersionOf("ods_a_t_vx", "ods_a_t"); ok {
		t.Error("vx")
	}
	if _, ok := VersionOf("ods_a_tt", "ods_a_t"); ok {
		t.Error("prefix")
	}
}
