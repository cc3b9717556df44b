package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestKitOutage takes the sink's server away for a while during a write
// load (S3: versitygw stopped and restarted on the same port and
// directory; MaxCompute: the emulator fails every request with 503; local
// directory: the directory replaced by a file, like an unmounted volume)
// and checks that odsync keeps running and every change lands once the
// server is back.
func TestKitOutage(t *testing.T) {
	kitEach(t, "outage", func(t *testing.T, d kitDriver) {
		r := kitOpen(t, d, "ko_"+d.name, "")
		r.exec(fmt.Sprintf(kitLoadTable, r.name))
		if r.sink.down == nil {
			t.Fatal("the driver has no outage (down/up)")
		}
		r.start()
		stop := kitLoad(t, r, 33)
		time.Sleep(time.Second)
		r.sink.down(t)
		t.Log("sink server down")
		for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if r.exited() {
				r.sink.up(t)
				t.Fatalf("odsync exited during the outage:\n%s", r.logTail())
			}
		}
		r.sink.up(t)
		t.Log("sink server back")
		time.Sleep(time.Second)
		want := stop()
		t.Logf("%d changes", len(want))
		if d.system == kitState {
			r.waitState("t", 90*time.Second)
			r.stop()
			if !strings.Contains(readFile(t, r.stateLog()), "sink write failed; retrying") {
				t.Errorf("no failed write during the outage:\n%s", r.logTail())
			}
			return
		}
		r.wait(r.table("t"), 90*time.Second, seqsAtLeast(len(want)))
		r.stop()
		kitCheckChanges(t, r.sink, r.sink.read(t, r.table("t")), want)
		if log := readFile(t, r.log); strings.Contains(log, "panic") {
			t.Fatalf("odsync panicked:\n%s", log)
		}
	})
}
