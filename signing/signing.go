package signing

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks scheme that Gemini uses: webhook-id is a delivery's dedupe key,
// webhook-signature carries its signatures. Signer.Sign sets both, and webhook-timestamp.
const (
	HeaderID        = "webhook-id"
	HeaderSignature = "webhook-signature"
)

const headerTimestamp = "webhook-timestamp"

// Canonical forms, so that lookups in an http.Header need no allocation.
const (
	canonID        = "Webhook-Id"
	canonTimestamp = "Webhook-Timestamp"
	canonSignature = "Webhook-Signature"
)

// GeminiJWKSURL serves the public keys that sign Gemini's dynamic (webhook_config) deliveries.
const GeminiJWKSURL = "https://generativelanguage.googleapis.com/.well-known/jwks.json"

// defaultTolerance is how far a delivery's timestamp may be from the receiver's clock, in either
// direction, unless Config.Tolerance says otherwise.
const defaultTolerance = 5 * time.Minute

// maxJWTLeeway bounds the clock skew allowed on exp, nbf and iat.
const maxJWTLeeway = time.Minute

// Scheme names the signature scheme that verified a delivery.
type Scheme string

// The schemes Gemini uses.
const (
	SchemeHMAC    Scheme = "v1"  // HMAC-SHA256 with the webhook's signing secret (registered webhooks)
	SchemeEd25519 Scheme = "v1a" // Ed25519 with a key from the JWKS (dynamic webhooks)
	SchemeJWT     Scheme = "jwt" // RS256 JWT with a key from the JWKS, chosen by kid (dynamic webhooks)
)

// Errors of Verifier.Verify, one per outcome a receiver answers differently. Each wraps the detail
// with %w; test with errors.Is.
var (
	// ErrNoMatchingSignature means the delivery is not authentic: no entry of webhook-signature
	// verifies, or a header or JWT claim that binds a signature to the delivery is missing, malformed
	// or different (401).
	ErrNoMatchingSignature = errors.New("signing: no matching signature")
	// ErrStaleTimestamp means webhook-timestamp is further from now than Config.Tolerance, in either
	// direction, or a JWT has expired or is not valid yet (401): a replay, or a skewed clock.
	ErrStaleTimestamp = errors.New("signing: timestamp outside the tolerance")
	// ErrUnknownKey means a JWT names a kid that the key set lacks even after KeySet.Refresh, or one
	// that is not an RSA key (401).
	ErrUnknownKey = errors.New("signing: unknown key")
	// ErrKeySetUnavailable means no key set could be had: the JWKS is down, or its first fetch
	// outlasted KeySetConfig.MaxWait. A receiver should answer 503 so that Gemini retries.
	ErrKeySetUnavailable = errors.New("signing: key set unavailable")
)

// headerValue returns the first value of a header, looked up under its canonical name and then its
// lower-case name, so that hand-built lower-case header maps work too.
func headerValue(h http.Header, canon, lower string) string {
	if v := h[canon]; len(v) > 0 {
		return v[0]
	}
	if v := h[lower]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// maxSignatureEntries bounds how many webhook-signature entries a verification reads. A sender lists
// one per active key or secret (two during a rotation); without a bound, a forged header of ~11,000
// "v1a" entries (1 MB, the http.Server default header limit) costs one Ed25519 verification each, so
// seconds of CPU per unauthenticated request. Entries after the first maxSignatureEntries are ignored.
const maxSignatureEntries = 16

// entries iterates over the space-separated signature entries of every webhook-signature header line,
// canonical and lower-case, without allocating. It yields at most maxSignatureEntries entries.
type entries struct {
	lines [2][]string
	li    int    // index in lines
	vi    int    // index in lines[li]
	rest  string // unread part of the current line
	n     int    // entries returned so far
}

func newEntries(h http.Header) entries {
	//lint:ignore SA1008 the lower-case key is looked up on purpose, for header maps built by hand
	return entries{lines: [2][]string{h[canonSignature], h[HeaderSignature]}}
}

func (e *entries) empty() bool { return len(e.lines[0]) == 0 && len(e.lines[1]) == 0 }

// next returns the next non-empty entry.
func (e *entries) next() (string, bool) {
	if e.n >= maxSignatureEntries {
		return "", false
	}
	for {
		for e.rest != "" {
			var entry string
			i := 0
			for i < len(e.rest) && e.rest[i] != ' ' && e.rest[i] != '\t' {
				i++
			}
			entry = e.rest[:i]
			e.rest = e.rest[i:]
			for len(e.rest) > 0 && (e.rest[0] == ' ' || e.rest[0] == '\t') {
				e.rest = e.rest[1:]
			}
			if entry != "" {
				e.n++
				return entry, true
			}
		}
		if e.li >= len(e.lines) {
			return "", false
		}
		if e.vi >= len(e.lines[e.li]) {
			e.li++
			e.vi = 0
			continue
		}
		e.rest = e.lines[e.li][e.vi]
		e.vi++
	}
}

// entryKind classifies one signature entry by its form.
type entryKind int

const (
	kindUnknown entryKind = iota
	kindHMAC
	kindEd25519
	kindJWT
)

// classify returns an entry's kind and, for "version,payload" entries, the payload. A JWT contains no
// comma and exactly two dots; looksLikeJWT checks the rest when the entry is used.
func classify(entry string) (entryKind, string) {
	if i := strings.IndexByte(entry, ','); i >= 0 {
		switch entry[:i] {
		case "v1":
			return kindHMAC, entry[i+1:]
		case "v1a":
			return kindEd25519, entry[i+1:]
		}
		return kindUnknown, ""
	}
	if strings.Count(entry, ".") == 2 {
		return kindJWT, entry
	}
	return kindUnknown, ""
}

// base64URL marks the bytes of the base64url alphabet.
var base64URL = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// looksLikeJWT reports whether s is three non-empty base64url segments joined by dots.
func looksLikeJWT(s string) bool {
	dots, seg := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case base64URL[c]:
			seg++
		case c == '.' && seg > 0:
			dots++
			seg = 0
		default:
			return false
		}
	}
	return dots == 2 && seg > 0
}

// maxTimestampDigits keeps parsed timestamps far from int64 overflow.
const maxTimestampDigits = 18

// parseTimestamp parses a webhook-timestamp: decimal digits only, no sign, no spaces.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// checkTimestamp validates a webhook-timestamp against now and the tolerance, in both directions.
func checkTimestamp(raw string, now time.Time, tolerance time.Duration) error {
	if raw == "" {
		return fmt.Errorf("%w: no %s header", ErrNoMatchingSignature, headerTimestamp)
	}
	sec, ok := parseTimestamp(raw)
	if !ok {
		return fmt.Errorf("%w: %s is not decimal unix seconds", ErrNoMatchingSignature, headerTimestamp)
	}
	d := now.Sub(time.Unix(sec, 0))
	if d > tolerance {
		return fmt.Errorf("%w: %s older than %s", ErrStaleTimestamp, headerTimestamp, tolerance)
	}
	if d < -tolerance {
		return fmt.Errorf("%w: %s more than %s ahead", ErrStaleTimestamp, headerTimestamp, tolerance)
	}
	return nil
}

// formatTimestamp formats ts as decimal unix seconds, as sent in webhook-timestamp.
func formatTimestamp(ts time.Time) string {
	return strconv.FormatInt(ts.Unix(), 10)
}

// appendSignedPrefix appends id "." ts "." to dst: the part of the signed content before the body.
func appendSignedPrefix(dst []byte, id, ts string) []byte {
	dst = append(dst, id...)
	dst = append(dst, '.')
	dst = append(dst, ts...)
	return append(dst, '.')
}
