package store_test

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkLookup measures the cached reads on the authentication path.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	db := MustOpen(b)
	org := mustCreateOrg(b, db, "Acme")
	var last string
	for i := range 100 {
		last = mustCreateUser(b, db, org.ID, fmt.Sprintf("user%d", i)).ID
	}
	b.Run("User", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.User(ctx, last); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UserByName", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.UserByName(ctx, org.ID, "user99"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IsRevoked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			db.IsRevoked("0b9e3c2a-0000-4000-8000-000000000000")
		}
	})
}
