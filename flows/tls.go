package flows

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// TLSFiles are the PEM files of an OpenFlow listener over TLS. They are read
// once, when the session starts.
type TLSFiles struct {
	Cert string // certificate chain l2gwd presents to the switch
	Key  string // private key of Cert
	CA   string // CA bundle that signed the switches' certificates
}

// ListenTLS is Listen over TLS 1.2 or later: l2gwd presents files.Cert, and
// every switch must present a certificate that files.CA signed. A connection
// whose TLS handshake fails (no certificate, another CA, plain TCP) is logged
// and closed before any OpenFlow is spoken.
func ListenTLS(addr string, files TLSFiles, log *slog.Logger) (*Session, error) {
	conf, err := serverTLS(files)
	if err != nil {
		return nil, err
	}
	return listen(addr, conf, log)
}

// serverTLS loads files into the listener's TLS configuration: client
// certificates required and verified against files.CA.
func serverTLS(files TLSFiles) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, fmt.Errorf("openflow tls certificate %s with key %s: %w", files.Cert, files.Key, err)
	}
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		return nil, fmt.Errorf("openflow tls ca: %w", err)
	}
	switches := x509.NewCertPool()
	if !switches.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("openflow tls ca %s: no PEM certificate in it", files.CA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    switches,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// tlsHandshake runs the TLS handshake of a switch connection, within
// handshakeTimeout, and checks that it verified the switch's certificate.
// On failure it logs why, closes conn and returns false.
func tlsHandshake(conn *tls.Conn, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	err := conn.HandshakeContext(ctx)
	if err == nil && len(conn.ConnectionState().VerifiedChains) == 0 {
		err = errors.New("no verified switch certificate")
	}
	if err != nil {
		log.Warn("openflow tls handshake refused", "err", err)
		conn.Close()
		return false
	}
	st := conn.ConnectionState()
	log.Info("openflow tls switch authenticated", "subject", st.PeerCertificates[0].Subject.String(),
		"issuer", st.PeerCertificates[0].Issuer.String(), "version", tls.VersionName(st.Version))
	return true
}
