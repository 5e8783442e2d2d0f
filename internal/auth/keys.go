package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/vcd"
)

// keyBits is the size of generated signing keys; keys of fewer bits are refused.
const keyBits = 2048

// keyReloadInterval bounds how often a token naming an unknown kid makes the
// Authenticator reload the keys from the Directory, so that garbage tokens cannot turn
// into a flood of store reads.
const keyReloadInterval = time.Second

// signingKey is a parsed vcd.SigningKey.
type signingKey struct {
	kid      string
	priv     *rsa.PrivateKey
	created  time.Time
	notAfter time.Time
}

// keyring caches the parsed signing keys of the Directory.
//
// Lock order: rotateMu before mu.
type keyring struct {
	rotateMu sync.Mutex // serializes RotateKeys on this node

	mu         sync.RWMutex
	keys       map[string]*signingKey // by kid, unexpired when loaded
	signer     *signingKey            // the newest unexpired key
	lastReload time.Time              // of a reload caused by an unknown kid
}

// RotateKeys reloads the signing keys from the Directory and adds a new one when none
// is valid, when the newest is older than KeyLifetime, or when it would expire before
// a token signed now. Old keys keep verifying until their NotAfter, which is their
// creation plus KeyLifetime plus TokenLifetime, so no token outlives its key. Two nodes
// rotating at once each add a key; both verify everywhere and the newer one signs.
func (a *Authenticator) RotateKeys(ctx context.Context) error {
	a.keys.rotateMu.Lock()
	defer a.keys.rotateMu.Unlock()
	if err := a.loadKeys(ctx); err != nil {
		return err
	}
	now := a.now()
	a.keys.mu.RLock()
	signer := a.keys.signer
	a.keys.mu.RUnlock()
	if !a.needsRotation(signer, now) {
		return nil
	}
	k, err := a.newSigningKey(now)
	if err != nil {
		return err
	}
	if err := a.dir.AddSigningKey(ctx, k); err != nil {
		return storeError(err, "add signing key")
	}
	if err := a.loadKeys(ctx); err != nil {
		return err
	}
	a.logger.Info("signing key created", "kid", k.KID, "not_after", k.NotAfter)
	return nil
}

// needsRotation reports whether signer may not sign a token issued at now.
func (a *Authenticator) needsRotation(signer *signingKey, now time.Time) bool {
	return signer == nil ||
		!now.Before(signer.created.Add(a.cfg.KeyLifetime)) ||
		signer.notAfter.Before(now.Add(a.cfg.TokenLifetime))
}

// newSigningKey generates an RSA key and returns it as a vcd.SigningKey.
func (a *Authenticator) newSigningKey(now time.Time) (vcd.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return vcd.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return vcd.SigningKey{}, fmt.Errorf("marshal signing key: %w", err)
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return vcd.SigningKey{}, fmt.Errorf("generate kid: %w", err)
	}
	return vcd.SigningKey{
		KID:           "k-" + now.UTC().Format("20060102") + "-" + hex.EncodeToString(r[:]),
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Created:       now,
		NotAfter:      now.Add(a.cfg.KeyLifetime + a.cfg.TokenLifetime),
	}, nil
}

// loadKeys replaces the cache with the unexpired keys of the Directory, parsing only
// those not cached yet. A key that does not parse is logged and skipped.
func (a *Authenticator) loadKeys(ctx context.Context) error {
	stored, err := a.dir.SigningKeys(ctx)
	if err != nil {
		return storeError(err, "load signing keys")
	}
	now := a.now()
	a.keys.mu.RLock()
	old := a.keys.keys
	a.keys.mu.RUnlock()

	keys := make(map[string]*signingKey, len(stored))
	var signer *signingKey
	for _, sk := range stored {
		if !now.Before(sk.NotAfter) {
			continue
		}
		var priv *rsa.PrivateKey
		if k := old[sk.KID]; k != nil {
			priv = k.priv
		} else if priv, err = parseSigningKey(sk.PrivateKeyPEM); err != nil {
			a.logger.Warn("signing key unusable", "kid", sk.KID, "err", err)
			continue
		}
		// A new value rather than an update: readers hold the old one without a lock.
		k := &signingKey{kid: sk.KID, priv: priv, created: sk.Created, notAfter: sk.NotAfter}
		keys[sk.KID] = k
		if signer == nil || k.created.After(signer.created) {
			signer = k
		}
	}
	a.keys.mu.Lock()
	a.keys.keys, a.keys.signer = keys, signer
	a.keys.mu.Unlock()
	return nil
}

// parseSigningKey parses a PKCS#8 PEM RSA private key of at least keyBits bits.
func parseSigningKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("parse signing key: no PKCS#8 PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse signing key: %T is not an RSA key", k)
	}
	if rk.N.BitLen() < keyBits {
		return nil, fmt.Errorf("parse signing key: %d bits, want at least %d", rk.N.BitLen(), keyBits)
	}
	return rk, nil
}

// signer returns the key to sign a token issued at now, rotating first when needed.
func (a *Authenticator) signer(ctx context.Context, now time.Time) (*signingKey, error) {
	a.keys.mu.RLock()
	s := a.keys.signer
	a.keys.mu.RUnlock()
	if !a.needsRotation(s, now) {
		return s, nil
	}
	if err := a.RotateKeys(ctx); err != nil {
		return nil, err
	}
	a.keys.mu.RLock()
	s = a.keys.signer
	a.keys.mu.RUnlock()
	if s == nil {
		return nil, errors.New("no signing key")
	}
	return s, nil
}

// verifyKey returns the unexpired key named kid. A kid it does not know makes it reload
// the keys from the Directory, at most once per keyReloadInterval, so that a key created
// by another node verifies here too.
func (a *Authenticator) verifyKey(ctx context.Context, kid string, now time.Time) (*signingKey, error) {
	a.keys.mu.RLock()
	k := a.keys.keys[kid]
	a.keys.mu.RUnlock()
	if k == nil {
		a.keys.mu.Lock()
		reload := a.keys.lastReload.IsZero() || now.Sub(a.keys.lastReload) >= keyReloadInterval || now.Before(a.keys.lastReload)
		if reload {
			a.keys.lastReload = now
		}
		a.keys.mu.Unlock()
		if reload {
			if err := a.loadKeys(ctx); err != nil {
				return nil, err
			}
			a.keys.mu.RLock()
			k = a.keys.keys[kid]
			a.keys.mu.RUnlock()
		}
	}
	if k == nil {
		return nil, ErrUnknownKey
	}
	if !now.Before(k.notAfter) {
		return nil, fmt.Errorf("key expired: %w", ErrUnknownKey)
	}
	return k, nil
}
