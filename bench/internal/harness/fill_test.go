package harness

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
)

// fillCase is a small fill: 300 events over (from, to], and a Prune cutoff a third of the way, which
// must delete the first 100 whether the finish times come in bolt's rounds (of 100, at 1/6, 1/2 and 5/6
// of the span) or evenly spread (pginbox's).
func fillCase() (n int, from, to, cutoff time.Time) {
	to = time.Now().Truncate(time.Microsecond)
	from = to.Add(-dedupeWindow + 3*pruneEvery)
	return 300, from, to, from.Add(time.Duration(0.335 * float64(to.Sub(from))))
}

// handled is what an inbox holds for m after a listener handled it: Put, Claim and Ack.
func handled(t *testing.T, ib inbox.Store) *inbox.Message {
	t.Helper()
	ctx := context.Background()
	m, err := storedDelivery("filltest", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ib.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	ms, err := ib.Claim(ctx, 1, time.Minute)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Claim: %v, %d messages", err, len(ms))
	}
	if err := ib.Ack(ctx, ms[0].ID, ms[0].Lease); err != nil {
		t.Fatal(err)
	}
	got, err := ib.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkFilled compares a filled event with one a listener handled, apart from what differs between any
// two events, and checks that Prune at the cutoff deletes exactly the first third.
func checkFilled(t *testing.T, ib inbox.Store, want *inbox.Message, cutoff time.Time) {
	t.Helper()
	ctx := context.Background()
	got, err := ib.Get(ctx, fillID(0))
	if err != nil {
		t.Fatal(err)
	}
	if wantKey := jobKeyPrefix() + "batches/" + fillID(0); got.JobKey != wantKey {
		t.Errorf("filled job key %q, want %q", got.JobKey, wantKey)
	}
	differ := cmpopts.IgnoreFields(inbox.Message{}, "ID", "JobKey", "ReceivedAt", "NotBefore", "FinishedAt", "Lease")
	if diff := cmp.Diff(want, got, differ, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("a filled event differs from a handled one (-handled +filled):\n%s", diff)
	}
	if got.FinishedAt.IsZero() || got.ReceivedAt.After(got.FinishedAt) {
		t.Errorf("filled event received %v, finished %v", got.ReceivedAt, got.FinishedAt)
	}
	n, err := ib.Prune(ctx, cutoff)
	if err != nil || n != 100 {
		t.Errorf("Prune at a third of the span deleted %d, %v; want 100", n, err)
	}
	if _, err := ib.Get(ctx, want.ID); err != nil {
		t.Errorf("Prune deleted the handled event, which finished after the fill: %v", err)
	}
}

func TestFillBoltMatchesInbox(t *testing.T) {
	t.Parallel()
	n, from, to, cutoff := fillCase()
	ctx := context.Background()
	ib, remove, err := openFilledBolt(ctx, n, from, to)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	checkFilled(t, ib, handled(t, ib), cutoff)
}

// TestFillPGMatchesInbox checks the INSERT ... SELECT against rows that Put, Claim and Ack left: every
// column but the ones that differ between any two events, read raw, so that columns Get does not show
// count too.
func TestFillPGMatchesInbox(t *testing.T) {
	t.Parallel()
	url := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
	if url == "" {
		t.Skip("GEMINIHOOKS_TEST_POSTGRES is not set")
	}
	n, from, to, cutoff := fillCase()
	ctx := context.Background()
	tbl, err := newPGTable(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.drop()
	ib, err := tbl.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ib.Close()
	if err := fillPG(ctx, tbl, n, from, to); err != nil {
		t.Fatal(err)
	}
	want := handled(t, ib)
	raw := func(id string) string {
		var s string
		err := tbl.pool.QueryRow(ctx, `SELECT (to_jsonb(m) - ARRAY['seq', 'id', 'job_key', 'received_at', 'not_before', 'finished_at', 'lease']
	|| jsonb_build_object('leased', m.lease <> '', 'received by finish', m.received_at <= m.finished_at))::text
FROM `+pgx.Identifier{tbl.name}.Sanitize()+` m WHERE id = $1`, []byte(id)).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if diff := cmp.Diff(raw(want.ID), raw(fillID(0))); diff != "" {
		t.Errorf("a filled row differs from a handled one (-handled +filled):\n%s", diff)
	}
	checkFilled(t, ib, want, cutoff)
}

// TestCheckpointPG checks that the harness's checkpoint before a load is one PostgreSQL counts as
// requested, and that without a reachable PostgreSQL it does nothing.
func TestCheckpointPG(t *testing.T) {
	ctx := t.Context()
	if err := checkpointPG(ctx, ""); err != nil {
		t.Errorf("no URL: %v", err)
	}
	if err := checkpointPG(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"); err != nil {
		t.Errorf("unreachable: %v", err)
	}
	url := os.Getenv("GEMINIHOOKS_TEST_POSTGRES")
	if url == "" {
		t.Skip("GEMINIHOOKS_TEST_POSTGRES is not set")
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	requested := func() int64 {
		// PostgreSQL 17 moved the counter to pg_stat_checkpointer.
		var n int64
		err := conn.QueryRow(ctx, "SELECT num_requested FROM pg_stat_checkpointer").Scan(&n)
		if err != nil {
			err = conn.QueryRow(ctx, "SELECT checkpoints_req FROM pg_stat_bgwriter").Scan(&n)
		}
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := requested()
	if err := checkpointPG(ctx, url); err != nil {
		t.Fatal(err)
	}
	if after := requested(); after <= before {
		t.Errorf("requested checkpoints %d before, %d after; want one more", before, after)
	}
}
