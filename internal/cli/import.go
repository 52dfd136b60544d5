package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mysql-mmm/mmm/internal/importer"
)

// ImportCmd is `mmm import mmm|live`: a topology file for a cluster that
// exists already.
type ImportCmd struct {
	MMM  ImportMMMCmd  `cmd:"" name:"mmm" help:"Convert MySQL-MMM 2 configuration (mmm_common.conf, mmm_mon.conf, mmm_agent.conf) to a topology file."`
	Live ImportLiveCmd `cmd:"" name:"live" help:"Adopt a running cluster: read it from one of its servers and write the topology that declares it."`
}

// ImportOutput is where both import commands write.
type ImportOutput struct {
	Out   string `help:"Write the topology to FILE (mode 0600) instead of standard output; the report then goes to standard output." placeholder:"FILE" type:"path"`
	Force bool   `help:"Overwrite --out when it exists."`
}

// ImportMMMCmd converts MySQL-MMM 2 configuration files.
type ImportMMMCmd struct {
	ImportOutput
	From      string   `help:"Directory holding the MMM files (mmm_common.conf, mmm_mon.conf or mmm_mon_CLUSTER.conf, mmm_agent.conf, mmm_tools.conf); default /etc/mysql-mmm when no FILE is named." placeholder:"DIR" type:"path"`
	Files     []string `arg:"" optional:"" help:"MMM files to read instead, in order (their includes are looked for next to them, then in --from)." type:"path"`
	Name      string   `help:"The cluster's name (default: CLUSTER of mmm_mon_CLUSTER.conf, else mmm)."`
	Flavor    string   `help:"The servers: mysql or mariadb (MMM 2's files do not say)." default:"mysql" enum:"mysql,mariadb"`
	AdminUser string   `help:"The account mmm connects with; MMM 2 has none." default:"root" placeholder:"USER"`
}

// Help is kong's long help.
func (c *ImportMMMCmd) Help() string {
	return `Reads MySQL-MMM 2 configuration as MMM itself does (include, <host default>
merged into every <host>, <role>, <monitor>, <check>, <socket> sections) and
writes one topology file: hosts, the master pair, roles and their IPs, the
replication, monitor and agent accounts, the monitor's ping_ips,
auto_set_online, flap settings and check periods, max_backlog.

Passwords are never written: each is an env("…") reference, and the report
lists the variables to set with the file:line the password was in. Every
setting without an equivalent in mmm is reported with its file:line (pid and
bin paths, status_path, kill_host_bin, MMM tools' ssh and LVM settings, …);
nothing is dropped silently. The output is checked as 'mmm validate' checks
it; the exit code is 1 when the input has errors or the output does not
validate.

Examples:
  mmm import mmm --from /etc/mysql-mmm --out mmm.hcl
  mmm import mmm --flavor mariadb mmm_common.conf mmm_mon.conf > mmm.hcl
  mmm import mmm --from ./old-configs && mmm validate --config mmm.hcl`
}

func (c *ImportMMMCmd) Run(g *Globals) error {
	from := c.From
	if from == "" && len(c.Files) == 0 {
		from = "/etc/mysql-mmm"
	}
	f, findings, err := importer.FromMMM(importer.MMMOptions{Dir: from, Files: c.Files, Cluster: c.Name, Flavor: c.Flavor, AdminUser: c.AdminUser})
	if err != nil {
		return err
	}
	src := importer.Render(f)
	_, more := importer.Load(src, nil)
	return c.write(g, src, append(findings, more...), f.Env)
}

// ImportLiveCmd adopts a running cluster.
type ImportLiveCmd struct {
	ImportOutput
	ClusterFlags
	Address    string   `help:"One server of the cluster, HOST[:PORT] (port 3306)." required:"" placeholder:"HOST[:PORT]"`
	AdminUser  string   `help:"The account the servers are read with, and mmm's admin account in the file; its password comes from MMM_ADMIN_PASSWORD (environment or --env-file), never from the command line." default:"root" env:"MMM_ADMIN_USER" placeholder:"USER"`
	WriterVIP  string   `help:"The writer role's virtual IP (clients write through it)." required:"" name:"writer-vip" placeholder:"IP"`
	ReaderVIPs []string `help:"The reader role's virtual IPs, comma separated (optional; spread over the slaves)." name:"reader-vips" sep:"," placeholder:"IP,…"`
	Name       string   `help:"The cluster's name." default:"mmm"`
	Interface  string   `help:"The network interface the hosts' VIPs go on." default:"eth0"`
	MaxServers int      `help:"Stop discovering after this many servers." default:"64"`
	NoAgent    bool     `help:"Leave out the agent block: mmm then manages MySQL only and leaves the VIPs alone (a first plan while MySQL-MMM's agents still hold them)." name:"no-agent"`
}

// Help is kong's long help.
func (c *ImportLiveCmd) Help() string {
	return `Connects to --address and follows replication both ways: the source in SHOW
SLAVE STATUS, the replicas in SHOW SLAVE HOSTS and in the binary log dump
threads of the process list, then each of those, until the whole cluster is
read. The two servers that replicate from each other are the masters, the
writable one the writer (the role's prefer); every other server is a slave.
The file keeps what is there: addresses, ports, server_ids, the masters'
order (their auto_increment_offset), the replication account, semi-sync and
its timeout, connect retry and heartbeat, and every account on the writer
with its grants (except the admin account, the server's own, anonymous
accounts and roles, which the report names).

It then plans the file against the servers exactly as 'mmm plan' does and
lists every step left: what mmm would change to run the cluster its way
(slave_net_timeout for a quick failover, gtid_strict_mode, read_only on the
slaves, GTID auto-positioning, …). Set the variables the report lists and
'mmm plan' shows those steps and nothing else.

The servers are read with --admin-user (needs SELECT on mysql.user, SHOW
GRANTS, REPLICATION CLIENT / SLAVE MONITOR, PROCESS) and the password in
MMM_ADMIN_PASSWORD. Virtual IPs are not visible in SQL: name them.

Examples:
  MMM_ADMIN_PASSWORD=… mmm import live --address 192.168.2.206 --writer-vip 192.168.2.201 --out mmm.hcl
  mmm import live --env-file /etc/mmm/env --address db3:3307 --writer-vip 10.0.0.100 --reader-vips 10.0.0.101,10.0.0.102
  mmm import live --address 10.0.0.11 --writer-vip 10.0.0.100 --no-agent --out mmm.hcl && mmm plan --config mmm.hcl`
}

func (c *ImportLiveCmd) Run(g *Globals) error {
	lookup, err := envLookup(g.EnvFile)
	if err != nil {
		return err
	}
	password, ok := lookup(importer.EnvAdminPassword)
	if !ok {
		return fmt.Errorf("set %s (in the environment or --env-file) to the password of %s: secrets never come from the command line", importer.EnvAdminPassword, c.AdminUser)
	}
	f, findings, err := importer.FromLive(context.Background(), importer.LiveOptions{
		Address: c.Address, AdminUser: c.AdminUser, AdminPassword: password,
		Cluster: c.Name, Interface: c.Interface, WriterVIP: c.WriterVIP, ReaderVIPs: c.ReaderVIPs,
		NoAgent: c.NoAgent, Timeouts: c.timeouts(), MaxServers: c.MaxServers, Logger: g.Logger, LookupEnv: lookup,
	})
	for _, fd := range findings {
		g.Logger.Debug("import", "finding", fd.String())
	}
	if err != nil {
		return err
	}
	return c.write(g, importer.Render(f), findings, f.Env)
}

// write puts the topology on stdout or into --out, and the report next to
// it: on stderr when the topology is on stdout, so that `> mmm.hcl` works.
func (o ImportOutput) write(g *Globals, src []byte, findings importer.Findings, env []importer.EnvVar) error {
	report := g.Stderr
	if o.Out == "" {
		if _, err := g.Stdout.Write(src); err != nil {
			return err
		}
	} else {
		if err := writeNewFile(o.Out, src, o.Force); err != nil {
			return err
		}
		report = g.Stdout
		fmt.Fprintf(report, "Wrote %s.\n", o.Out)
	}
	writeImportReport(report, findings, env)
	if findings.HasProblems() {
		return &ExitError{Code: ExitFailure, Err: errors.New("the import has errors (marked \"error\" above); the file needs fixing before mmm can use it")}
	}
	return nil
}

func writeImportReport(w io.Writer, findings importer.Findings, env []importer.EnvVar) {
	if len(findings) > 0 {
		fmt.Fprintln(w, "\nReport:")
		for _, f := range findings {
			fmt.Fprintln(w, "  "+f.String())
		}
	}
	if len(env) > 0 {
		fmt.Fprintln(w, "\nSet these variables (environment or --env-file) before mmm plan, apply, agent or watch:")
		importer.WriteEnv(w, env)
	}
}

// writeNewFile writes data with owner-only permissions, refusing to replace
// a file unless force: an imported file is usually edited afterwards.
func writeNewFile(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	fh, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; give --force to overwrite it, or another --out", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Clean(path), err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return fh.Close()
}
