package seqstore

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func val(seq uint64, tag string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, seq), tag...)
}

// TestMaxSeq: the value with the highest _seq wins whatever the write
// order, in memtables and after a flush; ties go to the last or, with
// TiesKeepFirst, the first written.
func TestMaxSeq(t *testing.T) {
	cases := []struct {
		name      string
		keepFirst bool
		writes    [][]byte
		flushAt   int // flush before this write (-1: never)
		want      string
	}{
		{"ascending", false, [][]byte{val(1, "a"), val(2, "b"), val(3, "c")}, -1, "c"},
		{"descending", false, [][]byte{val(3, "c"), val(2, "b"), val(1, "a")}, -1, "c"},
		{"mixed, flushed", false, [][]byte{val(2, "b"), val(5, "e"), val(1, "a"), val(4, "d")}, 2, "e"},
		{"tie keeps last", false, [][]byte{val(7, "x"), val(7, "y")}, -1, "y"},
		{"tie keeps first", true, [][]byte{val(7, "x"), val(7, "y")}, -1, "x"},
		{"tie keeps first across a flush", true, [][]byte{val(7, "x"), val(3, "z"), val(7, "y")}, 2, "x"},
		{"tie keeps last across a flush", false, [][]byte{val(7, "x"), val(3, "z"), val(7, "y")}, 2, "y"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s")
			s, err := Open(dir, Options{Name: "test.maxseq", MemTableBytes: 1 << 20, MemTables: 2, CacheBytes: 1 << 20, TiesKeepFirst: c.keepFirst})
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range c.writes {
				if i == c.flushAt {
					if err := s.Flush(); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Merge([]byte("k"), w, pebble.NoSync); err != nil {
					t.Fatal(err)
				}
			}
			v, closer, err := s.Get([]byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			got := string(v[8:])
			closer.Close()
			if got != c.want {
				t.Errorf("kept %q, want %q", got, c.want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("Close left %s: %v", dir, err)
			}
		})
	}
}

func TestSeq(t *testing.T) {
	if Seq(nil) != 0 || Seq([]byte{1, 2}) != 0 || Seq(val(42, "r")) != 42 {
		t.Error("Seq")
	}
}
