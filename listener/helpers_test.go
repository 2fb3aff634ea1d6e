package listener_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// start is the fake clock's first reading.
var start = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is a listener behind an httptest server, verifying HMAC
// signatures with a secret made for the test, on a fake clock shared by the
// verifier, the listener and the inbox.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	secret string
	ib     inbox.Store
	l      *listener.Listener
	srv    *httptest.Server
}

func newSecret(t testing.TB) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// newHarness builds a harness with cfg, whose zero fields get the
// harness's own defaults: an in-memory inbox on the fake clock (any other
// inbox must be an inbox.Store, for the tests to look into), the fake clock,
// a poll every 2ms and three attempts. The fake clock stands still, so a
// test whose handlers fail sets Backoff to atOnce, or moves the clock.
func newHarness(t *testing.T, cfg listener.Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: &fakeClock{now: start}, secret: newSecret(t)}
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{h.secret}, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Inbox == nil {
		if cfg.Inbox, err = inbox.NewMemory(&inbox.MemoryConfig{Now: h.clock.Now}); err != nil {
			t.Fatal(err)
		}
	}
	h.ib = cfg.Inbox.(inbox.Store)
	t.Cleanup(func() { h.ib.Close() })
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 2 * time.Millisecond
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if h.l, err = listener.New(v, &cfg); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.l)
	t.Cleanup(h.srv.Close)
	return h
}

// atOnce is a Backoff that retries at once.
func atOnce(int) time.Duration { return 0 }

// newMemory returns an in-memory inbox with cfg, closed by Cleanup.
func newMemory(t testing.TB, cfg *inbox.MemoryConfig) inbox.Store {
	t.Helper()
	ib, err := inbox.NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ib.Close() })
	return ib
}

// verifier is what listener.New takes: a *signing.Verifier or a fake.
type verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte) (signing.Scheme, error)
}

// newListener returns a listener on v with cfg, failing the test on an
// error.
func newListener(t testing.TB, v verifier, cfg *listener.Config) *listener.Listener {
	t.Helper()
	l, err := listener.New(v, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// run starts the listener's workers; the returned stop ends Run and returns
// its error. Cleanup stops it too.
func (h *harness) run() (stop func() error) {
	cancel, wait := h.start()
	return func() error {
		cancel()
		return wait()
	}
}

// start starts Run and returns its context's cancel function and a wait
// for Run's error. Cleanup cancels and waits.
func (h *harness) start() (cancel context.CancelFunc, wait func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.l.Run(ctx) }()
	var once sync.Once
	var err error
	wait = func() error {
		once.Do(func() { err = <-errc })
		return err
	}
	h.t.Cleanup(func() {
		cancel()
		wait()
	})
	return cancel, wait
}

// body returns an event body with the fake clock's time.
func (h *harness) body(d event.Data) []byte {
	h.t.Helper()
	b, err := event.Marshal(d, h.clock.Now(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// request returns a POST of body, signed for id at ts.
func (h *harness) request(id string, ts time.Time, body []byte) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := (signing.Signer{Secrets: []string{h.secret}}).Sign(req.Header, id, ts, body); err != nil {
		h.t.Fatal(err)
	}
	return req
}

// do sends req and returns the status code and the response body.
func (h *harness) do(req *http.Request) (int, string) {
	h.t.Helper()
	code, body, _ := h.doHeader(req)
	return code, body
}

func (h *harness) doHeader(req *http.Request) (int, string, http.Header) {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, buf.String(), resp.Header
}

// deliver signs body for id now and posts it, returning the status.
func (h *harness) deliver(id string, body []byte) int {
	h.t.Helper()
	code, _ := h.do(h.request(id, h.clock.Now(), body))
	return code
}

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func (h *harness) state(id string) inbox.State {
	m, err := h.ib.Get(context.Background(), id)
	if err != nil {
		if errors.Is(err, inbox.ErrNotFound) {
			return ""
		}
		h.t.Fatal(err)
	}
	return m.State
}

// waitState waits until the message id is in state s.
func (h *harness) waitState(id string, s inbox.State) {
	h.t.Helper()
	waitFor(h.t, "message "+id+" to be "+string(s), func() bool { return h.state(id) == s })
}

// counter counts handler calls.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) inc() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// failingInbox is an inbox whose Put fails with err, or blocks until its
// context ends when err is nil.
type failingInbox struct {
	inbox.Store
	err error
}

func (f failingInbox) Put(ctx context.Context, m *inbox.Message) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	<-ctx.Done()
	return false, ctx.Err()
}

// unavailableKeys is a key set that could never be fetched.
type unavailableKeys struct{}

func (unavailableKeys) Keys(context.Context) ([]signing.PublicKey, error) {
	return nil, signing.ErrKeySetUnavailable
}

func (unavailableKeys) Refresh(context.Context) ([]signing.PublicKey, error) {
	return nil, signing.ErrKeySetUnavailable
}
