package signing

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// PublicKey is one verification key of a key set.
type PublicKey struct {
	KID string
	Key crypto.PublicKey // *rsa.PublicKey or ed25519.PublicKey
}

// KeySet supplies the public keys that verify dynamic (webhook_config) deliveries: NewRemoteKeySet
// fetches Gemini's, NewStaticKeySet holds a pinned copy, and any other implementation is used alike.
//
// A Verifier calls Keys for each "v1a" or "jwt" verification, and Refresh only when a signature
// matched none of those keys: a JWT whose kid is not among them, or a "v1a" entry (which names no key)
// that none verifies. Refresh is how any key set picks up a rotated key; since forged deliveries call
// it too, a set that fetches must bound how often it does (RemoteKeySet: once per RefetchCooldown).
type KeySet interface {
	// Keys returns the current keys. The slice is shared: callers must not modify it.
	Keys(ctx context.Context) ([]PublicKey, error)
	// Refresh may fetch the keys again, and returns the keys then current. It returns the very slice
	// Keys returned when nothing changed, which spares the verifier a second try; a set that never
	// changes returns its keys.
	Refresh(ctx context.Context) ([]PublicKey, error)
}

// RSA keys outside these bounds are refused: small ones are weak, huge ones make verification a
// denial-of-service lever.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// checkKey validates a key's type and strength.
func checkKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("signing: nil RSA key")
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return fmt.Errorf("signing: RSA key of %d bits, want %d to %d", bits, minRSABits, maxRSABits)
		}
		if k.E < 3 || k.E%2 == 0 || k.E > 1<<31-1 {
			return errors.New("signing: RSA key with an unusable exponent")
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("signing: Ed25519 key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return nil
	default:
		return fmt.Errorf("signing: unsupported key type %T", k)
	}
}

// staticKeySet is a KeySet that never changes.
type staticKeySet struct{ keys []PublicKey }

func (s *staticKeySet) Keys(context.Context) ([]PublicKey, error)    { return s.keys, nil }
func (s *staticKeySet) Refresh(context.Context) ([]PublicKey, error) { return s.keys, nil }

// NewStaticKeySet returns a key set that holds the usable keys of a JWKS document ({"keys":[...]}),
// such as a pinned copy of Gemini's, a file saved from the emulator, or MarshalJWKS's output in a
// test. Keys of another type, algorithm or use are skipped, as are RSA keys outside [2048, 8192]
// bits or with an unusable exponent, Ed25519 keys of the wrong size, and a second key with a kid
// already seen (the first wins, so a later entry cannot shadow it). It fails if the document is
// larger than 1 MiB, is not a JWKS document, or holds no usable key.
func NewStaticKeySet(jwks []byte) (KeySet, error) {
	keys, err := parseJWKS(jwks)
	if err != nil {
		return nil, err
	}
	return &staticKeySet{keys: keys}, nil
}

// keySnapshot is an immutable set of keys, as fetched at one time.
type keySnapshot struct {
	keys       []PublicKey
	expires    time.Time // fresh until then
	staleUntil time.Time // then used while a refresh runs, until this
}

// jwk is the JSON form of one key (RFC 7517, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
}

// MarshalJWKS encodes keys as a JWKS document {"keys":[...]}, as served at a JWKS URL: RSA keys as kty
// RSA alg RS256, Ed25519 keys as kty OKP crv Ed25519. Each key must be an *rsa.PublicKey of 2048 to
// 8192 bits or an ed25519.PublicKey, and kids must be unique where set.
func MarshalJWKS(keys ...PublicKey) ([]byte, error) {
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if err := checkKey(k.Key); err != nil {
			return nil, fmt.Errorf("signing: key %d: %w", i+1, err)
		}
		if k.KID != "" {
			if seen[k.KID] {
				return nil, fmt.Errorf("signing: key %d: kid %q given twice", i+1, k.KID)
			}
			seen[k.KID] = true
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			doc.Keys = append(doc.Keys, jwk{Kty: "RSA", Kid: k.KID, Use: "sig", Alg: "RS256",
				N: b64url(pub.N.Bytes()), E: b64url(big.NewInt(int64(pub.E)).Bytes())})
		case ed25519.PublicKey:
			doc.Keys = append(doc.Keys, jwk{Kty: "OKP", Kid: k.KID, Use: "sig", Alg: "EdDSA", Crv: "Ed25519",
				X: b64url(pub)})
		}
	}
	return json.Marshal(doc)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decodeB64URL accepts base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// maxJWKSBytes (1 MiB) bounds a JWKS document: NewStaticKeySet refuses a larger one, and a
// RemoteKeySet reads no more than this from its endpoint. Gemini's is a few kilobytes.
const maxJWKSBytes = 1 << 20

// errInvalidJWKS prefixes the errors of parseJWKS.
var errInvalidJWKS = errors.New("signing: invalid jwks")

// parseJWKS decodes a JWKS document defensively, because a key set decides what gets trusted; see
// NewStaticKeySet for what it skips. It fails, with an error wrapping errInvalidJWKS, only if the
// document is larger than maxJWKSBytes, is not a JWKS document, or holds no usable key.
func parseJWKS(data []byte) ([]PublicKey, error) {
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", errInvalidJWKS, maxJWKSBytes)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidJWKS, err)
	}
	keys := make([]PublicKey, 0, len(doc.Keys))
	seen := make(map[string]bool, len(doc.Keys))
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, ok := k.publicKey()
		if !ok || checkKey(pub) != nil {
			continue
		}
		if k.Kid != "" {
			if seen[k.Kid] {
				continue // the first key with a kid wins; a later duplicate cannot shadow it
			}
			seen[k.Kid] = true
		}
		keys = append(keys, PublicKey{KID: k.Kid, Key: pub})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no usable key", errInvalidJWKS)
	}
	return keys, nil
}

func (k *jwk) publicKey() (crypto.PublicKey, bool) {
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != "RS256" {
			return nil, false
		}
		n, err := decodeB64URL(k.N)
		if err != nil || len(n) == 0 || len(n) > maxRSABits/8 {
			return nil, false
		}
		e, err := decodeB64URL(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, false
		}
		var exp int64
		for _, b := range e {
			exp = exp<<8 | int64(b)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, true
	case "OKP":
		if k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != "EdDSA" && k.Alg != "Ed25519") {
			return nil, false
		}
		x, err := decodeB64URL(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, false
		}
		return ed25519.PublicKey(x), true
	}
	return nil, false
}
