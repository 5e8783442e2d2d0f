package auth_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{name: "ErrEmpty", pw: ""},
		{name: "ErrFiveChars", pw: "12345"},
		{name: "six chars", pw: "123456", ok: true},
		{name: "72 bytes", pw: strings.Repeat("x", 72), ok: true},
		{name: "ErrTooLong", pw: strings.Repeat("x", 73)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := auth.ValidatePassword(tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidatePassword(%d bytes) = %v; want ok %v", len(tc.pw), err, tc.ok)
			}
			if err != nil && vcd.CodeOf(err) != vcd.CodeInvalid {
				t.Errorf("CodeOf(%v) = %q; want invalid", err, vcd.CodeOf(err))
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	a := auth.New(auth.Config{PasswordCost: 4}, newFakeDir(), vcd.Site{}, nil)
	long := strings.Repeat("p", 72)
	hash, err := a.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	longHash, err := a.HashPassword(long)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$2a$04$") {
		t.Errorf("hash = %q; want bcrypt at cost 4", hash)
	}
	if again, _ := a.HashPassword("correct horse"); again == hash {
		t.Error("two hashes of one password are equal; want random salts")
	}
	tests := []struct {
		name string
		hash string
		pw   string
		want bool
	}{
		{name: "match", hash: hash, pw: "correct horse", want: true},
		{name: "ErrOtherPassword", hash: hash, pw: "correct horsE"},
		{name: "ErrPrefix", hash: hash, pw: "correct hors"},
		{name: "ErrEmpty", hash: hash, pw: ""},
		{name: "ErrMalformedHash", hash: "not a hash", pw: "correct horse"},
		{name: "ErrEmptyHash", hash: "", pw: ""},
		{name: "72 bytes", hash: longHash, pw: long, want: true},
		// bcrypt reads only 72 bytes; a longer password must not match by its prefix.
		{name: "ErrBeyond72Bytes", hash: longHash, pw: long + "extra"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.CheckPassword(tc.hash, tc.pw); got != tc.want {
				t.Errorf("CheckPassword(%.10q, %.10q) = %v; want %v", tc.hash, tc.pw, got, tc.want)
			}
		})
	}
	if _, err := a.HashPassword(long + "x"); vcd.CodeOf(err) != vcd.CodeInvalid {
		t.Errorf("HashPassword(73 bytes) = %v; want invalid", err)
	}
	bad := auth.New(auth.Config{PasswordCost: 3}, newFakeDir(), vcd.Site{}, nil)
	if _, err := bad.HashPassword("secret"); err == nil {
		t.Error("HashPassword at cost 3 succeeded; want an error")
	}
}

// The Authenticator hashes at its configured cost; the default is DefaultPasswordCost
// (12), as auth.HashPassword uses. This example lowers it to 4 to run fast.
func ExampleAuthenticator_HashPassword() {
	a := auth.New(auth.Config{PasswordCost: 4}, nil, vcd.Site{}, nil)
	hash, err := a.HashPassword("s3cret-passw0rd")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hash[:7]) // bcrypt, cost 4
	fmt.Println(auth.CheckPassword(hash, "s3cret-passw0rd"))
	fmt.Println(auth.CheckPassword(hash, "guess"))
	// Output:
	// $2a$04$
	// true
	// false
}

func ExampleValidatePassword() {
	fmt.Println(auth.ValidatePassword("12345"))
	fmt.Println(auth.ValidatePassword("123456"))
	// Output:
	// invalid: The password must have at least 6 characters.
	// <nil>
}
