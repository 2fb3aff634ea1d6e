package signing

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// defaultJWTLifetime is how long after its timestamp a Signer's JWT expires.
const defaultJWTLifetime = 5 * time.Minute

// Signer signs deliveries as Gemini does, for the emulator and for tests. Set the key of each scheme
// to sign in; Sign writes one webhook-signature entry per key.
type Signer struct {
	// Secrets sign "v1" (HMAC-SHA256) entries, one per secret, as Gemini signs a registered webhook's
	// deliveries: with two secrets during the 24 hours after a rotation.
	Secrets []string
	// Ed25519 signs a "v1a" entry, as Gemini signs a dynamic (webhook_config) delivery.
	Ed25519 ed25519.PrivateKey
	// RSA signs an RS256 JWT entry whose claims bind it to the delivery: webhook_id,
	// webhook_timestamp, body_sha256, iat (the timestamp) and exp.
	RSA *rsa.PrivateKey
	// KID names the RSA key in the JWT's header. Default: no kid, and a verifier tries every RSA key.
	KID string
	// Issuer and Audience are the JWT's iss and aud claims. Default: none.
	Issuer, Audience string
	// Lifetime is how long after the timestamp the JWT expires. Default: 5 minutes.
	Lifetime time.Duration
}

// Sign sets h's webhook-id header to id, its webhook-timestamp header to ts in unix seconds, and its
// webhook-signature header to the entries of every key of s over id, ts and body, space-separated.
func (s Signer) Sign(h http.Header, id string, ts time.Time, body []byte) error {
	if len(s.Secrets) == 0 && s.Ed25519 == nil && s.RSA == nil {
		return errors.New("signing: Signer has no Secrets, Ed25519 or RSA key")
	}
	if s.Ed25519 != nil && len(s.Ed25519) != ed25519.PrivateKeySize {
		return fmt.Errorf("signing: Signer.Ed25519 is %d bytes, need %d", len(s.Ed25519), ed25519.PrivateKeySize)
	}
	if s.Lifetime < 0 {
		return fmt.Errorf("signing: Signer.Lifetime is %s, need a positive duration", s.Lifetime)
	}
	sigs := make([]string, 0, len(s.Secrets)+2)
	for i, secret := range s.Secrets {
		sig, err := signHMAC(secret, id, ts, body)
		if err != nil {
			return fmt.Errorf("signing: Signer.Secrets[%d] %w", i, err)
		}
		sigs = append(sigs, sig)
	}
	if s.Ed25519 != nil {
		sigs = append(sigs, signEd25519(s.Ed25519, id, ts, body))
	}
	if s.RSA != nil {
		tok, err := signJWT(s.RSA, s.KID, jwtClaims{
			Issuer:           s.Issuer,
			Audience:         s.Audience,
			IssuedAt:         ts,
			Expiry:           ts.Add(or(s.Lifetime, defaultJWTLifetime)),
			WebhookID:        id,
			WebhookTimestamp: formatTimestamp(ts),
			BodySHA256:       bodySHA256(body),
		})
		if err != nil {
			return err
		}
		sigs = append(sigs, tok)
	}
	h.Set(HeaderID, id)
	h.Set(headerTimestamp, formatTimestamp(ts))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return nil
}

// signEd25519 returns the "v1a,<base64>" entry of a delivery signed with an Ed25519 key. The signed
// content is id "." ts "." body.
func signEd25519(key ed25519.PrivateKey, id string, ts time.Time, body []byte) string {
	msg := appendSignedPrefix(make([]byte, 0, len(id)+len(body)+24), id, formatTimestamp(ts))
	msg = append(msg, body...)
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
}

// jwtClaims are the claims signJWT puts in a webhook JWT. Empty strings and zero times are left out.
type jwtClaims struct {
	Issuer   string
	Audience string
	IssuedAt time.Time
	Expiry   time.Time
	// WebhookID, WebhookTimestamp and BodySHA256 bind the token to one delivery: the webhook-id header,
	// the webhook-timestamp header (decimal seconds) and bodySHA256 of the raw body.
	WebhookID        string
	WebhookTimestamp string
	BodySHA256       string
}

// bodySHA256 returns the base64url (unpadded) SHA-256 of a raw body, the body_sha256 claim.
func bodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// signedClaims is what signJWT encodes, with the jwt package's registered claim types; verification
// decodes tokens with its own lighter tokenClaims.
type signedClaims struct {
	jwt.RegisteredClaims
	WebhookID        string `json:"webhook_id,omitempty"`
	WebhookTimestamp string `json:"webhook_timestamp,omitempty"`
	BodySHA256       string `json:"body_sha256,omitempty"`
}

// signJWT returns a compact RS256 JWT, with kid in its header when set.
func signJWT(key *rsa.PrivateKey, kid string, c jwtClaims) (string, error) {
	wc := signedClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: c.Issuer},
		WebhookID:        c.WebhookID,
		WebhookTimestamp: c.WebhookTimestamp,
		BodySHA256:       c.BodySHA256,
	}
	if c.Audience != "" {
		wc.Audience = jwt.ClaimStrings{c.Audience}
	}
	if !c.IssuedAt.IsZero() {
		wc.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	if !c.Expiry.IsZero() {
		wc.ExpiresAt = jwt.NewNumericDate(c.Expiry)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, wc)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing: sign jwt: %w", err)
	}
	return s, nil
}
