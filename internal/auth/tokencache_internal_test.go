package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// TestVerifiedTokens_Bounded: the cache never holds more than maxVerifiedTokens
// entries, keeps the newest, and forgets on request.
func TestVerifiedTokens_Bounded(t *testing.T) {
	var v verifiedTokens
	key := func(i int) [sha256.Size]byte {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		return sha256.Sum256(b[:])
	}
	for i := range maxVerifiedTokens + 100 {
		v.put(key(i), verifiedToken{kid: "k"})
	}
	if n := len(v.m); n != maxVerifiedTokens {
		t.Errorf("%d entries; want %d", n, maxVerifiedTokens)
	}
	last := key(maxVerifiedTokens + 99)
	if _, ok := v.get(last); !ok {
		t.Error("the newest entry was evicted")
	}
	v.forget(last)
	if _, ok := v.get(last); ok {
		t.Error("forget left the entry")
	}
}
