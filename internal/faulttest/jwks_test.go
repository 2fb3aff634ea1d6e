package faulttest

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

const (
	jwtIssuer   = "https://generativelanguage.googleapis.com"
	jwtAudience = "https://app.example.com/hooks/gemini"
	cooldown    = time.Minute
)

var rsaKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	var ks []*rsa.PrivateKey
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, nil
})

// jwksServer serves a JWKS the test changes, can be taken down, and counts fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	body    []byte
	down    bool
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	j := &jwksServer{}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(j.body)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) serve(t *testing.T, keys map[string]*rsa.PrivateKey) {
	t.Helper()
	var pubs []signing.PublicKey
	for kid, k := range keys {
		pubs = append(pubs, signing.PublicKey{KID: kid, Key: &k.PublicKey})
	}
	b, err := signing.MarshalJWKS(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	j.body, j.down = b, false
	j.mu.Unlock()
}

func (j *jwksServer) setDown(down bool) {
	j.mu.Lock()
	j.down = down
	j.mu.Unlock()
}

// jwtSigner signs each attempt with an RS256 JWT under kid, as documented for dynamic webhooks.
func jwtSigner(key *rsa.PrivateKey, kid string) signer {
	return signatureBy(signing.Signer{RSA: key, KID: kid, Issuer: jwtIssuer, Audience: jwtAudience})
}

// jwksRig is a listener verifying JWTs against a remote key set whose clock the test moves.
type jwksRig struct {
	jwks   *jwksServer
	clock  *fakeClock
	r      *replica
	led    *ledger
	client *http.Client
	keys   []*rsa.PrivateKey
}

func newJWKSRig(t *testing.T) *jwksRig {
	t.Helper()
	keys, err := rsaKeys()
	if err != nil {
		t.Fatal(err)
	}
	j := newJWKSServer(t)
	clock := newFakeClock()
	ks, err := signing.NewRemoteKeySet(j.srv.URL, &signing.KeySetConfig{HTTPClient: j.srv.Client(), Now: clock.Now,
		RefetchCooldown: cooldown, MaxWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v, err := signing.NewVerifier(&signing.Config{Keys: ks, Audience: []string{jwtAudience}, Issuer: jwtIssuer})
	if err != nil {
		t.Fatal(err)
	}
	led := newLedger()
	return &jwksRig{jwks: j, clock: clock, led: led, keys: keys, client: &http.Client{Timeout: 10 * time.Second},
		r: startReplica(t, newListener(t, v, &listener.Config{PollInterval: 20 * time.Millisecond}), led)}
}

func (g *jwksRig) round(t *testing.T, ds []delivery, sign signer) map[int]int {
	return sendRound(t, g.led, g.client, g.r.srv.URL, ds, sign, time.Now)
}

func (g *jwksRig) finish(t *testing.T, scenario string) {
	t.Helper()
	waitDrained(t, 10*time.Second, "every stored event to be processed", g.led.unprocessed)
	g.led.finish(t, scenario)
}

// TestJWKSOutageAtStart: the key set was never fetched and the endpoint is down. The listener answers
// 503 (not 401), so Gemini retries; once the endpoint is back, the retries get through.
func TestJWKSOutageAtStart(t *testing.T) {
	t.Parallel()
	g := newJWKSRig(t)
	n := size(20, 500)
	g.jwks.serve(t, map[string]*rsa.PrivateKey{"k1": g.keys[0]})
	g.jwks.setDown(true)
	sign := jwtSigner(g.keys[0], "k1")
	ds := deliveries(t, "jwks-start", n, time.Now())
	if got := g.round(t, ds, sign); got[http.StatusServiceUnavailable] != n {
		t.Errorf("with the JWKS down from the start: statuses %v, want %d x 503", got, n)
	}
	g.jwks.setDown(false)
	g.clock.Advance(cooldown) // a failed fetch is retried after the cooldown
	if got := g.round(t, ds, sign); got[http.StatusAccepted] != n {
		t.Errorf("after the JWKS came back: statuses %v, want %d x 202", got, n)
	}
	g.finish(t, "jwks/outage-at-start")
}

// TestJWKSOutageMidRun: keys were fetched, then the endpoint goes down for longer than the cache
// lifetime. A failed refresh keeps the last good set, so deliveries keep being accepted.
func TestJWKSOutageMidRun(t *testing.T) {
	t.Parallel()
	g := newJWKSRig(t)
	n := size(20, 500)
	g.jwks.serve(t, map[string]*rsa.PrivateKey{"k1": g.keys[0]})
	sign := jwtSigner(g.keys[0], "k1")
	ds := deliveries(t, "jwks-mid", 2*n, time.Now())
	if got := g.round(t, ds[:n], sign); got[http.StatusAccepted] != n {
		t.Fatalf("before the outage: statuses %v", got)
	}
	g.jwks.setDown(true)
	before := g.jwks.fetches.Load()
	g.clock.Advance(25 * time.Hour) // past any cache lifetime (max-age is clamped to 24h)
	if got := g.round(t, ds[n:], sign); got[http.StatusAccepted] != n {
		t.Errorf("during the outage: statuses %v, want %d x 202 from the last good key set", got, n)
	}
	if g.jwks.fetches.Load() == before {
		t.Error("the expired key set was never refreshed: the outage was not exercised")
	}
	g.finish(t, "jwks/outage-mid-run")
}

// TestJWKSKeyRotation: Google adds a key, signs with it, then retires the old one.
func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	g := newJWKSRig(t)
	n := size(20, 500)
	k1, k2 := g.keys[0], g.keys[1]
	g.jwks.serve(t, map[string]*rsa.PrivateKey{"k1": k1})
	ds := deliveries(t, "rotate", 3*n, time.Now())
	if got := g.round(t, ds[:n], jwtSigner(k1, "k1")); got[http.StatusAccepted] != n {
		t.Fatalf("before the rotation: statuses %v", got)
	}
	g.jwks.serve(t, map[string]*rsa.PrivateKey{"k1": k1, "k2": k2})
	// The first k2 delivery finds an unknown kid and refetches; retries cover any refused within the
	// cooldown, as Gemini's would.
	for i := 0; !allAcked(g.led, ds[n:2*n]) && i < 3; i++ {
		g.round(t, ds[n:2*n], jwtSigner(k2, "k2"))
		g.clock.Advance(cooldown)
	}
	if !allAcked(g.led, ds[n:2*n]) {
		t.Error("deliveries signed with the new key were never accepted")
	}
	g.jwks.serve(t, map[string]*rsa.PrivateKey{"k2": k2})
	g.clock.Advance(25 * time.Hour)
	if got := g.round(t, ds[2*n:], jwtSigner(k2, "k2")); got[http.StatusAccepted] != n {
		t.Errorf("after the old key was retired: statuses %v", got)
	}
	g.finish(t, "jwks/key-rotation")
}

// TestJWKSUnknownKidFlood: forged tokens with fresh unknown kids arrive in bulk. They are refused, and
// JWKS fetches stay within one per cooldown, while genuine deliveries interleaved with them get in.
func TestJWKSUnknownKidFlood(t *testing.T) {
	t.Parallel()
	g := newJWKSRig(t)
	n, flood, rounds := size(10, 200), size(100, 5000), 3
	g.jwks.serve(t, map[string]*rsa.PrivateKey{"k1": g.keys[0]})
	genuine := jwtSigner(g.keys[0], "k1")
	warm := deliveries(t, "flood-warm", 1, time.Now())
	if got := g.round(t, warm, genuine); got[http.StatusAccepted] != 1 {
		t.Fatalf("warm-up: statuses %v", got)
	}
	start := g.jwks.fetches.Load()
	forged := newLedger() // forged deliveries are not the scenario's; they only must not get in
	var forgedAccepted int
	ds := deliveries(t, "flood", rounds*n, time.Now())
	for r := range rounds {
		fs := deliveries(t, fmt.Sprintf("forged-%d", r), flood, time.Now())
		var kid atomic.Int64
		forge := func(id string, ts time.Time, body []byte) (string, error) {
			return jwtSigner(g.keys[2], fmt.Sprintf("forged-%d-%d", r, kid.Add(1)))(id, ts, body)
		}
		got := sendRound(t, forged, g.client, g.r.srv.URL, fs, forge, time.Now)
		forgedAccepted += got[http.StatusAccepted] + got[http.StatusOK]
		if got := g.round(t, ds[r*n:(r+1)*n], genuine); got[http.StatusAccepted] != n {
			t.Errorf("round %d: genuine deliveries amid the flood: statuses %v", r, got)
		}
		g.clock.Advance(cooldown)
	}
	fetches := g.jwks.fetches.Load() - start
	t.Logf("%d forged deliveries with unknown kids over %d cooldowns: %d accepted, %d JWKS fetches", rounds*flood, rounds, forgedAccepted, fetches)
	if forgedAccepted != 0 {
		t.Errorf("%d forged deliveries were accepted", forgedAccepted)
	}
	if fetches > int64(rounds) {
		t.Errorf("%d JWKS fetches for %d cooldowns of flood, want at most one per cooldown", fetches, rounds)
	}
	g.finish(t, "jwks/unknown-kid-flood")
}
