package harness

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/signing"
	"github.com/jackc/pgx/v5"
)

// The growth part measures inboxes that already hold many done events, as a listener leaves them
// within its dedupe window: a body-less record of each webhook-id and job key. A million Puts, Claims and
// Acks at the pace a listener makes them would take longer than the measurement, so these fills take
// the fastest route to the same rows.

// fillID is the webhook-id of filled event i; its job is "batches/" and the same.
func fillID(i int) string { return fmt.Sprintf("fill-%09d", i) }

// boltMinRound is the fewest events a bolt fill puts, claims and acks at once.
const boltMinRound = 100

// fillBolt leaves n done events in the bolt file at path, each Put, claimed and acked through the
// public API. It opens the file with a clock it sets (the inbox stamps finish times with its own) and
// fills in rounds, one per prune interval of (from, to] (fewer when n is small), each finishing halfway
// through its interval, so that a Prune's cutoff at an interval's end deletes whole rounds. Every call of
// a round's step is made at once and the batch limit is a round, so each step is one commit. It closes
// the file again, so that the inbox measured opens it with the defaults.
func fillBolt(ctx context.Context, path string, n int, from, to time.Time) error {
	span := to.Sub(from)
	rounds := max(min(int((span+pruneEvery-1)/pruneEvery), n/boltMinRound), 1)
	var clock atomic.Int64
	clock.Store(from.UnixNano())
	ib, err := openBolt(path, boltFill{maxBatch: (n + rounds - 1) / rounds, now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		return err
	}
	prefix := jobKeyPrefix()
	for k := 0; k < rounds && err == nil; k++ {
		at := from.Add(time.Duration((float64(k) + 0.5) / float64(rounds) * float64(span)))
		clock.Store(at.UnixNano())
		err = fillBoltRound(ctx, ib, prefix, k*n/rounds, (k+1)*n/rounds, at)
	}
	if err != nil {
		ib.Close()
		return err
	}
	return ib.Close()
}

// fillBoltRound puts, claims and acks events lo to hi-1, received at at.
func fillBoltRound(ctx context.Context, ib inbox.Inbox, prefix string, lo, hi int, at time.Time) error {
	err := parallel(hi-lo, func(j int) error {
		id := fillID(lo + j)
		_, err := ib.Put(ctx, &inbox.Message{ID: id, JobKey: prefix + "batches/" + id, Scheme: string(signing.SchemeHMAC), ReceivedAt: at})
		return err
	})
	if err != nil {
		return err
	}
	ms, err := ib.Claim(ctx, hi-lo, time.Hour)
	if err != nil {
		return err
	}
	if len(ms) != hi-lo {
		return fmt.Errorf("harness: fill claimed %d of %d events", len(ms), hi-lo)
	}
	return parallel(len(ms), func(j int) error { return ib.Ack(ctx, ms[j].ID, ms[j].Lease) })
}

// parallel runs fn(0) to fn(n-1) each on its own goroutine and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i := range n {
		wg.Go(func() {
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

func openFilledBolt(ctx context.Context, n int, from, to time.Time) (inbox.Store, func(), error) {
	path, remove, err := boltFile()
	if err != nil {
		return nil, nil, err
	}
	ib, err := func() (inbox.Store, error) {
		if err := fillBolt(ctx, path, n, from, to); err != nil {
			return nil, err
		}
		return openBolt(path, boltFill{})
	}()
	if err != nil {
		remove()
		return nil, nil, err
	}
	return ib, func() { ib.Close(); remove() }, nil
}

// fillPG leaves n done events in the inbox table t, with finish times spread evenly over (from, to], in
// one INSERT ... SELECT from generate_series. The rows are what Put, Claim and Ack leave (the test
// TestFillPGMatchesInbox compares them): no body, one attempt, the claim's lease kept, no lease end.
// VACUUM ANALYZE then does what autovacuum would long since have done to a table that grew this large
// over two days.
func fillPG(ctx context.Context, t *pgTable, n int, from, to time.Time) error {
	table := pgx.Identifier{t.name}.Sanitize()
	_, err := t.pool.Exec(ctx, `INSERT INTO `+table+` (id, job_key, body, scheme, synthesized, received_at, state, attempts, not_before, lease, finished_at)
SELECT convert_to(f.id, 'UTF8'), $1::bytea || convert_to('batches/' || f.id, 'UTF8'), ''::bytea, $2, false, f.at, 'done', 1, f.at, gen_random_uuid()::text, f.at
FROM (SELECT 'fill-' || lpad(g::text, 9, '0') AS id,
	$3::timestamptz + ($4::bigint * (g + 1) / $5::bigint) * interval '1 microsecond' AS at
	FROM generate_series(0, $5::bigint - 1) AS g) AS f`,
		[]byte(jobKeyPrefix()), string(signing.SchemeHMAC), from, to.Sub(from).Microseconds(), n)
	if err != nil {
		return fmt.Errorf("harness: fill: %w", err)
	}
	if _, err := t.pool.Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
		return fmt.Errorf("harness: fill: %w", err)
	}
	return nil
}

func openFilledPG(ctx context.Context, url string, n int, from, to time.Time) (inbox.Store, func(), error) {
	t, err := newPGTable(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	ib, err := t.open(ctx)
	if err == nil {
		err = fillPG(ctx, t, n, from, to)
	}
	if err != nil {
		if ib != nil {
			ib.Close()
		}
		t.drop()
		return nil, nil, err
	}
	return ib, func() { ib.Close(); t.drop() }, nil
}
