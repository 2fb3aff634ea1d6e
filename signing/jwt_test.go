package signing

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RSA key generation is slow, so the tests share a few keys, each generated once per run.
var rsaKeys = [3]func() (*rsa.PrivateKey, error){
	sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }),
	sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }),
	sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }),
}

func testRSAKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsaKeys[i]()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testEd25519Key(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+seed)), ed25519.SeedSize)))
}

// jwtRequest builds the headers and body of a dynamic delivery signed with an RS256 JWT.
type jwtRequest struct {
	key    *rsa.PrivateKey
	kid    string
	claims jwtClaims
	id, ts string
	body   []byte
}

func newJWTRequest(t testing.TB) jwtRequest {
	body := []byte(`{"type":"batch.succeeded","data":{"id":"batches/1"}}`)
	ts := formatTimestamp(testNow)
	return jwtRequest{
		key: testRSAKey(t, 0), kid: "rsa-1", id: "msg_jwt", ts: ts, body: body,
		claims: jwtClaims{
			Issuer: "https://generativelanguage.googleapis.com", Audience: "https://example.com/hook",
			IssuedAt: testNow, Expiry: testNow.Add(5 * time.Minute),
			WebhookID: "msg_jwt", WebhookTimestamp: ts, BodySHA256: bodySHA256(body),
		},
	}
}

func (r jwtRequest) sign(t testing.TB) (string, http.Header) {
	t.Helper()
	tok, err := signJWT(r.key, r.kid, r.claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok, headers(r.id, r.ts, tok)
}

// staticKeys returns a static key set holding keys, through their JWKS document.
func staticKeys(t testing.TB, keys ...PublicKey) KeySet {
	t.Helper()
	doc, err := MarshalJWKS(keys...)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewStaticKeySet(doc)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func testKeySet(t testing.TB) KeySet {
	t.Helper()
	return staticKeys(t,
		PublicKey{KID: "ed-1", Key: testEd25519Key(t, 0).Public()},
		PublicKey{KID: "rsa-1", Key: &testRSAKey(t, 0).PublicKey},
		PublicKey{KID: "ed-2", Key: testEd25519Key(t, 1).Public()},
	)
}

func TestJWT(t *testing.T) {
	t.Parallel()
	ks := testKeySet(t)
	v := newVerifier(t, &Config{Keys: ks, Now: fixedClock(testNow), Audience: []string{"https://example.com/hook"},
		Issuer: "https://generativelanguage.googleapis.com"})

	hs256WithPublicKey := func(t testing.TB) string {
		der, err := x509.MarshalPKIXPublicKey(&testRSAKey(t, 0).PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		r := newJWTRequest(t)
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"webhook_id": r.id, "exp": testNow.Add(time.Minute).Unix()})
		tok.Header["kid"] = "rsa-1"
		s, err := tok.SignedString(pemKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	algNone := func(t testing.TB, sig string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": testNow.Add(time.Minute).Unix()})
		tok.Header["kid"] = "rsa-1"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s + sig
	}

	tests := []struct {
		name   string
		modify func(t testing.TB, r *jwtRequest)
		token  func(t testing.TB) string // replaces the signed token when set
		want   error
	}{
		{name: "valid", want: nil},
		{name: "no kid tries every RSA key", modify: func(_ testing.TB, r *jwtRequest) { r.kid = "" }},
		{name: "only exp binds it", modify: func(_ testing.TB, r *jwtRequest) {
			r.claims.WebhookID, r.claims.WebhookTimestamp, r.claims.BodySHA256 = "", "", ""
		}},
		{name: "expired within leeway", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Expiry = testNow.Add(-30 * time.Second) }},
		{name: "no timestamp header but exp", modify: func(_ testing.TB, r *jwtRequest) { r.ts, r.claims.WebhookTimestamp = "", "" }},
		{name: "alg none", token: func(t testing.TB) string { return algNone(t, "") }, want: ErrNoMatchingSignature},
		{name: "alg none with a signature", token: func(t testing.TB) string { return algNone(t, "c2lnbmF0dXJl") }, want: ErrNoMatchingSignature},
		{name: "HS256 keyed with the RSA public key", token: hs256WithPublicKey, want: ErrNoMatchingSignature},
		{name: "kid not in the set", modify: func(_ testing.TB, r *jwtRequest) { r.kid = "rsa-9" }, want: ErrUnknownKey},
		{name: "kid of an Ed25519 key", modify: func(_ testing.TB, r *jwtRequest) { r.kid = "ed-1" }, want: ErrUnknownKey},
		{name: "signed by another key under a known kid", modify: func(t testing.TB, r *jwtRequest) { r.key = testRSAKey(t, 1) }, want: ErrNoMatchingSignature},
		{name: "expired", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Expiry = testNow.Add(-61 * time.Second) }, want: ErrStaleTimestamp},
		{name: "issued in the future", modify: func(_ testing.TB, r *jwtRequest) { r.claims.IssuedAt = testNow.Add(2 * time.Minute) }, want: ErrStaleTimestamp},
		{name: "wrong audience", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Audience = "https://attacker.example" }, want: ErrNoMatchingSignature},
		{name: "no audience", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Audience = "" }, want: ErrNoMatchingSignature},
		{name: "wrong issuer", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Issuer = "https://accounts.example" }, want: ErrNoMatchingSignature},
		{name: "tampered body", modify: func(_ testing.TB, r *jwtRequest) { r.body = []byte(`{"type":"batch.failed"}`) }, want: ErrNoMatchingSignature},
		{name: "malformed body_sha256", modify: func(_ testing.TB, r *jwtRequest) { r.claims.BodySHA256 = "AAAA" }, want: ErrNoMatchingSignature},
		{name: "other webhook-id", modify: func(_ testing.TB, r *jwtRequest) { r.id = "msg_other" }, want: ErrNoMatchingSignature},
		{name: "other webhook-timestamp", modify: func(_ testing.TB, r *jwtRequest) { r.ts = formatTimestamp(testNow.Add(time.Second)) }, want: ErrNoMatchingSignature},
		{name: "stale webhook-timestamp", modify: func(_ testing.TB, r *jwtRequest) {
			r.ts = formatTimestamp(testNow.Add(-time.Hour))
			r.claims.WebhookTimestamp = r.ts
		}, want: ErrStaleTimestamp},
		{name: "no exp and no timestamp header", modify: func(_ testing.TB, r *jwtRequest) {
			r.ts, r.claims.WebhookTimestamp, r.claims.Expiry = "", "", time.Time{}
		}, want: ErrNoMatchingSignature},
		{name: "no exp and no webhook_timestamp claim under a fresh header", modify: func(_ testing.TB, r *jwtRequest) {
			r.claims.WebhookTimestamp, r.claims.Expiry = "", time.Time{}
		}, want: ErrNoMatchingSignature},
		{name: "webhook_timestamp claim but no exp", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Expiry = time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newJWTRequest(t)
			if tc.modify != nil {
				tc.modify(t, &r)
			}
			_, h := r.sign(t)
			if tc.token != nil {
				h = headers(r.id, r.ts, tc.token(t))
			}
			scheme, err := v.Verify(context.Background(), h, r.body)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Verify = %q, %v; want %v", scheme, err, tc.want)
			}
			if err == nil && scheme != SchemeJWT {
				t.Errorf("scheme = %q, want %q", scheme, SchemeJWT)
			}
		})
	}
}

// TestJWTWrongKeyTypeInJWKS serves the token's kid as a symmetric (kty oct) JWK: it must be skipped
// rather than used as an HMAC key.
func TestJWTWrongKeyTypeInJWKS(t *testing.T) {
	t.Parallel()
	r := newJWTRequest(t)
	jwksJSON := `{"keys":[{"kty":"oct","kid":"rsa-1","k":"` + base64.RawURLEncoding.EncodeToString([]byte("secret-bytes-here")) + `"},` +
		`{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"` + b64url(testEd25519Key(t, 0).Public().(ed25519.PublicKey)) + `"}]}`
	ks, err := NewStaticKeySet([]byte(jwksJSON))
	if err != nil {
		t.Fatal(err)
	}
	_, h := r.sign(t)
	_, err = newVerifier(t, &Config{Keys: ks, Now: fixedClock(testNow)}).Verify(context.Background(), h, r.body)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Verify = %v, want ErrUnknownKey", err)
	}
}

func TestEd25519Vectors(t *testing.T) {
	t.Parallel()
	for _, tc := range loadVectors(t).Ed25519 {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			seed, err := base64.StdEncoding.DecodeString(tc.SeedBase64)
			if err != nil {
				t.Fatal(err)
			}
			priv := ed25519.NewKeyFromSeed(seed)
			if got := b64url(priv.Public().(ed25519.PublicKey)); got != tc.PublicKeyJWKX {
				t.Fatalf("public key x = %q, want %q", got, tc.PublicKeyJWKX)
			}
			ts := time.Unix(tc.Timestamp, 0)
			if got := signEd25519(priv, tc.ID, ts, []byte(tc.Body)); got != tc.Signature {
				t.Errorf("signEd25519 = %q, want %q", got, tc.Signature)
			}
			// The vector's key sits between other keys: every OKP key is tried, RSA keys are skipped.
			ks := staticKeys(t,
				PublicKey{Key: testEd25519Key(t, 3).Public()},
				PublicKey{KID: "rsa", Key: &testRSAKey(t, 0).PublicKey},
				PublicKey{Key: priv.Public()},
			)
			v := newVerifier(t, &Config{Keys: ks, Now: fixedClock(ts)})
			scheme, err := v.Verify(context.Background(), headers(tc.ID, formatTimestamp(ts), tc.Signature), []byte(tc.Body))
			if err != nil || scheme != SchemeEd25519 {
				t.Fatalf("Verify = %q, %v; want %q, nil", scheme, err, SchemeEd25519)
			}
			_, err = v.Verify(context.Background(), headers(tc.ID, formatTimestamp(ts), tc.Signature), []byte(tc.Body+"x"))
			if !errors.Is(err, ErrNoMatchingSignature) {
				t.Errorf("Verify(tampered) = %v, want ErrNoMatchingSignature", err)
			}
			_, err = v.Verify(context.Background(), headers(tc.ID, formatTimestamp(ts.Add(6*time.Minute)), tc.Signature), []byte(tc.Body))
			if !errors.Is(err, ErrStaleTimestamp) {
				t.Errorf("Verify(timestamp ahead) = %v, want ErrStaleTimestamp", err)
			}
		})
	}
}

func TestVerifierRouting(t *testing.T) {
	t.Parallel()
	ks := testKeySet(t)
	body := []byte(`{"type":"video.generated"}`)
	ts := formatTimestamp(testNow)
	v1, err := signHMAC(testSecret, "msg", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	v1a := signEd25519(testEd25519Key(t, 1), "msg", testNow, body)
	r := newJWTRequest(t)
	tok, jwtHeader := r.sign(t)
	forgedV1 := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))

	both := newVerifier(t, &Config{Secrets: []string{testSecret}, Keys: ks, Now: fixedClock(testNow)})
	hmacOnly := newVerifier(t, &Config{Secrets: []string{testSecret}, Now: fixedClock(testNow)})
	keysOnly := newVerifier(t, &Config{Keys: ks, Now: fixedClock(testNow)})
	tests := []struct {
		name string
		v    *Verifier
		h    http.Header
		body []byte
		want Scheme
		err  error
	}{
		{"v1", both, headers("msg", ts, v1), body, SchemeHMAC, nil},
		{"v1a", both, headers("msg", ts, v1a), body, SchemeEd25519, nil},
		{"jwt", both, jwtHeader, r.body, SchemeJWT, nil},
		{"forged v1 then good v1a", both, headers("msg", ts, forgedV1+" "+v1a), body, SchemeEd25519, nil},
		{"jwt on a second line", both, headers(r.id, r.ts, "v2,xyz", tok), r.body, SchemeJWT, nil},
		{"lower-case map", both, http.Header{"webhook-id": {"msg"}, "webhook-timestamp": {ts}, "webhook-signature": {v1a}}, body, SchemeEd25519, nil},
		{"v1a without a key set", hmacOnly, headers("msg", ts, v1a), body, "", ErrNoMatchingSignature},
		{"jwt without a key set", hmacOnly, jwtHeader, r.body, "", ErrNoMatchingSignature},
		{"v1 without secrets", keysOnly, headers("msg", ts, v1), body, "", ErrNoMatchingSignature},
		{"jwt with keys only", keysOnly, jwtHeader, r.body, SchemeJWT, nil},
		{"unknown versions", both, headers("msg", ts, "v2,abc", "v1b,def", "a.b"), body, "", ErrNoMatchingSignature},
		{"no header", both, headers("msg", ts), body, "", ErrNoMatchingSignature},
		{"stale v1", both, headers("msg", formatTimestamp(testNow.Add(-time.Hour)), v1), body, "", ErrStaleTimestamp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.v.Verify(context.Background(), tc.h, tc.body)
			if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Verify = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// NewVerifier refuses a Config it cannot use, naming the field at fault.
func TestNewVerifierConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  *Config
		want string // "" for no error
	}{
		{"nil", nil, "signing: Config has neither Secrets nor Keys, so nothing verifies"},
		{"empty", &Config{}, "signing: Config has neither Secrets nor Keys, so nothing verifies"},
		{"empty secret", &Config{Secrets: []string{""}}, "signing: Config.Secrets[0] is empty"},
		{"negative tolerance", &Config{Secrets: []string{testSecret}, Tolerance: -time.Second},
			"signing: Config.Tolerance is -1s, need a positive duration"},
		{"empty audience", &Config{Keys: testKeySet(t), Audience: []string{"https://a.example", ""}},
			"signing: Config.Audience[1] is empty"},
		{"keys only", &Config{Keys: testKeySet(t)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVerifier(tc.cfg)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("NewVerifier = %q, want %q", got, tc.want)
			}
		})
	}
}

// NewVerifier copies its Config: a later change by the caller has no effect.
func TestNewVerifierCopiesConfig(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	sig, err := signHMAC(testSecret, "msg", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Secrets: []string{testSecret}, Now: fixedClock(testNow)}
	v := newVerifier(t, cfg)
	cfg.Secrets[0] = testSecret2
	cfg.Now = fixedClock(testNow.Add(time.Hour))
	if _, err := v.Verify(context.Background(), headers("msg", formatTimestamp(testNow), sig), body); err != nil {
		t.Fatalf("Verify after the Config changed: %v", err)
	}
}

func TestStaticKeySet(t *testing.T) {
	t.Parallel()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keys []PublicKey
		ok   bool
	}{
		{"rsa and ed25519", []PublicKey{{KID: "a", Key: &testRSAKey(t, 0).PublicKey}, {KID: "b", Key: testEd25519Key(t, 0).Public()}}, true},
		{"rsa 1024", []PublicKey{{KID: "a", Key: &small.PublicKey}}, false},
		{"duplicate kid", []PublicKey{{KID: "a", Key: testEd25519Key(t, 0).Public()}, {KID: "a", Key: testEd25519Key(t, 1).Public()}}, false},
		{"short ed25519", []PublicKey{{Key: ed25519.PublicKey(make([]byte, 31))}}, false},
		{"private key", []PublicKey{{Key: testEd25519Key(t, 0)}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := MarshalJWKS(tc.keys...)
			if (err == nil) != tc.ok {
				t.Fatalf("MarshalJWKS = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			ks, err := NewStaticKeySet(doc)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := ks.Keys(context.Background())
			if err != nil || len(keys) != len(tc.keys) {
				t.Fatalf("Keys = %d keys, %v; want %d", len(keys), err, len(tc.keys))
			}
			if fresh, err := ks.Refresh(context.Background()); err != nil || changed(keys, fresh) {
				t.Errorf("Refresh of a static set = %v, changed %v; want the same keys", err, changed(keys, fresh))
			}
		})
	}
	// A document with only unusable keys is refused, not turned into an empty set.
	weak := `{"keys":[{"kty":"RSA","kid":"a","n":"` + b64url(small.N.Bytes()) + `","e":"AQAB"}]}`
	if _, err := NewStaticKeySet([]byte(weak)); err == nil || !strings.Contains(err.Error(), "no usable key") {
		t.Errorf("NewStaticKeySet(1024-bit key only) = %v, want no usable key", err)
	}
}

// TestSignatureEntryBound checks that a verification reads at most maxSignatureEntries entries, so a
// forged header of thousands of "v1a" entries cannot cost thousands of Ed25519 verifications. A valid
// entry is still found within the bound, on one line or spread over several.
func TestSignatureEntryBound(t *testing.T) {
	t.Parallel()
	ks := testKeySet(t)
	body := []byte(`{"type":"video.generated"}`)
	ts := formatTimestamp(testNow)
	v1, err := signHMAC(testSecret, "msg", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	v1a := signEd25519(testEd25519Key(t, 1), "msg", testNow, body)
	forgedV1a := "v1a," + base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
	forgedV1 := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))
	padding := func(forged string, n int) string { return strings.TrimSpace(strings.Repeat(forged+" ", n)) }

	v := newVerifier(t, &Config{Secrets: []string{testSecret}, Keys: ks, Now: fixedClock(testNow)})
	tests := []struct {
		name string
		h    http.Header
		want Scheme
		err  error
	}{
		{"v1a last within the bound", headers("msg", ts, padding(forgedV1a, maxSignatureEntries-1)+" "+v1a), SchemeEd25519, nil},
		{"v1a past the bound", headers("msg", ts, padding(forgedV1a, maxSignatureEntries)+" "+v1a), "", ErrNoMatchingSignature},
		{"v1a past the bound on a second line", headers("msg", ts, padding(forgedV1a, maxSignatureEntries), v1a), "", ErrNoMatchingSignature},
		{"v1 last within the bound", headers("msg", ts, padding(forgedV1, maxSignatureEntries-1), v1), SchemeHMAC, nil},
		{"v1 past the bound", headers("msg", ts, padding(forgedV1, maxSignatureEntries)+" "+v1), "", ErrNoMatchingSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(context.Background(), tc.h, body)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("Verify = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// rotatingKeySet is a user's own KeySet: its keys change only when Refresh is called.
type rotatingKeySet struct {
	mu         sync.Mutex
	keys, next []PublicKey
	refreshes  int
}

func (s *rotatingKeySet) Keys(context.Context) ([]PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys, nil
}

func (s *rotatingKeySet) Refresh(context.Context) ([]PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	if s.next != nil {
		s.keys, s.next = s.next, nil
	}
	return s.keys, nil
}

// A key set of the user's own picks up rotated keys as RemoteKeySet does: the verifier calls Refresh
// on an unknown kid and on a v1a entry that no key verifies, and on nothing else.
func TestKeySetRefreshContract(t *testing.T) {
	t.Parallel()
	ed0, ed1 := testEd25519Key(t, 0), testEd25519Key(t, 1)
	ks := &rotatingKeySet{
		keys: []PublicKey{{KID: "rsa-0", Key: &testRSAKey(t, 0).PublicKey}, {Key: ed0.Public()}},
		next: []PublicKey{{KID: "rsa-1", Key: &testRSAKey(t, 1).PublicKey}, {Key: ed1.Public()}},
	}
	v := newVerifier(t, &Config{Keys: ks, Now: fixedClock(testNow)})
	body := []byte(`{}`)
	verify := func(s Signer) (Scheme, error) {
		h := http.Header{}
		if err := s.Sign(h, "msg", testNow, body); err != nil {
			t.Fatal(err)
		}
		return v.Verify(context.Background(), h, body)
	}
	steps := []struct {
		name      string
		signer    Signer
		want      Scheme
		err       error
		refreshes int
	}{
		{"known kid", Signer{RSA: testRSAKey(t, 0), KID: "rsa-0"}, SchemeJWT, nil, 0},
		{"known v1a key", Signer{Ed25519: ed0}, SchemeEd25519, nil, 0},
		{"rotated kid", Signer{RSA: testRSAKey(t, 1), KID: "rsa-1"}, SchemeJWT, nil, 1},
		{"rotated v1a key", Signer{Ed25519: ed1}, SchemeEd25519, nil, 1},
		{"retired v1a key", Signer{Ed25519: ed0}, "", ErrNoMatchingSignature, 2},
		{"unknown kid", Signer{RSA: testRSAKey(t, 2), KID: "rsa-2"}, "", ErrUnknownKey, 3},
		{"known kid, wrong key", Signer{RSA: testRSAKey(t, 2), KID: "rsa-1"}, "", ErrNoMatchingSignature, 3},
	}
	for _, st := range steps {
		got, err := verify(st.signer)
		if got != st.want || !errors.Is(err, st.err) || (err == nil) != (st.err == nil) {
			t.Errorf("%s: Verify = %q, %v; want %q, %v", st.name, got, err, st.want, st.err)
		}
		if ks.refreshes != st.refreshes {
			t.Errorf("%s: %d refreshes, want %d", st.name, ks.refreshes, st.refreshes)
		}
	}
}

func TestSignerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    Signer
		want string
	}{
		{"no key", Signer{}, "signing: Signer has no Secrets, Ed25519 or RSA key"},
		{"bad secret", Signer{Secrets: []string{testSecret, "whsec_"}}, "signing: Signer.Secrets[1] is empty"},
		{"short ed25519", Signer{Ed25519: make(ed25519.PrivateKey, 10)}, "signing: Signer.Ed25519 is 10 bytes, need 64"},
		{"negative lifetime", Signer{RSA: testRSAKey(t, 0), Lifetime: -time.Second}, "signing: Signer.Lifetime is -1s, need a positive duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			err := tc.s.Sign(h, "msg", testNow, nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Sign = %v, want %q", err, tc.want)
			}
			if len(h) != 0 {
				t.Errorf("Sign failed but set headers %v", h)
			}
		})
	}
}

// A key set of the user's own is not validated as NewStaticKeySet's input is: a key of the wrong size
// is skipped, not a panic.
func TestKeySetWithBadKey(t *testing.T) {
	t.Parallel()
	ed := testEd25519Key(t, 0)
	ks := &rotatingKeySet{keys: []PublicKey{{Key: ed25519.PublicKey(make([]byte, 5))}, {Key: ed.Public()}}}
	v := newVerifier(t, &Config{Keys: ks, Now: fixedClock(testNow)})
	h := http.Header{}
	if err := (Signer{Ed25519: ed}).Sign(h, "msg", testNow, nil); err != nil {
		t.Fatal(err)
	}
	if s, err := v.Verify(context.Background(), h, nil); err != nil || s != SchemeEd25519 {
		t.Fatalf("Verify = %q, %v; want v1a", s, err)
	}
}
