package progress

import (
	"bytes"
	"testing"
	"time"
)

type term struct{ bytes.Buffer }

func (*term) IsTerminal() bool { return true }

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		frac float64
		want string
	}{{0, "[..........]"}, {0.42, "[####......]"}, {1, "[##########]"}, {7, "[##########]"}, {-1, "[..........]"}} {
		if got := Bar(tc.frac, 10); got != tc.want {
			t.Errorf("Bar(%v) = %q, want %q", tc.frac, got, tc.want)
		}
	}
}

func TestLine(t *testing.T) {
	if NewLine(&bytes.Buffer{}, 0) != nil {
		t.Fatal("a line on a buffer that is not a terminal")
	}
	var nilLine *Line
	nilLine.Draw("x")
	nilLine.Clear()
	nilLine.Done("x")
	w := &term{}
	l := NewLine(w, time.Hour)
	l.Draw("one")
	l.Draw("two") // within the interval: not drawn
	l.Clear()
	l.Done("end")
	if got, want := w.String(), "\rone\x1b[K\r\x1b[K\rend\x1b[K\n"; got != want {
		t.Fatalf("drew %q, want %q", got, want)
	}
}
