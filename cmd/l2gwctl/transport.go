package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/l2gw/l2gw/api"
)

// requestTimeout bounds one API call. It is longer than l2gwd's own
// deadline for a MAC batch (30 min to read and answer up to 256 MiB over a
// slow link; 7 min for every other request), so that the server, not the
// client, gives up on a slow bulk request.
const requestTimeout = 31 * time.Minute

// connect prepares what every request needs from the global flags: the
// HTTP client (with the CA bundle and client certificate for https://) and
// the bearer token.
func (c *cli) connect() error {
	u, err := url.Parse(c.api)
	if err != nil {
		return fmt.Errorf("--api %q: %w", c.api, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("--api %q: want an http:// or https:// URL", c.api)
	}
	if (c.cert == "") != (c.key == "") {
		return errors.New("--cert and --key go together: give both or neither")
	}
	if (c.ca != "" || c.cert != "") && u.Scheme != "https" {
		return fmt.Errorf("--ca, --cert and --key need an https:// API URL, not %q", c.api)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		if transport.TLSClientConfig, err = c.tlsConfig(); err != nil {
			return err
		}
	}
	c.http = &http.Client{Timeout: requestTimeout, Transport: transport}
	if c.tokenFile != "" {
		c.token, err = readToken(c.tokenFile)
		return err
	}
	c.token = os.Getenv("L2GW_TOKEN")
	return nil
}

// tlsConfig verifies the server against --ca (the system's CAs without it)
// and presents --cert/--key when given.
func (c *cli) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.ca != "" {
		data, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate found", c.ca)
		}
	}
	if c.cert != "" {
		cert, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return nil, fmt.Errorf("--cert %s and --key %s: %w", c.cert, c.key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// readToken reads the bearer token of --token-file (see api.ReadToken).
func readToken(path string) (string, error) {
	token, err := api.ReadToken(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return token, nil
}
