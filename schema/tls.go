package schema

import (
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// tls converts the tls block. The files themselves are read by the agent and
// the watch at start (a machine holds only its own key), not here.
func (b *builder) tls(e *evaluator, s *tlsSpec) {
	if s == nil {
		return
	}
	b.src["tls"] = s.DefRange
	if s.Dir == nil {
		b.errorf(s.DefRange.Ptr(), "Missing tls dir",
			"The tls block names the directory of the cluster's certificates: tls { dir = \"/etc/mmm/tls\" } (make them with mmm tls init).")
		return
	}
	b.c.TLS.Dir = e.str(s.Dir, "")
	if b.c.TLS.Dir == "" {
		b.errorf(s.Dir.Expr.Range().Ptr(), "Empty tls dir",
			"dir is the directory of ca.pem and each machine's NAME.pem and NAME-key.pem, e.g. \"/etc/mmm/tls\"; remove the tls block to run without TLS.")
	}
}

// validateTLS runs after every block is converted: it needs the hosts, the
// agent and the monitor.
func (b *builder) validateTLS() {
	c := b.c
	b.validateAdminTLS()
	if c.TLSOn() {
		for _, h := range c.Hosts {
			if slices.Contains(pki.ReservedNames, h.Name) {
				b.errorf(b.at("host."+h.Name), "Reserved host name with TLS",
					"With a tls block, the certificate of host %q would clash with the file of the %s; rename the host.", h.Name, h.Name)
			}
		}
		if c.Agent.TLSCert != "" {
			b.errorf(b.at("tls"), "Two TLS settings for the agents",
				"The tls block gives the agents their certificates (DIR/HOST.pem) and requires client certificates; remove agent.tls_cert and agent.tls_key.")
		}
		b.adviseAdminTLS()
		return
	}
	if !b.l.opts.Advise || !b.nonLoopback() {
		return
	}
	if c.Agent.TLSCert != "" {
		b.warnf(b.at("agent"), "Agent TLS without client certificates",
			"agent.tls_cert encrypts the agents' API but anyone with the token may call it, and the watch's control API stays plain HTTP. "+
				"Use a tls block instead (tls { dir = \"/etc/mmm/tls\" }, certificates from mmm tls init) and remove tls_cert and tls_key.")
		return
	}
	b.warnf(b.at("cluster"), "No TLS",
		"The cluster's addresses are not loopback, but the agents' and the watch's APIs run without TLS: their tokens cross the network in clear. "+
			"Add tls { dir = \"/etc/mmm/tls\" } and run mmm tls init --config FILE --out DIR (docs/security.md).")
}

// adviseAdminTLS (validate) warns when the APIs have TLS but mmm's MySQL
// sessions to hosts on the network do not: the passwords mmm sets
// (IDENTIFIED BY, MASTER_PASSWORD) would still cross the network in clear.
func (b *builder) adviseAdminTLS() {
	if !b.l.opts.Advise {
		return
	}
	var plain []string
	for _, h := range b.c.Hosts {
		if ip := net.ParseIP(h.Address); h.Admin.TLS == topology.AdminTLSOff && ip != nil && !ip.IsLoopback() {
			plain = append(plain, h.Name)
		}
	}
	if len(plain) == 0 {
		return
	}
	b.warnf(b.at("tls"), "MySQL sessions without TLS",
		"The tls block secures mmm's APIs, but its sessions with the servers of %s are plain text, and they carry the passwords mmm sets. "+
			"Set defaults { admin { tls = \"verify\" } } and give each server its host's certificate (ssl_ca, ssl_cert, ssl_key; docs/security.md).",
		strings.Join(plain, ", "))
}

// nonLoopback reports whether any API of the cluster listens beyond this
// machine: a host's address (with an agent block) or monitor.listen.
func (b *builder) nonLoopback() bool {
	c := b.c
	if c.Agent.Enabled {
		for _, h := range c.Hosts {
			if ip := net.ParseIP(h.Address); ip != nil && !ip.IsLoopback() {
				return true
			}
		}
	}
	if host, _, err := net.SplitHostPort(c.Monitor.Listen); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && !ip.IsLoopback()) {
			return true
		}
	}
	return false
}

// adminTLS converts admin.tls; the CA of "verify" is the tls block's, set
// by validateAdminTLS once every block is read.
func (b *builder) adminTLS(e *evaluator, key string, h *topology.Host, a *hcl.Attribute) {
	b.rec(key+".admin.tls", a)
	h.Admin.TLS = e.str(a, topology.AdminTLSOff)
	switch h.Admin.TLS {
	case topology.AdminTLSOff, topology.AdminTLSRequired, topology.AdminTLSVerify:
	default:
		b.errorf(a.Expr.Range().Ptr(), "Invalid admin tls",
			"tls must be %q (no TLS), %q (encrypted, the server's certificate not checked) or %q (encrypted, the certificate signed by the tls block's CA and naming the host's address), not %q.",
			topology.AdminTLSOff, topology.AdminTLSRequired, topology.AdminTLSVerify, h.Admin.TLS)
	}
}

// validateAdminTLS gives admin.tls = "verify" the tls block's CA.
func (b *builder) validateAdminTLS() {
	for _, h := range b.c.Hosts {
		if h.Admin.TLS != topology.AdminTLSVerify {
			continue
		}
		if !b.c.TLSOn() {
			b.errorf(b.at("host."+h.Name+".admin.tls", "host."+h.Name), "admin tls = \"verify\" without a tls block",
				"Verifying host %s's server certificate needs the cluster's CA: add tls { dir = \"/etc/mmm/tls\" } (mmm tls init), or use tls = \"required\".", h.Name)
			continue
		}
		h.Admin.TLSCA = filepath.Join(b.c.TLS.Dir, pki.CAFile)
	}
}
