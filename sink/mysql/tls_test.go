package mysql

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/odsync/odsync/harness/mariadb"
)

// writeCerts writes a CA and a server certificate for 127.0.0.1 (PEM).
func writeCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "odsync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}

// TestTLS connects to a MariaDB that requires TLS: verified against the
// configured CA it works; without TLS, or with an untrusted CA, it fails.
func TestTLS(t *testing.T) {
	server(t) // skips (or fails in CI) without mariadbd
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := mariadb.Start(ctx, mariadb.Options{Quiet: true, ExtraArgs: []string{
		"--ssl-ca=" + ca, "--ssl-cert=" + cert, "--ssl-key=" + key}})
	if err != nil {
		t.Fatalf("mariadbd with TLS: %v", err)
	}
	defer srv.Stop()
	db, err := srv.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"CREATE USER 'sec'@'%' IDENTIFIED BY 'pw' REQUIRE SSL", "GRANT ALL ON *.* TO 'sec'@'%'"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Addr: srv.Addr(), User: "sec", Password: "pw", TLS: TLS{Enabled: true, CAFile: ca}}
	if _, err := Check(ctx, cfg); err != nil {
		t.Fatalf("TLS with the CA: %v", err)
	}
	if _, err := Check(ctx, Config{Addr: srv.Addr(), User: "sec", Password: "pw"}); err == nil {
		t.Fatal("without TLS: a user that requires TLS connected")
	}
	other, _, _ := writeCerts(t, t.TempDir())
	_, err = Check(ctx, Config{Addr: srv.Addr(), User: "sec", Password: "pw", TLS: TLS{Enabled: true, CAFile: other}})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted CA: %v", err)
	}
}
