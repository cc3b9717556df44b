package offsets

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateIsOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o755); err != nil { // an older, world-readable state dir
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := filePerm
		if d.IsDir() {
			want = dirPerm
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("only %d entries checked", n)
	}
}

func TestBackgroundErrorsAreRateLimited(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{logger: slog.New(slog.NewTextHandler(&buf, nil))}
	for i := 0; i < 123; i++ {
		l.backgroundError(errors.New("write /state/000123.sst: no space left on device"))
	}
	l.backgroundError(errors.New("another failure"))
	if n := strings.Count(buf.String(), "pebble background error"); n != 2 {
		t.Fatalf("%d lines logged for 123 repeats of one error and one other, want 2:\n%s", n, buf.String())
	}
}
