package conn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// adminTLS is the TLS of a session with h's admin account (admin.tls):
// nil for "off"; encryption without checking the server's certificate for
// "required"; for "verify" the certificate must chain to the tls block's CA
// and name the host's address (the lab's and `mmm tls init`'s host
// certificates do: the server can use DIR/HOST.pem as ssl_cert).
//
// The CA file is read when a connection is made, not here, so that a
// missing file is the connection's error (with the host's name) rather
// than a panic or a silent plain-text session.
func adminTLS(h *topology.Host) *tls.Config {
	switch h.Admin.TLS {
	case topology.AdminTLSRequired:
		return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // admin.tls = "required" asks for exactly this
	case topology.AdminTLSVerify:
		caFile, addr := h.Admin.TLSCA, h.Address
		return &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Verified below with the cluster's CA and the host's address
			// (the driver would check the server name it derives itself).
			InsecureSkipVerify: true, //nolint:gosec // VerifyConnection does the verification
			VerifyConnection: func(cs tls.ConnectionState) error {
				pool, err := caPool(caFile)
				if err != nil {
					return err
				}
				if len(cs.PeerCertificates) == 0 {
					return errors.New("admin.tls = \"verify\": the server sent no certificate")
				}
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: addr}); err != nil {
					return fmt.Errorf("admin.tls = \"verify\": the server's certificate: %w", err)
				}
				return nil
			},
		}
	}
	return nil
}

var caPools sync.Map // CA file → *x509.CertPool

func caPool(path string) (*x509.CertPool, error) {
	if p, ok := caPools.Load(path); ok {
		return p.(*x509.CertPool), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin.tls = \"verify\": read the CA %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("admin.tls = \"verify\": %s holds no PEM certificate", path)
	}
	caPools.Store(path, pool)
	return pool, nil
}
