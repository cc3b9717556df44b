package verify

import (
	"fmt"
	"testing"
)

func TestStoreKeepsHighestSeq(t *testing.T) {
	s, err := openStore(t.TempDir(), 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	put := func(key string, seq uint64, op byte) {
		t.Helper()
		if err := s.put([]byte(key), &targetRow{Seq: seq, Op: op, Pos: fmt.Sprintf("binlog.000001:%d", seq), Hash: seq * 7, Canon: []byte{1, 1, 'x'}, Key: []byte("id=" + key)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Out of order, duplicated, across flushes.
	put("b", 5, 'U')
	put("a", 1, 'I')
	put("b", 3, 'I')
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	put("b", 4, 'U')
	put("c", 9, 'I')
	put("c", 10, 'D')
	put("b", 5, 'U')
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	r, err := s.get([]byte("b"))
	if err != nil || r == nil || r.Seq != 5 || r.Hash != 35 || r.Pos != "binlog.000001:5" || string(r.Key) != "id=b" {
		t.Fatalf("b = %+v, %v", r, err)
	}
	r, _ = s.get([]byte("c"))
	if r.live() {
		t.Error("c was deleted last")
	}
	if r, _ := s.get([]byte("zz")); r != nil {
		t.Error("missing key found")
	}
	var got []string
	if err := s.scanTargets([]byte("a"), []byte("c"), func(k []byte, r *targetRow) error {
		got = append(got, fmt.Sprintf("%s@%d", k, r.Seq))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[b@5 c@10]" {
		t.Errorf("scan (a, c] = %v", got)
	}
	got = nil
	_ = s.scanTargets(nil, []byte("b"), func(k []byte, r *targetRow) error { got = append(got, string(k)); return nil })
	if fmt.Sprint(got) != "[a b]" {
		t.Errorf("scan (-inf, b] = %v", got)
	}
	// Suspects live in their own key space.
	if err := s.putSuspect([]byte("b"), (&suspect{chunk: 3, keyText: "id=b", params: []any{int64(-1), uint64(2), "x", []byte{0}, nil, 1.5}}).encode()); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.scanSuspects(func(k, v []byte) error {
		sp, err := decodeSuspect(v)
		if err != nil {
			return err
		}
		if sp.chunk != 3 || sp.keyText != "id=b" || len(sp.params) != 6 || sp.params[0] != int64(-1) || sp.params[5] != 1.5 {
			t.Errorf("suspect = %+v", sp)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d suspects", n)
	}
}
