package pginbox_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geminihooks/geminihooks/ledger"
)

// The ledger's Prune deletes in statements of a bounded size; more old settled
// jobs than one statement takes are all deleted, and nothing else.
func TestLedgerPruneManyJobs(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ib, schema := newInbox(t, pool, nil)
	ctx := t.Context()
	start := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	const old = 12003 // more than two statements' worth
	_, err := pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "inbox_jobs"}.Sanitize()+`
	(name, kind, launched_at, next_check, ended_at, settled, settled_at)
SELECT 'batches/' || n, 'batch', $1, $1, $1, true, $1 FROM generate_series(1, $2) AS n`, start, old)
	if err != nil {
		t.Fatalf("insert settled jobs: %v", err)
	}
	for _, name := range []string{"open", "recent"} {
		if err := ib.Ledger.Track(ctx, &ledger.Job{Name: name, Kind: ledger.KindBatch, NextCheck: start}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ib.Ledger.Settle(ctx, "recent", start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := ib.Ledger.Prune(ctx, start.Add(time.Minute))
	if err != nil || n != old {
		t.Fatalf("Prune = %d, %v; want %d", n, err, old)
	}
	for _, name := range []string{"open", "recent"} {
		if _, err := ib.Ledger.Job(ctx, name); err != nil {
			t.Errorf("Job(%s) = %v; want kept", name, err)
		}
	}
	if _, err := ib.Ledger.Job(ctx, "batches/1"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Job(batches/1) = %v; want ErrNotFound", err)
	}
}
