package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mysql-mmm/mmm/internal/pki"
)

// TLSCmd groups the certificate commands.
type TLSCmd struct {
	Init TLSInitCmd `cmd:"" help:"Make the cluster's CA and a certificate per host, for the monitor and for operators (mutual TLS, see docs/security.md)."`
}

// TLSInitCmd is `mmm tls init`: the files of the tls block's directory,
// made on an operator's machine and copied to each machine.
type TLSInitCmd struct {
	Out   string `help:"Directory to write the CA and certificates to (made 0700)." required:"" type:"path" placeholder:"DIR"`
	Force bool   `help:"Make a new CA and every certificate anew, even where valid ones exist (every machine then needs its new files)."`
	// MonitorAddress adds SANs to the monitor's certificate.
	MonitorAddress []string `help:"Another address or DNS name operators reach the watch by (repeatable; needed when monitor.listen is 0.0.0.0)." name:"monitor-address" placeholder:"ADDR"`
}

func (c *TLSInitCmd) Run(g *Globals) error {
	// The certificates need names and addresses only: no secret.
	cluster, _, err := loadCluster(g, false)
	if err != nil {
		return err
	}
	res, err := pki.InitWith(cluster, c.Out, pki.Options{Force: c.Force, MonitorNames: c.MonitorAddress})
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	out := g.Stdout
	abs, _ := filepath.Abs(res.Dir)
	state := func(kept bool) string {
		if kept {
			return "kept"
		}
		return "new "
	}
	fmt.Fprintf(out, "%s CA %s (its key %s stays here, never on a node)\n", state(res.CAKept), filepath.Join(abs, pki.CAFile), filepath.Join(abs, pki.CAKeyFile))
	dir := cluster.TLS.Dir
	if dir == "" {
		dir = "/etc/mmm/tls"
	}
	fmt.Fprintf(out, "\nCopy to each machine's %s (keys mode 0600, owned by the user mmm runs as):\n", dir)
	for _, l := range res.Leaves {
		fmt.Fprintf(out, "  %s %-40s %s, %s, %s\n", state(l.Kept), l.Where+":", pki.CAFile,
			filepath.Base(l.ID.CertFile(abs)), filepath.Base(l.ID.KeyFile(abs)))
	}
	if cluster.TLS.Dir == "" {
		fmt.Fprintf(out, "\nThen add to the topology:  tls { dir = %q }\n", dir)
	}
	if st, err := os.Stat(filepath.Join(abs, pki.CAKeyFile)); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(g.Stderr, "warning: %s has mode %04o; run chmod 600 on it\n", pki.CAKeyFile, st.Mode().Perm())
	}
	return nil
}
