package boltinbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/ledger"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func open(t *testing.T, path string, cfg *boltinbox.Config) *boltinbox.DB {
	t.Helper()
	ib, err := boltinbox.Open(path, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ib.Close() })
	return ib
}

func put(t *testing.T, ib inbox.Inbox, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if ok, err := ib.Put(t.Context(), &inbox.Message{ID: id, Body: []byte(`{"id":"` + id + `"}`)}); err != nil || !ok {
			t.Fatalf("Put(%q) = %v, %v", id, ok, err)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	open(t, path, nil)
	// bbolt locks with flock, which a second open file description in this
	// process cannot take either, just as another process could not.
	start := time.Now()
	_, err := boltinbox.Open(path, &boltinbox.Config{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, boltinbox.ErrLocked) {
		t.Fatalf("second Open = %v; want ErrLocked", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("second Open took %v; want about the lock timeout", waited)
	}
	t.Logf("error: %v", err)
}

// validFile returns the bytes of a closed inbox file holding a few messages.
func validFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	ib, err := boltinbox.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := ib.Put(context.Background(), &inbox.Message{ID: fmt.Sprint("wh_", i), Body: make([]byte, 500)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ib.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// foreignFile returns a valid bbolt database of some other program.
func foreignFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("settings"))
		if err != nil {
			return err
		}
		return b.Put([]byte("theme"), []byte("dark"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenFileErrors: a path that cannot be opened is named once, with the
// operation that failed.
func TestOpenFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, path, want string
	}{
		{"a directory", dir, "boltinbox: read " + dir + ": is a directory"},
		{"a missing directory", filepath.Join(dir, "no", "inbox.db"),
			"boltinbox: open " + filepath.Join(dir, "no", "inbox.db") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ib, err := boltinbox.Open(tt.path, nil)
			if err == nil {
				ib.Close()
				t.Fatal("Open succeeded")
			}
			if d := cmp.Diff(tt.want, err.Error()); d != "" {
				t.Errorf("error (-want +got):\n%s", d)
			}
			if !errors.Is(err, os.ErrNotExist) && tt.name == "a missing directory" {
				t.Errorf("error %v does not wrap os.ErrNotExist", err)
			}
		})
	}
}

func TestOpenDamagedFile(t *testing.T) {
	t.Parallel()
	valid := validFile(t)
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/256)
	}
	// The data pages of a valid file overwritten: meta pages intact, so bbolt
	// trusts the file, and the damage is found when the pages are read.
	scrambled := append([]byte(nil), valid...)
	for i := 4 * 4096; i < len(scrambled); i++ {
		scrambled[i] ^= 0xA5
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"garbage", garbage},
		{"text", []byte("this is not a database\n")},
		// bbolt grows the file ahead of its pages, in zeros: cut into the pages.
		{"truncated", valid[:len(bytes.TrimRight(valid, "\x00"))/2]},
		{"truncated to meta pages", valid[:2*4096]},
		{"one byte", []byte{0}},
		{"foreign bbolt database", foreignFile(t)},
		{"scrambled data pages", scrambled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "inbox.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			ib, err := boltinbox.Open(path, nil)
			if err == nil {
				ib.Close()
				t.Fatal("Open of a damaged file succeeded")
			}
			if !errors.Is(err, boltinbox.ErrCorrupt) {
				t.Fatalf("Open = %v; want ErrCorrupt", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

// FuzzOpen checks that no file content crashes Open: it either opens or
// fails with an error.
func FuzzOpen(f *testing.F) {
	valid := validFile(f)
	f.Add(valid)
	f.Add(valid[:len(valid)/3])
	f.Add(foreignFile(f))
	f.Add([]byte("garbage"))
	flipped := append([]byte(nil), valid...)
	flipped[4096*3+100] ^= 0xFF
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "inbox.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ib, err := boltinbox.Open(path, nil)
		if err != nil {
			return
		}
		// An inbox that opened must work.
		if _, err := ib.Put(context.Background(), &inbox.Message{ID: "fuzz", Body: []byte("{}")}); err != nil && !errors.Is(err, boltinbox.ErrCorrupt) {
			t.Errorf("Put on an opened file = %v", err)
		}
		ib.Close()
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	clk := newClock()
	ib, err := boltinbox.Open(path, &boltinbox.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	put(t, ib, "wh_claimed", "wh_done", "wh_dead", "wh_pending")
	ms, err := ib.Claim(ctx, 3, time.Minute)
	if err != nil || len(ms) != 3 {
		t.Fatalf("Claim = %d, %v", len(ms), err)
	}
	if err := ib.Ack(ctx, ms[1].ID, ms[1].Lease); err != nil {
		t.Fatal(err)
	}
	if err := ib.DeadLetter(ctx, ms[2].ID, ms[2].Lease, "bad"); err != nil {
		t.Fatal(err)
	}
	if err := ib.Close(); err != nil {
		t.Fatal(err)
	}

	ib = open(t, path, &boltinbox.Config{Now: clk.Now})
	for id, want := range map[string]inbox.State{
		"wh_claimed": inbox.StatePending, "wh_done": inbox.StateDone, "wh_dead": inbox.StateDead, "wh_pending": inbox.StatePending,
	} {
		m, err := ib.Get(ctx, id)
		if err != nil || m.State != want {
			t.Errorf("Get(%q) after reopen = %+v, %v; want state %s", id, m, err, want)
		}
		if ok, err := ib.Put(ctx, &inbox.Message{ID: id}); err != nil || ok {
			t.Errorf("Put(%q) after reopen = %v, %v; want a duplicate", id, ok, err)
		}
	}
	if d, err := ib.Depth(ctx); err != nil || d != 2 {
		t.Errorf("Depth after reopen = %d, %v; want 2", d, err)
	}
	// The claim made before the restart was released at open: both open
	// messages are claimable, oldest first.
	got, err := ib.Claim(ctx, 10, time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != "wh_claimed" || got[1].ID != "wh_pending" {
		t.Fatalf("Claim after reopen = %v, %v; want wh_claimed and wh_pending", got, err)
	}
	if err := ib.Ack(ctx, ms[0].ID, ms[0].Lease); !errors.Is(err, inbox.ErrLeaseLost) {
		t.Fatalf("Ack with the lease from before the restart = %v; want ErrLeaseLost", err)
	}
	if err := ib.Ack(ctx, ms[1].ID, ms[1].Lease); err != nil {
		t.Errorf("repeated Ack with the completing lease from before the restart = %v", err)
	}
}

// A claim found at Open was made by a process that let the file go (a crash,
// as here, or a Close): it is claimable again at once, not after its lease.
func TestClaimsReleasedAtOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	clk := newClock()
	ib, err := boltinbox.Open(path, &boltinbox.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	put(t, ib, "wh_1")
	first, err := ib.Claim(t.Context(), 1, time.Hour)
	if err != nil || len(first) != 1 {
		t.Fatalf("Claim = %v, %v", first, err)
	}
	ib.Close() // as a crash would leave it: claimed, never acked

	ib = open(t, path, &boltinbox.Config{Now: clk.Now})
	if d, err := ib.Depth(t.Context()); err != nil || d != 1 {
		t.Errorf("Depth after reopen = %d, %v; want 1", d, err)
	}
	ms, err := ib.Claim(t.Context(), 1, time.Minute)
	if err != nil || len(ms) != 1 || ms[0].Attempts != 2 {
		t.Fatalf("Claim right after reopen = %+v, %v; want wh_1 on attempt 2", ms, err)
	}
	if err := ib.Ack(t.Context(), "wh_1", first[0].Lease); !errors.Is(err, inbox.ErrLeaseLost) {
		t.Errorf("Ack with the old lease = %v; want ErrLeaseLost", err)
	}
	if err := ib.Ack(t.Context(), "wh_1", ms[0].Lease); err != nil {
		t.Errorf("Ack with the new lease = %v", err)
	}
}

func TestMaxPending(t *testing.T) {
	t.Parallel()
	ib := open(t, filepath.Join(t.TempDir(), "inbox.db"), &boltinbox.Config{MaxPending: 2})
	put(t, ib, "wh_1", "wh_2")
	if ok, err := ib.Put(t.Context(), &inbox.Message{ID: "wh_3"}); ok || !errors.Is(err, inbox.ErrFull) {
		t.Fatalf("Put over the cap = %v, %v; want ErrFull", ok, err)
	}
	// A duplicate is still recognised as one when full.
	if ok, err := ib.Put(t.Context(), &inbox.Message{ID: "wh_1"}); ok || err != nil {
		t.Fatalf("duplicate Put when full = %v, %v; want false, nil", ok, err)
	}
	ms, _ := ib.Claim(t.Context(), 1, time.Minute)
	if err := ib.Ack(t.Context(), ms[0].ID, ms[0].Lease); err != nil {
		t.Fatal(err)
	}
	put(t, ib, "wh_3")
}

// A Config value out of range is an error naming the field, and creates no
// file.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  boltinbox.Config
		want string
	}{
		{boltinbox.Config{LockTimeout: -time.Second}, "boltinbox: Config.LockTimeout is -1s, need a positive duration"},
		{boltinbox.Config{MaxPending: -1}, "boltinbox: Config.MaxPending is -1, need 0 (no cap) or more"},
		{boltinbox.Config{MaxBatch: -1}, "boltinbox: Config.MaxBatch is -1, need at least 1"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "inbox.db")
			ib, err := boltinbox.Open(path, &tt.cfg)
			if err == nil {
				ib.Close()
				t.Fatal("Open succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("Open = %q; want %q", err, tt.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open with a bad config created the file: %v", err)
			}
		})
	}
}

func TestCloseDuringPuts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib, err := boltinbox.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stored []string
	)
	start := make(chan struct{})
	for g := range 16 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				id := fmt.Sprintf("wh_%d_%d", g, i)
				ok, err := ib.Put(context.Background(), &inbox.Message{ID: id})
				if errors.Is(err, inbox.ErrClosed) {
					return
				}
				if err != nil || !ok {
					t.Errorf("Put(%q) = %v, %v", id, ok, err)
					return
				}
				mu.Lock()
				stored = append(stored, id)
				mu.Unlock()
			}
		})
	}
	close(start)
	// Let some Puts through before closing.
	for deadline := time.Now().Add(10 * time.Second); ; {
		mu.Lock()
		n := len(stored)
		mu.Unlock()
		if n >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Puts completed")
		}
		time.Sleep(time.Millisecond)
	}
	if err := ib.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// Every Put that returned true is on disk.
	ib = open(t, path, nil)
	for _, id := range stored {
		if _, err := ib.Get(t.Context(), id); err != nil {
			t.Fatalf("Get(%q) after reopen = %v", id, err)
		}
	}
}

func TestTrackedJobsSurviveRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib, err := boltinbox.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	if err := ib.Ledger.Track(t.Context(), &ledger.Job{Name: "batches/1", Kind: ledger.KindBatch, NextCheck: next}); err != nil {
		t.Fatal(err)
	}
	if err := ib.Ledger.AcquireLease(t.Context(), "reconciler", "A", next, time.Hour); err != nil {
		t.Fatal(err)
	}
	ib.Close()

	ib = open(t, path, nil)
	due, err := ib.Ledger.Due(t.Context(), next, 10)
	if err != nil || len(due) != 1 || due[0].Name != "batches/1" {
		t.Fatalf("Due after reopen = %v, %v; want batches/1", due, err)
	}
	if err := ib.Ledger.AcquireLease(t.Context(), "reconciler", "B", next.Add(time.Minute), time.Hour); !errors.Is(err, ledger.ErrLeaseHeld) {
		t.Errorf("AcquireLease by another owner after reopen = %v; want ErrLeaseHeld", err)
	}
}

// The ledger's Prune walks the jobs a batch at a time; whatever the batch size, it
// deletes exactly the jobs settled before the cutoff.
func TestLedgerPruneInBatches(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	for _, batch := range []int{1, 3, 11, 1000} {
		t.Run(fmt.Sprint(batch), func(t *testing.T) {
			t.Parallel()
			ib := open(t, filepath.Join(t.TempDir(), "inbox.db"), &boltinbox.Config{MaxBatch: batch})
			ctx := t.Context()
			// j00..j10: even ones settled before the cutoff, odd ones
			// open, and j10 settled after it.
			var want []string
			for k := range 11 {
				name := fmt.Sprintf("j%02d", k)
				if err := ib.Ledger.Track(ctx, &ledger.Job{Name: name, Kind: ledger.KindBatch, NextCheck: start}); err != nil {
					t.Fatal(err)
				}
				at := start
				if k == 10 {
					at = start.Add(time.Hour)
				}
				if k%2 == 0 {
					if err := ib.Ledger.Settle(ctx, name, at); err != nil {
						t.Fatal(err)
					}
				}
				if k%2 == 1 || k == 10 {
					want = append(want, name)
				}
			}
			n, err := ib.Ledger.Prune(ctx, start.Add(time.Minute))
			if err != nil || n != 5 {
				t.Fatalf("Prune = %d, %v; want 5", n, err)
			}
			var kept []string
			for k := range 11 {
				name := fmt.Sprintf("j%02d", k)
				_, err := ib.Ledger.Job(ctx, name)
				switch {
				case err == nil:
					kept = append(kept, name)
				case !errors.Is(err, ledger.ErrNotFound):
					t.Fatalf("Job(%s): %v", name, err)
				}
			}
			if d := cmp.Diff(want, kept); d != "" {
				t.Errorf("jobs kept (-want +got):\n%s", d)
			}
		})
	}
}

// A Put whose caller gives up while its commit is running returns the
// context's error and false, without reading what the still-running commit
// writes (a data race under -race when it did).
func TestPutCancelledDuringCommit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	var armed sync.Once
	entered := make(chan struct{})
	clock := func() time.Time {
		// The first commit's clock read waits for the caller to give up.
		armed.Do(func() {
			close(entered)
			<-ctx.Done()
		})
		return time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	}
	ib := open(t, filepath.Join(t.TempDir(), "inbox.db"), &boltinbox.Config{Now: clock})
	type result struct {
		stored bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		stored, err := ib.Put(ctx, &inbox.Message{ID: "wh_1", Body: []byte(`{}`)})
		done <- result{stored, err}
	}()
	<-entered
	cancel()
	res := <-done
	if res.stored || !errors.Is(res.err, context.Canceled) {
		t.Errorf("Put after its caller gave up = %v, %v; want false, context.Canceled", res.stored, res.err)
	}
	if err := ib.Close(); err != nil {
		t.Fatal(err)
	}
}
