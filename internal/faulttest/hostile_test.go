package faulttest

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

// Read limits: ReadHeaderTimeout on the http.Server, as the README recommends (headers are read before
// any handler runs), and the body's bound on both the server and the listener.
const (
	readHeaderTimeout = 300 * time.Millisecond
	readTimeout       = 500 * time.Millisecond
	maxBody           = 64 << 10
)

// rawResult is what a hand-written request got: a status, or the server closing the connection.
type rawResult struct {
	status int           // 0 when the server closed the connection without an answer
	after  time.Duration // from the first byte written to the answer or the closure
	err    error
}

// rawRequest writes head, then body at once or one byte per pace, and reads what comes back. The
// pace is the attacker's (a slow-loris trickle); the server's read timeout is what ends it.
func rawRequest(addr, head string, body []byte, pace time.Duration, closeWrite bool) rawResult {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return rawResult{err: err}
	}
	defer conn.Close()
	start := time.Now()
	conn.SetDeadline(start.Add(10 * time.Second))
	if _, err := conn.Write([]byte(head)); err != nil {
		return rawResult{err: err}
	}
	answered := make(chan rawResult, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- rawResult{after: time.Since(start)}
			return
		}
		resp.Body.Close()
		answered <- rawResult{status: resp.StatusCode, after: time.Since(start)}
	}()
	if pace == 0 {
		conn.Write(body)
		if closeWrite {
			conn.(*net.TCPConn).CloseWrite()
		}
		return <-answered
	}
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case r := <-answered:
			return r
		case <-tick.C:
			if i < len(body) {
				conn.Write(body[i : i+1])
			}
		}
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// bodySHA256 is a JWT's body_sha256 claim: the base64url SHA-256 of the raw body.
func bodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return b64url(sum[:])
}

// handToken builds a JWT by hand with any alg, signed by sign (nil for none).
func handToken(t *testing.T, alg, kid string, claims map[string]any, sign func([]byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": kid})
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signed := b64url(h) + "." + b64url(c)
	if sign == nil {
		return signed + "."
	}
	return signed + "." + b64url(sign([]byte(signed)))
}

func hs256(key []byte) func([]byte) []byte {
	return func(b []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(b)
		return m.Sum(nil)
	}
}

// TestHostileInput sends tampered, truncated and oversized bodies, injected headers, algorithm
// confusion and slow-loris requests to a listener whose http.Server sets read timeouts, amid genuine
// deliveries. No hostile request may be accepted, none may stall the server, and nothing genuine is lost.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	keys, err := rsaKeys()
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := keys[0]
	jwks, err := signing.MarshalJWKS(signing.PublicKey{KID: "k1", Key: &rsaKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := signing.NewStaticKeySet(jwks)
	if err != nil {
		t.Fatal(err)
	}
	secret := newSecret(t)
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}, Keys: ks,
		Audience: []string{jwtAudience}, Issuer: jwtIssuer})
	if err != nil {
		t.Fatal(err)
	}
	led := newLedger()
	// The listener sets each delivery's read deadline itself (Config.ReadTimeout), which replaces the
	// server's: both get the same bound here.
	l := newListener(t, v, &listener.Config{MaxBodyBytes: maxBody, ReadTimeout: readTimeout,
		PollInterval: 20 * time.Millisecond})
	srv := httptest.NewUnstartedServer(l)
	srv.Config.ReadHeaderTimeout = readHeaderTimeout
	srv.Config.ReadTimeout = readTimeout
	// IdleTimeout defaults to ReadTimeout: keep-alive connections would close
	// after half a second, and a POST that races such a close fails in the
	// client, which is not what this test is about.
	srv.Config.IdleTimeout = time.Minute
	srv.Start()
	startReplicaOn(t, l, srv, led)
	addr := srv.Listener.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second}
	sign := hmacSigner(secret)
	n := size(20, 500)
	ds := deliveries(t, "genuine", 2*n, time.Now())
	// A loaded machine can still drop a connection now and then; the sender
	// retries as Gemini does, and every genuine delivery must end up stored.
	var got map[int]int
	for i := 0; !allAcked(led, ds[:n]) && i < 5; i++ {
		got = sendRound(t, led, client, srv.URL, ds[:n], sign, time.Now)
	}
	if !allAcked(led, ds[:n]) {
		t.Fatalf("genuine deliveries before the attack: not all stored; last round's statuses %v", got)
	}

	captured := ds[0] // an accepted delivery an attacker replays with extra headers
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	capturedSig, err := sign(captured.id, now, captured.body)
	if err != nil {
		t.Fatal(err)
	}
	head := func(id, sig string, length int, extra string) string {
		return fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
			"webhook-id: %s\r\nwebhook-timestamp: %s\r\nwebhook-signature: %s\r\n%s\r\n", addr, length, id, ts, sig, extra)
	}
	fresh := deliveries(t, "hostile", 1, now)[0]
	freshSig, err := sign(fresh.id, now, fresh.body)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(fresh.body, []byte("files/out"), []byte("files/evil"), 1)
	big := bytes.Repeat([]byte("x"), 2*maxBody)
	bigSig, err := sign("hostile-big", now, big)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"iss": jwtIssuer, "aud": jwtAudience, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"webhook_id": fresh.id, "webhook_timestamp": ts, "body_sha256": bodySHA256(fresh.body)}
	whsec, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}

	type attack struct {
		name        string
		head        string
		body        []byte
		pace        time.Duration
		closeWrite  bool
		wantClosure bool // the server's read timeout must end the request
	}
	attacks := []attack{
		{name: "tampered body", head: head(fresh.id, freshSig, len(tampered), ""), body: tampered},
		{name: "truncated body", head: head(fresh.id, freshSig, len(fresh.body), ""), body: fresh.body[:len(fresh.body)/2], closeWrite: true},
		{name: "oversized body", head: head("hostile-big", bigSig, len(big), ""), body: big},
		{name: "injected webhook-id before a replayed one", head: head("injected-id", capturedSig, len(captured.body),
			"webhook-id: "+captured.id+"\r\n"), body: captured.body},
		{name: "injected second signature header", head: head(fresh.id, "v1,AAAA", len(fresh.body), "webhook-signature: "+freshSig+"x\r\n"), body: fresh.body},
		{name: "bare CR in a header value", head: head(fresh.id+"\rwebhook-signature: v1,AAAA", freshSig, len(fresh.body), ""), body: fresh.body},
		{name: "obs-fold continuation of webhook-id", head: head(fresh.id+"\r\n injected", freshSig, len(fresh.body), ""), body: fresh.body},
		{name: "alg none", head: head(fresh.id, handToken(t, "none", "k1", claims, nil), len(fresh.body), ""), body: fresh.body},
		{name: "alg confusion HS256 keyed with the RSA public key", head: head(fresh.id, handToken(t, "HS256", "k1", claims, hs256(pubDER)), len(fresh.body), ""), body: fresh.body},
		{name: "alg confusion HS256 keyed with the webhook secret", head: head(fresh.id, handToken(t, "HS256", "k1", claims, hs256(whsec)), len(fresh.body), ""), body: fresh.body},
		{name: "RS256 token with the kid of no key", head: head(fresh.id, handToken(t, "RS256", "nope", claims, hs256(pubDER)), len(fresh.body), ""), body: fresh.body},
		{name: "slow-loris body", head: head(fresh.id, freshSig, len(fresh.body), ""), body: fresh.body, pace: 50 * time.Millisecond, wantClosure: true},
		{name: "slow-loris headers", head: "POST / HTTP/1.1\r\nHost: x\r\n", body: []byte("webhook-id: " + strings.Repeat("a", 200)), pace: 50 * time.Millisecond, wantClosure: true},
	}
	results := make([]rawResult, len(attacks))
	var wg sync.WaitGroup
	for i, a := range attacks {
		wg.Go(func() { results[i] = rawRequest(addr, a.head, a.body, a.pace, a.closeWrite) })
	}
	// Genuine traffic while the slow connections hang on.
	if got := sendRound(t, led, client, srv.URL, ds[n:], sign, time.Now); got[http.StatusAccepted] != n {
		t.Errorf("genuine deliveries during the attack: statuses %v", got)
	}
	wg.Wait()
	for i, a := range attacks {
		r := results[i]
		t.Logf("%s: status %d after %v, err %v", a.name, r.status, r.after.Round(time.Millisecond), r.err)
		if r.status/100 == 2 {
			t.Errorf("%s: accepted with %d", a.name, r.status)
		}
		if r.err != nil {
			t.Errorf("%s: %v", a.name, r.err)
		}
		if a.wantClosure && r.after > readTimeout+2*time.Second {
			t.Errorf("%s: the request lasted %v despite a %v read timeout", a.name, r.after, readTimeout)
		}
	}
	if s := l.Stats(); s.Stored != uint64(2*n) {
		t.Errorf("listener stored %d events, want the %d genuine ones only", s.Stored, 2*n)
	}
	waitDrained(t, 10*time.Second, "every genuine event to be processed", led.unprocessed)
	led.finish(t, "hostile-input")
}
