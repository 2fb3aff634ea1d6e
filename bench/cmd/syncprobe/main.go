// Command syncprobe times what a durable inbox asks of the disk, over and over
// in a file of its own, and prints the distribution. By default it times a
// bbolt commit: a 64 KiB write and an fdatasync, then a 4 KiB write and a
// second fdatasync. With -log it times what a boltinbox Put waits for: a 4 KiB
// write to its write-ahead log and one fdatasync, with -inflight of them at
// once.
//
// With -busy N it first starts N processes that only spin, to show what the
// same syncs cost when every core is taken, as under a listener's peak load.
// With -writers N it starts N processes that each write 16 MiB to a file beside
// the probe's and fdatasync it, over and over (what `dd conv=fdatasync` in a
// loop does), to show what a flush costs while another program writes to the
// same disk: a database's checkpoint, say.
//
//	cd bench && go run ./cmd/syncprobe
//	cd bench && go run ./cmd/syncprobe -busy 2
//	cd bench && go run ./cmd/syncprobe -log -writers 1
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
	"sync"
	"time"
)

// probe is what one run measures.
type probe struct {
	dir      string
	dur      time.Duration
	busy     int  // spinning processes
	writers  int  // writing processes
	log      bool // time a log append (write, fdatasync), not a bbolt commit
	inflight int  // log appends at once
}

func main() {
	var p probe
	flag.StringVar(&p.dir, "dir", os.TempDir(), "directory for the probe's file (put it on the disk the inbox uses)")
	flag.DurationVar(&p.dur, "duration", 5*time.Second, "how long to probe")
	flag.IntVar(&p.busy, "busy", 0, "spinning processes to start first")
	flag.IntVar(&p.writers, "writers", 0, "processes writing and syncing 16 MiB over and over beside the probe, started first")
	flag.BoolVar(&p.log, "log", false, "time a boltinbox log append (4 KiB write, one fdatasync) instead of a bbolt commit")
	flag.IntVar(&p.inflight, "inflight", 1, "with -log: appends at once, each with its own write and fdatasync")
	spin := flag.Bool("spin", false, "spin until killed (what -busy starts)")
	write := flag.String("write", "", "write and sync this file until killed (what -writers starts)")
	flag.Parse()
	if *spin {
		// A full-period generator: it comes back to 0 after 2^64 steps,
		// centuries from now. The parent kills it long before.
		for x := uint64(1); x != 0; x = x*6364136223846793005 + 1442695040888963407 {
		}
		return
	}
	if *write != "" {
		if err := writeRounds(*write, 0); err != nil {
			fmt.Fprintln(os.Stderr, "syncprobe -write:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, p); err != nil {
		fmt.Fprintln(os.Stderr, "syncprobe:", err)
		os.Exit(1)
	}
}

// writeRounds writes 16 MiB to path and syncs it, rounds times, or for ever
// if rounds is 0.
func writeRounds(path string, rounds int) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for k := 0; rounds == 0 || k < rounds; k++ {
		for off := int64(0); off < 16<<20; off += int64(len(chunk)) {
			if _, err := f.WriteAt(chunk, off); err != nil {
				return err
			}
		}
		if err := fdatasync(f); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, p probe) error {
	if p.dur <= 0 || p.busy < 0 || p.writers < 0 || p.inflight < 1 {
		return fmt.Errorf("-duration must be positive, -busy and -writers at least 0, -inflight at least 1")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := func(args ...string) (stop func(), err error) {
		cmd := exec.CommandContext(ctx, self, args...)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return func() { cmd.Process.Kill(); cmd.Wait() }, nil
	}
	for range p.busy {
		stop, err := start("-spin")
		if err != nil {
			return err
		}
		defer stop()
	}
	for k := range p.writers {
		path := filepath.Join(p.dir, fmt.Sprintf("syncprobe-writer-%d-%d", os.Getpid(), k))
		stop, err := start("-write", path)
		if err != nil {
			return err
		}
		defer os.Remove(path)
		defer stop()
	}
	f, err := os.CreateTemp(p.dir, "syncprobe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const area = 64 << 20
	if p.log {
		// The log's ring is written with zeros once, so that a sync is a
		// flush of data alone (see boltinbox's wal.go); so is this file.
		if err := fill(f, area); err != nil {
			return err
		}
	} else if err := f.Truncate(area); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	var ds []time.Duration
	if p.log {
		ds, err = appends(ctx, f, area, p.dur, p.inflight)
	} else {
		ds, err = commits(ctx, f, area, p.dur)
	}
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return fmt.Errorf("no sync finished in %v", p.dur)
	}
	slices.Sort(ds)
	q := func(x float64) time.Duration { return ds[int(x*float64(len(ds)-1))].Round(time.Microsecond) }
	what := "commits (2 fdatasyncs each)"
	if p.log {
		what = fmt.Sprintf("log appends (1 fdatasync each, %d at once)", p.inflight)
	}
	fmt.Printf("%s: %d %s in %v with %d spinning and %d writing processes: p50 %v, p90 %v, p99 %v, p99.9 %v, max %v\n",
		filepath.Dir(f.Name()), len(ds), what, p.dur, p.busy, p.writers, q(0.5), q(0.9), q(0.99), q(0.999), ds[len(ds)-1].Round(time.Microsecond))
	return nil
}

func fill(f *os.File, n int64) error {
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < n; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			return err
		}
	}
	return nil
}

// commits times bbolt-like commits for dur.
func commits(ctx context.Context, f *os.File, area int64, dur time.Duration) ([]time.Duration, error) {
	page := make([]byte, 64<<10)
	var ds []time.Duration
	start := time.Now()
	for off := int64(0); time.Since(start) < dur && ctx.Err() == nil; off = (off + int64(len(page))) % (area - int64(len(page))) {
		t0 := time.Now()
		if _, err := f.WriteAt(page, off+4096); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		if _, err := f.WriteAt(page[:4096], 0); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(t0))
	}
	return ds, nil
}

// appends times 4 KiB log appends for dur, n at once, each in its own part
// of the file.
func appends(ctx context.Context, f *os.File, area int64, dur time.Duration, n int) ([]time.Duration, error) {
	var (
		mu   sync.Mutex
		ds   []time.Duration
		errs = make([]error, n)
		wg   sync.WaitGroup
	)
	end := time.Now().Add(dur)
	part := area / int64(n)
	for k := range n {
		wg.Go(func() {
			rec := make([]byte, 4096)
			for off := int64(0); time.Now().Before(end) && ctx.Err() == nil; off = (off + int64(len(rec))) % (part - int64(len(rec))) {
				t0 := time.Now()
				if _, err := f.WriteAt(rec, int64(k)*part+off); err != nil {
					errs[k] = err
					return
				}
				if err := fdatasync(f); err != nil {
					errs[k] = err
					return
				}
				d := time.Since(t0)
				mu.Lock()
				ds = append(ds, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return ds, nil
}
