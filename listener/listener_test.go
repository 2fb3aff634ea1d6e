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
		ib       func(t *testing.T) inbox.Store
		cfg      listener.Config
		req      func(h *harness) *http.Request
		want     int
		wantBody string
		header   map[string]string
		rejected rejected
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
			rejected: rejected{MethodNotAllowed: 1},
		},
		{
			name: "body over the limit is 413",
			cfg:  listener.Config{MaxBodyBytes: 64},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), bytes.Repeat([]byte(" "), 65))
			},
			want: http.StatusRequestEntityTooLarge, rejected: rejected{TooLarge: 1},
		},
		{
			name: "chunked body over the limit is 413",
			cfg:  listener.Config{MaxBodyBytes: 64},
			req: func(h *harness) *http.Request {
				r := h.request("msg_1", h.clock.Now(), bytes.Repeat([]byte(" "), 65))
				r.Body = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte(" "), 65)))
				r.ContentLength = -1 // sent chunked: only the reader sees the size
				return r
			},
			want: http.StatusRequestEntityTooLarge, rejected: rejected{TooLarge: 1},
		},
		{
			name: "bad signature is 401 with no detail",
			req: func(h *harness) *http.Request {
				r := h.request("msg_1", h.clock.Now(), h.body(succeeded))
				r.Header.Set(signing.HeaderSignature, "v1,"+strings.Repeat("A", 43)+"=")
				return r
			},
			want: http.StatusUnauthorized, wantBody: "Unauthorized\n", rejected: rejected{Unauthorized: 1},
		},
		{
			name: "missing headers are 401",
			req: func(h *harness) *http.Request {
				r := h.request("msg_1", h.clock.Now(), h.body(succeeded))
				r.Header = http.Header{}
				return r
			},
			want: http.StatusUnauthorized, wantBody: "Unauthorized\n", rejected: rejected{Unauthorized: 1},
		},
		{
			name: "replayed old timestamp is 401",
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now().Add(-10*time.Minute), h.body(succeeded))
			},
			want: http.StatusUnauthorized, wantBody: "Unauthorized\n", rejected: rejected{Unauthorized: 1},
		},
		{
			name: "unparseable event is 400",
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), []byte(`[1,2,3]`))
			},
			want: http.StatusBadRequest, rejected: rejected{BadRequest: 1},
		},
		{
			name: "store error is 503",
			ib: func(t *testing.T) inbox.Store {
				return failingInbox{Store: newMemory(t, nil), err: errors.New("disk on fire")}
			},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusServiceUnavailable, rejected: rejected{StoreFailed: 1},
		},
		{
			name: "store timeout is 503",
			ib:   func(t *testing.T) inbox.Store { return failingInbox{Store: newMemory(t, nil)} },
			cfg:  listener.Config{StoreTimeout: 20 * time.Millisecond},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusServiceUnavailable, rejected: rejected{StoreFailed: 1},
		},
		{
			name: "full inbox is 503 with Retry-After",
			ib: func(t *testing.T) inbox.Store {
				ib := newMemory(t, &inbox.MemoryConfig{Capacity: 1})
				ib.Put(context.Background(), &inbox.Message{ID: "msg_0", Body: []byte("{}")})
				return ib
			},
			req: func(h *harness) *http.Request {
				return h.request("msg_1", h.clock.Now(), h.body(succeeded))
			},
			want: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "5"},
			rejected: rejected{Full: 1},
		},
		{
			name: "duplicate is 200",
			ib: func(t *testing.T) inbox.Store {
				ib := newMemory(t, nil)
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
			cfg := tc.cfg
			if tc.ib != nil {
				cfg.Inbox = tc.ib(t)
			}
			h := newHarness(t, cfg)
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
			want := tc.rejected.stats(listener.Stats{Received: 1, Stored: tc.stored, Duplicates: tc.dups})
			if diff := cmp.Diff(want, st, cmpIgnoreDepth); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

// rejected is the Stats counters of refused requests by reason.
type rejected struct {
	MethodNotAllowed, TooLarge, ReadTimeout, Unauthorized, KeysUnavailable, BadRequest, StoreFailed, Full uint64
}

// stats is st with r's counters and their total.
func (r rejected) stats(st listener.Stats) listener.Stats {
	st.MethodNotAllowed, st.TooLarge, st.ReadTimeout, st.Unauthorized = r.MethodNotAllowed, r.TooLarge, r.ReadTimeout, r.Unauthorized
	st.KeysUnavailable, st.BadRequest, st.StoreFailed, st.Full = r.KeysUnavailable, r.BadRequest, r.StoreFailed, r.Full
	st.Rejected = r.MethodNotAllowed + r.TooLarge + r.ReadTimeout + r.Unauthorized + r.KeysUnavailable + r.BadRequest + r.StoreFailed + r.Full
	return st
}

// rejectedOf is st's counters of refused requests, which must add up to
// st.Rejected.
func rejectedOf(t *testing.T, st listener.Stats) rejected {
	t.Helper()
	r := rejected{st.MethodNotAllowed, st.TooLarge, st.ReadTimeout, st.Unauthorized, st.KeysUnavailable, st.BadRequest, st.StoreFailed, st.Full}
	if total := r.stats(st).Rejected; total != st.Rejected {
		t.Errorf("Stats.Rejected = %d; the reasons add up to %d", st.Rejected, total)
	}
	return r
}

var cmpIgnoreDepth = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".QueueDepth" }, cmp.Ignore())

func TestKeysUnavailableIs503(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: start}
	v, err := signing.NewVerifier(&signing.Config{Keys: unavailableKeys{}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l := newListener(t, v, &listener.Config{Now: clock.Now})
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
	if got := rejectedOf(t, l.Stats()); got != (rejected{KeysUnavailable: 1}) {
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
	ib := newMemory(t, nil)
	l := newListener(t, v, &listener.Config{Inbox: ib, Now: clock.Now})
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
	h := newHarness(t, listener.Config{Workers: 4})
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
	h := newHarness(t, listener.Config{})
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
	h := newHarness(t, listener.Config{})
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

// The request path's refusals carry their cause to the observer: a
// tampered request wraps signing.ErrNoMatchingSignature, a GET is refused
// before anything is read, and an event without a type wraps
// event.ErrMissingType. A request built by hand around a reader of unknown
// length, ContentLength 0, is read to its end, not taken as empty.
func TestRequestPathErrors(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHarness(t, listener.Config{Observer: rec})
	serve := func(r *http.Request) listener.Delivery {
		t.Helper()
		h.l.ServeHTTP(httptest.NewRecorder(), r)
		return rec.last()
	}
	if d := serve(h.request("msg_1", h.clock.Now(), h.body(succeeded))); d.Err != nil || d.WebhookID != "msg_1" || d.Type != event.TypeBatchSucceeded || d.JobID != "batches/1" {
		t.Errorf("a good delivery = %+v", d)
	}
	bad := h.request("msg_2", h.clock.Now(), h.body(succeeded))
	bad.Header.Set(signing.HeaderID, "msg_other")
	if d := serve(bad); d.Outcome != "bad_signature" || !errors.Is(d.Err, signing.ErrNoMatchingSignature) {
		t.Errorf("a tampered request = %s, %v; want bad_signature wrapping ErrNoMatchingSignature", d.Outcome, d.Err)
	}
	get := h.request("msg_3", h.clock.Now(), nil)
	get.Method = http.MethodGet
	if d := serve(get); d.Outcome != "method_not_allowed" || d.Err == nil {
		t.Errorf("a GET = %s, %v; want method_not_allowed", d.Outcome, d.Err)
	}
	if d := serve(h.request("msg_4", h.clock.Now(), []byte(`{"data":{}}`))); d.Outcome != "bad_request" || !errors.Is(d.Err, event.ErrNotEvent) {
		t.Errorf("an event without a type = %s, %v; want bad_request wrapping event.ErrNotEvent", d.Outcome, d.Err)
	}
	unknownLen := h.request("msg_5", h.clock.Now(), h.body(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/5"}))
	unknownLen.Body = io.NopCloser(io.MultiReader(unknownLen.Body))
	unknownLen.ContentLength = 0
	if d := serve(unknownLen); d.Err != nil || d.WebhookID != "msg_5" || d.Outcome != listener.OutcomeStored {
		t.Errorf("a body of unknown length = %s, %v; want msg_5 stored", d.Outcome, d.Err)
	}
	if d, _ := h.ib.Depth(context.Background()); d != 2 {
		t.Errorf("%d messages queued; want the two good ones", d)
	}
}

func TestNewRefusesInvalidConfig(t *testing.T) {
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
		cfg  *listener.Config
		want string // the error; "" means none
	}{
		{"window of a day", v, &listener.Config{DedupeWindow: 24 * time.Hour}, "listener: Config.DedupeWindow is 24h0m0s, need at least 24h10m0s, since Gemini retries a delivery for 24 hours"},
		{"minimum window", v, &listener.Config{DedupeWindow: 24*time.Hour + 10*time.Minute}, ""},
		{"negative window", v, &listener.Config{DedupeWindow: -time.Hour}, "listener: Config.DedupeWindow is -1h0m0s"},
		{"no workers", v, &listener.Config{Workers: -1}, "listener: Config.Workers is -1, need at least 1"},
		{"no body", v, &listener.Config{MaxBodyBytes: -1}, "listener: Config.MaxBodyBytes is -1, need at least 1"},
		{"no attempts", v, &listener.Config{MaxAttempts: -1}, "listener: Config.MaxAttempts is -1, need at least 1"},
		{"no lease margin", v, &listener.Config{LeaseMargin: -time.Second}, "listener: Config.LeaseMargin is -1s, need a positive duration"},
		{"negative grace", v, &listener.Config{GracePeriod: -time.Second}, "listener: Config.GracePeriod is -1s, need a positive duration"},
		{"negative read timeout", v, &listener.Config{ReadTimeout: -time.Second}, "listener: Config.ReadTimeout is -1s, need a positive duration"},
		{"nil config", v, nil, ""},
		{"nil verifier", nil, nil, "listener: nil verifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := listener.New(tc.v, tc.cfg)
			switch {
			case tc.want == "" && (err != nil || l == nil):
				t.Errorf("New = %v, %v; want a listener", l, err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want) || l != nil):
				t.Errorf("New = %v, %v; want the error %q", l, err, tc.want)
			}
		})
	}
}

// New copies its config: a later change has no effect.
func TestNewCopiesConfig(t *testing.T) {
	t.Parallel()
	cfg := &listener.Config{MaxBodyBytes: 64}
	h := newHarness(t, *cfg)
	cfg.MaxBodyBytes = 1 << 20
	l := newListener(t, mustHMAC(t, h.secret), cfg)
	cfg.MaxBodyBytes = 64
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(bytes.Repeat([]byte(" "), 100))))
	if rec.Code == http.StatusRequestEntityTooLarge {
		t.Errorf("a body of 100 bytes got 413: New did not copy MaxBodyBytes of 1 MiB")
	}
}

func mustHMAC(t *testing.T, secret string) *signing.Verifier {
	t.Helper()
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{})
	h.run()
	// Wait until the first Run owns the listener: it handles an event.
	done := make(chan struct{})
	h.l.On(event.TypeBatchSucceeded, func(context.Context, *event.Event) error { close(done); return nil })
	h.deliver("msg_1", h.body(succeeded))
	<-done
	if err := h.l.Run(context.Background()); err == nil || err.Error() != "listener: already running" {
		t.Errorf("second Run = %v; want an error saying it is already running", err)
	}
}

func TestStatsQueueDepth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{})
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
			l := newListener(t, v, &listener.Config{ReadTimeout: tc.listener})
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
	if got := rejectedOf(t, l.Stats()); got != (rejected{ReadTimeout: 1}) {
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
	l := newListener(t, v, &listener.Config{ReadTimeout: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
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
	if got := rejectedOf(t, l.Stats()); got != (rejected{ReadTimeout: 2}) {
		t.Errorf("Rejected = %+v; want ReadTimeout 2", got)
	}
	if n := strings.Count(logs.String(), "cannot set a read deadline"); n != 1 {
		t.Errorf("%d warnings about the deadline; want exactly 1:\n%s", n, logs.String())
	}
}

// Rejected counts every reason: a reason left out of it would make the
// counts stop adding up to Received.
func TestRejectedTotal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{MaxBodyBytes: 64})
	get := h.request("msg_1", h.clock.Now(), h.body(succeeded))
	get.Method = http.MethodGet
	h.do(get)
	h.do(h.request("msg_2", h.clock.Now(), bytes.Repeat([]byte(" "), 65)))
	h.do(h.request("msg_3", h.clock.Now().Add(-time.Hour), []byte("{}")))
	h.do(h.request("msg_4", h.clock.Now(), []byte(`[1]`)))
	st := h.l.Stats()
	if got, want := rejectedOf(t, st), (rejected{MethodNotAllowed: 1, TooLarge: 1, Unauthorized: 1, BadRequest: 1}); got != want {
		t.Errorf("reasons = %+v; want %+v", got, want)
	}
	if st.Rejected != 4 || st.Received != 4 {
		t.Errorf("Rejected %d of %d received; want 4 of 4", st.Rejected, st.Received)
	}
}

// A signed body that repeats an envelope field is refused with 400: the
// listener and the app behind it could read it differently.
func TestDuplicateEnvelopeKeyIs400(t *testing.T) {
	t.Parallel()
	h := newHarness(t, listener.Config{})
	body := []byte(`{"type":"batch.failed","type":"batch.succeeded","data":{"id":"batches/1"}}`)
	if code := h.deliver("msg_dup", body); code != http.StatusBadRequest {
		t.Errorf("status %d; want 400", code)
	}
	if got := rejectedOf(t, h.l.Stats()); got != (rejected{BadRequest: 1}) {
		t.Errorf("Rejected = %+v; want BadRequest 1", got)
	}
}

// gatedInbox holds each Put until released, and records when the store's
// Put has returned.
type gatedInbox struct {
	inbox.Store
	entered   chan struct{}
	release   chan struct{}
	committed atomic.Bool
}

func (g *gatedInbox) Put(ctx context.Context, m *inbox.Message) (bool, error) {
	g.entered <- struct{}{}
	<-g.release
	stored, err := g.Store.Put(ctx, m)
	g.committed.Store(true)
	return stored, err
}

// The 2xx is never sent before the inbox's Put (for the durable inboxes,
// the commit and its fsync) has returned.
func TestNoAnswerBeforeTheCommit(t *testing.T) {
	t.Parallel()
	// No workers run here, so the memory inbox's own clock does not matter.
	g := &gatedInbox{Store: newMemory(t, nil), entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, listener.Config{Inbox: g})
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
