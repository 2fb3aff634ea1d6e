package listener_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
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

var succeeded = &event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1", OutputFileURI: "files/out-1"}

func TestStatusCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ib       func() inbox.Inbox
		opts     []listener.Option
		req      func(h *harness) *http.Request
		want     int
		wantBody string
		header   map[string]string
		rejected listener.Rejected
		stored   uint64
		dups     uint64
	}{
		{
			name: "GET is 405",
			req: func(h *harness) *http.Request {
				r := h.request("msg_1", h.clock.Now(), h.body(succeeded))
				r.Method = http.MethodGet
				return r
			},
			want: http.StatusMethodNotAllowed, header: map[string]string{"Allow": "POST"},
			rejected: listener.Rejected{MethodNotAllowed: 1},
		},
		{
			name: "body over the limit is 413",
			opts: []listener.Option{listener.WithMaxBodyBytes(64)},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), bytes.Repeat([]byte(" "), 65))
			},
			want: http.StatusRequestEntityTooLarge, rejected: listener.Rejected{TooLarge: 1},
		},
		{
			name: "chunked body over the limit is 413",
			opts: []listener.Option{listener.WithMaxBodyBytes(64)},
			req: func(h *harness) *http.Request {
				r := h.request("msg_1", h.clock.Now(), bytes.Repeat([]byte(" "), 65))
				r.Body = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte(" "), 65)))
				r.ContentLength = -1 // sent chunked: only the reader sees the size
				return r
			},
			want: http.StatusRequestEntityTooLarge, rejected: listener.Rejected{TooLarge: 1},
		},
		{
			name: "bad signature is 401 with no detail",
			req: func(h *harness) *http.Request {
				r := h.request("msg_1", h.clock.Now(), h.body(succeeded))
				r.Header.Set(signing.HeaderSignature, "v1,"+strings.Repeat("A", 43)+"=")
				return r
			},
			want: http.StatusUnauthorized, wantBody: "Unauthorized\n", rejected: listener.Rejected{Unauthorized: 1},
		},
		{
			name: "missing headers are 401",
			req: func(h *harness) *http.Request {
				r := h.request("msg_1", h.clock.Now(), h.body(succeeded))
				r.Header = http.Header{}
				return r
			},
			want: http.StatusUnauthorized, wantBody: "Unauthorized\n", rejected: listener.Rejected{Unauthorized: 1},
		},
		{
			name: "replayed old timestamp is 401",
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now().Add(-10*time.Minute), h.body(succeeded))
			},
			want: http.StatusUnauthorized, wantBody: "Unauthorized\n", rejected: listener.Rejected{Unauthorized: 1},
		},
		{
			name: "unparseable event is 400",
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), []byte(`[1,2,3]`))
			},
			want: http.StatusBadRequest, rejected: listener.Rejected{BadRequest: 1},
		},
		{
			name: "store error is 503",
			ib: func() inbox.Inbox {
				return failingInbox{Inbox: inbox.NewMemory(), err: errors.New("disk on fire")}
			},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusServiceUnavailable, rejected: listener.Rejected{StoreFailed: 1},
		},
		{
			name: "store timeout is 503",
			ib:   func() inbox.Inbox { return failingInbox{Inbox: inbox.NewMemory()} },
			opts: []listener.Option{listener.WithStoreTimeout(20 * time.Millisecond)},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusServiceUnavailable, rejected: listener.Rejected{StoreFailed: 1},
		},
		{
			name: "full inbox is 503 with Retry-After",
			ib: func() inbox.Inbox {
				ib := inbox.NewMemory(inbox.WithCapacity(1))
				ib.Put(context.Background(), &inbox.Message{ID: "msg_0", Body: []byte("{}")})
				return ib
			},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "5"},
			rejected: listener.Rejected{Full: 1},
		},
		{
			name: "duplicate is 200",
			ib: func() inbox.Inbox {
				ib := inbox.NewMemory()
				ib.Put(context.Background(), &inbox.Message{ID: "msg_1", Body: []byte("{}")})
				return ib
			},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusOK, dups: 1,
		},
		{
			name: "stored is 202",
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusAccepted, stored: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ib inbox.Inbox
			if tc.ib != nil {
				ib = tc.ib()
			}
			h := newHarness(t, ib, tc.opts...)
			code, body, header := h.doHeader(tc.req(h))
			if code != tc.want {
				t.Fatalf("status = %d %q; want %d", code, body, tc.want)
			}
			for k, v := range tc.header {
				if got := header.Get(k); got != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body = %q; want %q", body, tc.wantBody)
			}
			// The request path never runs handlers; nothing is running here.
			st := h.l.Stats()
			want := listener.Stats{Received: 1, Rejected: tc.rejected, Stored: tc.stored, Duplicates: tc.dups}
			if diff := cmp.Diff(want, st, cmpIgnoreDepth); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpIgnoreDepth = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".QueueDepth" }, cmp.Ignore())

func TestKeysUnavailableIs503(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: start}
	v, err := signing.NewVerifier(&signing.Config{Keys: unavailableKeys{}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New(v, listener.WithClock(clock.Now))
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := event.Marshal(succeeded, start, nil)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if err := (signing.Signer{Ed25519: priv}).Sign(req.Header, "msg_1", start, body); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d; want 503", rec.Code)
	}
	if got := l.Stats().Rejected; got != (listener.Rejected{KeysUnavailable: 1}) {
		t.Errorf("Rejected = %+v; want KeysUnavailable 1", got)
	}
}

func TestSchemeIsRecorded(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: start}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := signing.MarshalJWKS(signing.PublicKey{KID: "k1", Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := signing.NewStaticKeySet(jwks)
	if err != nil {
		t.Fatal(err)
	}
	secret := newSecret(t)
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}, Keys: ks, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ib := inbox.NewMemory()
	l := listener.New(v, listener.WithInbox(ib), listener.WithClock(clock.Now))
	for _, tc := range []struct {
		id, want string
		signer   signing.Signer
	}{
		{"msg_hmac", "v1", signing.Signer{Secrets: []string{secret}}},
		{"msg_ed", "v1a", signing.Signer{Ed25519: priv}},
	} {
		body, _ := event.Marshal(&event.Batch{Type: event.TypeBatchFailed, ID: tc.id}, start, nil)
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if err := tc.signer.Sign(req.Header, tc.id, start, body); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("%s: status %d", tc.id, rec.Code)
		}
		m, err := ib.Get(context.Background(), tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Scheme != tc.want || !bytes.Equal(m.Body, body) || !m.ReceivedAt.Equal(start) {
			t.Errorf("%s: stored scheme %q body %q at %v; want %q, the body, %v", tc.id, m.Scheme, m.Body, m.ReceivedAt, tc.want, start)
		}
	}
}

func TestConcurrentDeliveriesRunOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, listener.WithWorkers(4))
	var calls counter
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		calls.inc()
		return nil
	})
	h.run()
	body := h.body(succeeded)
	const n = 50
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		req := h.request("msg_same", h.clock.Now(), body)
		wg.Go(func() {
			code, _ := h.do(req)
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if diff := cmp.Diff(map[int]int{http.StatusAccepted: 1, http.StatusOK: n - 1}, got); diff != "" {
		t.Errorf("status counts (-want +got):\n%s", diff)
	}
	waitFor(t, "the event to be processed", func() bool { return h.l.Stats().Processed == 1 })
	// Every delivery has been answered and duplicates never enter the inbox,
	// so nothing else can run.
	st := h.l.Stats()
	if calls.get() != 1 || st.QueueDepth != 0 || st.Duplicates != n-1 || st.Stored != 1 {
		t.Errorf("handler ran %d times, depth %d, duplicates %d, stored %d; want 1, 0, %d, 1",
			calls.get(), st.QueueDepth, st.Duplicates, st.Stored, n-1)
	}
}

func TestDuplicateAfter24Hours(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var calls counter
	h.l.On(event.TypeBatchSucceeded, func(ctx context.Context, e *event.Event) error {
		calls.inc()
		return nil
	})
	stop := h.run()
	body := h.body(succeeded)
	if code := h.deliver("msg_1", body); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d", code)
	}
	h.waitState("msg_1", inbox.StateDone)

	// Gemini's last retry, a day later, re-signed with a fresh timestamp.
	h.clock.Advance(24 * time.Hour)
	if code := h.deliver("msg_1", body); code != http.StatusOK {
		t.Fatalf("retry 24h later: status %d; want 200 (duplicate)", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}

	// Past the 48h window, a restarted listener prunes the key, and the same
	// webhook-id is new again.
	h.clock.Advance(25 * time.Hour)
	h.run()
	waitFor(t, "the done key to be pruned", func() bool { return h.state("msg_1") == "" })
	if code := h.deliver("msg_1", body); code != http.StatusAccepted {
		t.Fatalf("delivery after the window: status %d; want 202", code)
	}
	h.waitState("msg_1", inbox.StateDone)
	if got := calls.get(); got != 2 {
		t.Errorf("handler ran %d times; want 2", got)
	}
}

func TestJobKeyDedupe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	completed, err := event.Marshal(&event.Unknown{Type: event.TypeBatchCompleted, Raw: []byte(`{"id":"batches/1"}`)}, start, nil)
	if err != nil {
		t.Fatal(err)
	}
	action := h.body(&event.Interaction{Type: event.TypeInteractionRequiresAction, ID: "v1_abc"})
	for _, tc := range []struct {
		id   string
		body []byte
		want int
	}{
		{"msg_1", h.body(succeeded), http.StatusAccepted},
		{"msg_2", h.body(succeeded), http.StatusOK}, // same job, another subscription
		{"msg_3", completed, http.StatusOK},         // the alias names the same event
		{"msg_4", h.body(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/1"}), http.StatusAccepted},
		{"msg_5", action, http.StatusAccepted}, // once per interaction: a follow-up is a new one
		{"msg_6", action, http.StatusOK},
	} {
		if code := h.deliver(tc.id, tc.body); code != tc.want {
			t.Errorf("%s: status %d; want %d", tc.id, code, tc.want)
		}
	}
}

// event.JobKey keeps every key within what an inbox stores, which the
// event package, a leaf, cannot read from inbox.MaxKeyBytes.
func TestJobKeyFitsTheInbox(t *testing.T) {
	t.Parallel()
	for n := inbox.MaxKeyBytes - 40; n <= inbox.MaxKeyBytes+40; n++ {
		e := &event.Event{Type: event.TypeInteractionRequiresAction, JobID: strings.Repeat("j", n)}
		key := event.JobKey(e)
		if len(key) > inbox.MaxKeyBytes {
			t.Fatalf("job ID of %d bytes: key of %d bytes, over inbox.MaxKeyBytes (%d)", n, len(key), inbox.MaxKeyBytes)
		}
		if fits := len(e.Type)+1+n <= inbox.MaxKeyBytes; fits != strings.HasSuffix(key, e.JobID) {
			t.Fatalf("job ID of %d bytes: key %.40q...; hashed = %v, want %v", n, key, !fits, !fits)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ev, err := h.l.Check(h.request("msg_1", h.clock.Now(), h.body(succeeded)))
	if err != nil {
		t.Fatalf("Check = %v", err)
	}
	if ev.ID != "msg_1" || ev.Type != event.TypeBatchSucceeded || ev.JobID != "batches/1" {
		t.Errorf("Check = %+v", ev)
	}
	bad := h.request("msg_2", h.clock.Now(), h.body(succeeded))
	bad.Header.Set(signing.HeaderID, "msg_other")
	if _, err := h.l.Check(bad); !errors.Is(err, listener.ErrUnverified) || !errors.Is(err, signing.ErrNoMatchingSignature) {
		t.Errorf("Check of a tampered request = %v; want ErrUnverified wrapping ErrNoMatchingSignature", err)
	}
	get := h.request("msg_3", h.clock.Now(), nil)
	get.Method = http.MethodGet
	if _, err := h.l.Check(get); !errors.Is(err, listener.ErrMethodNotAllowed) {
		t.Errorf("Check of a GET = %v; want ErrMethodNotAllowed", err)
	}
	if _, err := h.l.Check(h.request("msg_4", h.clock.Now(), []byte(`{"data":{}}`))); !errors.Is(err, listener.ErrBadDelivery) || !errors.Is(err, event.ErrNotEvent) {
		t.Errorf("Check of an event without a type = %v; want ErrBadDelivery wrapping event.ErrNotEvent", err)
	}
	// A request built by hand around a reader of unknown length has
	// ContentLength 0, which for a client request means unknown, not empty.
	unknownLen := h.request("msg_5", h.clock.Now(), h.body(succeeded))
	unknownLen.Body = io.NopCloser(io.MultiReader(unknownLen.Body))
	unknownLen.ContentLength = 0
	if ev, err := h.l.Check(unknownLen); err != nil || ev.ID != "msg_5" {
		t.Errorf("Check of a body of unknown length = %v, %v; want msg_5", ev, err)
	}
	if d, _ := h.ib.Depth(context.Background()); d != 0 {
		t.Errorf("Check queued %d messages", d)
	}
	if st := h.l.Stats(); st.Received != 0 {
		t.Errorf("Check counted %d received", st.Received)
	}
}

func TestNewRefusesInvalidOptions(t *testing.T) {
	t.Parallel()
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{newSecret(t)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    interface {
			Verify(context.Context, http.Header, []byte) (signing.Scheme, error)
		}
		opt  listener.Option
		want string // in the panic message; "" means no panic
	}{
		{"window of a day", v, listener.WithDedupeWindow(24 * time.Hour), "WithDedupeWindow(24h0m0s): below the minimum 24h10m0s"},
		{"minimum window", v, listener.WithDedupeWindow(listener.MinDedupeWindow), ""},
		{"no workers", v, listener.WithWorkers(0), "WithWorkers(0)"},
		{"no body", v, listener.WithMaxBodyBytes(0), "WithMaxBodyBytes(0)"},
		{"no attempts", v, listener.WithRetry(0, time.Second), "WithRetry(0, 1s)"},
		{"nil inbox", v, listener.WithInbox(nil), "WithInbox(nil)"},
		{"no lease margin", v, listener.WithLeaseMargin(0), "WithLeaseMargin(0s)"},
		{"nil verifier", nil, listener.WithWorkers(1), "nil verifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				p := recover()
				msg := fmt.Sprint(p)
				switch {
				case tc.want == "" && p != nil:
					t.Errorf("New panicked: %v", p)
				case tc.want != "" && (p == nil || !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "listener: ")):
					t.Errorf("New panic = %v; want a listener: panic containing %q", p, tc.want)
				}
			}()
			listener.New(tc.v, tc.opt)
		})
	}
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.run()
	// Wait until the first Run owns the listener: it handles an event.
	done := make(chan struct{})
	h.l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { close(done); return nil })
	h.deliver("msg_1", h.body(succeeded))
	<-done
	if err := h.l.Run(context.Background()); !errors.Is(err, listener.ErrAlreadyRunning) {
		t.Errorf("second Run = %v; want ErrAlreadyRunning", err)
	}
}

func TestStatsQueueDepth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, id := range []string{"msg_1", "msg_2"} {
		if code := h.deliver(id, h.body(&event.Batch{Type: event.TypeBatchFailed, ID: "batches/" + id})); code != http.StatusAccepted {
			t.Fatalf("%s: status %d", id, code)
		}
	}
	if got := h.l.Stats().QueueDepth; got != 2 {
		t.Errorf("QueueDepth = %d with two events stored and no workers; want 2", got)
	}
	h.ib.Close()
	if got := h.l.Stats().QueueDepth; got != -1 {
		t.Errorf("QueueDepth = %d from a closed inbox; want -1", got)
	}
}

// A body that trickles in slower than WithReadTimeout gets 408, whatever the
// server's own timeouts, so slow clients cannot pin connections.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{newSecret(t)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		listener, srv time.Duration
	}{
		{"listener's deadline", 50 * time.Millisecond, 0},
		{"listener's deadline, stricter than the server's", 50 * time.Millisecond, time.Hour},
		// The listener must not loosen a stricter server setting.
		{"server's deadline kept", time.Hour, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := listener.New(v, listener.WithReadTimeout(tc.listener))
			srv := httptest.NewUnstartedServer(l)
			srv.Config.ReadTimeout = tc.srv
			srv.Start()
			defer srv.Close()
			slowBody(t, l, srv.Listener.Addr().String())
		})
	}
}

func slowBody(t *testing.T, l *listener.Listener, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers promise 100 bytes; only 10 ever come.
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":\"b")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status = %d; want 408", resp.StatusCode)
	}
	if got := l.Stats().Rejected; got != (listener.Rejected{ReadTimeout: 1}) {
		t.Errorf("Rejected = %+v; want ReadTimeout 1", got)
	}
}

// opaqueWriter is middleware's ResponseWriter with no Unwrap method, so
// http.ResponseController cannot reach the connection behind it.
type opaqueWriter struct{ w http.ResponseWriter }

func (o opaqueWriter) Header() http.Header         { return o.w.Header() }
func (o opaqueWriter) Write(b []byte) (int, error) { return o.w.Write(b) }
func (o opaqueWriter) WriteHeader(code int)        { o.w.WriteHeader(code) }

// Behind a wrapper that hides the connection's deadline, a trickled body
// still gets 408 within the read timeout, and the listener says once that
// it could not set the deadline.
func TestSlowBodyTimesOutBehindOpaqueWrapper(t *testing.T) {
	t.Parallel()
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{newSecret(t)}})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	l := listener.New(v, listener.WithReadTimeout(50*time.Millisecond),
		listener.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.ServeHTTP(opaqueWriter{w}, r)
	}))
	defer srv.Close()
	for range 2 {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Far longer than the read timeout: without a bound the request
		// would wait here for the 90 missing bytes.
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\":\"b")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a trickled body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
			t.Fatalf("status = %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
		}
	}
	if got := l.Stats().Rejected; got != (listener.Rejected{ReadTimeout: 2}) {
		t.Errorf("Rejected = %+v; want ReadTimeout 2", got)
	}
	if n := strings.Count(logs.String(), "cannot set a read deadline"); n != 1 {
		t.Errorf("%d warnings about the deadline; want exactly 1:\n%s", n, logs.String())
	}
}

// Total counts every reason: a reason added to Rejected and left out of
// Total would make the counts stop adding up to Received.
func TestRejectedTotal(t *testing.T) {
	t.Parallel()
	var r listener.Rejected
	v := reflect.ValueOf(&r).Elem()
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(1) << i)
	}
	if want := uint64(1)<<v.NumField() - 1; r.Total() != want {
		t.Errorf("Total() = %b; want %b, one bit per field", r.Total(), want)
	}
}

// A signed body that repeats an envelope field is refused with 400: the
// listener and the app behind it could read it differently.
func TestDuplicateEnvelopeKeyIs400(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := []byte(`{"type":"batch.failed","type":"batch.succeeded","data":{"id":"batches/1"}}`)
	if code := h.deliver("msg_dup", body); code != http.StatusBadRequest {
		t.Errorf("status %d; want 400", code)
	}
	if got := h.l.Stats().Rejected; got != (listener.Rejected{BadRequest: 1}) {
		t.Errorf("Rejected = %+v; want BadRequest 1", got)
	}
}

// gatedInbox holds each Put until released, and records when the store's
// Put has returned.
type gatedInbox struct {
	*inbox.Memory
	entered   chan struct{}
	release   chan struct{}
	committed atomic.Bool
}

func (g *gatedInbox) Put(ctx context.Context, m *inbox.Message) (bool, error) {
	g.entered <- struct{}{}
	<-g.release
	stored, err := g.Memory.Put(ctx, m)
	g.committed.Store(true)
	return stored, err
}

// The 2xx is never sent before the inbox's Put (for the durable inboxes,
// the commit and its fsync) has returned.
func TestNoAnswerBeforeTheCommit(t *testing.T) {
	t.Parallel()
	// No workers run here, so the memory inbox's own clock does not matter.
	g := &gatedInbox{Memory: inbox.NewMemory(), entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, g)
	type answer struct {
		code      int
		committed bool
	}
	answered := make(chan answer, 1)
	go func() {
		code := h.deliver("msg_1", h.body(succeeded))
		answered <- answer{code, g.committed.Load()}
	}()
	<-g.entered
	select {
	case a := <-answered:
		t.Fatalf("answered %d while the Put was held", a.code)
	default:
	}
	close(g.release)
	if a := <-answered; a.code != http.StatusAccepted || !a.committed {
		t.Errorf("answered %d, Put returned first: %v; want 202 after the Put", a.code, a.committed)
	}
}
