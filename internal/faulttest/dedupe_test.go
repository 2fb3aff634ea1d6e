package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// defaultTolerance is signing's default bound on a delivery's clock skew.
const defaultTolerance = 5 * time.Minute

// TestDuplicateStorm sends every delivery several times at once to several replicas sharing one
// store: a memory inbox shared in-process, and PostgreSQL with one pginbox (and pool) per replica.
// Each event must run exactly once.
func TestDuplicateStorm(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"memory", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			const replicas, copies = 3, 5
			events := size(100, 2000)
			secret := newSecret(t)
			led := newLedger()
			var inboxes []inbox.Inbox
			switch store {
			case "memory":
				ib, err := inbox.NewMemory(nil)
				if err != nil {
					t.Fatal(err)
				}
				for range replicas {
					inboxes = append(inboxes, ib)
				}
			case "postgres":
				url, table := postgresURL(t), tableName(t)
				for range replicas {
					inboxes = append(inboxes, openPG(t, url, table, nil))
				}
			}
			var rs []*replica
			for i := range replicas {
				v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, startReplica(t, newListener(t, v, &listener.Config{Inbox: inboxes[i], PollInterval: 20 * time.Millisecond}), led))
			}
			client := &http.Client{Timeout: 10 * time.Second}
			sign := hmacSigner(secret)
			ds := deliveries(t, "storm", events, time.Now())
			rng := rand.New(rand.NewPCG(1, 2))
			type shot struct {
				d   delivery
				url string
			}
			var shots []shot
			for _, d := range ds {
				for range copies {
					shots = append(shots, shot{d, rs[rng.IntN(replicas)].srv.URL})
				}
			}
			rng.Shuffle(len(shots), func(i, j int) { shots[i], shots[j] = shots[j], shots[i] })
			var (
				wg       sync.WaitGroup
				sem      = make(chan struct{}, 32)
				mu       sync.Mutex
				statuses = map[int]int{}
			)
			for _, s := range shots {
				led.send(s.d.id)
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					code, err := post(context.Background(), client, s.url, s.d, sign, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					if ok2xx(code) {
						led.ack(s.d.id)
					}
					mu.Lock()
					statuses[code]++
					mu.Unlock()
				})
			}
			wg.Wait()
			waitDrained(t, 10*time.Second, "every stored event to be processed", led.unprocessed)
			var dups, stored uint64
			for _, r := range rs {
				s := r.l.Stats()
				dups += s.Duplicates
				stored += s.Stored
			}
			t.Logf("%d attempts: statuses %v; stored %d, recognised as duplicates %d", len(shots), statuses, stored, dups)
			if stored != uint64(events) || dups != uint64(len(shots)-events) {
				t.Errorf("stored %d and duplicates %d, want %d and %d", stored, dups, events, len(shots)-events)
			}
			c := led.finish(t, "duplicate-storm/"+store)
			if c.twice != 0 {
				t.Errorf("%d events ran twice with no crash to excuse it", c.twice)
			}
		})
	}
}

// openPG opens a pginbox on its own pool and migrates its table, dropped when the test ends.
func openPG(t *testing.T, url, table string, clock func() time.Time) *pginbox.DB {
	t.Helper()
	ctx := context.Background()
	pool, err := newPool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := pginbox.New(pool, &pginbox.Config{Table: table, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := ib.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ib.Close()
		pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)
		pool.Close()
	})
	return ib
}

// TestClockSkewAtToleranceEdges delivers at exactly the tolerance in both directions (accepted) and one
// second beyond (refused), then lets the sender retry with a fresh timestamp as Gemini does.
func TestClockSkewAtToleranceEdges(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	secret := newSecret(t)
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	led := newLedger()
	r := startReplica(t, newListener(t, v, &listener.Config{Now: clock.Now, PollInterval: 20 * time.Millisecond}), led)
	client := &http.Client{Timeout: 10 * time.Second}
	sign := hmacSigner(secret)
	per := size(10, 200)
	for _, tt := range []struct {
		name string
		skew time.Duration
		want int
	}{
		{"old-edge", -defaultTolerance, http.StatusAccepted},
		{"new-edge", defaultTolerance, http.StatusAccepted},
		{"too-old", -defaultTolerance - time.Second, http.StatusUnauthorized},
		{"too-new", defaultTolerance + time.Second, http.StatusUnauthorized},
	} {
		ds := deliveries(t, "skew-"+tt.name, per, clock.Now())
		got := sendRound(t, led, client, r.srv.URL, ds, sign, func() time.Time { return clock.Now().Add(tt.skew) })
		if got[tt.want] != per {
			t.Errorf("%s (webhook-timestamp %v from now): statuses %v, want %d x %d", tt.name, tt.skew, got, per, tt.want)
		}
		// The retry carries a fresh timestamp.
		sendRound(t, led, client, r.srv.URL, ds, sign, clock.Now)
		if !allAcked(led, ds) {
			t.Errorf("%s: a retry with a fresh timestamp was refused", tt.name)
		}
	}
	waitDrained(t, 10*time.Second, "every stored event to be processed", led.unprocessed)
	led.finish(t, "clock-skew-edges")
}

// TestDuplicateADayLater redelivers every event 24 hours (and then 24h10m, the least window the
// listener accepts) after it was handled, under a fake clock, with a memory and a bbolt inbox: every
// late copy must be recognised as a duplicate.
func TestDuplicateADayLater(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"memory", "bbolt"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			var ib inbox.Inbox
			switch store {
			case "memory":
				m, err := inbox.NewMemory(&inbox.MemoryConfig{Now: clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				ib = m
			case "bbolt":
				b, err := boltinbox.Open(filepath.Join(t.TempDir(), "inbox.db"), &boltinbox.Config{Now: clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				ib = b
			}
			secret := newSecret(t)
			v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			led := newLedger()
			r := startReplica(t, newListener(t, v, &listener.Config{Inbox: ib, Now: clock.Now,
				PollInterval: 20 * time.Millisecond}), led)
			client := &http.Client{Timeout: 10 * time.Second}
			sign := hmacSigner(secret)
			n := size(50, 1000)
			ds := deliveries(t, "late", n, clock.Now())
			sendRound(t, led, client, r.srv.URL, ds, sign, clock.Now)
			// Acked, not only handled: moving the clock a day while an ack is in flight would end its
			// lease, and the event would rightly run again.
			waitFor(t, 10*time.Second, "every event to be processed and acked", func() bool {
				s := r.l.Stats()
				return led.unprocessed() == 0 && s.Processed == uint64(n) && s.QueueDepth == 0
			})
			for _, later := range []time.Duration{24 * time.Hour, 10 * time.Minute} {
				clock.Advance(later)
				got := map[int]int{}
				for _, d := range ds {
					code, err := post(context.Background(), client, r.srv.URL, d, sign, clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					got[code]++
				}
				if got[http.StatusOK] != n {
					t.Errorf("%s: late copies got %v, want %d x 200 (duplicate)", store, got, n)
				}
			}
			if s := r.l.Stats(); s.Duplicates != uint64(2*n) {
				t.Errorf("listener counted %d duplicates, want %d", s.Duplicates, 2*n)
			}
			c := led.finish(t, fmt.Sprintf("duplicate-24h-later/%s", store))
			if c.twice != 0 {
				t.Errorf("%d events ran again a day later", c.twice)
			}
		})
	}
}
