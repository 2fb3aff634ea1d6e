package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/console"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// stack is a listener and its console, as 'geminihooks listen --console'
// runs them: deliveries at hooks.URL, the console under console.URL/console/.
type stack struct {
	t       *testing.T
	secret  string
	ib      inbox.Store
	l       *listener.Listener
	c       *console.Console
	hooks   *httptest.Server
	console *httptest.Server
}

func newStack(t *testing.T, register func(*listener.Listener), cfg *console.Config) *stack {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	ib, err := inbox.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, secret: "whsec_" + base64.StdEncoding.EncodeToString(key), ib: ib}
	t.Cleanup(func() { s.ib.Close() })
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{s.secret}})
	if err != nil {
		t.Fatal(err)
	}
	s.c, err = console.New(s.ib, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.l, err = listener.New(v, &listener.Config{Inbox: s.ib, Observer: s.c.Observer(), PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if register != nil {
		register(s.l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.l.Run(ctx) }()
	s.hooks = httptest.NewServer(s.l)
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", s.c))
	s.console = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.console.CloseClientConnections() // open event streams end only so
		s.console.Close()
		s.hooks.Close()
		cancel()
		<-done
	})
	return s
}

// post sends d, signed at ts with the stack's secret or, with forge, with
// another, and returns the status.
func (s *stack) post(id string, d event.Data, ts time.Time, forge bool) int {
	s.t.Helper()
	body, err := event.Marshal(d, ts, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.hooks.URL, bytes.NewReader(body))
	req.Header = s.signed(id, ts, body)
	if forge {
		other := make([]byte, 32)
		rand.Read(other)
		forged := signing.Signer{Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString(other)}}
		if err := forged.Sign(req.Header, id, ts, body); err != nil {
			s.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// signed returns the headers of a delivery of body signed with the
// stack's secret.
func (s *stack) signed(id string, ts time.Time, body []byte) http.Header {
	s.t.Helper()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if err := (signing.Signer{Secrets: []string{s.secret}}).Sign(h, id, ts, body); err != nil {
		s.t.Fatal(err)
	}
	return h
}

func (s *stack) deliver(id string, d event.Data) {
	s.t.Helper()
	if code := s.post(id, d, time.Now(), false); code != http.StatusAccepted {
		s.t.Fatalf("delivering %s: %d", id, code)
	}
}

func (s *stack) forge(id string, d event.Data) {
	s.t.Helper()
	if code := s.post(id, d, time.Now(), true); code != http.StatusUnauthorized {
		s.t.Fatalf("forged %s: %d; want 401", id, code)
	}
}

func (s *stack) stale(id string, d event.Data) {
	s.t.Helper()
	if code := s.post(id, d, time.Now().Add(-time.Hour), false); code != http.StatusUnauthorized {
		s.t.Fatalf("stale %s: %d; want 401", id, code)
	}
}

// waitState waits, up to ten seconds, for the message to reach state.
func (s *stack) waitState(id string, state inbox.State) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := s.ib.Get(context.Background(), id)
		if err != nil && !errors.Is(err, inbox.ErrNotFound) {
			s.t.Fatal(err)
		}
		if m != nil && m.State == state {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s never became %s", id, state)
		}
		<-tick.C
	}
}

func quoteJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// memInbox returns an empty in-memory inbox, closed by Cleanup.
func memInbox(t testing.TB) inbox.Store {
	t.Helper()
	ib, err := inbox.NewMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ib.Close() })
	return ib
}
