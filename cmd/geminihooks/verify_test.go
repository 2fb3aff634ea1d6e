package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/signing"
)

// testSecret returns a fresh whsec_ secret.
func testSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// rawRequest writes a delivery as the raw HTTP request verify reads.
func rawRequest(t *testing.T, body []byte, h http.Header) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/webhooks/gemini", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// signature returns the webhook-signature value s signs a delivery with.
func signature(t *testing.T, s signing.Signer, id string, ts time.Time, body []byte) string {
	t.Helper()
	h := http.Header{}
	if err := s.Sign(h, id, ts, body); err != nil {
		t.Fatal(err)
	}
	return h.Get(signing.HeaderSignature)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 10, 21, 5, 0, time.UTC)
	secret, other := testSecret(t), testSecret(t)
	body, err := event.Marshal(&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/abc", OutputFileURI: "files/abc"}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	const id = "msg_test"
	sign := func(secret string, ts time.Time) string {
		return signature(t, signing.Signer{Secrets: []string{secret}}, id, ts, body)
	}
	headers := func(ts time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set(signing.HeaderID, id)
		h.Set(headerTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(signing.HeaderSignature, sig)
		return h
	}

	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := signing.MarshalJWKS(
		signing.PublicKey{KID: "ed", Key: edKey.Public()},
		signing.PublicKey{KID: "rsa", Key: &rsaKey.PublicKey},
	)
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := writeFile(t, "jwks.json", jwks)
	jwt := func(kid string) string {
		return signature(t, signing.Signer{RSA: rsaKey, KID: kid, Issuer: jwtIssuer, Audience: "http://127.0.0.1:8080/webhooks/gemini"}, id, now, body)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(down.Close)

	good := rawRequest(t, body, headers(now, sign(secret, now)))
	tampered := bytes.Replace(good, []byte("files/abc"), []byte("files/abd"), 1)
	noSig := headers(now, "")
	noSig.Del(signing.HeaderSignature)
	badTS := headers(now, sign(secret, now))
	badTS.Set(headerTimestamp, "12ab")
	// A hand-made capture: no Content-Length, and an editor's final newline.
	handMade := []byte("POST /webhooks/gemini HTTP/1.1\nHost: x\nwebhook-id: " + id +
		"\nwebhook-timestamp: " + strconv.FormatInt(now.Unix(), 10) + "\nwebhook-signature: " + sign(secret, now) + "\n\n" + string(body) + "\n")

	tests := []struct {
		name     string
		input    []byte
		args     []string
		getenv   map[string]string
		wantCode int
		want     []string // substrings of stdout+stderr
	}{
		{"valid v1", good, []string{"--secret", secret}, nil, exitOK,
			[]string{"valid: v1 (HMAC-SHA256) signature with the secret given", "webhook-id:  msg_test", "event:       batch.succeeded, job batches/abc"}},
		{"second of two secrets", good, []string{"--secret", other, "--secret", secret}, nil, exitOK,
			[]string{"with secret 2 of 2"}},
		{"secret from the environment", good, nil, map[string]string{"GEMINI_WEBHOOK_SECRET": other + "," + secret}, exitOK,
			[]string{"with secret 2 of 2"}},
		{"rotation header with two entries", rawRequest(t, body, headers(now, sign(other, now)+" "+sign(secret, now))),
			[]string{"--secret", secret}, nil, exitOK, []string{"valid: v1"}},
		{"tampered body", tampered, []string{"--secret", secret}, nil, exitVerifyNoMatch,
			[]string{"invalid: no matching signature: the header carries 1 v1 (HMAC) entry; none matches the secret given"}},
		{"wrong secret", good, []string{"--secret", other}, nil, exitVerifyNoMatch, []string{"no matching signature"}},
		{"missing signature header", rawRequest(t, body, noSig), []string{"--secret", secret}, nil, exitVerifyMissingHeader,
			[]string{"invalid: missing header webhook-signature"}},
		{"malformed timestamp", rawRequest(t, body, badTS), []string{"--secret", secret}, nil, exitVerifyInvalidHeader,
			[]string{"invalid: malformed header"}},
		{"ten minutes old", rawRequest(t, body, headers(now.Add(-10*time.Minute), sign(secret, now.Add(-10*time.Minute)))),
			[]string{"--secret", secret}, nil, exitVerifyTimestamp,
			[]string{"timestamp skew: signed 10m0s ago, outside the tolerance of 5m0s; the signature itself matches"}},
		{"from the future", rawRequest(t, body, headers(now.Add(7*time.Minute), sign(secret, now.Add(7*time.Minute)))),
			[]string{"--secret", secret}, nil, exitVerifyTimestamp, []string{"signed 7m0s in the future"}},
		{"old and tampered", bytes.Replace(rawRequest(t, body, headers(now.Add(-time.Hour), sign(secret, now.Add(-time.Hour)))), []byte("abc"), []byte("abd"), 1),
			[]string{"--secret", secret}, nil, exitVerifyTimestamp, []string{"signed 1h0m0s ago", "the signature does not match either"}},
		{"old capture checked with --at", rawRequest(t, body, headers(now.Add(-time.Hour), sign(secret, now.Add(-time.Hour)))),
			[]string{"--secret", secret, "--at", strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, nil, exitOK, []string{"valid: v1"}},
		{"wider tolerance", rawRequest(t, body, headers(now.Add(-10*time.Minute), sign(secret, now.Add(-10*time.Minute)))),
			[]string{"--secret", secret, "--tolerance", "15m"}, nil, exitOK, []string{"(10m0s ago; tolerance 15m0s)"}},
		{"v1a with a JWKS file", rawRequest(t, body, headers(now, signature(t, signing.Signer{Ed25519: edKey}, id, now, body))),
			[]string{"--jwks-file", jwksFile}, nil, exitOK, []string{"valid: v1a (Ed25519) signature"}},
		{"JWT with a JWKS file", rawRequest(t, body, headers(now, jwt("rsa"))),
			[]string{"--jwks-file", jwksFile, "--audience", "http://127.0.0.1:8080/webhooks/gemini"}, nil, exitOK,
			[]string{`valid: JWT (RS256) signature with key "rsa"`}},
		{"JWT with an unknown kid", rawRequest(t, body, headers(now, jwt("rotated-away"))),
			[]string{"--jwks-file", jwksFile}, nil, exitVerifyUnknownKey, []string{`unknown key id (kid) "rotated-away"`}},
		{"JWT without keys", rawRequest(t, body, headers(now, jwt("rsa"))), []string{"--secret", secret}, nil, exitVerifyNoMatch,
			[]string{"1 JWT (RS256) entry", "hint: v1a and JWT signatures are verified with public keys"}},
		{"JWKS unavailable", rawRequest(t, body, headers(now, jwt("rsa"))), []string{"--jwks-url", down.URL}, nil, exitVerifyKeysUnavailable,
			[]string{"the key set could not be fetched"}},
		{"hand-made capture with a final newline", handMade, []string{"--secret", secret}, nil, exitVerifyNoMatch,
			[]string{"hint: the capture has no Content-Length and its body ends with a newline"}},
		{"hand-made capture without the newline", bytes.TrimSuffix(handMade, []byte("\n")), []string{"--secret", secret}, nil, exitOK,
			[]string{"no Content-Length: read to the end of the input"}},
		{"not a request", []byte("{\"type\":\"batch.succeeded\"}"), []string{"--secret", secret}, nil, exitVerifyBadCapture,
			[]string{"not a raw HTTP request"}},
		{"empty input", nil, []string{"--secret", secret}, nil, exitVerifyBadCapture, []string{"the input is empty"}},
		{"nothing to verify with", good, nil, nil, exitUsage, []string{"nothing to verify with"}},
		{"invalid secret", good, []string{"--secret", "whsec_!!"}, nil, exitUsage, nil},
		{"two files", good, []string{"--secret", secret, "a", "b"}, nil, exitUsage, []string{"want at most one FILE"}},
		{"JWKS file without a usable key", good, []string{"--jwks-file", writeFile(t, "oct.json", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))},
			nil, exitUsage, []string{"signing: invalid jwks: no usable key"}},
		{"JWKS file not JSON", good, []string{"--jwks-file", writeFile(t, "page.json", []byte("<html>"))}, nil, exitUsage,
			[]string{"signing: invalid jwks"}},
		{"JWKS file too large", good, []string{"--jwks-file", writeFile(t, "big.json", bytes.Repeat([]byte(" "), maxJWKSFile+1))},
			nil, exitUsage, []string{"is larger than 1048576 bytes"}},
		{"JWKS file missing", good, []string{"--jwks-file", filepath.Join(t.TempDir(), "absent.json")}, nil, exitUsage,
			[]string{"--jwks-file: open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &env{
				stdin:  bytes.NewReader(tt.input),
				now:    func() time.Time { return now },
				getenv: func(k string) string { return tt.getenv[k] },
			}
			code, stdout, stderr := runCLI(t, e, append([]string{"verify"}, tt.args...)...)
			all := stdout + stderr
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, secret) || strings.Contains(all, other) {
				t.Errorf("output shows a secret:\n%s", all)
			}
			if tt.wantCode == exitOK && stderr != "" {
				t.Errorf("stderr on success: %s", stderr)
			}
			if tt.wantCode != exitOK && stdout != "" {
				t.Errorf("stdout on failure: %s", stdout)
			}
		})
	}
}

func TestVerifyReadsFile(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	now := time.Now()
	body := []byte(`{"type":"batch.expired","version":"v1","timestamp":"2026-03-04T00:00:01Z","data":{"id":"batches/x"}}`)
	h := http.Header{}
	if err := (signing.Signer{Secrets: []string{secret}}).Sign(h, "msg_1", now, body); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "capture.http", rawRequest(t, body, h))
	if code, out, errs := runCLI(t, nil, "verify", "--secret", secret, path); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runCLI(t, nil, "verify", "--secret", secret, filepath.Join(t.TempDir(), "missing")); code != exitFailure ||
		!strings.Contains(errs, "no such file") {
		t.Fatalf("missing file: exit %d, stderr %q", code, errs)
	}
}

func TestReadCapture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		wantBody  string
		wantErr   bool
		toEOF     bool
		trailing  int
		wantToken string
	}{
		{name: "content length", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", wantBody: "{}"},
		{name: "leading blank lines", in: "\r\n\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", wantBody: "{}"},
		{name: "bare LF line endings", in: "POST / HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}", wantBody: "{}"},
		{name: "chunked", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", wantBody: "{}"},
		{name: "no length", in: "POST / HTTP/1.1\r\nHost: x\r\n\r\n{\"a\":1}", wantBody: `{"a":1}`, toEOF: true},
		{name: "trailing bytes", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}xyz\r\n", wantBody: "{}", trailing: 3},
		{name: "truncated body", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{}", wantErr: true},
		{name: "garbage", in: "hello", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "bad content length", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := readCapture(strings.NewReader(tt.in))
			if tt.wantErr {
				if !errors.Is(err, errBadCapture) {
					t.Fatalf("err = %v, want errBadCapture", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(c.body) != tt.wantBody || c.bodyToEOF != tt.toEOF || c.trailing != tt.trailing {
				t.Errorf("body %q toEOF %v trailing %d; want %q %v %d", c.body, c.bodyToEOF, c.trailing, tt.wantBody, tt.toEOF, tt.trailing)
			}
		})
	}
}

func TestReadCaptureTooLarge(t *testing.T) {
	t.Parallel()
	head := "POST / HTTP/1.1\r\nHost: x\r\n\r\n"
	const limit = 4 << 10
	in := io.MultiReader(strings.NewReader(head), bytes.NewReader(make([]byte, limit)))
	if _, err := readCaptureLimit(in, limit); !errors.Is(err, errBadCapture) || !strings.Contains(err.Error(), "larger than 4096 bytes") {
		t.Fatalf("err = %v, want a size error", err)
	}
	in = io.MultiReader(strings.NewReader(head), bytes.NewReader(make([]byte, limit-len(head))))
	if _, err := readCaptureLimit(in, limit); err != nil {
		t.Fatalf("a capture of exactly the limit: %v", err)
	}
}

// FuzzReadCapture feeds untrusted captures to the parser and to the report:
// neither may panic, and the body never exceeds the input.
func FuzzReadCapture(f *testing.F) {
	f.Add([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\nwebhook-id: a\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,AAAA v1a,BBBB a.b.c\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n2\r\n{}\r\n0\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nwebhook-signature: eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.c2ln\r\n\r\n"))
	f.Add([]byte("\n\nGET / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"))
	secret := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := readCapture(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(c.body) > len(data) {
			t.Fatalf("body of %d bytes from %d bytes of input", len(c.body), len(data))
		}
		sigs := parseSignatureEntries(c.header.Values(signing.HeaderSignature))
		_ = sigs.summary()
		_ = sigs.kids()
		v := &verification{capt: c, secrets: []string{secret}, tolerance: time.Minute, now: time.Unix(1, 0)}
		var out bytes.Buffer
		code := v.report(t.Context(), &env{stdout: &out, stderr: &out})
		if code == exitOK {
			t.Fatalf("a fuzzed capture verified with an all-zero secret:\n%s", out.String())
		}
	})
}
