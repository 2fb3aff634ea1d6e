package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStatusDecidesRetry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		ok     bool
	}{
		{http.StatusOK, true},
		{http.StatusCreated, true},
		{http.StatusAccepted, true},
		{http.StatusNoContent, true},
		{http.StatusFound, false}, // redirects are not followed
		{http.StatusBadRequest, false},
		{http.StatusGone, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/moved" {
					t.Error("redirect followed")
				}
				w.Header().Set("Location", "/moved")
				w.WriteHeader(tc.status)
			}))
			t.Cleanup(srv.Close)
			e := newEngine(t, Options{Clock: clock})
			if err := e.Enqueue(Delivery{ID: "msg_1", URI: srv.URL}); err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				idle(t, e)
			} else {
				clock.nextTimer(t) // a retry is scheduled
			}
			a := e.Attempts()
			if len(a) != 1 || a[0].StatusCode != tc.status || a[0].OK != tc.ok || a[0].Err != nil {
				t.Errorf("attempts = %+v, want one answered %d, ok %v", a, tc.status, tc.ok)
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // hangs until the engine gives up on it
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond, AttemptTimeout: 500 * time.Millisecond})
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: srv.URL}); err != nil {
		t.Fatal(err)
	}
	idle(t, e)
	a := e.Attempts()
	if len(a) < 2 {
		t.Fatalf("attempts = %+v, want a timeout and a retry", a)
	}
	if !errors.Is(a[0].Err, ErrTimeout) || a[0].StatusCode != 0 || a[0].OK {
		t.Errorf("first attempt = %+v, want ErrTimeout", a[0])
	}
	if a[0].Latency < 500*time.Millisecond {
		t.Errorf("first attempt gave up after %v, before the 500ms timeout", a[0].Latency)
	}
	if last := a[len(a)-1]; !last.OK {
		t.Errorf("last attempt = %+v, want success", last)
	}
}

func TestDroppedConnectionIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond})
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: srv.URL, Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	idle(t, e)
	a := e.Attempts()
	if len(a) != 2 {
		t.Fatalf("attempts = %+v, want a dropped one and a retry", a)
	}
	if a[0].Err == nil || errors.Is(a[0].Err, ErrTimeout) || a[0].OK || a[0].Injected() {
		t.Errorf("first attempt = %+v, want a connection error", a[0])
	}
	if !a[1].OK {
		t.Errorf("retry = %+v, want success", a[1])
	}
}

func TestSignFailureDropsDelivery(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	var outcomes atomic.Int32
	e := newEngine(t, Options{OnOutcome: func(string, bool) { outcomes.Add(1) }})
	errKey := errors.New("key whsec_secret is bad")
	sign := func(string, string, time.Time, []byte) (string, error) { return "", errKey }
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL, Sign: sign, WebhookID: "wh_1"}); err != nil {
		t.Fatal(err)
	}
	idle(t, e)
	a := e.Attempts()
	if len(a) != 1 || !errors.Is(a[0].Err, ErrSign) || a[0].OK {
		t.Fatalf("attempts = %+v, want one failed with ErrSign", a)
	}
	if strings.Contains(a[0].Err.Error(), "whsec_") {
		t.Errorf("attempt error %q quotes the signer's error", a[0].Err)
	}
	if n := len(rcv.got); n != 0 {
		t.Errorf("an unsigned request reached the endpoint")
	}
	if n := outcomes.Load(); n != 0 {
		t.Errorf("OnOutcome called %d times: a signing bug is not the endpoint's failure", n)
	}
}

func TestOnOutcomeOnlyForStaticWebhooks(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
	type call struct {
		webhook string
		ok      bool
	}
	var mu sync.Mutex
	var calls []call
	e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond, Workers: 1, OnOutcome: func(id string, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{id, ok})
	}})
	if err := e.Enqueue(Delivery{ID: "dyn", URI: rcv.URL}); err != nil {
		t.Fatal(err)
	}
	idle(t, e) // 500 then 200, neither reported
	if err := e.Enqueue(Delivery{ID: "static", URI: rcv.URL, WebhookID: "wh_9"}); err != nil {
		t.Fatal(err)
	}
	idle(t, e)
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]call{{"wh_9", true}}, calls, cmp.AllowUnexported(call{})); diff != "" {
		t.Errorf("OnOutcome calls (-want +got):\n%s", diff)
	}
}

func TestAttemptJSON(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t)
	e := newEngine(t, Options{Clock: clock})
	e.SetFaults(Faults{FailFirst: 1})
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL + "/hook", WebhookID: "wh_1"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(clock.nextTimer(t))
	idle(t, e)
	attempts := append(e.Attempts(), Attempt{
		ID: "msg_2", URI: "https://example.com/x", Number: 7, Start: time.Date(2026, 5, 4, 13, 0, 0, 5e8, time.UTC),
		Err: fmt.Errorf("%w: boom", ErrTimeout), Latency: 1500 * time.Microsecond, GaveUp: true,
	})
	got, err := json.Marshal(attempts)
	if err != nil {
		t.Fatal(err)
	}
	var gotV, wantV any
	if err := json.Unmarshal(got, &gotV); err != nil {
		t.Fatal(err)
	}
	want := `[
	 {"id":"msg_1","webhook_id":"wh_1","uri":"` + rcv.URL + `/hook","attempt":1,"start_time":"2026-05-04T12:00:00Z",
	  "status_code":503,"latency_ms":0,"ok":false,"injected":true,"faults":["fail"]},
	 {"id":"msg_1","webhook_id":"wh_1","uri":"` + rcv.URL + `/hook","attempt":2,"start_time":"` +
		clock.Now().Format(time.RFC3339Nano) + `","status_code":204,"latency_ms":0,"ok":true,"injected":false},
	 {"id":"msg_2","uri":"https://example.com/x","attempt":7,"start_time":"2026-05-04T13:00:00.5Z",
	  "error":"delivery: attempt timed out: boom","latency_ms":1.5,"ok":false,"injected":false,"gave_up":true}]`
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestAttemptsReturnsACopy(t *testing.T) {
	t.Parallel()
	e := newEngine(t, Options{TimeScale: fastScale, BackoffBase: time.Millisecond})
	rcv := newReceiver(t)
	e.SetFaults(Faults{FailFirst: 1})
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL}); err != nil {
		t.Fatal(err)
	}
	idle(t, e)
	a := e.Attempts()
	a[0].Faults[0] = FaultCut
	a[1].ID = "changed"
	if b := e.Attempts(); b[0].Faults[0] != FaultFail || b[1].ID != "msg_1" {
		t.Errorf("changing the returned log changed the engine's: %+v", b)
	}
}

func TestLogLimitKeepsNewest(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	e := newEngine(t, Options{Workers: 1, LogLimit: 3})
	for i := range 8 { // past twice the limit, so the log is trimmed
		if err := e.Enqueue(Delivery{ID: fmt.Sprint(i), URI: rcv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	idle(t, e)
	var ids []string
	for _, a := range e.Attempts() {
		ids = append(ids, a.ID)
	}
	if diff := cmp.Diff([]string{"5", "6", "7"}, ids); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestIdle(t *testing.T) {
	t.Parallel()
	t.Run("fresh engine", func(t *testing.T) {
		t.Parallel()
		e := newEngine(t, Options{})
		if err := e.Idle(context.Background()); err != nil {
			t.Errorf("Idle = %v", err)
		}
	})
	t.Run("retry pending", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		rcv := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
		e := newEngine(t, Options{Clock: clock})
		if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL}); err != nil {
			t.Fatal(err)
		}
		d := clock.nextTimer(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.Idle(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Idle with a retry scheduled = %v, want context.Canceled", err)
		}
		clock.Advance(d)
		idle(t, e)
	})
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		entered := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
		}))
		t.Cleanup(srv.Close)
		e := newEngine(t, Options{})
		if err := e.Enqueue(Delivery{ID: "msg_1", URI: srv.URL}); err != nil {
			t.Fatal(err)
		}
		<-entered
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.Idle(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Idle with an attempt in flight = %v, want context.Canceled", err)
		}
		close(release)
		idle(t, e)
	})
	t.Run("closed with work pending", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		e := New(Options{Clock: clock})
		e.SetFaults(Faults{Delay: time.Hour})
		if err := e.Enqueue(Delivery{ID: "msg_1", URI: "http://127.0.0.1:9/"}); err != nil {
			t.Fatal(err)
		}
		clock.nextTimer(t)
		res := make(chan error, 1)
		go func() { res <- e.Idle(context.Background()) }()
		e.Close()
		if err := <-res; !errors.Is(err, ErrClosed) {
			t.Errorf("Idle across Close = %v, want ErrClosed", err)
		}
		if err := e.Idle(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Idle after Close = %v, want ErrClosed", err)
		}
	})
}

func TestCancelWebhook(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	release, entered := make(chan struct{}), make(chan struct{})
	var hits sync.Map // webhook-id -> *atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		n, _ := hits.LoadOrStore(id, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		if id == "slow" {
			close(entered)
			<-release
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	e := newEngine(t, Options{Clock: clock})
	for _, d := range []Delivery{
		{ID: "a1", URI: srv.URL, WebhookID: "wh_a"},
		{ID: "a2", URI: srv.URL, WebhookID: "wh_a"},
		{ID: "b1", URI: srv.URL, WebhookID: "wh_b"},
	} {
		if err := e.Enqueue(d); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		clock.nextTimer(t) // all three failed and wait for a retry
	}
	if n := e.CancelWebhook("wh_a"); n != 2 {
		t.Errorf("CancelWebhook(wh_a) = %d, want 2", n)
	}
	if n := e.CancelWebhook(""); n != 0 {
		t.Errorf("CancelWebhook(\"\") = %d, want 0", n)
	}
	clock.Advance(time.Hour)
	clock.nextTimer(t) // b1 retried and failed again
	if err := e.Enqueue(Delivery{ID: "slow", URI: srv.URL, WebhookID: "wh_c"}); err != nil {
		t.Fatal(err)
	}
	<-entered
	if n := e.CancelWebhook("wh_c"); n != 1 {
		t.Errorf("CancelWebhook(wh_c) in flight = %d, want 1", n)
	}
	close(release)
	if n := e.CancelWebhook("wh_b"); n != 1 {
		t.Errorf("CancelWebhook(wh_b) = %d, want 1", n)
	}
	idle(t, e) // nothing scheduled: the in-flight one was not retried
	for id, want := range map[string]int32{"a1": 1, "a2": 1, "b1": 2, "slow": 1} {
		n, _ := hits.Load(id)
		if got := n.(*atomic.Int32).Load(); got != want {
			t.Errorf("%s: %d attempts, want %d", id, got, want)
		}
	}
}

func TestCancelWebhookQueuedAndHeld(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		entered <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	e := newEngine(t, Options{Clock: clock, Workers: 1})
	// One in flight, holding the only worker; two queued behind it.
	for _, id := range []string{"busy", "q1", "q2"} {
		if err := e.Enqueue(Delivery{ID: id, URI: srv.URL, WebhookID: "wh_" + id[:1]}); err != nil {
			t.Fatal(err)
		}
		if id == "busy" {
			<-entered
		}
	}
	// Two more held in a reorder window.
	e.SetFaults(Faults{Reorder: 5, ReorderHold: time.Hour})
	for _, id := range []string{"h1", "h2"} {
		if err := e.Enqueue(Delivery{ID: id, URI: srv.URL, WebhookID: "wh_q"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.CancelWebhook("wh_q"); n != 4 {
		t.Errorf("CancelWebhook(wh_q) = %d, want 4", n)
	}
	close(release)
	e.SetFaults(Faults{}) // releases the (now empty) window
	idle(t, e)
	if n := hits.Load(); n != 1 {
		t.Errorf("endpoint got %d requests, want only the one in flight before the cancel", n)
	}
}

// TestCancelFromOnOutcome is how the emulator disables a failing webhook:
// from the callback, before the engine schedules the retry.
func TestCancelFromOnOutcome(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t, http.StatusInternalServerError)
	var e *Engine
	cancelled := make(chan int, 1)
	e = newEngine(t, Options{Clock: clock, OnOutcome: func(webhookID string, ok bool) {
		cancelled <- e.CancelWebhook(webhookID)
	}})
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL, WebhookID: "wh_1"}); err != nil {
		t.Fatal(err)
	}
	if n := <-cancelled; n != 1 {
		t.Errorf("CancelWebhook from OnOutcome = %d, want 1", n)
	}
	idle(t, e)
	if n := len(clock.added); n != 0 {
		t.Errorf("%d timers set for a cancelled delivery", n)
	}
}

// TestThousandDeliveries is the emulator's load: 1,000 deliveries at once
// must all arrive, with no more connections in use than workers.
func TestThousandDeliveries(t *testing.T) {
	t.Parallel()
	const n, workers = 1000, 8
	var inFlight, maxInFlight atomic.Int32
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); cur > m && !maxInFlight.CompareAndSwap(m, cur); m = maxInFlight.Load() {
		}
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	e := newEngine(t, Options{Workers: workers})
	for i := range n {
		if err := e.Enqueue(Delivery{ID: fmt.Sprintf("msg_%d", i), URI: srv.URL, Body: []byte(`{"type":"batch.succeeded"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	idle(t, e)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Errorf("%d distinct deliveries arrived, want %d", len(seen), n)
	}
	if m := maxInFlight.Load(); m > workers {
		t.Errorf("%d requests in flight at once, want at most %d", m, workers)
	}
	for _, a := range e.Attempts() {
		if !a.OK {
			t.Errorf("attempt failed: %+v", a)
		}
	}
}

// TestCloseStopsEverything is not parallel: it counts goroutines, so it must
// run alone.
func TestCloseStopsEverything(t *testing.T) {
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-id") == "hang" {
			entered <- struct{}{}
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	failed := make(chan struct{}, 1)
	e := New(Options{Workers: 2, AttemptTimeout: time.Hour, OnOutcome: func(string, bool) {
		select {
		case failed <- struct{}{}:
		default:
		}
	}})
	// One attempt in flight, one retry scheduled an hour out, one delayed
	// by the reorder window.
	if err := e.Enqueue(Delivery{ID: "hang", URI: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if err := e.Enqueue(Delivery{ID: "fail", URI: srv.URL, WebhookID: "wh"}); err != nil {
		t.Fatal(err)
	}
	<-entered
	<-failed // "fail" was answered; its retry is being scheduled
	e.SetFaults(Faults{Reorder: 5, ReorderHold: time.Hour})
	if err := e.Enqueue(Delivery{ID: "held", URI: srv.URL}); err != nil {
		t.Fatal(err)
	}

	e.Close()
	e.Close() // idempotent
	if err := e.Enqueue(Delivery{ID: "late", URI: srv.URL}); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		leaked := leakedGoroutines()
		if leaked == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", leaked)
		}
		runtime.Gosched()
	}
}

// leakedGoroutines returns the stacks of goroutines that belong to an engine
// or to its HTTP client.
func leakedGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "delivery.(*Engine)") || strings.Contains(g, "net/http.(*persistConn)") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

// TestLogsKeepSecrets runs success, retries, a give-up and a signing failure
// through a debug logger and checks that no signature or body reached it.
func TestLogsKeepSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusOK, http.StatusInternalServerError)
	clock := newFakeClock()
	// Retries after 5s, 10s and 20s; the next (40s) misses the minute.
	e := newEngine(t, Options{Logger: logger, Clock: clock, RetryWindow: time.Minute, Workers: 1})
	const bodyMarker, sigMarker = "body-marker-7f3a", "sig-marker-91c2"
	sign := func(string, string, time.Time, []byte) (string, error) { return "v1," + sigMarker, nil }
	badSign := func(string, string, time.Time, []byte) (string, error) { return "", errors.New(sigMarker) }
	for _, tc := range []struct {
		d        Delivery
		attempts int
	}{
		{Delivery{ID: "ok_after_retry", Sign: sign}, 2},
		{Delivery{ID: "gives_up", Sign: sign}, 4},
		{Delivery{ID: "bad_sign", Sign: badSign}, 1},
	} {
		before := len(e.Attempts())
		tc.d.URI, tc.d.Body = rcv.URL, []byte(`{"x":"`+bodyMarker+`"}`)
		if err := e.Enqueue(tc.d); err != nil {
			t.Fatal(err)
		}
		clock.settle(t, e)
		if n := len(e.Attempts()) - before; n != tc.attempts {
			t.Fatalf("%s: %d attempts, want %d: %+v", tc.d.ID, n, tc.attempts, e.Attempts())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	for _, want := range []string{"ok_after_retry", "giving up", "signing failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{bodyMarker, sigMarker} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
