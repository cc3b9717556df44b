package odpsemu

import (
	"os"
	"path/filepath"
	"testing"
)

// TestScanSegmentTornTails cuts a three-batch segment at every byte and
// checks that scanning keeps exactly the complete batches.
func TestScanSegmentTornTails(t *testing.T) {
	var file []byte
	var ends []int // file length after each batch
	for b := 0; b < 3; b++ {
		var bb batchBuilder
		for r := 0; r <= b; r++ {
			bb.add([]byte{byte(b), byte(r), 0xaa})
		}
		file = append(file, bb.bytes()...)
		ends = append(ends, len(file))
	}
	path := filepath.Join(t.TempDir(), "s.seg")
	for cut := 0; cut <= len(file); cut++ {
		if err := os.WriteFile(path, file[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		rows, valid, err := scanSegment(path)
		if err != nil {
			t.Fatal(err)
		}
		wantValid, wantRows := 0, int64(0)
		for i, e := range ends {
			if cut >= e {
				wantValid, wantRows = e, int64((i+1)*(i+2)/2)
			}
		}
		if valid != int64(wantValid) || rows != wantRows {
			t.Fatalf("cut at %d: rows=%d valid=%d, want %d %d", cut, rows, valid, wantRows, wantValid)
		}
	}
	// A flipped payload byte invalidates that batch and everything after.
	bad := append([]byte(nil), file...)
	bad[ends[0]+3] ^= 0xff
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if rows, valid, _ := scanSegment(path); rows != 1 || valid != int64(ends[0]) {
		t.Fatalf("corrupt second batch: rows=%d valid=%d", rows, valid)
	}
	// Reading skips whole batches and stops at the limit.
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := readSegmentRecords(path, 2, 3, func(rec []byte) error { got = append(got, rec[0], rec[1]); return nil }); err != nil {
		t.Fatal(err)
	}
	if string(got) != string([]byte{1, 1, 2, 0, 2, 1}) {
		t.Fatalf("records (2,3): %v", got)
	}
}
