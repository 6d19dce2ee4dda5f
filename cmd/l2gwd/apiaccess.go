package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/l2gw/l2gw/api"
)

// validateAPIAccess checks that the API's security flags fit together, and
// refuses an API that other hosts could reach without a token.
func (c *config) validateAPIAccess() error {
	if (c.APITLSCert == "") != (c.APITLSKey == "") {
		return errors.New("--api-tls-cert and --api-tls-key go together: give both or neither")
	}
	if c.APIClientCA != "" && c.APITLSCert == "" {
		return errors.New("--api-client-ca needs TLS: give --api-tls-cert and --api-tls-key too")
	}
	if c.APIMaxInFlight < 1 {
		return fmt.Errorf("--api-max-inflight %d: want at least 1", c.APIMaxInFlight)
	}
	if c.APITokenFile == "" && !c.Insecure && !c.apiOnLoopback() {
		return fmt.Errorf("--api-listen %s is reachable from other hosts, and without a token anyone who "+
			"reaches it controls this site's networks: give --api-token-file (best with --api-tls-cert and "+
			"--api-tls-key), listen on loopback, or accept the risk with --insecure", c.APIListen)
	}
	return nil
}

// apiOnLoopback tells whether the API listens on a loopback address only
// (127.0.0.0/8, ::1 or "localhost"); an empty host means every address.
func (c *config) apiOnLoopback() bool {
	host, _, _ := net.SplitHostPort(c.APIListen)
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// apiOptions reads the token and TLS files the API flags name into the
// options of api.NewServer, and warns of a configuration that exposes the
// API.
func (c *config) apiOptions(log *slog.Logger) (api.ServerOptions, error) {
	opts := api.ServerOptions{MaxInFlight: c.APIMaxInFlight, Log: log}
	if c.APITokenFile != "" {
		token, err := readToken(c.APITokenFile)
		if err != nil {
			return api.ServerOptions{}, err
		}
		opts.Token = token
	}
	if c.APITLSCert != "" {
		tlsConfig, err := api.ServerTLS(c.APITLSCert, c.APITLSKey, c.APIClientCA)
		if err != nil {
			return api.ServerOptions{}, err
		}
		opts.TLS = tlsConfig
	}
	switch {
	case c.apiOnLoopback():
	case opts.Token == "":
		log.Warn("the API listens off loopback without a token (--insecure): whoever reaches it controls this site's networks",
			"api", c.APIListen)
	case opts.TLS == nil:
		log.Warn("the API listens off loopback without TLS: the bearer token crosses the network in clear text",
			"api", c.APIListen)
	}
	return opts, nil
}

// readToken reads the bearer token of --api-token-file (see api.ReadToken).
func readToken(path string) (string, error) {
	token, err := api.ReadToken(path)
	if err != nil {
		return "", fmt.Errorf("--api-token-file: %w", err)
	}
	return token, nil
}
