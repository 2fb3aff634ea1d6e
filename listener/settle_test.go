package listener_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/listener"
)

// A stored delivery settles its tracked job, and so does a duplicate (the
// first one may have been stored by a process that failed to settle).
func TestSettlesTrackedJob(t *testing.T) {
	t.Parallel()
	tr := ledger.NewMemory()
	h := newHarness(t, listener.Config{Ledger: tr})
	ctx := t.Context()
	for _, name := range []string{"batches/1", "batches/2"} {
		if err := tr.Track(ctx, &ledger.Job{Name: name, Kind: ledger.KindBatch, LaunchedAt: start, NextCheck: start}); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Advance(time.Minute)
	if code := h.deliver("msg_1", h.body(&event.BatchSucceeded{ID: "batches/1"})); code != http.StatusAccepted {
		t.Fatalf("status %d; want 202", code)
	}
	// An event for a job nobody tracks changes nothing.
	if code := h.deliver("msg_2", h.body(&event.BatchFailed{ID: "batches/9"})); code != http.StatusAccepted {
		t.Fatalf("status %d; want 202", code)
	}
	got, err := tr.Job(ctx, "batches/1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Settled || !got.SettledAt.Equal(start.Add(time.Minute)) {
		t.Errorf("batches/1 = settled %v at %v; want settled at start+1m", got.Settled, got.SettledAt)
	}
	due, err := tr.Due(ctx, start.Add(time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].Name != "batches/2" {
		t.Errorf("Due = %v, %v; want only batches/2", due, err)
	}
	if st := h.l.Stats(); st.SettleFailed != 0 {
		t.Errorf("SettleFailed = %d", st.SettleFailed)
	}
}

// settleFailing is a ledger whose Settle fails.
type settleFailing struct{ ledger.Ledger }

var errSettle = errors.New("settle failed")

func (settleFailing) Settle(context.Context, string, time.Time) error { return errSettle }

// A ledger that fails to settle does not fail the delivery: it is stored
// and answered 202, and the failure is counted.
func TestSettleFailureStillStores(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{Ledger: settleFailing{ledger.NewMemory()}})
	if code := h.deliver("msg_1", h.body(&event.BatchSucceeded{ID: "batches/1"})); code != http.StatusAccepted {
		t.Fatalf("status %d; want 202", code)
	}
	if code := h.deliver("msg_2", h.body(&event.BatchSucceeded{ID: "batches/1"})); code != http.StatusOK {
		t.Fatalf("duplicate: status %d; want 200", code)
	}
	if st := h.l.Stats(); st.SettleFailed != 2 || st.Stored != 1 {
		t.Errorf("SettleFailed = %d, Stored = %d; want 2, 1", st.SettleFailed, st.Stored)
	}
}
