package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Validity of what Init makes. A leaf certificate is re-issued by running
// `mmm tls init` again after deleting it (or with --force for everything).
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 2 * 365 * 24 * time.Hour
)

// Leaf is one certificate Init makes (or keeps).
type Leaf struct {
	ID    Identity
	IPs   []net.IP
	DNS   []string
	Where string // the machine it belongs on, for people
	// Kept is true when a valid certificate signed by the CA was there already.
	Kept bool
}

// InitResult is what Init did.
type InitResult struct {
	Dir    string
	CAKept bool
	Leaves []Leaf
}

// Options tune Init.
type Options struct {
	// Force makes a new CA and every certificate anew.
	Force bool
	// MonitorNames are more addresses or DNS names for the monitor's
	// certificate: the machine's own address when monitor.listen is
	// 0.0.0.0, a name operators use to reach it.
	MonitorNames []string
}

// Leaves lists the certificates a cluster needs: one per host (its address
// and name), the watch (monitor.listen's address, loopback for a CLI on the
// same machine, and monitorNames) and the operators' client.
func Leaves(c *topology.Cluster, monitorNames ...string) ([]Leaf, error) {
	var out []Leaf
	for _, h := range c.Hosts {
		if slices.Contains(ReservedNames, h.Name) {
			return nil, fmt.Errorf("host %q: with a tls block no host may be called %v (its certificate files would clash)", h.Name, ReservedNames)
		}
		ip := net.ParseIP(h.Address)
		if ip == nil {
			return nil, fmt.Errorf("host %q: address %q is not an IP address", h.Name, h.Address)
		}
		out = append(out, Leaf{ID: Host(h.Name), IPs: []net.IP{ip}, DNS: []string{h.Name},
			Where: fmt.Sprintf("host %s (%s), for mmm agent", h.Name, h.Address)})
	}
	mon := Leaf{ID: Monitor, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNS: []string{"localhost"},
		Where: "the monitor (mmm watch, listen " + c.Monitor.Listen + ")"}
	if host, _, err := net.SplitHostPort(c.Monitor.Listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			mon.IPs = append([]net.IP{ip}, mon.IPs...)
		}
	}
	// Several watch nodes share the monitor certificate: it names every
	// node's control and raft address (raft's TLS checks them too).
	for _, node := range c.Monitor.Nodes {
		for _, addr := range []string{node.Listen, node.Raft} {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				if ip := net.ParseIP(host); ip != nil && !slices.ContainsFunc(mon.IPs, ip.Equal) {
					mon.IPs = append(mon.IPs, ip)
				}
			}
		}
	}
	for _, n := range monitorNames {
		if ip := net.ParseIP(n); ip != nil {
			mon.IPs = append(mon.IPs, ip)
		} else if n != "" {
			mon.DNS = append(mon.DNS, n)
		}
	}
	out = append(out, mon)
	out = append(out, Leaf{ID: Operator, Where: "operators' machines (mmm apply, show, move-role…)"})
	return out, nil
}

// Init makes dir's CA (unless one is there and force is false) and every
// certificate of Leaves that is missing or not signed by the CA; with force
// it makes everything anew. Keys are written 0600, certificates 0644.
func Init(c *topology.Cluster, dir string, force bool) (*InitResult, error) {
	return InitWith(c, dir, Options{Force: force})
}

// InitWith is Init with Options.
func InitWith(c *topology.Cluster, dir string, opts Options) (*InitResult, error) {
	force := opts.Force
	leaves, err := Leaves(c, opts.MonitorNames...)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls init: %w", err)
	}
	res := &InitResult{Dir: dir}
	caCert, caKey, err := loadCAPair(dir)
	switch {
	case err == nil && !force:
		res.CAKept = true
	case err == nil || errors.Is(err, os.ErrNotExist):
		if caCert, caKey, err = makeCA(dir, c.Name); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tls init: %w (fix or move the files, or use --force to make a new CA)", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	for _, l := range leaves {
		if !force && validLeaf(dir, l, pool) {
			l.Kept = true
		} else if err := makeLeaf(dir, l, caCert, caKey); err != nil {
			return nil, err
		}
		res.Leaves = append(res.Leaves, l)
	}
	return res, nil
}

func loadCAPair(dir string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s is there without its key %s", CAFile, CAKeyFile)
		}
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", CAFile, CAKeyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", CAFile, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a signing key", CAKeyFile)
	}
	return cert, signer, nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func makeCA(dir, cluster string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "mmm CA " + cluster, Organization: []string{"mmm"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls init: make the CA: %w", err)
	}
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// validLeaf: the files are there, the key matches, the CA signed it for
// the same identity and it is not about to expire (30 days).
func validLeaf(dir string, l Leaf, pool *x509.CertPool) bool {
	pair, err := loadPair(dir, l.ID)
	if err != nil || len(pair.Certificate) == 0 {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(cert.NotAfter) < 30*24*time.Hour {
		return false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return false
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != l.ID.URI().String() {
		return false
	}
	for _, ip := range l.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false // the address changed in the file
		}
	}
	for _, n := range l.DNS {
		if !slices.Contains(cert.DNSNames, n) {
			return false
		}
	}
	return true
}

func makeLeaf(dir string, l Leaf, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	sn, err := serial()
	if err != nil {
		return err
	}
	now := time.Now()
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if l.ID.Kind != KindOperator {
		usage = append(usage, x509.ExtKeyUsageServerAuth) // agents and the watch serve too
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: "mmm " + l.ID.String(), Organization: []string{"mmm"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(LeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		IPAddresses:  l.IPs,
		DNSNames:     l.DNS,
		URIs:         []*url.URL{l.ID.URI()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("tls init: certificate of %s: %w", l.ID, err)
	}
	if err := writeKey(l.ID.KeyFile(dir), key); err != nil {
		return err
	}
	return writePEM(l.ID.CertFile(dir), "CERTIFICATE", der, 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM writes through a temporary file and a rename, so a crash leaves
// the old file or the new one, never half of one; the mode is set before
// anything is written.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tls-*")
	if err != nil {
		return fmt.Errorf("tls init: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("tls init: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("tls init: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tls init: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tls init: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tls init: %w", err)
	}
	return nil
}
