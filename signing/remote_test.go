package signing

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
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
	clock    *testClock    // when set, the time of each fetch is kept in times
	times    []time.Time

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
		if s.clock != nil {
			s.times = append(s.times, s.clock.Now())
		}
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

// newTestRemote returns a RemoteKeySet for srv on clock; cfg may set more fields.
func newTestRemote(t testing.TB, srv *jwksServer, clock *testClock, cfg *KeySetConfig) *RemoteKeySet {
	t.Helper()
	c := KeySetConfig{}
	if cfg != nil {
		c = *cfg
	}
	c.HTTPClient, c.Now = srv.Client(), clock.Now
	ks, err := NewRemoteKeySet(srv.URL, &c)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// settle waits for the fetch in flight, if any, to end: lookups of a set still in use start their
// refresh in the background.
func (s *RemoteKeySet) settle() {
	s.mu.Lock()
	done := s.flight
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

// verifyJWT signs a delivery with RSA key i under kid and verifies it against ks at clock's time.
func verifyJWT(t *testing.T, ks KeySet, clock *testClock, i int, kid string) error {
	t.Helper()
	r := newJWTRequest(t)
	r.key, r.kid = testRSAKey(t, i), kid
	r.ts = formatTimestamp(clock.Now())
	r.claims.WebhookTimestamp, r.claims.IssuedAt, r.claims.Expiry = r.ts, clock.Now(), clock.Now().Add(time.Minute)
	_, h := r.sign(t)
	_, err := newVerifier(t, &Config{Keys: ks, Now: clock.Now}).Verify(context.Background(), h, r.body)
	return err
}

func TestRemoteKeySetDownAtStart(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	srv.setStatus(http.StatusServiceUnavailable)
	clock := newTestClock()
	ks := newTestRemote(t, srv, clock, nil)

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
	mv := newVerifier(t, &Config{Secrets: []string{testSecret}, Keys: ks, Now: clock.Now})
	h := headers(r.id, r.ts, "v1,"+strings.Repeat("A", 43)+"=", tok)
	if _, err := mv.Verify(context.Background(), h, r.body); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("multi verify = %v, want ErrKeySetUnavailable", err)
	}
	srv.wantFetches(t, 1) // the later requests fell within the retry cooldown

	srv.setStatus(http.StatusOK)
	clock.Advance(defaultRefetchCooldown)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatalf("verify after recovery: %v", err)
	}
	srv.wantFetches(t, 2)
}

func TestRemoteKeySetDownAfterWarmUp(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"), PublicKey{KID: "ed", Key: testEd25519Key(t, 0).Public()})
	clock := newTestClock()
	ks := newTestRemote(t, srv, clock, nil)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatal(err)
	}
	srv.setStatus(http.StatusInternalServerError)
	clock.Advance(defaultRefreshInterval + time.Second) // the set has expired; the refresh fails
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatalf("verify with cached keys: %v", err)
	}
	ks.settle()
	srv.wantFetches(t, 2)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatal(err)
	}
	srv.wantFetches(t, 2) // no retry within the cooldown

	// The body of a 200 can be broken too: still the last good set.
	srv.setStatus(http.StatusOK)
	srv.setBody([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	clock.Advance(defaultRefetchCooldown)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatalf("verify after a useless JWKS: %v", err)
	}
	ks.settle()
	srv.wantFetches(t, 3)

	// Too old to use while a refresh runs, the set is refreshed before the lookup returns; when that
	// fails too, the last good set is still used.
	clock.Advance(2 * defaultRefreshInterval)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatalf("verify with a set past its stale period: %v", err)
	}
	srv.wantFetches(t, 4)
}

func TestRemoteKeySetRotation(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	clock := newTestClock()
	ks := newTestRemote(t, srv, clock, nil)
	if err := verifyJWT(t, ks, clock, 0, "k0"); err != nil {
		t.Fatal(err)
	}
	srv.setKeys(t, rsaPub(t, 0, "k0"), rsaPub(t, 1, "k1"))
	// Within the cooldown of the first fetch, an unknown kid fetches nothing.
	if err := verifyJWT(t, ks, clock, 1, "k1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("verify with the new kid within the cooldown = %v, want ErrUnknownKey", err)
	}
	srv.wantFetches(t, 1)
	clock.Advance(defaultRefetchCooldown)
	for range 3 {
		if err := verifyJWT(t, ks, clock, 1, "k1"); err != nil {
			t.Fatalf("verify with the new kid: %v", err)
		}
	}
	srv.wantFetches(t, 2) // the new kid was fetched once

	// Ed25519 keys have no kid in v1a entries: an unmatched signature refetches, under the same cooldown.
	ed := testEd25519Key(t, 2)
	srv.setKeys(t, rsaPub(t, 1, "k1"), PublicKey{Key: ed.Public()})
	clock.Advance(defaultRefetchCooldown)
	body := []byte(`{}`)
	h := headers("msg", formatTimestamp(clock.Now()), signEd25519(ed, "msg", clock.Now(), body))
	if s, err := newVerifier(t, &Config{Keys: ks, Now: clock.Now}).Verify(context.Background(), h, body); err != nil || s != SchemeEd25519 {
		t.Fatalf("verify v1a with a rotated key = %q, %v", s, err)
	}
	srv.wantFetches(t, 3)
}

func TestRemoteKeySetUnknownKidFlood(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	clock := newTestClock()
	ks := newTestRemote(t, srv, clock, nil)
	if _, err := ks.Keys(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(defaultRefetchCooldown)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := verifyJWT(t, ks, clock, 0, fmt.Sprintf("forged-%d", i)); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("verify with kid forged-%d = %v, want ErrUnknownKey", i, err)
			}
		})
	}
	wg.Wait()
	srv.wantFetches(t, 2) // the warm-up and one refetch for the whole flood

	clock.Advance(defaultRefetchCooldown - time.Second)
	if err := verifyJWT(t, ks, clock, 0, "forged-x"); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	srv.wantFetches(t, 2)
	clock.Advance(time.Second)
	if err := verifyJWT(t, ks, clock, 0, "forged-y"); !errors.Is(err, ErrUnknownKey) {
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
		{"", defaultRefreshInterval},
		{"public, max-age=600", 10 * time.Minute},
		{"max-age=1", 5 * time.Minute},                       // clamped up
		{"max-age=9999999, must-revalidate", 24 * time.Hour}, // clamped down
		{"no-store", 5 * time.Minute},
		{"max-age=oops", defaultRefreshInterval},
	}
	for _, tc := range tests {
		t.Run(tc.cacheControl, func(t *testing.T) {
			t.Parallel()
			srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
			srv.setCacheControl(tc.cacheControl)
			clock := newTestClock()
			ks := newTestRemote(t, srv, clock, nil)
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
			ks.settle()
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
	ks := newTestRemote(t, srv, clock, &KeySetConfig{MaxWait: 10 * time.Millisecond})

	// The fetch hangs: a request gives up after the max wait.
	if _, err := ks.Keys(context.Background()); !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Keys during a hung fetch = %v, want ErrKeySetUnavailable", err)
	}
	// Requests during the hung fetch join it rather than starting more.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ks.Refresh(context.Background())
		})
	}
	wg.Wait()
	srv.wantFetches(t, 1)

	close(gate)
	ks2 := newTestRemote(t, srv, clock, &KeySetConfig{MaxWait: time.Minute})
	var ok atomic.Int64
	for range 20 {
		wg.Go(func() {
			if _, err := ks2.Keys(context.Background()); err == nil {
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
	srv.setBody([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`))
	ks := newTestRemote(t, srv, newTestClock(), nil)
	_, err := ks.Keys(context.Background())
	if !errors.Is(err, ErrKeySetUnavailable) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Keys(oversized JWKS) = %v, want ErrKeySetUnavailable for its size", err)
	}
}

// Once its set has expired, a lookup returns it at once and refreshes it in the background, so that
// steady traffic never waits for a fetch.
func TestRemoteKeySetRefreshesInBackground(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	clock := newTestClock()
	// A lookup that waited for the hung fetch below would hang the test.
	ks := newTestRemote(t, srv, clock, &KeySetConfig{MaxWait: time.Hour})
	if _, err := ks.Keys(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.setKeys(t, rsaPub(t, 1, "k1"))
	gate := make(chan struct{})
	srv.setGate(gate)
	clock.Advance(defaultRefreshInterval)
	keys, err := ks.Keys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].KID != "k0" {
		t.Fatalf("Keys of an expired set = %v, %v; want the old set at once", keys, err)
	}
	close(gate)
	ks.settle()
	srv.wantFetches(t, 2)
	keys, err = ks.Keys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].KID != "k1" {
		t.Fatalf("Keys after the background refresh = %v, %v; want the new set", keys, err)
	}
}

// The cooldown bounds every fetch, whatever asks for it and however callers interleave with a fetch
// that is ending. Here a failed refresh is held just after it ended (its log line blocks), while a
// refresh for an unknown key and a lookup of the expired set come in at the same instant. Before one
// flight marker replaced a singleflight group beside a "fetching" flag, the unknown key's refresh
// either joined the ending call (and left the flag set, so the next lookup fetched at once) or
// fetched itself: a second fetch at the same instant. No fetch may start within the cooldown of the
// one before.
func TestRemoteKeySetOneFetchPerCooldown(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, rsaPub(t, 0, "k0"))
	clock := newTestClock()
	srv.clock = clock
	logged, release := make(chan struct{}), make(chan struct{})
	ks := newTestRemote(t, srv, clock, &KeySetConfig{MaxWait: time.Hour, Logger: slog.New(&blockingHandler{entered: logged, release: release})})
	if _, err := ks.Keys(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.setStatus(http.StatusInternalServerError)
	clock.Advance(2*defaultRefreshInterval + time.Second) // past the stale period: lookups wait

	var wg sync.WaitGroup
	wg.Go(func() { ks.Keys(context.Background()) }) // fetches, fails, and blocks in the log
	<-logged
	wg.Go(func() { ks.Refresh(context.Background()) }) // an unknown kid
	wg.Go(func() { ks.Keys(context.Background()) })    // and a lookup, at the same instant
	wg.Go(func() { ks.Refresh(context.Background()) }) // and another unknown kid
	close(release)
	wg.Wait()
	ks.Keys(context.Background())
	ks.settle()

	clock.Advance(defaultRefetchCooldown)
	srv.setStatus(http.StatusOK)
	if _, err := ks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	times := append([]time.Time(nil), srv.times...)
	srv.mu.Unlock()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < defaultRefetchCooldown {
			t.Errorf("fetch %d came %s after fetch %d, within the %s cooldown", i+1, gap, i, defaultRefetchCooldown)
		}
	}
	if len(times) != 3 {
		t.Errorf("%d fetches, want 3: the warm-up, the failed refresh, and one a cooldown later", len(times))
	}
}

// blockingHandler is a slog.Handler whose first record blocks until release is closed, after
// closing entered.
type blockingHandler struct {
	once             sync.Once
	entered, release chan struct{}
}

func (h *blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *blockingHandler) WithGroup(string) slog.Handler            { return h }
func (h *blockingHandler) Handle(context.Context, slog.Record) error {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
	return nil
}

// NewRemoteKeySet refuses a URL or a KeySetConfig it cannot use, naming the field at fault.
func TestNewRemoteKeySetConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		cfg  *KeySetConfig
		want string // "" for no error
	}{
		{"defaults", GeminiJWKSURL, nil, ""},
		{"every field", "http://127.0.0.1:8080/jwks", &KeySetConfig{HTTPClient: http.DefaultClient, RefreshInterval: 24 * time.Hour,
			RefetchCooldown: time.Second, MaxWait: time.Second, Now: time.Now, Logger: slog.Default()}, ""},
		{"not a url", "jwks.json", nil, "signing: jwks url jwks.json is not an http or https URL"},
		{"file url", "file:///etc/jwks.json", nil, "signing: jwks url file:///etc/jwks.json is not an http or https URL"},
		{"url with a credential", "ftp://u:pw@h/?token=x", nil, "signing: jwks url ftp://u:xxxxx@h/?redacted is not an http or https URL"},
		{"negative cooldown", GeminiJWKSURL, &KeySetConfig{RefetchCooldown: -time.Second},
			"signing: KeySetConfig.RefetchCooldown is -1s, need a positive duration"},
		{"negative max wait", GeminiJWKSURL, &KeySetConfig{MaxWait: -time.Second},
			"signing: KeySetConfig.MaxWait is -1s, need a positive duration"},
		{"refresh too short", GeminiJWKSURL, &KeySetConfig{RefreshInterval: time.Minute},
			"signing: KeySetConfig.RefreshInterval is 1m0s, need 5m0s to 24h0m0s"},
		{"refresh too long", GeminiJWKSURL, &KeySetConfig{RefreshInterval: 25 * time.Hour},
			"signing: KeySetConfig.RefreshInterval is 25h0m0s, need 5m0s to 24h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewRemoteKeySet(tc.url, tc.cfg)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("NewRemoteKeySet = %q, want %q", got, tc.want)
			}
		})
	}
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
		{"too large", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"e","x":"` + x + `"}],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys, err := parseJWKS([]byte(tc.doc))
			if tc.wantIDs == nil {
				if err == nil {
					t.Fatalf("parseJWKS succeeded with %d keys, want an error", len(keys))
				}
				if !errors.Is(err, errInvalidJWKS) {
					t.Fatalf("error %v does not wrap errInvalidJWKS", err)
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
	ks, err := NewRemoteKeySet(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ks.Keys(context.Background())
	if !errors.Is(err, ErrKeySetUnavailable) {
		t.Fatalf("Keys = %v, want ErrKeySetUnavailable", err)
	}
	for _, secret := range []string{"hunter2pw", "s3cr3ttoken"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows %q", err, secret)
		}
	}
}
