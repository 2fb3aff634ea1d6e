package signing

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: testNow} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// jwksServer serves a JWKS document that tests change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	fetches  atomic.Int64
	requests chan struct{} // receives one value per request, when a test listens

	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	gate         chan struct{} // when set, requests wait for it to close
}

func newJWKSServer(t *testing.T, keys ...PublicKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, requests: make(chan struct{}, 1)}
	s.setKeys(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		select {
		case s.requests <- struct{}{}:
		default:
		}
		s.mu.Lock()
		body, status, cc, gate := s.body, s.status, s.cacheControl, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t *testing.T, keys ...PublicKey) {
	t.Helper()
	doc, err := MarshalJWKS(keys...)
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(doc)
}

func (s *jwksServer) setBody(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = b
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

func (s *jwksServer) setCacheControl(cc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cacheControl = cc
}

func (s *jwksServer) setGate(g chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = g
}

func (s *jwksServer) wantFetches(t *testing.T, want int64) {
	t.Helper()
	if got := s.fetches.Load(); got != want {
		t.Fatalf("fetches = %d, want %d", got, want)
	}
}

func rsaPub(t testing.TB, i int, kid string) PublicKey {
	return PublicKey{KID: kid, Key: &testRSAKey(t, i).PublicKey}
}

func newTestRemote(srv *jwksServer, clock *testClock, opts ...KeySetOption) *RemoteKeySet {
	return NewRemoteKeySet(srv.URL, append([]KeySetOption{WithHTTPClient(srv.Client()), WithKeySetClock(clock.Now)}, opts...)...)
}

// verifyJWT signs a delivery with RSA key i under kid and verifies it against ks at clock's time.
func verifyJWT(t *testing.T, ks KeySet, clock *testClock, i int, kid string) error {
	t.Helper()
	r := newJWTRequest(t)
	r.key, r.kid = testRSAKey(t, i), kid
	r.ts = FormatTimestamp(clock.Now())
	r.claims.WebhookTimestamp, r.claims.IssuedAt, r.claims.Expiry = r.ts, clock.Now(), clock.Now().Add(time.Minute)
	_, h := r.sign(t)
	return NewJWKSVerifier(ks, WithClock(clock.Now)).Verify(context.Background(), h, r.body)
}

func TestRemoteKeySetDownAtStart(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	srv.setStatus(http.StatusServiceUnavailable)
	clock := newTestClock()
	ks := newTestRemote(srv, clock)

	if _, err := ks.Keys(context.Background()); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Keys = %v, want ErrKeySetUnavailable", err)
	}
	if err := verifyJWT(t, ks, clock, 0, "k0"); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("verify = %v, want ErrKeySetUnavailable", err)
	}
	// A listener with both schemes: a wrong v1 entry beside the JWT must still report the key set as
	// unavailable, so that it answers 503 and Gemini retries.
	r := newJWTRequest(t)
	tok, _ := r.sign(t)
	mv, err := NewVerifier(Config{Secrets: []string{testSecret}, KeySet: ks, Options: []Option{WithClock(clock.Now)}})
	if err != nil {
		t.Fatal(err)
	}
	h := headers(r.id, r.ts, "v1,"+strings.Repeat("A", 43)+"=", tok)
	if _, err := mv.VerifyScheme(context.Background(), h, r.body); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("multi verify = %v, want ErrKeySetUnavailable", err)
	}
	srv.wantFetches(t, 1) // the later requests fell within the retry cooldown

	srv.setStatus(http.StatusOK)
	clock.Advance(DefaultRefetchCooldown)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatalf("verify after recovery: %v", err)
	}
	srv.wantFetches(t, 2)
}

func TestRemoteKeySetDownAfterWarmUp(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"), PublicKey{KID: "ed", Key: testEd25519Key(t, 0).Public()})
	clock := newTestClock()
	ks := newTestRemote(srv, clock)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatal(err)
	}
	srv.setStatus(http.StatusInternalServerError)
	clock.Advance(DefaultRefreshInterval + time.Second) // the set has expired; the refresh fails
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatalf("verify with cached keys: %v", err)
	}
	srv.wantFetches(t, 2)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatal(err)
	}
	srv.wantFetches(t, 2) // no retry within the cooldown

	// The body of a 200 can be broken too: still the last good set.
	srv.setStatus(http.StatusOK)
	srv.setBody([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	clock.Advance(DefaultRefetchCooldown)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatalf("verify after a useless JWKS: %v", err)
	}
	srv.wantFetches(t, 3)
}

func TestRemoteKeySetRotation(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	clock := newTestClock()
	ks := newTestRemote(srv, clock)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatal(err)
	}
	srv.setKeys(t, rsaPub(t, 0, "k0"), rsaPub(t, 1, "k1"))
	for range 3 {
		if err := verifyJWT(t, ks, clock, 1, "k1"); err != nil {
			t.Fatalf("verify with the new kid: %v", err)
		}
	}
	srv.wantFetches(t, 2) // the new kid was fetched once

	// Ed25519 keys have no kid in v1a entries: an unmatched signature refetches, under the same cooldown.
	ed := testEd25519Key(t, 2)
	srv.setKeys(t, rsaPub(t, 1, "k1"), PublicKey{Key: ed.Public()})
	clock.Advance(DefaultRefetchCooldown)
	body := []byte(`{}`)
	h := headers("msg", FormatTimestamp(clock.Now()), SignEd25519(ed, "msg", clock.Now(), body))
	if s, err := NewJWKSVerifier(ks, WithClock(clock.Now)).VerifyScheme(context.Background(), h, body); err != nil || s != SchemeEd25519 {
		t.Fatalf("verify v1a with a rotated key = %q, %v", s, err)
	}
	srv.wantFetches(t, 3)
}

func TestRemoteKeySetUnknownKidFlood(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	clock := newTestClock()
	ks := newTestRemote(srv, clock)
	if _, err := ks.Keys(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if _, err := ks.Key(context.Background(), fmt.Sprintf("forged-%d", i)); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("Key(forged-%d) = %v, want ErrUnknownKey", i, err)
			}
		})
	}
	wg.Wait()
	srv.wantFetches(t, 2) // the warm-up and one refetch for the whole flood

	clock.Advance(DefaultRefetchCooldown - time.Second)
	if _, err := ks.Key(context.Background(), "forged-x"); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	srv.wantFetches(t, 2)
	clock.Advance(time.Second)
	if _, err := ks.Key(context.Background(), "forged-y"); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	srv.wantFetches(t, 3)
}

func TestRemoteKeySetCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cacheControl string
		fresh        time.Duration // the set is used this long without a fetch
	}{
		{"", DefaultRefreshInterval},
		{"public, max-age=600", 10 * time.Minute},
		{"max-age=1", 5 * time.Minute},                       // clamped up
		{"max-age=9999999, must-revalidate", 24 * time.Hour}, // clamped down
		{"no-store", 5 * time.Minute},
		{"max-age=oops", DefaultRefreshInterval},
	}
	for _, tc := range tests {
		t.Run(tc.cacheControl, func(t *testing.T) {
			t.Parallel()
			srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
			srv.setCacheControl(tc.cacheControl)
			clock := newTestClock()
			ks := newTestRemote(srv, clock)
			if _, err := ks.Keys(context.Background()); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.fresh - time.Second)
			if _, err := ks.Keys(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.wantFetches(t, 1)
			clock.Advance(time.Second)
			if _, err := ks.Keys(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.wantFetches(t, 2)
		})
	}
}

func TestRemoteKeySetCoalescesAndBoundsWaits(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	gate := make(chan struct{})
	srv.setGate(gate)
	clock := newTestClock()
	ks := newTestRemote(srv, clock, WithMaxWait(10*time.Millisecond))

	// The fetch hangs: a request gives up after the max wait.
	if _, err := ks.Keys(context.Background()); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Keys during a hung fetch = %v, want ErrKeySetUnavailable", err)
	}
	// Requests during the hung fetch join it rather than starting more.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ks.Key(context.Background(), "k0")
		})
	}
	wg.Wait()
	srv.wantFetches(t, 1)

	close(gate)
	ks2 := newTestRemote(srv, clock, WithMaxWait(time.Minute))
	var ok atomic.Int64
	for range 20 {
		wg.Go(func() {
			if _, err := ks2.Key(context.Background(), "k0"); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 20 {
		t.Errorf("%d of 20 concurrent lookups succeeded", ok.Load())
	}
	// One fetch for ks (the hung one) and one for all twenty lookups of ks2.
	srv.wantFetches(t, 2)
}

func TestRemoteKeySetLimits(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t)
	srv.setBody([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`))
	ks := newTestRemote(srv, newTestClock())
	_, err := ks.Keys(context.Background())
	if !errors.Is(err, ErrKeySetUnavailable) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Keys(oversized JWKS) = %v, want ErrKeySetUnavailable for its size", err)
	}
}

func TestRemoteKeySetRun(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	ks := newTestRemote(srv, newTestClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ks.Run(ctx) }()
	<-srv.requests // Run fetches without waiting for a request to need keys
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if _, err := ks.Key(context.Background(), "k0"); err != nil {
		t.Fatalf("Key after Run's fetch: %v", err)
	}
	srv.wantFetches(t, 1)
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	rsa0, ed := &testRSAKey(t, 0).PublicKey, testEd25519Key(t, 0).Public().(ed25519.PublicKey)
	n, x := b64url(rsa0.N.Bytes()), b64url(ed)
	tests := []struct {
		name    string
		doc     string
		wantIDs []string
	}{
		{"rsa and okp", `{"keys":[{"kty":"RSA","kid":"r","n":"` + n + `","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","kid":"e","x":"` + x + `"}]}`, []string{"r", "e"}},
		{"skips enc, RS512, oct, EC, X25519", `{"keys":[` +
			`{"kty":"RSA","kid":"enc","use":"enc","n":"` + n + `","e":"AQAB"},` +
			`{"kty":"RSA","kid":"rs512","alg":"RS512","n":"` + n + `","e":"AQAB"},` +
			`{"kty":"oct","kid":"oct","k":"c2VjcmV0"},{"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"},` +
			`{"kty":"OKP","kid":"x","crv":"X25519","x":"` + x + `"},` +
			`{"kty":"RSA","kid":"ok","n":"` + n + `","e":"AQAB"}]}`, []string{"ok"}},
		{"rejects small and odd RSA", `{"keys":[` +
			`{"kty":"RSA","kid":"small","n":"` + b64url(rsa0.N.Bytes()[:128]) + `","e":"AQAB"},` +
			`{"kty":"RSA","kid":"e1","n":"` + n + `","e":"AQ"},{"kty":"RSA","kid":"even","n":"` + n + `","e":"AQAA"},` +
			`{"kty":"RSA","kid":"huge-e","n":"` + n + `","e":"AQAAAAAB"},{"kty":"RSA","kid":"bad-n","n":"!!","e":"AQAB"},` +
			`{"kty":"OKP","crv":"Ed25519","kid":"short","x":"AAAA"},` +
			`{"kty":"OKP","crv":"Ed25519","kid":"e","x":"` + x + `"}]}`, []string{"e"}},
		{"first kid wins", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"e","x":"` + x + `"},{"kty":"RSA","kid":"e","n":"` + n + `","e":"AQAB"}]}`, []string{"e"}},
		{"no usable key", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, nil},
		{"not json", `<html>`, nil},
		{"too large", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"e","x":"` + x + `"}],"pad":"` + strings.Repeat("x", MaxJWKSBytes) + `"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys, err := ParseJWKS([]byte(tc.doc))
			if tc.wantIDs == nil {
				if err == nil {
					t.Fatalf("ParseJWKS succeeded with %d keys, want an error", len(keys))
				}
				if !errors.Is(err, ErrInvalidJWKS) {
					t.Fatalf("error %v does not wrap ErrInvalidJWKS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, k := range keys {
				ids = append(ids, k.KID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("kids = %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}

// A JWKS URL can carry a credential in its password or query; neither may
// reach an error.
func TestRemoteKeySetErrorsHideCredentials(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2pw@", 1) + "/jwks?token=s3cr3ttoken"
	ks := NewRemoteKeySet(u)
	_, err := ks.Keys(context.Background())
	if !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Keys = %v, want ErrKeySetUnavailable", err)
	}
	for _, secret := range []string{"hunter2pw", "s3cr3ttoken"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows %q", err, secret)
		}
	}
}
