// Package topology is mmm's domain model: the desired shape of a cluster (decoded
// from HCL by package schema) and the live state of one (read by package inspect).
// It knows nothing of HCL or SQL and imports nothing of ours, so every other
// package can speak it.
package topology

import (
	"sort"
	"time"
)

// HostMode is a host's place in the cluster.
type HostMode string

const (
	ModeMaster HostMode = "master"
	ModeSlave  HostMode = "slave"
)

// RoleMode says how a role's IPs are placed.
type RoleMode string

const (
	// RoleExclusive: one IP, on one host at a time (the writer).
	RoleExclusive RoleMode = "exclusive"
	// RoleBalanced: the IPs are spread over the ONLINE hosts of the role.
	RoleBalanced RoleMode = "balanced"
)

// Ensure says whether a declared account must exist or must be gone.
type Ensure string

const (
	EnsurePresent Ensure = "present"
	EnsureAbsent  Ensure = "absent"
)

// Cluster is the desired state: everything one topology file declares.
type Cluster struct {
	Name             string
	Flavor           string // "mariadb" | "mysql"
	ActiveMasterRole string

	// Hosts in declaration order; names are unique.
	Hosts       []*Host
	Replication Replication
	Users       []*User
	Roles       []*Role
	Agent       Agent
	Monitor     Monitor
	Checks      []*Check
	// TLS is the tls block: mutual TLS on the agents' and the watch's APIs.
	TLS TLS
}

// TLS turns on mutual TLS (TLS 1.3, client certificates of the cluster's
// CA) on the agents' API and the watch's control API. Dir holds ca.pem and
// NAME.pem/NAME-key.pem per identity (package internal/pki, `mmm tls init`).
type TLS struct {
	Dir string // "" = no tls block
}

// TLSOn reports whether the file has a tls block.
func (c *Cluster) TLSOn() bool { return c.TLS.Dir != "" }

// Host is one data node.
type Host struct {
	Name      string
	Address   string // IPv4 address, no port
	Port      int
	Mode      HostMode
	Peer      string // the other master, for ModeMaster
	ServerID  uint32 // 0 = let mmm choose (see ServerIDFor)
	Interface string // where VIPs go
	Admin     Account
	Bootstrap *Bootstrap // nil: the host is expected to have data already
}

// Account is a user name and password mmm itself connects with.
type Account struct {
	User     string
	Password Secret
	// TLS is how mmm's sessions with this account use TLS: AdminTLSOff (""),
	// AdminTLSRequired (encrypted, the server's certificate not checked) or
	// AdminTLSVerify (encrypted, the certificate signed by TLSCA and naming
	// the host's address).
	TLS   string
	TLSCA string // the CA file for AdminTLSVerify: the tls block's ca.pem
}

// Admin TLS modes (admin.tls).
const (
	AdminTLSOff      = "off"
	AdminTLSRequired = "required"
	AdminTLSVerify   = "verify"
)

// Bootstrap asks mmm to give an empty server a copy of the data first.
type Bootstrap struct {
	Donor  string // host name; "" = a healthy slave
	Method string // "logical" | "physical"
}

// Replication holds the settings every replication channel gets.
type Replication struct {
	User            string // name of a User block
	SemiSync        bool
	SemiSyncTimeout time.Duration
	ConnectRetry    time.Duration
	Heartbeat       time.Duration
	SSL             bool
	SSLCA           string
	SSLCert         string
	SSLKey          string
}

// User is one declared account. Grants are authoritative: privileges that are not
// declared here are revoked.
type User struct {
	Name     string
	Host     string
	Password Secret
	Grants   []Grant
	Ensure   Ensure
}

// Key is the account as MySQL names it: 'name'@'host'.
func (u *User) Key() string { return AccountKey(u.Name, u.Host) }

// AccountKey is the map key for an account, quoted the way MySQL prints it.
func AccountKey(name, host string) string { return "'" + name + "'@'" + host + "'" }

// Grant is the privileges of an account on one object.
//
// On is canonical: "*.*", "db.*", "db.tbl" with no quoting. Privileges are upper
// case, single spaces ("REPLICATION SLAVE"), sorted, and never "ALL" (expanded by
// the flavor) or "USAGE" (which is no privilege). Column privileges are written
// "SELECT (a, b)".
type Grant struct {
	On              string
	Privileges      []string
	WithGrantOption bool
}

// Role is a set of virtual IPs that follow healthy hosts.
type Role struct {
	Name   string
	Mode   RoleMode
	Hosts  []string
	IPs    []string
	Prefer string
}

// Agent configures `mmm agent` on every data node.
type Agent struct {
	// Enabled is true when the file has an agent block: then every data node
	// runs `mmm agent`, and plan/apply place the roles' VIPs through it.
	// Without one, mmm manages MySQL only and leaves addresses alone.
	Enabled bool
	Port    int
	Token   Secret
	// CloneToken, when set, is required (X-MMM-Clone-Token) on top of Token
	// for the physical clone's endpoints (backup stream, clone): a watch,
	// which holds Token but not this, can move VIPs but not read or replace
	// data. Held by the agents and the operators who run apply.
	CloneToken Secret
	TLSCert    string
	TLSKey     string
	// Fence is how the agent fences a server whose read_only cannot be set in
	// time (frozen, hung): FenceKill (default for hosts of an exclusive role)
	// SIGKILLs it; FenceReadOnly only tries read_only and reports failure.
	Fence string
	// Failsafe: when no watch renews the lease, the writer's agent keeps the
	// role as long as every other agent confirms that none of them holds an
	// exclusive role, was renewed by a watch within a lease, or saw a newer
	// epoch (docs/fencing.md, "Failsafe"). Default true.
	Failsafe bool
}

// Fence modes of agent.fence.
const (
	FenceKill     = "kill"
	FenceReadOnly = "read_only"
)

// Monitor configures `mmm watch`.
type Monitor struct {
	Listen        string
	Token         Secret
	CheckPeriod   time.Duration
	TrapPeriod    time.Duration
	Lease         time.Duration
	AutoSetOnline time.Duration
	FlapCount     int
	FlapDuration  time.Duration
	PingIPs       []string
	StateFile     string
	FailBack      bool // move the writer back to prefer when it returns
	PreFailover   []string
	PostFailover  []string
	// FenceHook is run (argument list; MMM_HOST, MMM_ADDRESS in the
	// environment) to fence a writer whose agent cannot: power it off
	// through IPMI or a cloud API. Exit 0 means fenced. Without it, a writer
	// lost together with its agent is never failed over automatically.
	FenceHook []string
	// HostLostAfter is how long the monitor and a majority of the witnesses
	// must have had no answer from a host before it counts as lost (default
	// 3 × check_period, at least 500ms).
	HostLostAfter time.Duration
	// ReconcilePeriod is how often the watch compares what it may change
	// (read_only, replication sources, settings a restart lost) with the
	// file; it also does so at once after a failover, a switchover or a
	// host's return.
	ReconcilePeriod time.Duration
	// Nodes are the watch nodes when several run (raft elects the one that
	// acts); none: one watch on Listen.
	Nodes []*MonitorNode
}

// MonitorNode is one `mmm watch --node NAME`.
type MonitorNode struct {
	Name   string
	Listen string // control API, IP:PORT
	Raft   string // raft transport, IP:PORT
}

// Node returns the watch node called name, or nil.
func (m *Monitor) Node(name string) *MonitorNode {
	for _, n := range m.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// ControlAddresses are where the control API answers: every node's listen,
// or the one watch's.
func (m *Monitor) ControlAddresses() []string {
	if len(m.Nodes) == 0 {
		return []string{m.Listen}
	}
	out := make([]string, 0, len(m.Nodes))
	for _, n := range m.Nodes {
		out = append(out, n.Listen)
	}
	return out
}

// Check is one health check. Builtin names are ping, mysql, rep_threads and
// rep_backlog; any other name must have a Command.
type Check struct {
	Name       string
	Period     time.Duration
	TrapPeriod time.Duration
	Timeout    time.Duration
	MaxBacklog int
	Command    []string
}

// Host returns the host called name, or nil.
func (c *Cluster) Host(name string) *Host {
	for _, h := range c.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Role returns the role called name, or nil.
func (c *Cluster) Role(name string) *Role {
	for _, r := range c.Roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// User returns the declared account name@host, or nil.
func (c *Cluster) User(name, host string) *User {
	for _, u := range c.Users {
		if u.Name == name && u.Host == host {
			return u
		}
	}
	return nil
}

// ReplicationUser returns the account replicas connect with, or nil.
// Replication.User names a user block by its account name.
func (c *Cluster) ReplicationUser() *User {
	for _, u := range c.Users {
		if u.Name == c.Replication.User && u.Ensure != EnsureAbsent {
			return u
		}
	}
	return nil
}

// Masters returns the master hosts in declaration order.
func (c *Cluster) Masters() []*Host {
	var out []*Host
	for _, h := range c.Hosts {
		if h.Mode == ModeMaster {
			out = append(out, h)
		}
	}
	return out
}

// WriterRole returns the active master role, or nil.
func (c *Cluster) WriterRole() *Role { return c.Role(c.ActiveMasterRole) }

// ServerIDFor returns the server_id a host must have: the declared one, or one
// derived from its position so that ids are stable and unique within a file.
func (c *Cluster) ServerIDFor(h *Host) uint32 {
	if h.ServerID != 0 {
		return h.ServerID
	}
	used := map[uint32]bool{}
	for _, o := range c.Hosts {
		if o.ServerID != 0 {
			used[o.ServerID] = true
		}
	}
	next := uint32(1)
	for _, o := range c.Hosts {
		if o.ServerID != 0 {
			continue
		}
		for used[next] {
			next++
		}
		if o == h {
			return next
		}
		used[next] = true
	}
	return 0
}

// SortedPrivileges returns privs upper-cased, de-duplicated and sorted.
func SortedPrivileges(privs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range privs {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
