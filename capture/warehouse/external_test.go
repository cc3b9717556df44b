package warehouse

import (
	"fmt"
	"testing"
	"time"
)

func TestExtMarkRule(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	settle := 5 * time.Minute
	u := func(name string, mod time.Duration) unit { return unit{name: name, mod: t0.Add(mod)} }
	m := &extMark{Mark: t0, Seen: map[string]time.Time{"k/b": t0.Add(-time.Minute)}}
	for _, c := range []struct {
		u    unit
		read bool
	}{
		{u("k/a", -5*time.Minute), true},              // at Mark−settle: covered by the mark
		{u("k/a", -5*time.Minute+time.Second), false}, // after it, not in Seen
		{u("k/b", -time.Minute), true},                // in Seen
		{u("k/b", time.Second), false},                // rewritten: a new time
		{u("k/c", -time.Hour), true},                  // appears late with an old time: never read (the documented edge)
		{u("k/d", time.Minute), false},                // new
	} {
		if got := m.read(c.u, settle); got != c.read {
			t.Errorf("read(%s at %s) = %v, want %v", c.u.name, c.u.mod.Sub(t0), got, c.read)
		}
	}

	// pending: unread by key, the object being read first with its rows.
	m.Obj, m.ObjMod, m.Rows = "k/z", t0.Add(time.Minute), 7
	todo, skip := m.pending([]unit{u("k/d", time.Minute), u("k/z", time.Minute), u("k/b", -time.Minute), u("k/c", 2*time.Minute)}, settle)
	if fmt.Sprint(names(todo), skip) != "[k/z k/c k/d] 7" {
		t.Errorf("pending: %v, skip %d", names(todo), skip)
	}
	// The object being read was rewritten: read whole, in key order.
	todo, skip = m.pending([]unit{u("k/d", time.Minute), u("k/z", 3*time.Minute)}, settle)
	if fmt.Sprint(names(todo), skip) != "[k/d k/z] 0" {
		t.Errorf("pending after a rewrite: %v, skip %d", names(todo), skip)
	}

	// advance: to the newest read, but not past an unread one's time +
	// settle; keys the mark covers are dropped.
	m = &extMark{Mark: t0}
	k1, k2 := u("k/1", time.Hour), u("k/2", 10*time.Minute)
	m.done(k1)
	m.advance([]unit{k2}, settle)
	if want := k2.mod.Add(settle - time.Nanosecond); !m.Mark.Equal(want) || m.read(k2, settle) || !m.read(k1, settle) {
		t.Fatalf("after k1 with k2 unread: mark %s (want %s), k2 read %v, k1 read %v", m.Mark, want, m.read(k2, settle), m.read(k1, settle))
	}
	m.done(k2)
	m.advance(nil, settle)
	if !m.Mark.Equal(k1.mod) || len(m.Seen) != 1 || !m.read(k2, settle) || !m.read(k1, settle) {
		t.Errorf("after k2: mark %s, seen %v", m.Mark, m.Seen)
	}
	// Never backwards.
	old := u("k/0", -time.Hour)
	m.done(old)
	m.advance(nil, settle)
	if !m.Mark.Equal(k1.mod) {
		t.Errorf("mark moved back to %s", m.Mark)
	}

	// Through the checkpoint's JSON: the same rule.
	c, err := DecodeCheckpoint(Checkpoint{Loaded: true, Ext: map[string]*extMark{"t": m}}.encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []unit{k1, k2, old, u("k/1", 2*time.Hour)} {
		if c.Ext["t"].read(x, settle) != m.read(x, settle) {
			t.Errorf("%s: read differs after decoding", x.name)
		}
	}
}

// TestExtMarkBounded: an object a second, read in steps of at most 4,
// some listed late (within settle): every object is read once and the
// mark keeps at most the objects of one settle window plus one step's.
func TestExtMarkBounded(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	settle := 30 * time.Second
	m := &extMark{}
	var listed []unit
	reads := map[string]int{}
	for sec := 0; sec < 600; sec++ {
		// Each second a new object; every 7th appears 20s late (a slow upload).
		listed = append(listed, unit{name: fmt.Sprintf("dt=%03d/a", sec), mod: t0.Add(time.Duration(sec) * time.Second)})
		if sec >= 20 && sec%7 == 0 {
			listed = append(listed, unit{name: fmt.Sprintf("dt=%03d/late", sec-20), mod: t0.Add(time.Duration(sec-20) * time.Second)})
		}
		todo, _ := m.pending(listed, settle)
		n := min(len(todo), 4)
		for _, x := range todo[:n] {
			reads[x.name]++
			m.done(x)
		}
		m.advance(todo[n:], settle)
		if len(m.Seen) > 30+4 {
			t.Fatalf("second %d: the mark keeps %d keys", sec, len(m.Seen))
		}
	}
	for {
		todo, _ := m.pending(listed, settle)
		if len(todo) == 0 {
			break
		}
		for _, x := range todo {
			reads[x.name]++
			m.done(x)
		}
		m.advance(nil, settle)
	}
	for _, x := range listed {
		if reads[x.name] != 1 {
			t.Errorf("%s read %d times", x.name, reads[x.name])
		}
	}
}

func names(us []unit) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.name)
	}
	return out
}
