// Package pki is mmm's small certificate authority and the TLS settings of
// every channel it secures (the agents' API, the watch's control API).
//
// A cluster's TLS directory (the tls block's dir) holds, by convention:
//
//	ca.pem              the cluster's CA certificate (every machine)
//	ca-key.pem          the CA's private key (only where `mmm tls init` runs; never on a node)
//	NAME.pem            host NAME's certificate (its agent: server and client)
//	NAME-key.pem        its key (0600)
//	monitor.pem         the watch's certificate (control API server, agent client)
//	monitor-key.pem
//	operator.pem        the operators' client certificate (apply, show, move-role…)
//	operator-key.pem
//
// Every certificate names its identity in a URI SAN (mmm://host/NAME,
// mmm://monitor, mmm://operator) that the servers authorize on, and its
// addresses in IP (and DNS) SANs that the clients verify. Keys are ECDSA
// P-256; connections are TLS 1.3 with client certificates required.
package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// File names in the TLS directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// Kind is who an identity is.
type Kind string

const (
	KindHost     Kind = "host"     // an agent on a data node
	KindMonitor  Kind = "monitor"  // mmm watch
	KindOperator Kind = "operator" // a person's CLI: apply, show, move-role…
)

// Identity is who a certificate speaks for.
type Identity struct {
	Kind Kind
	Name string // the host's name, for KindHost
}

// Host, Monitor and Operator are the identities.
func Host(name string) Identity { return Identity{Kind: KindHost, Name: name} }

var (
	Monitor  = Identity{Kind: KindMonitor}
	Operator = Identity{Kind: KindOperator}
)

// URI is the identity as written in the certificate's URI SAN.
func (id Identity) URI() *url.URL {
	if id.Kind == KindHost {
		return &url.URL{Scheme: "mmm", Host: "host", Path: "/" + id.Name}
	}
	return &url.URL{Scheme: "mmm", Host: string(id.Kind)}
}

// String is "host/NAME", "monitor" or "operator".
func (id Identity) String() string {
	if id.Kind == KindHost {
		return "host/" + id.Name
	}
	return string(id.Kind)
}

// Base is the identity's file name without ".pem": the host's name,
// "monitor" or "operator".
func (id Identity) Base() string {
	if id.Kind == KindHost {
		return id.Name
	}
	return string(id.Kind)
}

// CertFile and KeyFile are the identity's files in dir.
func (id Identity) CertFile(dir string) string { return filepath.Join(dir, id.Base()+".pem") }
func (id Identity) KeyFile(dir string) string  { return filepath.Join(dir, id.Base()+"-key.pem") }

// ParseURI reads an identity from a URI SAN; ok is false for any other URI.
func ParseURI(u *url.URL) (Identity, bool) {
	if u == nil || u.Scheme != "mmm" {
		return Identity{}, false
	}
	switch Kind(u.Host) {
	case KindHost:
		name := strings.TrimPrefix(u.Path, "/")
		if name == "" || strings.Contains(name, "/") {
			return Identity{}, false
		}
		return Host(name), true
	case KindMonitor, KindOperator:
		if u.Path != "" && u.Path != "/" {
			return Identity{}, false
		}
		return Identity{Kind: Kind(u.Host)}, true
	}
	return Identity{}, false
}

// PeerIdentity is the identity of the verified client certificate of a
// connection. ok is false without a verified chain (no TLS, no certificate)
// or without exactly one mmm:// URI SAN.
func PeerIdentity(cs *tls.ConnectionState) (Identity, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, false
	}
	var found []Identity
	for _, u := range cs.VerifiedChains[0][0].URIs {
		if id, ok := ParseURI(u); ok {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		return Identity{}, false
	}
	return found[0], true
}

// ReservedNames are the file bases that are not hosts: a host may not be
// called so when the cluster uses a TLS directory.
var ReservedNames = []string{"ca", "monitor", "operator"}

// loadCA reads dir/ca.pem into a pool.
func loadCA(dir string) (*x509.CertPool, error) {
	path := filepath.Join(dir, CAFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tls: %s is missing: run `mmm tls init` and copy the CA certificate to this machine", path)
		}
		return nil, fmt.Errorf("tls: read the CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", path)
	}
	return pool, nil
}

func loadPair(dir string, id Identity) (tls.Certificate, error) {
	cert, key := id.CertFile(dir), id.KeyFile(dir)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return tls.Certificate{}, fmt.Errorf("tls: the %s certificate %s or its key %s is missing on this machine: `mmm tls init` made them, copy them here (the key mode 0600)", id, cert, key)
		}
		return tls.Certificate{}, fmt.Errorf("tls: load the %s certificate %s: %w", id, cert, err)
	}
	if st, err := os.Stat(key); err == nil && st.Mode().Perm()&0o077 != 0 {
		return tls.Certificate{}, fmt.Errorf("tls: %s has mode %04o, so other users can read the key; run chmod 600 %s", key, st.Mode().Perm(), key)
	}
	return pair, nil
}

// ServerConfig is the TLS of a server that speaks as id (an agent: its host;
// the watch: Monitor): TLS 1.3, and a client certificate signed by the
// cluster's CA is required. The handlers authorize with PeerIdentity.
func ServerConfig(dir string, id Identity) (*tls.Config, error) {
	pool, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	pair, err := loadPair(dir, id)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// ClientConfig is the TLS of a client that speaks as id: it presents id's
// certificate and trusts only the cluster's CA (the server's address must be
// in its certificate's SANs).
func ClientConfig(dir string, id Identity) (*tls.Config, error) {
	pool, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	pair, err := loadPair(dir, id)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
	}, nil
}
