package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

func TestServerCertificateVerifiesForLoopbackAgainstItsCAOnly(t *testing.T) {
	ca, other := NewCA(t, "ca"), NewCA(t, "other-ca")
	leaf, err := x509.ParseCertificate(ca.Issue(t, "server", x509.ExtKeyUsageServerAuth).TLS(t).Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Error("server certificate verifies against another CA")
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err == nil {
		t.Error("server certificate verifies as a client's")
	}
}

func TestWrittenFilesLoadAndVerify(t *testing.T) {
	dir := t.TempDir()
	ca := NewCA(t, "ca")
	f := ca.Issue(t, "client", x509.ExtKeyUsageClientAuth).WriteFiles(t, dir)
	if f.Cert != filepath.Join(dir, "client.crt") || f.Key != filepath.Join(dir, "client.key") {
		t.Errorf("files %+v, want client.crt and client.key in %s", f, dir)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatalf("load written key pair: %v", err)
	}
	caPEM, err := os.ReadFile(ca.WriteFile(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate against the written CA file: %v", err)
	}
}
