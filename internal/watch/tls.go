package watch

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// TLS of the control API (cluster with a tls block): the watch serves
// DIR/monitor.pem with TLS 1.3 and requires a client certificate of the
// cluster's CA. Only the operator identity may use the API and the status
// page; /metrics is open to every identity of the cluster (a Prometheus
// scraper presents the operator's or its own certificate of the CA). The
// token stays required as a second factor.

// ServerTLS is the control API's TLS, nil without a tls block.
func ServerTLS(c *topology.Cluster) (*tls.Config, error) {
	if !c.TLSOn() {
		return nil, nil
	}
	cfg, err := pki.ServerConfig(c.TLS.Dir, pki.Monitor)
	if err != nil {
		return nil, fmt.Errorf("control API: %w", err)
	}
	return cfg, nil
}

// NewClient is a client of the watch c's monitor block names, with the
// operator's certificate when c has a tls block.
//
// With several watch nodes it asks them in the file's order until one
// answers.
func NewClient(c *topology.Cluster, token string) (*Client, error) {
	var bases []string
	scheme := "http://"
	if c.TLSOn() {
		scheme = "https://"
	}
	for _, addr := range c.Monitor.ControlAddresses() {
		// A watch listening on every address is reached on loopback, which
		// its certificate names (pki.Leaves).
		if host, port, err := net.SplitHostPort(addr); err == nil {
			if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
		}
		bases = append(bases, scheme+addr)
	}
	cl := &Client{Base: bases[0], Others: bases[1:], Token: token}
	if !c.TLSOn() {
		return cl, nil
	}
	cfg, err := pki.ClientConfig(c.TLS.Dir, pki.Operator)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the token never goes to a proxy
	tr.TLSClientConfig = cfg
	cl.HTTP = &http.Client{Transport: tr}
	return cl, nil
}

// authorize lets only the operator identity use the control API (the
// metrics: any identity of the cluster's CA) when the cluster has a tls block.
func (w *Watch) authorize(next http.Handler) http.Handler {
	if !w.c.TLSOn() {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id, ok := pki.PeerIdentity(r.TLS)
		if err := controlAllowed(r.URL.Path, id, ok, len(w.c.Monitor.Nodes) > 0); err != nil {
			w.log.Warn("control request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "identity", id.String(), "reason", err)
			writeJSON(rw, http.StatusForbidden, errorBody{err.Error()})
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// controlAllowed is the control API's rule: operator only (and the other
// watch nodes, when there are several), /metrics for every identity.
func controlAllowed(path string, id pki.Identity, ok, nodes bool) error {
	switch {
	case !ok:
		return fmt.Errorf("no mmm identity in the client certificate: use the operator certificate from mmm tls init")
	case path == "/metrics":
		return nil
	case id == pki.Monitor && nodes:
		// Another watch node forwarding a command or asking /v1/node.
		return nil
	case id != pki.Operator:
		return fmt.Errorf("%s may not use the control API: only an operator certificate may", id)
	}
	return nil
}
