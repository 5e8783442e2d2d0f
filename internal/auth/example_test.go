package auth_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/auth"
	"github.com/heraldmq/herald/internal/vcd"
)

// exampleAuthenticator returns an opened Authenticator over a fake directory holding
// alice@acme, with the test signing key and a fixed clock.
func exampleAuthenticator() (*auth.Authenticator, *testClock) {
	key, _ := readTestKey()
	dir := newFakeDir()
	dir.putOrg(vcd.Org{ID: acmeID, Name: "acme", Enabled: true})
	a := auth.New(auth.Config{PasswordCost: 4}, dir, vcd.Site{}, nil)
	hash, _ := a.HashPassword("alice-password")
	dir.putUser(vcd.User{ID: aliceID, OrgID: acmeID, Name: "alice", Role: vcd.RoleVAppAuthor, Enabled: true, PasswordHash: hash})
	_ = dir.AddSigningKey(context.Background(), vcd.SigningKey{KID: testKID, PrivateKeyPEM: key, Created: t0, NotAfter: t0.Add(1000 * time.Hour)})
	clock := &testClock{t: t0}
	a = auth.New(auth.Config{PasswordCost: 4, Now: clock.Now}, dir, vcd.Site{ID: testSiteID}, nil)
	if err := a.Open(context.Background()); err != nil {
		panic(err)
	}
	return a, clock
}

func ExampleAuthenticator_Login() {
	a, _ := exampleAuthenticator()
	ctx := context.Background()

	res, err := a.Login(ctx, "alice@acme", "alice-password", false, "192.0.2.1")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := a.Authenticate(ctx, res.JWT)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.UserName, p.OrgName, p.Role, p.Level == vcd.LevelUser)

	_, err = a.Login(ctx, "alice@acme", "wrong", false, "192.0.2.1")
	var le *auth.LoginError
	fmt.Println(vcd.MessageOf(err), errors.Is(err, auth.ErrBadCredentials), errors.As(err, &le) && le.UserID == aliceID)
	// Output:
	// alice acme vApp Author true
	// Authentication failed. true true
}

func ExampleAuthenticator_Logout() {
	a, _ := exampleAuthenticator()
	ctx := context.Background()
	res, _ := a.Login(ctx, "alice@acme", "alice-password", false, "")
	_ = a.Logout(ctx, res.Session.ID)
	_, err := a.Authenticate(ctx, res.JWT)
	fmt.Println(vcd.CodeOf(err), errors.Is(err, auth.ErrRevoked))
	// Output:
	// unauthorized true
}

func ExampleAuthenticator_ExchangeAPIToken() {
	a, _ := exampleAuthenticator()
	ctx := context.Background()
	login, _ := a.Login(ctx, "alice@acme", "alice-password", false, "")
	tok, secret, err := a.CreateAPIToken(ctx, login.Principal, "ci-pipeline", vcd.TokenRefresh, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := a.ExchangeAPIToken(ctx, "acme", false, secret, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(secret), res.Principal.APITokenID == tok.ID)
	_, err = a.ExchangeAPIToken(ctx, "other", false, secret, "")
	fmt.Println(errors.Is(err, auth.ErrInvalidGrant))
	// Output:
	// 32 true
	// true
}
