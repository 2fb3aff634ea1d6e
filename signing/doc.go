// Package signing verifies, and for the emulator and tests produces, the signatures of Gemini API
// webhook deliveries: "v1" HMAC-SHA256 with a registered webhook's secret, and "v1a" Ed25519 or an
// RS256 JWT with keys from Gemini's JWKS for dynamic (webhook_config) webhooks. One Verifier routes
// each webhook-signature entry to its scheme, never copies the body, and bounds the timestamp.
//
//	keys, err := signing.NewRemoteKeySet(signing.GeminiJWKSURL, nil)
//	...
//	v, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}, Keys: keys})
//	...
//	scheme, err := v.Verify(r.Context(), r.Header, body) // "v1", "v1a" or "jwt"
package signing
