// Package signing verifies and signs Gemini API webhook deliveries in every scheme Gemini uses:
// "v1" HMAC-SHA256 with a registered webhook's signing secret, and, for dynamic (webhook_config)
// webhooks, "v1a" Ed25519 or an RS256 JWT with keys from Gemini's JWKS (see RemoteKeySet, or
// NewStaticKeySetFromJWKS for a pinned copy).
//
// NewVerifier builds one Verifier for a listener that receives both kinds; it routes each entry of the
// webhook-signature header by its form. Verification never copies the body into the MAC, reads every
// header line, compares in constant time and bounds the timestamp in both directions.
//
//	keys := signing.NewRemoteKeySet(signing.GeminiJWKSURL)
//	go keys.Run(ctx) // optional: refresh ahead of expiry until ctx ends
//	v, err := signing.NewVerifier(signing.Config{
//		Secrets: []string{os.Getenv("GEMINI_WEBHOOK_SECRET")},
//		KeySet:  keys,
//	})
//	...
//	scheme, err := v.VerifyScheme(r.Context(), r.Header, body)
//
// Signers (SignHMAC, SignEd25519, SignJWT) serve the emulator and tests. The package is a leaf: it
// imports only the standard library, golang-jwt/jwt/v5 and x/sync.
package signing
