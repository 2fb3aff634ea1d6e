package signingbench

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/bench/internal/paired"
	"github.com/geminihooks/geminihooks/signing"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	msgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
)

var sizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"20KiB", 20 << 10}, {"1MiB", 1 << 20}}

// delivery is one signed request, stamped now because the reference library reads time.Now.
type delivery struct {
	h     http.Header
	body  []byte
	msg   []byte // id.ts.body, prebuilt for the floor
	sigV1 string // the base64 part of the v1 entry
	key   []byte
}

func newDelivery(tb testing.TB, size int) delivery {
	tb.Helper()
	now := time.Now()
	body := []byte(strings.Repeat("x", size))
	h := http.Header{}
	if err := (signing.Signer{Secrets: []string{secret}}).Sign(h, msgID, now, body); err != nil {
		tb.Fatal(err)
	}
	sig := h.Get(signing.HeaderSignature)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		tb.Fatal(err)
	}
	return delivery{
		h: h, body: body, key: key,
		msg:   append([]byte(msgID+"."+h.Get("webhook-timestamp")+"."), body...),
		sigV1: strings.TrimPrefix(sig, "v1,"),
	}
}

// floor is the least work any verifier must do: one HMAC-SHA256 over the signed bytes, built per
// call as a verifier that does not pool MAC states must, and one base64 decode of the signature.
func (d *delivery) floor(tb testing.TB) func() {
	return func() {
		mac := hmac.New(sha256.New, d.key)
		mac.Write(d.msg)
		var sig [sha256.Size + 2]byte
		n, err := base64.StdEncoding.Decode(sig[:], []byte(d.sigV1))
		if err != nil || !hmac.Equal(sig[:n], mac.Sum(nil)) {
			tb.Fatal("floor: signature mismatch")
		}
	}
}

func ours(tb testing.TB) *signing.Verifier {
	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func reference(tb testing.TB) *standardwebhooks.Webhook {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return wh
}

// BenchmarkHMAC runs our verifier, the reference and the floor as separate benchmarks, for
// benchstat and for B/op and allocs/op.
func BenchmarkHMAC(b *testing.B) {
	for _, s := range sizes {
		b.Run("impl=geminihooks/body="+s.name, func(b *testing.B) {
			d := newDelivery(b, s.size)
			v, ctx := ours(b), context.Background()
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, d.h, d.body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("impl=reference/body="+s.name, func(b *testing.B) {
			d := newDelivery(b, s.size)
			wh := reference(b)
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			for b.Loop() {
				if err := wh.Verify(d.body, d.h); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("impl=floor/body="+s.name, func(b *testing.B) {
			d := newDelivery(b, s.size)
			f := d.floor(b)
			b.SetBytes(int64(s.size))
			b.ReportAllocs()
			for b.Loop() {
				f()
			}
		})
	}
}

// hmacBatch keeps a batch of HMAC verifications around ten microseconds at 1 KiB.
const hmacBatch = 4

// BenchmarkHMACPaired alternates our verifier with the reference and with the floor in one loop, so
// that the ratios hold on a loaded machine.
func BenchmarkHMACPaired(b *testing.B) {
	for _, s := range sizes {
		b.Run("vs=reference/body="+s.name, func(b *testing.B) {
			d := newDelivery(b, s.size)
			v, wh, ctx := ours(b), reference(b), context.Background()
			paired.Run(b, hmacBatch, "ours", func() {
				if _, err := v.Verify(ctx, d.h, d.body); err != nil {
					b.Fatal(err)
				}
			}, "ref", func() {
				if err := wh.Verify(d.body, d.h); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("vs=floor/body="+s.name, func(b *testing.B) {
			d := newDelivery(b, s.size)
			v, ctx := ours(b), context.Background()
			paired.Run(b, hmacBatch, "ours", func() {
				if _, err := v.Verify(ctx, d.h, d.body); err != nil {
					b.Fatal(err)
				}
			}, "floor", d.floor(b))
		})
	}
}

var rsaKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// jwtDelivery is a dynamic delivery signed with an RS256 JWT, and a RemoteKeySet already warm from an
// httptest JWKS server.
type jwtDelivery struct {
	h      http.Header
	body   []byte
	v      *signing.Verifier
	pub    *rsa.PublicKey
	signed []byte // the token's header.claims part
	sig    []byte // the token's decoded signature
}

func newJWTDelivery(b *testing.B) jwtDelivery {
	b.Helper()
	key, err := rsaKey()
	if err != nil {
		b.Fatal(err)
	}
	jwks, err := signing.MarshalJWKS(signing.PublicKey{KID: "k1", Key: &key.PublicKey})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	b.Cleanup(srv.Close)
	keys, err := signing.NewRemoteKeySet(srv.URL, &signing.KeySetConfig{HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := keys.Keys(context.Background()); err != nil {
		b.Fatal(err)
	}
	v, err := signing.NewVerifier(&signing.Config{Keys: keys, Audience: []string{"https://example.com/hook"},
		Issuer: "https://generativelanguage.googleapis.com"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123","output_file_uri":"files/out"}}`)
	h := http.Header{}
	signer := signing.Signer{RSA: key, KID: "k1", Issuer: "https://generativelanguage.googleapis.com", Audience: "https://example.com/hook"}
	if err := signer.Sign(h, msgID, now, body); err != nil {
		b.Fatal(err)
	}
	tok := h.Get(signing.HeaderSignature)
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	return jwtDelivery{
		h: h, body: body, pub: &key.PublicKey, signed: []byte(tok[:dot]), sig: sig, v: v,
	}
}

// bareRSA is the floor of the JWT path: hash the signed part, check the already decoded signature.
func (d *jwtDelivery) bareRSA(b *testing.B) func() {
	return func() {
		sum := sha256.Sum256(d.signed)
		if err := rsa.VerifyPKCS1v15(d.pub, crypto.SHA256, sum[:], d.sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWT(b *testing.B) {
	b.Run("impl=geminihooks-warm", func(b *testing.B) {
		d := newJWTDelivery(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.v.Verify(ctx, d.h, d.body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=bare-rsa", func(b *testing.B) {
		d := newJWTDelivery(b)
		f := d.bareRSA(b)
		b.ReportAllocs()
		for b.Loop() {
			f()
		}
	})
}

func BenchmarkJWTPaired(b *testing.B) {
	d := newJWTDelivery(b)
	ctx := context.Background()
	paired.Run(b, 1, "ours", func() {
		if _, err := d.v.Verify(ctx, d.h, d.body); err != nil {
			b.Fatal(err)
		}
	}, "rsa", d.bareRSA(b))
}

// TestAgreesWithReference checks that the reference library and ours accept each other's signatures,
// so the benchmarks compare like with like.
func TestAgreesWithReference(t *testing.T) {
	t.Parallel()
	wh := reference(t)
	v := ours(t)
	for _, s := range sizes {
		d := newDelivery(t, s.size)
		if err := wh.Verify(d.body, d.h); err != nil {
			t.Errorf("reference rejects our %s signature: %v", s.name, err)
		}
		now := time.Now()
		refSig, err := wh.Sign(msgID, now, d.body)
		if err != nil {
			t.Fatal(err)
		}
		h := d.h.Clone()
		h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		h.Set(signing.HeaderSignature, refSig)
		if _, err := v.Verify(context.Background(), h, d.body); err != nil {
			t.Errorf("we reject the reference's %s signature: %v", s.name, err)
		}
		d.floor(t)()
	}
}
