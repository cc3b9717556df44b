// Package progress draws progress for people: a text bar and one terminal
// line redrawn in place. It is odsync's one progress display (the snapshot
// bar of odsync run, odsync verify's bar, the bars of odsync status); the
// status page draws the same fractions as SVG.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// IsTerminal reports whether w is a terminal: an *os.File on a character
// device, or a writer that says so with an IsTerminal method (a writer that
// shares a terminal with the log).
func IsTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Bar renders frac (0 to 1; clamped) as a bar of width cells:
// "[#######...]".
func Bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// Line is one terminal line redrawn in place ("\r", the text, erase to the
// end of the line). A nil *Line draws nothing. Safe for concurrent use.
type Line struct {
	w     io.Writer
	every time.Duration

	mu    sync.Mutex
	last  time.Time
	drawn bool
}

// NewLine returns a line on w that redraws at most once per every; nil when
// w is not a terminal.
func NewLine(w io.Writer, every time.Duration) *Line {
	if !IsTerminal(w) {
		return nil
	}
	return &Line{w: w, every: every}
}

// Draw shows text, unless the line was drawn less than the interval ago.
func (l *Line) Draw(text string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.drawn && now.Sub(l.last) < l.every {
		return
	}
	l.last, l.drawn = now, true
	fmt.Fprintf(l.w, "\r%s\x1b[K", text)
}

// Done replaces the line with text and ends it: later output starts on a
// new line.
func (l *Line) Done(text string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "\r%s\x1b[K\n", text)
	l.drawn = false
}

// Clear erases the line.
func (l *Line) Clear() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprint(l.w, "\r\x1b[K")
		l.drawn = false
	}
}
