package importer

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MMMOptions tune FromMMM.
type MMMOptions struct {
	// Dir holds mmm_common.conf, mmm_agent.conf, mmm_mon.conf (or
	// mmm_mon_CLUSTER.conf) and mmm_tools.conf; whichever exist are read.
	Dir string
	// Files, when set, are read instead (in order); includes are looked for
	// next to the including file, then in Dir.
	Files []string
	// Cluster names the cluster (default: CLUSTER of mmm_mon_CLUSTER.conf,
	// else "mmm").
	Cluster string
	// Flavor is "mysql" (MMM 2's servers) or "mariadb".
	Flavor string
	// AdminUser is the account mmm connects with (MMM 2 has none): "root".
	AdminUser string
}

// The environment variables an imported MMM configuration reads.
const (
	EnvAdminPassword       = "MMM_ADMIN_PASSWORD"
	EnvReplicationPassword = "MMM_REPLICATION_PASSWORD"
	EnvMonitorPassword     = "MMM_MONITOR_PASSWORD"
	EnvAgentPassword       = "MMM_AGENT_PASSWORD"
	EnvAgentToken          = "MMM_AGENT_TOKEN"
	EnvMonitorToken        = "MMM_MONITOR_TOKEN"
)

// MMM 2's defaults where they differ from mmm's (MMM::Common::Config).
const (
	mmmCheckPeriod = 5 * time.Second
	mmmTrapPeriod  = 10 * time.Second
	mmmMonitorPort = "9988"
)

// FromMMM reads MySQL-MMM 2 configuration files and returns the topology
// they describe, with a finding for everything that has no equivalent.
func FromMMM(opts MMMOptions) (*File, Findings, error) {
	if opts.Flavor == "" {
		opts.Flavor = "mysql"
	}
	if opts.Flavor != "mysql" && opts.Flavor != "mariadb" {
		return nil, nil, fmt.Errorf("flavor must be mysql or mariadb, not %q", opts.Flavor)
	}
	if opts.AdminUser == "" {
		opts.AdminUser = "root"
	}
	files, cluster, err := mmmFiles(opts)
	if err != nil {
		return nil, nil, err
	}
	if opts.Cluster == "" {
		opts.Cluster = cluster
	}
	var search []string
	if opts.Dir != "" {
		search = []string{opts.Dir}
	} else if len(files) > 0 {
		search = []string{filepath.Dir(files[0])}
	}
	cfg := newMMMConfig(search)
	for _, f := range files {
		cfg.readFile(f)
	}
	cv := &mmmConverter{cfg: cfg, opts: opts, out: &File{}}
	cv.convert()
	findings := append(cfg.findings, cv.findings...)
	findings.sortByPosition()
	return cv.out, findings, nil
}

// mmmFiles lists the files to read and the cluster name the file names give.
func mmmFiles(opts MMMOptions) ([]string, string, error) {
	cluster := "mmm"
	if len(opts.Files) > 0 {
		for _, f := range opts.Files {
			if c, ok := monCluster(filepath.Base(f)); ok {
				cluster = c
			}
		}
		return opts.Files, cluster, nil
	}
	if opts.Dir == "" {
		return nil, "", fmt.Errorf("name a directory of MMM configuration files (--from) or the files")
	}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", opts.Dir, err)
	}
	var mon []string
	has := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		has[e.Name()] = true
		if strings.HasPrefix(e.Name(), "mmm_mon") && strings.HasSuffix(e.Name(), ".conf") {
			mon = append(mon, e.Name())
		}
	}
	sort.Strings(mon)
	if len(mon) > 1 {
		return nil, "", fmt.Errorf("%s holds the monitor configuration of %d clusters (%s); name the files of one: mmm import mmm FILE…",
			opts.Dir, len(mon), strings.Join(mon, ", "))
	}
	var out []string
	for _, name := range append([]string{"mmm_common.conf"}, append(mon, "mmm_agent.conf", "mmm_tools.conf")...) {
		if has[name] {
			out = append(out, filepath.Join(opts.Dir, name))
		}
	}
	if len(out) == 0 {
		return nil, "", fmt.Errorf("%s has no MMM configuration (mmm_common.conf, mmm_mon.conf, mmm_agent.conf)", opts.Dir)
	}
	if len(mon) == 1 {
		if c, ok := monCluster(mon[0]); ok {
			cluster = c
		}
	}
	return out, cluster, nil
}

// monCluster reads CLUSTER from mmm_mon_CLUSTER.conf.
func monCluster(base string) (string, bool) {
	if c, ok := strings.CutPrefix(base, "mmm_mon_"); ok {
		c = strings.TrimSuffix(c, ".conf")
		return c, c != ""
	}
	return "", false
}

type mmmConverter struct {
	cfg      *mmmConfig
	opts     MMMOptions
	out      *File
	findings Findings
}

func (cv *mmmConverter) note(at pos, key string, sev Severity, format string, args ...any) {
	cv.findings = append(cv.findings, Finding{File: at.File, Line: at.Line, Key: key, Severity: sev, Message: fmt.Sprintf(format, args...)})
}

// Messages for settings mmm has no place for.
const (
	msgTools   = "MMM tools (mmm_backup, mmm_clone) only: mmm clones a new slave itself (a host's bootstrap block), without ssh or LVM snapshots"
	msgPidBin  = "mmm is one binary run by systemd (examples/systemd); it has no pid or bin path"
	msgUnknown = "not a MySQL-MMM 2 setting (MMM itself would refuse it)"
)

func (cv *mmmConverter) convert() {
	f := cv.out
	f.Cluster = cv.opts.Cluster
	f.Flavor = cv.opts.Flavor
	f.Header = []string{
		"Converted from MySQL-MMM 2 configuration by `mmm import mmm`:",
	}
	for _, p := range cv.cfg.Files {
		f.Header = append(f.Header, "  "+cv.cfg.display(p))
	}
	f.Header = append(f.Header, "Secrets are env() references; `mmm import` printed the variables to set.")

	cv.globals()
	cv.hosts()
	cv.roles()
	cv.monitor()
	cv.checks()
	cv.sockets()
	for _, s := range cv.cfg.named("copy_method") {
		cv.note(s.Pos, "<copy_method "+s.Name+">", Unconverted, "%s", msgTools)
	}
}

func (cv *mmmConverter) globals() {
	g := cv.cfg.Globals
	f := cv.out
	f.ActiveMasterRole = "writer"
	for _, k := range g.Order {
		v := g.Vars[k]
		switch k {
		case "active_master_role":
			f.ActiveMasterRole = v.Value
		case "this":
			cv.note(v.Pos, k, Info, "mmm has no per-host file: run `mmm agent --host %s` on that host", v.Value)
		case "debug":
			cv.note(v.Pos, k, Unconverted, "no setting in the file: give mmm --log-level debug")
		case "max_kill_retries":
			cv.note(v.Pos, k, Unconverted, "no equivalent: mmm's agent kills every client session when it fences and checks that none is left")
		case "default_copy_method", "clone_dirs":
			cv.note(v.Pos, k, Unconverted, "%s", msgTools)
		default:
			cv.note(v.Pos, k, Problem, "%s", msgUnknown)
		}
	}
}

// hostValue is a host's value of k, its own or <host default>'s.
func (cv *mmmConverter) hostValue(h *section, k string) (confValue, bool) {
	if v, ok := h.Vars[k]; ok {
		return v, true
	}
	if d := cv.cfg.get("host", "default"); d != nil {
		v, ok := d.Vars[k]
		return v, ok
	}
	return confValue{}, false
}

// accountKinds are MMM's three accounts, in the order they are declared.
var accountKinds = []struct {
	kind, userKey, passKey, env, what string
	grants                            []Grant
}{
	{"replication", "replication_user", "replication_password", EnvReplicationPassword,
		"MMM 2's replication account (replication_user)",
		[]Grant{{On: "*.*", Privileges: []string{"REPLICATION SLAVE"}}}},
	{"monitor", "monitor_user", "monitor_password", EnvMonitorPassword,
		"MMM 2's monitor account (monitor_user), with the privileges MMM's guide grants it",
		[]Grant{{On: "*.*", Privileges: []string{"REPLICATION CLIENT"}}}},
	{"agent", "agent_user", "agent_password", EnvAgentPassword,
		"MMM 2's agent account (agent_user), with the privileges MMM's guide grants it",
		[]Grant{{On: "*.*", Privileges: []string{"PROCESS", "REPLICATION CLIENT", "SUPER"}}}},
}

func (cv *mmmConverter) hosts() {
	f := cv.out
	hosts := cv.cfg.named("host")
	var real []*section
	for _, h := range hosts {
		if h.Name != "default" {
			real = append(real, h)
		}
	}
	if len(real) == 0 {
		cv.note(pos{}, "<host>", Problem, "no <host NAME> section: there is nothing to convert")
	}

	// settings with no equivalent, reported where they are written
	for _, h := range hosts {
		tag := "<host " + h.Name + ">"
		for _, k := range h.Order {
			v := h.Vars[k]
			switch {
			case k == "ip", k == "mode", k == "peer", k == "mysql_port", k == "cluster_interface", k == "agent_port":
			case isAccountKey(k):
			case k == "pid_path", k == "bin_path":
				cv.note(v.Pos, k, Unconverted, "%s", msgPidBin)
			case k == "mysql_cnf", k == "mysql_pidfile":
				cv.note(v.Pos, k, Unconverted, "used by MMM tools; mmm's agent takes the server's option file with --server-defaults-file")
			case k == "mysql_rcscript":
				cv.note(v.Pos, k, Unconverted, "used by MMM tools; mmm's agent starts and stops the server with --server-start and --server-stop")
			case strings.HasPrefix(k, "ssh_"), strings.HasPrefix(k, "lvm_"), strings.HasPrefix(k, "tools_"), k == "backup_dir", k == "restore_dir":
				cv.note(v.Pos, k, Unconverted, "%s", msgTools)
			default:
				cv.note(v.Pos, k, Problem, "%s", msgUnknown+" in "+tag)
			}
		}
	}

	// the most common port and interface go to defaults
	ports, ifaces := map[int]int{}, map[string]int{}
	type hostIn struct {
		h     *section
		port  int
		iface string
	}
	var ins []hostIn
	for _, h := range real {
		in := hostIn{h: h, port: 3306}
		if v, ok := cv.hostValue(h, "mysql_port"); ok {
			n, err := strconv.Atoi(v.Value)
			if err != nil || n < 1 || n > 65535 {
				cv.note(v.Pos, "mysql_port", Problem, "%q is not a port", v.Value)
			} else {
				in.port = n
			}
		}
		if v, ok := cv.hostValue(h, "cluster_interface"); ok {
			in.iface = v.Value
		}
		ports[in.port]++
		if in.iface != "" {
			ifaces[in.iface]++
		}
		ins = append(ins, in)
	}
	f.Defaults = Defaults{Port: mostCommon(ports, 3306), Interface: mostCommonString(ifaces), AdminUser: cv.opts.AdminUser,
		AdminEnv: f.addEnv(EnvAdminPassword, "password of the admin account mmm connects with ("+cv.opts.AdminUser+"@…); MMM 2 had none, use one that may create users and grant")}
	cv.note(pos{}, "defaults.admin", Info, "MMM 2 has no administrative account; mmm connects as %s (--admin-user) with the password from %s", cv.opts.AdminUser, EnvAdminPassword)

	var addrs []string
	for _, in := range ins {
		h := in.h
		out := Host{Name: h.Name}
		if v, ok := cv.hostValue(h, "ip"); ok {
			out.Address = v.Value
			if ip := net.ParseIP(v.Value); ip == nil || ip.To4() == nil {
				cv.note(v.Pos, "ip", Problem, "%q is not an IPv4 address; mmm needs each host's address", v.Value)
			} else {
				addrs = append(addrs, v.Value)
			}
		} else {
			cv.note(h.Pos, "<host "+h.Name+">", Problem, "no ip")
		}
		if v, ok := cv.hostValue(h, "mode"); ok {
			out.Mode = v.Value
		}
		if out.Mode == "master" {
			if v, ok := cv.hostValue(h, "peer"); ok {
				out.Peer = v.Value
			}
		} else if v, ok := cv.hostValue(h, "peer"); ok && v.Pos.Line > 0 {
			cv.note(v.Pos, "peer", Unconverted, "only masters have a peer; %s is a %s", h.Name, orDefault(out.Mode, "slave"))
		}
		if in.port != f.Defaults.Port {
			out.Port = in.port
		}
		if in.iface != "" && in.iface != f.Defaults.Interface {
			out.Interface = in.iface
		}
		f.Hosts = append(f.Hosts, out)
	}

	network := networkPattern(addrs)
	if network == "%" && len(addrs) > 0 {
		cv.note(pos{}, "user host", Info, "the hosts are not in one /24, so the accounts are declared for '%%' (any address); narrow them if you can")
	}

	// agent_port: one for all agents in mmm
	agentPorts := map[int]int{}
	for _, in := range ins {
		port := 9989
		if v, ok := cv.hostValue(in.h, "agent_port"); ok {
			if n, err := strconv.Atoi(v.Value); err == nil {
				port = n
			} else {
				cv.note(v.Pos, "agent_port", Problem, "%q is not a port", v.Value)
			}
		}
		agentPorts[port]++
	}
	f.Agent = &Agent{TokenEnv: f.addEnv(EnvAgentToken, "a shared secret of your choice: the token mmm's agents accept (MMM 2's agents had none)")}
	if p := mostCommon(agentPorts, 9989); p != 9989 {
		f.Agent.Port = p
	}
	if len(agentPorts) > 1 {
		cv.note(pos{}, "agent_port", Problem, "the hosts' agents listen on different ports; mmm's agents all use one (agent.port = %d)", mostCommon(agentPorts, 9989))
	}

	cv.accounts(real, network)
}

func isAccountKey(k string) bool {
	for _, a := range accountKinds {
		if k == a.userKey || k == a.passKey {
			return true
		}
	}
	return false
}

// accounts declares MMM's replication, monitor and agent accounts.
func (cv *mmmConverter) accounts(hosts []*section, network string) {
	f := cv.out
	byName := map[string]int{}
	for _, a := range accountKinds {
		names := map[string]confValue{}
		var order []string
		for _, h := range hosts {
			if v, ok := cv.hostValue(h, a.userKey); ok {
				if _, seen := names[v.Value]; !seen {
					order = append(order, v.Value)
				}
				names[v.Value] = v
			}
		}
		if len(order) == 0 {
			if a.kind == "replication" && len(hosts) > 1 {
				cv.note(pos{}, a.userKey, Problem, "no replication_user: mmm needs the account replicas connect with")
			}
			continue
		}
		name := order[0]
		for _, other := range order[1:] {
			v := names[other]
			cv.note(v.Pos, a.userKey, Problem, "hosts use different %s accounts (%s, %s); mmm declares one for all hosts: %s", a.kind, name, other, name)
		}
		if a.kind == "replication" {
			f.Replication.User = name
		}
		passAt := ""
		for _, h := range hosts {
			if v, ok := cv.hostValue(h, a.passKey); ok {
				passAt = fmt.Sprintf(" (%s in %s:%d)", a.passKey, v.Pos.File, v.Pos.Line)
				break
			}
		}
		if i, ok := byName[name]; ok {
			// one account serving two of MMM's purposes: one block with both grants
			u := &f.Users[i]
			u.Grants = mergeGrants(u.Grants, a.grants)
			u.Comment += "; also " + a.what
			continue
		}
		what := fmt.Sprintf("password of %s@'%s'%s", name, network, passAt)
		byName[name] = len(f.Users)
		f.Users = append(f.Users, User{
			Label: name, Name: name, Host: network,
			PasswordEnv: f.addEnv(a.env, what),
			Grants:      append([]Grant(nil), a.grants...),
			Comment:     a.what,
		})
	}
	if len(f.Users) > 0 {
		cv.note(pos{}, "user", Info, "grants are authoritative in mmm: the accounts get exactly the privileges MMM 2's guide gives them; `mmm plan` shows any difference to the servers (or use `mmm import live` to read the real ones)")
	}
}

func mergeGrants(a, b []Grant) []Grant {
	out := append([]Grant(nil), a...)
	for _, g := range b {
		merged := false
		for i := range out {
			if out[i].On == g.On {
				out[i].Privileges = sortedUnion(out[i].Privileges, g.Privileges)
				merged = true
			}
		}
		if !merged {
			out = append(out, g)
		}
	}
	return out
}

func sortedUnion(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (cv *mmmConverter) roles() {
	for _, r := range cv.cfg.named("role") {
		out := Role{Name: r.Name}
		for _, k := range r.Order {
			v := r.Vars[k]
			switch k {
			case "mode":
				out.Mode = v.Value
			case "hosts":
				out.Hosts = splitList(v.Value)
			case "ips":
				out.IPs = splitList(v.Value)
			case "prefer":
				out.Prefer = v.Value
			default:
				cv.note(v.Pos, k, Problem, "%s", msgUnknown+" in <role "+r.Name+">")
			}
		}
		cv.out.Roles = append(cv.out.Roles, out)
	}
}

// seconds parses MMM's seconds (a whole or decimal number).
func (cv *mmmConverter) seconds(v confValue, key string) (time.Duration, bool) {
	s, err := strconv.ParseFloat(v.Value, 64)
	if err != nil || s < 0 {
		cv.note(v.Pos, key, Problem, "%q is not a number of seconds", v.Value)
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

func (cv *mmmConverter) integer(v confValue, key string) (int, bool) {
	n, err := strconv.Atoi(v.Value)
	if err != nil || n < 0 {
		cv.note(v.Pos, key, Problem, "%q is not a whole number", v.Value)
		return 0, false
	}
	return n, true
}

func (cv *mmmConverter) monitor() {
	m := &Monitor{TokenEnv: cv.out.addEnv(EnvMonitorToken, "a shared secret of your choice: the token of mmm watch's control API (mmm show, move-role, …)")}
	cv.out.Monitor = m
	s := cv.cfg.unique("monitor")
	if s == nil {
		cv.note(pos{}, "<monitor>", Info, "no <monitor> section (mmm_mon.conf) was read: the monitor block has mmm's defaults")
		return
	}
	ip, port := "", mmmMonitorPort
	for _, k := range s.Order {
		v := s.Vars[k]
		switch k {
		case "ip":
			ip = v.Value
		case "port":
			port = v.Value
		case "ping_ips":
			m.PingIPs = splitList(v.Value)
		case "flap_duration":
			if d, ok := cv.seconds(v, k); ok {
				m.FlapDuration = d
			}
		case "flap_count":
			if n, ok := cv.integer(v, k); ok {
				m.FlapCount = n
			}
		case "auto_set_online":
			if d, ok := cv.seconds(v, k); ok {
				m.AutoSetOnline = &d
			}
		case "pid_path", "bin_path":
			cv.note(v.Pos, k, Unconverted, "%s", msgPidBin)
		case "status_path":
			cv.note(v.Pos, k, Unconverted, "mmm keeps its state in monitor.state_file (default /var/lib/mmm/watch.state) and does not read MMM's status file: hosts start as in a new watch")
		case "ping_interval":
			cv.note(v.Pos, k, Unconverted, "no equivalent: mmm checks ping_ips on its own schedule")
		case "kill_host_bin":
			cv.note(v.Pos, k, Unconverted, "the nearest equivalent is monitor.fence_hook, which is run with MMM_HOST and MMM_ADDRESS set and must exit 0 only once the host is surely off; set it by hand")
		case "careful_startup", "wait_for_other_master":
			cv.note(v.Pos, k, Unconverted, "no equivalent: mmm watch starts from its state file and the live servers")
		case "mode":
			cv.note(v.Pos, k, Unconverted, "mmm watch starts active; switch it with `mmm mode active|passive|manual` (MMM's wait mode has no equivalent)")
		default:
			cv.note(v.Pos, k, Problem, "%s", msgUnknown+" in <monitor>")
		}
	}
	if ip != "" {
		m.Listen = net.JoinHostPort(ip, port)
	}
	if _, set := s.Vars["auto_set_online"]; !set {
		cv.note(s.Pos, "auto_set_online", Info, "not set, so MMM 2 never set hosts online by itself; mmm's default is 60s (set auto_set_online = \"0s\" to keep MMM's behaviour)")
	}
}

func (cv *mmmConverter) checks() {
	builtin := []string{"ping", "mysql", "rep_threads", "rep_backlog"}
	out := map[string]*Check{}
	get := func(name string) *Check {
		if out[name] == nil {
			out[name] = &Check{Name: name}
		}
		return out[name]
	}
	def := cv.cfg.get("check", "default")
	periodSet, trapSet := false, false
	if def != nil {
		for _, k := range def.Order {
			v := def.Vars[k]
			switch k {
			case "check_period":
				if d, ok := cv.seconds(v, k); ok {
					cv.out.Monitor.CheckPeriod, periodSet = d, true
				}
			case "trap_period":
				if d, ok := cv.seconds(v, k); ok {
					cv.out.Monitor.TrapPeriod, trapSet = d, true
				}
			case "timeout":
				if d, ok := cv.seconds(v, k); ok {
					for _, b := range builtin {
						get(b).Timeout = d
					}
				}
			case "max_backlog":
				if n, ok := cv.integer(v, k); ok {
					get("rep_backlog").MaxBacklog = n
				}
			case "restart_after":
				cv.note(v.Pos, k, Unconverted, "no equivalent: mmm's checks run inside the watch, no checker process to restart")
			default:
				cv.note(v.Pos, k, Problem, "%s", msgUnknown+" in <check default>")
			}
		}
	}
	for _, s := range cv.cfg.named("check") {
		if s.Name == "default" {
			continue
		}
		if !contains(builtin, s.Name) {
			cv.note(s.Pos, "<check "+s.Name+">", Problem, "MMM 2 has no check %q (ping, mysql, rep_threads, rep_backlog)", s.Name)
			continue
		}
		c := get(s.Name)
		for _, k := range s.Order {
			v := s.Vars[k]
			switch k {
			case "check_period":
				if d, ok := cv.seconds(v, k); ok {
					c.Period = d
				}
			case "trap_period":
				if d, ok := cv.seconds(v, k); ok {
					c.TrapPeriod = d
				}
			case "timeout":
				if d, ok := cv.seconds(v, k); ok {
					c.Timeout = d
				}
			case "max_backlog":
				if s.Name != "rep_backlog" {
					cv.note(v.Pos, k, Unconverted, "only rep_backlog has a max_backlog (MMM ignores it here too)")
				} else if n, ok := cv.integer(v, k); ok {
					c.MaxBacklog = n
				}
			case "restart_after":
				cv.note(v.Pos, k, Unconverted, "no equivalent: mmm's checks run inside the watch, no checker process to restart")
			default:
				cv.note(v.Pos, k, Problem, "%s", msgUnknown+" in <check "+s.Name+">")
			}
		}
	}
	if !periodSet || !trapSet {
		cv.note(pos{}, "check_period/trap_period", Info, "where MMM 2 used its defaults (check every %s, failed after %s), mmm's defaults apply (monitor.check_period 1s, trap_period 5s)",
			FormatDuration(mmmCheckPeriod), FormatDuration(mmmTrapPeriod))
	}
	for _, b := range builtin {
		if c := out[b]; c != nil {
			cv.out.Checks = append(cv.out.Checks, *c)
		}
	}
}

func (cv *mmmConverter) sockets() {
	s := cv.cfg.unique("socket")
	if s == nil {
		return
	}
	ssl := s.Vars["type"].Value == "ssl"
	for _, k := range s.Order {
		v := s.Vars[k]
		switch k {
		case "type":
			if v.Value != "plain" && v.Value != "ssl" {
				cv.note(v.Pos, k, Problem, "%q: MMM's socket type is plain or ssl", v.Value)
			}
		case "cert_file", "key_file":
			if !ssl {
				cv.note(v.Pos, k, Unconverted, "ignored without type ssl, as MMM does")
			} else if k == "cert_file" {
				cv.out.Agent.TLSCert = v.Value
			} else {
				cv.out.Agent.TLSKey = v.Value
			}
		case "ca_file":
			cv.note(v.Pos, k, Unconverted, "no equivalent: mmm's agents authenticate requests with the agent token; clients are not asked for certificates")
		default:
			cv.note(v.Pos, k, Problem, "%s", msgUnknown+" in <socket>")
		}
	}
	if ssl {
		cv.note(s.Pos, "<socket>", Info, "the agents serve TLS with cert_file and key_file (agent.tls_cert, agent.tls_key); the monitor and control client use them too in MMM, in mmm only the agents")
	}
}

// networkPattern is the account host pattern that admits every address: the
// shared /24 ("192.168.0.%"), else "%".
func networkPattern(addrs []string) string {
	prefix := ""
	for _, a := range addrs {
		i := strings.LastIndexByte(a, '.')
		if i < 0 {
			return "%"
		}
		p := a[:i+1]
		if prefix == "" {
			prefix = p
		} else if p != prefix {
			return "%"
		}
	}
	if prefix == "" {
		return "%"
	}
	return prefix + "%"
}

func mostCommon(counts map[int]int, def int) int {
	best, n := def, 0
	keys := make([]int, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		if counts[k] > n {
			best, n = k, counts[k]
		}
	}
	return best
}

func mostCommonString(counts map[string]int) string {
	best, n := "", 0
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if counts[k] > n {
			best, n = k, counts[k]
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
