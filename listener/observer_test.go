package listener_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu         sync.Mutex
	deliveries []listener.Delivery
	runs       []listener.Run
}

func (r *recorder) Delivered(d listener.Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.Body = bytes.Clone(d.Body)
	r.deliveries = append(r.deliveries, d)
}

func (r *recorder) Ran(run listener.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, run)
}

func (r *recorder) last() listener.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deliveries[len(r.deliveries)-1]
}

func (r *recorder) runCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

func TestObserverDeliveries(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHarness(t, listener.Config{Observer: listener.Observers{rec}, MaxBodyBytes: 4096})
	body := h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/obs"})
	forged := h.request("wh_forged", h.clock.Now(), body)
	forged.Header.Set(signing.HeaderSignature, "v1,"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	big := h.request("wh_big", h.clock.Now(), bytes.Repeat([]byte("x"), 5000))

	type want struct {
		Status    int
		Outcome   listener.Outcome
		WebhookID string
		Scheme    signing.Scheme
		Type      event.Type
		JobID     string
		HasBody   bool
		HasErr    bool
	}
	tests := []struct {
		name string
		req  *http.Request
		want want
	}{
		{"stored", h.request("wh_1", h.clock.Now(), body), want{202, listener.OutcomeStored, "wh_1", "v1", event.TypeBatchSucceeded, "batches/obs", true, false}},
		{"duplicate", h.request("wh_1", h.clock.Now(), body), want{200, listener.OutcomeDuplicate, "wh_1", "v1", event.TypeBatchSucceeded, "batches/obs", true, false}},
		{"forged", forged, want{401, "bad_signature", "wh_forged", "", "", "", false, true}},
		{"stale", h.request("wh_old", h.clock.Now().Add(-time.Hour), body), want{401, "stale_timestamp", "wh_old", "", "", "", false, true}},
		{"too large", big, want{413, "too_large", "wh_big", "", "", "", false, true}},
	}
	// Sequential: each case depends on the stored state the one before left.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _ := h.do(tt.req)
			d := rec.last()
			got := want{d.Status, d.Outcome, d.WebhookID, d.Scheme, d.Type, d.JobID, d.Body != nil, d.Err != nil}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delivery (-want +got):\n%s", diff)
			}
			if code != tt.want.Status {
				t.Errorf("answered %d, observer saw %d", code, tt.want.Status)
			}
			if d.Latency < 0 || d.Start.IsZero() {
				t.Errorf("latency %v, start %v", d.Latency, d.Start)
			}
			if got, want := d.Outcome != listener.OutcomeStored && d.Outcome != listener.OutcomeDuplicate, tt.want.HasErr; got != want {
				t.Errorf("refused = %v, want %v", got, want)
			}
		})
	}
}

func TestObserverRuns(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHarness(t, listener.Config{Observer: rec, Backoff: atOnce})
	boom := errors.New("boom")
	h.l.On(event.TypeBatchFailed, func(context.Context, *event.Event) error { return boom })
	h.l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { return nil })
	h.run()
	if code := h.deliver("wh_ok", h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/ok"})); code != 202 {
		t.Fatalf("ok: %d", code)
	}
	if code := h.deliver("wh_fail", h.body(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/fail"})); code != 202 {
		t.Fatalf("fail: %d", code)
	}
	// Three attempts, retried at once: the failing event runs three times,
	// the last dead.
	waitFor(t, "four runs", func() bool { return rec.runCount() == 4 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// A worker reports a retried run after the inbox has recorded the
	// retry, and by then another worker may have run the next attempt and
	// reported it: read the runs in attempt order.
	runs := slices.Clone(rec.runs)
	slices.SortStableFunc(runs, func(a, b listener.Run) int { return a.Attempt - b.Attempt })
	byID := map[string][]listener.RunOutcome{}
	for _, r := range runs {
		byID[r.WebhookID] = append(byID[r.WebhookID], r.Outcome)
		if r.Outcome != listener.RunAcked && !errors.Is(r.Err, boom) {
			t.Errorf("run %s %s: err %v, want boom", r.WebhookID, r.Outcome, r.Err)
		}
		if r.Type == "" || r.JobID == "" || r.Attempt < 1 {
			t.Errorf("run %+v lacks its event", r)
		}
	}
	want := map[string][]listener.RunOutcome{
		"wh_ok":   {listener.RunAcked},
		"wh_fail": {listener.RunRetry, listener.RunRetry, listener.RunDead},
	}
	if diff := cmp.Diff(want, byID); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}
