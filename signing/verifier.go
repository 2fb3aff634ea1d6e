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

// Config configures NewVerifier. Set Secrets for registered webhooks, Keys for dynamic
// (webhook_config) ones, or both.
type Config struct {
	// Secrets verify "v1" (HMAC-SHA256) signatures: each a registered webhook's signing secret,
	// "whsec_" then base64, or bare base64. Give the old and the new secret during the 24 hours after
	// a rotation.
	Secrets []string
	// Keys verify "v1a" (Ed25519) and "jwt" (RS256) signatures: usually
	// NewRemoteKeySet(GeminiJWKSURL, nil).
	Keys KeySet
	// Tolerance is how far webhook-timestamp may be from now, in either direction. It also bounds the
	// leeway on a JWT's exp, nbf and iat, which is at most a minute. Default: 5 minutes.
	Tolerance time.Duration
	// Audience, when set, requires a JWT's aud claim to hold one of its values: the URL that Gemini
	// posts to. Default: any audience.
	Audience []string
	// Issuer, when set, requires a JWT's iss claim to equal it. Default: any issuer.
	Issuer string
	// Now tells the time. Default: time.Now.
	Now func() time.Time
}

// Verifier checks that a delivery was signed by Gemini, in whichever scheme it uses. It is safe for
// concurrent use.
type Verifier struct {
	secrets   int    // how many secrets; 0 without Secrets
	keys      KeySet // nil without Keys
	tolerance time.Duration
	leeway    time.Duration
	audience  []string
	issuer    string
	now       func() time.Time

	macs    sync.Pool // *macState
	msgs    sync.Pool // *[]byte: id.ts.body for Ed25519, which has no streaming interface
	scratch sync.Pool // *jwtScratch
}

// NewVerifier returns a verifier for cfg, which needs Secrets, Keys or both. Each webhook-signature
// entry goes to the scheme its form names: "v1,<base64>" to HMAC with the secrets, "v1a,<base64>" to
// Ed25519 with every Ed25519 key of the set, and a bare three-segment token to an RS256 JWT with the
// key its kid names. Entries of other versions are skipped. An error names the Config field at fault,
// never a secret.
func NewVerifier(cfg *Config) (*Verifier, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if len(c.Secrets) == 0 && c.Keys == nil {
		return nil, errors.New("signing: Config has neither Secrets nor Keys, so nothing verifies")
	}
	if c.Tolerance < 0 {
		return nil, fmt.Errorf("signing: Config.Tolerance is %s, need a positive duration", c.Tolerance)
	}
	if c.Tolerance == 0 {
		c.Tolerance = defaultTolerance
	}
	for i, a := range c.Audience {
		if a == "" {
			return nil, fmt.Errorf("signing: Config.Audience[%d] is empty", i)
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	keys := make([][]byte, len(c.Secrets))
	for i, s := range c.Secrets {
		k, err := decodeSecret(s)
		if err != nil {
			return nil, fmt.Errorf("signing: Config.Secrets[%d] %w", i, err)
		}
		keys[i] = k
	}
	v := &Verifier{
		secrets:   len(keys),
		keys:      c.Keys,
		tolerance: c.Tolerance,
		leeway:    min(maxJWTLeeway, c.Tolerance),
		audience:  append([]string(nil), c.Audience...),
		issuer:    c.Issuer,
		now:       c.Now,
	}
	v.macs.New = func() any { return newMACState(keys) }
	v.msgs.New = func() any { return new([]byte) }
	v.scratch.New = func() any { return new(jwtScratch) }
	return v, nil
}

// Verify checks the webhook-id, webhook-timestamp and webhook-signature headers of a delivery against
// its raw body, and returns the scheme that verified it. When no entry verifies, the error wraps
// ErrKeySetUnavailable if keys were needed and could not be had (answer 503 so that Gemini retries),
// and otherwise the first failure met: ErrStaleTimestamp, ErrUnknownKey or ErrNoMatchingSignature.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) (Scheme, error) {
	sigs := newEntries(h)
	if sigs.empty() {
		return "", fmt.Errorf("%w: no %s header", ErrNoMatchingSignature, HeaderSignature)
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
	useHMAC, useEd, useJWT := nHMAC > 0 && v.secrets > 0, nEd > 0 && v.keys != nil, nJWT > 0 && v.keys != nil
	var errs errRank
	if useHMAC || useEd {
		id, ts, err := v.checkIDAndTimestamp(h)
		if err != nil {
			errs.add(err)
		} else {
			if useHMAC && v.matchHMAC(id, ts, body, sigs) {
				return SchemeHMAC, nil
			}
			if useEd {
				err := v.verifyEd25519(ctx, id, ts, body, sigs)
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
				err := v.verifyJWT(ctx, h, tok, body)
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

// checkIDAndTimestamp reads and validates the id and timestamp headers that the v1 and v1a schemes sign.
func (v *Verifier) checkIDAndTimestamp(h http.Header) (id, ts string, err error) {
	id = headerValue(h, canonID, HeaderID)
	if id == "" {
		return "", "", fmt.Errorf("%w: no %s header", ErrNoMatchingSignature, HeaderID)
	}
	ts = headerValue(h, canonTimestamp, headerTimestamp)
	if err := checkTimestamp(ts, v.now(), v.tolerance); err != nil {
		return "", "", err
	}
	return id, ts, nil
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

// maxPooledMessage keeps one huge delivery from pinning its copy in the pool.
const maxPooledMessage = 4 << 20

// changed reports whether KeySet.Refresh returned other keys than KeySet.Keys did: a set returns
// the same slice when nothing changed, and then there is nothing to try again.
func changed(before, after []PublicKey) bool {
	return len(before) != len(after) || (len(after) > 0 && &before[0] != &after[0])
}

func (v *Verifier) verifyEd25519(ctx context.Context, id, ts string, body []byte, sigs entries) error {
	keys, err := v.keys.Keys(ctx)
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
	bufp := v.msgs.Get().(*[]byte)
	msg := append(appendSignedPrefix((*bufp)[:0], id, ts), body...)
	defer func() {
		if cap(msg) <= maxPooledMessage {
			*bufp = msg[:0]
			v.msgs.Put(bufp)
		}
	}()
	if ed25519Match(keys, msg, decoded) {
		return nil
	}
	// A v1a entry names no key, so a signature that no key verifies may be from a rotated one.
	if fresh, err := v.keys.Refresh(ctx); err == nil && changed(keys, fresh) && ed25519Match(fresh, msg, decoded) {
		return nil
	}
	return ErrNoMatchingSignature
}

func ed25519Match(keys []PublicKey, msg []byte, sigs [][ed25519.SignatureSize]byte) bool {
	for _, k := range keys {
		// A key of the wrong size, which a KeySet of the user's own might hold, would make
		// ed25519.Verify panic.
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
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

func (v *Verifier) verifyJWT(ctx context.Context, h http.Header, token string, body []byte) error {
	// A timestamp header, when sent, is bounded as for the other schemes; checkClaims then requires a
	// signed freshness bound (exp, or webhook_timestamp equal to the header).
	ts := headerValue(h, canonTimestamp, headerTimestamp)
	if ts != "" {
		if err := checkTimestamp(ts, v.now(), v.tolerance); err != nil {
			return err
		}
	}
	if len(token) > maxTokenLen {
		return fmt.Errorf("%w: jwt longer than %d bytes", ErrNoMatchingSignature, maxTokenLen)
	}
	// looksLikeJWT guaranteed three non-empty segments.
	hdrSeg, rest, _ := strings.Cut(token, ".")
	claimSeg, sigSeg, _ := strings.Cut(rest, ".")
	signed := token[:len(hdrSeg)+1+len(claimSeg)]

	// The header is decoded into a small struct, not a map, and only RS256 is accepted: the algorithm
	// is pinned here, never taken from the token.
	sc := v.scratch.Get().(*jwtScratch)
	defer v.scratch.Put(sc)
	var hdr struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := sc.decodeJSON(hdrSeg, &hdr); err != nil {
		return fmt.Errorf("%w: jwt header: %v", ErrNoMatchingSignature, err)
	}
	if hdr.Alg != jwt.SigningMethodRS256.Alg() {
		return fmt.Errorf("%w: jwt alg %.16q is not RS256", ErrNoMatchingSignature, hdr.Alg)
	}
	if hdr.Crit != nil {
		return fmt.Errorf("%w: jwt critical header extensions are not supported", ErrNoMatchingSignature)
	}
	var claims tokenClaims
	if err := sc.decodeJSON(claimSeg, &claims); err != nil {
		return fmt.Errorf("%w: jwt claims: %v", ErrNoMatchingSignature, err)
	}
	// Cheap checks before any key lookup or RSA operation.
	if err := v.checkClaims(h, ts, &claims, body); err != nil {
		return err
	}
	sig, err := sc.decode(&sc.sig, sigSeg)
	if err != nil {
		return fmt.Errorf("%w: jwt signature is not base64url", ErrNoMatchingSignature)
	}
	sc.src = append(sc.src[:0], signed...)
	digest := sha256.Sum256(sc.src)
	keys, err := v.keys.Keys(ctx)
	if err != nil {
		return err
	}
	if hdr.Kid == "" {
		found := false
		for _, k := range keys {
			if pub, ok := k.Key.(*rsa.PublicKey); ok {
				found = true
				if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil {
					return nil
				}
			}
		}
		if !found {
			return fmt.Errorf("%w: jwt has no kid and the set holds no RSA key", ErrUnknownKey)
		}
		return fmt.Errorf("%w: jwt without kid matches no RSA key", ErrNoMatchingSignature)
	}
	k, ok := findKID(keys, hdr.Kid)
	if !ok {
		// An unknown kid may be a rotated key: the set decides whether to fetch again.
		if keys, err = v.keys.Refresh(ctx); err != nil {
			return err
		}
		if k, ok = findKID(keys, hdr.Kid); !ok {
			return fmt.Errorf("%w: kid %.64q", ErrUnknownKey, hdr.Kid)
		}
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

// findKID returns the first key with the given kid.
func findKID(keys []PublicKey, kid string) (PublicKey, bool) {
	for _, k := range keys {
		if k.KID == kid {
			return k, true
		}
	}
	return PublicKey{}, false
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
func (v *Verifier) checkClaims(h http.Header, ts string, c *tokenClaims, body []byte) error {
	now := v.now()
	if c.ExpiresAt.set && !now.Before(c.ExpiresAt.t.Add(v.leeway)) {
		return fmt.Errorf("%w: jwt expired", ErrStaleTimestamp)
	}
	if c.NotBefore.set && now.Add(v.leeway).Before(c.NotBefore.t) {
		return fmt.Errorf("%w: jwt not valid yet", ErrStaleTimestamp)
	}
	if c.IssuedAt.set && now.Add(v.leeway).Before(c.IssuedAt.t) {
		return fmt.Errorf("%w: jwt issued in the future", ErrStaleTimestamp)
	}
	if len(v.audience) > 0 && !c.Audience.containsAny(v.audience) {
		return fmt.Errorf("%w: jwt audience is not a configured one", ErrNoMatchingSignature)
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return fmt.Errorf("%w: jwt issuer is not the configured one", ErrNoMatchingSignature)
	}
	// Freshness must come from signed data: exp, or a webhook_timestamp claim that equals the checked
	// header. The header alone is not signed, so a captured token without either could be replayed
	// for ever under a fresh webhook-timestamp.
	if !c.ExpiresAt.set && c.WebhookTimestamp == "" {
		return fmt.Errorf("%w: jwt has neither an exp nor a webhook_timestamp claim bounds the token's life", ErrNoMatchingSignature)
	}
	if c.WebhookID != "" && c.WebhookID != headerValue(h, canonID, HeaderID) {
		return fmt.Errorf("%w: jwt webhook_id does not match %s", ErrNoMatchingSignature, HeaderID)
	}
	if c.WebhookTimestamp != "" && string(c.WebhookTimestamp) != ts {
		return fmt.Errorf("%w: jwt webhook_timestamp does not match %s", ErrNoMatchingSignature, headerTimestamp)
	}
	if c.BodySHA256 != "" {
		claim := trimPadding(c.BodySHA256)
		var want [sha256.Size]byte
		if len(claim) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
			return fmt.Errorf("%w: jwt body_sha256 is not a base64url SHA-256", ErrNoMatchingSignature)
		}
		n, err := base64.RawURLEncoding.Decode(want[:], []byte(claim))
		sum := sha256.Sum256(body)
		if err != nil || n != sha256.Size || subtle.ConstantTimeCompare(want[:], sum[:]) != 1 {
			return fmt.Errorf("%w: jwt body_sha256 does not match the body", ErrNoMatchingSignature)
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
