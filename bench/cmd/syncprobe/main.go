// Command syncprobe times what a bbolt commit asks of the disk: a 64 KiB write
// and an fdatasync, then a 4 KiB write and a second fdatasync, over and over
// in a file of its own, and prints the distribution. With -busy N it first
// starts N processes that only spin, to show what the same syncs cost when
// every core is taken, as under a listener's peak load.
//
//	cd bench && go run ./cmd/syncprobe
//	cd bench && go run ./cmd/syncprobe -busy 2
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the probe's file (put it on the disk the inbox uses)")
	dur := flag.Duration("duration", 5*time.Second, "how long to probe")
	busy := flag.Int("busy", 0, "spinning processes to start first")
	spin := flag.Bool("spin", false, "spin until killed (what -busy starts)")
	flag.Parse()
	if *spin {
		// A full-period generator: it comes back to 0 after 2^64 steps,
		// centuries from now. The parent kills it long before.
		for x := uint64(1); x != 0; x = x*6364136223846793005 + 1442695040888963407 {
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dir, *dur, *busy); err != nil {
		fmt.Fprintln(os.Stderr, "syncprobe:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, dur time.Duration, busy int) error {
	if dur <= 0 || busy < 0 {
		return fmt.Errorf("-duration must be positive and -busy at least 0")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for range busy {
		cmd := exec.CommandContext(ctx, self, "-spin")
		if err := cmd.Start(); err != nil {
			return err
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
	}
	f, err := os.CreateTemp(dir, "syncprobe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const area = 64 << 20
	if err := f.Truncate(area); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	page := make([]byte, 64<<10)
	var ds []time.Duration
	start := time.Now()
	for off := int64(0); time.Since(start) < dur && ctx.Err() == nil; off = (off + int64(len(page))) % (area - int64(len(page))) {
		t0 := time.Now()
		if _, err := f.WriteAt(page, off+4096); err != nil {
			return err
		}
		if err := fdatasync(f); err != nil {
			return err
		}
		if _, err := f.WriteAt(page[:4096], 0); err != nil {
			return err
		}
		if err := fdatasync(f); err != nil {
			return err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(time.Microsecond) }
	fmt.Printf("%s: %d commits (2 fdatasyncs each) in %v with %d spinning processes: p50 %v, p90 %v, p99 %v, p99.9 %v, max %v\n",
		filepath.Dir(f.Name()), len(ds), dur, busy, q(0.5), q(0.9), q(0.99), q(0.999), ds[len(ds)-1].Round(time.Microsecond))
	return nil
}
