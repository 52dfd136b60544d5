package schema

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// validate checks the relations between blocks: names that refer to other
// blocks, uniqueness across blocks, and the shape a multi-master cluster needs.
// Every problem is reported; nothing stops at the first.
func (b *builder) validate() {
	c := b.c
	if len(c.Hosts) == 0 {
		b.errorf(b.at("cluster"), "No hosts", "Declare the cluster's servers with host \"name\" { address = \"…\" } blocks.")
	}
	b.validateHosts()
	b.validateRoles()
	b.validateReplication()
	b.validateReadOnlyBypass()
	b.validateTLS()
}

// readOnlyBypass says, per flavor, which global privileges let a session write
// while read_only = ON, and how. Checked on MariaDB 10.11.19: SUPER alone is
// refused (ERROR 1290), READ_ONLY ADMIN writes.
func readOnlyBypass(flavor, priv string) string {
	switch flavor {
	case "mariadb":
		switch priv {
		case "READ_ONLY ADMIN":
			return "READ_ONLY ADMIN lets its sessions write while read_only = ON"
		case "SUPER":
			return "SUPER includes READ_ONLY ADMIN on MariaDB before 10.11 (not since: MDEV-29596), which lets its sessions write while read_only = ON"
		}
	case "mysql":
		switch priv {
		case "CONNECTION_ADMIN", "SUPER":
			return priv + " lets its sessions write while read_only = ON. super_read_only stops them, and mmm sets it when it fences a MySQL server, " +
				"but a server that starts with read_only and without super_read_only in its my.cnf takes their writes until then"
		}
	}
	return ""
}

// validateReadOnlyBypass warns about declared accounts whose privileges write
// past read_only: a fenced master is fenced against them only by the agent
// killing their sessions. The admin account mmm itself connects with needs
// such privileges and is not reported; nor is a block that says
// allow_read_only_bypass = true (mmm's own agent account).
func (b *builder) validateReadOnlyBypass() {
	admins := map[string]bool{}
	for _, h := range b.c.Hosts {
		admins[h.Admin.User] = true
	}
	for _, ub := range b.userBlocks {
		u := ub.user
		if ub.allowReadOnlyBypass || u.Ensure == topology.EnsureAbsent || admins[u.Name] {
			continue
		}
		for _, g := range u.Grants {
			if g.On != "*.*" {
				continue // administrative privileges exist only on *.*
			}
			for _, p := range g.Privileges {
				why := readOnlyBypass(b.c.Flavor, p)
				if why == "" {
					continue
				}
				b.add(&hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Account can write to a fenced master",
					Detail: fmt.Sprintf("%s@%s holds %s: %s. Such sessions can write to a fenced (read_only) master. "+
						"mmm's agent kills every client session when it fences, but a client that connects again (to the server's own "+
						"address), or a server that comes back without its agent, still takes their writes. Keep %s for administrators; "+
						"an account of mmm's own that needs it says allow_read_only_bypass = true.",
						u.Name, u.Host, p, why, p),
					Subject: ub.def.Ptr(),
				})
			}
		}
	}
}

func (b *builder) validateHosts() {
	c := b.c
	byEndpoint := map[string]string{}
	byServerID := map[uint32]string{}
	for _, h := range c.Hosts {
		key := "host." + h.Name
		if h.Address != "" {
			ep := h.Address + ":" + strconv.Itoa(h.Port)
			if other, dup := byEndpoint[ep]; dup {
				what := "address " + ep
				if b.sensitiveAddr[h.Name] {
					what = "address"
				}
				b.errorf(b.at(key+".address", key), "Duplicate host address",
					"Hosts %q and %q have the same %s; every host needs its own address (or port).", other, h.Name, what)
			} else {
				byEndpoint[ep] = h.Name
			}
		}
		if h.ServerID != 0 {
			if other, dup := byServerID[h.ServerID]; dup {
				b.errorf(b.at(key+".server_id", key), "Duplicate server_id",
					"Hosts %q and %q both have server_id = %d; replication needs a different server_id on every server (or leave server_id out and mmm chooses).", other, h.Name, h.ServerID)
			} else {
				byServerID[h.ServerID] = h.Name
			}
		}

		peerAt := b.at(key+".peer", key)
		switch {
		case h.Mode == topology.ModeSlave && h.Peer != "":
			b.errorf(peerAt, "Peer on a slave",
				"Only masters have a peer; remove peer from %q or make it mode = \"master\".", h.Name)
		case h.Mode == topology.ModeMaster && h.Peer == "":
			b.errorf(b.at(key+".mode", key), "Master without peer",
				"Master %q needs peer = \"<the other master>\": masters come in pairs that replicate each other.", h.Name)
		case h.Mode == topology.ModeMaster && h.Peer == h.Name:
			b.errorf(peerAt, "Host is its own peer", "peer of %q must name the other master, not itself.", h.Name)
		case h.Mode == topology.ModeMaster:
			p := c.Host(h.Peer)
			switch {
			case p == nil:
				b.errorf(peerAt, "Unknown peer", "peer = %q: no host block has that name.%s", h.Peer, b.suggestHost(h.Peer))
			case p.Mode != topology.ModeMaster:
				b.errorf(peerAt, "Peer is not a master", "peer %q of %q is mode = %q; a master's peer is the other master.", p.Name, h.Name, p.Mode)
			case p.Peer != h.Name:
				theirs := fmt.Sprintf("names %q", p.Peer)
				if p.Peer == "" {
					theirs = "names no peer"
				}
				b.errorf(peerAt, "Peer not symmetric",
					"%q names %q as its peer, but %q %s; set peer = %q in host %q.", h.Name, p.Name, p.Name, theirs, h.Name, p.Name)
			}
		}

		if bs := h.Bootstrap; bs != nil && bs.Donor != "" {
			donorAt := b.at(key+".bootstrap.donor", key+".bootstrap")
			switch d := c.Host(bs.Donor); {
			case bs.Donor == h.Name:
				b.errorf(donorAt, "Host is its own donor", "Host %q cannot copy its data from itself; name another host, or leave donor out (a healthy slave is chosen).", h.Name)
			case d == nil:
				b.errorf(donorAt, "Unknown donor", "donor = %q: no host block has that name.%s", bs.Donor, b.suggestHost(bs.Donor))
			}
		}
	}
}

func (b *builder) suggestHost(name string) string {
	var names []string
	for _, h := range b.c.Hosts {
		names = append(names, h.Name)
	}
	if len(names) == 0 {
		return ""
	}
	return " Declared hosts: " + strings.Join(names, ", ") + "."
}

func (b *builder) validateRoles() {
	c := b.c
	vipOwner := map[string]string{}
	hostByAddr := map[string]string{}
	for _, h := range c.Hosts {
		if h.Address != "" {
			hostByAddr[h.Address] = h.Name
		}
	}
	for _, r := range c.Roles {
		key := "role." + r.Name
		ipsAt := b.at(key+".ips", key)
		for _, ip := range r.IPs {
			if other, dup := vipOwner[ip]; dup {
				b.errorf(ipsAt, "Duplicate VIP", "%s is listed by role %q and role %q; a virtual IP belongs to one role.", ip, other, r.Name)
			} else {
				vipOwner[ip] = r.Name
			}
			if h, ok := hostByAddr[ip]; ok && !b.sensitiveAddr[h] {
				b.errorf(ipsAt, "VIP equals a host address",
					"%s is the address of host %q; a virtual IP must be an address no host owns, or it cannot move.", ip, h)
			}
		}
		switch r.Mode {
		case topology.RoleBalanced:
			if len(r.IPs) == 0 {
				b.errorf(ipsAt, "Balanced role without IPs", "Role %q spreads its IPs over its hosts; list at least one: ips = [\"…\"].", r.Name)
			}
		case topology.RoleExclusive:
			if len(r.IPs) != 1 {
				b.errorf(ipsAt, "Exclusive role needs one IP",
					"Role %q is exclusive (one IP on one host at a time) but lists %d IPs; give it exactly one, or make it mode = \"balanced\".", r.Name, len(r.IPs))
			}
		}
		inRole := map[string]bool{}
		for _, hn := range r.Hosts {
			if inRole[hn] {
				b.errorf(b.at(key+".hosts", key), "Duplicate host in role", "Role %q lists %q twice.", r.Name, hn)
			}
			inRole[hn] = true
			if c.Host(hn) == nil {
				b.errorf(b.at(key+".hosts", key), "Unknown host in role", "Role %q lists %q, but no host block has that name.%s", r.Name, hn, b.suggestHost(hn))
			}
		}
		if r.Prefer != "" {
			switch {
			case c.Host(r.Prefer) == nil:
				b.errorf(b.at(key+".prefer", key), "Unknown preferred host", "prefer = %q: no host block has that name.%s", r.Prefer, b.suggestHost(r.Prefer))
			case !inRole[r.Prefer]:
				b.errorf(b.at(key+".prefer", key), "Preferred host not in role", "prefer = %q, but role %q's hosts are %s; add it to hosts or prefer one of them.", r.Prefer, r.Name, strings.Join(r.Hosts, ", "))
			}
		}
	}

	if len(c.Hosts) == 0 {
		return
	}
	w := c.WriterRole()
	at := b.at("cluster.active_master_role", "cluster")
	switch {
	case w == nil:
		b.errorf(at, "Active master role not declared",
			"active_master_role = %q, but no role block has that name; declare role %q { mode = \"exclusive\" … } with the masters as hosts.", c.ActiveMasterRole, c.ActiveMasterRole)
	default:
		key := "role." + w.Name
		if w.Mode != topology.RoleExclusive && w.Mode != "" {
			b.errorf(b.at(key+".mode", key), "Active master role not exclusive",
				"Role %q holds the writer IP and must be on one host at a time: mode = \"exclusive\".", w.Name)
		}
		for _, hn := range w.Hosts {
			if h := c.Host(hn); h != nil && h.Mode != topology.ModeMaster {
				b.errorf(b.at(key+".hosts", key), "Slave in active master role",
					"Role %q is the active master role, but %q is a slave; only masters can take writes.", w.Name, hn)
			}
		}
	}
}

func (b *builder) validateReplication() {
	c := b.c
	r := c.Replication
	if r.User == "" {
		if len(c.Hosts) > 1 {
			b.errorf(b.at("replication", "cluster"), "Missing replication user",
				"Replicas need an account: replication { user = \"replication\" } and a user \"replication\" block granting REPLICATION SLAVE on \"*.*\".")
		}
		return
	}
	u := c.ReplicationUser()
	at := b.at("replication.user", "replication")
	if u == nil {
		b.errorf(at, "Replication user not declared",
			"replication.user = %q, but no user block declares that account; add user %q { host = \"…\" password = env(\"…\") grant \"*.*\" { privileges = [\"REPLICATION SLAVE\"] } }.", r.User, r.User)
		return
	}
	for _, g := range u.Grants {
		if g.On != "*.*" {
			continue
		}
		for _, p := range g.Privileges {
			if p == "REPLICATION SLAVE" {
				return
			}
		}
	}
	b.errorf(at, "Replication user lacks REPLICATION SLAVE",
		"Account %s cannot replicate: add grant \"*.*\" { privileges = [\"REPLICATION SLAVE\"] } to its user block.", fmt.Sprint(u.Key()))
}
