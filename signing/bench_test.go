package signing

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"20KiB", 20 << 10}, {"1MiB", 1 << 20}}

func BenchmarkHMACVerify(b *testing.B) {
	v := newVerifier(b, &Config{Secrets: []string{testSecret}, Now: fixedClock(testNow)})
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			body := []byte(strings.Repeat("x", bs.size))
			sig, err := signHMAC(testSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", testNow, body)
			if err != nil {
				b.Fatal(err)
			}
			h := headers("msg_p5jXN8AQM9LWM0D4loKWxJek", formatTimestamp(testNow), sig)
			ctx := context.Background()
			b.SetBytes(int64(bs.size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	key := testEd25519Key(b, 0)
	v := newVerifier(b, &Config{Keys: staticKeys(b, PublicKey{KID: "ed", Key: key.Public()}), Now: fixedClock(testNow)})
	body := []byte(strings.Repeat("x", 1<<10))
	h := headers("msg", formatTimestamp(testNow), signEd25519(key, "msg", testNow, body))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, h, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWTVerify measures the JWT path with warm keys, beside BenchmarkRSAVerifyPKCS1v15, its floor.
func BenchmarkJWTVerify(b *testing.B) {
	r := newJWTRequest(b)
	_, h := r.sign(b)
	v := newVerifier(b, &Config{Keys: staticKeys(b, rsaPubFor(b, r)), Now: fixedClock(testNow), Audience: []string{r.claims.Audience}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, h, r.body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSAVerifyPKCS1v15 is the bare RSA check of the same token: hash the signed part, verify the
// already decoded signature.
func BenchmarkRSAVerifyPKCS1v15(b *testing.B) {
	r := newJWTRequest(b)
	tok, _ := r.sign(b)
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	signed := []byte(tok[:dot])
	pub := &r.key.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(signed)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}
