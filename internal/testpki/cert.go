package testpki

import (
	"crypto/tls"
	"testing"
)

// Cert is a certificate a CA issued, with its private key.
type Cert struct {
	name            string
	certPEM, keyPEM []byte // key as PKCS#8
}

// Files are the paths of a certificate's PEM files.
type Files struct {
	Cert, Key string
}

// TLS is the certificate as a tls.Config takes it.
func (c *Cert) TLS(t testing.TB) tls.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
	if err != nil {
		t.Fatalf("key pair of %s: %v", c.name, err)
	}
	return pair
}

// WriteFiles writes the certificate to dir/NAME.crt and its key to
// dir/NAME.key (NAME as given to Issue) and returns their paths.
func (c *Cert) WriteFiles(t testing.TB, dir string) Files {
	t.Helper()
	return Files{Cert: write(t, dir, c.name+".crt", c.certPEM), Key: write(t, dir, c.name+".key", c.keyPEM)}
}
