package signing

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignEd25519 signs a delivery with an Ed25519 key and returns the "v1a,<base64>" entry for the
// webhook-signature header. The signed content is id "." FormatTimestamp(ts) "." body.
func SignEd25519(key ed25519.PrivateKey, id string, ts time.Time, body []byte) string {
	msg := appendSignedPrefix(make([]byte, 0, len(id)+len(body)+24), id, FormatTimestamp(ts))
	msg = append(msg, body...)
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
}

// JWTClaims are the claims SignJWT puts in a webhook JWT. Empty strings and zero times are left out.
type JWTClaims struct {
	Issuer   string
	Audience string
	IssuedAt time.Time
	Expiry   time.Time
	// WebhookID, WebhookTimestamp and BodySHA256 bind the token to one delivery: the webhook-id header,
	// the webhook-timestamp header (decimal seconds) and BodySHA256 of the raw body.
	WebhookID        string
	WebhookTimestamp string
	BodySHA256       string
}

// BodySHA256 returns the base64url (unpadded) SHA-256 of a raw body, the body_sha256 claim.
func BodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// signedClaims is what SignJWT encodes, with the jwt package's registered claim types; verification
// decodes tokens with its own lighter tokenClaims.
type signedClaims struct {
	jwt.RegisteredClaims
	WebhookID        string `json:"webhook_id,omitempty"`
	WebhookTimestamp string `json:"webhook_timestamp,omitempty"`
	BodySHA256       string `json:"body_sha256,omitempty"`
}

// SignJWT returns a compact RS256 JWT, with kid in its header, for use as the whole webhook-signature
// header value.
func SignJWT(key *rsa.PrivateKey, kid string, c JWTClaims) (string, error) {
	if key == nil {
		return "", errors.New("signing: nil RSA key")
	}
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
