package signing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MinSecretBytes is the shortest HMAC key accepted, after base64 decoding: 128 bits. Gemini issues 32-byte
// secrets; Standard Webhooks test vectors use 24-byte ones.
const MinSecretBytes = 16

const secretPrefix = "whsec_"

// decodeSecret turns "whsec_<base64>" or bare base64 into key bytes. Errors name the problem, never the
// secret.
func decodeSecret(secret string) ([]byte, error) {
	key, reason, kind := checkSecret(secret)
	if kind != nil {
		return nil, fmt.Errorf("%w%s", kind, reason)
	}
	return key, nil
}

// checkSecret decodes a secret, or returns the sentinel it fails with and why (": ..." or ""), in the
// terms the user typed it in: characters after "whsec_", not only bytes of decoded key material.
func checkSecret(secret string) (key []byte, reason string, kind error) {
	s := strings.TrimSpace(secret)
	s = strings.TrimPrefix(s, secretPrefix)
	if s == "" {
		return nil, "", ErrEmptySecret
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		return nil, ": not base64 after " + secretPrefix + " (Gemini's secrets are " + secretPrefix +
			" then standard base64)", ErrInvalidSecret
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Sprintf(": too short: %d base64 characters after %s decode to %d bytes; "+
			"want at least %d characters (%d bytes), and Gemini's secrets have %d",
			len(s), secretPrefix, len(key), minSecretChars, MinSecretBytes, geminiSecretChars), ErrInvalidSecret
	}
	return key, "", nil
}

const (
	// minSecretChars is how many base64 characters, unpadded, carry MinSecretBytes.
	minSecretChars = (MinSecretBytes*8 + 5) / 6
	// geminiSecretChars is the padded base64 length of the 32-byte secrets Gemini issues.
	geminiSecretChars = 44
)

// SignHMAC signs a delivery with a webhook signing secret and returns the "v1,<base64>" entry for the
// webhook-signature header. The signed content is id "." FormatTimestamp(ts) "." body.
func SignHMAC(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(appendSignedPrefix(nil, id, FormatTimestamp(ts)))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// HMACVerifier verifies "v1" (HMAC-SHA256) signatures of registered webhooks. It is safe for concurrent
// use.
type HMACVerifier struct {
	nkeys int
	opts  options
	// states holds *macState values: one keyed HMAC per secret plus scratch space, so that a
	// verification allocates nothing and never copies the body.
	states sync.Pool
}

type macState struct {
	macs   []hash.Hash
	prefix []byte // id "." ts "."
	buf    []byte // a payload being decoded
	sum    [sha256.Size]byte
	sig    [48]byte // decoded entry; 48 bytes hold any payload of up to 64 base64 characters
}

// maxPooledScratch keeps an oversized id header from pinning memory in the pool.
const maxPooledScratch = 1 << 10

// NewHMACVerifier returns a verifier for one or more signing secrets, each "whsec_" + base64 or bare
// base64. Pass the old and the new secret during the 24-hour grace after a rotation. It returns
// ErrEmptySecret or ErrInvalidSecret (key material not base64 or shorter than MinSecretBytes); the error
// names the secret's position, never its value.
func NewHMACVerifier(secrets []string, opts ...Option) (*HMACVerifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secrets", ErrEmptySecret)
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		k, reason, kind := checkSecret(s)
		if kind != nil {
			// kind carries the package prefix: "signing: invalid secret (2 of 3): ...".
			return nil, fmt.Errorf("%w (%d of %d)%s", kind, i+1, len(secrets), reason)
		}
		keys[i] = k
	}
	v := &HMACVerifier{nkeys: len(keys), opts: newOptions(opts)}
	v.states.New = func() any {
		st := &macState{macs: make([]hash.Hash, len(keys))}
		for i, k := range keys {
			st.macs[i] = hmac.New(sha256.New, k)
		}
		return st
	}
	return v, nil
}

// Verify implements Verifier.
func (v *HMACVerifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	_, err := v.VerifyScheme(ctx, h, body)
	return err
}

// VerifyScheme checks the webhook-id and webhook-timestamp headers, then every "v1" entry of every
// webhook-signature line against every secret. It returns SchemeHMAC when one matches.
func (v *HMACVerifier) VerifyScheme(_ context.Context, h http.Header, body []byte) (Scheme, error) {
	sigs := newEntries(h)
	if sigs.empty() {
		return "", fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSignature)
	}
	id, ts, err := checkIDAndTimestamp(h, &v.opts)
	if err != nil {
		return "", err
	}
	if v.match(id, ts, body, sigs) {
		return SchemeHMAC, nil
	}
	return "", ErrNoMatchingSignature
}

// match reports whether any v1 entry in sigs is the HMAC of id.ts.body under any secret. The signed
// content is streamed into the MAC, so the body is never copied.
func (v *HMACVerifier) match(id, ts string, body []byte, sigs entries) bool {
	st := v.states.Get().(*macState)
	defer v.put(st)
	st.prefix = appendSignedPrefix(st.prefix[:0], id, ts)
	for _, mac := range st.macs {
		mac.Reset()
		mac.Write(st.prefix)
		mac.Write(body)
		sum := mac.Sum(st.sum[:0])
		it := sigs
		for {
			entry, ok := it.next()
			if !ok {
				break
			}
			kind, payload := classify(entry)
			if kind != kindHMAC {
				continue
			}
			if sig, ok := st.decode(payload); ok && hmac.Equal(sig, sum) {
				return true
			}
		}
	}
	return false
}

// decode base64-decodes one v1 payload into st.sig, copying it through st.buf first because
// converting the string to []byte would allocate.
func (st *macState) decode(payload string) ([]byte, bool) {
	if payload == "" || len(payload) > 64 {
		return nil, false
	}
	enc := base64.StdEncoding
	if len(payload)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	st.buf = append(st.buf[:0], payload...)
	n, err := enc.Decode(st.sig[:], st.buf)
	if err != nil {
		return nil, false
	}
	return st.sig[:n], true
}

func (v *HMACVerifier) put(st *macState) {
	if cap(st.prefix) > maxPooledScratch {
		st.prefix = nil
	}
	v.states.Put(st)
}
