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

func ExampleSigner_Sign() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sent := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)

	h := http.Header{}
	if err := (signing.Signer{Secrets: []string{secret}}).Sign(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body); err != nil {
		panic(err)
	}
	fmt.Println(h.Get("webhook-timestamp"), h.Get(signing.HeaderSignature))

	v, err := signing.NewVerifier(&signing.Config{
		Secrets: []string{secret},
		Now:     func() time.Time { return sent.Add(time.Minute) },
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Verify(context.Background(), h, body))
	// Output:
	// 1614265330 v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// v1 <nil>
}

func ExampleNewVerifier() {
	now := time.Unix(1780000000, 0)
	clock := func() time.Time { return now }
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	edKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	jwks, err := signing.MarshalJWKS(signing.PublicKey{KID: "ed", Key: edKey.Public()})
	if err != nil {
		panic(err)
	}
	keys, err := signing.NewStaticKeySet(jwks)
	if err != nil {
		panic(err)
	}
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}, Keys: keys, Now: clock})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1"}`)
	for _, s := range []signing.Signer{{Secrets: []string{secret}}, {Ed25519: edKey}} {
		h := http.Header{}
		if err := s.Sign(h, "msg_1", now, body); err != nil {
			panic(err)
		}
		fmt.Println(v.Verify(context.Background(), h, body))
	}
	forged := http.Header{}
	forged.Set(signing.HeaderID, "msg_1")
	forged.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	forged.Set(signing.HeaderSignature, "v1,AAAA")
	fmt.Println(v.Verify(context.Background(), forged, body))
	// Output:
	// v1 <nil>
	// v1a <nil>
	//  signing: no matching signature
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

	keys, err := signing.NewRemoteKeySet(srv.URL, nil)
	if err != nil {
		panic(err)
	}
	v, err := signing.NewVerifier(&signing.Config{Keys: keys, Audience: []string{"https://example.com/hook"}})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"video.generated"}`)
	h := http.Header{}
	s := signing.Signer{RSA: key, KID: "key-1", Audience: "https://example.com/hook"}
	if err := s.Sign(h, "msg_1", time.Now(), body); err != nil {
		panic(err)
	}
	fmt.Println(v.Verify(context.Background(), h, body))
	// Output: jwt <nil>
}

func ExampleNewStaticKeySet() {
	// A pinned copy of a key set, such as a file saved from the emulator or from
	// "geminihooks trigger --dynamic v1a"; the oct key is not for signatures and is skipped.
	doc := []byte(`{"keys":[
		{"kty":"OKP","crv":"Ed25519","kid":"ed-1","use":"sig","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"},
		{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]}`)
	ks, err := signing.NewStaticKeySet(doc)
	if err != nil {
		panic(err)
	}
	keys, _ := ks.Keys(context.Background())
	for _, k := range keys {
		fmt.Printf("%s %T\n", k.KID, k.Key)
	}

	v, err := signing.NewVerifier(&signing.Config{Keys: ks})
	if err != nil {
		panic(err)
	}
	edKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	body := []byte(`{"type":"video.generated"}`)
	h := http.Header{}
	if err := (signing.Signer{Ed25519: edKey}).Sign(h, "msg_1", time.Now(), body); err != nil {
		panic(err)
	}
	fmt.Println(v.Verify(context.Background(), h, body))

	_, err = signing.NewStaticKeySet([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	fmt.Println(err)
	// Output:
	// ed-1 ed25519.PublicKey
	// v1a <nil>
	// signing: invalid jwks: no usable key
}

// During the grace period after a secret rotation, Gemini may sign with the
// old secret or the new one, so the verifier holds both. Deliveries signed
// with either verify; one signed with a secret it does not hold does not.
func ExampleNewVerifier_rotation() {
	const (
		newSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
		oldSecret = "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7"
		retired   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	)
	sent := time.Unix(1780000000, 0)
	v, err := signing.NewVerifier(&signing.Config{
		Secrets: []string{newSecret, oldSecret},
		Now:     func() time.Time { return sent.Add(30 * time.Second) },
	})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1"}`)
	for _, s := range []struct{ name, secret string }{{"new", newSecret}, {"old", oldSecret}, {"retired", retired}} {
		h := http.Header{}
		if err := (signing.Signer{Secrets: []string{s.secret}}).Sign(h, "msg_1", sent, body); err != nil {
			panic(err)
		}
		_, err := v.Verify(context.Background(), h, body)
		fmt.Printf("%s: %v (no match: %v)\n", s.name, err, errors.Is(err, signing.ErrNoMatchingSignature))
	}
	// Output:
	// new: <nil> (no match: false)
	// old: <nil> (no match: false)
	// retired: signing: no matching signature (no match: true)
}
