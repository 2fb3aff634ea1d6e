package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// recorder is an endpoint that keeps every request it gets.
type recorder struct {
	srv     *httptest.Server
	status  int
	arrived chan struct{} // gets a value per request
	mu      sync.Mutex
	got     []recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

func newRecorder(t *testing.T, status int) *recorder {
	r := &recorder{status: status, arrived: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, recorded{req.Header.Clone(), body})
		r.mu.Unlock()
		r.arrived <- struct{}{}
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, "endpoint says hi")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns once n requests have arrived, or fails the test.
func (r *recorder) wait(t *testing.T, n int, timeout time.Duration) []recorded {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for len(r.requests()) < n {
		select {
		case <-r.arrived:
		case <-deadline.C:
			t.Fatalf("%d requests within %s, want %d", len(r.requests()), timeout, n)
		}
	}
	return r.requests()
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.got...)
}

// jwksFromOutput extracts the JWKS trigger --dynamic prints.
func jwksFromOutput(t *testing.T, out string) signing.KeySet {
	t.Helper()
	i := strings.Index(out, "{")
	j := strings.Index(out, "\nsent ")
	if i < 0 || j < i {
		t.Fatalf("no JWKS in output:\n%s", out)
	}
	ks, err := signing.NewStaticKeySet([]byte(out[i:j]))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	secret, other := testSecret(t), testSecret(t)
	tests := []struct {
		name     string
		typ      event.Type
		args     []string
		verifier func(t *testing.T, out string, to string) *signing.Verifier
		scheme   signing.Scheme
		wantMeta map[string]any
	}{
		{
			name: "v1 with metadata", typ: event.TypeBatchSucceeded,
			args:   []string{"--secret", secret, "--user-metadata", "tenant=acme", "--user-metadata", "run=7"},
			scheme: signing.SchemeHMAC, wantMeta: map[string]any{"tenant": "acme", "run": "7"},
			verifier: func(t *testing.T, _, _ string) *signing.Verifier {
				v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
		},
		{
			name: "v1 with two secrets, as in a rotation", typ: event.TypeBatchFailed,
			args: []string{"--secret", other, "--secret", secret}, scheme: signing.SchemeHMAC,
			verifier: func(t *testing.T, _, _ string) *signing.Verifier {
				v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
		},
		{
			name: "v1a", typ: event.TypeVideoGenerated, args: []string{"--dynamic", "v1a", "--user-metadata", "k=v"},
			scheme: signing.SchemeEd25519, wantMeta: map[string]any{"k": "v"},
			verifier: func(t *testing.T, out, _ string) *signing.Verifier {
				v, err := signing.NewVerifier(&signing.Config{Keys: jwksFromOutput(t, out)})
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
		},
		{
			name: "jwt", typ: event.TypeInteractionCompleted, args: []string{"--dynamic", "jwt"}, scheme: signing.SchemeJWT,
			verifier: func(t *testing.T, out, to string) *signing.Verifier {
				v, err := signing.NewVerifier(&signing.Config{Keys: jwksFromOutput(t, out), Audience: []string{to}, Issuer: jwtIssuer})
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
		},
		{
			name: "legacy batch.completed", typ: event.TypeBatchCompleted, args: []string{"--secret", secret}, scheme: signing.SchemeHMAC,
			verifier: func(t *testing.T, _, _ string) *signing.Verifier {
				v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t, http.StatusNoContent)
			to := rec.srv.URL + "/webhooks/gemini"
			code, out, errs := runCLI(t, nil, append([]string{"trigger", string(tt.typ), "--to", to}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			if !strings.Contains(out, "sent "+string(tt.typ)) || !strings.Contains(out, "204 No Content") {
				t.Errorf("output:\n%s", out)
			}
			if strings.Contains(out+errs, secret) || strings.Contains(out+errs, "PRIVATE") {
				t.Errorf("output shows a secret:\n%s%s", out, errs)
			}
			got := rec.requests()
			if len(got) != 1 {
				t.Fatalf("endpoint got %d requests, want 1", len(got))
			}
			scheme, err := tt.verifier(t, out, to).Verify(context.Background(), got[0].header, got[0].body)
			if err != nil {
				t.Fatalf("delivery does not verify: %v", err)
			}
			if scheme != tt.scheme {
				t.Errorf("scheme %q, want %q", scheme, tt.scheme)
			}
			ev, err := event.Parse(got[0].body)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type != tt.typ || ev.JobID == "" || ev.Timestamp.IsZero() {
				t.Errorf("event %v", ev)
			}
			if diff := cmp.Diff(tt.wantMeta, ev.UserMetadata); diff != "" {
				t.Errorf("user_metadata (-want +got):\n%s", diff)
			}
			if _, err := ev.Decode(); err != nil {
				t.Errorf("decode: %v", err)
			}
		})
	}
}

func TestTriggerDuplicateAndKeptKey(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, http.StatusOK)
	dir := t.TempDir()
	key, jwksOut := filepath.Join(dir, "key.pem"), filepath.Join(dir, "jwks.json")
	var jwks [][]byte
	for range 2 {
		code, out, errs := runCLI(t, nil, "trigger", "interaction.requires_action", "--to", rec.srv.URL,
			"--dynamic", "v1a", "--key", key, "--jwks-out", jwksOut, "--id", "msg_same", "--job-id", "v1_job")
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		b, err := os.ReadFile(jwksOut)
		if err != nil {
			t.Fatal(err)
		}
		jwks = append(jwks, b)
	}
	if !bytes.Equal(jwks[0], jwks[1]) {
		t.Errorf("--key did not keep the key: JWKS changed between runs")
	}
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	got := rec.requests()
	if len(got) != 2 {
		t.Fatalf("got %d requests", len(got))
	}
	for _, r := range got {
		if id := r.header.Get(signing.HeaderID); id != "msg_same" {
			t.Errorf("webhook-id %q", id)
		}
		if ev, err := event.Parse(r.body); err != nil || ev.JobID != "v1_job" {
			t.Errorf("event %v, %v", ev, err)
		}
	}
}

func TestTriggerOutputIsACapture(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	code, out, errs := runCLI(t, nil, "trigger", "batch.expired", "--to", "https://example.com/hook", "--secret", secret, "--output", "-")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	code, vout, verrs := runCLI(t, &env{stdin: strings.NewReader(out)}, "verify", "--secret", secret)
	if code != exitOK || !strings.Contains(vout, "event:       batch.expired") {
		t.Fatalf("verify: exit %d\n%s%s", code, vout, verrs)
	}
}

func TestTriggerDynamicCapture(t *testing.T) {
	t.Parallel()
	code, capt, errs := runCLI(t, nil, "trigger", "interaction.failed", "--to", "https://example.com/hook", "--dynamic", "v1a", "--output", "-")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, capt, errs)
	}
	_, jwks, ok := strings.Cut(errs, "\n")
	if !ok || !strings.HasPrefix(jwks, `{"keys":[`) {
		t.Fatalf("the JWKS is not on stderr:\n%s", errs)
	}
	file := writeFile(t, "jwks.json", []byte(jwks))
	code, out, verrs := runCLI(t, &env{stdin: strings.NewReader(capt)}, "verify", "--jwks-file", file)
	if code != exitOK || !strings.Contains(out, "valid: v1a (Ed25519) signature") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, verrs)
	}
}

func TestTriggerFailures(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	failing := newRecorder(t, http.StatusUnauthorized)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"endpoint refuses", []string{"batch.succeeded", "--to", failing.srv.URL, "--secret", secret}, exitFailure, "answered 401 Unauthorized"},
		{"endpoint down", []string{"batch.succeeded", "--to", closedURL, "--secret", secret}, exitFailure, "sending to"},
		{"unknown type", []string{"batch.exploded", "--to", failing.srv.URL, "--secret", secret}, exitUsage, `unknown event type "batch.exploded"`},
		{"no type", []string{"--to", failing.srv.URL, "--secret", secret}, exitUsage, "want exactly one event TYPE"},
		{"no --to", []string{"batch.succeeded", "--secret", secret}, exitUsage, "--to URL is required"},
		{"relative --to", []string{"batch.succeeded", "--to", "/hook", "--secret", secret}, exitUsage, "absolute http or https URL"},
		{"no signer", []string{"batch.succeeded", "--to", failing.srv.URL}, exitUsage, "nothing to sign with"},
		{"both signers", []string{"batch.succeeded", "--to", failing.srv.URL, "--secret", secret, "--dynamic", "jwt"}, exitUsage, "not both"},
		{"bad scheme", []string{"batch.succeeded", "--to", failing.srv.URL, "--dynamic", "v2"}, exitUsage, "v1a or jwt"},
		{"bad secret", []string{"batch.succeeded", "--to", failing.srv.URL, "--secret", "whsec_x"}, exitUsage, "--secret"},
		{"bad metadata", []string{"batch.succeeded", "--to", failing.srv.URL, "--secret", secret, "--user-metadata", "novalue"}, exitUsage, "key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runCLI(t, &env{now: func() time.Time { return time.Now() }}, append([]string{"trigger"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d (want %d), stderr lacks %q:\n%s%s", code, tt.wantCode, tt.want, out, errs)
			}
			if strings.Contains(out+errs, secret) {
				t.Errorf("output shows the secret")
			}
		})
	}
}
