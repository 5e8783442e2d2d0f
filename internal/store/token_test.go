package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldmq/herald/internal/vcd"
)

func TestAPIToken(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tok := vcd.APIToken{
		ID: vcd.NewUUID(), Name: "ci", Type: vcd.TokenRefresh, UserID: vcd.NewUUID(),
		OrgID: vcd.NewUUID(), Created: t0,
	}
	if err := db.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := db.APIToken(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("APIToken (-want +got):\n%s", diff)
	}
	_, err = db.APITokenBySecret(ctx, "")
	wantCode(t, "APITokenBySecret while only registered", err, vcd.CodeNotFound)

	// Setting the secret makes the token findable by it.
	if _, err := db.UpdateAPIToken(ctx, tok.ID, func(t *vcd.APIToken) error { t.SecretHash = "s1"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := db.APITokenBySecret(ctx, "s1"); err != nil || got.ID != tok.ID {
		t.Errorf("APITokenBySecret(s1) = %q, %v; want %q", got.ID, err, tok.ID)
	}

	older := vcd.APIToken{ID: vcd.NewUUID(), Name: "old", Type: vcd.TokenExtension, Created: t0.Add(-time.Hour), SecretHash: "s0"}
	if err := db.CreateAPIToken(ctx, older); err != nil {
		t.Fatal(err)
	}
	list, err := db.APITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != older.ID || list[1].ID != tok.ID {
		t.Errorf("APITokens = %+v; want the older token first", list)
	}

	wantCode(t, "CreateAPIToken duplicate", db.CreateAPIToken(ctx, older), vcd.CodeDuplicate)
	wantCode(t, "CreateAPIToken without id", db.CreateAPIToken(ctx, vcd.APIToken{}), vcd.CodeInvalid)
	_, err = db.UpdateAPIToken(ctx, tok.ID, func(t *vcd.APIToken) error { t.ID = vcd.NewUUID(); return nil })
	wantCode(t, "UpdateAPIToken changing id", err, vcd.CodeInvalid)

	if err := db.DeleteAPIToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.APIToken(ctx, tok.ID)
	wantCode(t, "APIToken after delete", err, vcd.CodeNotFound)
	_, err = db.APITokenBySecret(ctx, "s1")
	wantCode(t, "APITokenBySecret after delete", err, vcd.CodeNotFound)
	wantCode(t, "DeleteAPIToken again", db.DeleteAPIToken(ctx, tok.ID), vcd.CodeNotFound)
}

func TestSigningKeys(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	newer := vcd.SigningKey{KID: "k2", PrivateKeyPEM: "pem2", Created: t0, NotAfter: t0.Add(time.Hour)}
	older := vcd.SigningKey{KID: "k1", PrivateKeyPEM: "pem1", Created: t0.Add(-time.Hour), NotAfter: t0}
	for _, k := range []vcd.SigningKey{newer, older} {
		if err := db.AddSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]vcd.SigningKey{older, newer}, got); diff != "" {
		t.Errorf("SigningKeys (-want +got):\n%s", diff)
	}
	wantCode(t, "AddSigningKey duplicate", db.AddSigningKey(ctx, older), vcd.CodeDuplicate)
	wantCode(t, "AddSigningKey bad kid", db.AddSigningKey(ctx, vcd.SigningKey{KID: "a b"}), vcd.CodeInvalid)
}
