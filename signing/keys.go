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

// KeySet supplies the public keys for dynamic webhooks. RemoteKeySet fetches Gemini's JWKS;
// StaticKeySet holds pinned keys.
type KeySet interface {
	// Keys returns every key of the set. The slice is shared: callers must not modify it.
	Keys(ctx context.Context) ([]PublicKey, error)
	// Key returns the key with the given kid, or an error wrapping ErrUnknownKey.
	Key(ctx context.Context, kid string) (PublicKey, error)
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

// StaticKeySet is a fixed KeySet, for tests and pinned keys.
type StaticKeySet struct {
	snap *keySnapshot
}

// NewStaticKeySet returns a key set holding keys. Each must be an *rsa.PublicKey of at least 2048 bits
// or an ed25519.PublicKey; kids must be unique where set.
func NewStaticKeySet(keys ...PublicKey) (*StaticKeySet, error) {
	for i, k := range keys {
		if err := checkKey(k.Key); err != nil {
			return nil, fmt.Errorf("signing: key %d: %w", i+1, err)
		}
	}
	snap, err := newSnapshot(keys)
	if err != nil {
		return nil, err
	}
	return &StaticKeySet{snap: snap}, nil
}

// Keys implements KeySet.
func (s *StaticKeySet) Keys(context.Context) ([]PublicKey, error) { return s.snap.keys, nil }

// Key implements KeySet.
func (s *StaticKeySet) Key(_ context.Context, kid string) (PublicKey, error) {
	if k, ok := s.snap.byKID[kid]; ok {
		return k, nil
	}
	return PublicKey{}, fmt.Errorf("%w: kid %.64q", ErrUnknownKey, kid)
}

// keySnapshot is an immutable set of keys with an index by kid.
type keySnapshot struct {
	keys    []PublicKey
	byKID   map[string]PublicKey
	expires time.Time // zero in a StaticKeySet
}

func newSnapshot(keys []PublicKey) (*keySnapshot, error) {
	s := &keySnapshot{keys: append([]PublicKey(nil), keys...), byKID: make(map[string]PublicKey, len(keys))}
	for _, k := range keys {
		if k.KID == "" {
			continue
		}
		if _, dup := s.byKID[k.KID]; dup {
			return nil, fmt.Errorf("signing: duplicate kid %q", k.KID)
		}
		s.byKID[k.KID] = k
	}
	return s, nil
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

// MarshalJWKS encodes keys as a JWKS document {"keys":[...]}: RSA keys as kty RSA alg RS256, Ed25519
// keys as kty OKP crv Ed25519.
func MarshalJWKS(keys ...PublicKey) ([]byte, error) {
	doc := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for i, k := range keys {
		if err := checkKey(k.Key); err != nil {
			return nil, fmt.Errorf("signing: key %d: %w", i+1, err)
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

// MaxJWKSBytes (1 MiB) bounds a JWKS document: ParseJWKS refuses a larger one, and a RemoteKeySet
// reads no more than this from its endpoint. Gemini's is a few kilobytes.
const MaxJWKSBytes = 1 << 20

// ParseJWKS decodes a JWKS document ({"keys":[...]}) such as Gemini's, or one printed by MarshalJWKS,
// into keys for NewStaticKeySet. It is defensive, because a key set decides what gets trusted: keys of
// another type, algorithm or use are skipped, as are RSA keys outside [2048, 8192] bits or with an
// unusable exponent, Ed25519 keys of the wrong size, and a second key with a kid already seen (the
// first wins, so a later entry cannot shadow it). It fails, with an error wrapping ErrInvalidJWKS,
// only if the document is larger than MaxJWKSBytes, is not a JWKS document, or holds no usable key.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidJWKS, MaxJWKSBytes)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidJWKS, err)
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
		return nil, fmt.Errorf("%w: no usable key", ErrInvalidJWKS)
	}
	return keys, nil
}

// NewStaticKeySetFromJWKS returns a key set holding the usable keys of a JWKS document, parsed by
// ParseJWKS: a pinned copy of Gemini's keys, or a local file for development.
func NewStaticKeySetFromJWKS(data []byte) (*StaticKeySet, error) {
	keys, err := ParseJWKS(data)
	if err != nil {
		return nil, err
	}
	return NewStaticKeySet(keys...)
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
