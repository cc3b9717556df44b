package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestTermLinesNeverShareALine(t *testing.T) {
	var out bytes.Buffer
	term := newTermLines(&out)
	fmt.Fprint(term.Progress(), "\rsnapshot 10% [##        ]\x1b[K")
	fmt.Fprint(term.Logs(), `{"level":"INFO","msg":"one"}`+"\n")
	fmt.Fprint(term.Progress(), "\rsnapshot 20% [####      ]\x1b[K")
	fmt.Fprint(term.Logs(), `{"level":"INFO","msg":"two"}`+"\n")
	fmt.Fprint(term.Progress(), "\rsnapshot complete\x1b[K\n")
	fmt.Fprint(term.Logs(), `{"level":"INFO","msg":"three"}`+"\n")

	// What a terminal shows: "\r" returns to the line start and "\x1b[K"
	// clears the rest, so render the stream line by line.
	var lines []string
	var cur string
	s := out.String()
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\n':
			lines = append(lines, cur)
			cur = ""
		case s[i] == '\r':
			cur = ""
		case strings.HasPrefix(s[i:], "\x1b[K"):
			i += 2
		default:
			cur += string(s[i])
		}
	}
	want := []string{`{"level":"INFO","msg":"one"}`, `{"level":"INFO","msg":"two"}`, "snapshot complete", `{"level":"INFO","msg":"three"}`}
	if strings.Join(lines, "|") != strings.Join(want, "|") || cur != "" {
		t.Fatalf("screen lines %q (pending %q), want %q", lines, cur, want)
	}
}
