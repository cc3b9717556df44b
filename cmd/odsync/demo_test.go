package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPrepareDemoDir(t *testing.T) {
	base := t.TempDir()

	fresh := filepath.Join(base, "fresh")
	if err := prepareDemoDir(fresh); err != nil {
		t.Fatalf("new dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(fresh, "old-run"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory an earlier demo made is cleared.
	if err := prepareDemoDir(fresh); err != nil {
		t.Fatalf("earlier demo dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "old-run")); !os.IsNotExist(err) {
		t.Fatalf("earlier demo's file survived: %v", err)
	}

	// A user's non-empty directory is never deleted.
	mine := filepath.Join(base, "mine")
	if err := os.MkdirAll(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(mine, "thesis.tex")
	if err := os.WriteFile(keep, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareDemoDir(mine); err == nil {
		t.Fatal("a non-empty directory not made by demo was accepted")
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "precious" {
		t.Fatalf("user file touched: %q %v", b, err)
	}

	// An empty existing directory is fine.
	empty := filepath.Join(base, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareDemoDir(empty); err != nil {
		t.Fatalf("empty dir: %v", err)
	}
}
