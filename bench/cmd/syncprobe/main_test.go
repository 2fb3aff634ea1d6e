package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the command when the probe
// starts itself as a spinning or writing process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "-spin" || os.Args[1] == "-write") {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestProbeCleansUp(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []probe{
		{dir: dir, dur: 50 * time.Millisecond, inflight: 1},
		{dir: dir, dur: 100 * time.Millisecond, log: true, inflight: 2, writers: 1, busy: 1},
	} {
		if err := run(t.Context(), p); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("%+v: the probe left %d files behind", p, len(left))
		}
	}
	for _, p := range []probe{
		{dir: dir, dur: 0, inflight: 1},
		{dir: dir, dur: time.Second, busy: -1, inflight: 1},
		{dir: dir, dur: time.Second, writers: -1, inflight: 1},
		{dir: dir, dur: time.Second, log: true},
	} {
		if err := run(t.Context(), p); err == nil {
			t.Errorf("%+v was accepted", p)
		}
	}
}

// TestWriterWrites checks what a -writers process does each round: write
// 16 MiB and sync it.
func TestWriterWrites(t *testing.T) {
	path := t.TempDir() + "/w"
	if err := writeRounds(path, 2); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 16<<20 {
		t.Errorf("the writer's file: %v, %v; want 16 MiB", st, err)
	}
}
