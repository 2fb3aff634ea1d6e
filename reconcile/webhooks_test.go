package reconcile_test

import (
	"testing"
	"time"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/reconcile"
)

// A registered webhook whose endpoint was down long enough for the API to
// disable it is reported, pinged once the endpoint is back, enabled again
// after the ping arrives, and the event it lost is synthesized.
func TestDisabledWebhookRevived(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &emulator.Config{
		ManualJobs:       true,
		FailureThreshold: 2,
		RetryBackoff:     time.Millisecond,
		RetryBackoffMax:  time.Millisecond,
	}, func(c *geminihooks.Config) { c.TrackStatic = true })
	ctx := t.Context()
	e.down.Store(true)
	wh, secret, err := e.client.Webhooks.Create(ctx, geminihooks.Webhook{
		URI: e.front.URL + "/static", Events: []event.Type{event.TypeBatchSucceeded, event.TypeBatchFailed},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := e.start(secret)
	name := e.launch(ledger.KindBatch, nil)
	if err := e.emu.Finish(name, "succeeded"); err != nil {
		t.Fatal(err)
	}
	e.idle()
	state := func() geminihooks.State {
		t.Helper()
		got, err := e.client.Webhooks.Get(ctx, wh.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}
	if s := state(); s != geminihooks.StateDisabledDueToFailedDeliveries {
		t.Fatalf("webhook state %q; want disabled after failed deliveries", s)
	}

	// Watching only: counted, nothing else.
	watcher := e.reconciler(reconcile.Config{Owner: "node-1", WatchWebhooks: true})
	if err := watcher.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if st := watcher.Stats(); st.DisabledWebhooks != 1 || st.Pings != 0 {
		t.Fatalf("watcher stats %+v; want 1 disabled, no ping", st)
	}

	e.down.Store(false)
	r := e.reconciler(reconcile.Config{Owner: "node-1", ReviveWebhooks: true})
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.DisabledWebhooks != 1 || st.Pings != 1 || st.Revived != 0 {
		t.Fatalf("after the first pass: %+v; want 1 disabled, 1 ping", st)
	}
	if s := state(); s != geminihooks.StateDisabledDueToFailedDeliveries {
		t.Fatalf("webhook enabled before its ping arrived: %q", s)
	}
	e.idle()
	tr := e.lg
	waitFor(t, "the ping to reach the listener", func() bool {
		j, err := tr.Job(ctx, wh.ID)
		return err == nil && j.Settled
	})
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != geminihooks.StateEnabled {
		t.Fatalf("webhook state %q after its ping arrived; want enabled", s)
	}
	if st := r.Stats(); st.Revived != 1 || st.Pings != 1 {
		t.Fatalf("after the second pass: %+v; want 1 revived", st)
	}

	// The event lost while the webhook was down is synthesized.
	e.clock.Advance(time.Hour)
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lost event's handler", func() bool { _, runs := e.runCount(); return runs == 1 })
	if st := r.Stats(); st.Synthesized != 1 || st.DisabledWebhooks != 0 || st.Revived != 1 {
		t.Errorf("final stats %+v; want 1 synthesized, none disabled, 1 revived", st)
	}
	waitFor(t, "the ping acked as unhandled", func() bool { return l.Stats().Unhandled == 1 })
}
