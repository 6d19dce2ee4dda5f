package flows

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test, its certificate in a
// PEM file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	File string // PEM certificate
}

// certFiles are the PEM files of one issued certificate.
type certFiles struct {
	Cert, Key string
}

// newCA makes a CA named name (ECDSA P-256, which OVS 3.1's OpenSSL 3
// accepts) and writes its certificate into dir.
func newCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := certTemplate(t, name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, File: filepath.Join(dir, name+".crt")}
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

// issue signs a certificate for name (for use as usage, with 127.0.0.1 as
// its address) and writes it and its key into dir.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) certFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := certTemplate(t, name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := certFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	writePEM(t, f.Cert, "CERTIFICATE", der)
	writePEM(t, f.Key, "PRIVATE KEY", pkcs8)
	return f
}

func certTemplate(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testPKI is the certificates of an OpenFlow-over-TLS test: l2gwd's,
// signed by one CA, and a switch's, signed by another.
type testPKI struct {
	dir          string
	controllerCA *testCA // signs l2gwd's certificate; the switch trusts it
	switchCA     *testCA // signs the switches' certificates; l2gwd trusts it
	controller   certFiles
	sw           certFiles
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir, controllerCA: newCA(t, dir, "controller-ca"), switchCA: newCA(t, dir, "switch-ca")}
	p.controller = p.controllerCA.issue(t, dir, "l2gwd", x509.ExtKeyUsageServerAuth)
	p.sw = p.switchCA.issue(t, dir, "ovs-switch", x509.ExtKeyUsageClientAuth)
	return p
}

// listenerFiles are the files l2gwd's TLS listener takes.
func (p *testPKI) listenerFiles() TLSFiles {
	return TLSFiles{Cert: p.controller.Cert, Key: p.controller.Key, CA: p.switchCA.File}
}

// logBuffer collects a session's log (and copies it to stderr, which go test
// shows for failed or -v runs).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	os.Stderr.Write(p)
	return b.buf.Write(p)
}

// String is everything logged so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logger logs at debug level into b.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startTLSSession starts a session over TLS on a free loopback port.
func startTLSSession(t *testing.T, files TLSFiles) (*Session, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := ListenTLS("127.0.0.1:0", files, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, logs
}

// firstBytes reads what the session sends first on conn, for up to 5 s:
// an OpenFlow hello when it accepted the connection. err is why it stopped.
func firstBytes(t *testing.T, conn net.Conn) ([]byte, error) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, ofpHeaderLen)
	n, err := io.ReadFull(conn, buf)
	return buf[:n], err
}

// isOpenFlowHello reports whether b starts an OpenFlow 1.3 hello.
func isOpenFlowHello(b []byte) bool { return len(b) >= 2 && b[0] == 0x04 && b[1] == 0 }

// awaitLog waits up to 10 s for the log to hold want n times.
func awaitLog(t *testing.T, logs *logBuffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log does not hold %q %d times:\n%s", want, n, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSSessionGreetsAClientWithACertificateOfItsCA(t *testing.T) {
	p := newTestPKI(t)
	s, _ := startTLSSession(t, p.listenerFiles())
	cert, err := tls.LoadX509KeyPair(p.sw.Cert, p.sw.Key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.controllerCA.cert)
	conn, err := tls.Dial("tcp", s.listener.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "127.0.0.1",
	})
	if err != nil {
		t.Fatalf("TLS handshake with the switch's certificate: %v", err)
	}
	defer conn.Close()
	if b, err := firstBytes(t, conn); !isOpenFlowHello(b) {
		t.Fatalf("session sent % x (%v), want an OpenFlow 1.3 hello", b, err)
	}
}

func TestTLSSessionRefusesAClientWithoutCertificate(t *testing.T) {
	p := newTestPKI(t)
	s, logs := startTLSSession(t, p.listenerFiles())
	roots := x509.NewCertPool()
	roots.AddCert(p.controllerCA.cert)
	conn, err := tls.Dial("tcp", s.listener.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err == nil { // TLS 1.3: the client finishes before the server checks its certificate
		defer conn.Close()
		b, err := firstBytes(t, conn)
		if len(b) > 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("session sent % x (%v) to a client without certificate, want the connection refused", b, err)
		}
	}
	awaitLog(t, logs, "openflow tls handshake refused", 1)
	if !strings.Contains(logs.String(), "certificate") {
		t.Errorf("the refusal does not say the certificate is missing:\n%s", logs)
	}
	if s.Connected() {
		t.Fatal("session reports a switch connected")
	}
}

func TestTLSSessionRefusesPlainTCP(t *testing.T) {
	p := newTestPKI(t)
	s, logs := startTLSSession(t, p.listenerFiles())
	conn, err := net.Dial("tcp", s.listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hello := []byte{0x04, 0x00, 0x00, 0x08, 0, 0, 0, 1} // OpenFlow 1.3 hello, xid 1
	if _, err := conn.Write(hello); err != nil {
		t.Fatal(err)
	}
	b, err := firstBytes(t, conn)
	if isOpenFlowHello(b) || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("session answered % x (%v) to plain TCP, want the connection closed", b, err)
	}
	awaitLog(t, logs, "openflow tls handshake refused", 1)
	if s.Connected() {
		t.Fatal("session reports a switch connected")
	}
}

func TestListenTLSNeedsReadableFilesAndACA(t *testing.T) {
	p := newTestPKI(t)
	notPEM := filepath.Join(p.dir, "not-pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name  string
		files TLSFiles
		want  string
	}{
		{"missing certificate", TLSFiles{Cert: filepath.Join(p.dir, "nope.crt"), Key: p.controller.Key, CA: p.switchCA.File}, "nope.crt"},
		{"key of another certificate", TLSFiles{Cert: p.controller.Cert, Key: p.sw.Key, CA: p.switchCA.File}, "private key does not match"},
		{"missing CA", TLSFiles{Cert: p.controller.Cert, Key: p.controller.Key, CA: filepath.Join(p.dir, "nope-ca.crt")}, "nope-ca.crt"},
		{"CA without certificate", TLSFiles{Cert: p.controller.Cert, Key: p.controller.Key, CA: notPEM}, "no PEM certificate"},
	} {
		s, err := ListenTLS("127.0.0.1:0", tc.files, log)
		if err == nil {
			s.Close()
			t.Errorf("%s: ListenTLS succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
}
