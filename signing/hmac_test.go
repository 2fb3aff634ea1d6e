package signing

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type vectorFile struct {
	HMAC []struct {
		Name, Secret, ID, Body, Signature string
		Timestamp                         int64
	} `json:"hmac_v1"`
	HMACWrong []string `json:"hmac_v1_wrong"`
	Ed25519   []struct {
		Name, ID, Body, Signature string
		SeedBase64                string `json:"seed_base64"`
		PublicKeyJWKX             string `json:"public_key_jwk_x"`
		Timestamp                 int64
	} `json:"ed25519_v1a"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	data, err := os.ReadFile("testdata/standard-webhooks-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.HMAC) == 0 || len(v.HMACWrong) == 0 || len(v.Ed25519) == 0 {
		t.Fatal("vector file lacks a section")
	}
	return v
}

// fixedClock returns a clock stuck at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func headers(id, ts string, sigs ...string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set(HeaderID, id)
	}
	if ts != "" {
		h.Set(headerTimestamp, ts)
	}
	for _, s := range sigs {
		h.Add(HeaderSignature, s)
	}
	return h
}

const (
	testSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testSecret2 = "whsec_NnZ2aTU5MzdqOXY2bXFwZjgzb2R2cXM1Y3B6cTlyMnM="
)

var testNow = time.Unix(1_780_000_000, 0)

// newVerifier returns NewVerifier(cfg) or fails the test.
func newVerifier(t testing.TB, cfg *Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHMACVectors(t *testing.T) {
	t.Parallel()
	vec := loadVectors(t)
	for _, tc := range vec.HMAC {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			ts := time.Unix(tc.Timestamp, 0)
			got, err := signHMAC(tc.Secret, tc.ID, ts, []byte(tc.Body))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.Signature {
				t.Errorf("signHMAC = %q, want %q", got, tc.Signature)
			}
			v := newVerifier(t, &Config{Secrets: []string{tc.Secret}, Now: fixedClock(ts)})
			scheme, err := v.Verify(context.Background(), headers(tc.ID, formatTimestamp(ts), tc.Signature), []byte(tc.Body))
			if err != nil || scheme != SchemeHMAC {
				t.Fatalf("Verify = %q, %v; want %q, nil", scheme, err, SchemeHMAC)
			}
			if _, err := v.Verify(context.Background(), headers(tc.ID, formatTimestamp(ts), tc.Signature), []byte(tc.Body+" ")); !errors.Is(err, ErrNoMatchingSignature) {
				t.Errorf("Verify(tampered body) = %v, want ErrNoMatchingSignature", err)
			}
		})
	}
}

func TestHMACWrongSignatures(t *testing.T) {
	t.Parallel()
	vec := loadVectors(t)
	tc := vec.HMAC[0] // the wrong signatures are variations of the reference-go vector
	ts := time.Unix(tc.Timestamp, 0)
	v := newVerifier(t, &Config{Secrets: []string{tc.Secret}, Now: fixedClock(ts)})
	wrong := append([]string{"v1,!!!notbase64!!!", "v1", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"v1," + strings.Repeat("A", 200)}, vec.HMACWrong...)
	for _, sig := range wrong {
		t.Run(sig, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), headers(tc.ID, formatTimestamp(ts), sig), []byte(tc.Body))
			if !errors.Is(err, ErrNoMatchingSignature) {
				t.Fatalf("Verify = %v, want ErrNoMatchingSignature", err)
			}
		})
	}
}

func TestHMACHeaders(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"batch.succeeded"}`)
	ts := formatTimestamp(testNow)
	good, err := signHMAC(testSecret, "msg_1", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	old, err := signHMAC(testSecret2, "msg_1", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		h    http.Header
		want error
	}{
		{"one entry", headers("msg_1", ts, good), nil},
		{"several entries on one line", headers("msg_1", ts, "v2,abc v1,AAAA "+good), nil},
		{"second header line", headers("msg_1", ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "v1a,AAAA "+good), nil},
		{"unknown versions only", headers("msg_1", ts, "v2,"+strings.TrimPrefix(good, "v1,")), ErrNoMatchingSignature},
		{"lower-case map", http.Header{"webhook-id": {"msg_1"}, "webhook-timestamp": {ts}, "webhook-signature": {good}}, nil},
		{"other secret only", headers("msg_1", ts, old), ErrNoMatchingSignature},
		{"other id", headers("msg_2", ts, good), ErrNoMatchingSignature},
		{"no signature", headers("msg_1", ts), ErrNoMatchingSignature},
		{"empty signature", headers("msg_1", ts, ""), ErrNoMatchingSignature},
		{"no id", headers("", ts, good), ErrNoMatchingSignature},
		{"no timestamp", headers("msg_1", "", good), ErrNoMatchingSignature},
		{"signed timestamp with a plus", headers("msg_1", "+"+ts, good), ErrNoMatchingSignature},
		{"timestamp with a space", headers("msg_1", ts+" ", good), ErrNoMatchingSignature},
		{"negative timestamp", headers("msg_1", "-"+ts, good), ErrNoMatchingSignature},
		{"fractional timestamp", headers("msg_1", ts+".0", good), ErrNoMatchingSignature},
		{"huge timestamp", headers("msg_1", strings.Repeat("9", 40), good), ErrNoMatchingSignature},
		{"leading zero changes the signed bytes", headers("msg_1", "0"+ts, good), ErrNoMatchingSignature},
	}
	v := newVerifier(t, &Config{Secrets: []string{testSecret}, Now: fixedClock(testNow)})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			scheme, err := v.Verify(context.Background(), tc.h, body)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err == nil && scheme != SchemeHMAC {
				t.Errorf("scheme = %q, want %q", scheme, SchemeHMAC)
			}
		})
	}
}

func TestHMACTolerance(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	const tol = 2 * time.Minute
	tests := []struct {
		name   string
		signed time.Time
		want   error
	}{
		{"now", testNow, nil},
		{"exactly tolerance old", testNow.Add(-tol), nil},
		{"one second too old", testNow.Add(-tol - time.Second), ErrStaleTimestamp},
		{"exactly tolerance ahead", testNow.Add(tol), nil},
		{"one second too far ahead", testNow.Add(tol + time.Second), ErrStaleTimestamp},
		{"epoch", time.Unix(0, 0), ErrStaleTimestamp},
	}
	v := newVerifier(t, &Config{Secrets: []string{testSecret}, Tolerance: tol, Now: fixedClock(testNow)})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig, err := signHMAC(testSecret, "msg", tc.signed, body)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), headers("msg", formatTimestamp(tc.signed), sig), body)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHMACRotation(t *testing.T) {
	t.Parallel()
	body := []byte(`{"rotated":true}`)
	v := newVerifier(t, &Config{Secrets: []string{testSecret, testSecret2}, Now: fixedClock(testNow)})
	for _, secret := range []string{testSecret, testSecret2} {
		sig, err := signHMAC(secret, "msg", testNow, body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), headers("msg", formatTimestamp(testNow), sig), body); err != nil {
			t.Errorf("secret %s...: %v", secret[:8], err)
		}
	}
	third, err := signHMAC("whsec_"+strings.Repeat("QUJD", 8), "msg", testNow, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), headers("msg", formatTimestamp(testNow), third), body); !errors.Is(err, ErrNoMatchingSignature) {
		t.Errorf("third secret: %v, want ErrNoMatchingSignature", err)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		msg     string // the whole error NewVerifier returns; "" for none
	}{
		{"whsec prefix", []string{testSecret}, ""},
		{"bare base64", []string{strings.TrimPrefix(testSecret2, "whsec_")}, ""},
		{"unpadded base64", []string{strings.TrimRight(testSecret2, "=")}, ""},
		{"none", nil, "signing: Config has neither Secrets nor Keys, so nothing verifies"},
		{"empty", []string{""}, "signing: Config.Secrets[0] is empty"},
		{"prefix only", []string{"whsec_"}, "signing: Config.Secrets[0] is empty"},
		{"second empty", []string{testSecret, " "}, "signing: Config.Secrets[1] is empty"},
		{"not base64", []string{"whsec_sup3r*s3cret*value*not*b64"},
			"signing: Config.Secrets[0] is not base64 after whsec_ (Gemini's secrets are whsec_ then standard base64)"},
		{"too short", []string{"whsec_c2hvcnRrZXk="},
			"signing: Config.Secrets[0] is too short: 12 base64 characters after whsec_ decode to 8 bytes; " +
				"want at least 22 characters (16 bytes), and Gemini's secrets have 44"},
		// Seven characters as typed, not "5 bytes of key material" alone.
		{"seven characters", []string{testSecret, "whsec_abcdefg"},
			"signing: Config.Secrets[1] is too short: 7 base64 characters after whsec_ decode to 5 bytes; " +
				"want at least 22 characters (16 bytes), and Gemini's secrets have 44"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVerifier(&Config{Secrets: tc.secrets})
			if (err == nil) != (tc.msg == "") {
				t.Fatalf("NewVerifier = %v, want error %q", err, tc.msg)
			}
			if err != nil {
				if d := cmp.Diff(tc.msg, err.Error()); d != "" {
					t.Errorf("error message (-want +got):\n%s", d)
				}
			}
			for _, s := range tc.secrets {
				if raw := strings.TrimPrefix(strings.TrimSpace(s), "whsec_"); err != nil && raw != "" && strings.Contains(err.Error(), raw) {
					t.Errorf("error %q contains the secret", err)
				}
			}
			if len(tc.secrets) == 1 {
				serr := Signer{Secrets: tc.secrets}.Sign(http.Header{}, "id", testNow, nil)
				if (serr == nil) != (tc.msg == "") {
					t.Errorf("Sign = %v, want an error: %v", serr, tc.msg != "")
				}
			}
		})
	}
}

// TestHMACAllocs holds the allocation budget that the benchmarks measure: constant and at most 3
// whatever the body size.
func TestHMACAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop entries")
	}
	hv := newVerifier(t, &Config{Secrets: []string{testSecret}, Now: fixedClock(testNow)})
	mv := newVerifier(t, &Config{Secrets: []string{testSecret}, Keys: testKeySet(t), Now: fixedClock(testNow)})
	for _, v := range []*Verifier{hv, mv} {
		for _, size := range []int{0, 1 << 10, 1 << 20} {
			body := make([]byte, size)
			sig, err := signHMAC(testSecret, "msg", testNow, body)
			if err != nil {
				t.Fatal(err)
			}
			h := headers("msg", formatTimestamp(testNow), sig)
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := v.Verify(context.Background(), h, body); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > 3 {
				t.Errorf("keys %v, body of %d bytes: %.1f allocs per verify, want at most 3", v.keys != nil, size, allocs)
			}
		}
	}
}
