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
	claims JWTClaims
	id, ts string
	body   []byte
}

func newJWTRequest(t testing.TB) jwtRequest {
	body := []byte(`{"type":"batch.succeeded","data":{"id":"batches/1"}}`)
	ts := FormatTimestamp(testNow)
	return jwtRequest{
		key: testRSAKey(t, 0), kid: "rsa-1", id: "msg_jwt", ts: ts, body: body,
		claims: JWTClaims{
			Issuer: "https://generativelanguage.googleapis.com", Audience: "https://example.com/hook",
			IssuedAt: testNow, Expiry: testNow.Add(5 * time.Minute),
			WebhookID: "msg_jwt", WebhookTimestamp: ts, BodySHA256: BodySHA256(body),
		},
	}
}

func (r jwtRequest) sign(t testing.TB) (string, http.Header) {
	t.Helper()
	tok, err := SignJWT(r.key, r.kid, r.claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok, headers(r.id, r.ts, tok)
}

func testKeySet(t testing.TB) *StaticKeySet {
	t.Helper()
	ks, err := NewStaticKeySet(
		PublicKey{KID: "ed-1", Key: testEd25519Key(t, 0).Public()},
		PublicKey{KID: "rsa-1", Key: &testRSAKey(t, 0).PublicKey},
		PublicKey{KID: "ed-2", Key: testEd25519Key(t, 1).Public()},
	)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestJWT(t *testing.T) {
	t.Parallel()
	ks := testKeySet(t)
	v := NewJWKSVerifier(ks, WithClock(fixedClock(testNow)), WithAudience("https://example.com/hook"),
		WithIssuer("https://generativelanguage.googleapis.com"))

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
		{name: "expired", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Expiry = testNow.Add(-61 * time.Second) }, want: ErrTimestampTooOld},
		{name: "issued in the future", modify: func(_ testing.TB, r *jwtRequest) { r.claims.IssuedAt = testNow.Add(2 * time.Minute) }, want: ErrTimestampTooNew},
		{name: "wrong audience", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Audience = "https://attacker.example" }, want: ErrInvalidToken},
		{name: "no audience", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Audience = "" }, want: ErrInvalidToken},
		{name: "wrong issuer", modify: func(_ testing.TB, r *jwtRequest) { r.claims.Issuer = "https://accounts.example" }, want: ErrInvalidToken},
		{name: "tampered body", modify: func(_ testing.TB, r *jwtRequest) { r.body = []byte(`{"type":"batch.failed"}`) }, want: ErrInvalidToken},
		{name: "malformed body_sha256", modify: func(_ testing.TB, r *jwtRequest) { r.claims.BodySHA256 = "AAAA" }, want: ErrInvalidToken},
		{name: "other webhook-id", modify: func(_ testing.TB, r *jwtRequest) { r.id = "msg_other" }, want: ErrInvalidToken},
		{name: "other webhook-timestamp", modify: func(_ testing.TB, r *jwtRequest) { r.ts = FormatTimestamp(testNow.Add(time.Second)) }, want: ErrInvalidToken},
		{name: "stale webhook-timestamp", modify: func(_ testing.TB, r *jwtRequest) {
			r.ts = FormatTimestamp(testNow.Add(-time.Hour))
			r.claims.WebhookTimestamp = r.ts
		}, want: ErrTimestampTooOld},
		{name: "no exp and no timestamp header", modify: func(_ testing.TB, r *jwtRequest) {
			r.ts, r.claims.WebhookTimestamp, r.claims.Expiry = "", "", time.Time{}
		}, want: ErrInvalidToken},
		{name: "no exp and no webhook_timestamp claim under a fresh header", modify: func(_ testing.TB, r *jwtRequest) {
			r.claims.WebhookTimestamp, r.claims.Expiry = "", time.Time{}
		}, want: ErrInvalidToken},
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
			scheme, err := v.VerifyScheme(context.Background(), h, r.body)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("VerifyScheme = %q, %v; want %v", scheme, err, tc.want)
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
	keys, err := ParseJWKS([]byte(jwksJSON))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewStaticKeySet(keys...)
	if err != nil {
		t.Fatal(err)
	}
	_, h := r.sign(t)
	err = NewJWKSVerifier(ks, WithClock(fixedClock(testNow))).Verify(context.Background(), h, r.body)
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
			if got := SignEd25519(priv, tc.ID, ts, []byte(tc.Body)); got != tc.Signature {
				t.Errorf("SignEd25519 = %q, want %q", got, tc.Signature)
			}
			// The vector's key sits between other keys: every OKP key is tried, RSA keys are skipped.
			ks, err := NewStaticKeySet(
				PublicKey{Key: testEd25519Key(t, 3).Public()},
				PublicKey{KID: "rsa", Key: &testRSAKey(t, 0).PublicKey},
				PublicKey{Key: priv.Public()},
			)
			if err != nil {
				t.Fatal(err)
			}
			v := NewJWKSVerifier(ks, WithClock(fixedClock(ts)))
			scheme, err := v.VerifyScheme(context.Background(), headers(tc.ID, FormatTimestamp(ts), tc.Signature), []byte(tc.Body))
			if err != nil || scheme != SchemeEd25519 {
				t.Fatalf("VerifyScheme = %q, %v; want %q, nil", scheme, err, SchemeEd25519)
			}
			err = v.Verify(context.Background(), headers(tc.ID, FormatTimestamp(ts), tc.Signature), []byte(tc.Body+"x"))
			if !errors.Is(err, ErrNoMatchingSignature) {
				t.Errorf("Verify(tampered) = %v, want ErrNoMatchingSignature", err)
			}
			err = v.Verify(context.Background(), headers(tc.ID, FormatTimestamp(ts.Add(6*time.Minute)), tc.Signature), []byte(tc.Body))
			if !errors.Is(err, ErrTimestampTooNew) {
				t.Errorf("Verify(timestamp ahead) = %v, want ErrTimestampTooNew", err)
			}
		})
	}
}

func TestMultiVerifierRouting(t *testing.T) {
	t.Parallel()
	ks := testKeySet(t)
	body := []byte(`{"type":"video.generated"}`)
	ts := FormatTimestamp(testNow)
	v1, err := SignHMAC(testSecret, "msg", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	v1a := SignEd25519(testEd25519Key(t, 1), "msg", testNow, body)
	r := newJWTRequest(t)
	tok, jwtHeader := r.sign(t)
	forgedV1 := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))

	both, err := NewVerifier(Config{Secrets: []string{testSecret}, KeySet: ks, Options: []Option{WithClock(fixedClock(testNow))}})
	if err != nil {
		t.Fatal(err)
	}
	hmacOnly, err := NewVerifier(Config{Secrets: []string{testSecret}, Options: []Option{WithClock(fixedClock(testNow))}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    *MultiVerifier
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
		{"unknown versions", both, headers("msg", ts, "v2,abc", "v1b,def", "a.b"), body, "", ErrNoMatchingSignature},
		{"no header", both, headers("msg", ts), body, "", ErrMissingHeader},
		{"stale v1", both, headers("msg", FormatTimestamp(testNow.Add(-time.Hour)), v1), body, "", ErrTimestampTooOld},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.v.VerifyScheme(context.Background(), tc.h, tc.body)
			if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("VerifyScheme = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := NewVerifier(Config{}); err == nil {
		t.Error("NewVerifier(Config{}) succeeded, want an error")
	}
	if _, err := NewVerifier(Config{Secrets: []string{""}}); !errors.Is(err, ErrEmptySecret) {
		t.Errorf("NewVerifier(empty secret) = %v, want ErrEmptySecret", err)
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
			_, err := NewStaticKeySet(tc.keys...)
			if (err == nil) != tc.ok {
				t.Fatalf("NewStaticKeySet = %v, want ok=%v", err, tc.ok)
			}
			_, err = MarshalJWKS(tc.keys...)
			if tc.name != "duplicate kid" && (err == nil) != tc.ok {
				t.Fatalf("MarshalJWKS = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestSignatureEntryBound checks that a verification reads at most maxSignatureEntries entries, so a
// forged header of thousands of "v1a" entries cannot cost thousands of Ed25519 verifications. A valid
// entry is still found within the bound, on one line or spread over several.
func TestSignatureEntryBound(t *testing.T) {
	t.Parallel()
	ks := testKeySet(t)
	body := []byte(`{"type":"video.generated"}`)
	ts := FormatTimestamp(testNow)
	v1, err := SignHMAC(testSecret, "msg", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	v1a := SignEd25519(testEd25519Key(t, 1), "msg", testNow, body)
	forgedV1a := "v1a," + base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
	forgedV1 := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))
	padding := func(forged string, n int) string { return strings.TrimSpace(strings.Repeat(forged+" ", n)) }

	v, err := NewVerifier(Config{Secrets: []string{testSecret}, KeySet: ks, Options: []Option{WithClock(fixedClock(testNow))}})
	if err != nil {
		t.Fatal(err)
	}
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
			got, err := v.VerifyScheme(context.Background(), tc.h, body)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("VerifyScheme = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
