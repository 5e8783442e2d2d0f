package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/heraldmq/herald/internal/vcd"
)

// DefaultPasswordCost is the bcrypt cost HashPassword uses and Config.PasswordCost
// defaults to: about a quarter of a second per hash on current hardware.
const DefaultPasswordCost = 12

// Password length limits, in bytes. The minimum is VCD's (VCD-COMPAT §5.2); the maximum
// is bcrypt's, which ignores anything beyond it.
const (
	MinPasswordLen = 6
	MaxPasswordLen = 72
)

// ValidatePassword reports whether pw is acceptable as a new password: at least
// MinPasswordLen and at most MaxPasswordLen bytes. The error is vcd.CodeInvalid with a
// client-safe message.
func ValidatePassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return vcd.Errorf(vcd.CodeInvalid, "The password must have at least %d characters.", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return vcd.Errorf(vcd.CodeInvalid, "The password must have at most %d bytes.", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the bcrypt hash of pw at DefaultPasswordCost, in bcrypt's
// self-describing "$2a$12$..." form. It fails (vcd.CodeInvalid) for a password longer
// than MaxPasswordLen bytes. It does not apply the minimum length: see ValidatePassword.
func HashPassword(pw string) (string, error) { return hashPassword(pw, DefaultPasswordCost) }

// HashPassword is HashPassword at the Authenticator's Config.PasswordCost.
func (a *Authenticator) HashPassword(pw string) (string, error) {
	return hashPassword(pw, a.cfg.PasswordCost)
}

func hashPassword(pw string, cost int) (string, error) {
	if len(pw) > MaxPasswordLen {
		return "", vcd.Errorf(vcd.CodeInvalid, "The password must have at most %d bytes.", MaxPasswordLen)
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("hash password: cost %d out of range [%d, %d]", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches hash, a result of HashPassword. The
// comparison takes the same time however much of pw matches. It reports false for a
// malformed hash and for a password longer than MaxPasswordLen (bcrypt would compare
// only its first MaxPasswordLen bytes).
func CheckPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordLen {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// checkPassword is CheckPassword that spends a hash's worth of time even when hash is
// malformed or absent, so that a login's duration does not tell whether the user exists.
func (a *Authenticator) checkPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordLen {
		a.dummyCheck(pw[:MaxPasswordLen])
		return false
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	if err == nil {
		return true
	}
	if !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		a.dummyCheck(pw)
	}
	return false
}

// dummyCheck runs a password comparison against a hash that matches no password, at the
// configured cost, so that a failure for an unknown user takes as long as a wrong password.
func (a *Authenticator) dummyCheck(pw string) {
	a.dummyOnce.Do(func() {
		var b [18]byte
		_, _ = rand.Read(b[:])
		h, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(b[:])), a.cfg.PasswordCost)
		if err == nil {
			a.dummyHash = h
		}
	})
	if a.dummyHash != nil {
		_ = bcrypt.CompareHashAndPassword(a.dummyHash, []byte(pw))
	}
}
