package reconcile_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/inbox/pginbox"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/reconcile"
)

// pgInboxes returns n inboxes on one table in a schema of the test's own,
// as n replicas of a fleet would have, or skips without PostgreSQL.
func pgInboxes(t *testing.T, n int) []*pginbox.DB {
	t.Helper()
	url := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
	if url == "" {
		t.Skip("GEMINIHOOKS_TEST_POSTGRES is unset; set it to a PostgreSQL URL to run the fleet test")
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var b [6]byte
	rand.Read(b[:])
	schema := "geminihooks_reconcile_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	var out []*pginbox.DB
	for range n {
		ib, err := pginbox.New(pool, &pginbox.Config{Table: schema + ".inbox", Channel: schema})
		if err != nil {
			t.Fatal(err)
		}
		if err := ib.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ib.Close() })
		out = append(out, ib)
	}
	return out
}

// Two replicas share a PostgreSQL inbox, each running a reconciler: one
// holds the lease and does all the work, the other stands by, and takes
// over when the first stops renewing the lease.
func TestFleetRunsOneReconciler(t *testing.T) {
	t.Parallel()
	ibs := pgInboxes(t, 2)
	e := newEnv(t, &store{ibs[0], ibs[0].Ledger}, &emulator.Config{ManualJobs: true})
	e.start()
	const n = 6
	var names []string
	for i := range n {
		kind := ledger.KindBatch
		if i%2 == 1 {
			kind = ledger.KindInteraction
		}
		name := e.launch(kind, e.callback(nil))
		e.dropJob(name)
		if err := e.emu.Finish(name, "succeeded"); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	e.idle()
	e.clock.Advance(time.Hour)

	const interval = 5 * time.Millisecond // of real time; the lease lasts 3 intervals of the fake clock, which stands still
	recs := make([]*reconcile.Reconciler, 2)
	for i, ib := range ibs {
		r, err := reconcile.New(e.client, ib, ib.Ledger, &reconcile.Config{Now: e.clock.Now, Interval: interval,
			Owner: []string{"replica-a", "replica-b"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	waitFor(t, "every job's handler", func() bool { jobs, _ := e.runCount(); return jobs == n })
	waitFor(t, "both reconcilers to have tried", func() bool {
		a, b := recs[0].Stats(), recs[1].Stats()
		return a.Passes+a.Skipped > 1 && b.Passes+b.Skipped > 1
	})
	cancel()
	wg.Wait()

	leader, standby := recs[0], recs[1]
	if standby.Stats().Passes > 0 {
		leader, standby = standby, leader
	}
	ls, ss := leader.Stats(), standby.Stats()
	if ss.Passes != 0 || ss.Skipped == 0 || ss.Synthesized != 0 || ls.Synthesized != n || ls.Skipped != 0 {
		t.Fatalf("leader %+v, standby %+v; want all the work done by one", ls, ss)
	}
	e.mu.Lock()
	for _, name := range names {
		if runs := e.runs[name]; len(runs) != 1 {
			t.Errorf("%s: %d handler runs; want 1", name, len(runs))
		}
	}
	e.mu.Unlock()

	// Run releases the lease when it stops, but a pass cancelled mid-way
	// can still commit its acquire after that release: let any such lease
	// lapse, as it would in production, before the next act.
	e.clock.Advance(3*interval + time.Millisecond)

	// A leader that stops without releasing (a crash) keeps the lease
	// until it lapses; then the standby takes over.
	if err := leader.Reconcile(t.Context()); err != nil || !leader.Stats().Leader {
		t.Fatalf("leader pass: %v, %+v", err, leader.Stats())
	}
	if err := standby.Reconcile(t.Context()); err != nil || standby.Stats().Leader {
		t.Fatalf("standby took a live lease: %v, %+v", err, standby.Stats())
	}
	e.clock.Advance(3*interval + time.Millisecond)
	if err := standby.Reconcile(t.Context()); err != nil || !standby.Stats().Leader {
		t.Fatalf("standby did not take over a lapsed lease: %v, %+v", err, standby.Stats())
	}
}
