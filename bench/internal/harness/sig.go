package harness

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/bench/internal/paired"
	"github.com/geminihooks/geminihooks/signing"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"
)

const (
	sigSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	sigMsgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
)

// SigRow is one verifier at one body size, measured alone with testing.Benchmark.
type SigRow struct {
	Scheme, Impl, Size string
	NsPerOp            float64 // median of sigRepeats runs
	NsMin, NsMax       float64
	BytesPerOp         int64 // the largest of the runs
	AllocsPerOp        int64
}

const sigRepeats = 3

// SigRatio is a paired comparison: both sides alternate in one loop (see internal/paired).
type SigRatio struct {
	Scheme, Size, Other string
	Ours, Theirs, Ratio float64 // median ns/op each, median per-batch ratio ours/theirs
}

// SigResult holds the signature verification figures.
type SigResult struct {
	Rows   []SigRow
	Ratios []SigRatio
}

type verifyFunc func() error

// sigCase is one body size with every verifier of it prepared.
type sigCase struct {
	size  string
	impls []struct {
		name string
		f    verifyFunc
	}
}

var sigSizes = []struct {
	name string
	n    int
}{{"1 KiB", 1 << 10}, {"20 KiB", 20 << 10}, {"1 MiB", 1 << 20}}

// staticKeys returns a static key set holding keys, through their JWKS document.
func staticKeys(keys ...signing.PublicKey) (signing.KeySet, error) {
	jwks, err := signing.MarshalJWKS(keys...)
	if err != nil {
		return nil, err
	}
	return signing.NewStaticKeySet(jwks)
}

func hmacCase(name string, size int) (sigCase, error) {
	now := time.Now()
	body := []byte(strings.Repeat("x", size))
	h := http.Header{}
	if err := (signing.Signer{Secrets: []string{sigSecret}}).Sign(h, sigMsgID, now, body); err != nil {
		return sigCase{}, err
	}
	sig := h.Get(signing.HeaderSignature)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sigSecret, "whsec_"))
	if err != nil {
		return sigCase{}, err
	}
	ours, err := signing.NewVerifier(&signing.Config{Secrets: []string{sigSecret}})
	if err != nil {
		return sigCase{}, err
	}
	ref, err := standardwebhooks.NewWebhook(sigSecret)
	if err != nil {
		return sigCase{}, err
	}
	sv, err := svix.NewWebhook(sigSecret)
	if err != nil {
		return sigCase{}, err
	}
	msg := append([]byte(sigMsgID+"."+h.Get("webhook-timestamp")+"."), body...)
	sigB64 := []byte(strings.TrimPrefix(sig, "v1,"))
	ctx := context.Background()
	c := sigCase{size: name}
	add := func(n string, f verifyFunc) {
		c.impls = append(c.impls, struct {
			name string
			f    verifyFunc
		}{n, f})
	}
	add("geminihooks", func() error { _, err := ours.Verify(ctx, h, body); return err })
	add("standard-webhooks", func() error { return ref.Verify(body, h) })
	add("svix", func() error { return sv.Verify(body, h) })
	// The floor: one HMAC built per call, one Write of the prebuilt signed bytes, one base64 decode.
	add("floor (bare HMAC)", func() error {
		mac := hmac.New(sha256.New, key)
		mac.Write(msg)
		var s [sha256.Size + 2]byte
		n, err := base64.StdEncoding.Decode(s[:], sigB64)
		if err != nil || !hmac.Equal(s[:n], mac.Sum(nil)) {
			return fmt.Errorf("harness: floor signature mismatch")
		}
		return nil
	})
	return c, nil
}

func ed25519Case() (sigCase, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return sigCase{}, err
	}
	now := time.Now()
	body := []byte(strings.Repeat("x", 1<<10))
	h := http.Header{}
	if err := (signing.Signer{Ed25519: priv}).Sign(h, sigMsgID, now, body); err != nil {
		return sigCase{}, err
	}
	sig := h.Get(signing.HeaderSignature)
	keys, err := staticKeys(signing.PublicKey{KID: "ed", Key: pub})
	if err != nil {
		return sigCase{}, err
	}
	v, err := signing.NewVerifier(&signing.Config{Keys: keys})
	if err != nil {
		return sigCase{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1a,"))
	if err != nil {
		return sigCase{}, err
	}
	msg := append([]byte(sigMsgID+"."+h.Get("webhook-timestamp")+"."), body...)
	ctx := context.Background()
	c := sigCase{size: "1 KiB"}
	c.impls = append(c.impls, struct {
		name string
		f    verifyFunc
	}{"geminihooks", func() error { _, err := v.Verify(ctx, h, body); return err }}, struct {
		name string
		f    verifyFunc
	}{"floor (ed25519.Verify)", func() error {
		if !ed25519.Verify(pub, msg, raw) {
			return fmt.Errorf("harness: ed25519 floor mismatch")
		}
		return nil
	}})
	return c, nil
}

func jwtCase() (sigCase, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return sigCase{}, err
	}
	keys, err := staticKeys(signing.PublicKey{KID: "k1", Key: &key.PublicKey})
	if err != nil {
		return sigCase{}, err
	}
	now := time.Now()
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123","output_file_uri":"files/out"}}`)
	const iss, aud = "https://generativelanguage.googleapis.com", "https://example.com/hook"
	h := http.Header{}
	if err := (signing.Signer{RSA: key, KID: "k1", Issuer: iss, Audience: aud}).Sign(h, sigMsgID, now, body); err != nil {
		return sigCase{}, err
	}
	tok := h.Get(signing.HeaderSignature)
	v, err := signing.NewVerifier(&signing.Config{Keys: keys, Audience: []string{aud}, Issuer: iss})
	if err != nil {
		return sigCase{}, err
	}
	dot := strings.LastIndexByte(tok, '.')
	rawSig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		return sigCase{}, err
	}
	signed := []byte(tok[:dot])
	ctx := context.Background()
	c := sigCase{size: fmt.Sprintf("%d B", len(body))}
	c.impls = append(c.impls, struct {
		name string
		f    verifyFunc
	}{"geminihooks", func() error { _, err := v.Verify(ctx, h, body); return err }}, struct {
		name string
		f    verifyFunc
	}{"floor (rsa.VerifyPKCS1v15)", func() error {
		sum := sha256.Sum256(signed)
		return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], rawSig)
	}})
	return c, nil
}

// runSig measures every case: each verifier alone (ns/op, B/op, allocs/op) and ours paired with each
// other verifier.
func runSig(logf func(string, ...any)) (SigResult, error) {
	var cases []struct {
		scheme string
		c      sigCase
	}
	for _, s := range sigSizes {
		c, err := hmacCase(s.name, s.n)
		if err != nil {
			return SigResult{}, err
		}
		cases = append(cases, struct {
			scheme string
			c      sigCase
		}{"v1 (HMAC)", c})
	}
	ed, err := ed25519Case()
	if err != nil {
		return SigResult{}, err
	}
	jw, err := jwtCase()
	if err != nil {
		return SigResult{}, err
	}
	cases = append(cases, struct {
		scheme string
		c      sigCase
	}{"v1a (Ed25519)", ed}, struct {
		scheme string
		c      sigCase
	}{"JWT (RS256)", jw})

	var res SigResult
	for _, cs := range cases {
		for _, im := range cs.c.impls {
			if err := im.f(); err != nil {
				return res, fmt.Errorf("harness: %s %s %s rejects its own delivery: %w", cs.scheme, im.name, cs.c.size, err)
			}
		}
		for _, im := range cs.c.impls {
			// Three runs, reported as median [min to max]: separate benchmarks are at the mercy of
			// the machine's load from one second to the next.
			var ns []float64
			var row SigRow
			for range sigRepeats {
				var failed error
				r := testing.Benchmark(func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if err := im.f(); err != nil {
							failed = err
							b.FailNow()
						}
					}
				})
				if failed != nil {
					return res, failed
				}
				ns = append(ns, float64(r.T.Nanoseconds())/float64(max(r.N, 1)))
				row = SigRow{Scheme: cs.scheme, Impl: im.name, Size: cs.c.size,
					BytesPerOp: max(row.BytesPerOp, r.AllocedBytesPerOp()), AllocsPerOp: max(row.AllocsPerOp, r.AllocsPerOp())}
			}
			slices.Sort(ns)
			row.NsPerOp, row.NsMin, row.NsMax = ns[len(ns)/2], ns[0], ns[len(ns)-1]
			logf("sig %s %s %s: %s/op %d B/op %d allocs/op", cs.scheme, im.name, cs.c.size, dur(row.NsPerOp), row.BytesPerOp, row.AllocsPerOp)
			res.Rows = append(res.Rows, row)
		}
		ours := cs.c.impls[0]
		for _, other := range cs.c.impls[1:] {
			batch := 4
			if cs.c.size == "1 MiB" || strings.HasPrefix(cs.scheme, "JWT") || strings.HasPrefix(cs.scheme, "v1a") {
				batch = 1
			}
			r := testing.Benchmark(func(b *testing.B) {
				paired.Run(b, batch, "ours", func() { _ = ours.f() }, "other", func() { _ = other.f() })
			})
			ratio := SigRatio{Scheme: cs.scheme, Size: cs.c.size, Other: other.name,
				Ours: r.Extra["ours-ns/op"], Theirs: r.Extra["other-ns/op"], Ratio: r.Extra["ours/other"]}
			logf("sig paired %s %s vs %s: %.3f", cs.scheme, cs.c.size, other.name, ratio.Ratio)
			res.Ratios = append(res.Ratios, ratio)
		}
	}
	return res, nil
}

func (r SigResult) ratio(scheme, size, other string) (SigRatio, bool) {
	for _, x := range r.Ratios {
		if x.Scheme == scheme && x.Size == size && x.Other == other {
			return x, true
		}
	}
	return SigRatio{}, false
}

// targets are the signing package's targets (issue 2), checked against this run.
func (r SigResult) targets() string {
	var rows [][]string
	check := func(name, scheme, size, other string, limit float64) {
		if x, ok := r.ratio(scheme, size, other); ok {
			rows = append(rows, []string{name, fmt.Sprintf("%.2f (%s vs %s)", x.Ratio, dur(x.Ours), dur(x.Theirs)), yesNo(x.Ratio <= limit)})
		}
	}
	check("HMAC 1 KiB: ours/reference <= 0.5", "v1 (HMAC)", "1 KiB", "standard-webhooks", 0.5)
	check("HMAC 1 KiB: ours/floor <= 1.2", "v1 (HMAC)", "1 KiB", "floor (bare HMAC)", 1.2)
	check("JWT: ours/bare RSA <= 1.3", "JWT (RS256)", r.jwtSize(), "floor (rsa.VerifyPKCS1v15)", 1.3)
	worst := int64(-1)
	for _, x := range r.Rows {
		if x.Scheme == "v1 (HMAC)" && x.Impl == "geminihooks" {
			worst = max(worst, x.AllocsPerOp)
		}
	}
	if worst >= 0 {
		rows = append(rows, []string{"HMAC allocs/op <= 3 at every size", fmt.Sprintf("at most %d", worst), yesNo(worst <= 3)})
	}
	return table([]string{"target", "measured", "met"}, rows)
}

func (r SigResult) jwtSize() string {
	for _, x := range r.Ratios {
		if x.Scheme == "JWT (RS256)" {
			return x.Size
		}
	}
	return ""
}

func (r SigResult) markdown() string {
	var b strings.Builder
	b.WriteString(r.targets())
	b.WriteString("\n")
	b.WriteString("Paired: ours and the other verifier alternate in one loop; the ratio is the median of per-batch ratios (below 1: ours is faster).\n\n")
	var rows [][]string
	for _, x := range r.Ratios {
		rows = append(rows, []string{x.Scheme, x.Size, x.Other, fmt.Sprintf("**%.2f**", x.Ratio), dur(x.Ours), dur(x.Theirs)})
	}
	b.WriteString(table([]string{"scheme", "body", "vs", "ours/other", "ours", "other"}, rows))
	fmt.Fprintf(&b, "\nEach verifier alone (`testing.Benchmark`, %d runs: median [min to max]; B/op and allocs/op: the largest run):\n\n", sigRepeats)
	rows = rows[:0]
	for _, x := range r.Rows {
		rows = append(rows, []string{x.Scheme, x.Size, x.Impl, fmt.Sprintf("%s [%s to %s]", dur(x.NsPerOp), dur(x.NsMin), dur(x.NsMax)),
			fmt.Sprint(x.BytesPerOp), fmt.Sprint(x.AllocsPerOp)})
	}
	b.WriteString(table([]string{"scheme", "body", "implementation", "time/op", "B/op", "allocs/op"}, rows))
	return b.String()
}
