package signing_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/geminihooks/geminihooks/signing"
)

func ExampleSignHMAC() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sent := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)

	sig, err := signing.SignHMAC(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)
	if err != nil {
		panic(err)
	}
	fmt.Println(sig)

	h := http.Header{}
	h.Set(signing.HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(signing.HeaderTimestamp, signing.FormatTimestamp(sent))
	h.Set(signing.HeaderSignature, sig)
	v, err := signing.NewHMACVerifier([]string{secret}, signing.WithClock(func() time.Time { return sent.Add(time.Minute) }))
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Verify(context.Background(), h, body))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// <nil>
}

func ExampleNewVerifier() {
	now := time.Unix(1780000000, 0)
	clock := func() time.Time { return now }
	edKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	keys, err := signing.NewStaticKeySet(signing.PublicKey{KID: "ed", Key: edKey.Public()})
	if err != nil {
		panic(err)
	}
	v, err := signing.NewVerifier(signing.Config{
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		KeySet:  keys,
		Options: []signing.Option{signing.WithClock(clock)},
	})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1"}`)
	hmacSig, _ := signing.SignHMAC("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", now, body)
	for _, sig := range []string{hmacSig, signing.SignEd25519(edKey, "msg_1", now, body), "v1,AAAA"} {
		h := http.Header{}
		h.Set(signing.HeaderID, "msg_1")
		h.Set(signing.HeaderTimestamp, signing.FormatTimestamp(now))
		h.Set(signing.HeaderSignature, sig)
		scheme, err := v.VerifyScheme(context.Background(), h, body)
		fmt.Printf("%q %v\n", scheme, err)
	}
	// Output:
	// "v1" <nil>
	// "v1a" <nil>
	// "" signing: no matching signature
}

func ExampleNewRemoteKeySet() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	jwks, err := signing.MarshalJWKS(signing.PublicKey{KID: "key-1", Key: &key.PublicKey})
	if err != nil {
		panic(err)
	}
	// Stands in for GeminiJWKSURL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := signing.NewRemoteKeySet(srv.URL)
	go keys.Run(ctx) // optional: refresh ahead of expiry until ctx ends
	v := signing.NewJWKSVerifier(keys, signing.WithAudience("https://example.com/hook"))

	now := time.Now()
	body := []byte(`{"type":"video.generated"}`)
	token, err := signing.SignJWT(key, "key-1", signing.JWTClaims{
		Audience: "https://example.com/hook", IssuedAt: now, Expiry: now.Add(5 * time.Minute),
		WebhookID: "msg_1", WebhookTimestamp: signing.FormatTimestamp(now), BodySHA256: signing.BodySHA256(body),
	})
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set(signing.HeaderID, "msg_1")
	h.Set(signing.HeaderTimestamp, signing.FormatTimestamp(now))
	h.Set(signing.HeaderSignature, token)
	fmt.Println(v.VerifyScheme(ctx, h, body))
	// Output: jwt <nil>
}

func ExampleNewStaticKeySetFromJWKS() {
	// A pinned copy of a key set, such as a file saved from the emulator or from
	// "geminihooks trigger --dynamic v1a"; the oct key is not for signatures and is skipped.
	edKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	doc := []byte(`{"keys":[
		{"kty":"OKP","crv":"Ed25519","kid":"ed-1","use":"sig","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"},
		{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]}`)
	keys, err := signing.ParseJWKS(doc)
	if err != nil {
		panic(err)
	}
	for _, k := range keys {
		fmt.Printf("%s %T\n", k.KID, k.Key)
	}

	ks, err := signing.NewStaticKeySetFromJWKS(doc)
	if err != nil {
		panic(err)
	}
	v := signing.NewJWKSVerifier(ks)
	now := time.Now()
	body := []byte(`{"type":"video.generated"}`)
	h := http.Header{}
	h.Set(signing.HeaderID, "msg_1")
	h.Set(signing.HeaderTimestamp, signing.FormatTimestamp(now))
	h.Set(signing.HeaderSignature, signing.SignEd25519(edKey, "msg_1", now, body))
	fmt.Println(v.VerifyScheme(context.Background(), h, body))

	_, err = signing.ParseJWKS([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	fmt.Println(errors.Is(err, signing.ErrInvalidJWKS), err)
	// Output:
	// ed-1 ed25519.PublicKey
	// v1a <nil>
	// true signing: invalid jwks: no usable key
}

// During the grace period after a secret rotation, Gemini may sign with the
// old secret or the new one, so the verifier holds both. Deliveries signed
// with either verify; one signed with a secret it does not hold does not.
func ExampleNewHMACVerifier_rotation() {
	const (
		newSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
		oldSecret = "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7"
		retired   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	)
	sent := time.Unix(1780000000, 0)
	v, err := signing.NewHMACVerifier([]string{newSecret, oldSecret},
		signing.WithClock(func() time.Time { return sent.Add(30 * time.Second) }))
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1"}`)
	for _, s := range []struct{ name, secret string }{{"new", newSecret}, {"old", oldSecret}, {"retired", retired}} {
		sig, err := signing.SignHMAC(s.secret, "msg_1", sent, body)
		if err != nil {
			panic(err)
		}
		h := http.Header{}
		h.Set(signing.HeaderID, "msg_1")
		h.Set(signing.HeaderTimestamp, signing.FormatTimestamp(sent))
		h.Set(signing.HeaderSignature, sig)
		err = v.Verify(context.Background(), h, body)
		fmt.Printf("%s: %v (no match: %v)\n", s.name, err, errors.Is(err, signing.ErrNoMatchingSignature))
	}
	// Output:
	// new: <nil> (no match: false)
	// old: <nil> (no match: false)
	// retired: signing: no matching signature (no match: true)
}
