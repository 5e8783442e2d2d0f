package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSplitName(t *testing.T) {
	tests := []struct {
		in, user, org string
		ok            bool
	}{
		{"alice@acme", "alice", "acme", true},
		{"bob@corp.example@acme", "bob@corp.example", "acme", true}, // split at the last @ (§1.1)
		{"alice", "", "", false},
		{"@acme", "", "", false},
		{"alice@", "", "", false},
	}
	for _, tc := range tests {
		user, org, ok := SplitName(tc.in)
		if user != tc.user || org != tc.org || ok != tc.ok {
			t.Errorf("SplitName(%q) = %q, %q, %v; want %q, %q, %v", tc.in, user, org, ok, tc.user, tc.org, tc.ok)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","exp":1741944413}`))
	got, err := TokenExpiry("e30." + payload + ".sig")
	if want := time.Unix(1741944413, 0).UTC(); err != nil || !got.Equal(want) {
		t.Errorf("TokenExpiry = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "e30.e30.c"} {
		if _, err := TokenExpiry(bad); err == nil {
			t.Errorf("TokenExpiry(%q): no error", bad)
		}
	}
}

func TestError_IsUnauthorized(t *testing.T) {
	wrapped := fmt.Errorf("orgs: %w", &Error{Status: 401, MinorErrorCode: "NOT_AUTHENTICATED"})
	if !errors.Is(wrapped, ErrUnauthorized) {
		t.Error("a wrapped 401 is not ErrUnauthorized")
	}
	if errors.Is(&Error{Status: 403}, ErrUnauthorized) {
		t.Error("a 403 is ErrUnauthorized")
	}
}
