package server

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadTLS_GeneratesReusesAndReissues(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c1, err := loadTLS("", "", dir, nil, now)
	if err != nil {
		t.Fatalf("loadTLS() = %v", err)
	}
	leaf, err := x509.ParseCertificate(c1.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("generated certificate does not cover %s: %v", name, err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "localhost"}); err != nil {
		t.Errorf("certificate does not chain to ca.pem: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, "tls", "key.pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}

	// Same names, later start: the same certificate is reused.
	c2, err := loadTLS("", "", dir, nil, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1.Certificate[0], c2.Certificate[0]) {
		t.Error("certificate re-issued although nothing changed")
	}

	// A new SAN re-issues the server certificate under the same CA.
	c3, err := loadTLS("", "", dir, []string{"vcd.example.com", "192.0.2.7"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf3, _ := x509.ParseCertificate(c3.Certificate[0])
	for _, name := range []string{"vcd.example.com", "192.0.2.7", "localhost"} {
		if err := leaf3.VerifyHostname(name); err != nil {
			t.Errorf("re-issued certificate does not cover %s: %v", name, err)
		}
	}
	if _, err := leaf3.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "vcd.example.com"}); err != nil {
		t.Errorf("re-issued certificate does not chain to the same CA: %v", err)
	}

	// Near expiry, it is renewed.
	c4, err := loadTLS("", "", dir, []string{"vcd.example.com", "192.0.2.7"}, leaf3.NotAfter.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c3.Certificate[0], c4.Certificate[0]) {
		t.Error("certificate not renewed near its expiry")
	}
}

func TestLoadTLS_ConfiguredFiles(t *testing.T) {
	if _, err := loadTLS(filepath.Join(t.TempDir(), "missing.pem"), "missing-key.pem", t.TempDir(), nil, time.Now()); err == nil {
		t.Error("loadTLS with missing configured files succeeded")
	}
	gen := t.TempDir()
	if _, err := loadTLS("", "", gen, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := loadTLS(filepath.Join(gen, "tls", "cert.pem"), filepath.Join(gen, "tls", "key.pem"), t.TempDir(), nil, time.Now())
	if err != nil || len(c.Certificate) == 0 {
		t.Errorf("loadTLS(configured) = %v", err)
	}
}
