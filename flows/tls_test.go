package flows

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2gw/l2gw/internal/testpki"
)

// testPKI is the certificates of an OpenFlow-over-TLS test: l2gwd's,
// signed by one CA, and a switch's, signed by another, all as PEM files in dir.
type testPKI struct {
	dir              string
	controllerCA     *testpki.CA // signs l2gwd's certificate; the switch trusts it
	controllerCAFile string
	switchCAFile     string // of the CA that signs the switches' certificates; l2gwd trusts it
	controller       testpki.Files
	sw               testpki.Files
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	controllerCA, switchCA := testpki.NewCA(t, "controller-ca"), testpki.NewCA(t, "switch-ca")
	return &testPKI{
		dir:              dir,
		controllerCA:     controllerCA,
		controllerCAFile: controllerCA.WriteFile(t, dir),
		switchCAFile:     switchCA.WriteFile(t, dir),
		controller:       controllerCA.Issue(t, "l2gwd", x509.ExtKeyUsageServerAuth).WriteFiles(t, dir),
		sw:               switchCA.Issue(t, "ovs-switch", x509.ExtKeyUsageClientAuth).WriteFiles(t, dir),
	}
}

// listenerFiles are the files l2gwd's TLS listener takes.
func (p *testPKI) listenerFiles() TLSFiles {
	return TLSFiles{Cert: p.controller.Cert, Key: p.controller.Key, CA: p.switchCAFile}
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
	conn, err := tls.Dial("tcp", s.listener.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: p.controllerCA.Pool(), ServerName: "127.0.0.1",
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
	conn, err := tls.Dial("tcp", s.listener.Addr().String(), &tls.Config{RootCAs: p.controllerCA.Pool(), ServerName: "127.0.0.1"})
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
		{"missing certificate", TLSFiles{Cert: filepath.Join(p.dir, "nope.crt"), Key: p.controller.Key, CA: p.switchCAFile}, "nope.crt"},
		{"key of another certificate", TLSFiles{Cert: p.controller.Cert, Key: p.sw.Key, CA: p.switchCAFile}, "private key does not match"},
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
