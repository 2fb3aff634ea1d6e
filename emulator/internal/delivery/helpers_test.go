package delivery

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/signing"
)

// waitLimit bounds every wait in these tests; reaching it is a failure, never
// a synchronisation point.
const waitLimit = 20 * time.Second

// fastScale, with a 1ms BackoffBase, makes retries follow within
// microseconds while the window (86s) stays far longer than any slow attempt
// under -race.
const fastScale = 1e-3

// fakeClock is a Clock that moves only when told. Advance runs due timers in
// the caller's goroutine, and every AfterFunc call is announced on added.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	added  chan time.Duration
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{
		now:   time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC),
		added: make(chan time.Duration, 4096),
	}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.added <- d
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped || t.fired {
		return false
	}
	t.stopped = true
	return true
}

// Advance moves the clock by d and runs the timers that fell due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.fired = true
			due = append(due, t)
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// nextTimer waits for the engine to set a timer and returns its duration.
func (c *fakeClock) nextTimer(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.added:
		return d
	case <-time.After(waitLimit):
		t.Fatal("no timer was set")
		return 0
	}
}

// settle advances the clock through every timer the engine sets until it
// goes idle, and returns the timers' durations in order.
func (c *fakeClock) settle(t *testing.T, e *Engine) []time.Duration {
	t.Helper()
	var delays []time.Duration
	for {
		// The engine either sets a timer or goes idle; whichever happens
		// first says which. A job with a timer pending never counts as idle.
		ctx, cancel := context.WithCancel(context.Background())
		idleErr := make(chan error, 1)
		go func() { idleErr <- e.Idle(ctx) }()
		select {
		case d := <-c.added:
			cancel()
			<-idleErr
			delays = append(delays, d)
			if len(delays) > 1000 {
				t.Fatalf("still retrying after %v: the window does not end it", delays)
			}
			c.Advance(d)
		case err := <-idleErr:
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			return delays
		case <-time.After(waitLimit):
			cancel()
			t.Fatal("engine neither set a timer nor went idle")
		}
	}
}

// received is one request as a test receiver saw it.
type received struct {
	header  http.Header
	body    []byte
	readErr error
}

// receiver is an httptest server that records every request on a channel and
// answers with the next status from statuses (the last one repeats).
type receiver struct {
	*httptest.Server
	got chan received
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []int{http.StatusNoContent}
	}
	r := &receiver{got: make(chan received, 4096)}
	var mu sync.Mutex
	n := 0
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		r.got <- received{header: req.Header.Clone(), body: body, readErr: err}
		if err != nil {
			return
		}
		mu.Lock()
		status := statuses[min(n, len(statuses)-1)]
		n++
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

// next returns the next request the receiver saw.
func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case g := <-r.got:
		return g
	case <-time.After(waitLimit):
		t.Fatal("the receiver got no request")
		return received{}
	}
}

// newEngine starts an engine that the test closes.
func newEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(1, 2))
	}
	e := New(opts)
	t.Cleanup(e.Close)
	return e
}

// idle waits for the engine to settle and fails the test if it does not.
func idle(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.Idle(ctx); err != nil {
		t.Fatalf("Idle: %v", err)
	}
}

// newSecret returns a fresh webhook signing secret in Gemini's form.
func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := cryptorand.Read(key); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// hmacSign signs with the secret *secret holds when each attempt is made,
// the way the emulator signs for a static webhook.
func hmacSign(secret *atomic.Pointer[string]) func(uri, id string, ts time.Time, body []byte) (string, error) {
	return func(_, id string, ts time.Time, body []byte) (string, error) {
		return signature(signing.Signer{Secrets: []string{*secret.Load()}}, id, ts, body)
	}
}

// signature returns the webhook-signature value s signs the delivery with.
func signature(s signing.Signer, id string, ts time.Time, body []byte) (string, error) {
	h := http.Header{}
	if err := s.Sign(h, id, ts, body); err != nil {
		return "", err
	}
	return h.Get(signing.HeaderSignature), nil
}
