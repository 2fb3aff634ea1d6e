package delivery

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestFailFirstInjectsSynthetic503s(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	var mu sync.Mutex
	var outcomes []bool
	e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond, OnOutcome: func(_ string, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, ok)
	}})
	e.SetFaults(Faults{FailFirst: 2})
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL, Body: []byte("{}"), WebhookID: "wh_1"}); err != nil {
		t.Fatal(err)
	}
	idle(t, e)
	if n := len(rcv.got); n != 1 {
		t.Errorf("endpoint contacted %d times, want once: injected failures never reach it", n)
	}
	type row struct {
		Number, Status int
		OK             bool
		Faults         []Fault
	}
	var got []row
	for _, a := range e.Attempts() {
		got = append(got, row{a.Number, a.StatusCode, a.OK, a.Faults})
	}
	want := []row{
		{1, http.StatusServiceUnavailable, false, []Fault{FaultFail}},
		{2, http.StatusServiceUnavailable, false, []Fault{FaultFail}},
		{3, http.StatusNoContent, true, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]bool{false, false, true}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestDuplicatesKeepWebhookID(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	var mu sync.Mutex
	var outcomes []bool
	e := newEngine(t, Options{OnOutcome: func(_ string, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, ok)
	}})
	e.SetFaults(Faults{DuplicateRate: 1})
	body := []byte(`{"type":"video.generated"}`)
	if err := e.Enqueue(Delivery{ID: "msg_dup", URI: rcv.URL, Body: body, WebhookID: "wh_1"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got := rcv.next(t)
		if id := got.header.Get("webhook-id"); id != "msg_dup" {
			t.Errorf("webhook-id %q, want msg_dup on both copies", id)
		}
		if string(got.body) != string(body) {
			t.Errorf("body %q, want %q", got.body, body)
		}
	}
	idle(t, e)
	var faults [][]Fault
	for _, a := range e.Attempts() {
		faults = append(faults, a.Faults)
	}
	slices.SortFunc(faults, func(a, b []Fault) int { return len(a) - len(b) })
	if diff := cmp.Diff([][]Fault{nil, {FaultDuplicate}}, faults); diff != "" {
		t.Errorf("attempt faults (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]bool{true}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got): the copy must not count:\n%s", diff)
	}
}

func TestDuplicateRateIsARate(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	e := newEngine(t, Options{}) // seeded: the count below is deterministic
	e.SetFaults(Faults{DuplicateRate: 0.25})
	const n = 200
	for i := range n {
		if err := e.Enqueue(Delivery{ID: fmt.Sprint(i), URI: rcv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	idle(t, e)
	dups := 0
	for _, a := range e.Attempts() {
		if slices.Contains(a.Faults, FaultDuplicate) {
			dups++
		}
	}
	// Binomial(200, 0.25): mean 50, standard deviation 6.1.
	if dups < 30 || dups > 70 {
		t.Errorf("%d duplicates of %d deliveries at rate 0.25", dups, n)
	}
	if got := len(rcv.got); got != n+dups {
		t.Errorf("receiver got %d POSTs, want %d", got, n+dups)
	}
}

func TestDelayHoldsEveryAttempt(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
	// TimeScale shortens backoff, not the Delay fault.
	e := newEngine(t, Options{Clock: clock, TimeScale: 1e-3})
	e.SetFaults(Faults{Delay: 3 * time.Second})
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if d := clock.nextTimer(t); d != 3*time.Second {
			t.Fatalf("attempt %d: delay timer %v, want 3s", attempt, d)
		}
		if n := len(rcv.got); n != 0 {
			t.Fatalf("attempt %d sent before its delay", attempt)
		}
		clock.Advance(3 * time.Second)
		rcv.next(t)
		if attempt == 1 {
			clock.Advance(clock.nextTimer(t)) // the retry backoff
		}
	}
	idle(t, e)
	for _, a := range e.Attempts() {
		if diff := cmp.Diff([]Fault{FaultDelay}, a.Faults); diff != "" {
			t.Errorf("attempt %d faults (-want +got):\n%s", a.Number, diff)
		}
	}
}

// TestReorderShufflesAWindow sends through one worker so that the receiver
// sees exactly the order the engine released.
func TestReorderShufflesAWindow(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t)
	e := newEngine(t, Options{Clock: clock, Workers: 1, Rand: rand.New(rand.NewPCG(3, 4))})
	e.SetFaults(Faults{Reorder: 5, ReorderHold: time.Second})
	sent := []string{"a", "b", "c", "d", "e"}
	for _, id := range sent {
		if err := e.Enqueue(Delivery{ID: id, URI: rcv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for range sent {
		got = append(got, rcv.next(t).header.Get("webhook-id"))
	}
	if slices.Equal(got, sent) {
		t.Errorf("received %v, the order sent: not reordered", got)
	}
	if diff := cmp.Diff(sent, slices.Sorted(slices.Values(got))); diff != "" {
		t.Errorf("received a different set (-sent +got):\n%s", diff)
	}
	idle(t, e)
	for _, a := range e.Attempts() {
		if diff := cmp.Diff([]Fault{FaultReorder}, a.Faults); diff != "" {
			t.Errorf("attempt %s faults (-want +got):\n%s", a.ID, diff)
		}
	}
}

func TestReorderReleasesAPartialWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		release func(*fakeClock, *Engine)
	}{
		{"after the hold", func(c *fakeClock, _ *Engine) { c.Advance(time.Second) }},
		{"when switched off", func(_ *fakeClock, e *Engine) { e.SetFaults(Faults{}) }},
		{"when the window shrinks to fit", func(_ *fakeClock, e *Engine) { e.SetFaults(Faults{Reorder: 2}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			rcv := newReceiver(t)
			// TimeScale shortens backoff, not ReorderHold.
			e := newEngine(t, Options{Clock: clock, TimeScale: 1e-3})
			e.SetFaults(Faults{Reorder: 10, ReorderHold: time.Second})
			for _, id := range []string{"a", "b"} {
				if err := e.Enqueue(Delivery{ID: id, URI: rcv.URL}); err != nil {
					t.Fatal(err)
				}
			}
			if d := clock.nextTimer(t); d != time.Second {
				t.Fatalf("hold timer %v, want 1s", d)
			}
			if n := len(rcv.got); n != 0 {
				t.Fatalf("%d deliveries left a window that was neither full nor expired", n)
			}
			tc.release(clock, e)
			rcv.next(t)
			rcv.next(t)
			idle(t, e)
		})
	}
}

func TestCutConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tls  bool
		body string
	}{
		{"http", false, `{"type":"batch.succeeded","data":{"id":"batches/1"}}`},
		{"https", true, `{"type":"batch.succeeded","data":{"id":"batches/2"}}`},
		{"empty body", false, ""}, // cut in the headers: no handler runs
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type read struct {
				n   int
				err error
			}
			reads := make(chan read, 10)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				reads <- read{len(b), err}
			})
			srv := httptest.NewUnstartedServer(h)
			var client *http.Client
			if tc.tls {
				srv.StartTLS()
				client = srv.Client()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond, Client: client})
			e.SetFaults(Faults{CutConnection: 1})
			if err := e.Enqueue(Delivery{ID: "msg_1", URI: srv.URL, Body: []byte(tc.body)}); err != nil {
				t.Fatal(err)
			}
			// The handler of the cut attempt may still be reading when the
			// retry's has finished, so the reads arrive in either order.
			want := []read{{len(tc.body), nil}}
			if tc.body != "" { // else the cut falls in the headers and no handler runs
				want = append(want, read{len(tc.body) / 2, io.ErrUnexpectedEOF})
			}
			var got []read
			for range want {
				select {
				case r := <-reads:
					got = append(got, r)
				case <-time.After(waitLimit):
					t.Fatalf("the receiver saw %d requests, want %d; attempts: %+v", len(got), len(want), e.Attempts())
				}
			}
			slices.SortFunc(got, func(a, b read) int { return b.n - a.n })
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(read{}), cmpopts.EquateErrors()); diff != "" {
				t.Errorf("reads (-want +got):\n%s", diff)
			}
			idle(t, e)
			attempts := e.Attempts()
			if len(attempts) != 2 {
				t.Fatalf("attempts = %+v, want the cut one and a retry", attempts)
			}
			if a := attempts[0]; !errors.Is(a.Err, ErrConnectionCut) || a.OK || a.StatusCode != 0 || !slices.Equal(a.Faults, []Fault{FaultCut}) {
				t.Errorf("cut attempt logged as %+v", a)
			}
			if a := attempts[1]; !a.OK || a.Injected() {
				t.Errorf("retry logged as %+v", a)
			}
		})
	}
}

// TestSetFaultsWhileDelivering flips faults while deliveries run; -race
// checks the locking and every delivery must still arrive.
func TestSetFaultsWhileDelivering(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond, BackoffMax: time.Second, Workers: 4})
	const n = 100
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			e.SetFaults(Faults{FailFirst: i % 2, CutConnection: i % 3 / 2, DuplicateRate: 0.1, Reorder: i % 4, ReorderHold: time.Millisecond})
		}
	}()
	for i := range n {
		if err := e.Enqueue(Delivery{ID: fmt.Sprint(i), URI: rcv.URL, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	e.SetFaults(Faults{})
	idle(t, e)
	seen := map[string]bool{}
	for len(rcv.got) > 0 {
		g := <-rcv.got
		if g.readErr == nil {
			seen[g.header.Get("webhook-id")] = true
		}
	}
	if len(seen) != n {
		t.Errorf("%d of %d deliveries arrived whole", len(seen), n)
	}
}

// TestFailNextIsAOneShotBudget checks that FailNext fails exactly that many
// attempts across concurrent deliveries, on top of FailFirst's, that every
// delivery still arrives, and that the budget is gone afterwards.
func TestFailNextIsAOneShotBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		deliveries int
		faults     Faults
		wantFails  int
	}{
		{"fewer than deliveries", 10, Faults{FailNext: 3}, 3},
		{"more than deliveries", 2, Faults{FailNext: 5}, 5},
		{"duplicates spared", 4, Faults{FailNext: 4, DuplicateRate: 1}, 4},
		{"with FailFirst", 3, Faults{FailNext: 2, FailFirst: 1}, 3 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t)
			e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond, Workers: 4})
			e.SetFaults(tt.faults)
			for i := range tt.deliveries {
				if err := e.Enqueue(Delivery{ID: fmt.Sprint("msg_", i), URI: rcv.URL, Body: []byte("{}")}); err != nil {
					t.Fatal(err)
				}
			}
			idle(t, e)
			fails, delivered := 0, map[string]bool{}
			for _, a := range e.Attempts() {
				switch {
				case slices.Contains(a.Faults, FaultFail):
					fails++
					if a.OK || a.StatusCode != http.StatusServiceUnavailable || slices.Contains(a.Faults, FaultDuplicate) {
						t.Errorf("injected failure logged as %+v", a)
					}
				case !a.OK:
					t.Errorf("a failure nobody injected: %+v", a)
				case !slices.Contains(a.Faults, FaultDuplicate):
					delivered[a.ID] = true
				}
			}
			if fails != tt.wantFails {
				t.Errorf("%d injected failures, want %d", fails, tt.wantFails)
			}
			if len(delivered) != tt.deliveries {
				t.Errorf("%d deliveries arrived, want all %d", len(delivered), tt.deliveries)
			}

			// The budget is spent: a later delivery goes through at once.
			before := len(e.Attempts())
			if err := e.Enqueue(Delivery{ID: "msg_after", URI: rcv.URL, Body: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			idle(t, e)
			after := 0
			for _, a := range e.Attempts()[before:] {
				if a.ID == "msg_after" && slices.Contains(a.Faults, FaultFail) {
					after++
				}
			}
			if after != tt.faults.FailFirst {
				t.Errorf("a later delivery failed %d times, want only FailFirst's %d", after, tt.faults.FailFirst)
			}
		})
	}
}
