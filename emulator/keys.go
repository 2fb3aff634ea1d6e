package emulator

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"

	"github.com/geminihooks/geminihooks/signing"
)

// keyring holds the dynamic-signing keys. The RSA key is made on first use:
// generating one costs tens of milliseconds, more under -race, and most
// servers in a test suite never sign a JWT.
type keyring struct {
	edKey ed25519.PrivateKey
	edKID string

	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaKID  string
	rsaErr  error
}

func newKeyring() (*keyring, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator: generate ed25519 key: %w", err)
	}
	kid, err := keyID("ed25519", pub)
	if err != nil {
		return nil, err
	}
	return &keyring{edKey: priv, edKID: kid}, nil
}

func (k *keyring) rsa() (*rsa.PrivateKey, string, error) {
	k.rsaOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			k.rsaErr = fmt.Errorf("emulator: generate rsa key: %w", err)
			return
		}
		k.rsaKey = key
		k.rsaKID, k.rsaErr = keyID("rsa", &key.PublicKey)
	})
	return k.rsaKey, k.rsaKID, k.rsaErr
}

// keyID derives a stable kid from the public key.
func keyID(prefix string, pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("emulator: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return prefix + "-" + hex.EncodeToString(sum[:8]), nil
}

// PublicKeys returns the keys that sign dynamic (webhook_config) deliveries,
// the same ones served at JWKSURL: an RSA key for RS256 JWTs and an Ed25519
// key for v1a signatures, each with its kid. Feed them to
// signing.MarshalJWKS and signing.NewStaticKeySet to verify without fetching
// the JWKS.
func (s *Server) PublicKeys() ([]signing.PublicKey, error) {
	rk, rkid, err := s.keys.rsa()
	if err != nil {
		return nil, err
	}
	return []signing.PublicKey{
		{KID: rkid, Key: &rk.PublicKey},
		{KID: s.keys.edKID, Key: s.keys.edKey.Public()},
	}, nil
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, errMethodNotFound)
		return
	}
	keys, err := s.PublicKeys()
	var b []byte
	if err == nil {
		b, err = signing.MarshalJWKS(keys...)
	}
	if err != nil {
		s.cfg.Logger.Error("emulator: jwks", "err", err)
		writeError(w, &apiError{Code: http.StatusInternalServerError, Status: "INTERNAL", Message: "Internal error encountered."})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}
