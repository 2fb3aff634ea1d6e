package main

import (
	"os"
	"testing"
	"time"
)

func TestProbeCleansUp(t *testing.T) {
	dir := t.TempDir()
	if err := run(t.Context(), dir, 50*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the probe left %d files behind", len(left))
	}
	if err := run(t.Context(), dir, 0, 0); err == nil {
		t.Error("a zero -duration was accepted")
	}
	if err := run(t.Context(), dir, time.Second, -1); err == nil {
		t.Error("a negative -busy was accepted")
	}
}
