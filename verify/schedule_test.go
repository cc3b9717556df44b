package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/schema"
	"github.com/odsync/odsync/sink/local"
)

func TestScheduleConfig(t *testing.T) {
	var c ScheduleConfig
	if c.Enabled() {
		t.Error("the zero config is enabled")
	}
	c.EnsureDefaults()
	if c.Rate != 1000 || c.ChunkSize != 1000 || c.Pause != 10*time.Second || c.Wait != 2*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	bad := ScheduleConfig{Interval: -time.Second, Rate: -1, ChunkSize: -1, Pause: -1}
	err := bad.Validate("verify")
	for _, want := range []string{"verify.interval", "verify.rate", "verify.chunk_size", "verify.pause"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v lacks %s", err, want)
		}
	}
	sinks := []Sink{{Name: "files", Reader: local.NewReader(t.TempDir())}}
	if _, err := NewScheduler(ScheduleConfig{}, Server{}, schema.Config{}, sinks, "", nil, nil); err == nil {
		t.Error("a scheduler with interval 0")
	}
	if _, err := NewScheduler(ScheduleConfig{Interval: time.Minute}, Server{}, schema.Config{}, nil, "", nil, nil); err == nil {
		t.Error("a scheduler without sinks")
	}
	if _, err := NewScheduler(ScheduleConfig{Interval: time.Minute}, Server{}, schema.Config{}, sinks, "", nil, nil); err != nil {
		t.Error(err)
	}
}
