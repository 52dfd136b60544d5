package lab

import (
	"fmt"
	"path/filepath"
)

// TLSDirName is the lab directory's subdirectory for a cluster's tls dir
// (labtest.TLS): Up keeps it while it removes stale host directories.
const TLSDirName = "tls"

// sslCnf gives a server the host certificate of `mmm tls init` when the lab
// runs with a tls block, so admin sessions (admin.tls = "verify") and
// replication channels (replication.ssl) can use TLS.
func sslCnf(h *HostState) string {
	if h.TLSDir == "" {
		return ""
	}
	return fmt.Sprintf(`# TLS with the cluster's CA (labtest.TLS, mmm tls init).
ssl_ca   = %s
ssl_cert = %s
ssl_key  = %s
`, filepath.Join(h.TLSDir, "ca.pem"), filepath.Join(h.TLSDir, h.Name+".pem"), filepath.Join(h.TLSDir, h.Name+"-key.pem"))
}
