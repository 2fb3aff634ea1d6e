package pginbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// sender signs deliveries as Gemini would.
type sender struct {
	secret string
	client *http.Client
}

func newSender(t testing.TB) (*sender, *signing.Verifier) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &sender{secret: secret, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, v
}

// delivery is one webhook: its webhook-id and body, the same on every retry.
type delivery struct {
	id   string
	body []byte
}

func newDelivery(t testing.TB, id string, job int) delivery {
	t.Helper()
	body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: fmt.Sprintf("batches/%d", job)}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return delivery{id: id, body: body}
}

// send delivers d once and returns the status code.
func (s *sender) send(url string, d delivery) (int, error) {
	ts := time.Now()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := (signing.Signer{Secrets: []string{s.secret}}).Sign(req.Header, d.id, ts, d.body); err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// runListener runs l until the test ends.
func runListener(t testing.TB, l *listener.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.Run(ctx); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// waitFor polls cond, which reads state the test cannot be signalled about
// (rows another process commits), until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A signed delivery whose webhook-id is too long to store gets 400, and the
// deliveries that arrive with it, which may share its INSERT, are stored:
// before, the id broke PostgreSQL's index limit and every Put in its batch
// answered 503, again on every retry.
func TestLongWebhookIDFailsAlone(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ib, _ := newInbox(t, pool, nil)
	s, v := newSender(t)
	l, err := listener.New(v, &listener.Config{Inbox: ib})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	runListener(t, l)

	const n = 55
	codes := make([]int, n+1)
	var wg sync.WaitGroup
	for k := range n + 1 {
		wg.Go(func() {
			id := fmt.Sprintf("wh_%02d", k)
			if k == n {
				id = rand.Text()
				for len(id) < 6000 {
					id += rand.Text()
				}
			}
			code, err := s.send(srv.URL, newDelivery(t, id, k))
			if err != nil {
				t.Error(err)
			}
			codes[k] = code
		})
	}
	wg.Wait()
	for k, code := range codes[:n] {
		if code != http.StatusAccepted {
			t.Errorf("delivery %d beside a long webhook-id: %d, want 202", k, code)
		}
	}
	if codes[n] != http.StatusBadRequest {
		t.Errorf("webhook-id over inbox.MaxKeyBytes: %d, want 400", codes[n])
	}
}
