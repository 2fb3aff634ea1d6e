package signing

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzVerifyHeader feeds arbitrary webhook-signature, webhook-id and webhook-timestamp values to the
// multi-scheme verifier. It must never panic, and it may accept only an entry that carries the true
// MAC or a true Ed25519 signature of the request.
func FuzzVerifyHeader(f *testing.F) {
	body := []byte(`{"type":"batch.succeeded"}`)
	ts := formatTimestamp(testNow)
	v1, err := signHMAC(testSecret, "msg", testNow, body)
	if err != nil {
		f.Fatal(err)
	}
	edKey := testEd25519Key(f, 0)
	v1a := signEd25519(edKey, "msg", testNow, body)
	for _, seed := range []struct{ sig, id, ts string }{
		{v1, "msg", ts},
		{v1a, "msg", ts},
		{"v2,abc  " + v1 + "\tv1a,xyz", "msg", ts},
		{strings.TrimRight(v1, "="), "msg", ts},
		{"v1,,,, v1a, ,", "msg", ts},
		{"eyJhbGciOiJub25lIn0.e30.", "msg", ts},
		{"a.b.c", "", ""},
		{v1, "msg", "0" + ts},
		{v1, "msg", "+" + ts},
		{v1, "msg", "99999999999999999999999"},
	} {
		f.Add(seed.sig, seed.id, seed.ts)
	}
	ks := staticKeys(f, PublicKey{KID: "ed", Key: edKey.Public()})
	v := newVerifier(f, &Config{Secrets: []string{testSecret}, Keys: ks, Now: fixedClock(testNow)})
	key, err := decodeSecret(testSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig, id, ts string) {
		h := http.Header{canonSignature: {sig}, canonID: {id}, canonTimestamp: {ts}}
		scheme, err := v.Verify(context.Background(), h, body)
		if err != nil {
			return
		}
		msg := append([]byte(id+"."+ts+"."), body...)
		mac := hmac.New(sha256.New, key)
		mac.Write(msg)
		want := mac.Sum(nil)
		for _, entry := range strings.Fields(sig) {
			version, payload, _ := strings.Cut(entry, ",")
			got, err := base64.StdEncoding.DecodeString(payload)
			if err != nil {
				got, err = base64.RawStdEncoding.DecodeString(payload)
			}
			if err != nil {
				continue
			}
			if scheme == SchemeHMAC && version == "v1" && hmac.Equal(got, want) {
				return
			}
			if scheme == SchemeEd25519 && version == "v1a" && ed25519.Verify(edKey.Public().(ed25519.PublicKey), msg, got) {
				return
			}
		}
		t.Fatalf("accepted %q as %q with id %q, timestamp %q, yet no entry is a true signature", sig, scheme, id, ts)
	})
}

// FuzzJWT feeds arbitrary tokens to the JWT path. It must never panic, and it may accept only a token
// whose signed part is exactly the one the key's owner signed.
func FuzzJWT(f *testing.F) {
	r := newJWTRequest(f)
	valid, _ := r.sign(f)
	f.Add(valid)
	f.Add("eyJhbGciOiJub25lIiwia2lkIjoicnNhLTEifQ.eyJleHAiOjk5OTk5OTk5OTl9.")
	f.Add("eyJhbGciOiJIUzI1NiIsImtpZCI6InJzYS0xIn0.e30.c2ln")
	f.Add("e30.e30.e30")
	f.Add(valid[:strings.LastIndexByte(valid, '.')] + ".AAAA")
	f.Add(strings.Replace(valid, ".", "..", 1))
	v := newVerifier(f, &Config{Keys: staticKeys(f, rsaPubFor(f, r)), Now: fixedClock(testNow)})
	signed := valid[:strings.LastIndexByte(valid, '.')]
	f.Fuzz(func(t *testing.T, token string) {
		_, err := v.Verify(context.Background(), headers(r.id, r.ts, token), r.body)
		if err == nil && !strings.HasPrefix(token, signed+".") {
			t.Fatalf("accepted a token with another signed part: %q", token)
		}
	})
}

func rsaPubFor(t testing.TB, r jwtRequest) PublicKey {
	return PublicKey{KID: r.kid, Key: &r.key.PublicKey}
}

// FuzzParseJWKS checks that whatever a JWKS endpoint or file holds, parseJWKS either fails with
// errInvalidJWKS or keeps only usable keys with unique kids; that NewStaticKeySet accepts exactly the
// documents parseJWKS does; and that MarshalJWKS writes the kept keys back as a document that parses
// to them again.
func FuzzParseJWKS(f *testing.F) {
	doc, err := MarshalJWKS(PublicKey{KID: "r", Key: &testRSAKey(f, 0).PublicKey}, PublicKey{KID: "e", Key: testEd25519Key(f, 0).Public()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"` + strings.Repeat("A", 2000) + `","e":"AQAAAAAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		_, serr := NewStaticKeySet(data)
		if (err == nil) != (serr == nil) {
			t.Fatalf("parseJWKS = %v but NewStaticKeySet = %v", err, serr)
		}
		if err != nil {
			if !errors.Is(err, errInvalidJWKS) {
				t.Fatalf("error %v does not wrap errInvalidJWKS", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if err := checkKey(k.Key); err != nil {
				t.Fatalf("kept an unusable key: %v", err)
			}
			if k.KID != "" && seen[k.KID] {
				t.Fatalf("kept kid %q twice", k.KID)
			}
			seen[k.KID] = true
		}
		again, err := MarshalJWKS(keys...)
		if err != nil {
			t.Fatalf("MarshalJWKS refused what parseJWKS kept: %v", err)
		}
		if back, err := parseJWKS(again); err != nil || len(back) != len(keys) {
			t.Fatalf("round trip: %d keys, %v; want %d", len(back), err, len(keys))
		}
	})
}
