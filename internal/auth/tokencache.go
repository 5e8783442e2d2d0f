package auth

import (
	"crypto/sha256"
	"sync"
)

// maxVerifiedTokens bounds the verified-token cache: at most this many entries of
// a few hundred bytes each.
const maxVerifiedTokens = 16384

// verifiedTokens remembers the tokens whose signature and claims parseToken has
// verified, keyed by the SHA-256 of the token, so that a client presenting its
// token again (every reconnect, every connection of a storm) costs a hash and a
// lookup instead of an RSA verification and a JSON decoding: together about 30%
// of herald's CPU per WebSocket connect (issue 7). Keying by hash keeps the lookup
// free of any timing signal about a stored token's bytes.
//
// What can change after verification is checked again on every hit: the expiry
// against the clock, and the signing key (removed, or past its NotAfter).
// Sessions and revocations were never part of parseToken and are checked by its
// callers as before. Only successful verifications are stored.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	ref tokenRef
	kid string
}

func (v *verifiedTokens) get(h [sha256.Size]byte) (verifiedToken, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[h]
	return e, ok
}

// put stores e, first dropping an arbitrary entry when the cache is full (a full
// cache means more distinct live tokens than it holds; which one goes matters
// little, each costs one verification to come back).
func (v *verifiedTokens) put(h [sha256.Size]byte, e verifiedToken) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[[sha256.Size]byte]verifiedToken)
	}
	if _, ok := v.m[h]; !ok && len(v.m) >= maxVerifiedTokens {
		for k := range v.m {
			delete(v.m, k)
			break
		}
	}
	v.m[h] = e
}

// forget drops h (its token failed a re-check).
func (v *verifiedTokens) forget(h [sha256.Size]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, h)
}
