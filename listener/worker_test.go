package listener_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

func TestRetriesThenDeadLetter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{MaxAttempts: 3, Backoff: atOnce})
	var calls counter
	var fixed atomic.Bool
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		n := calls.inc()
		if fixed.Load() {
			return nil
		}
		return fmt.Errorf("boom %d", n)
	})
	h.run()
	h.deliver("msg_1", h.body(succeeded))
	h.waitState("msg_1", inbox.StateDead)
	if got := calls.get(); got != 3 {
		t.Errorf("handler ran %d times; want 3", got)
	}
	p, err := h.ib.List(context.Background(), inbox.Filter{State: inbox.StateDead}, "", 10)
	if err != nil || len(p.Messages) != 1 {
		t.Fatalf("dead letters = %v, %v; want 1", p, err)
	}
	dl := p.Messages
	if dl[0].ID != "msg_1" || dl[0].LastError != "boom 3" || dl[0].Attempts != 3 {
		t.Errorf("dead letter: %s attempts %d error %q; want msg_1, 3, %q", dl[0].ID, dl[0].Attempts, dl[0].LastError, "boom 3")
	}
	// A worker counts a retry once the inbox has recorded it, and the
	// event can meanwhile be claimed and dead-lettered by another worker:
	// the counters may trail the state just seen.
	waitFor(t, "two retries and a dead letter counted", func() bool {
		st := h.l.Stats()
		return st.Retried == 2 && st.Dead == 1
	})
	if st := h.l.Stats(); st.Processed != 0 {
		t.Errorf("Stats: processed %d; want 0", st.Processed)
	}

	// Once the cause is fixed, a requeued dead letter runs again.
	fixed.Store(true)
	if err := h.ib.Requeue(context.Background(), "msg_1", nil); err != nil {
		t.Fatal(err)
	}
	h.waitState("msg_1", inbox.StateDone)
	if got := calls.get(); got != 4 {
		t.Errorf("handler ran %d times; want 4", got)
	}
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		backoff func(int) time.Duration
		first   time.Duration
	}{
		{"default", nil, time.Second},
		{"configured", func(n int) time.Duration { return time.Minute << (n - 1) }, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testRetryBackoff(t, tc.backoff, tc.first)
		})
	}
}

// testRetryBackoff checks that a failure retries after first, the next
// one after twice it.
func testRetryBackoff(t *testing.T, backoff func(int) time.Duration, first time.Duration) {
	h := newHarness(t, listener.Config{MaxAttempts: 5, Backoff: backoff})
	var calls counter
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		if calls.inc() <= 2 {
			return errors.New("not yet")
		}
		return nil
	})
	stop := h.run()
	h.deliver("msg_1", h.body(succeeded))

	// The first failure retries after the backoff, the second after twice it.
	for i, delay := range []time.Duration{first, 2 * first} {
		waitFor(t, "the retry to be scheduled", func() bool {
			m, err := h.ib.Get(context.Background(), "msg_1")
			return err == nil && m.State == inbox.StatePending && m.Attempts == i+1
		})
		m, _ := h.ib.Get(context.Background(), "msg_1")
		if want := h.clock.Now().Add(delay); !m.NotBefore.Equal(want) || m.LastError != "not yet" {
			t.Fatalf("retry %d: NotBefore %v, error %q; want %v, %q", i+1, m.NotBefore, m.LastError, want, "not yet")
		}
		h.clock.Advance(delay - time.Millisecond)
		if n := calls.get(); n != i+1 {
			t.Fatalf("handler ran %d times before the retry was due; want %d", n, i+1)
		}
		h.clock.Advance(time.Millisecond)
	}
	h.waitState("msg_1", inbox.StateDone)
	// Counters trail the inbox state a test waits for; Run returns once
	// every outcome is recorded and counted.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := h.l.Stats(); st.Retried != 2 || st.Processed != 1 || calls.get() != 3 {
		t.Errorf("retried %d, processed %d, calls %d; want 2, 1, 3", st.Retried, st.Processed, calls.get())
	}
}

func TestPermanentDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{MaxAttempts: 10, Backoff: atOnce})
	var calls counter
	cause := errors.New("batch output is malformed")
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		calls.inc()
		return listener.Permanent(cause)
	})
	h.run()
	h.deliver("msg_1", h.body(succeeded))
	h.waitState("msg_1", inbox.StateDead)
	if calls.get() != 1 {
		t.Errorf("handler ran %d times; want 1", calls.get())
	}
	if !listener.IsPermanent(listener.Permanent(cause)) || listener.IsPermanent(cause) || listener.Permanent(nil) != nil {
		t.Error("IsPermanent or Permanent(nil) misbehave")
	}
	if !errors.Is(listener.Permanent(cause), cause) {
		t.Error("Permanent does not wrap its cause")
	}
}

func TestPanicIsAFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{MaxAttempts: 3, Backoff: atOnce})
	var calls counter
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		if calls.inc() == 1 {
			panic("handler bug")
		}
		return nil
	})
	stop := h.run()
	h.deliver("msg_1", h.body(succeeded))
	h.waitState("msg_1", inbox.StateDone)
	// Counters trail the inbox state a test waits for; Run returns once
	// every outcome is recorded and counted.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := h.l.Stats()
	if st.Panics != 1 || st.Retried != 1 || st.Processed != 1 {
		t.Errorf("panics %d retried %d processed %d; want 1, 1, 1", st.Panics, st.Retried, st.Processed)
	}
}

func TestHandlerTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{MaxAttempts: 3, Backoff: atOnce, HandlerTimeout: 20 * time.Millisecond})
	var calls counter
	causes := make(chan error, 1)
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		if calls.inc() == 1 {
			<-ctx.Done() // a slow handler that heeds its context
			causes <- ctx.Err()
			return ctx.Err()
		}
		return nil
	})
	stop := h.run()
	h.deliver("msg_1", h.body(succeeded))
	h.waitState("msg_1", inbox.StateDone)
	if err := <-causes; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("first run ended with %v; want DeadlineExceeded", err)
	}
	// Counters trail the inbox state a test waits for; Run returns once
	// every outcome is recorded and counted.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := h.l.Stats(); st.Retried != 1 || st.Processed != 1 {
		t.Errorf("retried %d processed %d; want 1, 1", st.Retried, st.Processed)
	}
}

// The lease a worker takes, which is how long a dead replica keeps its
// claims, is the handler timeout plus the lease margin.
func TestLeaseIsHandlerTimeoutPlusMargin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  listener.Config
		want time.Duration
	}{
		{"defaults", listener.Config{}, time.Minute + 30*time.Second},
		{"configured", listener.Config{HandlerTimeout: 10 * time.Second, LeaseMargin: 5 * time.Second}, 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.cfg)
			leases := make(chan time.Duration, 1)
			h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
				m, _ := inbox.ClaimFrom(ctx)
				leases <- m.LeaseUntil.Sub(h.clock.Now())
				return nil
			})
			h.run()
			h.deliver("msg_1", h.body(succeeded))
			if got := <-leases; got != tt.want {
				t.Errorf("lease %v; want %v", got, tt.want)
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{Workers: 1, GracePeriod: time.Minute})
	started := make(chan string, 2)
	release := make(chan struct{})
	h.l.On(event.TypeBatchFailed, func(ctx context.Context, e *event.Event) error {
		started <- e.ID
		<-release
		return ctx.Err() // nil: the drain does not cancel handlers within the grace period
	})
	cancel, wait := h.start()
	h.deliver("msg_1", h.body(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/1"}))
	if id := <-started; id != "msg_1" {
		t.Fatalf("started %s", id)
	}
	// The only worker is busy, so this one waits in the inbox.
	h.deliver("msg_2", h.body(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/2"}))

	cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- wait() }()
	// Run cannot return while msg_1's handler is blocked.
	select {
	case err := <-stopped:
		t.Fatalf("Run returned %v with a handler in flight", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run = %v; want nil after a clean drain", err)
	}
	if s := h.state("msg_1"); s != inbox.StateDone {
		t.Errorf("in-flight event: %q; want done", s)
	}
	if s := h.state("msg_2"); s != inbox.StatePending {
		t.Errorf("queued event: %q; want pending, left in the inbox", s)
	}
	if len(started) != 0 {
		t.Errorf("a handler started during the drain")
	}
}

func TestShutdownGraceExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{GracePeriod: 10 * time.Millisecond})
	var calls counter
	started := make(chan struct{}, 1)
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		if calls.inc() == 1 {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	stop := h.run()
	h.deliver("msg_1", h.body(succeeded))
	<-started
	if err := stop(); !errors.Is(err, listener.ErrGraceExpired) {
		t.Fatalf("Run = %v; want ErrGraceExpired", err)
	}
	m, err := h.ib.Get(context.Background(), "msg_1")
	if err != nil || m.State != inbox.StatePending || !strings.Contains(m.LastError, "shutdown") {
		t.Fatalf("after an interrupted handler: %+v, %v; want pending, interrupted by shutdown", m, err)
	}
	if st := h.l.Stats(); st.Retried != 0 || st.Dead != 0 {
		t.Errorf("an interruption counted as a failure: retried %d dead %d", st.Retried, st.Dead)
	}
	// The next Run picks it up at once.
	h.run()
	h.waitState("msg_1", inbox.StateDone)
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{MaxAttempts: 1, Backoff: atOnce})
	var mu sync.Mutex
	var got []string
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, s)
	}
	listener.Handle(h.l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
		record("typed " + string(d.Type) + " " + e.ID + " " + d.ID)
		return nil
	})
	h.l.On(event.TypeBatchCompleted, func(ctx context.Context, e *event.Event) error {
		record("on completed " + e.ID)
		return nil
	})
	h.l.On("webhook.ping", func(ctx context.Context, e *event.Event) error {
		record("on ping " + e.ID)
		return nil
	})
	h.l.OnUnknown(func(ctx context.Context, e *event.Event) error {
		record("unknown " + string(e.Type) + " " + e.ID)
		return nil
	})
	h.l.On(event.TypeVideoGenerated, func(ctx context.Context, e *event.Event) error {
		claim, ok := inbox.ClaimFrom(ctx)
		if !ok || claim.ID != e.ID || claim.Lease == "" {
			return listener.Permanent(errors.New("no claim in the context"))
		}
		record("video with claim " + e.ID)
		return nil
	})
	completed, err := event.Marshal(&event.Unknown{Type: event.TypeBatchCompleted, Raw: []byte(`{"id":"batches/2"}`)}, start, nil)
	if err != nil {
		t.Fatal(err)
	}
	ping, err := event.Marshal(&event.Unknown{Type: "webhook.ping", Raw: []byte(`{"id":"wh"}`)}, start, nil)
	if err != nil {
		t.Fatal(err)
	}
	deliveries := []struct {
		id   string
		body []byte
	}{
		{"msg_succeeded", h.body(succeeded)},
		{"msg_completed", completed},
		{"msg_failed", h.body(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/3"})},
		{"msg_ping", ping},
		{"msg_video", h.body(&event.Video{ID: "models/veo/operations/1"})},
		{"msg_expired", h.body(&event.Interaction{Type: event.TypeInteractionCompleted, ID: "v1_4"})}, // nobody handles it
		{"msg_baddata", []byte(`{"type":"batch.succeeded","data":{"id":12}}`)},                        // a typed handler cannot take it
		{"msg_otherbad", []byte(`{"type":"interaction.cancelled","data":{"id":[]}}`)},                 // unhandled: no decode needed
		{"msg_unknownbad", []byte(`{"type":"brand.new","data":"not an object"}`)},                     // unknown types never fail to decode
	}
	for _, d := range deliveries {
		if code := h.deliver(d.id, d.body); code != http.StatusAccepted {
			t.Fatalf("%s: status %d", d.id, code)
		}
	}
	stop := h.run()
	want := map[string]inbox.State{
		"msg_succeeded": inbox.StateDone, "msg_completed": inbox.StateDone, "msg_failed": inbox.StateDone,
		"msg_ping": inbox.StateDone, "msg_video": inbox.StateDone, "msg_expired": inbox.StateDone,
		"msg_baddata": inbox.StateDead, "msg_otherbad": inbox.StateDone, "msg_unknownbad": inbox.StateDone,
	}
	for id, s := range want {
		h.waitState(id, s)
	}
	mu.Lock()
	defer mu.Unlock()
	wantCalls := []string{
		"on completed msg_completed", "on completed msg_succeeded", "on ping msg_ping",
		"typed batch.failed msg_failed batches/3", "typed batch.succeeded msg_completed batches/2", "typed batch.succeeded msg_succeeded batches/1",
		"unknown brand.new msg_unknownbad", "unknown webhook.ping msg_ping", "video with claim msg_video",
	}
	slices.Sort(got)
	if diff := cmp.Diff(wantCalls, got); diff != "" {
		t.Errorf("handler calls (-want +got):\n%s", diff)
	}
	// Counters trail the inbox state a test waits for; Run returns once
	// every outcome is recorded and counted.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := h.l.Stats()
	if st.Unhandled != 2 || st.Processed != 6 || st.Dead != 1 {
		t.Errorf("unhandled %d processed %d dead %d; want 2, 6, 1", st.Unhandled, st.Processed, st.Dead)
	}
}

func TestLogsCarryIDsButNoSecrets(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, listener.Config{Logger: logger, MaxAttempts: 1, Backoff: atOnce})
	h.l.On(event.TypeBatchFailed, func(ctx context.Context, e *event.Event) error {
		return errors.New("handler failed")
	})
	h.run()
	body, err := event.Marshal(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/9"}, start, map[string]any{"api_token": "top-secret-metadata"})
	if err != nil {
		t.Fatal(err)
	}
	req := h.request("msg_1", h.clock.Now(), body)
	sig := req.Header.Get(signing.HeaderSignature)
	h.do(req)
	h.waitState("msg_1", inbox.StateDead)
	bad := h.request("msg_2", h.clock.Now(), body)
	bad.Header.Set(signing.HeaderSignature, "v1,"+strings.Repeat("B", 43)+"=")
	h.do(bad)

	out := buf.String()
	for _, secret := range []string{h.secret, strings.TrimPrefix(h.secret, "whsec_"), sig, strings.TrimPrefix(sig, "v1,"),
		strings.Repeat("B", 43), "top-secret-metadata"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q:\n%s", secret, out)
		}
	}
	var sawDead bool
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "listener: event dead-lettered" {
			sawDead = true
			if rec["webhook_id"] != "msg_1" || rec["type"] != "batch.failed" || rec["job_id"] != "batches/9" {
				t.Errorf("dead-letter record lacks ids: %v", rec)
			}
		}
	}
	if !sawDead {
		t.Errorf("no dead-letter record in:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// plainInbox hides the Notify channel of the inbox it wraps.
type plainInbox struct{ inbox.Store }

func (plainInbox) Notify() <-chan struct{} { return nil }

func TestWakeUps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		notify bool
		poll   time.Duration
		direct bool // stored by "another process", not through ServeHTTP
	}{
		{"local delivery wakes a worker at once", false, time.Hour, false},
		{"notifier wakes a worker for a message stored elsewhere", true, time.Hour, true},
		{"polling finds a message stored elsewhere", false, 2 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ib := newMemory(t, nil)
			if !tc.notify {
				ib = plainInbox{ib}
			}
			h := newHarness(t, listener.Config{Inbox: ib, PollInterval: tc.poll, Workers: 1})
			handled := make(chan string, 1)
			h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
				handled <- e.ID
				return nil
			})
			h.run()
			// Let every worker go idle first: one event goes through.
			h.deliver("msg_warm", h.body(succeeded))
			awaitHandled(t, handled, "msg_warm")
			body := h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/2"})
			if tc.direct {
				if _, err := ib.Put(context.Background(), &inbox.Message{ID: "msg_1", Body: body}); err != nil {
					t.Fatal(err)
				}
			} else {
				h.deliver("msg_1", body)
			}
			awaitHandled(t, handled, "msg_1")
		})
	}
}

// With every worker busy and a backlog left, a worker that goes idle wakes
// the dispatcher for the next claim: nothing else would here (no Notify,
// an hour's poll).
func TestIdleWorkerWakesTheDispatcherForABacklog(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			t.Parallel()
			ib := plainInbox{newMemory(t, nil)}
			h := newHarness(t, listener.Config{Inbox: ib, PollInterval: time.Hour, Workers: workers})
			const n = 500
			var handled atomic.Int64
			all := make(chan struct{})
			h.l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error {
				if handled.Add(1) == n {
					close(all)
				}
				return nil
			})
			for i := range n {
				body := h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: fmt.Sprintf("batches/%d", i)})
				if _, err := ib.Put(t.Context(), &inbox.Message{ID: fmt.Sprintf("msg_%d", i), Body: body}); err != nil {
					t.Fatal(err)
				}
			}
			h.run()
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				t.Fatalf("handled %d of %d: a worker going idle did not wake the dispatcher", handled.Load(), n)
			}
		})
	}
}

// awaitHandled waits for a handler to report id. The wake-ups under test
// take microseconds; the deadline only turns a lost wake-up into a failure
// instead of a hang.
func awaitHandled(t *testing.T, handled <-chan string, id string) {
	t.Helper()
	select {
	case got := <-handled:
		if got != id {
			t.Errorf("handled %s; want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no worker woke up for %s", id)
	}
}

// A message claimed more times than a failing run gets, each claim ending
// with no outcome recorded (as when a handler ends the process, and the
// next process claims it again), is dead-lettered without running again,
// instead of rerunning at every restart for ever.
func TestClaimedTooOftenIsDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{MaxAttempts: 3, Backoff: atOnce})
	var calls counter
	h.l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { calls.inc(); return nil })
	if code := h.deliver("msg_crash", h.body(succeeded)); code != http.StatusAccepted {
		t.Fatalf("deliver: %d", code)
	}
	for range 3 { // three processes died holding the claim
		ms, err := h.ib.Claim(t.Context(), 1, time.Minute)
		if err != nil || len(ms) != 1 {
			t.Fatalf("Claim = %v, %v", ms, err)
		}
		h.clock.Advance(2 * time.Minute)
	}
	h.run()
	h.waitState("msg_crash", inbox.StateDead)
	if n := calls.get(); n != 0 {
		t.Errorf("handler ran %d times; want none", n)
	}
	m, err := h.ib.Get(t.Context(), "msg_crash")
	if err != nil || m.Attempts != 4 || !strings.Contains(m.LastError, "no outcome recorded") {
		t.Errorf("dead letter: %+v, %v", m, err)
	}
}

// slowAck is an inbox whose first Ack waits until release is closed.
type slowAck struct {
	inbox.Store
	once    sync.Once
	acking  chan struct{} // closed when the first Ack has begun
	release chan struct{}
	acked   atomic.Bool // set when the first Ack has returned
}

func (s *slowAck) Ack(ctx context.Context, id, lease string) error {
	first := false
	s.once.Do(func() { first = true })
	if !first {
		return s.Store.Ack(ctx, id, lease)
	}
	close(s.acking)
	<-s.release
	err := s.Store.Ack(ctx, id, lease)
	s.acked.Store(true)
	return err
}

// A worker claims and runs its next event while its last ack is still in
// the store, and Run waits for that ack before it returns.
func TestAckOverlapsNextRun(t *testing.T) {
	t.Parallel()
	ib := &slowAck{Store: newMemory(t, nil), acking: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, listener.Config{Inbox: ib, Workers: 1})
	ran := make(chan string, 2)
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		ran <- e.JobID
		return nil
	})
	for k, id := range []string{"msg_1", "msg_2"} {
		if code := h.deliver(id, h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: fmt.Sprintf("batches/%d", k+1)})); code != http.StatusAccepted {
			t.Fatalf("%s: status %d", id, code)
		}
	}
	cancel, wait := h.start()
	if got := <-ran; got != "batches/1" {
		t.Fatalf("first run: %s", got)
	}
	<-ib.acking
	// The only worker is inside the first ack; the second event runs anyway.
	if got := <-ran; got != "batches/2" {
		t.Fatalf("second run: %s", got)
	}
	cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- wait() }()
	close(ib.release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !ib.acked.Load() {
		t.Error("Run returned before the ack in flight did")
	}
	if s := h.state("msg_1"); s != inbox.StateDone {
		t.Errorf("msg_1 is %s after Run; want done", s)
	}
	if st := h.l.Stats(); st.Processed != 2 {
		t.Errorf("Processed = %d; want 2", st.Processed)
	}
}
