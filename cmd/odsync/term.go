package main

import (
	"bytes"
	"io"
	"sync"
)

// termLines shares one terminal between a one-line progress display and
// log lines: before a log line the progress line is cleared, after it the
// progress line is drawn again, so the two never run into one line.
type termLines struct {
	mu   sync.Mutex
	w    io.Writer
	line []byte // the progress line on screen (after its "\r"); nil when none
}

func newTermLines(w io.Writer) *termLines { return &termLines{w: w} }

// Progress returns the writer for "\r"-redrawn progress lines.
func (t *termLines) Progress() io.Writer { return termProgress{t} }

// Logs returns the writer for whole log lines.
func (t *termLines) Logs() io.Writer { return termLogs{t} }

type termProgress struct{ t *termLines }

// IsTerminal tells the capture that this writer is a terminal.
func (termProgress) IsTerminal() bool { return true }

func (p termProgress) Write(b []byte) (int, error) {
	t := p.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		t.line = append(t.line[:0], b[i+1:]...)
	} else if i := bytes.LastIndexByte(b, '\r'); i >= 0 {
		t.line = append(t.line[:0], b[i+1:]...)
	} else {
		t.line = append(t.line, b...)
	}
	if len(t.line) == 0 {
		t.line = nil
	}
	return t.w.Write(b)
}

type termLogs struct{ t *termLines }

func (l termLogs) Write(b []byte) (int, error) {
	t := l.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line != nil {
		if _, err := io.WriteString(t.w, "\r\x1b[K"); err != nil {
			return 0, err
		}
	}
	n, err := t.w.Write(b)
	if err == nil && t.line != nil {
		_, err = t.w.Write(append([]byte{'\r'}, t.line...))
	}
	return n, err
}
