package kafka

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/odsync/odsync/capture/kafka/codec"
)

// A merger that spills emits exactly what one that holds everything in
// memory emits (events, transactions, chunks and checkpoints), keeps its
// memory near max_buffer_bytes, and holds every partition's checkpoint
// offset at or before the messages whose rows are only on disk.
func TestMergerSpillMatchesInMemory(t *testing.T) {
	type step struct {
		part  int
		units []codec.Decoded
	}
	var steps []step
	add := func(p int, u ...codec.Decoded) { steps = append(steps, step{p, u}) }
	// A transaction of 300 rows at ts 20 over both partitions and two
	// tables, rows before and after it, a DDL, interleaved watermarks.
	add(0, mrow("a", 10, 1, "before"))
	add(1, mrow("b", 11, 2, "before"))
	add(0, mwm(12))
	add(1, mwm(12))
	for i := 0; i < 300; i++ {
		add(i%2, mrow([]string{"a", "b"}[i%3%2], 20, int64(100+i), strings.Repeat("v", 50)))
		if i == 150 {
			add(1, mddl("b", 15, "ALTER TABLE b ADD c INT"))
			add(0, mddl("b", 15, "ALTER TABLE b ADD c INT")) // the broadcast copy
		}
	}
	add(0, mrow("a", 30, 3, "after"), mwm(25))
	add(1, mwm(25))
	add(1, mrow("b", 31, 4, "after"), mwm(40))
	add(0, mwm(40))

	run := func(spill bool) (*mergerHarness, []int64) {
		h := newMergerHarness(t, 2, func(c *mergerConfig) {
			c.maxBuffer, c.maxEmit, c.cpInterval = 4000, 40, 0
			c.spill, c.spillDir = spill, t.TempDir()
		})
		var peak int64
		for _, s := range steps {
			h.mustSend(s.part, s.units...)
			peak = max(peak, h.m.bufBytes)
			if spill && len(h.m.runs) > 0 {
				// Rows of partition 0's first messages are on disk, not
				// yet emitted: its checkpoint offset stays at them.
				if cp := h.m.checkpoint(); cp.Partitions[0].Offset > 4 {
					t.Fatalf("checkpoint offset %d passes spilled rows (runs %d)", cp.Partitions[0].Offset, len(h.m.runs))
				}
			}
		}
		return h, []int64{peak, int64(h.m.stats.Spills)}
	}
	mem, memStats := run(false)
	disk, diskStats := run(true)
	if diskStats[1] == 0 {
		t.Fatal("nothing was spilled")
	}
	if limit := int64(spillThreshold*4000) + 1000; diskStats[0] > limit {
		t.Fatalf("peak buffered bytes %d with spilling (limit %d; %d without)", diskStats[0], limit, memStats[0])
	}
	if got, want := disk.log(), mem.log(); got != want {
		t.Fatalf("spilled order differs:\n got %s\nwant %s", got, want)
	}
	if len(disk.out) != len(mem.out) {
		t.Fatalf("%d emits with spilling, %d without", len(disk.out), len(mem.out))
	}
	for i := range mem.out {
		if !reflect.DeepEqual(disk.out[i].cp, mem.out[i].cp) {
			t.Fatalf("emit %d: checkpoint %+v with spilling, %+v without", i, disk.out[i].cp, mem.out[i].cp)
		}
		for j := range mem.out[i].events {
			a, b := mem.out[i].events[j], disk.out[i].events[j]
			if fmt.Sprint(a.Row(), a.Pos, a.Source, a.Op, a.DDL, a.CommitTime, a.TxnEnd) != fmt.Sprint(b.Row(), b.Pos, b.Source, b.Op, b.DDL, b.CommitTime, b.TxnEnd) || (a.Table == nil) != (b.Table == nil) || a.Table != nil && a.Table.Version != b.Table.Version {
				t.Fatalf("emit %d event %d differs: %+v, spilled %+v", i, j, a, b)
			}
		}
	}
	if len(disk.m.runs) != 0 || disk.m.spilledBytes != 0 || len(disk.m.ddls) != 0 {
		t.Fatalf("after the release: %d runs, %d spilled bytes, %d DDL keys", len(disk.m.runs), disk.m.spilledBytes, len(disk.m.ddls))
	}
	for _, p := range disk.parts {
		if len(p.spilled) != 0 || p.offset() != p.next {
			t.Fatalf("partition %d: spilled %v, offset %d, next %d", p.tp.partition, p.spilled, p.offset(), p.next)
		}
	}
}

func TestFPSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		fps  []uint64
		new  []bool
	}{
		{"distinct", []uint64{1, 2, 3}, []bool{true, true, true}},
		{"repeat", []uint64{7, 7, 8, 7}, []bool{true, false, true, false}},
		{"zero is one", []uint64{0, 1, 0}, []bool{true, false, false}},
		{"same low bits", []uint64{1 << 40, 2 << 40, 1 << 40}, []bool{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s fpSet
			for i, fp := range tc.fps {
				if got := s.add(fp); got != tc.new[i] {
					t.Fatalf("add(%d) #%d = %v, want %v", fp, i, got, tc.new[i])
				}
			}
		})
	}
	// Growth keeps every member; reset forgets them.
	var s fpSet
	for i := uint64(0); i < 100000; i++ {
		if !s.add(i*2654435761 + 5) {
			t.Fatalf("%d reported present", i)
		}
	}
	for i := uint64(0); i < 100000; i++ {
		if s.add(i*2654435761 + 5) {
			t.Fatalf("%d lost after growth", i)
		}
	}
	if s.n != 100000 || len(s.slots) > 1<<18 {
		t.Fatalf("%d members in %d slots", s.n, len(s.slots))
	}
	s.reset()
	if !s.add(5) || s.slots != nil && len(s.slots) > 1024 {
		t.Fatalf("reset kept members or the large table (%d slots)", len(s.slots))
	}
}
