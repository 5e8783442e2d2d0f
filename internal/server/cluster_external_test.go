package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldmq/herald/internal/config"
)

// testPKI is a CA and a server certificate for 127.0.0.1, as PEM files.
type testPKI struct{ ca, cert, key string }

// mustTestPKI writes a fresh CA and a certificate it signed for 127.0.0.1 and
// localhost into dir.
func mustTestPKI(tb testing.TB, dir string) testPKI {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test nats ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	p := testPKI{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{p.ca, "CERTIFICATE", caDER}, {p.cert, "CERTIFICATE", der}, {p.key, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return p
}

// MustRunNATSCluster starts n nats-server instances in the test process, joined by
// routes, with JetStream, TLS on the client port (certificates from pki) and user
// herald with password; it stands for an operator-run NATS cluster and returns the
// client URLs, comma-separated.
func MustRunNATSCluster(tb testing.TB, n int, pki testPKI, password string) string {
	tb.Helper()
	routes := make([]*url.URL, n)
	ports := make([]int, n)
	for i := range n {
		a := freeAddr(tb)
		_, port, _ := net.SplitHostPort(a)
		if _, err := fmt.Sscan(port, &ports[i]); err != nil {
			tb.Fatal(err)
		}
		routes[i] = &url.URL{Scheme: "nats-route", Host: a}
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.cert, KeyFile: pki.key})
	if err != nil {
		tb.Fatal(err)
	}
	servers := make([]*server.Server, n)
	var urls []string
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: tb.TempDir(), NoSigs: true, NoLog: true,
			Users: []*server.User{{Username: "herald", Password: password}},
			TLS:   true, TLSConfig: tc.Clone(), TLSTimeout: 5,
			Routes: routes,
		}
		o.Cluster.Name = "operators"
		o.Cluster.Host = "127.0.0.1"
		o.Cluster.Port = ports[i]
		s, err := server.NewServer(o)
		if err != nil {
			tb.Fatal(err)
		}
		s.Start()
		tb.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		servers[i] = s
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			tb.Fatal("nats server not ready")
		}
		urls = append(urls, "tls://"+s.Addr().String())
	}
	return strings.Join(urls, ",")
}

// TestCluster_ExternalMode checks ISSUE 8 item 2 on three herald nodes that hold no
// durable state themselves: they connect to a three-server NATS cluster over TLS
// (verified with natsCA) with user and password, replicas 3.
func TestCluster_ExternalMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers and three nodes; skipped with -short")
	}
	pki := mustTestPKI(t, t.TempDir())
	const password = "nats-password-for-the-test"
	natsURL := MustRunNATSCluster(t, 3, pki, password)
	cfgs := make([]config.Config, 3)
	for i := range cfgs {
		c := testConfig(t.TempDir())
		c.MQTT.Addr = "127.0.0.1:0"
		c.Store.ServerName = fmt.Sprintf("h%d", i+1)
		c.Store.Replicas = 3
		c.Store.NATSURL = natsURL
		c.Store.NATSUser = "herald"
		c.Store.NATSPassword = password
		c.Store.NATSCA = pki.ca
		c.Store.Timeout = config.Duration(5 * time.Second)
		c.Store.StartTimeout = config.Duration(60 * time.Second)
		cfgs[i] = c
	}
	c := newTestCluster(t, cfgs)
	c.checkAcrossNodes(t)
	for i := range c.nodes {
		// The nodes keep nothing durable: no JetStream directory in their data dirs.
		if _, err := os.Stat(filepath.Join(cfgs[i].DataDir, "jetstream")); !os.IsNotExist(err) {
			t.Errorf("node %d has a jetstream directory (err %v)", i+1, err)
		}
	}
}
