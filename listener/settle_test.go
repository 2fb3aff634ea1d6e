package listener_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/listener"
)

// A worker settles the tracked job of each event it claims, off the
// request path: settling is not needed for the 2xx and would cost every
// delivery a second store round trip.
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
	if code := h.deliver("msg_1", h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"})); code != http.StatusAccepted {
		t.Fatalf("status %d; want 202", code)
	}
	// An event for a job nobody tracks changes nothing.
	if code := h.deliver("msg_2", h.body(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/9"})); code != http.StatusAccepted {
		t.Fatalf("status %d; want 202", code)
	}
	if got, err := tr.Job(ctx, "batches/1"); err != nil || got.Settled {
		t.Fatalf("before a worker ran: batches/1 = %+v, %v; want tracked, not settled", got, err)
	}
	h.run()
	h.waitState("msg_1", inbox.StateDone)
	h.waitState("msg_2", inbox.StateDone)
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

// A ledger that fails to settle does not fail the event: it is stored,
// answered 202, handled and acked, and the failure is counted.
func TestSettleFailureStillStores(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{Ledger: settleFailing{ledger.NewMemory()}})
	if code := h.deliver("msg_1", h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"})); code != http.StatusAccepted {
		t.Fatalf("status %d; want 202", code)
	}
	if code := h.deliver("msg_2", h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"})); code != http.StatusOK {
		t.Fatalf("duplicate: status %d; want 200", code)
	}
	h.run()
	h.waitState("msg_1", inbox.StateDone)
	if st := h.l.Stats(); st.SettleFailed != 1 || st.Stored != 1 {
		t.Errorf("SettleFailed = %d, Stored = %d; want 1, 1", st.SettleFailed, st.Stored)
	}
}
