package importer

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
	"github.com/mysql-mmm/mmm/schema"
)

// LiveOptions tune FromLive.
type LiveOptions struct {
	// Address is one server of the cluster, "host" or "host:port" (3306).
	Address string
	// AdminUser and AdminPassword are the account the servers are read
	// with, which the file also declares as mmm's admin account.
	AdminUser     string
	AdminPassword string
	// Cluster names the cluster ("mmm").
	Cluster string
	// Interface is where the hosts' VIPs go ("eth0").
	Interface string
	// WriterVIP is the writer role's virtual IP (required: an exclusive role
	// has one); ReaderVIPs the reader role's (optional).
	WriterVIP  string
	ReaderVIPs []string
	// NoAgent leaves the agent block out: mmm then manages MySQL only and
	// leaves the addresses alone (a first plan while MMM 2's agents still
	// hold the VIPs).
	NoAgent  bool
	Timeouts conn.Timeouts
	// MaxServers bounds the discovery (default 64).
	MaxServers int
	Logger     *slog.Logger
	// LookupEnv reads the environment for the check plan (nil: os.LookupEnv).
	LookupEnv func(string) (string, bool)
}

// server is one discovered MySQL server.
type server struct {
	addr string
	port int
	live *topology.LiveHost
	// replicas are the endpoints that read this server's binary log.
	replicas []endpoint
	// semiSyncTimeout is rpl_semi_sync_master_timeout (ms), -1 unknown.
	semiSyncTimeout int
	name            string
}

type endpoint struct {
	addr string
	port int
}

func (e endpoint) String() string { return net.JoinHostPort(e.addr, strconv.Itoa(e.port)) }

// accounts that are the servers' own: never declared.
var systemAccounts = map[string]bool{
	"mariadb.sys": true, "mysql.sys": true, "mysql.session": true, "mysql.infoschema": true, "PUBLIC": true,
}

// FromLive adopts a running cluster: from one server it follows the
// replication links both ways (the source in SHOW SLAVE STATUS, the replicas
// in SHOW SLAVE HOSTS and the binary log dump threads of the process list),
// classifies the servers (the pair of masters that replicate each other, the
// writable one of them the writer; every other server a slave), reads the
// accounts on the writer and returns the topology that declares what is
// there. It then plans that topology against the servers, as `mmm plan`
// would, and lists every step still in the plan as a finding: what mmm
// would change to run the cluster its way.
func FromLive(ctx context.Context, opts LiveOptions) (*File, Findings, error) {
	if opts.MaxServers == 0 {
		opts.MaxServers = 64
	}
	if opts.Cluster == "" {
		opts.Cluster = "mmm"
	}
	if opts.Interface == "" {
		opts.Interface = schema.DefaultInterface
	}
	if opts.AdminUser == "" {
		opts.AdminUser = schema.DefaultAdminUser
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WriterVIP == "" {
		return nil, nil, fmt.Errorf("the writer role needs its virtual IP: give --writer-vip (the address clients write to)")
	}
	for _, ip := range append([]string{opts.WriterVIP}, opts.ReaderVIPs...) {
		if a, err := netip.ParseAddr(ip); err != nil || !a.Is4() {
			return nil, nil, fmt.Errorf("virtual IP %q is not an IPv4 address", ip)
		}
	}
	start, err := parseEndpoint(opts.Address)
	if err != nil {
		return nil, nil, err
	}
	d := &discovery{opts: opts, byEndpoint: map[string]*server{}, byID: map[uint32]*server{}}
	if err := d.run(ctx, start); err != nil {
		return nil, nil, err
	}
	f, err := d.file(ctx)
	if err != nil {
		return nil, d.findings, err
	}
	d.checkPlan(ctx, f)
	return f, d.findings, nil
}

func parseEndpoint(s string) (endpoint, error) {
	host, port := s, 3306
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return endpoint{}, fmt.Errorf("--address %s: %q is not a port", s, p)
		}
		host, port = h, n
	}
	if host == "" {
		return endpoint{}, fmt.Errorf("--address is empty: name one server of the cluster, HOST[:PORT]")
	}
	return endpoint{addr: host, port: port}, nil
}

type discovery struct {
	opts       LiveOptions
	servers    []*server
	byEndpoint map[string]*server
	byID       map[uint32]*server
	findings   Findings
}

func (d *discovery) note(key string, sev Severity, format string, args ...any) {
	d.findings = append(d.findings, Finding{Key: key, Severity: sev, Message: fmt.Sprintf(format, args...)})
}

func (d *discovery) host(e endpoint) *topology.Host {
	return &topology.Host{Name: e.String(), Address: e.addr, Port: e.port,
		Admin: topology.Account{User: d.opts.AdminUser, Password: topology.NewSecret(d.opts.AdminPassword, "admin password")}}
}

// run follows the replication links from start, breadth first.
func (d *discovery) run(ctx context.Context, start endpoint) error {
	queue := []endpoint{start}
	seen := map[string]bool{}
	for len(queue) > 0 && len(d.servers) < d.opts.MaxServers {
		e := queue[0]
		queue = queue[1:]
		e, err := d.resolve(ctx, e)
		if err != nil {
			if len(d.servers) == 0 {
				return err
			}
			d.note(e.String(), Problem, "%v; the server is not in the file", err)
			continue
		}
		if seen[e.String()] {
			continue
		}
		seen[e.String()] = true
		s, err := d.read(ctx, e)
		if err != nil {
			if len(d.servers) == 0 {
				return err
			}
			d.note(e.String(), Problem, "%v; the server is not in the file", err)
			continue
		}
		if other := d.byID[s.live.ServerID]; other != nil {
			// the same server seen under another address (a virtual IP, a
			// second interface): keep its own address, never a VIP
			if d.isVIP(other.addr) && !d.isVIP(e.addr) {
				other.addr, other.port = e.addr, e.port
			} else {
				d.note(e.String(), Info, "server_id %d, the same server as %s", s.live.ServerID, other.endpoint())
			}
			d.byEndpoint[e.String()] = other
			continue
		}
		d.byID[s.live.ServerID] = s
		d.byEndpoint[e.String()] = s
		d.servers = append(d.servers, s)
		if r := s.live.Replica; r != nil && r.SourceHost != "" {
			queue = append(queue, endpoint{addr: r.SourceHost, port: orPort(r.SourcePort)})
		}
		queue = append(queue, s.replicas...)
	}
	if len(queue) > 0 {
		d.note("discovery", Problem, "stopped after %d servers (--max-servers); %d more were not read", len(d.servers), len(queue))
	}
	for _, s := range d.servers {
		if d.isVIP(s.addr) {
			d.note(s.endpoint().String(), Problem, "server_id %d was reached only through this virtual IP, so its own address is unknown; import again with --address set to its own address", s.live.ServerID)
		}
	}
	return nil
}

// isVIP reports whether addr is one of the roles' virtual IPs: a server
// reached through one is declared by its own address.
func (d *discovery) isVIP(addr string) bool {
	return addr == d.opts.WriterVIP || contains(d.opts.ReaderVIPs, addr)
}

func orPort(p int) int {
	if p == 0 {
		return 3306
	}
	return p
}

func (s *server) endpoint() endpoint { return endpoint{addr: s.addr, port: s.port} }

// resolve turns a host name (a source named by name in CHANGE MASTER) into
// its IPv4 address: the topology names hosts by address.
func (d *discovery) resolve(ctx context.Context, e endpoint) (endpoint, error) {
	if a, err := netip.ParseAddr(e.addr); err == nil {
		if !a.Is4() {
			return e, fmt.Errorf("%s is not an IPv4 address; mmm's hosts have IPv4 addresses", e.addr)
		}
		return e, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeouts.WithDefaults().Connect)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIP(ctx, "ip4", e.addr)
	if err != nil || len(addrs) == 0 {
		return e, fmt.Errorf("cannot resolve %s: %v", e.addr, err)
	}
	return endpoint{addr: addrs[0].String(), port: e.port}, nil
}

// read inspects one server the way plan does (package inspect) and asks it
// for its replicas.
func (d *discovery) read(ctx context.Context, e endpoint) (*server, error) {
	h := d.host(e)
	c := &topology.Cluster{Hosts: []*topology.Host{h}}
	lh := inspect.InspectHost(ctx, c, h, inspect.Options{Timeouts: d.opts.Timeouts, Logger: d.opts.Logger})
	if !lh.Reachable {
		return nil, fmt.Errorf("%s (give the admin account with --admin-user and MMM_ADMIN_PASSWORD)", lh.Error)
	}
	s := &server{addr: e.addr, port: e.port, live: lh, semiSyncTimeout: -1}
	f, err := flavor.Parse(lh.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e, err)
	}
	db, err := conn.Open(ctx, h, d.opts.Timeouts)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	q := querier{db: db, timeout: d.opts.Timeouts.WithDefaults().Query}

	// SHOW SLAVE HOSTS lists the replicas that registered, with their port
	// but often without an address (report_host unset); the binary log
	// dump threads say where each replica connects from.
	showHosts := "SHOW SLAVE HOSTS"
	if f.MinMySQL(8, 0, 22) {
		showHosts = "SHOW REPLICAS"
	}
	registered, err := q.rows(ctx, showHosts)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", e, showHosts, err)
	}
	dumps, err := q.rows(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
	if err != nil {
		return nil, fmt.Errorf("%s: read the process list: %w", e, err)
	}
	ports := map[int]bool{}
	portOf := map[string]int{}
	for _, r := range registered {
		p, _ := strconv.Atoi(col(r, "Port"))
		if p > 0 {
			ports[p] = true
			if host := col(r, "Host"); host != "" {
				portOf[host] = p
			}
		}
	}
	onlyPort := 0
	if len(ports) == 1 {
		for p := range ports {
			onlyPort = p
		}
	}
	seen := map[string]bool{}
	for _, r := range dumps {
		host := col(r, "HOST")
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || seen[host] {
			continue
		}
		seen[host] = true
		port := portOf[host]
		switch {
		case port != 0:
		case onlyPort != 0:
			port = onlyPort
		default:
			port = e.port // the replicas' own port is not said anywhere: assume this server's
		}
		s.replicas = append(s.replicas, endpoint{addr: host, port: port})
	}
	if lh.SemiSyncMasterEnabled {
		if rows, err := q.rows(ctx, "SHOW GLOBAL VARIABLES LIKE "+flavor.QuoteString(f.SemiSyncTimeoutVar())); err == nil && len(rows) > 0 {
			if n, err := strconv.Atoi(col(rows[0], "Value")); err == nil {
				s.semiSyncTimeout = n
			}
		}
	}
	return s, nil
}

// col reads a column by name, whatever its case.
func col(row map[string]sql.NullString, name string) string {
	for k, v := range row {
		if strings.EqualFold(k, name) {
			return v.String
		}
	}
	return ""
}

// querier runs one statement at a time under the query timeout.
type querier struct {
	db      *sql.DB
	timeout time.Duration
}

func (q querier) rows(ctx context.Context, query string) ([]map[string]sql.NullString, error) {
	return inspect.Rows(ctx, q.db, q.timeout, query)
}

// sourceOf is the discovered server s replicates from, or nil.
func (d *discovery) sourceOf(s *server) *server {
	r := s.live.Replica
	if r == nil || r.SourceHost == "" {
		return nil
	}
	if src := d.byEndpoint[endpoint{addr: r.SourceHost, port: orPort(r.SourcePort)}.String()]; src != nil {
		return src
	}
	// a source named by host name: match the resolved address
	for _, o := range d.servers {
		if o.port == orPort(r.SourcePort) && o.addr == r.SourceHost {
			return o
		}
	}
	return nil
}

// classify finds the master pair, the writer and the slaves.
func (d *discovery) classify() (writer, standby *server, slaves []*server, err error) {
	var pairs [][2]*server
	for i, a := range d.servers {
		for _, b := range d.servers[i+1:] {
			if d.sourceOf(a) == b && d.sourceOf(b) == a {
				pairs = append(pairs, [2]*server{a, b})
			}
		}
	}
	list := func() string {
		var s []string
		for _, x := range d.servers {
			desc := x.endpoint().String()
			if src := d.sourceOf(x); src != nil {
				desc += " <- " + src.endpoint().String()
			}
			s = append(s, desc)
		}
		return strings.Join(s, ", ")
	}
	switch len(pairs) {
	case 0:
		return nil, nil, nil, fmt.Errorf("no two servers replicate from each other among the %d found (%s): mmm runs a pair of masters that replicate each other; make the writer replicate from its standby, then import again", len(d.servers), list())
	case 1:
	default:
		return nil, nil, nil, fmt.Errorf("%d pairs of servers replicate from each other (%s): one file declares one cluster with one pair of masters; import from a server of one of them and leave out the others", len(pairs), list())
	}
	a, b := pairs[0][0], pairs[0][1]
	switch {
	case !a.live.ReadOnly && b.live.ReadOnly:
		writer, standby = a, b
	case a.live.ReadOnly && !b.live.ReadOnly:
		writer, standby = b, a
	default:
		// both writable or both read-only: the writer is where the slaves
		// replicate from; the plan says what is wrong
		count := map[*server]int{}
		for _, s := range d.servers {
			count[d.sourceOf(s)]++
		}
		writer, standby = a, b
		if count[b] > count[a] {
			writer, standby = b, a
		}
		state := "read-only"
		if !a.live.ReadOnly {
			state = "writable"
		}
		d.note("writer", Problem, "both masters (%s, %s) are %s; the file prefers %s, the one the slaves replicate from, and mmm plan will say what it takes",
			a.endpoint(), b.endpoint(), state, writer.endpoint())
	}
	for _, s := range d.servers {
		if s != writer && s != standby {
			slaves = append(slaves, s)
		}
	}
	sort.Slice(slaves, func(i, j int) bool { return endpointLess(slaves[i].endpoint(), slaves[j].endpoint()) })
	return writer, standby, slaves, nil
}

func endpointLess(a, b endpoint) bool {
	x, errX := netip.ParseAddr(a.addr)
	y, errY := netip.ParseAddr(b.addr)
	if errX == nil && errY == nil && x != y {
		return x.Less(y)
	}
	if a.addr != b.addr {
		return a.addr < b.addr
	}
	return a.port < b.port
}

// file builds the topology of the discovered cluster.
func (d *discovery) file(ctx context.Context) (*File, error) {
	writer, standby, slaves, err := d.classify()
	if err != nil {
		return nil, err
	}
	fl, err := flavor.Parse(writer.live.Version)
	if err != nil {
		return nil, err
	}
	f := &File{
		Header: []string{
			fmt.Sprintf("Adopted from the running cluster by `mmm import live --address %s`.", d.opts.Address),
			"Secrets are env() references; `mmm import` printed the variables to set.",
		},
		Cluster: d.opts.Cluster, ActiveMasterRole: schema.DefaultActiveRole,
	}
	f.Flavor = "mysql"
	if fl.IsMariaDB() {
		f.Flavor = "mariadb"
	}

	// Masters in auto_increment_offset order: mmm interleaves them by
	// declaration order, so the file keeps the offsets they have.
	m1, m2 := writer, standby
	if standby.live.AutoIncrementOffset == 1 && writer.live.AutoIncrementOffset == 2 {
		m1, m2 = standby, writer
	}
	m1.name, m2.name = "master1", "master2"
	for i, s := range slaves {
		s.name = "slave" + strconv.Itoa(i+1)
	}

	ports := map[int]int{}
	for _, s := range d.servers {
		ports[s.port]++
	}
	f.Defaults = Defaults{Port: mostCommon(ports, 3306), Interface: d.opts.Interface, AdminUser: d.opts.AdminUser,
		AdminEnv: f.addEnv(EnvAdminPassword, "password of "+d.opts.AdminUser+", the account mmm connects with (the one the import read with)")}
	hostOf := func(s *server, mode, peer string) Host {
		h := Host{Name: s.name, Address: s.addr, Mode: mode, Peer: peer, ServerID: s.live.ServerID,
			Comment: fmt.Sprintf("%s, server_id %d", s.live.Version, s.live.ServerID)}
		if s.port != f.Defaults.Port {
			h.Port = s.port
		}
		return h
	}
	f.Hosts = append(f.Hosts, hostOf(m1, "master", m2.name), hostOf(m2, "master", m1.name))
	for _, s := range slaves {
		f.Hosts = append(f.Hosts, hostOf(s, "slave", ""))
	}
	for _, s := range slaves {
		if src := d.sourceOf(s); src != writer {
			from := "nothing"
			if src != nil {
				from = src.name
			} else if s.live.Replica != nil {
				from = endpoint{addr: s.live.Replica.SourceHost, port: orPort(s.live.Replica.SourcePort)}.String()
			}
			d.note(s.name, Info, "replicates from %s; mmm points every slave at the writer (%s)", from, writer.name)
		}
	}

	d.replication(f, writer, standby, slaves)
	if err := d.accounts(ctx, f, writer); err != nil {
		return nil, err
	}

	var masters, slaveNames []string
	masters = []string{m1.name, m2.name}
	for _, s := range slaves {
		slaveNames = append(slaveNames, s.name)
	}
	f.Roles = append(f.Roles, Role{Name: schema.DefaultActiveRole, Mode: "exclusive", Hosts: masters, IPs: []string{d.opts.WriterVIP}, Prefer: writer.name})
	if len(d.opts.ReaderVIPs) > 0 {
		readers := slaveNames
		if len(readers) == 0 {
			readers = masters
		}
		f.Roles = append(f.Roles, Role{Name: "reader", Mode: "balanced", Hosts: readers, IPs: d.opts.ReaderVIPs})
	}
	if d.opts.NoAgent {
		d.note("agents", Info, "no agent block (--no-agent): mmm manages MySQL only and leaves the VIPs where they are; add an agent block and run `mmm agent --host NAME` on every host to let mmm move them")
	} else {
		f.Agent = &Agent{TokenEnv: f.addEnv(EnvAgentToken, "a shared secret of your choice: the token mmm's agents accept")}
		d.note("agents", Info, "VIPs are placed by mmm's agents: run `mmm agent --host NAME` on every host (examples/systemd); until every agent answers, mmm plan reports them and apply changes nothing")
	}
	f.Monitor = &Monitor{TokenEnv: f.addEnv(EnvMonitorToken, "a shared secret of your choice: the token of mmm watch's control API")}
	return f, nil
}

// replication declares the channel settings the replicas use now, so that
// the plan does not reconfigure them.
func (d *discovery) replication(f *File, writer, standby *server, slaves []*server) {
	users, retries, beats := map[string]int{}, map[int]int{}, map[time.Duration]int{}
	ssl := 0
	replicas := 0
	for _, s := range append([]*server{writer, standby}, slaves...) {
		r := s.live.Replica
		if r == nil || r.SourceHost == "" {
			continue
		}
		replicas++
		users[r.SourceUser]++
		retries[r.ConnectRetry]++
		beats[time.Duration(r.HeartbeatPeriod*float64(time.Second)).Round(time.Millisecond)]++
		if r.SSL {
			ssl++
		}
		if !flavor.UsesGTID(r) {
			d.note(s.name, Info, "replicates by binary log position; mmm switches it to GTID auto-positioning (listed below)")
		}
	}
	user := ""
	n := 0
	for u, c := range users {
		if c > n || (c == n && u < user) {
			user, n = u, c
		}
	}
	if len(users) > 1 {
		d.note("replication.user", Info, "the replicas use %d different accounts; the file declares %s for all", len(users), user)
	}
	f.Replication.User = user
	f.Replication.SSL = ssl > 0 && ssl == replicas
	if retry := mostCommon(retries, 0); retry > 0 && time.Duration(retry)*time.Second != schema.DefaultConnectRetry {
		f.Replication.ConnectRetry = time.Duration(retry) * time.Second
	}
	var beat time.Duration
	n = 0
	for b, c := range beats {
		if c > n || (c == n && b < beat) {
			beat, n = b, c
		}
	}
	switch {
	case beat > 2*time.Second:
		// mmm confirms a dead writer through the replicas, which notice a
		// silent source after four heartbeats: a long heartbeat is a slow
		// failover, so the file takes mmm's (the plan lists the change)
		d.note("replication.heartbeat", Info, "the replicas' heartbeat is %s; mmm's is %s, so that they notice a lost writer within seconds", FormatDuration(beat), FormatDuration(schema.DefaultHeartbeat))
	case beat > 0 && beat != schema.DefaultHeartbeat:
		f.Replication.Heartbeat = beat
	}
	if writer.live.SemiSyncMasterEnabled {
		f.Replication.SemiSync = true
		if t := writer.semiSyncTimeout; t > 0 && time.Duration(t)*time.Millisecond != plan.DefaultSemiSyncTimeout {
			f.Replication.SemiSyncTimeout = time.Duration(t) * time.Millisecond
		}
	}
}

// accounts declares the accounts found on the writer, with their grants.
func (d *discovery) accounts(ctx context.Context, f *File, writer *server) error {
	h := d.host(writer.endpoint())
	db, err := conn.Open(ctx, h, d.opts.Timeouts)
	if err != nil {
		return err
	}
	q := querier{db: db, timeout: d.opts.Timeouts.WithDefaults().Query}
	fl, _ := flavor.Parse(writer.live.Version)
	query := "SELECT User, Host, 'N' AS is_role FROM mysql.user ORDER BY User, Host"
	if fl.IsMariaDB() {
		query = "SELECT User, Host, is_role FROM mysql.user ORDER BY User, Host"
	}
	rows, err := q.rows(ctx, query)
	db.Close()
	if err != nil {
		return fmt.Errorf("list the accounts on %s: %w", writer.name, err)
	}
	var users []*topology.User
	skipped := map[string][]string{} // why -> accounts
	var whys []string
	skip := func(why, key string) {
		if skipped[why] == nil {
			whys = append(whys, why)
		}
		skipped[why] = append(skipped[why], key)
	}
	names := map[string]int{}
	for _, r := range rows {
		name, host := col(r, "User"), col(r, "Host")
		key := topology.AccountKey(name, host)
		switch {
		case name == d.opts.AdminUser:
			skip("the admin account (mmm never manages the account it connects with)", key)
		case name == "":
			skip("anonymous", key)
		case strings.EqualFold(col(r, "is_role"), "Y"):
			skip("roles", key)
		case systemAccounts[name], fl.IsMariaDB() && name == "mysql" && host == "localhost":
			continue // the server's own
		default:
			users = append(users, &topology.User{Name: name, Host: host})
			names[name]++
		}
	}
	for _, why := range whys {
		d.note("accounts", Info, "not declared, so mmm leaves them alone: %s: %s", why, strings.Join(skipped[why], ", "))
	}
	// the grants, read and parsed the way plan reads them
	c := &topology.Cluster{Hosts: []*topology.Host{h}, Users: users}
	lh := inspect.InspectHost(ctx, c, h, inspect.Options{Timeouts: d.opts.Timeouts, Logger: d.opts.Logger})
	if !lh.Reachable {
		return fmt.Errorf("read the accounts on %s: %s", writer.name, lh.Error)
	}
	labels := map[string]bool{}
	for _, u := range users {
		lu := lh.Users[u.Key()]
		if lu == nil || !lu.Exists {
			continue
		}
		label := u.Name
		if names[u.Name] > 1 || labels[label] {
			label = u.Name + "_" + envPart(u.Host)
		}
		labels[label] = true
		out := User{Label: label, Name: u.Name, Host: u.Host, Comment: fmt.Sprintf("%s, as found on %s", u.Key(), writer.name)}
		switch {
		case lu.Plugin == "unix_socket" || lu.Plugin == "auth_socket":
			// logs in by operating system user: no password to declare
		case u.Name == f.Replication.User:
			out.PasswordEnv = f.addEnv(EnvReplicationPassword, "password of "+u.Key()+", the replication account")
		default:
			v := "MMM_PASSWORD_" + envPart(u.Name)
			if names[u.Name] > 1 {
				v += "_" + envPart(u.Host)
			}
			out.PasswordEnv = f.addEnv(v, "password of "+u.Key())
		}
		if out.PasswordEnv != "" && lu.Plugin != flavor.PluginNative && lu.Plugin != flavor.PluginCachingSHA2 && lu.Plugin != "" {
			d.note(u.Key(), Info, "authenticates with %s, whose passwords mmm cannot compare: plan never changes its password", lu.Plugin)
		}
		for _, g := range lu.Grants {
			out.Grants = append(out.Grants, Grant{On: g.On, Privileges: g.Privileges, WithGrantOption: g.WithGrantOption})
		}
		f.Users = append(f.Users, out)
	}
	if f.Replication.User != "" && !labels[f.Replication.User] {
		found := false
		for _, u := range f.Users {
			found = found || u.Name == f.Replication.User
		}
		if !found {
			d.note("replication.user", Problem, "the replicas log in as %s, but no such account is on the writer %s", f.Replication.User, writer.name)
		}
	}
	return nil
}

// envPart makes a string usable in an environment variable name.
func envPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '%':
			b.WriteString("ANY")
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// checkPlan loads the generated file as `mmm plan` would and plans it
// against the servers: every step still in the plan is something mmm would
// change, and is listed. Accounts whose password variable is not set are
// compared without their password.
func (d *discovery) checkPlan(ctx context.Context, f *File) {
	lookup := d.opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	c, findings := Load(Render(f), func(name string) (string, bool) {
		if name == EnvAdminPassword {
			return d.opts.AdminPassword, true
		}
		return lookup(name)
	})
	d.findings = append(d.findings, findings...)
	if c == nil {
		return
	}
	for _, u := range c.Users {
		if !u.Password.Set {
			u.Password = topology.Secret{}
		}
	}
	live := inspect.Inspect(ctx, c, inspect.Options{Timeouts: d.opts.Timeouts, Logger: d.opts.Logger})
	p := plan.Diff(c, live, plan.Options{Now: time.Now().UTC()})
	for _, pr := range p.Problems {
		sev := Info
		if pr.Severity == plan.SeverityError {
			sev = Problem
		}
		d.note("plan", sev, "%s", pr.Summary)
	}
	for _, s := range p.Steps {
		d.note("plan", Info, "%s", StepLine(s))
	}
	if len(p.Steps) == 0 {
		d.note("plan", Info, "no changes: mmm plan on this file finds the cluster as it declares it")
	}
}

// Load checks a generated file as `mmm validate` does and returns the
// cluster it declares (nil when it has errors) with its diagnostics as
// findings. lookup reads env(); a variable it does not know is not an error
// here (the report lists the variables to set).
func Load(src []byte, lookup func(string) (string, bool)) (*topology.Cluster, Findings) {
	dir, err := os.MkdirTemp("", "mmm-import-")
	if err != nil {
		return nil, Findings{{Key: "validate", Severity: Problem, Message: fmt.Sprintf("cannot check the generated file: %v", err)}}
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mmm.hcl")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		return nil, Findings{{Key: "validate", Severity: Problem, Message: fmt.Sprintf("cannot check the generated file: %v", err)}}
	}
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	c, diags := schema.NewLoader(schema.Options{LookupEnv: lookup}).Load(path)
	var out Findings
	for _, diag := range diags {
		if diag.Severity == hcl.DiagWarning && strings.Contains(diag.Detail+diag.Summary, "not set") {
			continue // the variables to set are listed anyway
		}
		sev := Info
		if diag.Severity == hcl.DiagError {
			sev = Problem
		}
		at := ""
		if diag.Subject != nil {
			at = fmt.Sprintf(" (line %d of the output)", diag.Subject.Start.Line)
		}
		out = append(out, Finding{Key: "validate", Severity: sev, Message: diag.Summary + at + ": " + diag.Detail})
	}
	return c, out
}

// StepLine is a plan step on one line, as the import lists it.
func StepLine(s plan.Step) string {
	line := fmt.Sprintf("%s %s: %s %s", s.Symbol, s.Host, s.Subject, s.Change)
	if s.Why != "" {
		line += " (" + s.Why + ")"
	}
	return line
}
