package pginbox_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/listener"
)

// TestFleet runs three listeners on one table behind a round-robin sender.
// Every webhook is delivered twice, to two different replicas at once, and
// the transactional handler counts its commits per webhook-id in a table
// written in the handler's transaction: each count must be exactly one.
func TestFleet(t *testing.T) {
	t.Parallel()
	x := newTxEnv(t) // the table, and the counts table the handler writes
	url := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
	snd, verifier := newSender(t)

	const replicas, webhooks = 3, 1000
	var (
		servers []*httptest.Server
		ls      []*listener.Listener
	)
	for r := range replicas {
		// Each replica has its own pool and inbox, as separate processes would.
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 12 // the workers' transactions, the putters, claims and acks
		pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		ib, err := pginbox.New(pool, &pginbox.Config{Table: x.schema + ".inbox", Channel: x.schema})
		if err != nil {
			t.Fatal(err)
		}
		if err := ib.Migrate(t.Context()); err != nil {
			t.Fatalf("replica %d: Migrate = %v", r, err)
		}
		t.Cleanup(func() { ib.Close() })
		l, err := listener.New(verifier, &listener.Config{Inbox: ib, Workers: 4,
			PollInterval: 200 * time.Millisecond, MaxAttempts: 100, Backoff: doublingFrom(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		l.On(event.TypeBatchSucceeded, ib.Transactional(x.count))
		runListener(t, l)
		srv := httptest.NewServer(l)
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
		ls = append(ls, l)
	}

	// 2,000 deliveries: webhook k goes to replica k%3 and, at the same time,
	// to replica (k+1)%3.
	type job struct {
		replica int
		d       delivery
	}
	start := time.Now()
	jobs := make(chan job)
	go func() {
		defer close(jobs)
		for k := range webhooks {
			d := newDelivery(t, fmt.Sprintf("wh_%04d", k), k)
			jobs <- job{k % replicas, d}
			jobs <- job{(k + 1) % replicas, d}
		}
	}()
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for j := range jobs {
				for {
					code, err := snd.send(servers[j.replica].URL, j.d)
					if err == nil && (code == http.StatusAccepted || code == http.StatusOK) {
						break
					}
					if err == nil && code != http.StatusServiceUnavailable {
						t.Errorf("delivery %s to replica %d: status %d", j.d.id, j.replica, code)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("2,000 deliveries answered in %v", time.Since(start))

	waitFor(t, 60*time.Second, "handler commit for every webhook", func() (bool, error) {
		var n int
		err := x.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+x.counts).Scan(&n)
		return n == webhooks, err
	})
	t.Logf("every webhook handled %v after the first delivery", time.Since(start))
	var rows, twice int
	if err := x.pool.QueryRow(t.Context(), "SELECT count(*), count(*) FILTER (WHERE n <> 1) FROM "+x.counts).Scan(&rows, &twice); err != nil {
		t.Fatal(err)
	}
	if rows != webhooks || twice != 0 {
		t.Errorf("handler commits: %d webhook-ids, %d of them not exactly once; want %d and 0", rows, twice, webhooks)
	}
	waitFor(t, 10*time.Second, "an empty inbox", func() (bool, error) {
		d, err := x.ib.Depth(t.Context())
		return d == 0, err
	})
	var stored, dups, failed uint64
	for r, l := range ls {
		s := l.Stats()
		stored += s.Stored
		dups += s.Duplicates
		failed += s.StoreFailed
		t.Logf("replica %d: stored %d, duplicates %d, store failures %d, processed %d, retried %d",
			r, s.Stored, s.Duplicates, s.StoreFailed, s.Processed, s.Retried)
	}
	// A Put that timed out may still have committed: its retry is then a
	// duplicate. Otherwise each webhook is stored once and duplicated once.
	if stored+dups != 2*webhooks || stored > webhooks || stored+failed < webhooks {
		t.Errorf("across replicas: %d stored, %d duplicates, %d store failures; want %d and %d, less any Put that timed out after it committed",
			stored, dups, failed, webhooks, webhooks)
	}
}
