package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// minSecretBytes is the shortest HMAC key accepted, after base64 decoding: 128 bits. Gemini issues
// 32-byte secrets; Standard Webhooks test vectors use 24-byte ones.
const minSecretBytes = 16

const secretPrefix = "whsec_"

const (
	// minSecretChars is how many base64 characters, unpadded, carry minSecretBytes.
	minSecretChars = (minSecretBytes*8 + 5) / 6
	// geminiSecretChars is the padded base64 length of the 32-byte secrets Gemini issues.
	geminiSecretChars = 44
)

// errEmptySecret is the reason checkSecret gives for a secret with no key material.
var errEmptySecret = errors.New("is empty")

// decodeSecret turns "whsec_<base64>" or bare base64 into key bytes. The error says what is wrong in
// the terms the user typed the secret in (characters after "whsec_", not only bytes of decoded key
// material), and never quotes the secret.
func decodeSecret(secret string) ([]byte, error) {
	s := strings.TrimSpace(secret)
	s = strings.TrimPrefix(s, secretPrefix)
	if s == "" {
		return nil, errEmptySecret
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	key, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("is not base64 after " + secretPrefix + " (Gemini's secrets are " + secretPrefix +
			" then standard base64)")
	}
	if len(key) < minSecretBytes {
		return nil, fmt.Errorf("is too short: %d base64 characters after %s decode to %d bytes; "+
			"want at least %d characters (%d bytes), and Gemini's secrets have %d",
			len(s), secretPrefix, len(key), minSecretChars, minSecretBytes, geminiSecretChars)
	}
	return key, nil
}

// signHMAC returns the "v1,<base64>" entry of a delivery signed with a webhook signing secret. The
// signed content is id "." ts "." body. An error is decodeSecret's, for the caller to name the secret.
func signHMAC(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(appendSignedPrefix(nil, id, formatTimestamp(ts)))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// macState is one keyed HMAC per secret plus scratch space, kept in a pool so that a verification
// allocates nothing and never copies the body.
type macState struct {
	macs   []hash.Hash
	prefix []byte // id "." ts "."
	buf    []byte // a payload being decoded
	sum    [sha256.Size]byte
	sig    [48]byte // decoded entry; 48 bytes hold any payload of up to 64 base64 characters
}

// maxPooledScratch keeps an oversized id header from pinning memory in the pool.
const maxPooledScratch = 1 << 10

func newMACState(keys [][]byte) *macState {
	st := &macState{macs: make([]hash.Hash, len(keys))}
	for i, k := range keys {
		st.macs[i] = hmac.New(sha256.New, k)
	}
	return st
}

// matchHMAC reports whether any v1 entry in sigs is the HMAC of id.ts.body under any secret. The
// signed content is streamed into the MAC, so the body is never copied.
func (v *Verifier) matchHMAC(id, ts string, body []byte, sigs entries) bool {
	st := v.macs.Get().(*macState)
	defer func() {
		if cap(st.prefix) > maxPooledScratch {
			st.prefix = nil
		}
		v.macs.Put(st)
	}()
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
