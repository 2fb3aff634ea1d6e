package delivery

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/signing"
)

// TestEverySchemeVerifies sends one delivery per signing scheme the emulator
// uses and checks that the receiver's signing verifier accepts it as sent.
func TestEverySchemeVerifies(t *testing.T) {
	t.Parallel()
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := signing.MarshalJWKS(
		signing.PublicKey{Key: edPub},
		signing.PublicKey{KID: "rsa-1", Key: &rsaKey.PublicKey},
	)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.NewStaticKeySet(jwks)
	if err != nil {
		t.Fatal(err)
	}
	var secret atomic.Pointer[string]
	secret.Store(new(newSecret(t)))

	for _, tc := range []struct {
		name   string
		scheme signing.Scheme
		sign   func(uri, id string, ts time.Time, body []byte) (string, error)
	}{
		{"hmac", signing.SchemeHMAC, hmacSign(&secret)},
		{"ed25519", signing.SchemeEd25519, func(_, id string, ts time.Time, body []byte) (string, error) {
			return signature(signing.Signer{Ed25519: edKey}, id, ts, body)
		}},
		{"jwt", signing.SchemeJWT, func(uri, id string, ts time.Time, body []byte) (string, error) {
			return signature(signing.Signer{RSA: rsaKey, KID: "rsa-1", Issuer: "https://generativelanguage.googleapis.com",
				Audience: uri, Lifetime: 10 * time.Minute}, id, ts, body)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			rcv := newReceiver(t)
			e := newEngine(t, Options{Clock: clock})
			uri := rcv.URL + "/hooks/" + tc.name
			body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/` + tc.name + `"}}`)
			if err := e.Enqueue(Delivery{ID: "msg_" + tc.name, URI: uri, Body: body, Sign: tc.sign}); err != nil {
				t.Fatal(err)
			}
			got := rcv.next(t)
			v, err := signing.NewVerifier(&signing.Config{
				Secrets:  []string{*secret.Load()},
				Keys:     keys,
				Now:      clock.Now,
				Audience: []string{uri},
			})
			if err != nil {
				t.Fatal(err)
			}
			scheme, err := v.Verify(context.Background(), got.header, got.body)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if scheme != tc.scheme {
				t.Errorf("verified as %q, want %q", scheme, tc.scheme)
			}
		})
	}
}

// TestRetryKeepsIDWithFreshTimestampAndSignature makes three attempts a
// minute apart, rotating the secret before the last, and checks each on the
// wire.
func TestRetryKeepsIDWithFreshTimestampAndSignature(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rcv := newReceiver(t, http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusOK)
	e := newEngine(t, Options{Clock: clock})
	var secret atomic.Pointer[string]
	oldSecret, newSecret := newSecret(t), newSecret(t)
	secret.Store(&oldSecret)
	body := []byte(`{"type":"batch.failed"}`)
	if err := e.Enqueue(Delivery{ID: "msg_1", URI: rcv.URL, Body: body, Sign: hmacSign(&secret)}); err != nil {
		t.Fatal(err)
	}

	for i := range 3 {
		got := rcv.next(t)
		if id := got.header.Get(signing.HeaderID); id != "msg_1" {
			t.Errorf("attempt %d: webhook-id %q, want msg_1", i+1, id)
		}
		if ts := got.header.Get("webhook-timestamp"); ts != strconv.FormatInt(clock.Now().Unix(), 10) {
			t.Errorf("attempt %d: webhook-timestamp %s, want the attempt's time %d", i+1, ts, clock.Now().Unix())
		}
		want := oldSecret
		if i == 2 {
			want = newSecret
		}
		v, err := signing.NewVerifier(&signing.Config{Secrets: []string{want}, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), got.header, got.body); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
		if i == 2 {
			break
		}
		clock.nextTimer(t)
		// A minute later than any retry delay, so the timestamp moves on.
		clock.Advance(time.Minute)
		if i == 1 {
			secret.Store(&newSecret)
		}
	}
	idle(t, e)
	attempts := e.Attempts()
	for i, a := range attempts {
		if a.ID != "msg_1" || a.Number != i+1 {
			t.Errorf("attempt %d logged as %s #%d", i+1, a.ID, a.Number)
		}
	}
	if len(attempts) != 3 || !attempts[2].OK {
		t.Errorf("attempts = %+v, want three, the last succeeding", attempts)
	}
}
