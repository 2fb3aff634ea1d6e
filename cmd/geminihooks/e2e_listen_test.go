package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

var (
	listeningRE = regexp.MustCompile(`^listening on (http://\S+)$`)
	stoppedRE   = regexp.MustCompile(`^stopped: (.*)$`)
	jsonLineRE  = regexp.MustCompile(`^\{.*\}$`)
)

// flakyApp is a local app behind --forward-to: it fails the first request
// for each webhook-id listed in failOnce with a 503, and keeps the rest.
type flakyApp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	failOnce map[string]bool
	got      []recorded
}

func newFlakyApp(t *testing.T, failOnce ...string) *flakyApp {
	a := &flakyApp{failOnce: map[string]bool{}}
	for _, id := range failOnce {
		a.failOnce[id] = true
	}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(signing.HeaderID)
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.failOnce[id] {
			delete(a.failOnce, id)
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		a.got = append(a.got, recorded{r.Header.Clone(), body})
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// TestBinaryListenTrigger runs listen and trigger as built binaries: signed
// events are printed once as JSON lines and forwarded with their original
// headers (one after a failed first try); a duplicate and a forgery are
// not; and the bbolt inbox still knows the first event after a restart.
func TestBinaryListenTrigger(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	app := newFlakyApp(t, "msg_two")
	inboxPath := filepath.Join(t.TempDir(), "inbox.db")
	args := []string{"listen", "--addr", "127.0.0.1:0", "--inbox", inboxPath, "--json",
		"--forward-to", app.srv.URL + "/hook", "--backoff", "20ms", "--workers", "2"}
	env := []string{"GEMINI_WEBHOOK_SECRET=" + secret}
	l := startBin(t, env, args...)
	m, _ := l.stderr.wait(t, listeningRE, 0, time.Minute)
	url := m[1]

	send := func(wantCode int, typ, id string, extra ...string) {
		t.Helper()
		r := runBin(t, time.Minute, nil, nil, append([]string{"trigger", typ, "--to", url, "--id", id}, extra...)...)
		if r.code != wantCode {
			t.Fatalf("trigger %s %s: exit %d, want %d\n%s%s", typ, id, r.code, wantCode, r.stdout, r.stderr)
		}
	}
	send(exitOK, "batch.succeeded", "msg_one", "--secret", secret, "--user-metadata", "tenant=acme", "--job-id", "batches/one")
	send(exitOK, "batch.succeeded", "msg_one", "--secret", secret, "--job-id", "batches/one") // duplicate: 200
	send(exitFailure, "batch.failed", "msg_forged", "--secret", testSecret(t))                // 401
	send(exitOK, "interaction.completed", "msg_two", "--secret", secret, "--job-id", "v1_two")

	// One line per request: two handled, the duplicate, the forgery.
	lines := map[string]eventLine{}
	var others []eventLine
	next := 0
	for len(lines) < 2 || len(others) < 2 {
		var m []string
		m, next = l.stdout.wait(t, jsonLineRE, next, time.Minute)
		var ln eventLine
		if err := json.Unmarshal([]byte(m[0]), &ln); err != nil {
			t.Fatalf("not a JSON line: %q: %v", m[0], err)
		}
		if ln.Verdict != verdictHandled {
			others = append(others, ln)
			continue
		}
		if _, dup := lines[ln.WebhookID]; dup {
			t.Fatalf("event %s handled twice", ln.WebhookID)
		}
		lines[ln.WebhookID] = ln
	}
	slices.SortFunc(others, func(a, b eventLine) int { return strings.Compare(a.Verdict, b.Verdict) })
	if d := others[0]; d.Verdict != verdictDuplicate || d.WebhookID != "msg_one" || d.Status != 200 || d.Type != event.TypeBatchSucceeded {
		t.Errorf("duplicate line: %+v", d)
	}
	if r := others[1]; r.Verdict != verdictRejected || r.WebhookID != "msg_forged" || r.Status != 401 || !strings.HasPrefix(r.Reason, "bad_signature") || r.Event != nil {
		t.Errorf("rejected line: %+v", r)
	}
	one, two := lines["msg_one"], lines["msg_two"]
	if one.Type != event.TypeBatchSucceeded || one.JobID != "batches/one" || one.Scheme != "v1" || one.Attempt != 1 || one.ForwardedStatus != 200 {
		t.Errorf("msg_one line: %+v", one)
	}
	if ev, err := event.Parse(one.Event); err != nil || ev.UserMetadata["tenant"] != "acme" {
		t.Errorf("msg_one event: %v, %v", ev, err)
	}
	if two.Type != event.TypeInteractionCompleted || two.JobID != "v1_two" || two.Attempt != 2 || two.ForwardedStatus != 200 {
		t.Errorf("msg_two line (forward failed once, so attempt 2): %+v", two)
	}

	// The app got each event once, with the headers Gemini's sender used.
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	app.mu.Lock()
	got := append([]recorded(nil), app.got...)
	app.mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("app got %d forwards, want 2", len(got))
	}
	for _, r := range got {
		if _, err := v.Verify(context.Background(), r.header, r.body); err != nil {
			t.Errorf("forward of %s does not verify with the original headers: %v", r.header.Get(signing.HeaderID), err)
		}
	}

	if code := l.stop(time.Minute); code != exitOK {
		t.Fatalf("listen exit %d\n%s", code, l.stderr)
	}
	m, _ = l.stderr.wait(t, stoppedRE, 0, time.Second)
	if want := "4 received, 2 stored, 1 duplicate, 1 rejected (1 unauthorized), 2 handled, 1 retried, 0 dead-lettered, 0 left in the inbox"; m[1] != want {
		t.Errorf("summary %q, want %q", m[1], want)
	}

	// Restarted on the same file, the listener still knows msg_one.
	l = startBin(t, env, args...)
	m, _ = l.stderr.wait(t, listeningRE, 0, time.Minute)
	url = m[1]
	send(exitOK, "batch.succeeded", "msg_one", "--secret", secret)
	if code := l.stop(time.Minute); code != exitOK {
		t.Fatalf("listen exit %d\n%s", code, l.stderr)
	}
	m, _ = l.stderr.wait(t, stoppedRE, 0, time.Second)
	if want := "1 received, 0 stored, 1 duplicate"; m[1][:len(want)] != want {
		t.Errorf("after restart: %q, want it to start with %q", m[1], want)
	}
	var ln eventLine
	if s := strings.TrimSpace(l.stdout.String()); strings.Count(s, "\n") != 0 || json.Unmarshal([]byte(s), &ln) != nil ||
		ln.Verdict != verdictDuplicate || ln.WebhookID != "msg_one" {
		t.Errorf("after restart: %q; want one duplicate line, and no handled one", s)
	}
}
