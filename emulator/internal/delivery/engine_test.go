package delivery

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDeliverySendsHeadersAndBody(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t, http.StatusNoContent)
	e := newEngine(t, Options{Clock: clock})
	body := []byte("{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"batches/1\"}}\n  ")
	var secret atomic.Pointer[string]
	secret.Store(new(newSecret(t)))
	sign := hmacSign(&secret)
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL + "/hook?x=1", Body: body, Sign: sign, WebhookID: "wh_1"}); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	idle(t, e)

	wantSig, _ := sign("", "msg_1", clock.Now(), body)
	for _, h := range []struct{ name, want string }{
		{"Content-Type", "application/json"},
		{"webhook-id", "msg_1"},
		{"webhook-timestamp", strconv.FormatInt(clock.Now().Unix(), 10)},
		{"webhook-signature", wantSig},
	} {
		if v := got.header.Get(h.name); v != h.want {
			t.Errorf("%s = %q, want %q", h.name, v, h.want)
		}
	}
	if diff := cmp.Diff(body, got.body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	want := []Attempt{{
		ID: "msg_1", WebhookID: "wh_1", URI: rcv.URL + "/hook?x=1", Number: 1,
		Start: clock.Now(), StatusCode: http.StatusNoContent, OK: true,
	}}
	if diff := cmp.Diff(want, e.Attempts(), cmpopts.EquateErrors()); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}

func TestDeliveryCopiesBody(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t)
	e := newEngine(t, Options{Clock: clock})
	e.SetFaults(Faults{Delay: time.Second})
	body := []byte(`{"a":1}`)
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL, Body: body}); err != nil {
		t.Fatal(err)
	}
	clock.nextTimer(t)
	copy(body, "XXXXXXX")
	clock.Advance(time.Second)
	got := rcv.next(t)
	if string(got.body) != `{"a":1}` {
		t.Errorf("body = %q, want the bytes as enqueued", got.body)
	}
	if sig, ok := got.header["Webhook-Signature"]; ok {
		t.Errorf("unsigned delivery carried webhook-signature %q", sig)
	}
}

func TestEnqueueRejectsInvalidDeliveries(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{})
	for _, tc := range []struct {
		name string
		d    Delivery
	}{
		{"empty id", Delivery{URI: "http://127.0.0.1:1/"}},
		{"relative uri", Delivery{ID: "m", URI: "/hook"}},
		{"ftp uri", Delivery{ID: "m", URI: "ftp://example.com/hook"}},
		{"unparsable uri", Delivery{ID: "m", URI: "http://[::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.Enqueue(tc.d); !errors.Is(err, ErrInvalidDelivery) {
				t.Errorf("Enqueue = %v, want ErrInvalidDelivery", err)
			}
		})
	}
	if got := e.Attempts(); len(got) != 0 {
		t.Errorf("rejected deliveries were attempted: %v", got)
	}
}

// TestRetriesFollowBackoffUntilWindow steps a fake clock through a delivery to
// an endpoint that always fails and checks every delay against the schedule.
func TestRetriesFollowBackoffUntilWindow(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t, http.StatusInternalServerError)
	var mu sync.Mutex
	var outcomes []bool
	e := newEngine(t, Options{
		Clock: clock,
		OnOutcome: func(webhookID string, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			if webhookID != "wh_1" {
				t.Errorf("OnOutcome webhook = %q", webhookID)
			}
			outcomes = append(outcomes, ok)
		},
	})
	start := clock.Now()
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL, Body: []byte("{}"), WebhookID: "wh_1"}); err != nil {
		t.Fatal(err)
	}

	delays := clock.settle(t, e)
	for range len(delays) + 1 {
		rcv.next(t)
	}
	for _, a := range e.Attempts() {
		if elapsed := a.Start.Sub(start); elapsed > DefaultRetryWindow {
			t.Errorf("attempt %d started %v after enqueue, beyond the window", a.Number, elapsed)
		}
	}

	var elapsed time.Duration
	exp := DefaultBackoffBase
	for i, d := range delays {
		if i > 0 {
			exp = min(2*exp, DefaultBackoffMax)
		}
		lo := time.Duration(float64(exp) * (1 - JitterFraction))
		hi := time.Duration(float64(exp) * (1 + JitterFraction))
		if d < lo || d > hi {
			t.Errorf("delay after attempt %d = %v, want within [%v, %v]", i+1, d, lo, hi)
		}
		elapsed += d
	}
	// 10 doubling steps (5s..2560s, 85m15s) then hourly: about 33 attempts.
	if n := len(delays) + 1; n < 28 || n > 40 {
		t.Errorf("%d attempts in the window, want about 33", n)
	}
	t.Logf("%d attempts, the last %v after enqueue", len(delays)+1, elapsed)
	if elapsed+time.Duration(float64(DefaultBackoffMax)*(1+JitterFraction)) <= DefaultRetryWindow {
		t.Errorf("gave up %v after enqueue, while another retry fitted the %v window", elapsed, DefaultRetryWindow)
	}

	attempts := e.Attempts()
	if len(attempts) != len(delays)+1 {
		t.Fatalf("%d attempts logged, %d made", len(attempts), len(delays)+1)
	}
	for i, a := range attempts {
		if a.Number != i+1 || a.OK || a.StatusCode != http.StatusInternalServerError || a.GaveUp != (i == len(attempts)-1) {
			t.Errorf("attempt %d = %+v", i+1, a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(make([]bool, len(attempts)), outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

// TestScheduleIsDeterministic checks that a seeded Rand fixes the jittered
// schedule, and a different seed changes it.
func TestScheduleIsDeterministic(t *testing.T) {
	t.Parallel()
	schedule := func(seed uint64) []time.Duration {
		clock := newFakeClock()
		e := newEngine(t, Options{Clock: clock, Rand: rand.New(rand.NewPCG(seed, seed)), RetryWindow: time.Hour})
		// The endpoint is never contacted: every attempt fails by injection.
		e.SetFaults(Faults{FailFirst: 1 << 30})
		if err := e.Enqueue(Delivery{ID: "msg_1", URI: "http://127.0.0.1:9/"}); err != nil {
			t.Fatal(err)
		}
		var delays []time.Duration
		for range 8 {
			d := clock.nextTimer(t)
			delays = append(delays, d)
			clock.Advance(d)
		}
		return delays
	}
	a, b, c := schedule(7), schedule(7), schedule(8)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different schedules (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Errorf("seeds 7 and 8 gave the same schedule %v", a)
	}
}

func TestTimeScaleCompressesSchedule(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEngine(t, Options{Clock: clock, TimeScale: 1e-4, BackoffBase: 10 * time.Second, BackoffMax: 40 * time.Second, RetryWindow: 100 * time.Second})
	e.SetFaults(Faults{FailFirst: 1 << 30})
	start := clock.Now()
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: "http://127.0.0.1:9/"}); err != nil {
		t.Fatal(err)
	}
	for i, exp := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		d := clock.nextTimer(t)
		lo := time.Duration(float64(exp) * 1e-4 * (1 - JitterFraction))
		hi := time.Duration(float64(exp) * 1e-4 * (1 + JitterFraction))
		if d < lo || d > hi {
			t.Errorf("delay %d = %v, want within [%v, %v]", i+1, d, lo, hi)
		}
		clock.Advance(d)
	}
	// 70s of 100s (scaled) spent; the next 40s delay cannot fit.
	idle(t, e)
	attempts := e.Attempts()
	if len(attempts) != 4 || !attempts[3].GaveUp {
		t.Fatalf("attempts = %+v, want 4 with the last giving up", attempts)
	}
	if last := attempts[3].Start.Sub(start); last > 10*time.Millisecond {
		t.Errorf("last attempt %v after enqueue, beyond the scaled window", last)
	}
}

// TestTinyTimeScaleEndToEnd runs a whole 24h schedule on the real clock.
func TestTinyTimeScaleEndToEnd(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusBadGateway)
	e := newEngine(t, Options{TimeScale: 1e-5}) // 24h -> 864ms
	start := time.Now()
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL, Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	idle(t, e)
	attempts := e.Attempts()
	if n := len(attempts); n < 2 || n > 40 {
		t.Fatalf("%d attempts, want a full schedule of at most about 33: %+v", n, attempts)
	}
	window := 864 * time.Millisecond
	for i, a := range attempts {
		if a.Number != i+1 || a.StatusCode != http.StatusBadGateway || a.OK {
			t.Errorf("attempt %d = %+v", i+1, a)
		}
		if a.Start.Sub(start) > window+time.Second {
			t.Errorf("attempt %d started %v after enqueue, window %v", i+1, a.Start.Sub(start), window)
		}
		if a.GaveUp != (i == len(attempts)-1) {
			t.Errorf("attempt %d GaveUp = %v", i+1, a.GaveUp)
		}
	}
}
