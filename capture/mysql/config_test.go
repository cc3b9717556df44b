package mysql

import "testing"

func TestDefaultServerID(t *testing.T) {
	a := DefaultServerID("/var/lib/odsync/a")
	if a != DefaultServerID("/var/lib/odsync/a") {
		t.Fatal("not stable for one state dir")
	}
	if a == DefaultServerID("/var/lib/odsync/b") {
		t.Fatal("two state dirs on one host share a server_id")
	}
	for _, dir := range []string{"", ".", "/x", "/var/lib/odsync/a", "relative/dir"} {
		id := DefaultServerID(dir)
		if id < 1<<30 || uint64(id)+1<<16 >= 1<<31 {
			t.Fatalf("DefaultServerID(%q) = %d, outside [2^30, 2^31-2^16)", dir, id)
		}
	}
}
