package offsets

import (
	"context"
	"testing"
)

// Appends of changing sizes reuse, outgrow and drop the append batch's
// buffer (and ReleaseBuffers drops it between appends); every event must
// read back as appended.
func TestAppendBufferReuse(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	var want []uint64
	for i, n := range []int{10, 2000, 1500, 30000, 40, 60000, 3, 2000} {
		evs := benchEvents(n)
		if i == 4 {
			l.ReleaseBuffers()
		}
		if _, err := l.Append(ctx, evs, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if i == 2 && l.app.batchCap == 0 {
			t.Fatal("a buffer below the retained size was not kept")
		}
		if i == 5 && l.app.batchCap != 0 {
			t.Fatalf("a buffer of %d bytes was kept", l.app.batchCap)
		}
		for j := range evs {
			want = append(want, uint64(evs[j].After[0].Int()))
		}
	}
	got, err := l.Read(1, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Seq != uint64(i+1) || uint64(got[i].After[0].Int()) != want[i] || got[i].After[5].Str() != "a note of about eighty bytes, which is what a typical text column holds here....." {
			t.Fatalf("event %d: seq %d id %d, want seq %d id %d", i, got[i].Seq, got[i].After[0].Int(), i+1, want[i])
		}
	}
}
