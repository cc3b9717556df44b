package builtin

import "testing"

// TestRegistry: the list builds (no kind twice), and every built-in sink
// can be checked and verified.
func TestRegistry(t *testing.T) {
	r := Registry()
	if got := r.SinkNames(); got != "local, s3, maxcompute, kafka or mysql" {
		t.Errorf("sinks: %s", got)
	}
	if got := r.SourceNames(); got != "mysql, ticdc, kafka, tidb, s3 or maxcompute" {
		t.Errorf("sources: %s", got)
	}
	for _, k := range r.Sinks() {
		if !k.HasCheck() {
			t.Errorf("sink %s has no check", k.Name)
		}
		if k.NewConfig() == nil {
			t.Errorf("sink %s has no settings", k.Name)
		}
	}
}
