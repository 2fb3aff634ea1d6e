package signing

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	_ SchemeVerifier = (*HMACVerifier)(nil)
	_ SchemeVerifier = (*JWKSVerifier)(nil)
	_ SchemeVerifier = (*MultiVerifier)(nil)
	_ Verifier       = (*MultiVerifier)(nil)
	_ KeySet         = (*StaticKeySet)(nil)
)

// JWKSVerifier verifies dynamic (webhook_config) deliveries: "v1a" Ed25519 entries against every
// Ed25519 key of the set, and RS256 JWTs against the key their kid names. It is safe for concurrent use.
type JWKSVerifier struct {
	d *dynamic
}

// NewJWKSVerifier returns a verifier for dynamic webhooks whose keys come from keys, usually a
// RemoteKeySet for GeminiJWKSURL. Pass WithAudience and WithIssuer to require those JWT claims.
func NewJWKSVerifier(keys KeySet, opts ...Option) *JWKSVerifier {
	return &JWKSVerifier{d: newDynamic(keys, newOptions(opts))}
}

// Verify implements Verifier.
func (v *JWKSVerifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	_, err := v.VerifyScheme(ctx, h, body)
	return err
}

// VerifyScheme implements SchemeVerifier: it returns SchemeEd25519 or SchemeJWT.
func (v *JWKSVerifier) VerifyScheme(ctx context.Context, h http.Header, body []byte) (Scheme, error) {
	return verifyEntries(ctx, h, body, nil, v.d, &v.d.opts)
}

// Config configures NewVerifier. Set Secrets for registered webhooks, KeySet for dynamic ones, or both.
type Config struct {
	Secrets []string
	KeySet  KeySet
	Options []Option
}

// MultiVerifier verifies every scheme Gemini uses. It is safe for concurrent use.
type MultiVerifier struct {
	hmac *HMACVerifier
	d    *dynamic
	opts options
}

// NewVerifier returns a verifier for a listener that receives registered and dynamic webhooks. Each
// webhook-signature entry goes to the scheme its form names: "v1,<base64>" to HMAC with the secrets,
// "v1a,<base64>" to Ed25519 with the key set, and a bare three-segment token to RS256 JWT with the key set.
// Entries of other versions are skipped.
func NewVerifier(cfg Config) (*MultiVerifier, error) {
	if len(cfg.Secrets) == 0 && cfg.KeySet == nil {
		return nil, errors.New("signing: config has neither secrets nor a key set")
	}
	m := &MultiVerifier{opts: newOptions(cfg.Options)}
	if len(cfg.Secrets) > 0 {
		h, err := NewHMACVerifier(cfg.Secrets, cfg.Options...)
		if err != nil {
			return nil, err
		}
		m.hmac = h
	}
	if cfg.KeySet != nil {
		m.d = newDynamic(cfg.KeySet, m.opts)
	}
	return m, nil
}

// Verify implements Verifier.
func (m *MultiVerifier) Verify(ctx context.Context, h http.Header, body []byte) error {
	_, err := m.VerifyScheme(ctx, h, body)
	return err
}

// VerifyScheme implements SchemeVerifier. When no entry verifies, the error is the most useful one
// seen: ErrKeySetUnavailable first (answer 503 so Gemini retries), then header and timestamp errors,
// then ErrNoMatchingSignature.
func (m *MultiVerifier) VerifyScheme(ctx context.Context, h http.Header, body []byte) (Scheme, error) {
	return verifyEntries(ctx, h, body, m.hmac, m.d, &m.opts)
}

// verifyEntries routes each signature entry to its scheme; hm or d may be nil when not configured.
func verifyEntries(ctx context.Context, h http.Header, body []byte, hm *HMACVerifier, d *dynamic, o *options) (Scheme, error) {
	sigs := newEntries(h)
	if sigs.empty() {
		return "", fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSignature)
	}
	var nHMAC, nEd, nJWT int
	for it := sigs; ; {
		entry, ok := it.next()
		if !ok {
			break
		}
		switch kind, _ := classify(entry); kind {
		case kindHMAC:
			nHMAC++
		case kindEd25519:
			nEd++
		case kindJWT:
			nJWT++
		}
	}
	useHMAC, useEd, useJWT := nHMAC > 0 && hm != nil, nEd > 0 && d != nil, nJWT > 0 && d != nil
	var errs errRank
	if useHMAC || useEd {
		id, ts, err := checkIDAndTimestamp(h, o)
		if err != nil {
			errs.add(err)
		} else {
			if useHMAC && hm.match(id, ts, body, sigs) {
				return SchemeHMAC, nil
			}
			if useEd {
				err := d.verifyEd25519(ctx, id, ts, body, sigs)
				if err == nil {
					return SchemeEd25519, nil
				}
				errs.add(err)
			}
		}
	}
	if useJWT {
		for it := sigs; ; {
			entry, ok := it.next()
			if !ok {
				break
			}
			if kind, tok := classify(entry); kind == kindJWT && looksLikeJWT(tok) {
				err := d.verifyJWT(ctx, h, tok, body)
				if err == nil {
					return SchemeJWT, nil
				}
				errs.add(err)
			}
		}
	}
	if errs.err != nil {
		return "", errs.err
	}
	return "", ErrNoMatchingSignature
}

// errRank keeps the most useful of several failures.
type errRank struct{ err error }

func (r *errRank) add(err error) {
	switch {
	case r.err == nil:
		r.err = err
	case errors.Is(err, ErrKeySetUnavailable) && !errors.Is(r.err, ErrKeySetUnavailable):
		r.err = err
	}
}

// dynamic holds what the v1a and JWT schemes share.
type dynamic struct {
	keys    KeySet
	opts    options
	leeway  time.Duration
	msgs    sync.Pool // *[]byte: id.ts.body for Ed25519, which has no streaming interface
	scratch sync.Pool // *jwtScratch
}

// maxPooledMessage keeps one huge delivery from pinning its copy in the pool.
const maxPooledMessage = 4 << 20

func newDynamic(keys KeySet, o options) *dynamic {
	return &dynamic{
		keys:    keys,
		opts:    o,
		leeway:  min(maxJWTLeeway, o.tolerance),
		msgs:    sync.Pool{New: func() any { return new([]byte) }},
		scratch: sync.Pool{New: func() any { return new(jwtScratch) }},
	}
}

// unmatchedRefresher is implemented by key sets that can refetch when no key verified a v1a entry,
// which is how a rotated Ed25519 key (it has no kid) is picked up.
type unmatchedRefresher interface {
	refreshUnmatched(ctx context.Context) ([]PublicKey, bool)
}

func (d *dynamic) verifyEd25519(ctx context.Context, id, ts string, body []byte, sigs entries) error {
	if d.keys == nil {
		return ErrKeySetUnavailable
	}
	keys, err := d.keys.Keys(ctx)
	if err != nil {
		return err
	}
	var decoded [][ed25519.SignatureSize]byte
	for it := sigs; ; {
		entry, ok := it.next()
		if !ok {
			break
		}
		kind, payload := classify(entry)
		if kind != kindEd25519 || base64.StdEncoding.DecodedLen(len(payload)) > ed25519.SignatureSize+2 {
			continue
		}
		var sig [ed25519.SignatureSize + 2]byte
		if n, err := base64.StdEncoding.Decode(sig[:], []byte(payload)); err == nil && n == ed25519.SignatureSize {
			decoded = append(decoded, [ed25519.SignatureSize]byte(sig[:ed25519.SignatureSize]))
		}
	}
	if len(decoded) == 0 {
		return ErrNoMatchingSignature
	}
	bufp := d.msgs.Get().(*[]byte)
	msg := append(appendSignedPrefix((*bufp)[:0], id, ts), body...)
	defer func() {
		if cap(msg) <= maxPooledMessage {
			*bufp = msg[:0]
			d.msgs.Put(bufp)
		}
	}()
	if ed25519Match(keys, msg, decoded) {
		return nil
	}
	if r, ok := d.keys.(unmatchedRefresher); ok {
		if fresh, changed := r.refreshUnmatched(ctx); changed && ed25519Match(fresh, msg, decoded) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

func ed25519Match(keys []PublicKey, msg []byte, sigs [][ed25519.SignatureSize]byte) bool {
	for _, k := range keys {
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok {
			continue
		}
		for i := range sigs {
			if ed25519.Verify(pub, msg, sigs[i][:]) {
				return true
			}
		}
	}
	return false
}

func (d *dynamic) verifyJWT(ctx context.Context, h http.Header, token string, body []byte) error {
	if d.keys == nil {
		return ErrKeySetUnavailable
	}
	// A timestamp header, when sent, is bounded as for the other schemes; checkClaims then requires a
	// signed freshness bound (exp, or webhook_timestamp equal to the header).
	ts := headerValue(h, canonTimestamp, HeaderTimestamp)
	if ts != "" {
		if err := checkTimestamp(ts, d.opts.now(), d.opts.tolerance); err != nil {
			return err
		}
	}
	if len(token) > maxTokenLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	// looksLikeJWT guaranteed three non-empty segments.
	hdrSeg, rest, _ := strings.Cut(token, ".")
	claimSeg, sigSeg, _ := strings.Cut(rest, ".")
	signed := token[:len(hdrSeg)+1+len(claimSeg)]

	// The header is decoded into a small struct, not a map, and only RS256 is accepted: the algorithm
	// is pinned here, never taken from the token.
	sc := d.scratch.Get().(*jwtScratch)
	defer d.scratch.Put(sc)
	var hdr struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := sc.decodeJSON(hdrSeg, &hdr); err != nil {
		return fmt.Errorf("%w: header: %v", ErrInvalidToken, err)
	}
	if hdr.Alg != jwt.SigningMethodRS256.Alg() {
		return fmt.Errorf("%w: jwt alg %.16q is not RS256", ErrNoMatchingSignature, hdr.Alg)
	}
	if hdr.Crit != nil {
		return fmt.Errorf("%w: critical header extensions are not supported", ErrInvalidToken)
	}
	var claims tokenClaims
	if err := sc.decodeJSON(claimSeg, &claims); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	// Cheap checks before any key lookup or RSA operation.
	if err := d.checkClaims(h, ts, &claims, body); err != nil {
		return err
	}
	sig, err := sc.decode(&sc.sig, sigSeg)
	if err != nil {
		return fmt.Errorf("%w: jwt signature is not base64url", ErrNoMatchingSignature)
	}
	sc.src = append(sc.src[:0], signed...)
	digest := sha256.Sum256(sc.src)
	if hdr.Kid == "" {
		set, err := d.rsaKeys(ctx)
		if err != nil {
			return err
		}
		for _, pub := range set {
			if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil {
				return nil
			}
		}
		return fmt.Errorf("%w: jwt without kid matches no RSA key", ErrNoMatchingSignature)
	}
	k, err := d.keys.Key(ctx, hdr.Kid)
	if err != nil {
		return err
	}
	pub, ok := k.Key.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: kid %.64q is not an RSA key", ErrUnknownKey, hdr.Kid)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("%w: jwt: %v", ErrNoMatchingSignature, err)
	}
	return nil
}

// maxTokenLen bounds the JSON a forged token can make us decode, and the scratch space kept in the pool.
const maxTokenLen = 8 << 10

// jwtScratch holds the buffers of one JWT verification: segments are base64url-decoded into them
// rather than into fresh slices.
type jwtScratch struct{ src, json, sig []byte }

// decode base64url-decodes seg into *dst, copying it through src first because converting the
// string would allocate.
func (sc *jwtScratch) decode(dst *[]byte, seg string) ([]byte, error) {
	sc.src = append(sc.src[:0], seg...)
	n := base64.RawURLEncoding.DecodedLen(len(seg))
	if cap(*dst) < n {
		*dst = make([]byte, n)
	}
	m, err := base64.RawURLEncoding.Decode((*dst)[:n], sc.src)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	return (*dst)[:m], nil
}

// decodeJSON decodes one base64url JSON segment of a compact JWT. json.Unmarshal copies what it keeps,
// so the buffer is free for the next segment.
func (sc *jwtScratch) decodeJSON(seg string, v any) error {
	b, err := sc.decode(&sc.json, seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// checkClaims runs the cheap checks, before any key lookup or signature verification: exp, nbf and
// iat with the leeway, audience and issuer when configured, and the claims that bind the token to
// this delivery.
func (d *dynamic) checkClaims(h http.Header, ts string, c *tokenClaims, body []byte) error {
	now := d.opts.now()
	if c.ExpiresAt.set && !now.Before(c.ExpiresAt.t.Add(d.leeway)) {
		return fmt.Errorf("%w: jwt expired", ErrTimestampTooOld)
	}
	if c.NotBefore.set && now.Add(d.leeway).Before(c.NotBefore.t) {
		return fmt.Errorf("%w: jwt not valid yet", ErrTimestampTooNew)
	}
	if c.IssuedAt.set && now.Add(d.leeway).Before(c.IssuedAt.t) {
		return fmt.Errorf("%w: jwt issued in the future", ErrTimestampTooNew)
	}
	if len(d.opts.audience) > 0 && !c.Audience.containsAny(d.opts.audience) {
		return fmt.Errorf("%w: jwt audience is not a configured one", ErrInvalidToken)
	}
	if d.opts.issuer != "" && c.Issuer != d.opts.issuer {
		return fmt.Errorf("%w: jwt issuer is not the configured one", ErrInvalidToken)
	}
	// Freshness must come from signed data: exp, or a webhook_timestamp claim that equals the checked
	// header. The header alone is not signed, so a captured token without either could be replayed
	// for ever under a fresh webhook-timestamp.
	if !c.ExpiresAt.set && c.WebhookTimestamp == "" {
		return fmt.Errorf("%w: neither an exp nor a webhook_timestamp claim bounds the token's life", ErrInvalidToken)
	}
	if c.WebhookID != "" && c.WebhookID != headerValue(h, canonID, HeaderID) {
		return fmt.Errorf("%w: webhook_id does not match %s", ErrInvalidToken, HeaderID)
	}
	if c.WebhookTimestamp != "" && string(c.WebhookTimestamp) != ts {
		return fmt.Errorf("%w: webhook_timestamp does not match %s", ErrInvalidToken, HeaderTimestamp)
	}
	if c.BodySHA256 != "" {
		claim := trimPadding(c.BodySHA256)
		var want [sha256.Size]byte
		if len(claim) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
			return fmt.Errorf("%w: body_sha256 is not a base64url SHA-256", ErrInvalidToken)
		}
		n, err := base64.RawURLEncoding.Decode(want[:], []byte(claim))
		sum := sha256.Sum256(body)
		if err != nil || n != sha256.Size || subtle.ConstantTimeCompare(want[:], sum[:]) != 1 {
			return fmt.Errorf("%w: body_sha256 does not match the body", ErrInvalidToken)
		}
	}
	return nil
}

func trimPadding(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

// rsaKeys returns every RSA key of the set, for a JWT without kid.
func (d *dynamic) rsaKeys(ctx context.Context) ([]*rsa.PublicKey, error) {
	keys, err := d.keys.Keys(ctx)
	if err != nil {
		return nil, err
	}
	var set []*rsa.PublicKey
	for _, k := range keys {
		if pub, ok := k.Key.(*rsa.PublicKey); ok {
			set = append(set, pub)
		}
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("%w: jwt has no kid and the set holds no RSA key", ErrUnknownKey)
	}
	return set, nil
}
