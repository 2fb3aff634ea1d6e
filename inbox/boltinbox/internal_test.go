package boltinbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"github.com/geminihooks/geminihooks/inbox"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 22, 12, 0, 0, 123, time.UTC)
	tests := []*record{
		{seq: 1, msg: inbox.Message{ID: "wh_1", State: inbox.StatePending}},
		{seq: 1 << 60, msg: inbox.Message{
			ID: "wh_2", JobKey: "batch.succeeded\x00batches/1", Body: []byte(`{"a":1}`), Scheme: "v1a",
			Synthesized: true, ReceivedAt: at, State: inbox.StateClaimed, Attempts: 3, NotBefore: at.Add(time.Second),
			LastError: "boom", Lease: "abc", LeaseUntil: at.Add(time.Minute), FinishedAt: at.Add(time.Hour),
		}},
		{seq: 2, msg: inbox.Message{ID: "wh_3", State: inbox.StateDead, ReceivedAt: time.Unix(0, 0).UTC(), NotBefore: time.Unix(-5, 0).UTC()}},
	}
	for _, want := range tests {
		got, err := decodeRecord(want.encode())
		if err != nil {
			t.Fatalf("decode(encode(%+v)) = %v", want, err)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(record{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// FuzzDecodeRecord feeds arbitrary bytes, as a damaged file might hold, to
// the record decoder: it must fail cleanly or give back a record that
// encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	at := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	f.Add((&record{seq: 7, msg: inbox.Message{ID: "wh_1", Body: []byte("{}"), ReceivedAt: at, State: inbox.StateDone, Lease: "x"}}).encode())
	f.Add([]byte{recordVersion})
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{})
	f.Add([]byte{recordVersion, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if again := r.encode(); !bytes.Equal(again, b) {
			// Varints have one canonical form per value, so a record that
			// decodes re-encodes identically.
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}

// openStore opens the file at path and returns its inbox, whose insides
// these tests look at.
func openStore(t *testing.T, path string) *store {
	t.Helper()
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db.Store.(*store)
}

// TestGroupCommit checks that concurrent Puts share commits: bbolt's
// transaction ID grows by one per write transaction.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	ib := openStore(t, filepath.Join(t.TempDir(), "inbox.db"))
	defer ib.Close()
	txid := func() int {
		var id int
		ib.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	const goroutines, each = 64, 8
	before := txid()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range each {
				if ok, err := ib.Put(context.Background(), &inbox.Message{ID: fmt.Sprintf("wh_%d_%d", g, i)}); err != nil || !ok {
					t.Errorf("Put = %v, %v", ok, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	commits := txid() - before
	t.Logf("%d Puts in %d commits", goroutines*each, commits)
	if commits > goroutines*each/2 {
		t.Errorf("%d Puts took %d commits; want them to share commits", goroutines*each, commits)
	}
	if d, _ := ib.Depth(context.Background()); d != goroutines*each {
		t.Errorf("Depth = %d; want %d", d, goroutines*each)
	}
}

// A batch whose commit fails (here one op panics, as bbolt does on a damaged
// page) is committed op by op: only the op at fault fails.
func TestFailedCommitFailsOnlyItsCause(t *testing.T) {
	t.Parallel()
	ib := openStore(t, filepath.Join(t.TempDir(), "inbox.db"))
	defer ib.Close()
	ctx := t.Context()
	// Hold the writer in a commit of its own while the ops below queue,
	// so they share the next one.
	hold, held := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- ib.do(ctx, func(*wtx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	const n = 10
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			errs[k] = ib.do(ctx, func(w *wtx) error {
				_, err := w.insert(&inbox.Message{ID: fmt.Sprintf("wh_%d", k), Body: []byte(`{}`), State: inbox.StatePending})
				return err
			})
		})
	}
	wg.Go(func() {
		errs[n] = ib.do(ctx, func(*wtx) error { panic("damaged page") })
	})
	for len(ib.ops) < n+1 {
		time.Sleep(time.Millisecond) // nothing to wait on but the queue itself
	}
	close(hold)
	wg.Wait()
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	for k, err := range errs[:n] {
		if err != nil {
			t.Errorf("op %d beside a failing op = %v", k, err)
		}
	}
	if !errors.Is(errs[n], ErrCorrupt) {
		t.Errorf("the panicking op = %v; want ErrCorrupt", errs[n])
	}
	if d, _ := ib.Depth(ctx); d != n {
		t.Errorf("Depth = %d; want %d", d, n)
	}
}

// A file made before the arrival index gets it at Open, so List sees every
// message it already held.
func TestArrivalsBackfilled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib := openStore(t, path)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := ib.Put(ctx, &inbox.Message{ID: id, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	ib.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bktArrivals) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ib = openStore(t, path)
	defer ib.Close()
	p, err := ib.List(ctx, inbox.Filter{}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range p.Messages {
		got = append(got, m.ID)
	}
	if diff := cmp.Diff([]string{"c", "b", "a"}, got); diff != "" {
		t.Errorf("List after backfill (-want +got):\n%s", diff)
	}
}

// The Put rate that turns pacing on is measured over windows of at least
// pace, whatever the commits' spacing: four Puts a commit, a commit every
// millisecond, is 4,000 a second, and so is eight every other commit.
func TestRateCountsEventsPerWindow(t *testing.T) {
	for _, c := range []struct {
		name  string
		every time.Duration
		ns    []int // events per commit, in turn
		lo    float64
		hi    float64
	}{
		{"four a millisecond", time.Millisecond, []int{4}, 3800, 4200},
		{"every other commit", time.Millisecond, []int{8, 0}, 3800, 4200},
		{"one every 10 ms", 10 * time.Millisecond, []int{1}, 95, 105},
	} {
		var r rate
		now := time.Unix(1e9, 0)
		for k := range 2000 {
			r.add(c.ns[k%len(c.ns)], now)
			now = now.Add(c.every)
		}
		if r.perSecond < c.lo || r.perSecond > c.hi {
			t.Errorf("%s: %.0f a second; want %.0f to %.0f", c.name, r.perSecond, c.lo, c.hi)
		}
	}
}

// A claim made after the ready queue ran dry may wait for company while
// Puts arrive fast, but it still returns only once the file holds it: each
// message a claim returns is claimed, with its attempt counted, in the
// bbolt file at that moment, and every message is claimed once.
func TestLazyClaimIsCommittedWhenItReturns(t *testing.T) {
	t.Parallel()
	i := openStore(t, filepath.Join(t.TempDir(), "inbox.db"))
	t.Cleanup(func() { i.Close() })
	const total = 3000
	ctx := t.Context()
	errs := make(chan error, 1)
	go func() {
		// Puts as fast as 16 callers go: far above the rate that turns pacing on.
		var wg sync.WaitGroup
		for p := range 16 {
			wg.Go(func() {
				for k := p; k < total; k += 16 {
					if _, err := i.Put(ctx, &inbox.Message{ID: fmt.Sprintf("wh_%d", k), Body: []byte(`{}`)}); err != nil {
						select {
						case errs <- err:
						default:
						}
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
	}()
	seen := map[string]bool{}
	lazy := 0
	for len(seen) < total {
		wasLazy := i.caughtUp.Load()
		ms, err := i.Claim(ctx, 8, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		err = i.db.View(func(tx *bolt.Tx) error {
			for _, m := range ms {
				r, err := getRecord(tx, []byte(m.ID))
				if err != nil {
					return err
				}
				if r.msg.State != inbox.StateClaimed || r.msg.Attempts != 1 || r.msg.Lease != m.Lease {
					return fmt.Errorf("%s returned by a claim is %s, attempts %d, in the file", m.ID, r.msg.State, r.msg.Attempts)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if seen[m.ID] {
				t.Fatalf("%s claimed twice", m.ID)
			}
			seen[m.ID] = true
		}
		if wasLazy && len(ms) > 0 {
			lazy++
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if lazy == 0 {
		t.Error("no claim after an empty queue found anything; the lazy path went untested")
	}
}
