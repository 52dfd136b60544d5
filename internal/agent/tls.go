package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// TLS of the agents' API. Two setups:
//
//   - the tls block (tls { dir = … }): mutual TLS 1.3. The agent serves
//     DIR/HOST.pem and requires a client certificate of the cluster's CA;
//     its handlers authorize on the certificate's identity (authz.go).
//     Clients present their own identity's certificate (Client.Identity).
//   - the older agent.tls_cert/tls_key: the agent serves that certificate,
//     clients need none (the token is the only credential). Kept working;
//     validate advises the tls block instead.

// serverTLS is the agent's server TLS, nil without TLS.
func (a *Agent) serverTLS() (*tls.Config, error) {
	if a.cluster.TLSOn() {
		cfg, err := pki.ServerConfig(a.cluster.TLS.Dir, pki.Host(a.host.Name))
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", a.host.Name, err)
		}
		return cfg, nil
	}
	ag := a.cluster.Agent
	if ag.TLSCert == "" && ag.TLSKey == "" {
		return nil, nil
	}
	if ag.TLSCert == "" || ag.TLSKey == "" {
		return nil, fmt.Errorf("agent: set both agent.tls_cert and agent.tls_key, or neither")
	}
	pair, err := tls.LoadX509KeyPair(ag.TLSCert, ag.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("agent %s: agent.tls_cert/tls_key: %w", a.host.Name, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
}

// tlsOn reports whether the agents of c serve HTTPS.
func tlsOn(c *topology.Cluster) bool { return c.TLSOn() || c.Agent.TLSCert != "" }

// newPeers is the agent's client of the other agents (the donor of a clone,
// witness probes): it speaks as its own host.
func newPeers(c *topology.Cluster, h *topology.Host) *Client {
	return &Client{Cluster: c, Identity: pki.Host(h.Name)}
}

// clientTLS is the client's TLS: c.TLSConfig if set, else the identity's
// certificate (tls block) or the trust of agent.tls_cert.
func (c *Client) clientTLS() (*tls.Config, error) {
	if c.TLSConfig != nil {
		return c.TLSConfig, nil
	}
	if c.Cluster.TLSOn() {
		id := c.Identity
		if id.Kind == "" {
			id = pki.Operator
		}
		return pki.ClientConfig(c.Cluster.TLS.Dir, id)
	}
	return defaultTLS(c.Cluster.Agent.TLSCert)
}

// defaultTLS trusts the system roots plus agent.tls_cert itself when it is
// readable on this machine (the usual self-signed setup, the same file on
// every host).
func defaultTLS(certFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if pem, err := os.ReadFile(certFile); err == nil {
		pool.AppendCertsFromPEM(pem)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read agent.tls_cert %s: %w", certFile, err)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
