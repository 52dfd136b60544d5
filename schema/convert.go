package schema

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Defaults for everything a topology file may leave out. doc.go lists them.
const (
	DefaultPort            = 3306
	DefaultInterface       = "eth0"
	DefaultAdminUser       = "root"
	DefaultUserHost        = "%"
	DefaultBootstrapMethod = "logical"
	DefaultSemiSyncTimeout = time.Second
	DefaultConnectRetry    = 10 * time.Second
	DefaultHeartbeat       = time.Second
	DefaultAgentPort       = 9989
	DefaultAgentFence      = topology.FenceKill
	DefaultMonitorListen   = "127.0.0.1:9988"
	DefaultCheckPeriod     = time.Second
	DefaultTrapPeriod      = 5 * time.Second
	DefaultLease           = 5 * time.Second
	DefaultAutoSetOnline   = 60 * time.Second
	DefaultFlapCount       = 3
	DefaultFlapDuration    = time.Hour
	DefaultReconcilePeriod = 5 * time.Second
	DefaultStateFile       = "/var/lib/mmm/watch.state"
	DefaultCheckTimeout    = 2 * time.Second
	DefaultMaxBacklog      = 60
	DefaultActiveRole      = "writer"
)

// BuiltinChecks are the checks every monitor runs; a check block with one of
// these names tunes it, any other name is a custom command.
var BuiltinChecks = []string{"ping", "mysql", "rep_threads", "rep_backlog"}

// builder converts the decoded specs into the model and validates it. src
// keeps the source range of every converted item ("host.master1",
// "host.master1.peer", "role.writer.ips") for diagnostics about relations.
type builder struct {
	l     *Loader
	diags *hcl.Diagnostics
	src   map[string]hcl.Range
	c     *topology.Cluster
	// hostMarks remembers hosts whose address is sensitive (never shown).
	sensitiveAddr map[string]bool
	// userBlocks are the declared accounts with their blocks, for checks
	// that need every host first (validateReadOnlyBypass).
	userBlocks []userBlock
}

type userBlock struct {
	user                *topology.User
	def                 hcl.Range
	allowReadOnlyBypass bool
}

func (b *builder) add(d ...*hcl.Diagnostic) { *b.diags = append(*b.diags, d...) }

func (b *builder) errorf(subject *hcl.Range, summary, format string, args ...any) {
	b.add(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: subject})
}

func (b *builder) warnf(subject *hcl.Range, summary, format string, args ...any) {
	b.add(&hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: subject})
}

// rec records where attribute a of item key is.
func (b *builder) rec(key string, a *hcl.Attribute) {
	if a != nil {
		b.src[key] = a.Expr.Range()
	}
}

// at returns the range of the first recorded key.
func (b *builder) at(keys ...string) *hcl.Range {
	for _, k := range keys {
		if r, ok := b.src[k]; ok {
			return r.Ptr()
		}
	}
	return nil
}

func pick(a, def *hcl.Attribute) *hcl.Attribute {
	if a != nil {
		return a
	}
	return def
}

// single returns the first block of a kind that may appear once, reporting
// the others.
func single[T any](b *builder, kind string, blocks []*T, def func(*T) hcl.Range) *T {
	for _, extra := range blocks[min(1, len(blocks)):] {
		b.add(duplicateDiag(kind+" block", "", def(extra), def(blocks[0])))
	}
	if len(blocks) == 0 {
		return nil
	}
	return blocks[0]
}

func (b *builder) build(root *rootSpec) *topology.Cluster {
	c := &topology.Cluster{}
	b.c = c
	b.sensitiveAddr = map[string]bool{}
	vars := b.l.variableValues(root.Variables, nil, true, b.diags)
	e := newEvaluator(b.l, vars, b.diags)

	b.cluster(e, single(b, "cluster", root.Clusters, func(s *clusterSpec) hcl.Range { return s.DefRange }))
	def := single(b, "defaults", root.Defaults, func(s *defaultsSpec) hcl.Range { return s.DefRange })
	var defAttrs hostAttrsSpec
	if def != nil {
		defAttrs = def.attrs
	}
	for _, h := range root.Hosts {
		b.host(e, h, &defAttrs)
	}
	b.replication(e, single(b, "replication", root.Replication, func(s *replicationSpec) hcl.Range { return s.DefRange }))
	b.agent(e, single(b, "agent", root.Agents, func(s *agentSpec) hcl.Range { return s.DefRange }))
	b.monitor(e, single(b, "monitor", root.Monitors, func(s *monitorSpec) hcl.Range { return s.DefRange }))
	b.tls(e, single(b, "tls", root.TLS, func(s *tlsSpec) hcl.Range { return s.DefRange }))

	var users []userIn
	var roles []roleIn
	var checks []checkIn
	for _, u := range root.Users {
		users = append(users, userIn{e, u})
	}
	for _, r := range root.Roles {
		roles = append(roles, roleIn{e, r})
	}
	for _, ch := range root.Checks {
		checks = append(checks, checkIn{e, ch})
	}
	seenModules := map[string]*moduleSpec{}
	for _, m := range root.Modules {
		if prev, dup := seenModules[m.Name]; dup {
			b.add(duplicateDiag("module", m.Name, m.DefRange, prev.DefRange))
			continue
		}
		seenModules[m.Name] = m
		mu, mr, mc := b.module(e, m)
		users, roles, checks = append(users, mu...), append(roles, mr...), append(checks, mc...)
	}
	for _, u := range users {
		b.user(u.e, u.spec)
	}
	for _, r := range roles {
		b.role(r.e, r.spec)
	}
	b.checks(checks)

	b.validate()
	return c
}

// userIn, roleIn and checkIn pair a block with the evaluator of the module
// instance that declared it.
type (
	userIn struct {
		e    *evaluator
		spec *userSpec
	}
	roleIn struct {
		e    *evaluator
		spec *roleSpec
	}
	checkIn struct {
		e    *evaluator
		spec *checkSpec
	}
)

func (b *builder) cluster(e *evaluator, s *clusterSpec) {
	if s == nil {
		b.errorf(nil, "Missing cluster block",
			"Every topology declares one cluster block: cluster \"name\" { flavor = \"mariadb\" }.")
		return
	}
	b.c.Name = s.Name
	b.src["cluster"] = s.DefRange
	b.rec("cluster.active_master_role", s.ActiveMasterRole)
	if s.Flavor == nil {
		b.errorf(s.DefRange.Ptr(), "Missing flavor",
			"Say which server the cluster runs: flavor = \"mariadb\" or flavor = \"mysql\".")
	}
	if v, _, ok := e.value(s.Flavor, cty.String); ok {
		if f := v.AsString(); f == "mariadb" || f == "mysql" {
			b.c.Flavor = f
		} else {
			b.errorf(s.Flavor.Expr.Range().Ptr(), "Invalid flavor",
				"flavor must be \"mariadb\" or \"mysql\", not %q.", f)
		}
	}
	b.c.ActiveMasterRole = e.str(s.ActiveMasterRole, DefaultActiveRole)
}

func (b *builder) host(e *evaluator, s *hostSpec, def *hostAttrsSpec) {
	key := "host." + s.Name
	if _, dup := b.src[key]; dup {
		b.add(duplicateDiag("host", s.Name, s.DefRange, b.src[key]))
		return
	}
	b.src[key] = s.DefRange
	a := &s.attrs
	h := &topology.Host{Name: s.Name}

	address := pick(a.Address, def.Address)
	b.rec(key+".address", address)
	addr, marks := e.strMarked(address, "")
	h.Address = addr
	b.sensitiveAddr[s.Name] = sensitive(marks)
	switch {
	case address == nil:
		b.errorf(s.DefRange.Ptr(), "Missing address", "Host %q needs address = \"<IPv4 address>\".", s.Name)
	case addr != "" && !ipv4(addr):
		b.errorf(address.Expr.Range().Ptr(), "Invalid IP address",
			"address = %s is not an IPv4 address; write it as four numbers, e.g. \"192.168.2.206\".", shown(addr, marks))
	}

	port := pick(a.Port, def.Port)
	b.rec(key+".port", port)
	h.Port = int(e.integer(port, DefaultPort, 1, 65535))

	mode := pick(a.Mode, def.Mode)
	b.rec(key+".mode", mode)
	h.Mode = topology.HostMode(e.str(mode, string(topology.ModeSlave)))
	if h.Mode != topology.ModeMaster && h.Mode != topology.ModeSlave {
		b.errorf(mode.Expr.Range().Ptr(), "Invalid mode", "mode must be \"master\" or \"slave\", not %q.", h.Mode)
	}

	peer := pick(a.Peer, def.Peer)
	b.rec(key+".peer", peer)
	h.Peer = e.str(peer, "")

	sid := pick(a.ServerID, def.ServerID)
	b.rec(key+".server_id", sid)
	h.ServerID = uint32(e.integer(sid, 0, 1, 4294967295))

	iface := pick(a.Interface, def.Interface)
	b.rec(key+".interface", iface)
	h.Interface = e.str(iface, DefaultInterface)
	if iface != nil && strings.TrimSpace(h.Interface) == "" {
		b.errorf(iface.Expr.Range().Ptr(), "Invalid interface", "interface must name the network interface the VIPs go on, e.g. \"eth0\".")
	}

	// admin: the host's block overrides the defaults' block attribute by attribute
	hostAdmin := singleAdmin(b, a.Admin)
	defAdmin := singleAdmin(b, def.Admin)
	user := pick(hostAdmin.User, defAdmin.User)
	h.Admin.User = e.str(user, DefaultAdminUser)
	adminKind := SecretAdmin
	if only := e.l.opts.Host; only != "" && only != h.Name {
		adminKind = SecretOtherAdmin
	}
	h.Admin.Password = e.secret(pick(hostAdmin.Password, defAdmin.Password), adminKind)
	b.adminTLS(e, key, h, pick(hostAdmin.TLS, defAdmin.TLS))

	if bs := single(b, "bootstrap", a.Bootstrap, func(s *bootstrapSpec) hcl.Range { return s.DefRange }); bs != nil {
		b.src[key+".bootstrap"] = bs.DefRange
		b.rec(key+".bootstrap.donor", bs.Donor)
		h.Bootstrap = &topology.Bootstrap{
			Donor:  e.str(bs.Donor, ""),
			Method: e.str(bs.Method, DefaultBootstrapMethod),
		}
		if m := h.Bootstrap.Method; m != "logical" && m != "physical" {
			b.errorf(bs.Method.Expr.Range().Ptr(), "Invalid bootstrap method",
				"method must be \"logical\" (a dump) or \"physical\" (a copy of the data files), not %q.", m)
		}
	}
	b.c.Hosts = append(b.c.Hosts, h)
}

func singleAdmin(b *builder, blocks []*adminSpec) *adminSpec {
	if a := single(b, "admin", blocks, func(s *adminSpec) hcl.Range { return s.DefRange }); a != nil {
		return a
	}
	return &adminSpec{}
}

func (b *builder) replication(e *evaluator, s *replicationSpec) {
	r := &b.c.Replication
	r.SemiSyncTimeout, r.ConnectRetry, r.Heartbeat = DefaultSemiSyncTimeout, DefaultConnectRetry, DefaultHeartbeat
	if s == nil {
		return
	}
	b.src["replication"] = s.DefRange
	b.rec("replication.user", s.User)
	r.User = e.str(s.User, "")
	r.SemiSync = e.boolean(s.SemiSync, false)
	r.SemiSyncTimeout = e.duration(s.SemiSyncTimeout, DefaultSemiSyncTimeout, false)
	r.ConnectRetry = e.duration(s.ConnectRetry, DefaultConnectRetry, false)
	r.Heartbeat = e.duration(s.Heartbeat, DefaultHeartbeat, true)
	r.SSLCA = e.str(s.SSLCA, "")
	r.SSLCert = e.str(s.SSLCert, "")
	r.SSLKey = e.str(s.SSLKey, "")
	anyFile := r.SSLCA != "" || r.SSLCert != "" || r.SSLKey != ""
	r.SSL = e.boolean(s.SSL, anyFile)
	if anyFile && !r.SSL {
		b.errorf(s.SSL.Expr.Range().Ptr(), "SSL files without SSL",
			"ssl_ca, ssl_cert or ssl_key is set but ssl = false; remove the files or set ssl = true.")
	}
	if (r.SSLCert == "") != (r.SSLKey == "") {
		b.errorf(s.DefRange.Ptr(), "Incomplete SSL client certificate",
			"ssl_cert and ssl_key go together: set both (a client certificate) or neither.")
	}
}

func (b *builder) agent(e *evaluator, s *agentSpec) {
	a := &b.c.Agent
	a.Port = DefaultAgentPort
	a.Fence = DefaultAgentFence
	a.Failsafe = true
	if s == nil {
		return
	}
	a.Enabled = true
	b.src["agent"] = s.DefRange
	a.Port = int(e.integer(s.Port, DefaultAgentPort, 1, 65535))
	a.Token = e.secret(s.Token, SecretAgentToken)
	b.blankToken(s.Token, a.Token, SecretAgentToken)
	a.CloneToken = e.secret(s.Clone, SecretCloneToken)
	b.blankToken(s.Clone, a.CloneToken, SecretCloneToken)
	a.TLSCert = e.str(s.TLSCert, "")
	a.TLSKey = e.str(s.TLSKey, "")
	if (a.TLSCert == "") != (a.TLSKey == "") {
		b.errorf(s.DefRange.Ptr(), "Incomplete TLS certificate", "tls_cert and tls_key go together: set both or neither.")
	}
	a.Failsafe = e.boolean(s.Failsafe, true)
	a.Fence = e.str(s.Fence, DefaultAgentFence)
	if a.Fence != topology.FenceKill && a.Fence != topology.FenceReadOnly {
		b.errorf(s.Fence.Expr.Range().Ptr(), "Invalid fence",
			"fence must be %q (stop a server whose read_only cannot be set in time) or %q (only set read_only, and report when that fails), not %q.",
			topology.FenceKill, topology.FenceReadOnly, a.Fence)
	}
}

func (b *builder) monitor(e *evaluator, s *monitorSpec) {
	m := &b.c.Monitor
	*m = topology.Monitor{
		Listen: DefaultMonitorListen, CheckPeriod: DefaultCheckPeriod, TrapPeriod: DefaultTrapPeriod,
		Lease: DefaultLease, AutoSetOnline: DefaultAutoSetOnline, FlapCount: DefaultFlapCount,
		FlapDuration: DefaultFlapDuration, StateFile: DefaultStateFile,
	}
	if s == nil {
		return
	}
	var listenMarks cty.ValueMarks
	m.Listen, listenMarks = e.strMarked(s.Listen, DefaultMonitorListen)
	if s.Listen != nil {
		if host, port, err := net.SplitHostPort(m.Listen); err != nil || (host != "" && net.ParseIP(host) == nil) || !validPort(port) {
			b.errorf(s.Listen.Expr.Range().Ptr(), "Invalid listen address",
				"listen = %s must be IP:PORT, e.g. \"127.0.0.1:9988\".", shown(m.Listen, listenMarks))
		}
	}
	m.Token = e.secret(s.Token, SecretMonitorToken)
	b.blankToken(s.Token, m.Token, SecretMonitorToken)
	m.CheckPeriod = e.duration(s.CheckPeriod, DefaultCheckPeriod, false)
	m.TrapPeriod = e.duration(s.TrapPeriod, DefaultTrapPeriod, false)
	m.Lease = e.duration(s.Lease, DefaultLease, false)
	m.AutoSetOnline = e.duration(s.AutoSetOnline, DefaultAutoSetOnline, true)
	m.FlapCount = int(e.integer(s.FlapCount, DefaultFlapCount, 1, 1000))
	m.FlapDuration = e.duration(s.FlapDuration, DefaultFlapDuration, false)
	m.StateFile = e.str(s.StateFile, DefaultStateFile)
	m.FailBack = e.boolean(s.FailBack, false)
	m.PreFailover, _ = e.strList(s.PreFailover)
	m.PostFailover, _ = e.strList(s.PostFailover)
	before := len(*e.diags) // an unset env() or a type error is reported already
	m.FenceHook, _ = e.strList(s.FenceHook)
	if s.FenceHook != nil && len(*e.diags) == before && (len(m.FenceHook) == 0 || m.FenceHook[0] == "") {
		b.errorf(s.FenceHook.Expr.Range().Ptr(), "Empty fence_hook",
			"fence_hook is a command as an argument list, e.g. [\"/usr/local/bin/power-off\", \"--force\"]; remove it to have no fence hook.")
	}
	// 0 when unset: the watch derives its default from check_period.
	m.HostLostAfter = e.duration(s.HostLostAfter, 0, false)
	m.ReconcilePeriod = e.duration(s.Reconcile, DefaultReconcilePeriod, false)
	if s.Reconcile != nil && m.ReconcilePeriod < m.CheckPeriod {
		b.errorf(s.Reconcile.Expr.Range().Ptr(), "reconcile_period shorter than check_period",
			"The watch compares the servers' settings with the file at most once a check period (%s); use at least that, or leave reconcile_period unset (%s).", m.CheckPeriod, DefaultReconcilePeriod)
	}
	ips, marks := e.strList(s.PingIPs)
	for _, ip := range ips {
		if net.ParseIP(ip) == nil {
			b.errorf(s.PingIPs.Expr.Range().Ptr(), "Invalid IP address",
				"ping_ips: %s is not an IP address.", shown(ip, marks))
		}
	}
	m.PingIPs = ips
	if m.HostLostAfter > 0 && m.HostLostAfter < 2*m.CheckPeriod {
		b.warnf(s.HostLostAfter.Expr.Range().Ptr(), "host_lost_after shorter than two check periods",
			"The probes run every check_period (%s), so a healthy host is routinely silent for one period: with host_lost_after = %s only the witnesses stand between a missed probe and a failover. Use at least %s (the default is three check periods, at least 500ms).",
			m.CheckPeriod, m.HostLostAfter, 2*m.CheckPeriod)
	}
	b.monitorNodes(e, s)
	if m.TrapPeriod < m.CheckPeriod {
		b.errorf(s.TrapPeriod.Expr.Range().Ptr(), "trap_period shorter than check_period",
			"A failure is trusted only after trap_period (%s), so it must be at least one check_period (%s).", m.TrapPeriod, m.CheckPeriod)
	}
}

// monitorNodes reads the node blocks: several watch nodes, raft electing
// the one that acts (docs/watch.md, "Several watch nodes").
func (b *builder) monitorNodes(e *evaluator, s *monitorSpec) {
	if len(s.Nodes) == 0 {
		return
	}
	m := &b.c.Monitor
	if s.Listen != nil {
		b.errorf(s.Listen.Expr.Range().Ptr(), "listen together with node blocks",
			"With node blocks every watch node answers on its own node's listen; remove monitor.listen (or the node blocks for a single watch).")
	}
	seen := map[string]hcl.Range{}
	addrs := map[string]string{}
	for _, ns := range s.Nodes {
		if prev, ok := seen[ns.Name]; ok {
			b.errorf(&ns.DefRange, "Duplicate watch node",
				"Watch node %q is already declared at %s. Remove one of them or give it another name.", ns.Name, prev)
			continue
		}
		seen[ns.Name] = ns.DefRange
		n := &topology.MonitorNode{Name: ns.Name}
		for _, a := range []struct {
			attr *hcl.Attribute
			name string
			dst  *string
			eg   string
		}{{ns.Listen, "listen", &n.Listen, "10.0.0.2:9988"}, {ns.Raft, "raft", &n.Raft, "10.0.0.2:9987"}} {
			if a.attr == nil {
				b.errorf(&ns.DefRange, "Missing "+a.name+" address",
					"Watch node %q needs %s = \"IP:PORT\" (e.g. %q): the address the other nodes and the operators reach it on.", ns.Name, a.name, a.eg)
				continue
			}
			*a.dst = e.str(a.attr, "")
			host, port, err := net.SplitHostPort(*a.dst)
			ip := net.ParseIP(host)
			if err != nil || ip == nil || ip.IsUnspecified() || !validPort(port) {
				b.errorf(a.attr.Expr.Range().Ptr(), "Invalid "+a.name+" address",
					"%s = %q must be IP:PORT with the IP the other nodes reach this one on (not 0.0.0.0), e.g. %q.", a.name, *a.dst, a.eg)
				continue
			}
			if other, ok := addrs[*a.dst]; ok {
				b.errorf(a.attr.Expr.Range().Ptr(), "Address used twice",
					"%s is already %s; every node's listen and raft need an address of their own.", *a.dst, other)
				continue
			}
			addrs[*a.dst] = fmt.Sprintf("node %q's %s", ns.Name, a.name)
		}
		m.Nodes = append(m.Nodes, n)
	}
	if k := len(m.Nodes); k%2 == 0 {
		b.warnf(&s.Nodes[len(s.Nodes)-1].DefRange, "Even number of watch nodes",
			"%d watch nodes tolerate as many failures as %d: raft needs a majority (%d) to elect a leader. Use an odd number, e.g. 3.", k, k-1, k/2+1)
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func (b *builder) user(e *evaluator, s *userSpec) {
	u := &topology.User{}
	u.Name = e.str(s.Name, s.Label)
	u.Host = e.str(s.Host, DefaultUserHost)
	key := "user." + u.Key()
	if prev, dup := b.src[key]; dup {
		b.add(duplicateDiag("account", u.Name+"@"+u.Host, s.DefRange, prev))
		return
	}
	b.src[key] = s.DefRange
	u.Password = e.secret(s.Password, SecretPassword)
	u.Ensure = topology.Ensure(e.str(s.Ensure, string(topology.EnsurePresent)))
	if u.Ensure != topology.EnsurePresent && u.Ensure != topology.EnsureAbsent {
		b.errorf(s.Ensure.Expr.Range().Ptr(), "Invalid ensure", "ensure must be \"present\" or \"absent\", not %q.", u.Ensure)
	}
	if u.Name == "" {
		b.errorf(s.DefRange.Ptr(), "Empty user name", "An account needs a name: the block label, or name = \"…\".")
	}
	seen := map[string]hcl.Range{}
	for _, g := range s.Grants {
		on, ok := canonicalObject(g.On)
		if !ok {
			b.errorf(g.DefRange.Ptr(), "Invalid grant object",
				"grant %q must name \"*.*\", \"db.*\" or \"db.table\".", g.On)
			continue
		}
		if prev, dup := seen[on]; dup {
			b.add(duplicateDiag("grant", on, g.DefRange, prev))
			continue
		}
		seen[on] = g.DefRange
		grant := topology.Grant{On: on, WithGrantOption: e.boolean(g.WithGrantOption, false)}
		if g.Privileges == nil {
			b.errorf(g.DefRange.Ptr(), "Missing privileges", "A grant block lists its privileges: privileges = [\"SELECT\"].")
		}
		privs, _ := e.strList(g.Privileges)
		for _, p := range privs {
			if c, ok := b.privilege(p, on, g.Privileges); ok && c != "" {
				grant.Privileges = append(grant.Privileges, c)
			}
		}
		grant.Privileges = topology.SortedPrivileges(grant.Privileges)
		u.Grants = append(u.Grants, grant)
	}
	b.c.Users = append(b.c.Users, u)
	b.userBlocks = append(b.userBlocks, userBlock{user: u, def: s.DefRange, allowReadOnlyBypass: e.boolean(s.AllowReadOnlyBypass, false)})
}

// privilege canonicalises one declared privilege for the cluster's flavor.
// "" with ok means USAGE (no privilege at all).
func (b *builder) privilege(p, on string, a *hcl.Attribute) (string, bool) {
	subject := a.Expr.Range().Ptr()
	name, cols, ok := splitColumns(p)
	if !ok {
		b.errorf(subject, "Invalid privilege", "%q: write a column privilege as \"SELECT (col1, col2)\".", p)
		return "", false
	}
	upper := strings.Join(strings.Fields(strings.ToUpper(name)), " ")
	switch upper {
	case "USAGE":
		return "", true
	case "ALL", "ALL PRIVILEGES":
		b.errorf(subject, "ALL is not allowed",
			"Grants are authoritative and ALL means a different set on every server version; list the privileges the account needs.")
		return "", false
	case "GRANT OPTION":
		b.errorf(subject, "GRANT OPTION is not a privilege here", "Write with_grant_option = true in the grant block instead.")
		return "", false
	}
	if b.c.Flavor == "" { // unknown flavor: already reported; keep the spelling
		return formatPrivilege(upper, cols), true
	}
	// One privilege table for the whole program: internal/flavor's, which
	// inspect also parses SHOW GRANTS with, so declared and live grants agree.
	f, err := flavor.Newest(b.c.Flavor)
	if err != nil {
		return formatPrivilege(upper, cols), true
	}
	if !flavor.ValidPrivilege(f, upper) {
		b.errorf(subject, "Unknown privilege",
			"%s has no privilege %q%s", flavorName(b.c.Flavor), upper, suggestPrivilege(f, upper))
		return "", false
	}
	canon := flavor.CanonicalPrivilege(f, upper)
	level := flavor.LevelOf(on)
	if len(cols) > 0 {
		if !flavor.ValidAt(f, level, formatPrivilege(canon, cols)) {
			b.errorf(subject, "Invalid column privilege",
				"Only SELECT, INSERT, UPDATE and REFERENCES take columns, and only on a table (\"db.table\").")
			return "", false
		}
		return formatPrivilege(canon, cols), true
	}
	if !flavor.ValidAt(f, level, canon) {
		if level != flavor.LevelGlobal && flavor.ValidAt(f, flavor.LevelGlobal, canon) {
			b.errorf(subject, "Global privilege on a database",
				"%s is an administrative privilege: grant it on \"*.*\", not on %q.", canon, on)
		} else {
			b.errorf(subject, "Privilege not valid here", "%s cannot be granted on %q.", canon, on)
		}
		return "", false
	}
	return formatPrivilege(canon, cols), true
}

func formatPrivilege(name string, cols []string) string {
	if len(cols) == 0 {
		return name
	}
	return name + " (" + strings.Join(cols, ", ") + ")"
}

func flavorName(f string) string {
	if f == "mysql" {
		return "MySQL 8"
	}
	return "MariaDB"
}

// canonicalObject turns a grant label into "*.*", "db.*" or "db.tbl":
// backquotes and spaces removed.
func canonicalObject(label string) (string, bool) {
	s := strings.ReplaceAll(strings.TrimSpace(label), "`", "")
	db, tbl, found := strings.Cut(s, ".")
	if !found || db == "" || tbl == "" || strings.Contains(tbl, ".") ||
		strings.ContainsAny(s, " \t\n'\"") || (db == "*" && tbl != "*") {
		return "", false
	}
	return db + "." + tbl, true
}

func (b *builder) role(e *evaluator, s *roleSpec) {
	key := "role." + s.Name
	if prev, dup := b.src[key]; dup {
		b.add(duplicateDiag("role", s.Name, s.DefRange, prev))
		return
	}
	b.src[key] = s.DefRange
	for name, a := range map[string]*hcl.Attribute{"mode": s.Mode, "hosts": s.Hosts, "ips": s.IPs, "prefer": s.Prefer} {
		b.rec(key+"."+name, a)
	}
	r := &topology.Role{Name: s.Name}
	r.Mode = topology.RoleMode(e.str(s.Mode, ""))
	switch {
	case s.Mode == nil:
		b.errorf(s.DefRange.Ptr(), "Missing role mode",
			"Role %q needs mode = \"exclusive\" (one IP on one host, e.g. the writer) or \"balanced\" (IPs spread over the hosts).", s.Name)
	case r.Mode != topology.RoleExclusive && r.Mode != topology.RoleBalanced:
		b.errorf(s.Mode.Expr.Range().Ptr(), "Invalid role mode", "mode must be \"exclusive\" or \"balanced\", not %q.", r.Mode)
	}
	r.Hosts, _ = e.strList(s.Hosts)
	if len(r.Hosts) == 0 {
		b.errorf(b.at(key+".hosts", key), "Role without hosts", "Role %q needs hosts = [\"…\"]: the hosts its IPs may go to.", s.Name)
	}
	var marks cty.ValueMarks
	r.IPs, marks = e.strList(s.IPs)
	for _, ip := range r.IPs {
		if !ipv4(ip) {
			b.errorf(s.IPs.Expr.Range().Ptr(), "Invalid IP address", "ips: %s is not an IPv4 address.", shown(ip, marks))
		}
	}
	r.Prefer = e.str(s.Prefer, "")
	b.c.Roles = append(b.c.Roles, r)
}

func (b *builder) checks(in []checkIn) {
	byName := map[string]*topology.Check{}
	for _, name := range BuiltinChecks {
		ch := &topology.Check{Name: name, Period: b.c.Monitor.CheckPeriod, TrapPeriod: b.c.Monitor.TrapPeriod, Timeout: DefaultCheckTimeout}
		if name == "rep_backlog" {
			ch.MaxBacklog = DefaultMaxBacklog
		}
		byName[name] = ch
		b.c.Checks = append(b.c.Checks, ch)
	}
	for _, ci := range in {
		e, s := ci.e, ci.spec
		key := "check." + s.Name
		if prev, dup := b.src[key]; dup {
			b.add(duplicateDiag("check", s.Name, s.DefRange, prev))
			continue
		}
		b.src[key] = s.DefRange
		ch, builtin := byName[s.Name]
		if !builtin {
			ch = &topology.Check{Name: s.Name, Period: b.c.Monitor.CheckPeriod, TrapPeriod: b.c.Monitor.TrapPeriod, Timeout: DefaultCheckTimeout}
			b.c.Checks = append(b.c.Checks, ch)
		}
		ch.Period = e.duration(s.Period, ch.Period, false)
		ch.TrapPeriod = e.duration(s.TrapPeriod, ch.TrapPeriod, false)
		ch.Timeout = e.duration(s.Timeout, ch.Timeout, false)
		if s.MaxBacklog != nil {
			if s.Name != "rep_backlog" {
				b.errorf(s.MaxBacklog.NameRange.Ptr(), "max_backlog only applies to rep_backlog",
					"Remove max_backlog from check %q, or move it to check \"rep_backlog\".", s.Name)
			}
			ch.MaxBacklog = int(e.integer(s.MaxBacklog, int64(ch.MaxBacklog), 1, 1<<31-1))
		}
		cmd, _ := e.strList(s.Command)
		switch {
		case builtin && s.Command != nil:
			b.errorf(s.Command.NameRange.Ptr(), "Command on a builtin check",
				"%q is a builtin check (ping, mysql, rep_threads, rep_backlog) and runs no command; give a custom check another name.", s.Name)
		case !builtin && s.Command == nil:
			b.errorf(s.DefRange.Ptr(), "Missing check command",
				"%q is not a builtin check (ping, mysql, rep_threads, rep_backlog); a custom check needs command = [\"/path/to/program\", \"arg\"].", s.Name)
		case !builtin && len(cmd) == 0 && s.Command != nil:
			b.errorf(s.Command.Expr.Range().Ptr(), "Empty check command", "command must name a program: command = [\"/path/to/program\", \"arg\"].")
		}
		if !builtin {
			ch.Command = cmd
		}
	}
}
